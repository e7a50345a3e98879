// A simulated Wi-Fi link for the device source (firmware/core/sources/device/driver.ts
// DeviceNet): RSSI as a seeded random walk around a mean (dBm, ESP-IDF's signed 8-bit scale),
// and association drops that end in a reconnect, either at random (dropsPerHour) or forced.
// State advances lazily with the clock it is given, so it runs on real or virtual time.
import type { DeviceNet } from '../../firmware/core/sources/device/driver.js';
import { prng } from '../sources/profiles.js';

export interface SimWifiOptions {
  now: () => number;
  /** Mean RSSI (dBm, default -62) and the walk's step per second (dB, default 1). */
  meanDbm?: number;
  stepDb?: number;
  /** Random association drops per hour (default 0) and how long one lasts (ms, default 8000). */
  dropsPerHour?: number;
  dropMs?: number;
  seed?: number;
}

export class SimWifi implements DeviceNet {
  readonly o: SimWifiOptions;
  private rnd: () => number;
  private t: number;
  private level: number;
  private downUntil = -1;
  private count = 0;

  constructor(o: SimWifiOptions) {
    this.o = o;
    this.rnd = prng(o.seed ?? 1);
    this.t = o.now();
    this.level = o.meanDbm ?? -62;
  }

  /** Forces a drop now for `ms`; the link comes back with one more reconnect. */
  drop(ms: number): void {
    this.advance();
    this.begin(this.t, ms);
  }

  rssi(): number | undefined {
    this.advance();
    return this.downUntil >= 0 ? undefined : Math.round(this.level);
  }

  reconnects(): number {
    this.advance();
    return this.count;
  }

  private begin(at: number, ms: number): void {
    if (this.downUntil < 0) this.downUntil = at + ms;
  }

  private advance(): void {
    const now = this.o.now();
    const mean = this.o.meanDbm ?? -62;
    const step = this.o.stepDb ?? 1;
    const pDrop = (this.o.dropsPerHour ?? 0) / 3600;
    while (this.t + 1000 <= now) {
      this.t += 1000;
      if (this.downUntil >= 0 && this.t >= this.downUntil) {
        this.downUntil = -1;
        this.count++;
      }
      // Mean-reverting walk, clamped to what a radio reports.
      this.level += (this.rnd() - 0.5) * 2 * step + (mean - this.level) * 0.05;
      this.level = Math.max(-127, Math.min(-1, this.level));
      if (this.downUntil < 0 && this.rnd() < pDrop) this.begin(this.t, this.o.dropMs ?? 8000);
    }
  }
}
