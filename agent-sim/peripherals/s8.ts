// A simulated Senseair S8 on the peripheral end of a SerialLink: it answers the "read CO2"
// request (TDE2067: FE 04 00 03 00 01 D5 C5) with FE 04 02 <ppm> <crc>, after a latency, with a
// CO2 value from a profile. Faults to switch on: silent (no sensor), bad CRC, noise before the
// answer, truncated answer, Modbus exception, stuck value, and 0 ppm (warming up).
import type { SerialLink } from '../io/serial-link.js';
import { crc16Modbus } from '../../firmware/core/sources/s8/decoder.js';
import { prng } from '../sources/profiles.js';

export interface S8Faults {
  silent?: boolean;
  badCrc?: boolean;
  /** Random bytes sent before the answer. */
  noise?: number;
  /** Bytes of the answer actually sent (the rest is lost). */
  truncate?: number;
  /** Answer with this Modbus exception code instead. */
  exception?: number;
  /** Report this ppm whatever the profile says (a stuck sensor, or 0 while warming up). */
  stuckPpm?: number;
}

export interface S8Options {
  link: SerialLink;
  /** CO2 in ppm at a time (ms); default a slow indoor cycle around 800 ppm. */
  ppm?: (t: number) => number;
  now: () => number;
  /** Answer delay after the request's last byte (ms, default 20). */
  latencyMs?: number;
  /** The sensor's own Modbus address (it also answers 0xFE). Default 0x68. */
  address?: number;
  seed?: number;
}

export class S8Sensor {
  readonly o: S8Options;
  faults: S8Faults = {};
  requests = 0;
  answers = 0;
  /** The value of the last answer sent. */
  lastPpm = -1;
  private rx: number[] = [];
  private rnd: () => number;

  constructor(o: S8Options) {
    this.o = o;
    this.rnd = prng(o.seed ?? 1);
    o.link.peripheral.onData = (d) => this.onData(d);
  }

  private ppmAt(t: number): number {
    if (this.faults.stuckPpm !== undefined) return this.faults.stuckPpm;
    if (this.o.ppm) return Math.round(this.o.ppm(t));
    return Math.round(800 + 300 * Math.sin(t / 600000) + (this.rnd() - 0.5) * 20);
  }

  private onData(d: Uint8Array): void {
    for (const x of d) this.rx.push(x);
    // A request is 8 bytes; resynchronise on anything that is not one (as the sensor's Modbus
    // stack does after an inter-frame silence).
    while (this.rx.length >= 8) {
      const f = new Uint8Array(this.rx.slice(0, 8));
      const crc = crc16Modbus(f, 0, 6);
      const mine = f[0] === 0xfe || f[0] === (this.o.address ?? 0x68);
      if (!mine || f[1] !== 0x04 || f[6] !== (crc & 255) || f[7] !== crc >> 8) {
        this.rx.shift();
        continue;
      }
      this.rx.splice(0, 8);
      this.requests++;
      if (f[2] !== 0 || f[3] !== 3 || f[4] !== 0 || f[5] !== 1) this.answer(this.exception(f[0], 2));
      else this.answer(this.response(f[0]));
    }
  }

  private exception(addr: number, code: number): Uint8Array {
    const b = new Uint8Array([addr, 0x84, code, 0, 0]);
    const c = crc16Modbus(b, 0, 3);
    b[3] = c & 255;
    b[4] = c >> 8;
    return b;
  }

  private response(addr: number): Uint8Array {
    if (this.faults.exception) return this.exception(addr, this.faults.exception);
    const ppm = this.ppmAt(this.o.now());
    this.lastPpm = ppm;
    const b = new Uint8Array([addr, 0x04, 0x02, (ppm >> 8) & 255, ppm & 255, 0, 0]);
    const c = crc16Modbus(b, 0, 5);
    b[5] = c & 255;
    b[6] = c >> 8;
    if (this.faults.badCrc) b[5] ^= 0x01;
    return b;
  }

  private answer(b: Uint8Array): void {
    const f = this.faults;
    if (f.silent) return;
    let out = b;
    if (f.truncate !== undefined) out = out.subarray(0, f.truncate);
    if (f.noise) {
      const n = new Uint8Array(f.noise + out.length);
      for (let i = 0; i < f.noise; i++) n[i] = Math.floor(this.rnd() * 256);
      n.set(out, f.noise);
      out = n;
    }
    setTimeout(() => {
      this.answers++;
      this.o.link.peripheral.write(out);
    }, this.o.latencyMs ?? 20);
  }
}
