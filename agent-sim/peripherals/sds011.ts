// A simulated Nova Fitness SDS011 at the peripheral end of a SerialLink (9600 8N1), from the
// Laser Dust Sensor Control Protocol V1.3: 10-byte data frames (AA C0 PM2.5 PM10 id sum AB)
// every second in active mode (the factory default), 19-byte commands (AA B4 ... sum AB,
// device id FFFF or its own) answered with AA C5 frames: reporting mode (2), query data (4),
// set id (5), sleep and work (6), firmware (7), working period (8). Reporting mode and working
// period survive a power cycle, as the sensor keeps them in flash (`flashWrites` counts them).
// While asleep it answers only the wake-up. For 30 s after waking its values are unsettled.
// Faults: bad checksum, bad tail, noise, truncated frames, mute, stuck values, values beyond
// the range, commands ignored.
import type { SerialLink } from '../io/serial-link.js';

export interface Sds011Faults {
  badChecksum?: boolean;
  badTail?: boolean;
  noise?: number;
  truncate?: number;
  mute?: boolean;
  stuck?: boolean;
  /** Reports 1000.0 ug/m3 and more (beyond the datasheet range). */
  outOfRange?: boolean;
  ignoreCommands?: boolean;
}

export function sdsFrame(kind: number, d: ArrayLike<number>): Uint8Array {
  const f = new Uint8Array(10);
  f[0] = 0xaa;
  f[1] = kind;
  let s = 0;
  for (let i = 0; i < 6; i++) {
    f[2 + i] = d[i];
    s += d[i];
  }
  f[8] = s & 255;
  f[9] = 0xab;
  return f;
}

export class Sds011Sim {
  /** ug/m3 */
  pm25 = 8.4;
  pm10 = 12.1;
  faults: Sds011Faults = {};
  id: number;
  mode: 'active' | 'query' = 'active';
  /** 0 continuous, else minutes between reports. */
  period = 0;
  asleep = false;
  flashWrites = 0;
  framesSent = 0;
  readonly commands: { cmd: number; d2: number; d3: number }[] = [];
  private readonly link: SerialLink;
  private readonly now: () => number;
  private fanSince: number;
  private rx = new Uint8Array(0);
  private timer: ReturnType<typeof setTimeout> | undefined;
  private frozen: [number, number] | undefined;
  private rnd = 777;

  constructor(link: SerialLink, now: () => number, o: { id?: number; mode?: 'active' | 'query'; period?: number } = {}) {
    this.link = link;
    this.now = now;
    this.id = o.id ?? 0xa160;
    this.mode = o.mode ?? 'active';
    this.period = o.period ?? 0;
    this.fanSince = now();
    link.peripheral.onData = (d) => this.onData(d);
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Power cycle: awake, settings from flash. */
  powerCycle(): void {
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
    }, this.period ? this.period * 60000 : 1000);
  }

  /** Raw tenths now (unsettled for 30 s after waking). */
  raw(): [number, number] {
    const settle = Math.min(1, (this.now() - this.fanSince) / 30000);
    const k = (v: number) => Math.min(0xffff, Math.round(v * 10 * (settle < 1 ? 0.5 * settle : 1)));
    let r: [number, number] = this.faults.outOfRange ? [10000 + k(this.pm25), 10000 + k(this.pm10)] : [k(this.pm25), k(this.pm10)];
    if (this.faults.stuck) r = this.frozen ?? (this.frozen = r);
    else this.frozen = undefined;
    return r;
  }

  private emit(f: Uint8Array): void {
    if (this.faults.mute) return;
    if (this.faults.noise) {
      const n = new Uint8Array(this.faults.noise);
      for (let i = 0; i < n.length; i++) n[i] = this.next() & 255;
      this.link.peripheral.write(n);
    }
    this.link.peripheral.write(f);
  }

  private sendData(): void {
    const [a, b] = this.raw();
    let f = sdsFrame(0xc0, [a & 255, a >> 8, b & 255, b >> 8, this.id >> 8, this.id & 255]);
    if (this.faults.badChecksum) f[8] ^= 0x10;
    if (this.faults.badTail) f[9] = 0xac;
    if (this.faults.truncate !== undefined) f = f.subarray(0, this.faults.truncate);
    this.framesSent++;
    this.emit(f);
  }

  private reply(cmd: number, d2: number, d3: number, d4 = 0): void {
    this.emit(sdsFrame(0xc5, [cmd, d2, d3, d4, this.id >> 8, this.id & 255]));
  }

  private onData(d: Uint8Array): void {
    const b = new Uint8Array(this.rx.length + d.length);
    b.set(this.rx);
    b.set(d, this.rx.length);
    let i = 0;
    while (b.length - i >= 19) {
      if (b[i] !== 0xaa || b[i + 1] !== 0xb4 || b[i + 18] !== 0xab) {
        i++;
        continue;
      }
      let s = 0;
      for (let k = 2; k < 17; k++) s += b[i + k];
      if ((s & 255) !== b[i + 17]) {
        i++;
        continue;
      }
      const c = b.subarray(i, i + 19);
      const target = (c[15] << 8) | c[16];
      if (target === 0xffff || target === this.id) this.command(c);
      i += 19;
    }
    this.rx = b.slice(i);
  }

  private command(c: Uint8Array): void {
    const cmd = c[2];
    const d2 = c[3];
    const d3 = c[4];
    this.commands.push({ cmd, d2, d3 });
    if (this.faults.ignoreCommands) return;
    if (this.asleep && !(cmd === 6 && d2 === 1 && d3 === 1)) return; // asleep: only the wake-up
    // Replies go out after a short processing delay.
    const later = (fn: () => void) => setTimeout(fn, 3);
    switch (cmd) {
      case 2:
        if (d2 === 1) {
          const m = d3 ? 'query' : 'active';
          if (m !== this.mode) this.flashWrites++;
          this.mode = m;
          this.schedule();
        }
        later(() => this.reply(2, d2, this.mode === 'query' ? 1 : 0));
        break;
      case 4:
        later(() => this.sendData());
        break;
      case 5:
        this.id = (c[13] << 8) | c[14];
        this.flashWrites++;
        later(() => this.reply(5, 0, 0));
        break;
      case 6:
        if (d2 === 1) {
          if (d3 === 1 && this.asleep) this.fanSince = this.now();
          later(() => this.reply(6, 1, d3));
          this.asleep = d3 === 0;
          this.schedule();
        } else later(() => this.reply(6, 0, this.asleep ? 0 : 1));
        break;
      case 7:
        later(() => this.emit(sdsFrame(0xc5, [7, 18, 11, 16, this.id >> 8, this.id & 255])));
        break;
      case 8:
        if (d2 === 1) {
          if (d3 !== this.period) this.flashWrites++;
          this.period = d3;
          this.schedule();
        }
        later(() => this.reply(8, d2, this.period));
        break;
    }
  }
}
