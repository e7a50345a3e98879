// A simulated Plantower PMS5003 at the peripheral end of a SerialLink (9600 8N1). It speaks the
// data manual's protocol: 32-byte frames (42 4D, length 28, 13 words, 16-bit sum), active mode
// streaming every `frameIntervalMs` after power-on, the host commands 0xE1 (mode, replied with
// 42 4D 00 04 E1 mm ss ss as real sensors do), 0xE2 (passive read), 0xE4 (sleep, replied; wake,
// not replied). During the fan's first 30 s after wake-up or power-on its values are unsettled
// (scaled down), so a driver that reads early gets visibly wrong data. Faults: bad checksum,
// noise bytes between frames, truncated frames, a mute sensor, stuck data, implausible data
// (rising counts, as a PMS5003T would send), and commands ignored.
import type { SerialLink } from '../io/serial-link.js';

export interface Pms5003Truth {
  /** Atmospheric-environment PM1.0 / PM2.5 / PM10, ug/m3. */
  pm1: number;
  pm25: number;
  pm10: number;
  /** CF=1 values (the data manual's "standard particle"); default: same as atmospheric. */
  cf1?: [number, number, number];
  /** Particles beyond 0.3, 0.5, 1.0, 2.5, 5.0, 10 um per 0.1 L. */
  counts: [number, number, number, number, number, number];
}

export interface Pms5003Faults {
  badChecksum?: boolean;
  /** Random bytes (this many) before every frame. */
  noise?: number;
  /** Send only the first N bytes of each data frame. */
  truncate?: number;
  /** Sends nothing at all (unplugged TX, dead sensor). */
  mute?: boolean;
  /** Keeps sending the first data frame built while this is on. */
  stuck?: boolean;
  /** Counts rise with size (what a PMS5003T's temperature words look like to a PMS5003 parser). */
  implausible?: boolean;
  /** Ignores the mode and sleep commands (some clones). */
  ignoreCommands?: boolean;
}

/** Checksum: 16-bit sum of all preceding bytes (Appendix I). */
export function pmsSum(b: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += b[i];
  return s & 0xffff;
}

export function pmsDataFrame(words: ArrayLike<number>): Uint8Array {
  const f = new Uint8Array(32);
  f[0] = 0x42;
  f[1] = 0x4d;
  f[3] = 28;
  for (let i = 0; i < 13; i++) {
    f[4 + i * 2] = (words[i] >> 8) & 255;
    f[5 + i * 2] = words[i] & 255;
  }
  const s = pmsSum(f, 30);
  f[30] = s >> 8;
  f[31] = s & 255;
  return f;
}

export function pmsReplyFrame(cmd: number, data: number): Uint8Array {
  const f = new Uint8Array([0x42, 0x4d, 0x00, 0x04, cmd, data, 0, 0]);
  const s = pmsSum(f, 6);
  f[6] = s >> 8;
  f[7] = s & 255;
  return f;
}

export class Pms5003Sim {
  truth: Pms5003Truth = { pm1: 5, pm25: 8, pm10: 9, counts: [1200, 350, 60, 8, 2, 1] };
  faults: Pms5003Faults = {};
  mode: 'active' | 'passive' = 'active';
  asleep = false;
  /** Commands received: [cmd, data]. */
  readonly commands: [number, number][] = [];
  framesSent = 0;
  private readonly link: SerialLink;
  private readonly now: () => number;
  private readonly frameIntervalMs: number;
  private fanSince: number;
  private rx = new Uint8Array(0);
  private timer: ReturnType<typeof setTimeout> | undefined;
  private frozen: Uint8Array | undefined;
  private rnd = 12345;

  constructor(link: SerialLink, now: () => number, o: { frameIntervalMs?: number } = {}) {
    this.link = link;
    this.now = now;
    this.frameIntervalMs = o.frameIntervalMs ?? 1000;
    this.fanSince = now();
    link.peripheral.onData = (d) => this.onData(d);
    this.schedule();
  }

  /** Stops the streaming timer (end of a test). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Power cycle: active mode, fan running from now. */
  powerCycle(): void {
    this.mode = 'active';
    this.asleep = false;
    this.fanSince = this.now();
    this.schedule();
  }

  private next(): number {
    let x = this.rnd;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (this.rnd = x >>> 0);
  }

  private schedule(): void {
    this.stop();
    if (this.mode !== 'active' || this.asleep) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sendData();
      this.schedule();
    }, this.frameIntervalMs);
  }

  /** The data words the sensor would send now (unsettled during the first 30 s of fan time). */
  words(): number[] {
    const t = this.truth;
    const settle = Math.min(1, (this.now() - this.fanSince) / 30000);
    const k = (v: number) => Math.round(v * (settle < 1 ? 0.5 * settle : 1));
    const cf1 = t.cf1 ?? [t.pm1, t.pm25, t.pm10];
    const counts = this.faults.implausible ? [...t.counts].reverse() : t.counts;
    return [...cf1.map(k), k(t.pm1), k(t.pm25), k(t.pm10), ...counts.map(k), 0x9700];
  }

  private emit(bytes: Uint8Array): void {
    if (this.faults.mute) return;
    if (this.faults.noise) {
      const n = new Uint8Array(this.faults.noise);
      for (let i = 0; i < n.length; i++) n[i] = this.next() & 255;
      this.link.peripheral.write(n);
    }
    this.link.peripheral.write(bytes);
  }

  private sendData(): void {
    let f = pmsDataFrame(this.words());
    if (this.faults.stuck) f = this.frozen ?? (this.frozen = f);
    else this.frozen = undefined;
    f = f.slice();
    if (this.faults.badChecksum) f[31] ^= 0x01;
    if (this.faults.truncate !== undefined) f = f.subarray(0, this.faults.truncate);
    this.framesSent++;
    this.emit(f);
  }

  private onData(d: Uint8Array): void {
    const b = new Uint8Array(this.rx.length + d.length);
    b.set(this.rx);
    b.set(d, this.rx.length);
    let i = 0;
    while (b.length - i >= 7) {
      if (b[i] !== 0x42 || b[i + 1] !== 0x4d) {
        i++;
        continue;
      }
      const cmd = b.subarray(i, i + 7);
      if (pmsSum(cmd, 5) !== ((cmd[5] << 8) | cmd[6])) {
        i++;
        continue;
      }
      this.command(cmd[2], (cmd[3] << 8) | cmd[4]);
      i += 7;
    }
    this.rx = b.slice(i);
  }

  private command(cmd: number, data: number): void {
    this.commands.push([cmd, data]);
    if (cmd === 0xe4 && data === 1) {
      if (this.asleep) this.fanSince = this.now();
      this.asleep = false;
      this.schedule();
      return;
    }
    if (this.asleep || this.faults.ignoreCommands) return;
    if (cmd === 0xe1) {
      this.mode = data ? 'active' : 'passive';
      this.emit(pmsReplyFrame(0xe1, data & 1));
      this.schedule();
    } else if (cmd === 0xe2) {
      if (this.mode === 'passive') setTimeout(() => this.sendData(), 5);
    } else if (cmd === 0xe4 && data === 0) {
      this.emit(pmsReplyFrame(0xe4, 0));
      this.asleep = true;
      this.schedule();
    }
  }
}
