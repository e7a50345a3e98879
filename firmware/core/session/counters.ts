// Boot counter, batch sequence numbers and monotonic totals (energy, pulses) on flash.
//
// Sequence numbers: reserved in blocks, not written ahead one by one. A write-ahead of every
// number costs one flash record per batch; a reservation record "numbers below seqEnd may be
// in use" costs one record per COUNTERS_DEFAULTS.seqBlock batches. After a reboot numbering
// resumes at the persisted seqEnd, skipping whatever was left of the last block: each boot
// leaves a gap of at most seqBlock numbers (a whole block if it numbered nothing), and a gap
// always comes with a new boot counter, so a verifier can tell a reboot gap from lost batches.
// 64 keeps reservation writes at 1/64 record per batch while a gap stays well below one
// batch per minute for an hour. A block is persisted before its first number is handed
// out, so a power cut (even in the middle of that write) can never lead to a number being used
// twice: a torn reservation was never used, and the previous one is still on flash.
//
// Boot counter: incremented and persisted (with the first block of the new boot) when Counters
// is constructed; nothing of the new boot is numbered before that write returned.
//
// Totals: float64 values that only grow (add() refuses negative amounts). Persisting every
// increment would wear the flash, so a totals record is written at most once per
// totalsMinIntervalMs, and at least once per totalsMaxIntervalMs while they change (checked by
// add() and tick()), or as soon as the interval allows once a total moved by totalsDelta.
// Honest bound: after a power cut the restored totals are the last persisted ones, so the count
// lost is what was added since the last totals record: at most the amount counted during
// totalsMaxIntervalMs (plus the time until the next add()/tick() call), and when counting is
// fast, at most totalsDelta plus what is counted in totalsMinIntervalMs. flush() persists at
// once (before a planned sleep or restart). persisted(i) is the value that survives a power cut;
// a batch that must never show a smaller total than an earlier batch, across reboots, reports
// that value instead of total(i). Restored totals never go backwards: every record holds the
// full state, the newest valid one wins, and a torn one is ignored.
//
// On flash: a StateLog (flash-log.ts) in files `<file>0` and `<file>1`, each preallocated to
// fileBytes; every record is the full state, so rotation needs no merge:
//   off 0   u8    COUNTERS_VERSION
//   off 1   u8    number of totals n
//   off 2   u32   boot
//   off 6   u32   seqEnd   (first number not yet reserved)
//   off 10  f64*n totals
// (framed as [tag][len][rc u32][state][crc32], see flash-log.ts).

import { err, aint, describe, RANGE_ERROR } from '../util/errors.js';
import type { Storage } from '../host.js';
import { StateLog, getU32, putU32, getF64, putF64, FRAME_OVERHEAD, checkName } from './flash-log.js';

// ---------------------------------------------------------------------------------------------
// Constants and configuration

/** Frame tag of counter records. */
export const COUNTERS_TAG = 0xc1;
export const COUNTERS_VERSION = 1;
/** Sequence numbers and the boot counter are u32 on flash and in batches. */
export const COUNTERS_MAX_U32 = 0xffffffff;
/** Upper bound on the number of totals (keeps a record small). */
export const COUNTERS_MAX_TOTALS = 16;
const STATE_HEAD = 10;

export interface CountersConfig {
  /** Base file name; files are `<file>0` and `<file>1` (<= 27 chars). */
  file: string;
  /** Size each file is preallocated to; a record is 18 + 8 * totals bytes, padded to 4. */
  fileBytes: number;
  /** Sequence numbers reserved per flash write (the largest possible gap after a reboot + 1). */
  seqBlock: number;
  /** Number of totals kept (indices 0 .. totals-1). */
  totals: number;
  /** Never write totals more often than this (flash wear bound). */
  totalsMinIntervalMs: number;
  /** Write changed totals at least this often (bound on the count a power cut can lose). */
  totalsMaxIntervalMs: number;
  /** Write as soon as totalsMinIntervalMs allows once any total moved by this much. */
  totalsDelta: number;
}

export const COUNTERS_DEFAULTS: CountersConfig = {
  file: 'ctr',
  fileBytes: 1024,
  seqBlock: 64,
  totals: 1,
  totalsMinIntervalMs: 60 * 1000,
  totalsMaxIntervalMs: 15 * 60 * 1000,
  totalsDelta: 100,
};

export interface CountersStats {
  boot: number;
  /** Next sequence number nextSeq() will return. */
  nextSeq: number;
  /** First number not covered by the persisted reservation. */
  seqEnd: number;
  seqBlock: number;
  /** Live minus persisted, per total: what a power cut now would lose. */
  lag: number[];
  /** Flash records written since construction, and file rotations among them. */
  writes: number;
  rotations: number;
  /** True when this boot found no earlier state on flash. */
  fresh: boolean;
}

function num(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || v !== v || v < min || v === Infinity)
    throw err('E_RANGE', '"' + name + '" expected a finite number >= ' + min + ', got ' + (typeof v === 'number' ? String(v) : describe(v)), RANGE_ERROR);
  return v;
}

/** Fill defaults and check every bound; throws naming the field. */
export function countersConfig(c?: Partial<CountersConfig>): CountersConfig {
  const d = COUNTERS_DEFAULTS;
  const o = c || {};
  if (typeof o !== 'object') throw err('E_TYPE', '"config" expected an object, got ' + describe(o), TypeError);
  const r: CountersConfig = {
    file: o.file === undefined ? d.file : o.file,
    fileBytes: o.fileBytes === undefined ? d.fileBytes : o.fileBytes,
    seqBlock: o.seqBlock === undefined ? d.seqBlock : o.seqBlock,
    totals: o.totals === undefined ? d.totals : o.totals,
    totalsMinIntervalMs: o.totalsMinIntervalMs === undefined ? d.totalsMinIntervalMs : o.totalsMinIntervalMs,
    totalsMaxIntervalMs: o.totalsMaxIntervalMs === undefined ? d.totalsMaxIntervalMs : o.totalsMaxIntervalMs,
    totalsDelta: o.totalsDelta === undefined ? d.totalsDelta : o.totalsDelta,
  };
  if (typeof r.file !== 'string') throw err('E_TYPE', '"file" expected a string, got ' + describe(r.file), TypeError);
  checkName('file', r.file + '0');
  aint('totals', r.totals, 0, COUNTERS_MAX_TOTALS);
  // Room for at least two records, so a file is not rotated on every write.
  aint('fileBytes', r.fileBytes, 2 * recordSpan(r.totals), 0xffff);
  aint('seqBlock', r.seqBlock, 1, 0x10000);
  num('totalsMinIntervalMs', r.totalsMinIntervalMs, 0);
  num('totalsMaxIntervalMs', r.totalsMaxIntervalMs, r.totalsMinIntervalMs);
  num('totalsDelta', r.totalsDelta, 0);
  return r;
}

function recordSpan(totals: number): number {
  return (FRAME_OVERHEAD + 4 + STATE_HEAD + 8 * totals + 3) & ~3;
}

// ---------------------------------------------------------------------------------------------
// State encoding (pure)

export interface CountersState {
  boot: number;
  seqEnd: number;
  totals: Float64Array;
}

export function encodeCountersState(s: CountersState): Uint8Array {
  const n = s.totals.length;
  const b = new Uint8Array(STATE_HEAD + 8 * n);
  b[0] = COUNTERS_VERSION;
  b[1] = n;
  putU32(b, 2, s.boot);
  putU32(b, 6, s.seqEnd);
  for (let i = 0; i < n; i++) putF64(b, STATE_HEAD + 8 * i, s.totals[i]);
  return b;
}

/** Decode a state record; undefined for an unknown version or a malformed one. */
export function decodeCountersState(b: Uint8Array): CountersState | undefined {
  if (b.length < STATE_HEAD || b[0] !== COUNTERS_VERSION || b.length !== STATE_HEAD + 8 * b[1]) return undefined;
  const t = new Float64Array(b[1]);
  for (let i = 0; i < t.length; i++) t[i] = getF64(b, STATE_HEAD + 8 * i);
  return { boot: getU32(b, 2), seqEnd: getU32(b, 6), totals: t };
}

// ---------------------------------------------------------------------------------------------
// Counters

export class Counters {
  readonly config: CountersConfig;
  private log: StateLog;
  private bootNo: number;
  private seq: number;
  private seqEnd: number;
  private live: Float64Array;
  private saved: Float64Array;
  /** Uptime (ms) of the last totals write; the clock for the rate bounds. */
  private savedAt: number;
  private fresh: boolean;

  /**
   * Boot: restore the newest state from flash, increment the boot counter and reserve the first
   * block of sequence numbers in one record. `now` is the monotonic uptime in ms (Clock.uptime).
   * Throws if that write fails; then nothing of this boot may be numbered.
   */
  constructor(storage: Storage, config: Partial<CountersConfig> | undefined, now: number) {
    this.config = countersConfig(config);
    num('now', now, 0);
    const c = this.config;
    this.log = new StateLog(storage, c.file, c.fileBytes, COUNTERS_TAG);
    const raw = this.log.load();
    const st = raw ? decodeCountersState(raw) : undefined;
    this.fresh = !st;
    this.live = new Float64Array(c.totals);
    // Totals beyond what flash holds start at 0 (a total added by a config change).
    if (st) for (let i = 0; i < c.totals && i < st.totals.length; i++) this.live[i] = st.totals[i];
    this.saved = new Float64Array(this.live);
    const prevBoot = st ? st.boot : 0;
    const prevEnd = st ? st.seqEnd : 0;
    if (prevBoot >= COUNTERS_MAX_U32) throw err('E_EXHAUSTED', 'boot counter exhausted (' + prevBoot + ')');
    if (prevEnd > COUNTERS_MAX_U32 - c.seqBlock) throw err('E_EXHAUSTED', 'sequence numbers exhausted (' + prevEnd + ')');
    this.bootNo = prevBoot + 1;
    this.seq = prevEnd;
    this.seqEnd = prevEnd + c.seqBlock;
    this.savedAt = now;
    this.write();
  }

  /** Boot counter of this boot (1 on the first boot of a device). */
  boot(): number {
    return this.bootNo;
  }

  /**
   * Next sequence number: strictly increasing over the device's life. Writes a reservation
   * record when the block is used up (and throws, handing out nothing, if that write fails).
   */
  nextSeq(): number {
    if (this.seq >= this.seqEnd) {
      if (this.seqEnd > COUNTERS_MAX_U32 - this.config.seqBlock) throw err('E_EXHAUSTED', 'sequence numbers exhausted (' + this.seqEnd + ')');
      const prev = this.seqEnd;
      this.seqEnd = prev + this.config.seqBlock;
      try {
        this.write();
      } catch (e) {
        // Not reserved: hand out nothing from it. (If the record reached flash anyway, the next
        // boot starts above it: a larger gap, never a reuse.)
        this.seqEnd = prev;
        throw e;
      }
    }
    return this.seq++;
  }

  /** Add `delta` (>= 0) to total `i`; may write a totals record within the rate bounds. */
  add(i: number, delta: number, now: number): void {
    aint('index', i, 0, this.config.totals - 1);
    num('delta', delta, 0);
    num('now', now, 0);
    this.live[i] += delta;
    this.tick(now);
  }

  /** Live total (what has been counted this boot, on top of the restored value). */
  total(i: number): number {
    aint('index', i, 0, this.config.totals - 1);
    return this.live[i];
  }

  /** The value of total `i` a power cut now would restore. */
  persisted(i: number): number {
    aint('index', i, 0, this.config.totals - 1);
    return this.saved[i];
  }

  /** Write the totals if a bound says so; returns true when a record was written. */
  tick(now: number): boolean {
    num('now', now, 0);
    const c = this.config;
    let moved = 0;
    for (let i = 0; i < c.totals; i++) if (this.live[i] - this.saved[i] > moved) moved = this.live[i] - this.saved[i];
    if (moved === 0) return false;
    const since = now - this.savedAt;
    // A clock that went backwards (should not happen with uptime) counts as "due".
    if (since >= c.totalsMaxIntervalMs || since < 0 || (moved >= c.totalsDelta && since >= c.totalsMinIntervalMs)) {
      this.savedAt = now;
      this.write();
      return true;
    }
    return false;
  }

  /** Write the totals now if they changed (ignores the rate bound: for planned shutdowns). */
  flush(now: number): boolean {
    num('now', now, 0);
    for (let i = 0; i < this.config.totals; i++)
      if (this.live[i] !== this.saved[i]) {
        this.savedAt = now;
        this.write();
        return true;
      }
    return false;
  }

  stats(): CountersStats {
    const lag: number[] = [];
    for (let i = 0; i < this.config.totals; i++) lag.push(this.live[i] - this.saved[i]);
    const l = this.log.stats();
    return {
      boot: this.bootNo,
      nextSeq: this.seq,
      seqEnd: this.seqEnd,
      seqBlock: this.config.seqBlock,
      lag: lag,
      writes: l.saves,
      rotations: l.rotations,
      fresh: this.fresh,
    };
  }

  /** Persist the full state; `saved` follows only once the write returned. */
  private write(): void {
    const snap = new Float64Array(this.live);
    this.log.save(encodeCountersState({ boot: this.bootNo, seqEnd: this.seqEnd, totals: snap }));
    this.saved = snap;
  }
}
