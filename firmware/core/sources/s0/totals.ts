// Monotonic totals of a source (energy, packet counts) on flash, written at a bounded rate.
//
// Why not session/counters.ts: Counters belongs to the agent (boot counter, sequence numbers)
// and one boot writes it once per start; a source needs its own file, its own rate bounds and
// totals that are *set* (energy = base + pulses * Wh per pulse, computed, not summed, so
// rounding does not accumulate) as well as added. The storage side is the same StateLog
// (session/flash-log.ts): two preallocated files used in turn, every record the full state,
// the newest complete record wins after a power cut, a torn one is ignored.
//
// Write rate (flash wear), with `now` the monotonic uptime in ms:
//   - never more often than once per minIntervalMs;
//   - as soon as minIntervalMs allows once total 0 (the primary total) moved by `delta`;
//   - at least once per maxIntervalMs while any total differs from flash;
//   - settle(now), called by a source's read(), writes whenever minIntervalMs allows, so a
//     read every minIntervalMs or slower always reports exactly what it counted.
// dueIn(now) tells a driver when the next write falls due, so it can arm one timer instead of
// polling.
//
// Loss bound after a power cut: the restored totals are the last record that reached flash.
// What was counted after it is lost: at most what is counted during maxIntervalMs (plus the
// delay of the timer that enforces it), and while counting fast, at most `delta` plus what is
// counted during minIntervalMs. Nothing counted while the device is off is ever seen.
// Reported values are persisted(i), never live(i): a reading can never show a total that a
// power cut would take back, so totals on the wire never go backwards, across reboots too.
//
// Record (inside StateLog's frame [tag][len][rc u32][state][crc32]):
//   off 0  u8     TOTALS_VERSION
//   off 1  u8     kind (which component wrote it; a file of another kind is not loaded)
//   off 2  u8     number of totals n
//   off 3  u8     0 (padding, keeps the f64s 4-aligned within the payload)
//   off 4  f64*n  totals, little-endian
import { err, aint, describe, RANGE_ERROR } from '../../util/errors.js';
import type { Storage } from '../../host.js';
import { StateLog, getF64, putF64, FRAME_OVERHEAD, checkName } from '../../session/flash-log.js';

// ---------------------------------------------------------------------------------------------
// Constants

/** Frame tag of source totals records (session/counters.ts uses 0xc1). */
export const TOTALS_TAG = 0xc5;
export const TOTALS_VERSION = 1;
/** Bound on the number of totals in one record (keeps a record under ~150 bytes). */
export const TOTALS_MAX = 16;
const HEAD = 4;
/** StateLog's record counter in front of the state. */
const RC = 4;

/** Record kinds (byte 1): one per component that persists totals. */
export const TOTALS_KIND_S0 = 1;
export const TOTALS_KIND_SEMTECH = 2;

export interface TotalsConfig {
  /** Base file name; files are `<file>0` and `<file>1` (<= 27 chars). */
  file: string;
  /** Record kind written into every record; records of another kind are ignored on load. */
  kind: number;
  /** Number of totals (indices 0 .. count-1). */
  count: number;
  /** Size each file is preallocated to; at least two records must fit. */
  fileBytes: number;
  /** Never write more often than this (flash wear bound). */
  minIntervalMs: number;
  /** Write changed totals at least this often (bound on what a power cut can lose). */
  maxIntervalMs: number;
  /** Write as soon as minIntervalMs allows once total 0 moved by this much. */
  delta: number;
}

/** Bytes one record occupies in a file (frame, record counter and padding included). */
export function totalsRecordSpan(count: number): number {
  return (FRAME_OVERHEAD + RC + HEAD + 8 * count + 3) & ~3;
}

function num(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || v !== v || v < min || v === Infinity)
    throw err('E_RANGE', '"' + name + '" expected a finite number >= ' + min + ', got ' + (typeof v === 'number' ? String(v) : describe(v)), RANGE_ERROR);
  return v;
}

/** Checks every field; throws naming the field. */
export function checkTotalsConfig(c: TotalsConfig): TotalsConfig {
  if (c === null || typeof c !== 'object') throw err('E_TYPE', '"config" expected an object, got ' + describe(c), TypeError);
  if (typeof c.file !== 'string') throw err('E_TYPE', '"file" expected a string, got ' + describe(c.file), TypeError);
  checkName('file', c.file + '0');
  aint('kind', c.kind, 0, 255);
  aint('count', c.count, 1, TOTALS_MAX);
  aint('fileBytes', c.fileBytes, 2 * totalsRecordSpan(c.count), 0xffff);
  num('minIntervalMs', c.minIntervalMs, 0);
  num('maxIntervalMs', c.maxIntervalMs, c.minIntervalMs);
  num('delta', c.delta, 0);
  return c;
}

// ---------------------------------------------------------------------------------------------
// State encoding (pure)

export function encodeTotals(kind: number, totals: Float64Array): Uint8Array {
  const b = new Uint8Array(HEAD + 8 * totals.length);
  b[0] = TOTALS_VERSION;
  b[1] = kind;
  b[2] = totals.length;
  for (let i = 0; i < totals.length; i++) putF64(b, HEAD + 8 * i, totals[i]);
  return b;
}

/** undefined for another version or kind, a malformed record, or a total that is not a finite number >= 0. */
export function decodeTotals(kind: number, b: Uint8Array): Float64Array | undefined {
  if (b.length < HEAD || b[0] !== TOTALS_VERSION || b[1] !== kind || b.length !== HEAD + 8 * b[2]) return undefined;
  const t = new Float64Array(b[2]);
  for (let i = 0; i < t.length; i++) {
    const v = getF64(b, HEAD + 8 * i);
    if (!(v >= 0) || v === Infinity) return undefined;
    t[i] = v;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// PersistentTotals

export interface TotalsStats {
  /** Records written since construction, and failed write attempts. */
  writes: number;
  writeErrors: number;
  /** live - persisted, per total: what a power cut now would lose. */
  lag: number[];
  /** True when a record was found on flash at construction. */
  restored: boolean;
}

export class PersistentTotals {
  readonly config: TotalsConfig;
  private log: StateLog;
  private cur: Float64Array;
  private saved: Float64Array;
  private savedAt: number;
  private writes = 0;
  private errors = 0;
  private found: boolean;

  /** Loads the newest complete record (totals beyond what it holds start at 0). Writes nothing. */
  constructor(storage: Storage, config: TotalsConfig, now: number) {
    this.config = checkTotalsConfig(config);
    num('now', now, 0);
    this.log = new StateLog(storage, config.file, config.fileBytes, TOTALS_TAG);
    const raw = this.log.load();
    const st = raw ? decodeTotals(config.kind, raw) : undefined;
    this.found = !!st;
    this.cur = new Float64Array(config.count);
    if (st) for (let i = 0; i < config.count && i < st.length; i++) this.cur[i] = st[i];
    this.saved = new Float64Array(this.cur);
    this.savedAt = now;
  }

  /** Live total: restored value plus what was counted since. */
  live(i: number): number {
    return this.cur[aint('index', i, 0, this.config.count - 1)];
  }

  /** The value a power cut now would restore; the one to report. */
  persisted(i: number): number {
    return this.saved[aint('index', i, 0, this.config.count - 1)];
  }

  /** Adds `delta` >= 0 to total i. Call tick() after a group of changes (one record for all). */
  add(i: number, delta: number): void {
    aint('index', i, 0, this.config.count - 1);
    num('delta', delta, 0);
    this.cur[i] += delta;
  }

  /** Sets total i to `v`, which must not be below its live value (totals never go backwards). */
  raise(i: number, v: number): void {
    aint('index', i, 0, this.config.count - 1);
    num('value', v, this.cur[i]);
    this.cur[i] = v;
  }

  /** Writes if the max interval or the delta bound says so; true when a record was written. */
  tick(now: number): boolean {
    const c = this.config;
    if (!this.changed()) return false;
    const since = now - this.savedAt;
    // A clock that went backwards (should not happen with uptime) counts as "due".
    if (since < 0 || since >= c.maxIntervalMs || (this.cur[0] - this.saved[0] >= c.delta && since >= c.minIntervalMs)) return this.write(now);
    return false;
  }

  /** For a read: writes any change as soon as minIntervalMs allows. */
  settle(now: number): boolean {
    if (!this.changed()) return false;
    const since = now - this.savedAt;
    if (since < 0 || since >= this.config.minIntervalMs) return this.write(now);
    return this.tick(now);
  }

  /** Writes any change now, ignoring the rate bounds (planned stop or restart). */
  flush(now: number): boolean {
    return this.changed() ? this.write(now) : false;
  }

  /** Milliseconds until tick() would write, or -1 when nothing is waiting to be written. */
  dueIn(now: number): number {
    if (!this.changed()) return -1;
    const c = this.config;
    const at = this.savedAt + (this.cur[0] - this.saved[0] >= c.delta ? c.minIntervalMs : c.maxIntervalMs);
    return at > now ? at - now : 0;
  }

  stats(): TotalsStats {
    const lag: number[] = [];
    for (let i = 0; i < this.cur.length; i++) lag.push(this.cur[i] - this.saved[i]);
    return { writes: this.writes, writeErrors: this.errors, lag: lag, restored: this.found };
  }

  private changed(): boolean {
    for (let i = 0; i < this.cur.length; i++) if (this.cur[i] !== this.saved[i]) return true;
    return false;
  }

  /**
   * A failed write (flash full, power failing) is counted, not thrown: counting goes on and the
   * next attempt comes one interval later. `saved` follows only a write that returned.
   */
  private write(now: number): boolean {
    const snap = new Float64Array(this.cur);
    this.savedAt = now;
    try {
      this.log.save(encodeTotals(this.config.kind, snap));
    } catch (e) {
      this.errors++;
      return false;
    }
    this.saved = snap;
    this.writes++;
    return true;
  }
}
