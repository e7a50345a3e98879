// A simulated Maxim DS18B20 on the simulated 1-Wire bus: its ROM code (family 0x28, 48-bit
// serial, Dallas CRC-8), the 9-byte scratchpad with its CRC, Convert T with the datasheet's
// conversion time per resolution (read slots answer 0 while converting), Write Scratchpad (TH,
// TL, configuration), and the power-on scratchpad (+85 Cel: 50 05 4B 46 7F FF 0C 10 1C).
// Undefined low temperature bits at 9..11-bit resolution carry noise, as on real parts.
// Faults: bad scratchpad CRC, missing device (detach it from the bus), stuck value, a part that
// never finishes a conversion (it browns out and keeps the power-on value), a slow part, a ROM
// with a bad CRC, and a hook to corrupt scratchpad reads.
import type { OneWireDevice } from '../io/onewire-bus.js';

/** The sim's own Dallas CRC-8 (LSB-first, polynomial 0x8C reflected), independent of core's. */
export function dallasCrc(bytes: ArrayLike<number>, n = bytes.length): number {
  let crc = 0;
  for (let i = 0; i < n; i++) {
    let b = bytes[i];
    for (let k = 0; k < 8; k++) {
      const mix = (crc ^ b) & 1;
      crc >>= 1;
      if (mix) crc ^= 0x8c;
      b >>= 1;
    }
  }
  return crc;
}

/** ROM bytes for a 48-bit serial given as 12 hex digits, most significant first (Linux "28-<serial>"). */
export function romFor(serial: string, family = 0x28, badCrc = false): Uint8Array {
  const rom = new Uint8Array(8);
  rom[0] = family;
  for (let i = 0; i < 6; i++) rom[6 - i] = parseInt(serial.substr(i * 2, 2), 16);
  rom[7] = dallasCrc(rom, 7) ^ (badCrc ? 0x01 : 0);
  return rom;
}

export interface Ds18b20Faults {
  badCrc?: boolean;
  /** Temperature register keeps the first converted value. */
  stuck?: boolean;
  /** Every Convert T ends in a reset: the scratchpad returns to its power-on state. */
  neverConverts?: boolean;
  /** Conversion takes this many times the datasheet maximum (a slow clone), default 0.8. */
  convertFactor?: number;
  /** Called with each scratchpad read; may change the bytes. */
  mutate?: (bytes: Uint8Array) => void;
}

/** Datasheet maximum conversion times, 9..12 bit. */
const TCONV = [93.75, 187.5, 375, 750];
const POWER_ON = [0x50, 0x05, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10];

export class Ds18b20Sim implements OneWireDevice {
  readonly rom: Uint8Array;
  temperature = 21.5;
  faults: Ds18b20Faults = {};
  conversions = 0;
  /** Convert T commands received with the strong pull-up on. */
  poweredConversions = 0;
  readonly commands: number[] = [];
  private readonly now: () => number;
  private sp = new Uint8Array(9);
  private mode: 'none' | 'scratchpad' | 'convert' = 'none';
  private pos = 0;
  private convertUntil = -1;
  private frozen: number | undefined;
  private noise: number;

  constructor(now: () => number, rom: Uint8Array, seed = 1) {
    this.now = now;
    this.rom = rom;
    this.noise = seed >>> 0 || 1;
    this.powerOn();
  }

  powerOn(): void {
    this.sp.set(POWER_ON);
    this.sp[8] = dallasCrc(this.sp, 8);
    this.convertUntil = -1;
    this.mode = 'none';
  }

  /** Scratchpad bytes as they are now (tests). */
  scratchpad(): Uint8Array {
    this.settle();
    return this.sp.slice();
  }

  resolution(): number {
    return 9 + ((this.sp[4] >> 5) & 3);
  }

  private rand(): number {
    let x = this.noise;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (this.noise = x >>> 0);
  }

  private settle(): void {
    if (this.convertUntil < 0 || this.now() < this.convertUntil) return;
    this.convertUntil = -1;
    if (this.faults.neverConverts) return this.powerOn();
    const res = this.resolution();
    let raw = Math.round(this.temperature * 16);
    raw = Math.max(-55 * 16, Math.min(125 * 16, raw));
    const undef = (1 << (12 - res)) - 1;
    raw = (raw & ~undef) | (this.rand() & undef); // undefined bits: noise
    if (this.faults.stuck) raw = this.frozen ?? (this.frozen = raw);
    else this.frozen = undefined;
    this.sp[0] = raw & 255;
    this.sp[1] = (raw >> 8) & 255;
    this.sp[6] = 0x10 - (raw & 0x0f); // "count remain" as genuine parts report it
    this.sp[8] = dallasCrc(this.sp, 8);
  }

  write(data: Uint8Array, power: boolean): void {
    this.settle();
    if (!data.length) return;
    const cmd = data[0];
    this.commands.push(cmd);
    if (cmd === 0x44) {
      if (this.convertUntil < 0) {
        this.conversions++;
        if (power) this.poweredConversions++;
        this.convertUntil = this.now() + TCONV[this.resolution() - 9] * (this.faults.convertFactor ?? 0.8);
      }
      this.mode = 'convert';
    } else if (cmd === 0xbe) {
      this.mode = 'scratchpad';
      this.pos = 0;
    } else if (cmd === 0x4e && data.length >= 4) {
      this.sp[2] = data[1];
      this.sp[3] = data[2];
      this.sp[4] = (data[3] & 0x60) | 0x1f; // only R1 R0 are writable (Figure 10)
      this.sp[8] = dallasCrc(this.sp, 8);
      this.mode = 'none';
    } else this.mode = 'none';
  }

  read(count: number): Uint8Array {
    this.settle();
    const out = new Uint8Array(count).fill(0xff);
    if (this.mode === 'convert') {
      if (this.convertUntil >= 0) out.fill(0);
    } else if (this.mode === 'scratchpad') {
      const start = this.pos;
      for (let i = 0; i < count && this.pos < 9; i++) out[i] = this.sp[this.pos++];
      if (this.faults.badCrc && start <= 8 && start + count > 8) out[8 - start] ^= 0x5a;
      if (start === 0) this.faults.mutate?.(out);
    }
    return out;
  }
}
