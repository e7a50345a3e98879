// Energy meters as the grid sees them: registers that wrap, meters that are swapped or reset,
// and the rule by which a reader turns raw registers into a total that never goes backwards.
//
// The meter (pure). A meter has one or more energy registers (import, export) fed by energy
// functions E_i(t) (the profile's running totals). Its life is cut into segments by breaks:
//   swap   the grid operator installs a new meter: new serial number, registers restart from
//          the new meter's factory-test reading (0..NEW_METER_MAX_WH);
//   reset  the same meter's registers are cleared to 0 (a firmware update, a tamper reset);
// Breaks come from a schedule (scenarios) and from a hashed Poisson process per device
// (swapsPerYear, resetsPerYear; 30-day blocks from the epoch, at most one break per block).
// Within a segment a register reads (start_i + E_i(t) - E_i(t_segment)) mod wrapWh: a
// 6-digit kWh register with 3 decimals holds 0 .. 999999.999 kWh and rolls over to 0 at
// 1 000 000 kWh (wrapWh = 1e9 Wh); DSMR 2.2 meters have 5 digits (1e8 Wh).
//
// The reader (agent side): see accountReading below and docs/simulation.md "Profiles".
import { DAY_MS, YEAR_DAYS, hash, u01 } from './noise.js';

export const METER = {
  /** 6 integer + 3 decimal kWh digits: wraps at 1 000 000 kWh. */
  WRAP_WH: 1e9,
  /** Break process: one block per BLOCK_DAYS, at most one break per block. */
  BLOCK_DAYS: 30,
  /** A new meter arrives with up to this many Wh from its factory test. */
  NEW_METER_MAX_WH: 50,
  /** Registers at the epoch when not given: between these (Wh). */
  START_MIN_WH: 500_000,
  START_MAX_WH: 30_000_000,
  /** Time resolution of event times found by bisection, ms. */
  EVENT_RESOLUTION_MS: 1,
} as const;

export type BreakKind = 'swap' | 'reset';
export type MeterEventKind = BreakKind | 'rollover';

export interface MeterOptions {
  /** Register range, Wh (default METER.WRAP_WH). */
  wrapWh?: number;
  /** Registers at the epoch, Wh, one per register (default drawn per device). */
  startWh?: number[];
  swapsPerYear?: number;
  resetsPerYear?: number;
  /** Breaks at fixed times (scenarios), in addition to the random ones. */
  schedule?: { at: number; kind: BreakKind }[];
  /** Serial numbers: prefix + 8 digits (default "SIM"). */
  serialPrefix?: string;
}

export interface MeterEvent {
  at: number;
  kind: MeterEventKind;
  /** Serial after the event. */
  serial: string;
  /** Index of the register that rolled over (rollover only). */
  register?: number;
  /** Registers just before and just after the event, Wh. */
  before: number[];
  after: number[];
}

export interface MeterModel {
  readonly wrapWh: number;
  readonly registerCount: number;
  serial(t: number): string;
  /** Raw registers at t, Wh (fractional; a display shows floor), each in [0, wrapWh). */
  registers(t: number): number[];
  /** Swaps, resets and rollovers in (from, to], in time order. */
  events(from: number, to: number): MeterEvent[];
}

interface Segment {
  at: number;
  kind: BreakKind | 'install';
  serial: string;
  start: number[];
}

export interface MeterContext {
  seed: number;
  dev: number;
  epoch: number;
  /** Energy functions (Wh from the epoch), one per register, non-decreasing. */
  energy: ((t: number) => number)[];
}

function serialOf(prefix: string, h: number): string {
  return prefix + String(10_000_000 + (h % 90_000_000));
}

export function createMeter(c: MeterContext, o: MeterOptions = {}): MeterModel {
  const n = c.energy.length;
  const wrap = o.wrapWh ?? METER.WRAP_WH;
  const key = hash(c.seed, c.dev, 'meter');
  const prefix = o.serialPrefix ?? 'SIM';
  const blockMs = METER.BLOCK_DAYS * DAY_MS;
  const pBlock = ((o.swapsPerYear ?? 0) + (o.resetsPerYear ?? 0)) * (METER.BLOCK_DAYS / YEAR_DAYS);
  const pSwap = (o.swapsPerYear ?? 0) / Math.max(1e-12, (o.swapsPerYear ?? 0) + (o.resetsPerYear ?? 0));
  const schedule = (o.schedule ?? []).filter((b) => b.at > c.epoch).sort((a, b) => a.at - b.at);
  const start0: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = o.startWh?.[i] ?? (i === 0 ? METER.START_MIN_WH + (METER.START_MAX_WH - METER.START_MIN_WH) * u01(key, 'start', i) : METER.START_MIN_WH * u01(key, 'start', i));
    start0.push(((s % wrap) + wrap) % wrap);
  }
  const install: Segment = { at: c.epoch, kind: 'install', serial: serialOf(prefix, hash(key, 'serial', 0)), start: start0 };

  /** Break times and kinds in (epoch, to], random and scheduled, in order. */
  function breaks(to: number): { at: number; kind: BreakKind }[] {
    const out: { at: number; kind: BreakKind }[] = [];
    if (pBlock > 0) {
      const last = Math.floor((to - c.epoch) / blockMs);
      for (let b = 0; b <= last; b++) {
        if (u01(key, 'break', b) >= Math.min(1, pBlock)) continue;
        const at = c.epoch + b * blockMs + Math.floor(u01(key, 'when', b) * blockMs);
        if (at > c.epoch && at <= to) out.push({ at, kind: u01(key, 'kind', b) < pSwap ? 'swap' : 'reset' });
      }
    }
    for (const s of schedule) if (s.at <= to) out.push(s);
    return out.sort((a, b) => a.at - b.at);
  }

  // Segments are found by walking breaks from the epoch; the walk is cached up to the latest time asked.
  let segs: Segment[] = [install];
  let segsTo = c.epoch;
  function segments(to: number): Segment[] {
    if (to <= segsTo) return segs;
    const list: Segment[] = [install];
    for (const b of breaks(to)) {
      const prev = list[list.length - 1];
      const start: number[] = [];
      for (let i = 0; i < n; i++) start.push(b.kind === 'swap' ? Math.floor(METER.NEW_METER_MAX_WH * u01(key, 'new', b.at, i)) : 0);
      list.push({ at: b.at, kind: b.kind, serial: b.kind === 'swap' ? serialOf(prefix, hash(key, 'serial', b.at)) : prev.serial, start });
    }
    segs = list;
    segsTo = to;
    return segs;
  }

  function segmentAt(t: number): { seg: Segment; next: number } {
    const list = segments(Math.max(t, c.epoch));
    let k = list.length - 1;
    while (k > 0 && list[k].at > t) k--;
    return { seg: list[k], next: k + 1 < list.length ? list[k + 1].at : Infinity };
  }

  /** Unwrapped register values of a segment at t. */
  function raw(seg: Segment, t: number): number[] {
    const r: number[] = [];
    for (let i = 0; i < n; i++) r.push(seg.start[i] + c.energy[i](t) - c.energy[i](seg.at));
    return r;
  }

  const wrapped = (x: number) => ((x % wrap) + wrap) % wrap;

  function registers(t: number): number[] {
    return raw(segmentAt(t).seg, t).map(wrapped);
  }

  function serial(t: number): string {
    return segmentAt(t).seg.serial;
  }

  /** First time in (lo, hi] at which register i of seg reaches `level` (unwrapped); E is non-decreasing. */
  function crossing(seg: Segment, i: number, level: number, lo: number, hi: number): number {
    const f = (t: number) => seg.start[i] + c.energy[i](t) - c.energy[i](seg.at);
    while (hi - lo > METER.EVENT_RESOLUTION_MS) {
      const mid = Math.floor((lo + hi) / 2);
      if (f(mid) >= level) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  function events(from: number, to: number): MeterEvent[] {
    const out: MeterEvent[] = [];
    const list = segments(Math.max(to, c.epoch));
    for (let k = 0; k < list.length; k++) {
      const seg = list[k];
      const end = k + 1 < list.length ? list[k + 1].at : Infinity;
      if (k > 0 && seg.at > from && seg.at <= to) {
        out.push({ at: seg.at, kind: seg.kind as BreakKind, serial: seg.serial, before: raw(list[k - 1], seg.at).map(wrapped), after: seg.start.slice() });
      }
      // Rollovers inside the segment's part of (from, to].
      const a = Math.max(from, seg.at);
      const b = Math.min(to, end - 1);
      if (b <= a) continue;
      const ra = raw(seg, a);
      const rb = raw(seg, b);
      for (let i = 0; i < n; i++) {
        for (let w = Math.floor(ra[i] / wrap) + 1; w <= Math.floor(rb[i] / wrap); w++) {
          const at = crossing(seg, i, w * wrap, a, b);
          out.push({ at, kind: 'rollover', serial: seg.serial, register: i, before: raw(seg, at - 1).map(wrapped), after: raw(seg, at).map(wrapped) });
        }
      }
    }
    return out.sort((x, y) => x.at - y.at);
  }

  return { wrapWh: wrap, registerCount: n, serial, registers, events };
}

// ---------------------------------------------------------------------------------------------
// The reader's rule: raw registers in, a total that never goes backwards out.
//
// Per register, with d = reading - previous reading and maxStep the most a healthy meter can
// count between the two reads (maxPowerW x elapsed time, plus 1 Wh of display rounding):
//   serial changed                      -> 'swap':     credit 0; the new meter's reading is the new baseline
//                                                      (its factory reading is not this site's energy)
//   0 <= d <= maxStep                   -> credit d
//   d > maxStep                         -> 'jump':     credit 0, new baseline (a misread or a foreign meter)
//   d < 0, reading + wrap - prev <= maxStep -> 'rollover': credit reading + wrap - prev (nothing is lost)
//   d < 0 otherwise                     -> 'reset':    credit the reading if <= maxStep (the register
//                                                      restarted at 0), else 0
// What a swap or reset loses is the energy the old register counted after the last read: at
// most one read interval's worth. The totals start at the first reading's registers, so before
// any event the reported total equals the meter's display.
//
// Written without Map/spread/for-of so the same logic can move into firmware/core unchanged.

export interface AccountRules {
  wrapWh: number;
  /** Largest plausible power through the meter, W (default 50 kW: a 3 x 63 A connection is 43.5 kW). */
  maxPowerW?: number;
}

export interface AccountState {
  serial: string;
  /** Previous readings (Wh, as displayed: integers). */
  last: number[];
  /** Totals so far, Wh. */
  totals: number[];
  /** Time of the previous reading, ms. */
  at: number;
}

export type AccountEvent = 'swap' | 'reset' | 'rollover' | 'jump';

export interface AccountResult {
  state: AccountState;
  /** The most significant event of this reading (swap > reset > jump > rollover), if any. */
  event?: AccountEvent;
  /** Wh credited per register by this reading. */
  credited: number[];
}

export const ACCOUNT_DEFAULT_MAX_POWER_W = 50_000;

const EVENT_RANK: { [k: string]: number } = { rollover: 1, jump: 2, reset: 3, swap: 4 };

export function accountReading(prev: AccountState | undefined, t: number, serial: string, readings: number[], rules: AccountRules): AccountResult {
  const n = readings.length;
  const credited: number[] = [];
  if (!prev || prev.last.length !== n) {
    for (let i = 0; i < n; i++) credited.push(0);
    return { state: { serial, last: readings.slice(), totals: readings.slice(), at: t }, credited };
  }
  const maxW = rules.maxPowerW === undefined ? ACCOUNT_DEFAULT_MAX_POWER_W : rules.maxPowerW;
  const maxStep = (maxW * Math.max(1000, t - prev.at)) / 3_600_000 + 1;
  let event: AccountEvent | undefined;
  const raise = (e: AccountEvent) => {
    if (!event || EVENT_RANK[e] > EVENT_RANK[event]) event = e;
  };
  const totals: number[] = [];
  const swapped = serial !== prev.serial;
  if (swapped) raise('swap');
  for (let i = 0; i < n; i++) {
    const r = readings[i];
    const d = r - prev.last[i];
    let c = 0;
    if (swapped) c = 0;
    else if (d >= 0) {
      if (d <= maxStep) c = d;
      else raise('jump');
    } else if (r + rules.wrapWh - prev.last[i] <= maxStep) {
      c = r + rules.wrapWh - prev.last[i];
      raise('rollover');
    } else {
      c = r <= maxStep ? r : 0;
      raise('reset');
    }
    credited.push(c);
    totals.push(prev.totals[i] + c);
  }
  return { state: { serial, last: readings.slice(), totals, at: t }, event, credited };
}
