// A simulated Sensirion SHT3x-DIS on the simulated I2C bus, speaking the datasheet's commands:
// single shot without clock stretching (0x2400 / 0x240B / 0x2416: the read header is NACKed
// until the measurement is done), soft reset 0x30A2, status 0xF32D, and the 6-byte read-out
// with Sensirion CRC-8 (poly 0x31, init 0xFF). Faults: bad CRC, missing device, stuck value,
// slow measurement.
import type { I2CDevice } from '../io/i2c-bus.js';
import { err } from '../../firmware/core/util/errors.js';

export interface Sht31Faults {
  /** Corrupt the temperature word's CRC. */
  badCrc?: boolean;
  /** Device absent: every transaction NACKs. */
  missing?: boolean;
  /** Keep returning the first raw words measured while this is on. */
  stuck?: boolean;
  /** Extra ms a measurement takes beyond the typical duration (to exceed the datasheet max). */
  slowMs?: number;
}

/** Typical measurement durations (datasheet Table 4): high 12.5, medium 4.5, low 2.5 ms. */
const DURATION: { [cmd: number]: number } = { 0x2400: 12.5, 0x240b: 4.5, 0x2416: 2.5 };

/** Independent implementation of the datasheet's CRC (§4.12), so tests compare two codes. */
export function sensirionCrc(a: number, b: number): number {
  let crc = 0xff;
  for (const x of [a, b]) {
    crc ^= x;
    for (let i = 0; i < 8; i++) crc = (crc & 0x80 ? (crc << 1) ^ 0x31 : crc << 1) & 0xff;
  }
  return crc;
}

export class Sht31Sim implements I2CDevice {
  /** Physical truth the next measurement samples. */
  temperature = 21.5;
  humidity = 45;
  faults: Sht31Faults = {};
  /** Commands received (for assertions). */
  readonly commands: number[] = [];
  measurements = 0;
  private readonly now: () => number;
  private readyAt = 0;
  private out: Uint8Array | undefined;
  private stuckWords: [number, number] | undefined;
  private status = 0x8010; // alert pending + system reset detected, as after power-up (§4.11)

  constructor(now: () => number) {
    this.now = now;
  }

  /** Raw signal words for the current truth (inverse of §4.13), clamped to 16 bits. */
  rawWords(): [number, number] {
    const t = Math.round(((this.temperature + 45) * 65535) / 175);
    const rh = Math.round((this.humidity * 65535) / 100);
    return [Math.max(0, Math.min(65535, t)), Math.max(0, Math.min(65535, rh))];
  }

  private nack(what: string): never {
    throw err('E_I2C_NACK', 'SHT3x NACK: ' + what);
  }

  write(data: Uint8Array): void {
    if (this.faults.missing) this.nack('absent');
    if (data.length < 2) this.nack('incomplete command');
    if (this.now() < this.readyAt) this.nack('busy measuring'); // the sensor does not accept commands meanwhile
    const cmd = (data[0] << 8) | data[1];
    this.commands.push(cmd);
    if (DURATION[cmd] !== undefined) {
      let w = this.rawWords();
      if (this.faults.stuck) w = this.stuckWords ?? (this.stuckWords = w);
      else this.stuckWords = undefined;
      this.measurements++;
      this.readyAt = this.now() + DURATION[cmd] + (this.faults.slowMs ?? 0);
      const crcT = sensirionCrc(w[0] >> 8, w[0] & 255);
      this.out = new Uint8Array([w[0] >> 8, w[0] & 255, this.faults.badCrc ? crcT ^ 0x01 : crcT, w[1] >> 8, w[1] & 255, sensirionCrc(w[1] >> 8, w[1] & 255)]);
    } else if (cmd === 0x30a2) {
      this.out = undefined;
      this.readyAt = this.now() + 1; // t_SR typ 1 ms
      this.status = 0x0010;
    } else if (cmd === 0xf32d) {
      this.out = new Uint8Array([this.status >> 8, this.status & 255, sensirionCrc(this.status >> 8, this.status & 255)]);
    } else this.nack('unknown command 0x' + cmd.toString(16));
  }

  read(count: number): Uint8Array {
    if (this.faults.missing) this.nack('absent');
    if (this.now() < this.readyAt || !this.out) this.nack('no data ready'); // §4.3: read header NACKed
    const o = this.out as Uint8Array;
    this.out = undefined; // a single-shot result is read once
    const r = new Uint8Array(count).fill(0xff);
    r.set(o.subarray(0, Math.min(count, o.length)));
    return r;
  }
}
