// Database mode (chain-db.ts) against the in-memory tracker (chain.ts), which has its own tests:
// seeded random streams of genuine batches, redeliveries, conflicts, forged links, forks, second
// first batches, skipped sequence numbers and a drop report, in random order with gap sweeps at
// random times. Both modes must give every message the same verdict and leave the same rows,
// gaps and rejects; the same for group commits. SQLite in memory; PostgreSQL when reachable, where
// memory mode (write, loadDevice, lookupBatch) must also match SQLite's, across restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createIngest, type Ingest, type Outcome } from '../../agent-sim/middleware/ingest.js';
import { openSqliteStore, type SqliteStore } from '../../agent-sim/middleware/store-sqlite.js';
import { openPostgresStore, type PostgresStore } from '../../agent-sim/middleware/store-postgres.js';
import { decide, PrefetchedView } from '../../agent-sim/middleware/chain-db.js';
import { jsonlStore } from '../../agent-sim/middleware/store-jsonl.js';
import { teeStore } from '../../agent-sim/middleware/store.js';
import { testDevice, registryOf, TEST_KEYS, prng, type Sealed, type TestDevice } from './fixtures.js';
import { privateDatabase } from './postgres.js';

const GRACE = 60000;

interface Msg {
  name: string;
  topic: string;
  message: Uint8Array;
}

/** A device's genuine chain and the validly signed troublemakers. */
function pool(label: string, key: string): { dev: TestDevice; genuine: Msg[]; variants: Msg[] } {
  const dev = testDevice(key);
  const m = (name: string, s: Sealed): Msg => ({ name: label + '.' + name, topic: dev.topic(), message: s.message });
  const genuine: Msg[] = [];
  for (let i = 1; i <= 5; i++) genuine.push(m('g' + i, dev.next()));
  genuine.push(m('g7', dev.next({ seq: 7 }))); // seq 6 never sealed: 7 names 5, not a gap
  genuine.push(m('g8', dev.next()));
  genuine.push(m('g9', dev.next({ drop: { count: 1, firstSeq: 3, lastSeq: 3 } })));
  genuine.push(m('g10', dev.next()));
  // A second device object with the same key replays the chain, then leaves it.
  const clone = (upto: number) => {
    const c = testDevice(key);
    for (let i = 1; i <= upto; i++) c.next();
    return c;
  };
  const variants = [
    m('conflict4', clone(3).next({ up: 999 })),
    m('badprev6', clone(5).next({ prev: new Uint8Array(32).fill(7) })),
    m('fork6', clone(5).next()), // 6 and the genuine 7 both name 5
    m('first12', clone(0).next({ seq: 12 })), // pseq 0 at seq 12
  ];
  return { dev, genuine, variants };
}

const devices = [pool('a', TEST_KEYS.alice), pool('b', TEST_KEYS.bob)];
const registry = registryOf(devices.map((d) => d.dev));

interface Step {
  msg?: Msg;
  /** Advance the clock by this much before the message or sweep. */
  dt: number;
  sweep?: boolean;
}

function scenario(seed: number): Step[] {
  const r = prng(seed);
  const msgs: Msg[] = [];
  for (const d of devices) {
    for (const g of d.genuine) if (r() < 0.85) msgs.push(g);
    for (const v of d.variants) if (r() < 0.35) msgs.push(v);
  }
  for (const x of msgs.slice()) if (r() < 0.2) msgs.push(x);
  for (let i = msgs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [msgs[i], msgs[j]] = [msgs[j], msgs[i]];
  }
  const steps: Step[] = [];
  for (const msg of msgs) {
    if (r() < 0.2) steps.push({ dt: Math.floor(r() * 90000), sweep: true });
    steps.push({ msg, dt: Math.floor(r() * 20000) });
  }
  steps.push({ dt: 2 * GRACE, sweep: true });
  return steps;
}

type Row = Record<string, unknown>;
interface Snapshot {
  outcomes: string[];
  stats: string[];
  batches: string[];
  gaps: string[];
  rejects: string[];
}

function outcomeText(o: Outcome, name: string): string {
  const sorted = (e: object) => JSON.stringify(Object.fromEntries(Object.entries(e).sort()));
  const ev = o.status === 'accepted' ? o.events.map(sorted).sort().join(' ') : '';
  return name + ' ' + o.status + (o.status === 'rejected' ? ' ' + o.reason + ': ' + o.detail : '') + (ev ? ' ' + ev : '');
}

type Query = (sql: string) => Promise<Row[]>;

async function tables(q: Query): Promise<Pick<Snapshot, 'batches' | 'gaps' | 'rejects'>> {
  const rows = async (sql: string) => (await q(sql)).map((r) => Object.values(r).map((v) => (v === null ? 'null' : String(Number(v) === Number(v) ? Number(v) : v))).join('|'));
  return {
    batches: await rows('SELECT device, seq, pseq, received_at_ms, record_count FROM batches ORDER BY device, seq'),
    gaps: await rows('SELECT device, seq, next_seq, explained, drop_report_seq, detected_at_ms, filled_at_ms FROM gaps ORDER BY device, seq'),
    rejects: await rows("SELECT reason, device, seq, detail, at_ms, CASE WHEN raw IS NULL THEN 'no raw' ELSE 'raw' END AS r FROM rejects ORDER BY at_ms, device, seq, reason"),
  };
}

/** `restartEvery`: a new ingest (a restarted process: memory mode reloads from the store) every n steps. */
async function run(
  steps: Step[],
  mode: 'memory' | 'database',
  batched: boolean,
  store: SqliteStore | PostgresStore,
  q: Query,
  restart?: { every: number; loadRecent: number },
): Promise<Snapshot> {
  let clock = 1764090000000;
  const make = () =>
    createIngest({
      store, registry, log: () => undefined, now: () => clock, chainState: mode, writeMode: batched ? 'batched' : 'commit', batchSize: 4,
      loadRecent: restart ? restart.loadRecent : undefined,
    });
  let ing: Ingest = make();
  let past = { accepted: 0, duplicates: 0, links: 0 };
  let n = 0;
  const outcomes: string[] = [];
  const stats: string[] = [];
  const waiting: Promise<void>[] = [];
  for (const s of steps) {
    clock += s.dt;
    if (restart && ++n % restart.every === 0) {
      await ing.stop();
      const st = ing.stats();
      past = { accepted: past.accepted + st.accepted, duplicates: past.duplicates + st.duplicates, links: past.links + st.linksVerified };
      ing = make();
    }
    if (s.msg) {
      const name = s.msg.name;
      const p = ing.process(s.msg.topic, s.msg.message).then((o) => {
        outcomes.push(outcomeText(o, name));
      });
      // Batched database mode decides at the group commit: do not wait for it here.
      if (batched) waiting.push(p);
      else await p;
    }
    if (s.sweep) {
      await ing.flush();
      await Promise.all(waiting.splice(0));
      const st = ing.stats();
      // After a restart the tracker's gap counters restart too: compare totals only then.
      if (restart) stats.push(JSON.stringify([past.accepted + st.accepted, past.duplicates + st.duplicates, past.links + st.linksVerified]));
      else stats.push(JSON.stringify([st.accepted, st.duplicates, st.rejected, st.linksVerified, st.gaps, st.pendingLinks]));
    }
  }
  await ing.stop();
  return { outcomes, stats, ...(await tables(q)) };
}

function sqliteQuery(s: SqliteStore): Query {
  return async (sql) => s.db.prepare(sql).all();
}

const TRIALS = 40;

test('SQLite: database mode gives the same verdicts, rows, gaps and rejects as the in-memory tracker', async () => {
  let accepted = 0;
  let kinds = new Set<string>();
  for (let t = 0; t < TRIALS; t++) {
    const steps = scenario(1000 + t);
    for (const batched of [false, true]) {
      const a = openSqliteStore(':memory:');
      const b = openSqliteStore(':memory:');
      const mem = await run(steps, 'memory', batched, a, sqliteQuery(a));
      const dbm = await run(steps, 'database', batched, b, sqliteQuery(b));
      a.close();
      b.close();
      assert.deepEqual(dbm, mem, 'seed ' + (1000 + t) + (batched ? ' batched' : ''));
      accepted += mem.batches.length;
      for (const o of mem.outcomes) kinds.add(o.split(' ').slice(1, 3).join(' ').replace(/:.*/, ''));
      for (const g of mem.gaps) kinds.add(g.split('|')[6] === 'null' ? 'gap open' : 'gap filled');
    }
  }
  // The streams reach every verdict and gap state the comparison is about.
  for (const k of ['accepted', 'duplicate', 'rejected conflict', 'rejected chain-break', 'gap open', 'gap filled']) assert.ok(kinds.has(k), 'no ' + k + ' in ' + [...kinds].join(', '));
  assert.ok(accepted > TRIALS * 20);
});

test('PostgreSQL: database mode gives the same verdicts, rows, gaps and rejects as the in-memory tracker; memory mode on PostgreSQL the same as on SQLite, across restarts', async (t) => {
  const pdb = await privateDatabase();
  if ('skip' in pdb) return t.skip(pdb.skip);
  const store = await openPostgresStore(pdb.url);
  const q: Query = async (sql) => (await store.pool.query(sql)).rows;
  try {
    for (let k = 0; k < 12; k++) {
      const seed = 2000 + k;
      const steps = scenario(seed);
      const a = openSqliteStore(':memory:');
      const mem = await run(steps, 'memory', false, a, sqliteQuery(a));
      a.close();
      await store.pool.query('TRUNCATE batches, records, devices, rejects, gaps');
      await store.pool.query("DELETE FROM meta WHERE key <> 'schema_version'");
      const dbm = await run(steps, 'database', k % 2 === 1, store, q);
      // Group commits on PostgreSQL apply drop reports after the group's inserts, so only the
      // per-message runs must match event for event; batched runs must match in rows.
      if (k % 2 === 0) assert.deepEqual(dbm, mem, 'seed ' + seed);
      else {
        assert.deepEqual(dbm.batches, mem.batches, 'seed ' + seed + ' batched: batches');
        assert.deepEqual(dbm.rejects, mem.rejects, 'seed ' + seed + ' batched: rejects');
        assert.deepEqual(dbm.outcomes.map((o) => o.split(' ').slice(0, 3).join(' ')).sort(), mem.outcomes.map((o) => o.split(' ').slice(0, 3).join(' ')).sort());
      }
      const recs = (await q('SELECT COUNT(*) AS n FROM records'))[0].n;
      assert.equal(Number(recs), 2 * mem.batches.length, 'two records per batch');
    }
    // Memory mode on PostgreSQL (write, loadDevice, lookupBatch): the same as on SQLite, also
    // across restarts with a load window of 2 batches (older ones are looked up).
    for (let k = 0; k < 6; k++) {
      const seed = 3000 + k;
      const steps = scenario(seed);
      const restart = k % 2 === 1 ? { every: 7, loadRecent: 2 } : undefined;
      const a = openSqliteStore(':memory:');
      const lite = await run(steps, 'memory', k % 3 === 2, a, sqliteQuery(a), restart);
      a.close();
      await store.pool.query('TRUNCATE batches, records, devices, rejects, gaps');
      const pgm = await run(steps, 'memory', k % 3 === 2, store, q, restart);
      assert.deepEqual(pgm, lite, 'memory mode, seed ' + seed + (restart ? ' with restarts' : ''));
    }
  } finally {
    await store.close();
    await pdb.drop();
  }
});

test('decide(): the rules on a prefetched view, one by one', () => {
  const h = (b: number) => new Uint8Array(32).fill(b);
  const z = new Uint8Array(32);
  const v = new PrefetchedView();
  v.addBatch({ seq: 1, pseq: 0, payloadHash: h(1), prev: z });
  v.addBatch({ seq: 3, pseq: 2, payloadHash: h(3), prev: h(2) });
  v.gaps.set(2, { seq: 2, nextSeq: 3, explained: false, detectedAt: 5 });
  const d = (seq: number, pseq: number, prev: Uint8Array, hash: Uint8Array) => decide(v, 'dev', { seq, pseq, prev, payloadHash: hash, receivedAt: 9 });
  assert.deepEqual(d(1, 0, z, h(1)), { status: 'duplicate' });
  assert.equal(d(1, 0, z, h(9)).status, 'conflict');
  assert.deepEqual(d(2, 1, h(1), h(2)), {
    status: 'accepted',
    links: 2,
    pending: false,
    events: [{ kind: 'filled', device: 'dev', seq: 2, nextSeq: 3, explained: false, detectedAt: 5, filledAt: 9 }],
  });
  assert.deepEqual(d(2, 1, h(1), h(8)), { status: 'chain-break', detail: 'payload hash does not match prev of seq 3' });
  assert.deepEqual(d(2, 1, h(4), h(2)), { status: 'chain-break', detail: 'prev does not match the payload hash of seq 1' });
  assert.deepEqual(d(4, 2, h(2), h(4)), { status: 'chain-break', detail: 'fork: seq 3 already names seq 2 as predecessor' });
  assert.deepEqual(d(5, 0, z, h(5)), { status: 'chain-break', detail: 'pseq 0 (a first batch) at seq 5 but seq 1 exists' });
  assert.deepEqual(d(6, 5, h(5), h(6)), { status: 'accepted', links: 0, pending: true, events: [] });
  v.addBatch({ seq: 6, pseq: 5, payloadHash: h(6), prev: h(5) });
  assert.deepEqual(d(7, 3, h(3), h(7)), { status: 'accepted', links: 1, pending: false, events: [] });
  v.addBatch({ seq: 7, pseq: 3, payloadHash: h(7), prev: h(3) });
  assert.deepEqual(d(8, 3, h(3), h(8)), { status: 'chain-break', detail: 'fork: seq 3 is already followed by seq 7' });
});

test('database mode needs a store that decides; share implies it and validates the group name', () => {
  const s = openSqliteStore(':memory:');
  assert.throws(() => createIngest({ store: jsonlStore(), chainState: 'database' }), /chainState "database" needs a store that decides chain links \(SQLite, PostgreSQL\), got jsonl/);
  assert.throws(() => createIngest({ store: jsonlStore(), share: 'g' }), /\(needed by "share"\)/);
  assert.throws(() => createIngest({ store: s, share: 'g', chainState: 'memory' }), /"share" needs chainState "database"/);
  for (const bad of ['', 'a/b', 'a+', '#'])
    assert.throws(() => createIngest({ store: s, share: bad }), /"share" expected a group name without "\/", "\+" or "#" \(MQTT 5 4\.8\.2\), got /);
  assert.throws(() => createIngest({ store: s, chainState: 'disk' as 'memory' }), /"chainState" expected "memory" or "database", got "disk"/);
  // A tee whose first store decides can run in database mode.
  assert.doesNotThrow(() => createIngest({ store: teeStore(s, jsonlStore()), share: 'g' }));
  s.close();
});
