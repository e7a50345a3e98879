// What the dashboard reads, as an interface a store can implement: SQLite here (a read-only
// connection of its own on the verifier's file, so the page can never write and WAL readers never
// block the ingest), PostgreSQL later. Every list is bounded by a limit the caller passes; the
// server names those limits (server.ts, DASHBOARD_DEFAULTS) and checks them at its boundary.
import { createRequire } from 'node:module';
import type { MaybePromise } from '../store.js';

/** One row of the devices table: the registry's view plus what the store knows. */
export interface DeviceSummary {
  address: string;
  label: string | null;
  revoked: boolean;
  firstSeenMs: number | null;
  lastSeenMs: number | null;
  lastSeq: number | null;
  /** Verified batches stored. */
  batches: number;
  gapsUnexplained: number;
  gapsExplained: number;
  gapsFilled: number;
  /** Reject rows naming this device since `rejectsSinceMs` (unsigned ones only claim to be from it). */
  rejects: number;
  /** Of those, the ones signed by the device key (conflict, chain-break): only the key holder can cause them. */
  signedRejects: number;
}

/** A quantity a device reports, seen in its newest batches. */
export interface SeriesInfo {
  name: string;
  unit: string | null;
  /** 'sum': a running total (SenML s), charted as a rate or as the total; 'value': v; 'other': vs/vb only (not charted). */
  kind: 'value' | 'sum' | 'other';
}

/** A reading, or the aggregate of one time bucket (then `n` > 1: v averaged, s and t the bucket's last). */
export interface Point {
  /** ms since the Unix epoch. */
  t: number;
  v: number | null;
  s: number | null;
  /** The device clock was not synced: the time is anchored at receipt. */
  est: boolean;
  n: number;
  /** The batch the reading came in (a bucket: its newest batch), so a page can skip repeats. */
  seq: number;
}

export interface SeriesPoints {
  /** 0: raw readings; otherwise the bucket width the readings were averaged over. */
  bucketMs: number;
  points: Point[];
}

export interface BatchRecord extends Point {
  name: string;
  unit: string | null;
}

export interface RejectCount {
  reason: string;
  count: number;
  lastAtMs: number;
}

export interface RejectEntry {
  atMs: number;
  reason: string;
  device: string | null;
  seq: number | null;
  topic: string | null;
  detail: string;
}

export interface GapEntry {
  device: string;
  seq: number;
  nextSeq: number;
  explained: boolean;
  dropReportSeq: number | null;
  detectedAtMs: number;
  filledAtMs: number | null;
}

export interface SourceStats {
  devices: number;
  batches: number;
  rejects: number;
  gapsUnexplained: number;
  gapsExplained: number;
  newestBatchMs: number | null;
}

export interface NewBatch {
  device: string;
  seq: number;
  atMs: number;
  records: number;
}

export interface NewReject {
  atMs: number;
  reason: string;
  device: string | null;
  seq: number | null;
}

/**
 * Rows committed after `cursor`. The cursor is opaque to the server (SQLite: rowids; a
 * PostgreSQL source would use an identity column). `more`: rows beyond `limit` remain.
 */
export interface Changes {
  cursor: string;
  batches: NewBatch[];
  rejects: NewReject[];
  more: boolean;
}

export interface DashboardSource {
  readonly kind: string;
  listDevices(o: { limit: number; rejectsSinceMs: number }): MaybePromise<DeviceSummary[]>;
  /** Names in the device's newest `batches` batches, at most `limit`. */
  seriesNames(device: string, o: { batches: number; limit: number }): MaybePromise<SeriesInfo[]>;
  /**
   * Readings of one quantity from sinceMs on, oldest first. More than `limit` in range: averaged
   * into `limit` buckets of equal width over [sinceMs, now] so the chart still spans the window.
   */
  recentRecords(device: string, name: string, sinceMs: number, limit: number, nowMs?: number): MaybePromise<SeriesPoints>;
  /** Every reading of one batch (what a live chart appends). */
  batchRecords(device: string, seq: number, limit: number): MaybePromise<BatchRecord[]>;
  rejectsByReason(): MaybePromise<RejectCount[]>;
  recentRejects(limit: number): MaybePromise<RejectEntry[]>;
  /** Newest gaps first, of one device or of all. */
  gaps(device: string | undefined, limit: number): MaybePromise<GapEntry[]>;
  stats(): MaybePromise<SourceStats>;
  /** Without a cursor: the current end, no rows (live updates start from now). */
  changes(cursor: string | undefined, limit: number): MaybePromise<Changes>;
  close(): MaybePromise<void>;
}

// ---------------------------------------------------------------------------------------------
// SQLite

interface Statement {
  get(...params: unknown[]): any;
  all(...params: unknown[]): any[];
}
interface ReadDb {
  prepare(sql: string): Statement;
  close(): void;
}

const SIGNED_REJECTS = "('conflict', 'chain-break')";

/**
 * A read-only connection to the verifier's SQLite file (which must exist: open the store first).
 * The statements are plain SQL a PostgreSQL source could share, except rowid in changes(): the
 * store never deletes rows, so new rows always get higher rowids than any before them.
 */
export function openSqliteSource(path: string): DashboardSource {
  const req = createRequire(import.meta.url);
  const Ctor = req('better-sqlite3') as new (p: string, o: { readonly: boolean; fileMustExist: boolean }) => ReadDb;
  const db = new Ctor(path, { readonly: true, fileMustExist: true });
  const q = {
    devices: db.prepare(
      'SELECT d.address, d.label, d.revoked, d.first_seen_ms, d.last_seen_ms, d.last_seq, ' +
        '(SELECT COUNT(*) FROM batches b WHERE b.device = d.address) AS batches, ' +
        '(SELECT COUNT(*) FROM gaps g WHERE g.device = d.address AND g.filled_at_ms IS NULL AND g.explained = 0) AS gu, ' +
        '(SELECT COUNT(*) FROM gaps g WHERE g.device = d.address AND g.filled_at_ms IS NULL AND g.explained = 1) AS ge, ' +
        '(SELECT COUNT(*) FROM gaps g WHERE g.device = d.address AND g.filled_at_ms IS NOT NULL) AS gf, ' +
        '(SELECT COUNT(*) FROM rejects r WHERE r.device = d.address AND r.at_ms >= ?) AS rj, ' +
        '(SELECT COUNT(*) FROM rejects r WHERE r.device = d.address AND r.at_ms >= ? AND r.reason IN ' + SIGNED_REJECTS + ') AS rs ' +
        'FROM devices d ORDER BY d.label IS NULL, d.label, d.address LIMIT ?',
    ),
    names: db.prepare(
      'SELECT name, MAX(unit) AS unit, MAX(CASE WHEN sum IS NOT NULL THEN 1 ELSE 0 END) AS has_sum, ' +
        'MAX(CASE WHEN value IS NOT NULL THEN 1 ELSE 0 END) AS has_value FROM records ' +
        'WHERE device = ? AND seq > (SELECT COALESCE(MAX(seq), 0) FROM batches WHERE device = ?) - ? ' +
        'GROUP BY name ORDER BY name LIMIT ?',
    ),
    count: db.prepare('SELECT COUNT(*) AS n FROM records WHERE device = ? AND name = ? AND time >= ?'),
    raw: db.prepare(
      'SELECT seq, time, value, sum, time_estimated FROM records WHERE device = ? AND name = ? AND time >= ? ORDER BY time DESC, seq DESC, idx DESC LIMIT ?',
    ),
    // Buckets are floor(ms / width); the bucket's last total and time, its mean value.
    bucketed: db.prepare(
      'SELECT CAST(time * 1000 / ? AS INTEGER) AS b, MAX(time) AS time, AVG(value) AS value, MAX(sum) AS sum, ' +
        'MAX(time_estimated) AS time_estimated, COUNT(*) AS n, MAX(seq) AS seq FROM records WHERE device = ? AND name = ? AND time >= ? ' +
        'GROUP BY b ORDER BY b DESC LIMIT ?',
    ),
    batch: db.prepare('SELECT seq, name, unit, time, value, sum, time_estimated FROM records WHERE device = ? AND seq = ? ORDER BY idx LIMIT ?'),
    byReason: db.prepare('SELECT reason, COUNT(*) AS n, MAX(at_ms) AS last FROM rejects GROUP BY reason ORDER BY n DESC, reason'),
    recentRejects: db.prepare('SELECT at_ms, reason, device, seq, topic, detail FROM rejects ORDER BY at_ms DESC, rowid DESC LIMIT ?'),
    gapsAll: db.prepare('SELECT * FROM gaps ORDER BY detected_at_ms DESC, device, seq DESC LIMIT ?'),
    gapsOne: db.prepare('SELECT * FROM gaps WHERE device = ? ORDER BY seq DESC LIMIT ?'),
    stats: db.prepare(
      'SELECT (SELECT COUNT(*) FROM devices) AS devices, (SELECT COUNT(*) FROM batches) AS batches, ' +
        '(SELECT COUNT(*) FROM rejects) AS rejects, ' +
        '(SELECT COUNT(*) FROM gaps WHERE filled_at_ms IS NULL AND explained = 0) AS gu, ' +
        '(SELECT COUNT(*) FROM gaps WHERE filled_at_ms IS NULL AND explained = 1) AS ge, ' +
        '(SELECT MAX(last_seen_ms) FROM devices) AS newest',
    ),
    tip: db.prepare('SELECT (SELECT COALESCE(MAX(rowid), 0) FROM batches) AS b, (SELECT COALESCE(MAX(rowid), 0) FROM rejects) AS r'),
    newBatches: db.prepare('SELECT rowid AS id, device, seq, received_at_ms, record_count FROM batches WHERE rowid > ? ORDER BY rowid LIMIT ?'),
    newRejects: db.prepare('SELECT rowid AS id, at_ms, reason, device, seq FROM rejects WHERE rowid > ? ORDER BY rowid LIMIT ?'),
  };

  function point(r: any, n: number): Point {
    return { t: r.time * 1000, v: r.value ?? null, s: r.sum ?? null, est: r.time_estimated === 1, n: n, seq: r.seq };
  }

  let closed = false;
  return {
    kind: 'sqlite',
    listDevices(o) {
      return q.devices.all(o.rejectsSinceMs, o.rejectsSinceMs, o.limit).map((r) => ({
        address: r.address,
        label: r.label ?? null,
        revoked: r.revoked === 1,
        firstSeenMs: r.first_seen_ms ?? null,
        lastSeenMs: r.last_seen_ms ?? null,
        lastSeq: r.last_seq ?? null,
        batches: r.batches,
        gapsUnexplained: r.gu,
        gapsExplained: r.ge,
        gapsFilled: r.gf,
        rejects: r.rj,
        signedRejects: r.rs,
      }));
    },
    seriesNames(device, o) {
      return q.names.all(device, device, o.batches, o.limit).map((r) => ({
        name: r.name,
        unit: r.unit ?? null,
        kind: r.has_sum ? 'sum' : r.has_value ? 'value' : 'other',
      }));
    },
    recentRecords(device, name, sinceMs, limit, nowMs = Date.now()) {
      const since = sinceMs / 1000;
      const n = q.count.get(device, name, since).n as number;
      if (n <= limit) return { bucketMs: 0, points: q.raw.all(device, name, since, limit).reverse().map((r) => point(r, 1)) };
      const width = Math.max(1, Math.ceil((nowMs - sinceMs) / limit));
      // One bucket more than limit can start inside the window (its first is cut by sinceMs).
      const rows = q.bucketed.all(width, device, name, since, limit).reverse();
      return { bucketMs: width, points: rows.map((r) => point(r, r.n)) };
    },
    batchRecords(device, seq, limit) {
      return q.batch.all(device, seq, limit).map((r) => ({ ...point(r, 1), name: r.name, unit: r.unit ?? null }));
    },
    rejectsByReason() {
      return q.byReason.all().map((r) => ({ reason: r.reason, count: r.n, lastAtMs: r.last }));
    },
    recentRejects(limit) {
      return q.recentRejects.all(limit).map((r) => ({
        atMs: r.at_ms,
        reason: r.reason,
        device: r.device ?? null,
        seq: r.seq ?? null,
        topic: r.topic ?? null,
        detail: r.detail,
      }));
    },
    gaps(device, limit) {
      const rows = device === undefined ? q.gapsAll.all(limit) : q.gapsOne.all(device, limit);
      return rows.map((r) => ({
        device: r.device,
        seq: r.seq,
        nextSeq: r.next_seq,
        explained: r.explained === 1,
        dropReportSeq: r.drop_report_seq ?? null,
        detectedAtMs: r.detected_at_ms,
        filledAtMs: r.filled_at_ms ?? null,
      }));
    },
    stats() {
      const r = q.stats.get();
      return {
        devices: r.devices,
        batches: r.batches,
        rejects: r.rejects,
        gapsUnexplained: r.gu,
        gapsExplained: r.ge,
        newestBatchMs: r.newest ?? null,
      };
    },
    changes(cursor, limit) {
      if (cursor === undefined) {
        const t = q.tip.get();
        return { cursor: t.b + ':' + t.r, batches: [], rejects: [], more: false };
      }
      const m = /^(\d+):(\d+)$/.exec(cursor);
      if (!m) throw new Error('dashboard source: "cursor" expected "<batch rowid>:<reject rowid>", got ' + JSON.stringify(cursor));
      let b = Number(m[1]);
      let r = Number(m[2]);
      // One row past the limit tells whether more remain without a COUNT.
      const nb = q.newBatches.all(b, limit + 1);
      const nr = q.newRejects.all(r, limit + 1);
      const more = nb.length > limit || nr.length > limit;
      if (nb.length > limit) nb.length = limit;
      if (nr.length > limit) nr.length = limit;
      if (nb.length) b = nb[nb.length - 1].id;
      if (nr.length) r = nr[nr.length - 1].id;
      return {
        cursor: b + ':' + r,
        batches: nb.map((x) => ({ device: x.device, seq: x.seq, atMs: x.received_at_ms, records: x.record_count })),
        rejects: nr.map((x) => ({ atMs: x.at_ms, reason: x.reason, device: x.device ?? null, seq: x.seq ?? null })),
        more,
      };
    },
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
