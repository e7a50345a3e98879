// JSON lines store: one line per accepted batch (records inline), reject and gap event, for
// piping into other tools. It keeps no state, so used alone the chain tracker only knows what
// it saw since start (duplicates of batches older than its memory window are not recognised).
import type { Writable } from 'node:stream';
import type { Store, WriteUnit } from './store.js';
import { hex } from './verify.js';

export interface JsonlStoreOptions {
  /** Where lines go; default process.stdout. */
  out?: Writable;
  /** Include the raw COSE_Sign1 as hex in batch lines (default false). */
  raw?: boolean;
}

export function jsonlStore(opts: JsonlStoreOptions = {}): Store {
  const out = opts.out || process.stdout;
  return {
    kind: 'jsonl',
    loadDevice: () => undefined,
    lookupBatch: () => undefined,
    write(units: WriteUnit[]) {
      let s = '';
      for (const u of units) {
        if (u.batch) {
          const v = u.batch;
          const b = v.batch;
          const line: Record<string, unknown> = {
            type: 'batch',
            device: v.kid,
            seq: b.seq,
            boot: b.boot,
            pseq: b.pseq,
            payloadHash: hex(v.payloadHash),
            prev: hex(b.prev),
            synced: b.synced,
            uptimeS: b.up,
            timeBaseMs: v.timeBaseMs,
            receivedAt: v.receivedAt,
            health: b.health,
            drop: b.drop,
            records: v.records,
          };
          if (opts.raw) line.raw = hex(v.message);
          s += JSON.stringify(line) + '\n';
        }
        if (u.rejects)
          for (const r of u.rejects)
            s += JSON.stringify({ type: 'reject', at: r.at, reason: r.reason, device: r.device, seq: r.seq, topic: r.topic, detail: r.detail }) + '\n';
        if (u.gaps) for (const g of u.gaps) s += JSON.stringify({ type: 'gap', ...g }) + '\n';
      }
      if (s) out.write(s);
    },
    syncDevices: () => undefined,
    close: () => undefined,
  };
}
