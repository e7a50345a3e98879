// The storage interface of the ingest. SQLite (store-sqlite.ts), PostgreSQL (store-postgres.ts)
// and JSON lines (store-jsonl.ts) implement it: results may be Promises, and every write is one
// call that the store makes atomic (one transaction). The two databases also decide chain links
// themselves (writeChecked, declareGaps) for several verifier processes (chain-db.ts).
import type { Verified, RejectReason } from './verify.js';
import type { BatchRef, DeviceSnapshot, GapEvent } from './chain.js';
import type { Verdict } from './chain-db.js';

export type MaybePromise<T> = T | Promise<T>;

export interface RejectRow {
  at: number;
  reason: RejectReason;
  detail: string;
  device?: string;
  seq?: number;
  topic?: string;
  /** The message itself, kept only for signed rejects (conflict, chain-break): evidence. */
  raw?: Uint8Array;
}

/** Registry view of a device for the devices table. */
export interface DeviceRow {
  address: string;
  publicKey?: string;
  label?: string;
  revoked?: boolean;
}

/** Things to persist together. */
export interface WriteUnit {
  batch?: Verified;
  rejects?: RejectRow[];
  gaps?: GapEvent[];
}

export interface LoadLimits {
  /** How many of the newest batches to return in DeviceSnapshot.recent. */
  recent: number;
  /** How many drop reports to return. */
  drops: number;
}

export interface Store {
  readonly kind: string;
  /** What the store holds about a device, for the chain tracker; undefined when it keeps no state. */
  loadDevice(device: string, limits: LoadLimits): MaybePromise<DeviceSnapshot | undefined>;
  lookupBatch(device: string, seq: number): MaybePromise<BatchRef | undefined>;
  /** Persist all units atomically. Batches already stored (same device, seq) are left as they are. */
  write(units: WriteUnit[]): MaybePromise<void>;
  /** Mirror the registry into the devices table (insert or update key, label, revoked). */
  syncDevices(devices: DeviceRow[]): MaybePromise<void>;
  close(): MaybePromise<void>;
  /**
   * Database mode (chain-db.ts): in one transaction that locks the devices involved, decide
   * every unit's batch against the stored rows (duplicate, conflict, chain-break, links, filled
   * gaps, drop reports), store the accepted ones with their gap events and the refused ones as
   * signed rejects with the message, and store the units' own rejects and gaps. One verdict per
   * unit, undefined for units without a batch. Absent in stores that keep no rows.
   */
  writeChecked?(units: WriteUnit[]): MaybePromise<(Verdict | undefined)[]>;
  /**
   * Database mode: declare as gaps the open links whose successor was received at or before
   * nowMs - graceMs (and after the last sweep's watermark - overlapMs), under the device locks;
   * a gap is declared once however many processes sweep.
   */
  declareGaps?(nowMs: number, graceMs: number, overlapMs: number): MaybePromise<GapSweep>;
}

/** What a sweep of the database found. */
export interface GapSweep {
  /** Gaps this sweep declared (another process's sweep may declare others). */
  events: GapEvent[];
  /** Over the whole database: open gaps, and gaps filled late. */
  open: { explained: number; unexplained: number };
  filledLate: number;
  /** Open links still inside the grace period. */
  pending: number;
}

/** The rows a verdict adds to other stores: the accepted batch with its gap events, or the signed reject. */
export function verdictUnits(units: WriteUnit[], verdicts: (Verdict | undefined)[]): WriteUnit[] {
  const out: WriteUnit[] = [];
  for (let i = 0; i < units.length; i++) {
    const u = units[i];
    const v = verdicts[i];
    const next: WriteUnit = { rejects: u.rejects ? u.rejects.slice() : undefined, gaps: u.gaps ? u.gaps.slice() : undefined };
    if (u.batch && v) {
      if (v.status === 'accepted') {
        next.batch = u.batch;
        if (v.events.length) next.gaps = (next.gaps || []).concat(v.events);
      } else if (v.status !== 'duplicate') next.rejects = (next.rejects || []).concat([signedReject(u.batch, v.status, v.detail)]);
    }
    if (next.batch || next.rejects || next.gaps) out.push(next);
  }
  return out;
}

/** The reject row of a validly signed batch the chain refused: kept with the message as evidence. */
export function signedReject(v: Verified, reason: 'conflict' | 'chain-break', detail: string): RejectRow {
  return { at: v.receivedAt, reason, detail, device: v.kid, seq: v.batch.seq, topic: v.topic, raw: v.message };
}

/**
 * Reads from the first store, writes to all (e.g. SQLite plus JSON lines on stdout). In database
 * mode the first store decides, and the others get what it decided.
 */
export function teeStore(primary: Store, ...others: Store[]): Store {
  const all = [primary, ...others];
  const tee: Store = {
    kind: all.map((s) => s.kind).join('+'),
    loadDevice: (d, l) => primary.loadDevice(d, l),
    lookupBatch: (d, s) => primary.lookupBatch(d, s),
    write(units) {
      return runAll(all.map((s) => () => s.write(units)));
    },
    syncDevices(devs) {
      return runAll(all.map((s) => () => s.syncDevices(devs)));
    },
    close() {
      return runAll(all.map((s) => () => s.close()));
    },
  };
  const checked = primary.writeChecked;
  const sweep = primary.declareGaps;
  if (checked && sweep) {
    tee.writeChecked = (units) =>
      then(checked.call(primary, units), (verdicts) => {
        const rest = verdictUnits(units, verdicts);
        return then(rest.length ? runAll(others.map((s) => () => s.write(rest))) : undefined, () => verdicts);
      });
    tee.declareGaps = (now, grace, overlap) =>
      then(sweep.call(primary, now, grace, overlap), (r) =>
        then(r.events.length ? runAll(others.map((s) => () => s.write([{ gaps: r.events }]))) : undefined, () => r),
      );
  }
  return tee;
}

function then<A, B>(x: MaybePromise<A>, f: (a: A) => MaybePromise<B>): MaybePromise<B> {
  return x && typeof (x as Promise<A>).then === 'function' ? (x as Promise<A>).then(f) : f(x as A);
}

/** Runs steps in order, staying synchronous while every step is. */
function runAll(steps: (() => MaybePromise<void>)[]): MaybePromise<void> {
  for (let i = 0; i < steps.length; i++) {
    const r = steps[i]();
    if (r && typeof (r as Promise<void>).then === 'function')
      return (r as Promise<void>).then(() => runAll(steps.slice(i + 1)));
  }
  return undefined;
}
