// Maxim DS18B20 1-Wire thermometer: ROM codes, the Dallas/Maxim CRC-8, and the 9-byte
// scratchpad. Pure: no IO, no timers. The bus answers fixed-size reads, so a "frame" is one
// ROM code (8 bytes) or one scratchpad (9 bytes).
// References: Maxim DS18B20 datasheet (19-7487, rev 6): "64-bit lasered ROM code" (Figure 8),
// "CRC generation" (Figure 11, polynomial x^8 + x^5 + x^4 + 1), Memory (Figure 9: scratchpad),
// Configuration register (Figure 10, Table 2: resolution and t_CONV), Temperature register
// (Figure 4, Table 1), ROM and function commands (Table 3); Maxim AN27 (CRC worked example).

// ---------------------------------------------------------------------------------------------
// Constants

/** Family code of a DS18B20 (low byte of the ROM). */
export const DS18B20_FAMILY = 0x28;
export const DS18B20_ROM_LEN = 8;
export const DS18B20_SCRATCHPAD_LEN = 9;
/** Function commands (Table 3). ROM commands (search, match, skip) are the bus master's. */
export const DS18B20_CMD_CONVERT_T = 0x44;
export const DS18B20_CMD_READ_SCRATCHPAD = 0xbe;
export const DS18B20_CMD_WRITE_SCRATCHPAD = 0x4e;
/** Maximum conversion time per resolution 9..12 bit (Table 2: 93.75, 187.5, 375, 750 ms), rounded up. */
export const DS18B20_CONVERT_MS = [94, 188, 375, 750];
/** Configuration register: 0 R1 R0 1 1 1 1 1 (Figure 10); R1R0 = resolution - 9. */
export const DS18B20_CONFIG_FIXED_MASK = 0x9f;
export const DS18B20_CONFIG_FIXED = 0x1f;
/** Power-on reset value of the temperature register: +85 Cel (Table 1 note). Not a reading. */
export const DS18B20_POWER_ON_RAW = 0x0550;
/** Measurement range (Table 1): -55..+125 Cel. */
export const DS18B20_T_MIN = -55;
export const DS18B20_T_MAX = 125;
/** Dallas/Maxim CRC-8: x^8 + x^5 + x^4 + 1, LSB first (reflected 0x8C), init 0 (Figure 11). */
const CRC_POLY_REFLECTED = 0x8c;

/** Scratchpad check outcomes. */
export const DS_OK = 'ok';
/** Every byte read as 1: nobody drove the bus (device absent or not selected). */
export const DS_ABSENT = 'absent';
export const DS_CRC = 'crc';
/** Configuration byte's fixed bits wrong: not a DS18B20 scratchpad (an all-zero read passes the CRC). */
export const DS_CONFIG = 'config';
/** The power-on value 0x0550 (+85 Cel): conversion never happened or the part reset. */
export const DS_POWER_ON = 'poweron';
/** Sign bits disagree or outside -55..125 Cel. */
export const DS_RANGE = 'range';

// ---------------------------------------------------------------------------------------------
// CRC and ROM codes

/** Dallas/Maxim CRC-8 over `len` bytes from `off`. A block followed by its CRC sums to 0. */
export function maximCrc8(b: Uint8Array, off: number, len: number): number {
  let crc = 0;
  for (let i = off; i < off + len; i++) {
    let x = b[i];
    for (let k = 0; k < 8; k++) {
      const mix = (crc ^ x) & 1;
      crc >>= 1;
      if (mix) crc ^= CRC_POLY_REFLECTED;
      x >>= 1;
    }
  }
  return crc;
}

/** 'ok', 'crc' (or wrong length) or 'family' (a valid ROM of another device type). */
export function ds18b20RomCheck(rom: Uint8Array): string {
  if (!(rom instanceof Uint8Array) || rom.length !== DS18B20_ROM_LEN || maximCrc8(rom, 0, 7) !== rom[7]) return DS_CRC;
  // A ROM of all zeros has a valid CRC (0) but no device has family 0.
  return rom[0] === DS18B20_FAMILY ? DS_OK : 'family';
}

const HEX = '0123456789abcdef';

function hexByte(v: number): string {
  return HEX.charAt(v >> 4) + HEX.charAt(v & 15);
}

/** The ROM as 16 hex digits in bus order (family first, CRC last), as a 1-Wire search lists it. */
export function ds18b20RomHex(rom: Uint8Array): string {
  let s = '';
  for (let i = 0; i < rom.length; i++) s += hexByte(rom[i]);
  return s;
}

/**
 * Default reading name of a sensor: "t_" + its 48-bit serial number, most significant byte
 * first (ROM bytes 6..1) — the same 12 digits Linux shows as /sys/bus/w1/devices/28-<serial>.
 * Stable for the sensor's life, independent of bus order and of which other sensors are present.
 */
export function ds18b20RomName(rom: Uint8Array): string {
  let s = 't_';
  for (let i = 6; i >= 1; i--) s += hexByte(rom[i]);
  return s;
}

/** Parses 16 hex digits in bus order; undefined if malformed. */
export function ds18b20RomFromHex(s: string): Uint8Array | undefined {
  if (typeof s !== 'string' || s.length !== 16) return undefined;
  const rom = new Uint8Array(8);
  for (let i = 0; i < 8; i++) {
    const hi = HEX.indexOf(s.charAt(i * 2).toLowerCase());
    const lo = HEX.indexOf(s.charAt(i * 2 + 1).toLowerCase());
    if (hi < 0 || lo < 0) return undefined;
    rom[i] = hi * 16 + lo;
  }
  return rom;
}

// ---------------------------------------------------------------------------------------------
// Scratchpad

export interface Ds18b20Scratchpad {
  /** 'ok' or one of the DS_* outcomes; the fields below are set from 'poweron' on. */
  status: string;
  /** Temperature register, sign-extended, undefined low bits cleared; 1/16 Cel units. */
  raw: number;
  /** Cel */
  t: number;
  /** 9..12 bit */
  resolution: number;
  th: number;
  tl: number;
}

/**
 * Checks and decodes a scratchpad: byte 0/1 temperature LSB/MSB, 2 TH, 3 TL, 4 configuration,
 * 5..7 reserved, 8 CRC. Undefined low bits at 9..11-bit resolution (Figure 4 note) are cleared.
 */
export function ds18b20Decode(sp: Uint8Array): Ds18b20Scratchpad {
  const r: Ds18b20Scratchpad = { status: DS_CRC, raw: 0, t: 0, resolution: 0, th: 0, tl: 0 };
  if (!(sp instanceof Uint8Array) || sp.length !== DS18B20_SCRATCHPAD_LEN) return r;
  let ones = true;
  for (let i = 0; i < DS18B20_SCRATCHPAD_LEN; i++) if (sp[i] !== 0xff) ones = false;
  if (ones) {
    r.status = DS_ABSENT;
    return r;
  }
  if (maximCrc8(sp, 0, 8) !== sp[8]) return r;
  if ((sp[4] & DS18B20_CONFIG_FIXED_MASK) !== DS18B20_CONFIG_FIXED) {
    r.status = DS_CONFIG;
    return r;
  }
  r.resolution = 9 + ((sp[4] >> 5) & 3);
  r.th = sp[2];
  r.tl = sp[3];
  const word = sp[0] | (sp[1] << 8);
  const sign = word & 0xf800;
  // Bits 15..11 all repeat the sign (Figure 4): anything else is not a temperature.
  if (sign !== 0 && sign !== 0xf800) {
    r.status = DS_RANGE;
    return r;
  }
  const undef = (1 << (12 - r.resolution)) - 1;
  r.raw = ((word << 16) >> 16) & ~undef;
  r.t = r.raw / 16;
  // Exactly +85.0000 Cel is taken for the power-on value, whatever the resolution: a genuine
  // 85.0 is lost, its neighbours (84.9375, 85.0625) pass.
  if (r.raw === DS18B20_POWER_ON_RAW) r.status = DS_POWER_ON;
  else if (r.t < DS18B20_T_MIN || r.t > DS18B20_T_MAX) r.status = DS_RANGE;
  else r.status = DS_OK;
  return r;
}
