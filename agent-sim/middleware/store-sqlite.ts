// SQLite store (better-sqlite3): WAL journal, one transaction per write() call, idempotent
// inserts (ON CONFLICT DO NOTHING) so at-least-once redelivery never stores a batch twice.
// The SQL avoids SQLite-only syntax where a portable form exists (ON CONFLICT ... DO
// NOTHING/UPDATE with `excluded`, CASE instead of scalar MAX), so a PostgreSQL store can reuse
// the statements; only the DDL types (BLOB vs BYTEA) differ.
import { createRequire } from 'node:module';
import type { Store, WriteUnit, DeviceRow, LoadLimits, RejectRow } from './store.js';
import type { BatchRef, DeviceSnapshot, GapEvent, OpenLink } from './chain.js';
import type { Verified } from './verify.js';

export const SCHEMA_VERSION = 1;

/** The schema. Times are ms since the Unix epoch except records.time (Unix seconds, REAL). */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
  address TEXT PRIMARY KEY,          -- 40 lowercase hex digits (the COSE kid)
  public_key TEXT,                   -- 130 hex digits, uncompressed; from the registry or recovered
  label TEXT,
  revoked INTEGER NOT NULL DEFAULT 0,
  first_seen_ms INTEGER,
  last_seen_ms INTEGER,
  last_seq INTEGER
);
CREATE TABLE IF NOT EXISTS batches (
  device TEXT NOT NULL,
  seq INTEGER NOT NULL,
  boot INTEGER NOT NULL,
  pseq INTEGER NOT NULL,             -- explicit even when the wire omitted it (seq - 1)
  payload_hash BLOB NOT NULL,        -- sha256(payload): what the next batch's prev must be
  prev_hash BLOB NOT NULL,
  synced INTEGER NOT NULL,           -- clk bit 0: record times are Unix seconds
  uptime_s INTEGER NOT NULL,         -- device uptime when sealed
  time_base_ms INTEGER,              -- unsynced: wall time relative times were anchored to (receipt)
  received_at_ms INTEGER NOT NULL,
  record_count INTEGER NOT NULL,
  health TEXT NOT NULL,              -- JSON {queue, dropped, oldestS, freeMem, reconnects}
  drop_count INTEGER,
  drop_first INTEGER,
  drop_last INTEGER,
  raw BLOB NOT NULL,                 -- the COSE_Sign1 as received: re-verifiable evidence
  PRIMARY KEY (device, seq)
);
CREATE INDEX IF NOT EXISTS batches_drops ON batches (device, seq) WHERE drop_count IS NOT NULL;
CREATE TABLE IF NOT EXISTS records (
  device TEXT NOT NULL,
  seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  unit TEXT,
  value REAL,
  sum REAL,
  vs TEXT,
  vb INTEGER,
  time REAL NOT NULL,                -- Unix seconds
  time_estimated INTEGER NOT NULL,   -- 1: device clock unsynced, anchored at receipt
  PRIMARY KEY (device, seq, idx)
);
CREATE INDEX IF NOT EXISTS records_series ON records (device, name, time);
CREATE TABLE IF NOT EXISTS rejects (
  at_ms INTEGER NOT NULL,
  reason TEXT NOT NULL,
  device TEXT,
  seq INTEGER,
  topic TEXT,
  detail TEXT NOT NULL,
  raw BLOB
);
CREATE INDEX IF NOT EXISTS rejects_at ON rejects (at_ms);
CREATE TABLE IF NOT EXISTS gaps (
  device TEXT NOT NULL,
  seq INTEGER NOT NULL,              -- the missing predecessor
  next_seq INTEGER NOT NULL,         -- the batch that names it
  explained INTEGER NOT NULL,        -- a signed drop report covers seq
  drop_report_seq INTEGER,
  detected_at_ms INTEGER NOT NULL,
  filled_at_ms INTEGER,              -- the predecessor arrived late and the link verified
  PRIMARY KEY (device, seq)
);
`;

// Minimal typing of the parts of better-sqlite3 used here (no @types package is installed).
interface Statement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): any;
  all(...params: unknown[]): any[];
}
interface Database {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(p: string, o?: { simple: boolean }): unknown;
  transaction<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void;
  close(): void;
}

export interface SqliteStoreOptions {
  /** synchronous pragma: NORMAL (default) survives a crash of this process; FULL also a power cut. */
  synchronous?: 'OFF' | 'NORMAL' | 'FULL';
}

export interface SqliteStore extends Store {
  readonly db: Database;
}

function u8(b: Buffer | Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
  const req = createRequire(import.meta.url);
  const Ctor = req('better-sqlite3') as new (p: string) => Database;
  const db = new Ctor(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = ' + (opts.synchronous || 'NORMAL'));
  db.pragma('foreign_keys = OFF');
  db.exec(SCHEMA_SQL);
  const ver = db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version');
  if (!ver) db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
  else if (Number(ver.value) !== SCHEMA_VERSION)
    throw new Error('sqlite store ' + path + ': schema version ' + ver.value + ', this build expects ' + SCHEMA_VERSION);

  const q = {
    insBatch: db.prepare(
      'INSERT INTO batches (device, seq, boot, pseq, payload_hash, prev_hash, synced, uptime_s, time_base_ms, received_at_ms, ' +
        'record_count, health, drop_count, drop_first, drop_last, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (device, seq) DO NOTHING',
    ),
    insRecord: db.prepare(
      'INSERT INTO records (device, seq, idx, name, unit, value, sum, vs, vb, time, time_estimated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (device, seq, idx) DO NOTHING',
    ),
    seen: db.prepare(
      'INSERT INTO devices (address, public_key, first_seen_ms, last_seen_ms, last_seq) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (address) DO UPDATE SET ' +
        'public_key = COALESCE(devices.public_key, excluded.public_key), ' +
        'first_seen_ms = COALESCE(devices.first_seen_ms, excluded.first_seen_ms), ' +
        'last_seen_ms = CASE WHEN devices.last_seen_ms IS NULL OR excluded.last_seen_ms > devices.last_seen_ms THEN excluded.last_seen_ms ELSE devices.last_seen_ms END, ' +
        'last_seq = CASE WHEN devices.last_seq IS NULL OR excluded.last_seq > devices.last_seq THEN excluded.last_seq ELSE devices.last_seq END',
    ),
    syncDev: db.prepare(
      'INSERT INTO devices (address, public_key, label, revoked) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (address) DO UPDATE SET public_key = excluded.public_key, label = excluded.label, revoked = excluded.revoked',
    ),
    insReject: db.prepare('INSERT INTO rejects (at_ms, reason, device, seq, topic, detail, raw) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    upGap: db.prepare(
      'INSERT INTO gaps (device, seq, next_seq, explained, drop_report_seq, detected_at_ms, filled_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (device, seq) DO UPDATE SET next_seq = excluded.next_seq, explained = excluded.explained, ' +
        'drop_report_seq = excluded.drop_report_seq, filled_at_ms = excluded.filled_at_ms',
    ),
    range: db.prepare('SELECT MAX(seq) AS mx, MIN(seq) AS mn FROM batches WHERE device = ?'),
    first: db.prepare('SELECT seq FROM batches WHERE device = ? AND pseq = 0 ORDER BY seq LIMIT 1'),
    recent: db.prepare('SELECT seq, pseq, payload_hash, prev_hash FROM batches WHERE device = ? ORDER BY seq DESC LIMIT ?'),
    // Batches in the recent window whose predecessor is not stored, with their gap row if any.
    openRecent: db.prepare(
      'SELECT b.seq, b.pseq, b.prev_hash, b.received_at_ms, g.detected_at_ms, g.explained, g.drop_report_seq ' +
        'FROM batches b LEFT JOIN batches a ON a.device = b.device AND a.seq = b.pseq ' +
        'LEFT JOIN gaps g ON g.device = b.device AND g.seq = b.pseq ' +
        'WHERE b.device = ? AND b.seq >= ? AND b.pseq > 0 AND a.seq IS NULL',
    ),
    // Older gaps still unfilled: their successor may be outside the recent window.
    openGaps: db.prepare(
      'SELECT g.next_seq, g.seq, b.prev_hash, b.received_at_ms, g.detected_at_ms, g.explained, g.drop_report_seq ' +
        'FROM gaps g JOIN batches b ON b.device = g.device AND b.seq = g.next_seq ' +
        'WHERE g.device = ? AND g.filled_at_ms IS NULL',
    ),
    drops: db.prepare(
      'SELECT seq, drop_count, drop_first, drop_last FROM batches WHERE device = ? AND drop_count IS NOT NULL ORDER BY seq DESC LIMIT ?',
    ),
    lookup: db.prepare('SELECT seq, pseq, payload_hash, prev_hash FROM batches WHERE device = ? AND seq = ?'),
  };

  function putBatch(v: Verified): void {
    const b = v.batch;
    const r = q.insBatch.run(
      v.kid,
      b.seq,
      b.boot,
      b.pseq,
      v.payloadHash,
      b.prev,
      b.synced ? 1 : 0,
      b.up,
      v.timeBaseMs === undefined ? null : Math.round(v.timeBaseMs),
      Math.round(v.receivedAt),
      v.records.length,
      JSON.stringify(b.health),
      b.drop ? b.drop.count : null,
      b.drop ? b.drop.firstSeq : null,
      b.drop ? b.drop.lastSeq : null,
      v.message,
    );
    if (r.changes === 0) return; // already stored: at-least-once redelivery
    for (const x of v.records)
      q.insRecord.run(
        v.kid,
        b.seq,
        x.idx,
        x.name,
        x.unit === undefined ? null : x.unit,
        x.value === undefined ? null : x.value,
        x.sum === undefined ? null : x.sum,
        x.vs === undefined ? null : x.vs,
        x.vb === undefined ? null : x.vb ? 1 : 0,
        x.time,
        x.timeEstimated ? 1 : 0,
      );
  }

  function putReject(r: RejectRow): void {
    q.insReject.run(r.at, r.reason, r.device ?? null, r.seq ?? null, r.topic ?? null, r.detail, r.raw ?? null);
  }

  function putGap(g: GapEvent): void {
    q.upGap.run(g.device, g.seq, g.nextSeq, g.explained ? 1 : 0, g.dropReportSeq ?? null, g.detectedAt, g.filledAt ?? null);
  }

  const writeTx = db.transaction((units: WriteUnit[]) => {
    // One device row update per device per transaction, with the newest values.
    const seen = new Map<string, { pub: string; first: number; last: number; seq: number }>();
    for (const u of units) {
      if (u.batch) {
        const v = u.batch;
        putBatch(v);
        const s = seen.get(v.kid);
        if (!s) seen.set(v.kid, { pub: Buffer.from(v.publicKey).toString('hex'), first: v.receivedAt, last: v.receivedAt, seq: v.batch.seq });
        else {
          if (v.receivedAt > s.last) s.last = v.receivedAt;
          if (v.batch.seq > s.seq) s.seq = v.batch.seq;
        }
      }
      if (u.rejects) for (const r of u.rejects) putReject(r);
      if (u.gaps) for (const g of u.gaps) putGap(g);
    }
    for (const [addr, s] of seen) q.seen.run(addr, s.pub, Math.round(s.first), Math.round(s.last), s.seq);
  });

  const syncTx = db.transaction((devs: DeviceRow[]) => {
    for (const d of devs) q.syncDev.run(d.address, d.publicKey ?? null, d.label ?? null, d.revoked ? 1 : 0);
  });

  function ref(row: any): BatchRef {
    return { seq: row.seq, pseq: row.pseq, payloadHash: u8(row.payload_hash), prev: u8(row.prev_hash) };
  }

  function link(seq: number, pseq: number, prev: Buffer, since: number, row: any): OpenLink {
    const l: OpenLink = { seq: seq, pseq: pseq, prev: u8(prev), since: since };
    if (row.detected_at_ms !== null && row.detected_at_ms !== undefined) {
      l.gap = { detectedAt: row.detected_at_ms, explained: row.explained === 1 };
      if (row.drop_report_seq !== null) l.gap.dropReportSeq = row.drop_report_seq;
    }
    return l;
  }

  let closed = false;
  return {
    kind: 'sqlite',
    db,
    loadDevice(device: string, limits: LoadLimits): DeviceSnapshot | undefined {
      const r = q.range.get(device);
      if (!r || r.mx === null) return undefined;
      const recent = q.recent.all(device, Math.max(1, limits.recent)).map(ref);
      const floor = recent.length ? recent[recent.length - 1].seq : 0;
      const open = new Map<number, OpenLink>();
      for (const row of q.openRecent.all(device, floor)) open.set(row.pseq, link(row.seq, row.pseq, row.prev_hash, row.received_at_ms, row));
      for (const row of q.openGaps.all(device)) if (!open.has(row.seq)) open.set(row.seq, link(row.next_seq, row.seq, row.prev_hash, row.received_at_ms, row));
      const first = q.first.get(device);
      return {
        maxSeq: r.mx,
        minSeq: r.mn,
        firstSeq: first ? first.seq : 0,
        recent: recent,
        openLinks: [...open.values()],
        drops: q.drops
          .all(device, Math.max(0, limits.drops))
          .reverse()
          .map((d: any) => ({ reportSeq: d.seq, count: d.drop_count, firstSeq: d.drop_first, lastSeq: d.drop_last })),
      };
    },
    lookupBatch(device: string, seq: number): BatchRef | undefined {
      const row = q.lookup.get(device, seq);
      return row ? ref(row) : undefined;
    },
    write(units: WriteUnit[]): void {
      if (units.length) writeTx(units);
    },
    syncDevices(devs: DeviceRow[]): void {
      if (devs.length) syncTx(devs);
    },
    close(): void {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
