// Scale-out (issue 6): several verifiers share one stream through an MQTT 5 shared subscription
// and decide the chain through the database (chain-db.ts). In process: two ingests with their
// own connection pools racing on one PostgreSQL database. Child processes: two agent-verifier
// CLIs with --share on a real Mosquitto and a fleet of simulated devices (agent-sim/fleet.ts),
// on PostgreSQL and on one SQLite file. PostgreSQL: DATABASE_URL or the local server, a private
// database per run; skipped with a message when neither answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { createIngest, type Outcome } from '../../agent-sim/middleware/ingest.js';
import { openPostgresStore, type PostgresStore } from '../../agent-sim/middleware/store-postgres.js';
import { openSqliteStore } from '../../agent-sim/middleware/store-sqlite.js';
import { parseCli } from '../../agent-sim/middleware/cli.js';
import { SimDevice, fleetSpecs, provision, type FleetConfig } from '../../agent-sim/fleet.js';
import { startMosquitto, startAedes } from '../harness/brokers.js';
import { testDevice, registryOf, prng, type Sealed, type TestDevice } from './fixtures.js';
import { privateDatabase } from './postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'mw-scale-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const quiet = () => undefined;

function key(i: number): string {
  return (0x5ca1e000 + i).toString(16).padStart(64, '0');
}

function shuffled<T>(xs: T[], seed: number): T[] {
  const r = prng(seed);
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

async function count(s: PostgresStore, sql: string, args: unknown[] = []): Promise<number> {
  return Number((await s.pool.query('SELECT COUNT(*) AS n FROM ' + sql, args)).rows[0].n);
}

/** Two database-mode ingests with their own pools on one database, as two processes would have. */
async function twoIngests(url: string, registry: ReturnType<typeof registryOf>, now?: () => number) {
  const stores = [await openPostgresStore(url), await openPostgresStore(url)];
  const ings = stores.map((store) => createIngest({ store, registry, chainState: 'database', log: quiet, now }));
  return {
    stores,
    ings,
    async close() {
      for (const i of ings) await i.stop();
      for (const s of stores) await s.close();
    },
  };
}

test('PostgreSQL, two ingests racing: every batch once, every link checked once by whichever inserts the second row; forged links and double deliveries decided once', async (t) => {
  const pdb = await privateDatabase();
  if ('skip' in pdb) return t.skip(pdb.skip);
  const chains: { dev: TestDevice; batches: Sealed[] }[] = [];
  for (let d = 0; d < 3; d++) {
    const dev = testDevice(key(d));
    const batches: Sealed[] = [];
    for (let i = 0; i < 24; i++) batches.push(dev.next());
    chains.push({ dev, batches });
  }
  // Pairs that race a device's first batch against a validly signed successor with a wrong prev.
  const forged: { dev: TestDevice; genuine: Sealed; bad: Sealed }[] = [];
  for (let d = 0; d < 16; d++) {
    const dev = testDevice(key(100 + d));
    const genuine = dev.next();
    forged.push({ dev, genuine, bad: dev.next({ prev: new Uint8Array(32).fill(d + 1) }) });
  }
  const all = [...chains.map((c) => c.dev), ...forged.map((f) => f.dev)];
  const two = await twoIngests(pdb.url, registryOf(all));
  const [A, B] = two.ings;
  const store = two.stores[0];
  try {
    // 1. Every chain dealt alternately to the two processes, in a shuffled order, all at once.
    const msgs = chains.flatMap((c) => c.batches.map((b) => ({ topic: c.dev.topic(), m: b.message })));
    const order = shuffled(msgs, 7);
    const outs = await Promise.all(order.map((x, i) => (i % 2 ? B : A).process(x.topic, x.m)));
    assert.deepEqual([...new Set(outs.map((o) => o.status))], ['accepted']);
    await A.flush();
    const sa = A.stats();
    const sb = B.stats();
    assert.equal(sa.accepted + sb.accepted, 72);
    assert.ok(sa.accepted > 20 && sb.accepted > 20);
    assert.equal(sa.linksVerified + sb.linksVerified, 72 - 3, 'each of the 69 links checked exactly once');
    assert.equal(await count(store, 'batches'), 72);
    assert.equal(await count(store, 'records'), 144);
    assert.equal(await count(store, 'gaps'), 0);
    assert.equal(sa.pendingLinks, 0);
    assert.equal(
      await count(store, 'batches b JOIN batches a ON a.device = b.device AND a.seq = b.pseq WHERE a.payload_hash = b.prev_hash'),
      69,
      'every stored link holds',
    );
    // 2. Redelivered to both processes at the same time: duplicates, nothing stored twice.
    const again = await Promise.all(msgs.flatMap((x) => [A.process(x.topic, x.m), B.process(x.topic, x.m)]));
    assert.deepEqual([...new Set(again.map((o) => o.status))], ['duplicate']);
    assert.equal(await count(store, 'batches'), 72);

    // 3. A first batch and a forged successor at the same moment on the two processes: whichever
    //    commits second sees the other and is refused, so exactly one of each pair is stored.
    const raced = await Promise.all(forged.map((f) => Promise.all([A.process(f.dev.topic(), f.genuine.message), B.process(f.dev.topic(), f.bad.message)])));
    const refused: Outcome[] = [];
    for (const pair of raced) {
      assert.equal(pair.filter((o) => o.status === 'accepted').length, 1, JSON.stringify(pair));
      refused.push(pair.find((o) => o.status === 'rejected') as Outcome);
    }
    for (const o of refused) {
      assert.ok(o.status === 'rejected' && o.reason === 'chain-break');
      assert.match(o.detail, /^(prev does not match the payload hash of seq 1|payload hash does not match prev of seq 2)$/);
    }
    assert.equal(await count(store, "rejects WHERE reason = 'chain-break' AND raw IS NOT NULL"), 16);
    assert.equal(await count(store, 'batches WHERE device = ANY($1)', [forged.map((f) => f.dev.address)]), 16);
  } finally {
    await two.close();
    await pdb.drop();
  }
});

test('PostgreSQL, gaps from the database: declared by a process that never saw the device, explained by a drop report the other received, filled late', async (t) => {
  const pdb = await privateDatabase();
  if ('skip' in pdb) return t.skip(pdb.skip);
  let clock = 1764090000000;
  const alice = testDevice(key(200));
  const a = [alice.next(), alice.next(), alice.next()];
  const bob = testDevice(key(201));
  const b = [bob.next(), bob.next(), bob.next(), bob.next(), bob.next({ drop: { count: 1, firstSeq: 3, lastSeq: 3 } })];
  const two = await twoIngests(pdb.url, registryOf([alice, bob]), () => clock);
  const [A, B] = two.ings;
  try {
    assert.equal((await A.process(alice.topic(), a[0].message)).status, 'accepted');
    const o3 = await A.process(alice.topic(), a[2].message);
    assert.ok(o3.status === 'accepted');
    await B.flush();
    assert.equal(B.stats().pendingLinks, 1, 'B sees the open link 2 -> 3 in the database');
    clock += 61000;
    await B.flush(); // B never saw alice
    assert.deepEqual(B.stats().gaps, { explained: 0, unexplained: 1, filledLate: 0 });
    const gap = (await two.stores[0].pool.query('SELECT seq, next_seq, explained, detected_at_ms FROM gaps')).rows;
    assert.deepEqual(gap, [{ seq: 2, next_seq: 3, explained: 0, detected_at_ms: clock }]);
    await A.flush();
    assert.deepEqual(A.stats().gaps, { explained: 0, unexplained: 1, filledLate: 0 }, 'A reads the same gap; declared once');
    assert.equal(await count(two.stores[0], 'gaps'), 1);
    const o2 = await B.process(alice.topic(), a[1].message);
    assert.ok(o2.status === 'accepted');
    assert.deepEqual(
      o2.events.map((e) => [e.kind, e.seq, e.nextSeq, e.filledAt]),
      [['filled', 2, 3, clock]],
    );
    assert.equal(A.stats().linksVerified + B.stats().linksVerified, 2);

    // bob: 1, 2, 4 on A (3 missing), then the drop report in 5 on B.
    for (const i of [0, 1, 3]) assert.equal((await A.process(bob.topic(), b[i].message)).status, 'accepted');
    const o5 = await B.process(bob.topic(), b[4].message);
    assert.ok(o5.status === 'accepted');
    assert.deepEqual(
      o5.events.map((e) => [e.kind, e.seq, e.nextSeq, e.explained, e.dropReportSeq]),
      [['declared', 3, 4, true, 5]],
    );
    await A.flush();
    assert.deepEqual(A.stats().gaps, { explained: 1, unexplained: 0, filledLate: 1 });
  } finally {
    await two.close();
    await pdb.drop();
  }
});

// ---- child processes ---------------------------------------------------------------------------

interface Verifier {
  child: ChildProcess;
  err: string;
  out: string;
  exited: Promise<number | null>;
}

function spawnVerifier(args: string[]): Verifier {
  const child = spawn(process.execPath, ['--import', 'tsx', 'agent-sim/middleware/cli.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const v: Verifier = { child, err: '', out: '', exited: new Promise((res) => child.once('exit', (code) => res(code))) };
  child.stdout!.on('data', (d) => (v.out += d));
  child.stderr!.on('data', (d) => (v.err += d));
  return v;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number, logs: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what + '\n' + logs());
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** received/accepted/duplicates and links verified from a verifier's summary on stderr. */
function summaryOf(err: string): { received: number; accepted: number; duplicates: number; rejected: number; links: number } {
  const m = /summary: received (\d+), accepted (\d+), duplicates (\d+), rejected (\d+)/.exec(err);
  const l = /chain links verified (\d+)/.exec(err);
  assert.ok(m && l, 'no summary in\n' + err);
  return { received: Number(m[1]), accepted: Number(m[2]), duplicates: Number(m[3]), rejected: Number(m[4]), links: Number(l[1]) };
}

/**
 * A fleet of SimDevices on Mosquitto, two verifiers in the group "g". `leave`: the second
 * verifier stops (leaving the group) mid-run and a new process with its client id rejoins.
 */
async function fleetRun(
  t: { skip(m: string): void },
  db: { arg: string; query(sql: string): Promise<Record<string, unknown>[]> },
  opts: { devices: number; runMs: number; leave: boolean; batch?: number },
) {
  const broker = await startMosquitto();
  if ('skip' in broker) return t.skip(broker.skip);
  const fdir = mkdtempSync(join(dir, 'fleet-'));
  const fleet: FleetConfig = { dataDir: fdir, brokerHost: '127.0.0.1', brokerPort: broker.port, prefix: 'depin', intervalMs: 100, batchMaxReadings: 3, batchMaxAgeMs: 1000 };
  const devices = fleetSpecs(opts.devices, 11).map((s) => new SimDevice(fleet, s));
  const reg = join(fdir, 'registry.json');
  provision(reg, devices);
  const common = ['--broker', 'mqtt://127.0.0.1:' + broker.port, '--db', db.arg, '--registry', reg, '--share', 'g', '--stats', '0', '--jsonl', ...(opts.batch ? ['--batch', String(opts.batch)] : [])];
  const runs: Verifier[] = [spawnVerifier([...common, '--client-id', 'verifier-1']), spawnVerifier([...common, '--client-id', 'verifier-2'])];
  const logs = () => runs.map((r, i) => '--- verifier run ' + i + ' stderr:\n' + r.err).join('\n');
  const subscribed = (r: Verifier) => r.err.includes('subscribed to $share/g/depin/+/tele (QoS 1)');
  try {
    await until('both verifiers subscribed', () => runs.every(subscribed), 20000, logs);
    for (const d of devices) d.start();
    if (opts.leave) {
      await new Promise((r) => setTimeout(r, opts.runMs / 3));
      runs[1].child.kill('SIGTERM');
      assert.equal(await runs[1].exited, 0, logs());
      await new Promise((r) => setTimeout(r, opts.runMs / 3));
      runs.push(spawnVerifier([...common, '--client-id', 'verifier-2']));
      await until('the second verifier back in the group', () => subscribed(runs[2]), 20000, logs);
      await new Promise((r) => setTimeout(r, opts.runMs / 3));
    } else await new Promise((r) => setTimeout(r, opts.runMs));
    for (const d of devices) d.agent.quiesce();
    await until('every device idle (all batches acknowledged by the broker)', () => devices.every((d) => d.agent.idle()), 20000, logs);
    const sealed = devices.reduce((n, d) => n + d.totals().batches, 0);
    await until('every batch in the database', async () => Number((await db.query('SELECT COUNT(*) AS n FROM batches'))[0].n) >= sealed, 20000, logs);
    for (const d of devices) d.stop();
    for (const r of runs) if (r.child.exitCode === null) r.child.kill('SIGTERM');
    for (const r of runs) assert.equal(await r.exited, 0, logs());

    // Every sealed batch exactly once, each device's seqs 1..n, every stored link holds.
    const perDevice = await db.query('SELECT device, COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi FROM batches GROUP BY device ORDER BY device');
    const want = devices.map((d) => [d.agent.addressHex, d.totals().batches]).sort();
    assert.deepEqual(perDevice.map((r) => [r.device, Number(r.n)]), want);
    for (const r of perDevice) assert.deepEqual([Number(r.lo), Number(r.hi)], [1, Number(r.n)]);
    const links = sealed - devices.length;
    const held = await db.query('SELECT COUNT(*) AS n FROM batches b JOIN batches a ON a.device = b.device AND a.seq = b.pseq WHERE a.payload_hash = b.prev_hash');
    assert.equal(Number(held[0].n), links);
    assert.equal(Number((await db.query('SELECT COUNT(*) AS n FROM rejects'))[0].n), 0);
    assert.equal(Number((await db.query('SELECT COUNT(*) AS n FROM gaps'))[0].n), 0);

    // Accepted once over all processes; each link checked by exactly one of them.
    const sums = runs.map((r) => summaryOf(r.err));
    assert.equal(sums.reduce((n, s) => n + s.accepted, 0), sealed, logs());
    assert.equal(sums.reduce((n, s) => n + s.rejected, 0), 0);
    assert.equal(sums.reduce((n, s) => n + s.links, 0), links, 'links verified over all processes');
    // The load was split: both members received a fair share.
    const byClient = [sums[0].received, sums.slice(1).reduce((n, s) => n + s.received, 0)];
    for (const n of byClient) assert.ok(n >= 0.2 * sealed, 'shares ' + byClient.join('/') + ' of ' + sealed);
    // Links whose two ends were accepted by different processes (JSON lines on stdout).
    const owner = new Map<string, number>();
    runs.forEach((r, i) => {
      for (const line of r.out.trim().split('\n')) {
        const x = JSON.parse(line);
        if (x.type === 'batch') owner.set(x.device + ':' + x.seq, i === 0 ? 0 : 1);
      }
    });
    assert.equal(owner.size, sealed);
    let across = 0;
    for (const [k, p] of owner) {
      const [dev, seq] = k.split(':');
      const prev = owner.get(dev + ':' + (Number(seq) - 1));
      if (prev !== undefined && prev !== p) across++;
    }
    process.stderr.write('fleet: ' + sealed + ' batches, shares ' + byClient.join('/') + ', ' + across + ' of ' + links + ' links crossed processes\n');
    assert.ok(across >= 0.2 * links, across + ' of ' + links + ' links crossed processes');
    return { sealed, links, across, shares: byClient };
  } finally {
    for (const r of runs) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    for (const d of devices) if (!d.poweredOff) d.powerCut();
    await broker.stop();
  }
}

test('two verifier processes (--share) on Mosquitto and PostgreSQL: a fleet of 21 devices, every batch verified exactly once, one member leaving and rejoining', async (t) => {
  const pdb = await privateDatabase();
  if ('skip' in pdb) return t.skip(pdb.skip);
  const pool = await openPostgresStore(pdb.url); // creates the schema before the two processes start
  try {
    await fleetRun(t, { arg: pdb.url, query: async (sql) => (await pool.pool.query(sql)).rows }, { devices: 21, runMs: 3000, leave: true });
  } finally {
    await pool.close();
    await pdb.drop();
  }
});

test('two verifier processes (--share) on one SQLite file, group commits: a fleet of 13 devices, every batch verified exactly once', async (t) => {
  const file = join(dir, 'shared.sqlite');
  const s = openSqliteStore(file);
  try {
    await fleetRun(t, { arg: file, query: async (sql) => s.db.prepare(sql).all() }, { devices: 13, runMs: 2000, leave: false, batch: 16 });
  } finally {
    s.close();
  }
});

test('share on a broker without MQTT 5 (aedes): start() fails and says why', async () => {
  const broker = await startAedes();
  const store = openSqliteStore(':memory:');
  const ing = createIngest({ brokerUrl: broker.url, store, share: 'g', log: quiet, connectTimeoutMs: 5000 });
  try {
    await assert.rejects(ing.start(), /refused MQTT 5, which shared subscriptions \("share"\) need \(aedes has neither: use Mosquitto >= 1\.6, EMQX, HiveMQ or VerneMQ\)/);
  } finally {
    await ing.stop();
    await broker.close();
    store.close();
  }
});

test('CLI: --share, PostgreSQL from --db or DATABASE_URL, --db-pool', () => {
  const o = parseCli(['--share', 'g1', '--db', 'postgres://u:pw@db:5432/depin', '--db-pool', '8']);
  assert.ok(o !== 'help');
  assert.deepEqual([o.share, o.postgres, o.db, o.dbPool, o.clientId], ['g1', 'postgres://u:pw@db:5432/depin', undefined, 8, 'depin-verifier-g1-' + hostname()]);
  const e = parseCli(['--client-id', 'v7'], { DATABASE_URL: 'postgresql://h/x' });
  assert.ok(e !== 'help');
  assert.deepEqual([e.postgres, e.db, e.share, e.clientId], ['postgresql://h/x', undefined, undefined, 'v7']);
  const f = parseCli(['--db', 'local.sqlite'], { DATABASE_URL: 'postgresql://h/x' });
  assert.ok(f !== 'help');
  assert.deepEqual([f.postgres, f.db], [undefined, 'local.sqlite'], '--db wins over DATABASE_URL');
  for (const [args, msg] of [
    [['--share', 'a/b'], /--share expected a group name without "\/", "\+" or "#", got "a\/b"/],
    [['--db-pool', '4'], /--db-pool is for PostgreSQL/],
    [['--db', 'postgres://h/x', '--db-pool', '0'], /--db-pool expected a number > 0/],
    [['--share', 'g', '--no-db', '--jsonl'], /--share needs a database/],
  ] as [string[], RegExp][])
    assert.throws(() => parseCli(args, {}), msg, args.join(' '));
});
