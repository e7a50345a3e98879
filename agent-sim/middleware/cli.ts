// agent-verifier: subscribe to <prefix>/+/tele, verify every batch, store it.
// Run: node --import tsx agent-sim/middleware/cli.ts --help
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { hostname } from 'node:os';
import { createIngest, INGEST_DEFAULTS, type Ingest, type IngestStats } from './ingest.js';
import { openSqliteStore } from './store-sqlite.js';
import { openPostgresStore, POSTGRES_DEFAULTS } from './store-postgres.js';
import { jsonlStore } from './store-jsonl.js';
import { teeStore, type Store } from './store.js';
import { CHAIN_DEFAULTS } from './chain.js';
import { REJECT_REASONS } from './verify.js';
import type { BackendChoice } from './sigbackend.js';
import { startDashboard, takeDashboardArg, type Dashboard } from './dashboard/server.js';
import { openSqliteSource } from './dashboard/source.js';

export const USAGE = `agent-verifier: receive signed telemetry batches over MQTT, verify and store them

Usage: node --import tsx agent-sim/middleware/cli.ts [options]

  --broker URL         MQTT broker (default mqtt://127.0.0.1:1883)
  --prefix P           topic prefix; subscribes to P/+/tele (default ${INGEST_DEFAULTS.prefix})
  --db PATH|URL        SQLite database file (default depin-verifier.sqlite), or PostgreSQL as
                       postgres://user:password@host:port/database. Without --db, the URL in
                       DATABASE_URL is used when set
  --db-pool N          PostgreSQL connections this process holds at most (default ${POSTGRES_DEFAULTS.maxConnections})
  --no-db              no database (use with --jsonl)
  --share GROUP        join the shared subscription group GROUP ($share/GROUP/P/+/tele, MQTT 5;
                       Mosquitto >= 1.6, EMQX, HiveMQ, VerneMQ): the verifiers of a group share
                       the messages, and chain links are checked through the database. Give each
                       member a stable, distinct --client-id (default depin-verifier-GROUP-<host>);
                       see docs/scaling.md
  --jsonl              also write JSON lines to stdout (batches, rejects, gaps)
  --registry PATH      device registry JSON; reloaded on SIGHUP. Without it, keys are
                       recovered from signatures and must hash to the kid
  --backend NAME       auto | libsecp256k1 | noble (default auto: libsecp256k1, else noble)
  --client-id ID       MQTT client id of the persistent session (default ${INGEST_DEFAULTS.clientId})
  --username U, --password P   MQTT credentials (or env MQTT_USERNAME, MQTT_PASSWORD)
  --batch N            commit N messages per transaction and acknowledge on receipt
                       (faster; a crash loses up to N acknowledged batches). Default: each
                       message is committed before its QoS 1 acknowledgement
  --gap-grace S        seconds a missing predecessor may be late before it is a gap (default ${CHAIN_DEFAULTS.gapGraceMs / 1000})
  --stats S            seconds between stats lines on stderr, 0 for none (default 10)
  --dashboard [[HOST:]PORT]  serve the dashboard web page (default 127.0.0.1:8080; port 0:
                       any free port). No login: bind to another address than loopback with care
  -h, --help           this text

Stats and logs go to stderr; stdout carries only JSON lines (--jsonl).
SIGINT/SIGTERM: flush, print a summary, exit. SIGHUP: reload the registry.`;

export interface CliOptions {
  broker: string;
  prefix: string;
  /** SQLite file. */
  db?: string;
  /** PostgreSQL URL (from --db or DATABASE_URL); set instead of db. */
  postgres?: string;
  dbPool?: number;
  share?: string;
  jsonl: boolean;
  registry?: string;
  backend: BackendChoice;
  clientId: string;
  username?: string;
  password?: string;
  batch?: number;
  gapGraceMs: number;
  statsMs: number;
  /** --dashboard: where the dashboard listens. */
  dashboard?: { host: string; port: number };
}

function bad(msg: string): never {
  const e = new Error(msg) as Error & { usage: boolean };
  e.usage = true;
  throw e;
}

function positive(name: string, v: string | undefined, allowZero: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n >= 0) || (!allowZero && n === 0) || !Number.isFinite(n)) bad('--' + name + ' expected a ' + (allowZero ? 'number >= 0' : 'number > 0') + ', got ' + JSON.stringify(v));
  return n;
}

/** Parses argv (without node and script); throws an Error with `usage` set on bad input. */
export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions | 'help' {
  let dashboard: CliOptions['dashboard'];
  try {
    ({ argv, listen: dashboard } = takeDashboardArg(argv));
  } catch (e) {
    return bad((e as Error).message);
  }
  let a;
  try {
    a = parseArgs({
      args: argv,
      options: {
        broker: { type: 'string' },
        prefix: { type: 'string' },
        db: { type: 'string' },
        'db-pool': { type: 'string' },
        share: { type: 'string' },
        'no-db': { type: 'boolean' },
        jsonl: { type: 'boolean' },
        registry: { type: 'string' },
        backend: { type: 'string' },
        'client-id': { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        batch: { type: 'string' },
        'gap-grace': { type: 'string' },
        stats: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    return bad((e as Error).message);
  }
  const v = a.values;
  if (v.help) return 'help';
  const backend = (v.backend ?? 'auto') as BackendChoice;
  if (!['auto', 'libsecp256k1', 'noble'].includes(backend)) bad('--backend expected auto, libsecp256k1 or noble, got ' + JSON.stringify(v.backend));
  if (v['no-db'] && v.db) bad('--db and --no-db exclude each other');
  if (v['no-db'] && !v.jsonl) bad('--no-db needs --jsonl (otherwise nothing is stored)');
  if (v['no-db'] && dashboard) bad('--dashboard reads the SQLite database: it cannot go with --no-db');
  const prefix = v.prefix ?? INGEST_DEFAULTS.prefix;
  if (!prefix || /[+#]/.test(prefix) || prefix.endsWith('/')) bad('--prefix expected topic levels without wildcards or a trailing "/", got ' + JSON.stringify(prefix));
  const batch = positive('batch', v.batch, false);
  if (batch !== undefined && Math.floor(batch) !== batch) bad('--batch expected an integer, got ' + v.batch);
  const pool = positive('db-pool', v['db-pool'], false);
  if (pool !== undefined && Math.floor(pool) !== pool) bad('--db-pool expected an integer, got ' + v['db-pool']);
  const share = v.share;
  if (share !== undefined && !/^[^/+#]+$/.test(share)) bad('--share expected a group name without "/", "+" or "#", got ' + JSON.stringify(share));
  const dbArg = v['no-db'] ? undefined : (v.db ?? (env.DATABASE_URL || undefined));
  const postgres = dbArg !== undefined && /^postgres(ql)?:\/\//i.test(dbArg) ? dbArg : undefined;
  if (pool !== undefined && !postgres) bad('--db-pool is for PostgreSQL (--db postgres://... or DATABASE_URL)');
  if (postgres && dashboard) bad('--dashboard reads SQLite only so far (a PostgreSQL DashboardSource is not written yet)');
  if (share !== undefined && v['no-db']) bad('--share needs a database (SQLite or PostgreSQL): the chain is checked there');
  const out: CliOptions = {
    broker: v.broker ?? 'mqtt://127.0.0.1:1883',
    prefix,
    db: v['no-db'] || postgres ? undefined : (dbArg ?? 'depin-verifier.sqlite'),
    jsonl: !!v.jsonl,
    registry: v.registry,
    backend,
    clientId: v['client-id'] ?? (share !== undefined ? INGEST_DEFAULTS.clientId + '-' + share + '-' + hostname() : INGEST_DEFAULTS.clientId),
    username: v.username ?? env.MQTT_USERNAME,
    password: v.password ?? env.MQTT_PASSWORD,
    batch,
    gapGraceMs: Math.round((positive('gap-grace', v['gap-grace'], true) ?? CHAIN_DEFAULTS.gapGraceMs / 1000) * 1000),
    statsMs: Math.round((positive('stats', v.stats, true) ?? 10) * 1000),
    ...(dashboard ? { dashboard } : {}),
  };
  // Set only when given, so the single-process options read as before.
  if (postgres) out.postgres = postgres;
  if (pool !== undefined) out.dbPool = pool;
  if (share !== undefined) out.share = share;
  return out;
}

/** A database URL without its password, for logs. */
export function safeUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

function rejectsText(s: IngestStats): string {
  const parts = REJECT_REASONS.filter((r) => s.rejected[r] > 0).map((r) => r + ' ' + s.rejected[r]);
  return parts.length ? ' (' + parts.join(', ') + ')' : '';
}

export function statsLine(s: IngestStats, ratePerSec?: number): string {
  return (
    'received ' + s.received +
    ', accepted ' + s.accepted +
    ', duplicates ' + s.duplicates +
    ', rejected ' + s.rejectedTotal + rejectsText(s) +
    ', gaps ' + s.gaps.unexplained + ' unexplained/' + s.gaps.explained + ' explained/' + s.gaps.filledLate + ' filled late' +
    ', pending links ' + s.pendingLinks +
    ', devices ' + Object.keys(s.lastSeq).length +
    (s.storeErrors ? ', STORE ERRORS ' + s.storeErrors : '') +
    (ratePerSec !== undefined ? ', ' + ratePerSec.toFixed(1) + ' msg/s' : '') +
    (s.connected ? '' : ', disconnected')
  );
}

export function summary(s: IngestStats): string {
  const lines = ['summary: ' + statsLine(s), '  backend ' + s.backend + ', chain links verified ' + s.linksVerified];
  for (const [dev, seq] of Object.entries(s.lastSeq).sort()) lines.push('  device ' + dev + ' last seq ' + seq);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let o: CliOptions | 'help';
  try {
    o = parseCli(argv);
  } catch (e) {
    process.stderr.write('agent-verifier: ' + (e as Error).message + '\n\n' + USAGE + '\n');
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const opts = o;
  const log = (level: string, msg: string) => process.stderr.write('[verifier] ' + level + ': ' + msg + '\n');
  const stores: Store[] = [];
  let ingest: Ingest;
  let store: Store;
  try {
    if (opts.postgres) stores.push(await openPostgresStore(opts.postgres, { maxConnections: opts.dbPool, log: (m) => log('error', 'postgres: ' + m) }));
    if (opts.db) stores.push(openSqliteStore(opts.db));
    if (opts.jsonl) stores.push(jsonlStore());
    store = stores.length === 1 ? stores[0] : teeStore(stores[0], ...stores.slice(1));
    ingest = createIngest({
      brokerUrl: opts.broker,
      prefix: opts.prefix,
      store,
      registryPath: opts.registry,
      verifier: { backend: opts.backend },
      chain: { gapGraceMs: opts.gapGraceMs },
      clientId: opts.clientId,
      mqtt: { username: opts.username, password: opts.password },
      writeMode: opts.batch ? 'batched' : 'commit',
      batchSize: opts.batch,
      share: opts.share,
      log,
    });
  } catch (e) {
    log('error', (e as Error).message);
    for (const s of stores) await s.close();
    return 1;
  }
  log(
    'info',
    'store ' + store.kind + (opts.db ? ' ' + opts.db : '') + (opts.postgres ? ' ' + safeUrl(opts.postgres) : '') +
      ', registry ' + (opts.registry || 'none (recovery mode)') + (opts.share !== undefined ? ', group ' + opts.share + ' as ' + opts.clientId : ''),
  );
  let dashboard: Dashboard | undefined;
  if (opts.dashboard && opts.db) {
    try {
      dashboard = await startDashboard({
        source: openSqliteSource(opts.db),
        host: opts.dashboard.host,
        port: opts.dashboard.port,
        broker: { url: opts.broker, prefix: opts.prefix, mqtt: { username: opts.username, password: opts.password } },
        ingestStats: () => ingest.stats(),
        log,
      });
    } catch (e) {
      log('error', 'dashboard: ' + (e as Error).message);
      await store.close();
      return 1;
    }
    log('info', 'dashboard at ' + dashboard.url);
  }

  let timer: ReturnType<typeof setInterval> | undefined;
  let lastCount = 0;
  let lastAt = Date.now();
  if (opts.statsMs > 0)
    timer = setInterval(() => {
      const s = ingest.stats();
      const t = Date.now();
      log('stats', statsLine(s, ((s.received - lastCount) * 1000) / Math.max(1, t - lastAt)));
      lastCount = s.received;
      lastAt = t;
    }, opts.statsMs);

  let stopping: Promise<number> | undefined;
  const stop = (sig: string) => {
    if (stopping) return stopping;
    log('info', sig + ': stopping');
    stopping = (async () => {
      if (timer) clearInterval(timer);
      try {
        await ingest.stop();
      } catch (e) {
        log('error', 'stop: ' + (e as Error).message);
      }
      process.stderr.write(summary(ingest.stats()) + '\n');
      if (dashboard) await dashboard.close();
      await store.close();
      return 0;
    })();
    return stopping;
  };
  const done = new Promise<number>((resolve) => {
    process.once('SIGINT', () => stop('SIGINT').then(resolve));
    process.once('SIGTERM', () => stop('SIGTERM').then(resolve));
  });
  process.on('SIGHUP', () => {
    try {
      ingest.reloadRegistry();
    } catch (e) {
      log('error', 'registry reload failed, keeping the previous one: ' + (e as Error).message);
    }
  });
  // A signal while still connecting stops at once (start() then rejects, which is expected).
  const started = await Promise.race([ingest.start().then(() => undefined, (e: Error) => e), done.then(() => 'stopped' as const)]);
  if (started === 'stopped') return done;
  if (started) {
    if (stopping) return done;
    log('error', started.message);
    await stop('start failure');
    return 1;
  }
  return done;
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write('agent-verifier: ' + ((e as Error).stack || String(e)) + '\n');
      process.exit(1);
    },
  );
}
