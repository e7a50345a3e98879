// The storage interface of the ingest. SQLite (store-sqlite.ts) and JSON lines (store-jsonl.ts)
// implement it; a PostgreSQL store (issue 6) can too: results may be Promises, and every write
// is one call that the store makes atomic (one transaction).
import type { Verified, RejectReason } from './verify.js';
import type { BatchRef, DeviceSnapshot, GapEvent } from './chain.js';

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
}

/** Reads from the first store, writes to all (e.g. SQLite plus JSON lines on stdout). */
export function teeStore(primary: Store, ...others: Store[]): Store {
  const all = [primary, ...others];
  return {
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
