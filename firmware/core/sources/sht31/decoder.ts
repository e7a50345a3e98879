// Sensirion SHT3x-DIS (SHT30/31/35) over I2C: commands, the 6-byte measurement read-out and its
// CRC-8, and the conversion to physical values. Pure: no IO, no timers. The sensor answers in
// fixed-size reads (no byte stream to frame), so a "frame" here is one 6-byte read-out.
// References: Sensirion "Datasheet SHT3x-DIS" v6 (2019): §4.3 single-shot commands (Table 9),
// §4.9 soft reset, §4.11 status, §4.12 checksum (Table 20), §4.13 conversion, Table 4 timing.

// ---------------------------------------------------------------------------------------------
// Constants

/** 7-bit I2C addresses: ADDR pin low 0x44, high 0x45 (§3, Table 7). */
export const SHT31_ADDR_A = 0x44;
export const SHT31_ADDR_B = 0x45;
/** Single shot, clock stretching disabled (Table 9): repeatability high / medium / low. */
export const SHT31_CMD_SINGLE_HIGH = 0x2400;
export const SHT31_CMD_SINGLE_MEDIUM = 0x240b;
export const SHT31_CMD_SINGLE_LOW = 0x2416;
/** Soft reset (§4.9); the sensor is ready again after t_SR = 1.5 ms max (Table 4). */
export const SHT31_CMD_SOFT_RESET = 0x30a2;
export const SHT31_SOFT_RESET_MS = 2;
/** Read status register (§4.11): 2 bytes + CRC. */
export const SHT31_CMD_READ_STATUS = 0xf32d;
/**
 * Maximum measurement duration per repeatability (Table 4: 15.5 / 6.5 / 4.5 ms), rounded up
 * to whole ms. With clock stretching disabled the sensor NACKs a read header until done (§4.3).
 */
export const SHT31_MEASURE_MS_HIGH = 16;
export const SHT31_MEASURE_MS_MEDIUM = 7;
export const SHT31_MEASURE_MS_LOW = 5;
/** Read-out: T msb, T lsb, CRC, RH msb, RH lsb, CRC (§4.3, Figure 13). */
export const SHT31_READ_LEN = 6;
/** CRC-8 (Table 20): polynomial 0x31 (x^8 + x^5 + x^4 + 1), init 0xFF, no reflection, no final XOR. */
export const SHT31_CRC_POLY = 0x31;
export const SHT31_CRC_INIT = 0xff;
/** §4.13: T = -45 + 175 * S_T / (2^16 - 1) [Cel]; RH = 100 * S_RH / (2^16 - 1) [%RH]. */
const RAW_FULL_SCALE = 65535;
const T_OFFSET = -45;
const T_SPAN = 175;
const RH_SPAN = 100;

// ---------------------------------------------------------------------------------------------
// Checksum and decoding

/** Sensirion CRC-8 over `len` bytes of `b` from `off`. */
export function sht31Crc(b: Uint8Array, off: number, len: number): number {
  let crc = SHT31_CRC_INIT;
  for (let i = off; i < off + len; i++) {
    crc ^= b[i];
    for (let k = 0; k < 8; k++) crc = crc & 0x80 ? ((crc << 1) ^ SHT31_CRC_POLY) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** The two-byte command as written on the bus (MSB first). */
export function sht31Command(cmd: number): Uint8Array {
  return new Uint8Array([(cmd >> 8) & 0xff, cmd & 0xff]);
}

export interface Sht31Reading {
  /** Raw 16-bit signal words. */
  rawT: number;
  rawRH: number;
  /** Cel and %RH, unrounded. */
  t: number;
  rh: number;
}

export function sht31Celsius(raw: number): number {
  return T_OFFSET + (T_SPAN * raw) / RAW_FULL_SCALE;
}

export function sht31Humidity(raw: number): number {
  return (RH_SPAN * raw) / RAW_FULL_SCALE;
}

/**
 * Decodes a 6-byte read-out. Returns undefined when either CRC fails (or the length is wrong):
 * the CRC guards each word separately, and it also rejects a floating bus (all 0xFF: CRC 0xAC)
 * and a shorted one (all 0x00: CRC 0x81).
 */
export function sht31Decode(b: Uint8Array): Sht31Reading | undefined {
  if (!(b instanceof Uint8Array) || b.length !== SHT31_READ_LEN) return undefined;
  if (sht31Crc(b, 0, 2) !== b[2] || sht31Crc(b, 3, 2) !== b[5]) return undefined;
  const rawT = (b[0] << 8) | b[1];
  const rawRH = (b[3] << 8) | b[4];
  return { rawT: rawT, rawRH: rawRH, t: sht31Celsius(rawT), rh: sht31Humidity(rawRH) };
}
