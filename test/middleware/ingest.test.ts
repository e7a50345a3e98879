// Ingest without a broker (process()): verify -> chain -> SQLite, idempotent under redelivery,
// restart-safe, every reject counted and kept. Messages from the core's seal with test keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createIngest, type Outcome } from '../../agent-sim/middleware/ingest.js';
import { openSqliteStore, type SqliteStore } from '../../agent-sim/middleware/store-sqlite.js';
import { jsonlStore } from '../../agent-sim/middleware/store-jsonl.js';
import { teeStore, type Store } from '../../agent-sim/middleware/store.js';
import { readRegistry, writeRegistry, addDevice, revokeDevice, validateRegistry } from '../../agent-sim/middleware/registry.js';
import { toHex } from '../../firmware/core/util/bytes.js';
import { testDevice, registryOf, TEST_KEYS, type Sealed } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'mw-ingest-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let dbN = 0;
function dbPath() {
  return join(dir, 'db' + ++dbN + '.sqlite');
}

const quiet = () => undefined;
let clock = 1764090000000;
const now = () => clock;

function count(s: SqliteStore, sql: string, ...args: unknown[]): number {
  return s.db.prepare('SELECT COUNT(*) AS n FROM ' + sql).get(...args).n;
}

// One chain per device, built once (sealing costs ~1.5 ms each).
const alice = testDevice(TEST_KEYS.alice);
const A: Sealed[] = [];
for (let i = 0; i < 8; i++) A.push(alice.next());
const bob = testDevice(TEST_KEYS.bob);
const B: Sealed[] = [];
for (let i = 0; i < 6; i++) B.push(bob.next(i === 4 ? { drop: { count: 2, firstSeq: 3, lastSeq: 4 } } : i === 2 ? { seq: 5, pseq: 2 } : {}));
// B: seq 1, 2, 5 (pseq 2), 6, 7 (drop report 3..4), 8 -- see the gap test for how they are used.

test('valid batches delivered 2-3 times are stored exactly once; replay later is a duplicate', async () => {
  const store = openSqliteStore(dbPath());
  const ing = createIngest({ store, log: quiet, now });
  const outs: Outcome[] = [];
  for (const s of A.slice(0, 4)) for (let k = 0; k < 3; k++) outs.push(await ing.process(alice.topic(), s.message));
  assert.deepEqual(
    outs.map((o) => o.status),
    ['accepted', 'duplicate', 'duplicate', 'accepted', 'duplicate', 'duplicate', 'accepted', 'duplicate', 'duplicate', 'accepted', 'duplicate', 'duplicate'],
  );
  // Replay of seq 1 much later.
  assert.equal((await ing.process(alice.topic(), A[0].message)).status, 'duplicate');
  const st = ing.stats();
  assert.equal(st.received, 13);
  assert.equal(st.accepted, 4);
  assert.equal(st.duplicates, 9);
  assert.equal(st.rejectedTotal, 0);
  assert.equal(st.linksVerified, 3);
  assert.deepEqual(st.lastSeq, { [alice.address]: 4 });
  assert.equal(count(store, 'batches'), 4);
  assert.equal(count(store, 'records'), 8);
  const row = store.db.prepare('SELECT * FROM batches WHERE device = ? AND seq = 2').get(alice.address);
  assert.equal(row.pseq, 1);
  assert.equal(toHex(row.payload_hash), toHex(A[1].hash));
  assert.equal(toHex(row.prev_hash), toHex(A[0].hash));
  assert.equal(toHex(row.raw), toHex(A[1].message));
  assert.equal(row.record_count, 2);
  assert.equal(row.time_base_ms, null);
  assert.deepEqual(JSON.parse(row.health), { queue: 0, dropped: 0 });
  const rec = store.db.prepare('SELECT * FROM records WHERE device = ? AND seq = 2 ORDER BY idx').all(alice.address);
  assert.deepEqual(
    rec.map((r: any) => [r.idx, r.name, r.unit, r.value, r.sum, r.time, r.time_estimated]),
    [
      [0, 'm0/e', 'Wh', null, 1234569, 1764080020, 0],
      [1, 'm0/p', 'W', 1234.5, null, 1764080020, 0],
    ],
  );
  const dev = store.db.prepare('SELECT * FROM devices WHERE address = ?').get(alice.address);
  assert.equal(dev.last_seq, 4);
  assert.equal(dev.public_key, toHex(alice.publicKey));
  store.close();
});

test('rejects: counted per reason, stored, and signed ones (conflict, chain-break) keep the message', async () => {
  const store = openSqliteStore(dbPath());
  const mallory = testDevice(TEST_KEYS.mallory);
  const ing = createIngest({ store, log: quiet, now, registry: registryOf([alice, bob], [bob]) });
  assert.equal((await ing.process(alice.topic(), A[0].message)).status, 'accepted');
  const forged = mallory.sealPayload(A[1].payload, alice.kid);
  const tampered = A[1].message.slice();
  tampered[40] ^= 4;
  const outs = [
    await ing.process(alice.topic(), forged),
    await ing.process(alice.topic(), tampered),
    await ing.process(alice.topic(), A[1].message.subarray(0, 50)),
    await ing.process(bob.topic(), A[1].message),
    await ing.process(bob.topic(), B[0].message),
    await ing.process(mallory.topic(), mallory.next().message),
  ];
  assert.deepEqual(
    outs.map((o) => (o.status === 'rejected' ? o.reason : o.status)),
    ['bad-signature', 'bad-signature', 'malformed', 'topic-mismatch', 'revoked-device', 'unknown-device'],
  );
  // A second, different batch numbered 1, validly signed by alice: conflict.
  const twin = alice.sealPayload(testDevice(TEST_KEYS.alice).next({ up: 9999 }).payload);
  const c = await ing.process(alice.topic(), twin);
  assert.equal(c.status === 'rejected' && c.reason, 'conflict');
  // A validly signed seq 2 whose prev is not the hash of the stored seq 1: chain-break.
  const stray = testDevice(TEST_KEYS.alice);
  stray.next({ up: 5 }); // a different seq 1 in this copy's memory
  const broken = stray.next();
  const cb = await ing.process(alice.topic(), broken.message);
  assert.equal(cb.status === 'rejected' && cb.reason, 'chain-break');
  // The genuine seq 2 still goes in.
  assert.equal((await ing.process(alice.topic(), A[1].message)).status, 'accepted');
  const st = ing.stats();
  assert.equal(st.rejectedTotal, 8);
  assert.deepEqual(
    Object.fromEntries(Object.entries(st.rejected).filter(([, n]) => n > 0)),
    { 'bad-signature': 2, malformed: 1, 'topic-mismatch': 1, 'revoked-device': 1, 'unknown-device': 1, conflict: 1, 'chain-break': 1 },
  );
  const rows = store.db.prepare('SELECT reason, device, seq, topic, raw FROM rejects ORDER BY rowid').all();
  assert.equal(rows.length, 8);
  const conflict = rows.find((r: any) => r.reason === 'conflict');
  assert.equal(conflict.device, alice.address);
  assert.equal(conflict.seq, 1);
  assert.equal(toHex(conflict.raw), toHex(twin));
  assert.equal(toHex(rows.find((r: any) => r.reason === 'chain-break').raw), toHex(broken.message));
  assert.equal(rows.find((r: any) => r.reason === 'malformed').raw, null, 'unsigned rejects keep no bytes');
  assert.equal(count(store, 'batches'), 2);
  // The registry was mirrored into the devices table.
  assert.equal(store.db.prepare('SELECT revoked FROM devices WHERE address = ?').get(bob.address).revoked, 1);
  store.close();
});

test('out of order, gaps explained by drop reports vs unexplained, filled late; persisted in gaps', async () => {
  const store = openSqliteStore(dbPath());
  const ing = createIngest({ store, log: quiet, now, chain: { gapGraceMs: 1000 } });
  const send = (s: Sealed) => ing.process(bob.topic(), s.message);
  // Bob: 1, 2, 5(pseq 2), 6, 7(drop 3..4), 8. Deliver 1, 5, 6, 8, then 2 (out of order).
  await send(B[0]);
  await send(B[2]); // names 2: pending
  await send(B[3]);
  await send(B[5]); // names 7: pending
  assert.equal(ing.stats().pendingLinks, 2);
  const late = await send(B[1]); // 2 arrives: link 2 -> 5 verified
  assert.equal(late.status, 'accepted');
  assert.equal(ing.stats().pendingLinks, 1);
  clock += 2000;
  await ing.flush(); // sweep: 7 is declared, unexplained
  assert.deepEqual(ing.stats().gaps, { explained: 0, unexplained: 1, filledLate: 0 });
  let g = store.db.prepare('SELECT * FROM gaps WHERE device = ?').all(bob.address);
  assert.deepEqual(g.map((r: any) => [r.seq, r.next_seq, r.explained, r.filled_at_ms]), [[7, 8, 0, null]]);
  // 7 arrives late, carrying a drop report for 3..4 (never used as predecessors: no gap rows).
  const r7 = await send(B[4]);
  assert.equal(r7.status, 'accepted');
  assert.deepEqual(ing.stats().gaps, { explained: 0, unexplained: 0, filledLate: 1 });
  g = store.db.prepare('SELECT * FROM gaps WHERE device = ?').all(bob.address);
  assert.deepEqual(g.map((r: any) => [r.seq, r.filled_at_ms]), [[7, clock]]);
  assert.equal(store.db.prepare('SELECT drop_count FROM batches WHERE device = ? AND seq = 7').get(bob.address).drop_count, 2);
  assert.equal(ing.stats().linksVerified, 5);
  store.close();

  // A device that drops batches from its outbox and says so: the gap is explained at once.
  const s2 = openSqliteStore(dbPath());
  const ing2 = createIngest({ store: s2, log: quiet, now, chain: { gapGraceMs: 1000 } });
  const carol = testDevice(TEST_KEYS.carol);
  const c1 = carol.next();
  carol.next(); // 2 and 3 dropped by the device
  carol.next();
  const c4 = carol.next({ drop: { count: 2, firstSeq: 2, lastSeq: 3 } });
  const c5 = carol.next();
  const c6 = carol.next(); // lost in transit
  const c7 = carol.next();
  for (const s of [c1, c4, c5, c7]) assert.equal((await ing2.process(carol.topic(), s.message)).status, 'accepted');
  clock += 2000;
  await ing2.flush();
  assert.deepEqual(ing2.stats().gaps, { explained: 1, unexplained: 1, filledLate: 0 });
  const rows = s2.db.prepare('SELECT seq, next_seq, explained, drop_report_seq FROM gaps ORDER BY seq').all();
  assert.deepEqual(rows.map((r: any) => [r.seq, r.next_seq, r.explained, r.drop_report_seq]), [
    [3, 4, 1, 4],
    [6, 7, 0, null],
  ]);
  void c6;
  s2.close();
});

test('restart: a new process on the same database recognises duplicates and open links', async () => {
  const path = dbPath();
  let store = openSqliteStore(path);
  let ing = createIngest({ store, log: quiet, now, chain: { gapGraceMs: 1000 } });
  await ing.process(alice.topic(), A[0].message);
  await ing.process(alice.topic(), A[1].message);
  await ing.process(alice.topic(), A[3].message); // names 3: pending
  await ing.process(alice.topic(), A[5].message); // names 5: pending
  clock += 2000;
  await ing.flush(); // both declared
  await ing.stop();
  store.close();

  store = openSqliteStore(path);
  ing = createIngest({ store, log: quiet, now, chain: { gapGraceMs: 1000 } });
  assert.equal((await ing.process(alice.topic(), A[1].message)).status, 'duplicate');
  // A different seq 2 (conflict) is still caught after the restart.
  const twin = testDevice(TEST_KEYS.alice);
  twin.next();
  const other2 = twin.next({ up: 4242 });
  const c = await ing.process(alice.topic(), other2.message);
  assert.equal(c.status === 'rejected' && c.reason, 'conflict');
  // 3 arrives: the restored link 3 -> 4 is checked and the declared gap is filled.
  const r = await ing.process(alice.topic(), A[2].message);
  assert.equal(r.status, 'accepted');
  assert.deepEqual((r as { events: { kind: string; seq: number }[] }).events.map((e) => [e.kind, e.seq]), [['filled', 3]]);
  // A forged-in-chain seq 5 (validly signed, wrong hash) is refused against the restored link.
  const fake5 = testDevice(TEST_KEYS.alice);
  for (let i = 0; i < 4; i++) fake5.next({ up: 7 });
  const cb = await ing.process(alice.topic(), fake5.next({ up: 7 }).message);
  assert.equal(cb.status === 'rejected' && cb.reason, 'chain-break');
  assert.deepEqual(ing.stats().gaps, { explained: 0, unexplained: 1, filledLate: 1 });
  assert.equal(count(store, 'batches'), 5);
  assert.equal(count(store, 'gaps WHERE filled_at_ms IS NULL'), 1);
  store.close();
});

test('restart with a small load window: older batches are looked up in the store', async () => {
  const path = dbPath();
  let store = openSqliteStore(path);
  let ing = createIngest({ store, log: quiet, now });
  for (const s of A.slice(0, 6)) await ing.process(alice.topic(), s.message);
  store.close();
  store = openSqliteStore(path);
  ing = createIngest({ store, log: quiet, now, loadRecent: 1, chain: { maxKnownPerDevice: 2 } });
  for (const s of A.slice(0, 6)) assert.equal((await ing.process(alice.topic(), s.message)).status, 'duplicate');
  assert.equal((await ing.process(alice.topic(), A[6].message)).status, 'accepted');
  assert.equal(ing.stats().linksVerified, 1);
  store.close();
});

test('a device forgotten at maxDevices is reloaded from the store with its open link', async () => {
  const store = openSqliteStore(dbPath());
  const ing = createIngest({ store, log: quiet, now, chain: { maxDevices: 1, gapGraceMs: 1000 } });
  await ing.process(alice.topic(), A[0].message);
  await ing.process(alice.topic(), A[2].message); // waits for 2
  await ing.process(bob.topic(), B[0].message); // alice forgotten
  assert.equal(ing.chain.loaded(alice.address), false);
  const fake2 = testDevice(TEST_KEYS.alice);
  fake2.next();
  const cb = await ing.process(alice.topic(), fake2.next({ up: 1 }).message);
  assert.equal(cb.status === 'rejected' && cb.reason, 'chain-break', 'the link 2 -> 3 came back from the store');
  assert.equal((await ing.process(alice.topic(), A[1].message)).status, 'accepted');
  assert.equal((await ing.process(alice.topic(), A[0].message)).status, 'duplicate');
  store.close();
});

test('batched write mode: same rows, committed in groups', async () => {
  const store = openSqliteStore(dbPath());
  const ing = createIngest({ store, log: quiet, now, writeMode: 'batched', batchSize: 3 });
  for (const s of A.slice(0, 4)) await ing.process(alice.topic(), s.message);
  assert.equal(count(store, 'batches'), 3, 'one group of 3 committed, 1 buffered');
  await ing.process(alice.topic(), A[3].message); // duplicate of a buffered one: not stored twice
  await ing.flush();
  assert.equal(count(store, 'batches'), 4);
  assert.equal(ing.stats().duplicates, 1);
  store.close();
});

test('a failed store write is not acknowledged and the redelivery is stored, not taken for a duplicate', async () => {
  const inner = openSqliteStore(dbPath());
  let failNext = true;
  const flaky: Store = {
    ...inner,
    kind: 'flaky',
    write(units) {
      if (failNext && units.some((u) => u.batch)) {
        failNext = false;
        throw new Error('disk full');
      }
      return inner.write(units);
    },
  };
  const logs: string[] = [];
  const ing = createIngest({ store: flaky, log: (l, m) => logs.push(l + ' ' + m), now });
  await assert.rejects(ing.process(alice.topic(), A[0].message), /disk full/);
  assert.equal((await ing.process(alice.topic(), A[0].message)).status, 'accepted');
  assert.equal(count(inner, 'batches'), 1);
  assert.equal(ing.stats().storeErrors, 1);
  assert.ok(logs.some((l) => l.startsWith('error store write')));
  inner.close();
});

test('unsynced batches: times anchored at receipt and marked estimated in the database', async () => {
  const store = openSqliteStore(dbPath());
  const ing = createIngest({ store, log: quiet, now });
  const d = testDevice(TEST_KEYS.carol);
  const s = d.next({ synced: false });
  await ing.process(d.topic(), s.message, 1764099999000);
  const b = store.db.prepare('SELECT synced, time_base_ms, received_at_ms FROM batches').get();
  assert.deepEqual([b.synced, b.time_base_ms, b.received_at_ms], [0, 1764099999000, 1764099999000]);
  const r = store.db.prepare('SELECT time, time_estimated FROM records WHERE idx = 0').get();
  assert.deepEqual([r.time, r.time_estimated], [1764099999 - 5, 1]);
  store.close();
});

test('JSON lines, alone and next to SQLite', async () => {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += chunk;
      cb();
    },
  });
  const sql = openSqliteStore(dbPath());
  const ing = createIngest({ store: teeStore(sql, jsonlStore({ out })), log: quiet, now });
  await ing.process(alice.topic(), A[0].message);
  await ing.process(alice.topic(), A[0].message);
  await ing.process(alice.topic(), A[0].message.subarray(1));
  const lines = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.type), ['batch', 'reject']);
  assert.equal(lines[0].device, alice.address);
  assert.equal(lines[0].seq, 1);
  assert.equal(lines[0].payloadHash, toHex(A[0].hash));
  assert.equal(lines[0].records.length, 2);
  assert.equal(lines[1].reason, 'malformed');
  assert.equal(count(sql, 'batches'), 1);
  sql.close();
  // Alone: duplicates still recognised within the process.
  text = '';
  const ing2 = createIngest({ store: jsonlStore({ out }), log: quiet, now });
  await ing2.process(alice.topic(), A[0].message);
  assert.equal((await ing2.process(alice.topic(), A[0].message)).status, 'duplicate');
  assert.equal(text.trim().split('\n').length, 1);
});

test('log and reject storage are rate limited per reason', async () => {
  const store = openSqliteStore(dbPath());
  const logs: string[] = [];
  let t = 0;
  const ing = createIngest({ store, log: (_l, m) => logs.push(m), now: () => t, logPerReasonPerMin: 2, storeRejectsPerReasonPerMin: 3 });
  for (let i = 0; i < 10; i++) await ing.process(alice.topic(), new Uint8Array([i]));
  assert.equal(logs.filter((l) => l.startsWith('reject malformed')).length, 2);
  assert.equal(count(store, 'rejects'), 3);
  t = 60000;
  await ing.process(alice.topic(), new Uint8Array([1]));
  assert.ok(logs.some((l) => l === 'reject malformed: 8 more in the last minute not logged'), logs.join('\n'));
  assert.equal(ing.stats().rejected.malformed, 11);
  store.close();
});

test('registry file: write, read, add, revoke, validation; ingest reloads it', async () => {
  const path = join(dir, 'registry.json');
  const reg = { devices: [] as any[] };
  const e = addDevice(reg, { publicKey: alice.publicKey, label: 'meter 1' });
  assert.equal(e.address, alice.address);
  addDevice(reg, { publicKey: toHex(bob.publicKey) });
  addDevice(reg, { publicKey: alice.publicKey, label: 'meter 1b' }); // update, not a second entry
  assert.equal(reg.devices.length, 2);
  writeRegistry(path, reg);
  const back = readRegistry(path);
  assert.deepEqual(back.devices.map((d) => [d.address, d.label, d.revoked]), [
    [alice.address, 'meter 1b', false],
    [bob.address, '', false],
  ]);
  // Validation names the entry and the rule.
  assert.throws(() => validateRegistry({ devices: [{ publicKey: toHex(alice.publicKey), address: bob.address }] }), /devices\[0\]\.address.*hashes to/);
  assert.throws(() => validateRegistry({ devices: [{ publicKey: '04ab' }] }), /devices\[0\]\.publicKey: expected 130 hex digits/);
  assert.throws(() => validateRegistry({ devices: [{ publicKey: toHex(alice.publicKey) }, { publicKey: toHex(alice.publicKey) }] }), /listed twice/);
  assert.throws(() => validateRegistry([]), /expected an object/);
  writeFileSync(join(dir, 'bad.json'), '{"devices": [');
  assert.throws(() => readRegistry(join(dir, 'bad.json')), /not JSON/);

  const store = openSqliteStore(dbPath());
  const ing = createIngest({ store, log: quiet, now, registryPath: path });
  assert.equal((await ing.process(alice.topic(), A[0].message)).status, 'accepted');
  revokeDevice(back, alice.address);
  writeRegistry(path, back);
  ing.reloadRegistry();
  const r = await ing.process(alice.topic(), A[1].message);
  assert.equal(r.status === 'rejected' && r.reason, 'revoked-device');
  assert.equal(store.db.prepare('SELECT revoked FROM devices WHERE address = ?').get(alice.address).revoked, 1);
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).devices[0].revoked, true);
  store.close();
});
