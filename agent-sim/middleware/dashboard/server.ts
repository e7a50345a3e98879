// The verifier's dashboard: node:http serving three static files (index.html, app.js,
// style.css: no build step) and a small JSON API over a DashboardSource, plus Server-Sent Events
// for live updates.
//
// Live updates poll the source (pollMs, 1 s) for rows committed after a cursor, rather than
// hooking the ingest's onOutcome:
// - what is pushed has been committed and can be read back (in 'batched' write mode onOutcome
//   fires before the commit, so a page fetching on it could miss the rows);
// - it works the same when the dashboard runs beside a verifier in another process, or over a
//   PostgreSQL database that several ingest instances write;
// - the work per tick is bounded (changesLimit rows, one SSE message per kind) whatever the
//   message rate, where a hook would turn a flood of forged messages into a flood of events;
//   beyond the limit the pages are told to reload (event 'resync');
// - the ingest's hot path stays as it is.
// The price is up to pollMs of latency, and polls only run while a page is connected.
//
// Everything is bounded and named in DASHBOARD_DEFAULTS. By default the server listens on
// 127.0.0.1 only and then refuses requests whose Host header is not a loopback name (a web page
// elsewhere cannot read it through DNS rebinding). There is no authentication: listening on
// another address shows every device to whoever reaches the port.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { DashboardSource, DeviceSummary } from './source.js';
import { createMetaFeed, type MetaFeed, type DeviceMeta } from './meta.js';
import type { IngestStats } from '../ingest.js';

export const DASHBOARD_DEFAULTS = {
  host: '127.0.0.1',
  /** startDashboard's default: any free port (the CLIs' `--dashboard` alone means 8080). */
  port: 0,
  /** How often the source is asked for new rows while a page is connected. */
  pollMs: 1000,
  /** SSE comment sent this often so proxies and the browser keep the stream open. */
  heartbeatMs: 15000,
  /** Concurrent live pages; more get 503. */
  maxSseClients: 16,
  /** A page that does not read its stream is dropped once this much waits for it. */
  maxSseBufferBytes: 256 * 1024,
  /** New batches and new rejects read per poll, each; beyond: 'resync'. */
  changesLimit: 500,
  /** Rows of the devices table. */
  maxDevices: 1000,
  /** Points per chart: readings, or averaged buckets when the window holds more. */
  maxPoints: 1000,
  /** Quantities per device (charts). */
  maxSeries: 32,
  /** Quantity names are taken from this many newest batches of the device. */
  seriesFromBatches: 32,
  /** Records returned for one batch (the payload format allows 1024). */
  maxBatchRecords: 1024,
  /** Latest rejects listed with their detail. */
  recentRejects: 20,
  /** Gaps listed for a device. */
  maxGaps: 100,
  /** Oldest `since` a chart may ask for. */
  maxWindowMs: 7 * 86400 * 1000,
  /** Aggregates (devices, rejects, stats) are computed at most this often, whatever the number of pages. */
  cacheMs: 1000,
  /** No verified batch for this long: status 'stale'. */
  staleAfterMs: 120 * 1000,
  /** Rejects naming a device within this window: status 'rejects'. */
  rejectWindowMs: 3600 * 1000,
  /** Longer request targets are refused (414). */
  maxUrlBytes: 2048,
};

export type DeviceStatus = 'ok' | 'gaps' | 'rejects' | 'stale' | 'revoked';

export interface DashboardOptions extends Partial<typeof DASHBOARD_DEFAULTS> {
  source: DashboardSource;
  /** Subscribe to the devices' (unsigned) meta and status topics for board, firmware, online. */
  broker?: { url: string; prefix: string; mqtt?: IClientOptions };
  /** In-memory counters of an ingest in this process (they include rejects not stored). */
  ingestStats?: () => IngestStats;
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  now?: () => number;
}

export interface Dashboard {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Live pages connected now. */
  clients(): number;
  /** Stops listening, ends the live streams, closes the source and the meta feed. */
  close(): Promise<void>;
}

const STATIC: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

const ADDRESS = /^[0-9a-f]{40}$/;
const LOOPBACK = ['127.0.0.1', 'localhost', '::1'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function param(u: URL, name: string, required: boolean): string | undefined {
  const v = u.searchParams.get(name);
  if (v === null && required) throw new HttpError(400, '"' + name + '" is required');
  return v ?? undefined;
}

function intParam(u: URL, name: string, min: number, max: number, dflt?: number): number {
  const v = param(u, name, dflt === undefined);
  if (v === undefined) return dflt as number;
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) throw new HttpError(400, '"' + name + '" expected an integer in ' + min + '..' + max + ', got ' + JSON.stringify(v));
  return n;
}

function deviceParam(u: URL, required: boolean): string | undefined {
  const d = param(u, 'device', required);
  if (d !== undefined && !ADDRESS.test(d)) throw new HttpError(400, '"device" expected 40 lowercase hex digits, got ' + JSON.stringify(d.slice(0, 64)));
  return d;
}

/** ok / gaps / rejects / stale / revoked, the worst first. */
export function deviceStatus(d: DeviceSummary, nowMs: number, staleAfterMs: number): DeviceStatus {
  if (d.revoked) return 'revoked';
  if (d.lastSeenMs === null || nowMs - d.lastSeenMs > staleAfterMs) return 'stale';
  if (d.rejects > 0) return 'rejects';
  if (d.gapsUnexplained > 0) return 'gaps';
  return 'ok';
}

function sseFrame(event: string, data: unknown): string {
  return 'event: ' + event + '\ndata: ' + JSON.stringify(data) + '\n\n';
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const o = { ...DASHBOARD_DEFAULTS };
  for (const k of Object.keys(DASHBOARD_DEFAULTS) as (keyof typeof DASHBOARD_DEFAULTS)[])
    if (opts[k] !== undefined) (o as Record<string, unknown>)[k] = opts[k];
  for (const k of Object.keys(o) as (keyof typeof o)[]) {
    const v = o[k];
    if (k === 'host') continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < (k === 'port' ? 0 : 1) || (k === 'port' && v > 65535))
      throw new RangeError('dashboard: "' + k + '" expected ' + (k === 'port' ? 'a port in 0..65535' : 'an integer >= 1') + ', got ' + String(v));
  }
  const source = opts.source;
  const now = opts.now || Date.now;
  const log = opts.log || ((level: string, msg: string) => console.error('[dashboard] ' + level + ': ' + msg));
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [path, [file, type]] of Object.entries(STATIC)) files.set(path, { body: readFileSync(new URL('./' + file, import.meta.url)), type });
  const meta: MetaFeed | undefined = opts.broker
    ? createMetaFeed({ brokerUrl: opts.broker.url, prefix: opts.broker.prefix, mqtt: opts.broker.mqtt, log, now })
    : undefined;

  // ---- aggregates, computed at most once per cacheMs ----
  const cache = new Map<string, { at: number; value: Promise<unknown> }>();
  function cached<T>(key: string, fn: () => T | Promise<T>): Promise<T> {
    const t = performance.now(); // not now(): an injected wall clock may stand still
    const c = cache.get(key);
    if (c && t - c.at < o.cacheMs) return c.value as Promise<T>;
    const value = Promise.resolve().then(fn);
    cache.set(key, { at: t, value });
    value.catch(() => cache.delete(key));
    return value;
  }

  async function devices() {
    const t = now();
    const rows = await source.listDevices({ limit: o.maxDevices, rejectsSinceMs: t - o.rejectWindowMs });
    return {
      nowMs: t,
      staleAfterMs: o.staleAfterMs,
      rejectWindowMs: o.rejectWindowMs,
      limit: o.maxDevices,
      devices: rows.map((d) => {
        const m: DeviceMeta | undefined = meta?.get(d.address);
        return { ...d, status: deviceStatus(d, t, o.staleAfterMs), meta: m ?? null };
      }),
    };
  }

  async function rejects() {
    const [byReason, recent] = await Promise.all([source.rejectsByReason(), source.recentRejects(o.recentRejects)]);
    return { nowMs: now(), byReason, recent };
  }

  async function stats() {
    const s = await source.stats();
    let ingest: Omit<IngestStats, 'lastSeq'> | null = null;
    if (opts.ingestStats) {
      const { lastSeq: _omitted, ...rest } = opts.ingestStats();
      ingest = rest;
    }
    return {
      nowMs: now(),
      source: source.kind,
      store: s,
      ingest,
      meta: meta ? meta.stats() : null,
      live: { clients: clients.size, maxClients: o.maxSseClients, pollMs: o.pollMs },
    };
  }

  function config() {
    return {
      pollMs: o.pollMs,
      maxPoints: o.maxPoints,
      maxWindowMs: o.maxWindowMs,
      maxBatchRecords: o.maxBatchRecords,
      maxGaps: o.maxGaps,
      staleAfterMs: o.staleAfterMs,
      rejectWindowMs: o.rejectWindowMs,
    };
  }

  async function api(u: URL): Promise<unknown> {
    switch (u.pathname) {
      case '/api/config':
        return config();
      case '/api/devices':
        return cached('devices', devices);
      case '/api/rejects':
        return cached('rejects', rejects);
      case '/api/stats':
        return cached('stats', stats);
      case '/api/series': {
        const d = deviceParam(u, true) as string;
        return { device: d, series: await source.seriesNames(d, { batches: o.seriesFromBatches, limit: o.maxSeries }) };
      }
      case '/api/records': {
        const d = deviceParam(u, true) as string;
        const name = param(u, 'name', true) as string;
        if (name.length > 256) throw new HttpError(400, '"name" expected at most 256 characters, got ' + name.length);
        const t = now();
        const since = intParam(u, 'since', t - o.maxWindowMs, t);
        const limit = intParam(u, 'limit', 1, o.maxPoints, o.maxPoints);
        const r = await source.recentRecords(d, name, since, limit, t);
        return { device: d, name, since, nowMs: t, bucketMs: r.bucketMs, points: r.points };
      }
      case '/api/batch': {
        const d = deviceParam(u, true) as string;
        const seq = intParam(u, 'seq', 1, Number.MAX_SAFE_INTEGER);
        return { device: d, seq, records: await source.batchRecords(d, seq, o.maxBatchRecords) };
      }
      case '/api/gaps': {
        const d = deviceParam(u, false);
        const limit = intParam(u, 'limit', 1, o.maxGaps, o.maxGaps);
        return { device: d ?? null, gaps: await source.gaps(d, limit) };
      }
    }
    throw new HttpError(404, 'no such endpoint: ' + u.pathname);
  }

  // ---- live updates ----
  const clients = new Set<http.ServerResponse>();
  let cursor: string | undefined;
  let pollTimer: ReturnType<typeof setInterval> | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let polling = false;
  let pollErrorLogged = false;

  function send(res: http.ServerResponse, frame: string): void {
    res.write(frame);
    // A page that stopped reading: drop it rather than buffer without end. It reconnects and reloads.
    if (res.writableLength > o.maxSseBufferBytes) {
      log('warn', 'dashboard: dropping a live page that fell ' + res.writableLength + ' bytes behind');
      clients.delete(res);
      res.destroy();
    }
  }

  function broadcast(event: string, data: unknown): void {
    const frame = sseFrame(event, data);
    for (const c of [...clients]) send(c, frame);
  }

  async function poll(): Promise<void> {
    if (polling || !clients.size) return;
    polling = true;
    try {
      if (cursor === undefined) {
        cursor = (await source.changes(undefined, o.changesLimit)).cursor;
        return;
      }
      const c = await source.changes(cursor, o.changesLimit);
      cursor = c.cursor;
      // Pages fetch the aggregates on these events: they must not get the ones from before.
      if (c.batches.length || c.rejects.length || c.more) cache.clear();
      if (c.batches.length) broadcast('batch', c.batches);
      if (c.rejects.length) broadcast('reject', c.rejects);
      if (c.more) {
        cursor = (await source.changes(undefined, o.changesLimit)).cursor;
        broadcast('resync', { reason: 'more than ' + o.changesLimit + ' new rows in ' + o.pollMs + ' ms' });
      }
      pollErrorLogged = false;
    } catch (e) {
      if (!pollErrorLogged) log('error', 'dashboard: reading changes failed: ' + (e as Error).message);
      pollErrorLogged = true;
    } finally {
      polling = false;
    }
  }

  function stopLive(): void {
    if (pollTimer) clearInterval(pollTimer);
    if (heartbeat) clearInterval(heartbeat);
    pollTimer = heartbeat = undefined;
    cursor = undefined;
  }

  async function openEvents(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (clients.size >= o.maxSseClients) throw new HttpError(503, 'live updates: ' + o.maxSseClients + ' pages are connected already (maxSseClients)');
    if (!pollTimer) {
      // The cursor is set before 'hello': the page loads its snapshot after it, so nothing
      // committed in between is missed (some rows may come twice; the page ignores repeats).
      cursor = (await source.changes(undefined, o.changesLimit)).cursor;
      pollTimer = setInterval(() => void poll(), o.pollMs);
      heartbeat = setInterval(() => broadcast('ping', now()), o.heartbeatMs);
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    clients.add(res);
    req.socket.setNoDelay(true);
    res.write('retry: 3000\n\n');
    send(res, sseFrame('hello', { nowMs: now(), pollMs: o.pollMs }));
    res.on('close', () => {
      clients.delete(res);
      if (!clients.size) stopLive();
    });
  }

  // ---- HTTP ----
  let allowedHosts: Set<string> | undefined;

  function reply(res: http.ServerResponse, status: number, body: unknown, head: boolean): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(head ? undefined : text);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const head = req.method === 'HEAD';
    try {
      if (req.method !== 'GET' && !head) {
        res.setHeader('Allow', 'GET, HEAD');
        throw new HttpError(405, 'method ' + req.method + ' not allowed: the dashboard is read-only');
      }
      if ((req.url || '').length > o.maxUrlBytes) throw new HttpError(414, 'request target longer than ' + o.maxUrlBytes + ' bytes');
      if (allowedHosts && !allowedHosts.has((req.headers.host || '').toLowerCase()))
        throw new HttpError(421, 'Host ' + JSON.stringify(req.headers.host ?? '') + ' is not this loopback server');
      const u = new URL(req.url || '/', 'http://localhost');
      const f = files.get(u.pathname);
      if (f) {
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': f.type, 'Content-Length': f.body.length });
        res.end(head ? undefined : f.body);
        return;
      }
      if (u.pathname === '/favicon.ico') {
        res.writeHead(204, SECURITY_HEADERS);
        res.end();
        return;
      }
      if (u.pathname === '/api/events') {
        if (head) throw new HttpError(405, 'the live stream is GET only');
        return await openEvents(req, res);
      }
      reply(res, 200, await api(u), head);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500) log('error', 'dashboard: ' + req.url + ': ' + ((e as Error).stack || e));
      if (status === 503) res.setHeader('Retry-After', '30');
      if (!res.headersSent) reply(res, status, { error: (e as Error).message }, head);
      else res.destroy();
    }
  }

  const server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port, o.host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const addr = server.address() as AddressInfo;
  const port = addr.port;
  if (LOOPBACK.includes(o.host)) allowedHosts = new Set(['127.0.0.1', 'localhost', '[::1]'].map((h) => h + ':' + port));
  const urlHost = o.host.includes(':') ? '[' + o.host + ']' : o.host === '0.0.0.0' ? '127.0.0.1' : o.host;

  let closing: Promise<void> | undefined;
  return {
    url: 'http://' + urlHost + ':' + port + '/',
    host: o.host,
    port,
    clients: () => clients.size,
    close() {
      if (closing) return closing;
      closing = (async () => {
        stopLive();
        for (const c of clients) c.end();
        clients.clear();
        await new Promise<void>((ok) => {
          server.close(() => ok());
          server.closeAllConnections();
        });
        if (meta) await meta.close();
        await source.close();
      })();
      return closing;
    },
  };
}

/**
 * Takes `--dashboard [[host:]port]` (or `--dashboard=...`) out of argv for the CLIs, whose
 * parseArgs has no options with an optional value. Alone it means 127.0.0.1:8080; port 0 picks
 * a free one. Throws on a malformed value.
 */
export function takeDashboardArg(argv: string[], defaultPort = 8080): { argv: string[]; listen?: { host: string; port: number } } {
  const rest: string[] = [];
  let listen: { host: string; port: number } | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    let value: string | undefined;
    if (a.startsWith('--dashboard=')) value = a.slice('--dashboard='.length);
    else if (a === '--dashboard') {
      const next = argv[i + 1];
      if (next !== undefined && /^(\[[0-9a-fA-F:]+\]:|[\w.-]+:)?\d+$/.test(next)) {
        value = next;
        i++;
      }
    } else {
      rest.push(a);
      continue;
    }
    if (listen) throw new Error('--dashboard given twice');
    listen = parseListen(value, defaultPort);
  }
  return listen ? { argv: rest, listen } : { argv: rest };
}

function parseListen(v: string | undefined, defaultPort: number): { host: string; port: number } {
  if (v === undefined) return { host: DASHBOARD_DEFAULTS.host, port: defaultPort };
  const m = /^(?:\[([0-9a-fA-F:]+)\]:|([\w.-]+):)?(\d+)$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error('--dashboard expected [host:]port with a port in 0..65535 (0: any free port), got ' + JSON.stringify(v));
  return { host: m[1] ?? m[2] ?? DASHBOARD_DEFAULTS.host, port };
}
