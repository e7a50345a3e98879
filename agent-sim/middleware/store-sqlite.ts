// SQLite store (better-sqlite3): WAL journal, one transaction per write() call, idempotent
// inserts (ON CONFLICT DO NOTHING) so at-least-once redelivery never stores a batch twice.
// The SQL avoids SQLite-only syntax where a portable form exists (ON CONFLICT ... DO
// NOTHING/UPDATE with `excluded`, CASE instead of scalar MAX), so a PostgreSQL store can reuse
// the statements; only the DDL types (BLOB vs BYTEA) differ.
//
// Several processes (database mode, chain-db.ts) may share one file: writes then run in
// BEGIN IMMEDIATE transactions, which serialise the writers, and a writer waits up to
// busyTimeoutMs for the lock. One machine only (WAL needs shared memory; never on a network
// file system); PostgreSQL is the path for verifiers on several hosts.
import { createRequire } from 'node:module';
import { signedReject, type Store, type WriteUnit, type DeviceRow, type LoadLimits, type RejectRow, type GapSweep } from './store.js';
import type { BatchRef, DeviceSnapshot, GapEvent, OpenLink } from './chain.js';
import { decide, type ChainView, type StoredGap, type Verdict } from './chain-db.js';
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
CREATE INDEX IF NOT EXISTS batches_pseq ON batches (device, pseq);     -- successors, forks, first batch
CREATE INDEX IF NOT EXISTS batches_received ON batches (received_at_ms); -- the gap sweep's window
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

/**
 * The statements of database mode (chain-db.ts), with `?` parameters in order; the PostgreSQL
 * store numbers them. Casts name the parameter types PostgreSQL cannot infer.
 */
export const CHAIN_SQL = {
  successor: 'SELECT seq, pseq, payload_hash, prev_hash FROM batches WHERE device = ? AND pseq = ? LIMIT 1',
  minSeq: 'SELECT seq FROM batches WHERE device = ? ORDER BY seq LIMIT 1',
  firstSeq: 'SELECT seq FROM batches WHERE device = ? AND pseq = 0 ORDER BY seq LIMIT 1',
  openGap: 'SELECT seq, next_seq, explained, drop_report_seq, detected_at_ms FROM gaps WHERE device = ? AND seq = ? AND filled_at_ms IS NULL',
  /** Step 6, gaps already declared: (report seq, device, first, last). */
  dropExplain:
    'UPDATE gaps SET explained = 1, drop_report_seq = ? WHERE device = ? AND seq >= ? AND seq <= ? AND explained = 0 AND filled_at_ms IS NULL ' +
    'RETURNING seq, next_seq, detected_at_ms',
  /** Step 6, open links not yet declared: (report seq, now, device, first, last). */
  dropDeclare:
    'INSERT INTO gaps (device, seq, next_seq, explained, drop_report_seq, detected_at_ms, filled_at_ms) ' +
    'SELECT b.device, b.pseq, b.seq, 1, CAST(? AS BIGINT), CAST(? AS BIGINT), NULL FROM batches b ' +
    'WHERE b.device = ? AND b.pseq > 0 AND b.pseq >= ? AND b.pseq <= ? ' +
    'AND NOT EXISTS (SELECT 1 FROM batches a WHERE a.device = b.device AND a.seq = b.pseq) ' +
    'AND NOT EXISTS (SELECT 1 FROM gaps g WHERE g.device = b.device AND g.seq = b.pseq) ' +
    'ON CONFLICT (device, seq) DO NOTHING RETURNING seq, next_seq',
  /** Overdue open links: (now, from, to) then `extra`'s parameters. */
  sweep: (extra: string) =>
    'INSERT INTO gaps (device, seq, next_seq, explained, drop_report_seq, detected_at_ms, filled_at_ms) ' +
    'SELECT x.device, x.pseq, x.seq, CASE WHEN x.d IS NULL THEN 0 ELSE 1 END, x.d, CAST(? AS BIGINT), NULL FROM (' +
    'SELECT b.device, b.pseq, b.seq, (SELECT r.seq FROM batches r WHERE r.device = b.device AND r.drop_count IS NOT NULL ' +
    'AND r.drop_first <= b.pseq AND r.drop_last >= b.pseq ORDER BY r.seq DESC LIMIT 1) AS d ' +
    'FROM batches b WHERE b.received_at_ms > ? AND b.received_at_ms <= ? AND b.pseq > 0' + extra + ' ' +
    'AND NOT EXISTS (SELECT 1 FROM batches a WHERE a.device = b.device AND a.seq = b.pseq) ' +
    'AND NOT EXISTS (SELECT 1 FROM gaps g WHERE g.device = b.device AND g.seq = b.pseq)' +
    ') x WHERE 1 = 1 ON CONFLICT (device, seq) DO NOTHING RETURNING device, seq, next_seq, explained, drop_report_seq',
  /** Devices with overdue open links: (from, to). */
  sweepDevices:
    'SELECT DISTINCT b.device FROM batches b WHERE b.received_at_ms > ? AND b.received_at_ms <= ? AND b.pseq > 0 ' +
    'AND NOT EXISTS (SELECT 1 FROM batches a WHERE a.device = b.device AND a.seq = b.pseq) ' +
    'AND NOT EXISTS (SELECT 1 FROM gaps g WHERE g.device = b.device AND g.seq = b.pseq)',
  /** Open links inside the grace period: (to). */
  pending:
    'SELECT COUNT(*) AS n FROM batches b WHERE b.received_at_ms > ? AND b.pseq > 0 ' +
    'AND NOT EXISTS (SELECT 1 FROM batches a WHERE a.device = b.device AND a.seq = b.pseq) ' +
    'AND NOT EXISTS (SELECT 1 FROM gaps g WHERE g.device = b.device AND g.seq = b.pseq)',
  gapCounts:
    'SELECT SUM(CASE WHEN filled_at_ms IS NULL AND explained = 1 THEN 1 ELSE 0 END) AS ex, ' +
    'SUM(CASE WHEN filled_at_ms IS NULL AND explained = 0 THEN 1 ELSE 0 END) AS unex, ' +
    'SUM(CASE WHEN filled_at_ms IS NOT NULL THEN 1 ELSE 0 END) AS filled FROM gaps',
  getMeta: 'SELECT value FROM meta WHERE key = ?',
  /** Raises a numeric meta value, never lowers it: (key, value). */
  raiseMeta:
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ' +
    'CASE WHEN CAST(meta.value AS BIGINT) < CAST(excluded.value AS BIGINT) THEN excluded.value ELSE meta.value END',
};

/** meta key of the gap sweep's watermark (ms): links received up to it were swept. */
export const SWEPT_TO_KEY = 'gaps_swept_to_ms';

/** Gap events from the rows step 6 returned. */
export function dropEvents(device: string, reportSeq: number, at: number, explained: any[], declared: any[]): GapEvent[] {
  const out: GapEvent[] = [];
  for (const r of explained)
    out.push({ kind: 'explained', device, seq: Number(r.seq), nextSeq: Number(r.next_seq), explained: true, dropReportSeq: reportSeq, detectedAt: Number(r.detected_at_ms) });
  for (const r of declared)
    out.push({ kind: 'declared', device, seq: Number(r.seq), nextSeq: Number(r.next_seq), explained: true, dropReportSeq: reportSeq, detectedAt: at });
  return out;
}

/** Gap events from the rows the sweep inserted. */
export function sweepEvents(rows: any[], now: number): GapEvent[] {
  return rows.map((r) => {
    const e: GapEvent = { kind: 'declared', device: r.device, seq: Number(r.seq), nextSeq: Number(r.next_seq), explained: Number(r.explained) === 1, detectedAt: now };
    if (r.drop_report_seq !== null && r.drop_report_seq !== undefined) e.dropReportSeq = Number(r.drop_report_seq);
    return e;
  });
}

export function storedGap(row: any): StoredGap {
  const g: StoredGap = { seq: Number(row.seq), nextSeq: Number(row.next_seq), explained: Number(row.explained) === 1, detectedAt: Number(row.detected_at_ms) };
  if (row.drop_report_seq !== null && row.drop_report_seq !== undefined) g.dropReportSeq = Number(row.drop_report_seq);
  return g;
}

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
  transaction<A extends unknown[], R>(fn: (...a: A) => R): ((...a: A) => R) & { immediate(...a: A): R };
  close(): void;
}

export const SQLITE_DEFAULTS = {
  /**
   * How long a write waits for another process's write transaction (busy_timeout). Only one
   * writer at a time: with several processes a transaction waits for the others' commits.
   */
  busyTimeoutMs: 5000,
};

export interface SqliteStoreOptions {
  /** synchronous pragma: NORMAL (default) survives a crash of this process; FULL also a power cut. */
  synchronous?: 'OFF' | 'NORMAL' | 'FULL';
  busyTimeoutMs?: number;
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
  const busy = opts.busyTimeoutMs ?? SQLITE_DEFAULTS.busyTimeoutMs;
  if (!(busy >= 0) || Math.floor(busy) !== busy) throw new RangeError('sqlite store: "busyTimeoutMs" expected an integer >= 0, got ' + busy);
  // Before anything that writes: a second process opening the file waits instead of failing.
  db.pragma('busy_timeout = ' + busy);
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
    successor: db.prepare(CHAIN_SQL.successor),
    minSeq: db.prepare(CHAIN_SQL.minSeq),
    firstSeq: db.prepare(CHAIN_SQL.firstSeq),
    openGap: db.prepare(CHAIN_SQL.openGap),
    dropExplain: db.prepare(CHAIN_SQL.dropExplain),
    dropDeclare: db.prepare(CHAIN_SQL.dropDeclare),
    sweep: db.prepare(CHAIN_SQL.sweep('')),
    pending: db.prepare(CHAIN_SQL.pending),
    gapCounts: db.prepare(CHAIN_SQL.gapCounts),
    getMeta: db.prepare(CHAIN_SQL.getMeta),
    raiseMeta: db.prepare(CHAIN_SQL.raiseMeta),
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

  // One device row update per device per transaction, with the newest values.
  type Seen = Map<string, { pub: string; first: number; last: number; seq: number }>;
  function noteSeen(seen: Seen, v: Verified): void {
    const s = seen.get(v.kid);
    if (!s) seen.set(v.kid, { pub: Buffer.from(v.publicKey).toString('hex'), first: v.receivedAt, last: v.receivedAt, seq: v.batch.seq });
    else {
      if (v.receivedAt > s.last) s.last = v.receivedAt;
      if (v.batch.seq > s.seq) s.seq = v.batch.seq;
    }
  }
  function putSeen(seen: Seen): void {
    for (const [addr, s] of seen) q.seen.run(addr, s.pub, Math.round(s.first), Math.round(s.last), s.seq);
  }

  const writeTx = db.transaction((units: WriteUnit[]) => {
    const seen: Seen = new Map();
    for (const u of units) {
      if (u.batch) {
        putBatch(u.batch);
        noteSeen(seen, u.batch);
      }
      if (u.rejects) for (const r of u.rejects) putReject(r);
      if (u.gaps) for (const g of u.gaps) putGap(g);
    }
    putSeen(seen);
  });

  function view(device: string): ChainView {
    return {
      batch: (seq) => {
        const r = q.lookup.get(device, seq);
        return r ? ref(r) : undefined;
      },
      successor: (pseq) => {
        const r = q.successor.get(device, pseq);
        return r ? ref(r) : undefined;
      },
      firstSeq: () => {
        const r = q.firstSeq.get(device);
        return r ? r.seq : 0;
      },
      minSeq: () => {
        const r = q.minSeq.get(device);
        return r ? r.seq : 0;
      },
      openGap: (seq) => {
        const r = q.openGap.get(device, seq);
        return r ? storedGap(r) : undefined;
      },
    };
  }

  // Database mode: each batch decided against the rows as they are inside this transaction,
  // which BEGIN IMMEDIATE makes the only writer (chain-db.ts).
  const checkedTx = db.transaction((units: WriteUnit[]): (Verdict | undefined)[] => {
    const seen: Seen = new Map();
    const out: (Verdict | undefined)[] = [];
    for (const u of units) {
      let verdict: Verdict | undefined;
      if (u.batch) {
        const v = u.batch;
        const b = v.batch;
        verdict = decide(view(v.kid), v.kid, { seq: b.seq, pseq: b.pseq, prev: b.prev, payloadHash: v.payloadHash, drop: b.drop, receivedAt: v.receivedAt });
        if (verdict.status === 'accepted') {
          putBatch(v);
          noteSeen(seen, v);
          for (const e of verdict.events) putGap(e);
          if (b.drop) {
            const ex = q.dropExplain.all(b.seq, v.kid, b.drop.firstSeq, b.drop.lastSeq);
            const de = q.dropDeclare.all(b.seq, Math.round(v.receivedAt), v.kid, b.drop.firstSeq, b.drop.lastSeq);
            for (const e of dropEvents(v.kid, b.seq, Math.round(v.receivedAt), ex, de)) verdict.events.push(e);
          }
        } else if (verdict.status !== 'duplicate') putReject(signedReject(v, verdict.status, verdict.detail));
      }
      if (u.rejects) for (const r of u.rejects) putReject(r);
      if (u.gaps) for (const g of u.gaps) putGap(g);
      out.push(verdict);
    }
    putSeen(seen);
    return out;
  });

  const sweepTx = db.transaction((now: number, grace: number, overlap: number): GapSweep => {
    const mark = q.getMeta.get(SWEPT_TO_KEY);
    const to = Math.round(now - grace);
    const from = mark ? Number(mark.value) - overlap : -1;
    let events: GapEvent[] = [];
    if (to > from) {
      events = sweepEvents(q.sweep.all(Math.round(now), from, to), Math.round(now));
      q.raiseMeta.run(SWEPT_TO_KEY, String(to));
    }
    const c = q.gapCounts.get();
    return {
      events,
      open: { explained: c.ex || 0, unexplained: c.unex || 0 },
      filledLate: c.filled || 0,
      pending: q.pending.get(to).n,
    };
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
    writeChecked(units: WriteUnit[]): (Verdict | undefined)[] {
      return units.length ? checkedTx.immediate(units) : [];
    },
    declareGaps(now: number, grace: number, overlap: number): GapSweep {
      return sweepTx.immediate(now, grace, overlap);
    },
    close(): void {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
