// PostgreSQL store (pg): the same schema as SQLite (SCHEMA_SQL with BYTEA for BLOB, DOUBLE
// PRECISION for REAL and BIGINT for INTEGER), idempotent inserts (ON CONFLICT DO NOTHING), one
// transaction per write() call, a bounded connection pool. A group of units costs a fixed number
// of round trips however many batches it holds: rows go in as arrays through unnest().
//
// Database mode (chain-db.ts): several verifier processes, on one host or many, write the same
// database; writeChecked() locks the devices of its units with transaction-level advisory locks
// (sorted, so two transactions never wait on each other in a cycle) before reading the rows that
// decide, and declareGaps() re-checks its candidates under the same locks.
import pg from 'pg';
import type { Store, WriteUnit, DeviceRow, LoadLimits, RejectRow, GapSweep } from './store.js';
import { signedReject } from './store.js';
import type { BatchRef, DeviceSnapshot, GapEvent, OpenLink } from './chain.js';
import { decide, deviceLockKey, PrefetchedView, type Verdict } from './chain-db.js';
import type { Verified } from './verify.js';
import { SCHEMA_SQL, SCHEMA_VERSION, CHAIN_SQL, SWEPT_TO_KEY, dropEvents, sweepEvents, storedGap } from './store-sqlite.js';

export const POSTGRES_DEFAULTS = {
  /**
   * Connections one process holds at most. The ingest runs one transaction at a time, plus the
   * registry sync and the gap sweep: a few are plenty, and PostgreSQL's max_connections (100 by
   * default) is shared by every verifier process.
   */
  maxConnections: 4,
  /** An idle connection is closed after this long. */
  idleTimeoutMs: 10000,
  /** Waiting for a connection (new or from the pool) fails after this long. */
  connectTimeoutMs: 10000,
  /** A transaction PostgreSQL aborted as a deadlock or serialisation failure is retried this often. */
  maxRetries: 3,
  /** First key of the two-key advisory locks: ASCII "DPIN", so other applications' locks do not collide. */
  lockNamespace: 0x4450494e,
};

export interface PostgresStoreOptions {
  maxConnections?: number;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  maxRetries?: number;
  lockNamespace?: number;
  /** Errors of idle pooled connections (the server went away); default: stderr. */
  log?: (msg: string) => void;
}

export interface PostgresStore extends Store {
  readonly pool: pg.Pool;
}

/** SCHEMA_SQL in PostgreSQL types; statements and names unchanged. */
export const PG_SCHEMA_SQL = SCHEMA_SQL.replace(/\bBLOB\b/g, 'BYTEA').replace(/\bREAL\b/g, 'DOUBLE PRECISION').replace(/\bINTEGER\b/g, 'BIGINT');

/** `?` placeholders (in order) to PostgreSQL's $1, $2, ... */
export function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => '$' + ++i);
}

const SQL = {
  // Batches, their records (only for batches this statement inserted: a redelivered batch adds
  // nothing) and the device rows, in one statement: one round trip for a whole group.
  insBatches:
    'WITH ins AS (INSERT INTO batches (device, seq, boot, pseq, payload_hash, prev_hash, synced, uptime_s, time_base_ms, received_at_ms, ' +
    'record_count, health, drop_count, drop_first, drop_last, raw) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], ' +
    '$4::bigint[], $5::bytea[], $6::bytea[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], ' +
    '$13::bigint[], $14::bigint[], $15::bigint[], $16::bytea[]) ON CONFLICT (device, seq) DO NOTHING RETURNING device, seq), ' +
    'rec AS (INSERT INTO records (device, seq, idx, name, unit, value, sum, vs, vb, time, time_estimated) ' +
    'SELECT r.* FROM unnest($17::text[], $18::bigint[], $19::bigint[], $20::text[], $21::text[], $22::float8[], $23::float8[], ' +
    '$24::text[], $25::bigint[], $26::float8[], $27::bigint[]) AS r(device, seq, idx, name, unit, value, sum, vs, vb, time, time_estimated) ' +
    'JOIN ins ON ins.device = r.device AND ins.seq = r.seq ON CONFLICT (device, seq, idx) DO NOTHING), ' +
    'dev AS (INSERT INTO devices (address, public_key, first_seen_ms, last_seen_ms, last_seq) ' +
    'SELECT * FROM unnest($28::text[], $29::text[], $30::bigint[], $31::bigint[], $32::bigint[]) ' +
    'ON CONFLICT (address) DO UPDATE SET ' +
    'public_key = COALESCE(devices.public_key, excluded.public_key), ' +
    'first_seen_ms = COALESCE(devices.first_seen_ms, excluded.first_seen_ms), ' +
    'last_seen_ms = CASE WHEN devices.last_seen_ms IS NULL OR excluded.last_seen_ms > devices.last_seen_ms THEN excluded.last_seen_ms ELSE devices.last_seen_ms END, ' +
    'last_seq = CASE WHEN devices.last_seq IS NULL OR excluded.last_seq > devices.last_seq THEN excluded.last_seq ELSE devices.last_seq END) ' +
    'SELECT device, seq FROM ins',
  syncDev:
    'INSERT INTO devices (address, public_key, label, revoked) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) ' +
    'ON CONFLICT (address) DO UPDATE SET public_key = excluded.public_key, label = excluded.label, revoked = excluded.revoked',
  insRejects:
    'INSERT INTO rejects (at_ms, reason, device, seq, topic, detail, raw) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], ' +
    '$4::bigint[], $5::text[], $6::text[], $7::bytea[])',
  upGap:
    'INSERT INTO gaps (device, seq, next_seq, explained, drop_report_seq, detected_at_ms, filled_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ' +
    'ON CONFLICT (device, seq) DO UPDATE SET next_seq = excluded.next_seq, explained = excluded.explained, ' +
    'drop_report_seq = excluded.drop_report_seq, filled_at_ms = excluded.filled_at_ms',
  // What a group's decisions read, in one statement. For each (device, s) asked: the batch at seq
  // s (k 0), the batch naming s as pseq (k 1; s = 0 finds the device's first batch), the unfilled
  // gap at s (k 3); and each device's lowest seq (k 2).
  around:
    'SELECT 0 AS k, b.device, b.seq, b.pseq, b.payload_hash, b.prev_hash, NULL::bigint AS next_seq, NULL::bigint AS explained, ' +
    'NULL::bigint AS drop_report_seq, NULL::bigint AS detected_at_ms FROM unnest($1::text[], $2::bigint[]) AS q(device, s) ' +
    'JOIN batches b ON b.device = q.device AND b.seq = q.s UNION ALL ' +
    'SELECT 1, b.device, b.seq, b.pseq, b.payload_hash, b.prev_hash, NULL, NULL, NULL, NULL FROM unnest($1::text[], $2::bigint[]) AS q(device, s) ' +
    'JOIN batches b ON b.device = q.device AND b.pseq = q.s UNION ALL ' +
    'SELECT 2, d, (SELECT seq FROM batches WHERE device = d ORDER BY seq LIMIT 1), NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM unnest($3::text[]) AS d UNION ALL ' +
    'SELECT 3, g.device, g.seq, NULL, NULL, NULL, g.next_seq, g.explained, g.drop_report_seq, g.detected_at_ms FROM unnest($1::text[], $2::bigint[]) AS q(device, s) ' +
    'JOIN gaps g ON g.device = q.device AND g.seq = q.s WHERE g.filled_at_ms IS NULL',
  // loadDevice (memory mode), as in store-sqlite.ts.
  range: 'SELECT MAX(seq) AS mx, MIN(seq) AS mn FROM batches WHERE device = $1',
  first: 'SELECT seq FROM batches WHERE device = $1 AND pseq = 0 ORDER BY seq LIMIT 1',
  recent: 'SELECT seq, pseq, payload_hash, prev_hash FROM batches WHERE device = $1 ORDER BY seq DESC LIMIT $2',
  openRecent:
    'SELECT b.seq, b.pseq, b.prev_hash, b.received_at_ms, g.detected_at_ms, g.explained, g.drop_report_seq ' +
    'FROM batches b LEFT JOIN batches a ON a.device = b.device AND a.seq = b.pseq ' +
    'LEFT JOIN gaps g ON g.device = b.device AND g.seq = b.pseq ' +
    'WHERE b.device = $1 AND b.seq >= $2 AND b.pseq > 0 AND a.seq IS NULL',
  openGapsOf:
    'SELECT g.next_seq, g.seq, b.prev_hash, b.received_at_ms, g.detected_at_ms, g.explained, g.drop_report_seq ' +
    'FROM gaps g JOIN batches b ON b.device = g.device AND b.seq = g.next_seq ' +
    'WHERE g.device = $1 AND g.filled_at_ms IS NULL',
  drops: 'SELECT seq, drop_count, drop_first, drop_last FROM batches WHERE device = $1 AND drop_count IS NOT NULL ORDER BY seq DESC LIMIT $2',
  lookup: 'SELECT seq, pseq, payload_hash, prev_hash FROM batches WHERE device = $1 AND seq = $2',
  dropExplain: numbered(CHAIN_SQL.dropExplain),
  dropDeclare: numbered(CHAIN_SQL.dropDeclare),
  sweep: numbered(CHAIN_SQL.sweep(' AND b.device = ANY(CAST(? AS TEXT[]))')),
  sweepDevices: numbered(CHAIN_SQL.sweepDevices),
  pending: numbered(CHAIN_SQL.pending),
  gapCounts: CHAIN_SQL.gapCounts,
  getMeta: numbered(CHAIN_SQL.getMeta),
  raiseMeta: numbered(CHAIN_SQL.raiseMeta),
};

/** SQLSTATEs after which the whole transaction is retried: serialization_failure, deadlock_detected. */
const RETRY_CODES = ['40001', '40P01'];

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function ref(row: any): BatchRef {
  return { seq: row.seq, pseq: row.pseq, payloadHash: u8(row.payload_hash), prev: u8(row.prev_hash) };
}

function checkInt(name: string, v: number, min: number): number {
  if (typeof v !== 'number' || !(v >= min) || Math.floor(v) !== v) throw new RangeError('postgres store: "' + name + '" expected an integer >= ' + min + ', got ' + v);
  return v;
}

/** Connects, creates the schema if missing (under a lock: several processes may start at once), checks its version. */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const o = { ...POSTGRES_DEFAULTS };
  for (const k of Object.keys(POSTGRES_DEFAULTS) as (keyof typeof POSTGRES_DEFAULTS)[]) if (opts[k] !== undefined) o[k] = opts[k] as number;
  checkInt('maxConnections', o.maxConnections, 1);
  checkInt('idleTimeoutMs', o.idleTimeoutMs, 0);
  checkInt('connectTimeoutMs', o.connectTimeoutMs, 0);
  checkInt('maxRetries', o.maxRetries, 0);
  checkInt('lockNamespace', o.lockNamespace, -0x80000000);
  const log = opts.log || ((m: string) => process.stderr.write('[postgres] ' + m + '\n'));
  const pool = new pg.Pool({
    connectionString: url,
    max: o.maxConnections,
    idleTimeoutMillis: o.idleTimeoutMs,
    connectionTimeoutMillis: o.connectTimeoutMs,
    // BIGINT columns (times in ms, seq) come back as numbers: every value is below 2^53.
    types: { getTypeParser: ((oid: number, format?: any) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format))) as any },
  });
  pool.on('error', (e) => log('idle connection: ' + e.message));
  const where = url.replace(/\/\/[^@/]*@/, '//');

  /** A transaction; `prologue` (literal SQL, no parameters) goes out with BEGIN in one round trip. */
  async function tx<T>(fn: (c: pg.PoolClient) => Promise<T>, prologue?: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const c = await pool.connect();
      try {
        await c.query(prologue ? 'BEGIN; ' + prologue : 'BEGIN');
        const r = await fn(c);
        await c.query('COMMIT');
        c.release();
        return r;
      } catch (e) {
        try {
          await c.query('ROLLBACK');
          c.release();
        } catch {
          c.release(true); // the connection is broken: do not return it to the pool
        }
        const code = (e as { code?: string }).code;
        if (attempt >= o.maxRetries || !code || !RETRY_CODES.includes(code)) throw e;
      }
    }
  }

  try {
    await tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1::int, 0)', [o.lockNamespace]);
      await c.query(PG_SCHEMA_SQL);
      const ver = await c.query('SELECT value FROM meta WHERE key = $1', ['schema_version']);
      if (!ver.rows.length) await c.query('INSERT INTO meta (key, value) VALUES ($1, $2)', ['schema_version', String(SCHEMA_VERSION)]);
      else if (Number(ver.rows[0].value) !== SCHEMA_VERSION)
        throw new Error('postgres store ' + where + ': schema version ' + ver.rows[0].value + ', this build expects ' + SCHEMA_VERSION);
    });
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new Error('postgres store ' + where + ': ' + (e as Error).message);
  }

  // ---- writes shared by both modes ------------------------------------------------------------

  /** Inserts the batches, the records of those not stored yet, and the device rows. */
  async function putBatches(c: pg.PoolClient, vs: Verified[]): Promise<void> {
    if (!vs.length) return;
    const cols: unknown[][] = [[], [], [], [], [], [], [], [], [], [], [], [], [], [], [], []];
    for (const v of vs) {
      const b = v.batch;
      const row = [
        v.kid, b.seq, b.boot, b.pseq, v.payloadHash, b.prev, b.synced ? 1 : 0, b.up,
        v.timeBaseMs === undefined ? null : Math.round(v.timeBaseMs), Math.round(v.receivedAt), v.records.length,
        JSON.stringify(b.health), b.drop ? b.drop.count : null, b.drop ? b.drop.firstSeq : null, b.drop ? b.drop.lastSeq : null, v.message,
      ];
      for (let i = 0; i < row.length; i++) cols[i].push(row[i]);
    }
    const rc: unknown[][] = [[], [], [], [], [], [], [], [], [], [], []];
    for (const v of vs) {
      for (const x of v.records) {
        const row = [
          v.kid, v.batch.seq, x.idx, x.name, x.unit ?? null, x.value ?? null, x.sum ?? null, x.vs ?? null,
          x.vb === undefined ? null : x.vb ? 1 : 0, x.time, x.timeEstimated ? 1 : 0,
        ];
        for (let i = 0; i < row.length; i++) rc[i].push(row[i]);
      }
    }
    // One device row per device, newest values, in address order (row locks in a fixed order).
    const seen = new Map<string, { pub: string; first: number; last: number; seq: number }>();
    for (const v of vs) {
      const s = seen.get(v.kid);
      if (!s) seen.set(v.kid, { pub: Buffer.from(v.publicKey).toString('hex'), first: v.receivedAt, last: v.receivedAt, seq: v.batch.seq });
      else {
        if (v.receivedAt > s.last) s.last = v.receivedAt;
        if (v.batch.seq > s.seq) s.seq = v.batch.seq;
      }
    }
    const addrs = [...seen.keys()].sort();
    await c.query(SQL.insBatches, [
      ...cols,
      ...rc,
      addrs,
      addrs.map((a) => seen.get(a)!.pub),
      addrs.map((a) => Math.round(seen.get(a)!.first)),
      addrs.map((a) => Math.round(seen.get(a)!.last)),
      addrs.map((a) => seen.get(a)!.seq),
    ]);
  }

  async function putRejects(c: pg.PoolClient, rs: RejectRow[]): Promise<void> {
    if (!rs.length) return;
    await c.query(SQL.insRejects, [
      rs.map((r) => Math.round(r.at)),
      rs.map((r) => r.reason),
      rs.map((r) => r.device ?? null),
      rs.map((r) => r.seq ?? null),
      rs.map((r) => r.topic ?? null),
      rs.map((r) => r.detail),
      rs.map((r) => r.raw ?? null),
    ]);
  }

  async function putGaps(c: pg.PoolClient, gs: GapEvent[]): Promise<void> {
    // Rare, and one row may change twice in a group: one statement each, in order.
    for (const g of gs)
      await c.query(SQL.upGap, [g.device, g.seq, g.nextSeq, g.explained ? 1 : 0, g.dropReportSeq ?? null, Math.round(g.detectedAt), g.filledAt === undefined ? null : Math.round(g.filledAt)]);
  }

  /**
   * The statement that takes the advisory locks of these devices, in key order so two
   * transactions never wait on each other in a cycle (the subquery's ORDER BY sets the order in
   * which the outer SELECT calls the function). Literal integers: it goes out with BEGIN.
   */
  function lockSql(devices: Iterable<string>): string | undefined {
    const keys = [...new Set([...devices].map(deviceLockKey))].sort((a, b) => a - b);
    if (!keys.length) return undefined;
    return 'SELECT pg_advisory_xact_lock(' + (o.lockNamespace | 0) + ', k) FROM (SELECT k FROM unnest(ARRAY[' + keys.join(',') + ']::int[]) AS k ORDER BY k) AS s';
  }

  function groupDevices(units: WriteUnit[]): Set<string> {
    const devices = new Set<string>();
    for (const u of units) if (u.batch) devices.add(u.batch.kid);
    return devices;
  }

  // ---- database mode ---------------------------------------------------------------------------

  /** Runs inside the transaction that took the locks of the units' devices (with its BEGIN). */
  async function checked(c: pg.PoolClient, units: WriteUnit[]): Promise<(Verdict | undefined)[]> {
    const devices = groupDevices(units);
    const qd: string[] = [];
    const qs: number[] = [];
    for (const u of units) {
      if (!u.batch) continue;
      const k = u.batch.kid;
      const b = u.batch.batch;
      qd.push(k, k);
      qs.push(b.seq, 0);
      if (b.pseq > 0) qd.push(k), qs.push(b.pseq);
    }
    const views = new Map<string, PrefetchedView>();
    if (devices.size) {
      // Read after the locks: every transaction that wrote these devices before has committed
      // (READ COMMITTED: each statement sees what was committed when it started).
      const list = [...devices];
      for (const d of list) views.set(d, new PrefetchedView());
      for (const r of (await c.query(SQL.around, [qd, qs, list])).rows) {
        const v = views.get(r.device)!;
        if (r.k === 0 || r.k === 1) v.addBatch(ref(r));
        else if (r.k === 2) {
          if (r.seq !== null && (!v.min || r.seq < v.min)) v.min = r.seq;
        } else v.gaps.set(Number(r.seq), storedGap(r));
      }
    }
    const verdicts: (Verdict | undefined)[] = [];
    const accepted: Verified[] = [];
    const rejects: RejectRow[] = [];
    const gapRows: GapEvent[] = [];
    for (const u of units) {
      let verdict: Verdict | undefined;
      if (u.batch) {
        const v = u.batch;
        const b = v.batch;
        const view = views.get(v.kid)!;
        verdict = decide(view, v.kid, { seq: b.seq, pseq: b.pseq, prev: b.prev, payloadHash: v.payloadHash, drop: b.drop, receivedAt: v.receivedAt });
        if (verdict.status === 'accepted') {
          view.addBatch({ seq: b.seq, pseq: b.pseq, payloadHash: v.payloadHash, prev: b.prev });
          view.gaps.delete(b.seq);
          accepted.push(v);
          for (const e of verdict.events) gapRows.push(e);
        } else if (verdict.status !== 'duplicate') rejects.push(signedReject(v, verdict.status, verdict.detail));
      }
      if (u.rejects) for (const r of u.rejects) rejects.push(r);
      if (u.gaps) for (const g of u.gaps) gapRows.push(g);
      verdicts.push(verdict);
    }
    await putBatches(c, accepted);
    await putRejects(c, rejects);
    await putGaps(c, gapRows);
    // Step 6 after the group's inserts: a drop report explains and declares the open links it covers.
    for (let i = 0; i < units.length; i++) {
      const v = units[i].batch;
      const verdict = verdicts[i];
      if (!v || !v.batch.drop || !verdict || verdict.status !== 'accepted') continue;
      const d = v.batch.drop;
      const at = Math.round(v.receivedAt);
      const ex = await c.query(SQL.dropExplain, [v.batch.seq, v.kid, d.firstSeq, d.lastSeq]);
      const de = await c.query(SQL.dropDeclare, [v.batch.seq, at, v.kid, d.firstSeq, d.lastSeq]);
      for (const e of dropEvents(v.kid, v.batch.seq, at, ex.rows, de.rows)) verdict.events.push(e);
    }
    return verdicts;
  }

  async function sweep(now: number, grace: number, overlap: number): Promise<GapSweep> {
    const to = Math.round(now - grace);
    const mark = await pool.query(SQL.getMeta, [SWEPT_TO_KEY]);
    const from = mark.rows.length ? Number(mark.rows[0].value) - overlap : -1;
    let events: GapEvent[] = [];
    if (to > from) {
      const cand = await pool.query(SQL.sweepDevices, [from, to]);
      const devices: string[] = cand.rows.map((r: any) => r.device);
      if (devices.length) {
        // Candidates found without locks; declared under them, so a predecessor committed in the
        // meantime is seen and its link not declared.
        const rows = await tx(async (c) => (await c.query(SQL.sweep, [Math.round(now), from, to, devices])).rows, lockSql(devices));
        events = sweepEvents(rows, Math.round(now));
      }
      await pool.query(SQL.raiseMeta, [SWEPT_TO_KEY, String(to)]);
    }
    const counts = (await pool.query(SQL.gapCounts)).rows[0];
    const pending = (await pool.query(SQL.pending, [to])).rows[0];
    return {
      events,
      open: { explained: Number(counts.ex || 0), unexplained: Number(counts.unex || 0) },
      filledLate: Number(counts.filled || 0),
      pending: Number(pending.n),
    };
  }

  // ---- memory mode reads -----------------------------------------------------------------------

  function link(seq: number, pseq: number, prev: Buffer, since: number, row: any): OpenLink {
    const l: OpenLink = { seq, pseq, prev: u8(prev), since };
    if (row.detected_at_ms !== null && row.detected_at_ms !== undefined) {
      l.gap = { detectedAt: row.detected_at_ms, explained: Number(row.explained) === 1 };
      if (row.drop_report_seq !== null) l.gap.dropReportSeq = row.drop_report_seq;
    }
    return l;
  }

  let closed: Promise<void> | undefined;
  return {
    kind: 'postgres',
    pool,
    async loadDevice(device: string, limits: LoadLimits): Promise<DeviceSnapshot | undefined> {
      const r = (await pool.query(SQL.range, [device])).rows[0];
      if (!r || r.mx === null) return undefined;
      const recent = (await pool.query(SQL.recent, [device, Math.max(1, limits.recent)])).rows.map(ref);
      const floor = recent.length ? recent[recent.length - 1].seq : 0;
      const open = new Map<number, OpenLink>();
      for (const row of (await pool.query(SQL.openRecent, [device, floor])).rows) open.set(row.pseq, link(row.seq, row.pseq, row.prev_hash, row.received_at_ms, row));
      for (const row of (await pool.query(SQL.openGapsOf, [device])).rows)
        if (!open.has(row.seq)) open.set(row.seq, link(row.next_seq, row.seq, row.prev_hash, row.received_at_ms, row));
      const first = (await pool.query(SQL.first, [device])).rows[0];
      const drops = (await pool.query(SQL.drops, [device, Math.max(0, limits.drops)])).rows;
      return {
        maxSeq: r.mx,
        minSeq: r.mn,
        firstSeq: first ? first.seq : 0,
        recent,
        openLinks: [...open.values()],
        drops: drops.reverse().map((d: any) => ({ reportSeq: d.seq, count: d.drop_count, firstSeq: d.drop_first, lastSeq: d.drop_last })),
      };
    },
    async lookupBatch(device: string, seq: number): Promise<BatchRef | undefined> {
      const row = (await pool.query(SQL.lookup, [device, seq])).rows[0];
      return row ? ref(row) : undefined;
    },
    async write(units: WriteUnit[]): Promise<void> {
      if (!units.length) return;
      await tx(async (c) => {
        const batches: Verified[] = [];
        const rejects: RejectRow[] = [];
        const gaps: GapEvent[] = [];
        for (const u of units) {
          if (u.batch) batches.push(u.batch);
          if (u.rejects) for (const r of u.rejects) rejects.push(r);
          if (u.gaps) for (const g of u.gaps) gaps.push(g);
        }
        await putBatches(c, batches);
        await putRejects(c, rejects);
        await putGaps(c, gaps);
      });
    },
    async syncDevices(devs: DeviceRow[]): Promise<void> {
      if (!devs.length) return;
      // Last entry wins for an address listed twice (one statement cannot update a row twice).
      const m = new Map<string, DeviceRow>();
      for (const d of devs) m.set(d.address, d);
      const list = [...m.values()].sort((a, b) => (a.address < b.address ? -1 : 1));
      await pool.query(SQL.syncDev, [list.map((d) => d.address), list.map((d) => d.publicKey ?? null), list.map((d) => d.label ?? null), list.map((d) => (d.revoked ? 1 : 0))]);
    },
    async writeChecked(units: WriteUnit[]): Promise<(Verdict | undefined)[]> {
      if (!units.length) return [];
      return tx((c) => checked(c, units), lockSql(groupDevices(units)));
    },
    declareGaps: sweep,
    close(): Promise<void> {
      if (!closed) closed = pool.end();
      return closed;
    },
  };
}
