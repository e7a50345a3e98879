// Scale-out measurements (docs/scaling.md):
//   measureStoreIngest(): ingest.process() without a broker, into SQLite or PostgreSQL, chain in
//     memory or in the database, one commit per message or group commits;
//   measureScaleOut(): end to end through a broker with shared subscriptions: N agent-verifier
//     processes (--share) and a publisher that keeps at most `window` messages in flight between
//     publish and database, timed until every message is stored.
// Run: node --import tsx agent-sim/middleware/bench-scale.ts [messages]   (starts a private
// Mosquitto through test/harness/brokers.ts; PostgreSQL from DATABASE_URL or the local server)
import { pathToFileURL } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import pg from 'pg';
import { benchMessages } from './bench.js';
import { createIngest } from './ingest.js';
import { openSqliteStore } from './store-sqlite.js';
import { openPostgresStore } from './store-postgres.js';
import { writeRegistry } from './registry.js';
import type { Store } from './store.js';

export const SCALE_BENCH_DEFAULTS = {
  /**
   * Distinct devices the messages come from (their chains interleave, 2 batches each by
   * default). Many, as in a fleet: two processes' group commits serialise when they share a
   * device (chain-db.ts locks), which happens rarely when devices >> group size squared.
   */
  devices: 10000,
  messages: 20000,
  /** Samples per batch; each sample is 3 readings (energy meter). */
  samples: 1,
  /** Group commit size in batched mode, in process (ingest batchSize). */
  batch: 256,
  /**
   * Group commit size of the verifier processes (--batch). At 100k devices sending once a
   * minute, 2 processes flushing every 200 ms commit ~170 messages a group; 64 here keeps the
   * chance that two concurrent groups share a device of these 10000 about as low (64^2/10^4).
   */
  shareBatch: 64,
  /**
   * Messages published but not yet in the database, per verifier process. Mosquitto drops QoS 1
   * messages beyond max_queued_messages (default 1000) per session, so stay well below.
   */
  windowPerProcess: 400,
  /** Where PostgreSQL is when DATABASE_URL is not set. */
  postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  /** Give up when nothing was stored for this long. */
  stallMs: 20000,
};

export type BenchDb = 'sqlite' | 'postgres';

/** A fresh database for one measurement, removed afterwards. */
async function freshDb(kind: BenchDb, adminUrl: string): Promise<{ arg: string; open(): Promise<Store>; count(): Promise<number>; drop(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'scale-bench-'));
    const file = join(dir, 'bench.sqlite');
    const reader = openSqliteStore(file);
    return {
      arg: file,
      open: async () => openSqliteStore(file),
      count: async () => reader.db.prepare('SELECT COUNT(*) AS n FROM batches').get().n,
      async drop() {
        reader.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = 'depin_bench_' + randomBytes(5).toString('hex');
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  await admin.connect();
  await admin.query('CREATE DATABASE ' + name);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = '/' + name;
  const url = u.toString();
  const reader = await openPostgresStore(url, { maxConnections: 1 }); // creates the schema
  return {
    arg: url,
    open: () => openPostgresStore(url),
    count: async () => Number((await reader.pool.query('SELECT COUNT(*) AS n FROM batches')).rows[0].n),
    async drop() {
      await reader.close();
      const d = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
      await d.connect();
      await d.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await d.query('DROP DATABASE IF EXISTS ' + name);
      await d.end();
    },
  };
}

function adminUrl(o: { postgresUrl?: string }): string {
  return o.postgresUrl || process.env.DATABASE_URL || SCALE_BENCH_DEFAULTS.postgresUrl;
}

// ---- in process -----------------------------------------------------------------------------

export interface StoreIngestOptions {
  db: BenchDb;
  chainState: 'memory' | 'database';
  writeMode: 'commit' | 'batched';
  messages?: number;
  devices?: number;
  samples?: number;
  batch?: number;
  postgresUrl?: string;
}

export interface StoreIngestNumbers extends Required<Omit<StoreIngestOptions, 'postgresUrl'>> {
  backend: string;
  msgsPerSec: number;
}

/** ingest.process() of every message (verify, chain, store) in one process, no broker. */
export async function measureStoreIngest(opts: StoreIngestOptions): Promise<StoreIngestNumbers> {
  const o = { ...SCALE_BENCH_DEFAULTS, ...opts };
  const { msgs, registry } = benchMessages(o.messages, o.samples, o.devices);
  const db = await freshDb(o.db, adminUrl(opts));
  const store = await db.open();
  try {
    const ing = createIngest({ store, registry, chainState: o.chainState, writeMode: o.writeMode, batchSize: o.batch, log: () => undefined });
    const t0 = performance.now();
    // All at once: the ingest queues them; group commits need more than one waiting.
    const all = Promise.all(msgs.map((m) => ing.process(m.topic, m.message)));
    await ing.flush(); // queued after every message: commits the last group
    const outs = await all;
    const dt = performance.now() - t0;
    const bad = outs.find((x) => x.status !== 'accepted');
    if (bad) throw new Error('bench: a message was not accepted: ' + JSON.stringify(bad));
    if ((await db.count()) !== msgs.length) throw new Error('bench: not every message was stored');
    return {
      db: o.db,
      chainState: o.chainState,
      writeMode: o.writeMode,
      messages: msgs.length,
      devices: o.devices,
      samples: o.samples,
      batch: o.batch,
      backend: ing.verifier.backend.name,
      msgsPerSec: (msgs.length * 1000) / dt,
    };
  } finally {
    await store.close();
    await db.drop();
  }
}

// ---- through a broker -----------------------------------------------------------------------

export interface ScaleOutOptions {
  /** A broker with MQTT 5 shared subscriptions (Mosquitto >= 1.6). */
  brokerUrl: string;
  processes: number;
  db: BenchDb;
  writeMode?: 'commit' | 'batched';
  messages?: number;
  devices?: number;
  samples?: number;
  batch?: number;
  windowPerProcess?: number;
  postgresUrl?: string;
  stallMs?: number;
}

export interface ScaleOutNumbers {
  processes: number;
  db: BenchDb;
  writeMode: 'commit' | 'batched';
  messages: number;
  devices: number;
  samples: number;
  seconds: number;
  /** Messages verified and stored per second, publish of the first to commit of the last. */
  msgsPerSec: number;
  /** Messages each process received (its share). */
  received: number[];
}

function spawnVerifier(args: string[]): { child: ChildProcess; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./cli.ts', import.meta.url).pathname, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return { child, err: () => err, exited: new Promise((res) => child.once('exit', (code) => res(code))) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `processes` agent-verifier processes in one shared subscription group on a fresh database,
 * fed `messages` signed batches from `devices` devices at QoS 1 as fast as they take them.
 */
export async function measureScaleOut(opts: ScaleOutOptions): Promise<ScaleOutNumbers> {
  const o = { ...SCALE_BENCH_DEFAULTS, writeMode: 'commit' as const, ...opts };
  if (!(o.processes >= 1)) throw new RangeError('measureScaleOut: "processes" expected >= 1, got ' + o.processes);
  const { msgs, registry } = benchMessages(o.messages, o.samples, o.devices);
  const db = await freshDb(o.db, adminUrl(opts));
  const tmp = mkdtempSync(join(tmpdir(), 'scale-bench-reg-'));
  const reg = join(tmp, 'registry.json');
  writeRegistry(reg, registry);
  const group = 'bench' + randomBytes(3).toString('hex');
  const vs = [];
  for (let i = 0; i < o.processes; i++)
    vs.push(
      spawnVerifier([
        '--broker', o.brokerUrl, '--db', db.arg, '--registry', reg, '--share', group, '--client-id', group + '-' + i, '--stats', '0',
        '--backend', 'auto', ...(o.writeMode === 'batched' ? ['--batch', String(opts.batch ?? o.shareBatch)] : []),
      ]),
    );
  const pub = await mqtt.connectAsync(o.brokerUrl, { clientId: group + '-pub', reconnectPeriod: 0 });
  try {
    const t = Date.now();
    while (!vs.every((v) => v.err().includes('subscribed to $share/'))) {
      if (vs.some((v) => v.child.exitCode !== null) || Date.now() - t > 30000) throw new Error('bench: a verifier did not start:\n' + vs.map((v) => v.err()).join('\n'));
      await sleep(50);
    }
    const window = o.windowPerProcess * o.processes;
    let sent = 0;
    let stored = 0;
    let lastProgress = Date.now();
    const t0 = performance.now();
    while (stored < msgs.length) {
      while (sent < msgs.length && sent - stored < window) {
        const m = msgs[sent++];
        pub.publish(m.topic, Buffer.from(m.message), { qos: 1 });
      }
      await sleep(20);
      const n = await db.count();
      if (n > stored) lastProgress = Date.now();
      else if (Date.now() - lastProgress > o.stallMs) throw new Error('bench: stalled at ' + n + ' of ' + msgs.length + ' stored:\n' + vs.map((v) => v.err()).join('\n'));
      stored = n;
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const v of vs) v.child.kill('SIGTERM');
    for (const v of vs) await v.exited;
    const received = vs.map((v) => {
      const m = /summary: received (\d+)/.exec(v.err());
      return m ? Number(m[1]) : NaN;
    });
    return { processes: o.processes, db: o.db, writeMode: o.writeMode, messages: msgs.length, devices: o.devices, samples: o.samples, seconds, msgsPerSec: msgs.length / seconds, received };
  } finally {
    for (const v of vs) if (v.child.exitCode === null) v.child.kill('SIGKILL');
    await pub.endAsync();
    await db.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const n = Number(process.argv[2] || SCALE_BENCH_DEFAULTS.messages);
  (async () => {
    for (const dbk of ['sqlite', 'postgres'] as BenchDb[])
      for (const chainState of ['memory', 'database'] as const)
        for (const writeMode of ['commit', 'batched'] as const) {
          const r = await measureStoreIngest({ db: dbk, chainState, writeMode, messages: n });
          console.log('in process  ' + [dbk.padEnd(8), ('chain ' + chainState).padEnd(15), writeMode.padEnd(7)].join(' ') + ' ' + r.msgsPerSec.toFixed(0).padStart(6) + ' msg/s (' + r.backend + ')');
        }
    // The broker comes from the test harness: a private Mosquitto on a free port.
    const { startMosquitto } = await import('../../test/harness/brokers.js');
    const m = await startMosquitto();
    if ('skip' in m) throw new Error(m.skip);
    try {
      for (const dbk of ['postgres', 'sqlite'] as BenchDb[])
        for (const writeMode of ['commit', 'batched'] as const)
          for (const processes of [1, 2]) {
            const r = await measureScaleOut({ brokerUrl: 'mqtt://127.0.0.1:' + m.port, processes, db: dbk, writeMode, messages: n });
            console.log('via broker  ' + [dbk.padEnd(8), (processes + ' process' + (processes > 1 ? 'es' : '')).padEnd(11), writeMode.padEnd(7)].join(' ') + ' ' + r.msgsPerSec.toFixed(0).padStart(6) + ' msg/s, shares ' + r.received.join('/'));
          }
    } finally {
      await m.stop();
    }
  })().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
