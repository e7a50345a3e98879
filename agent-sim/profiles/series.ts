// Power as a step function of one-minute slots per local day, with a zero-mean sub-minute
// ripple, and its exact integral. A model fills a day's slots (W) in one pass; the day is cached,
// so reads within it cost a lookup. The ripple, p(t) = slot * (1 + R sin(2 pi x + phi)) with x the
// fraction of the minute elapsed and phi hashed per slot, gives a 1-second meter (DSMR 5) a
// living reading while every whole minute still integrates to exactly slot * 1 min, and the
// partial minute has a closed form: energy is the exact integral of the power a reader sees.
//
// Cumulative: energy from a fixed epoch to t, from day totals summed once and kept (a few bytes
// per day), walking in either direction from the epoch.
import { DAY_MS, HOUR_MS, MIN_MS, localDay, dayStart, u01 } from './noise.js';

export const SERIES = {
  SLOT_MS: MIN_MS,
  SLOTS_PER_DAY: DAY_MS / MIN_MS,
  /** Days of slots kept per series (a read and its neighbours around midnight). */
  CACHE_DAYS: 3,
} as const;

const SLOT_H = SERIES.SLOT_MS / HOUR_MS;

export interface DaySeriesOptions {
  /** UTC offset of the local days, hours. */
  tzH: number;
  /** Fills out[0..1439] with the power (W, >= 0 unless the series is signed) of local day D. */
  build(D: number, out: Float64Array): void;
  /** Sub-minute ripple amplitude (0..0.5) and its key (default none). */
  ripple?: number;
  rippleKey?: number;
}

interface Day {
  slots: Float64Array;
  /** prefix[m]: Wh from the day's start to the start of slot m; prefix[1440] the day's total. */
  prefix: Float64Array;
}

export class DaySeries {
  readonly tzH: number;
  private readonly o: DaySeriesOptions;
  private readonly cache = new Map<number, Day>();

  constructor(o: DaySeriesOptions) {
    this.o = o;
    this.tzH = o.tzH;
  }

  private day(D: number): Day {
    let d = this.cache.get(D);
    if (d) return d;
    const slots = new Float64Array(SERIES.SLOTS_PER_DAY);
    this.o.build(D, slots);
    const prefix = new Float64Array(SERIES.SLOTS_PER_DAY + 1);
    let s = 0;
    for (let m = 0; m < slots.length; m++) {
      prefix[m] = s;
      s += slots[m] * SLOT_H;
    }
    prefix[slots.length] = s;
    d = { slots, prefix };
    if (this.cache.size >= SERIES.CACHE_DAYS) this.cache.delete(this.cache.keys().next().value as number);
    this.cache.set(D, d);
    return d;
  }

  /** The slots (W) of local day D (do not modify). */
  slots(D: number): Float64Array {
    return this.day(D).slots;
  }

  /** Energy of local day D, Wh. */
  dayWh(D: number): number {
    return this.day(D).prefix[SERIES.SLOTS_PER_DAY];
  }

  private locate(t: number): { D: number; m: number; x: number } {
    const D = localDay(t, this.tzH);
    const ms = t - dayStart(D, this.tzH);
    const m = Math.min(SERIES.SLOTS_PER_DAY - 1, Math.floor(ms / SERIES.SLOT_MS));
    return { D, m, x: (ms - m * SERIES.SLOT_MS) / SERIES.SLOT_MS };
  }

  private phase(D: number, m: number): number {
    return 2 * Math.PI * u01(this.o.rippleKey ?? 0, D, m);
  }

  /** The slot's power at t (no ripple). */
  slotW(t: number): number {
    const { D, m } = this.locate(t);
    return this.day(D).slots[m];
  }

  /** Power at t, ripple included. */
  powerW(t: number): number {
    const { D, m, x } = this.locate(t);
    const p = this.day(D).slots[m];
    const R = this.o.ripple ?? 0;
    return R ? p * (1 + R * Math.sin(2 * Math.PI * x + this.phase(D, m))) : p;
  }

  /** Energy from the start of t's local day to t, Wh: the exact integral of powerW. */
  partialWh(t: number): number {
    const { D, m, x } = this.locate(t);
    const d = this.day(D);
    const p = d.slots[m];
    let e = d.prefix[m] + p * x * SLOT_H;
    const R = this.o.ripple ?? 0;
    if (R && x > 0) {
      const ph = this.phase(D, m);
      e += (p * R * SLOT_H * (Math.cos(ph) - Math.cos(2 * Math.PI * x + ph))) / (2 * Math.PI);
    }
    return e;
  }
}

/** Energy (Wh) of a DaySeries from `epoch` to t: negative before the epoch. Day totals are summed once and kept. */
export class Cumulative {
  readonly epoch: number;
  private readonly s: DaySeries;
  private readonly D0: number;
  private readonly e0: number;
  /** up[k]: Wh from the start of day D0 to the start of day D0 + k; down[k]: to the start of D0 - k (negative). */
  private readonly up: number[] = [0];
  private readonly down: number[] = [0];

  constructor(series: DaySeries, epoch: number) {
    this.s = series;
    this.epoch = epoch;
    this.D0 = localDay(epoch, series.tzH);
    this.e0 = series.partialWh(epoch);
  }

  /** Wh from the start of day D0 to the start of day D. */
  private toDay(D: number): number {
    const k = D - this.D0;
    if (k >= 0) {
      while (this.up.length <= k) {
        const j = this.up.length;
        this.up.push(this.up[j - 1] + this.s.dayWh(this.D0 + j - 1));
      }
      return this.up[k];
    }
    while (this.down.length <= -k) {
      const j = this.down.length;
      this.down.push(this.down[j - 1] - this.s.dayWh(this.D0 - j));
    }
    return this.down[-k];
  }

  at(t: number): number {
    return this.toDay(localDay(t, this.s.tzH)) + this.s.partialWh(t) - this.e0;
  }
}
