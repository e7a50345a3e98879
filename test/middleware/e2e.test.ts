// End to end through a real broker: aedes in process, sealed messages published with the `mqtt`
// package at QoS 1, the ingest subscribed to depin/+/tele writing a temp SQLite file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startAedes } from '../harness/brokers.js';
import { createIngest, type Ingest } from '../../agent-sim/middleware/ingest.js';
import { openSqliteStore } from '../../agent-sim/middleware/store-sqlite.js';
import { testDevice, registryOf, TEST_KEYS } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'mw-e2e-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('aedes -> mqtt -> ingest -> SQLite: accepted once, duplicates and rejects counted, offline messages delivered', async () => {
  const broker = await startAedes();
  const alice = testDevice(TEST_KEYS.alice);
  const bob = testDevice(TEST_KEYS.bob);
  const a = [alice.next(), alice.next(), alice.next(), alice.next(), alice.next()];
  const b = [bob.next(), bob.next()];
  const path = join(dir, 'e2e.sqlite');
  const store = openSqliteStore(path);
  const logs: string[] = [];
  const opts = {
    brokerUrl: broker.url,
    store,
    registry: registryOf([alice, bob]),
    clientId: 'verifier-e2e',
    log: (_l: string, m: string) => logs.push(m),
    sweepMs: 50,
    chain: { gapGraceMs: 100 },
  };
  let ing: Ingest = createIngest(opts);
  const pub = await mqtt.connectAsync(broker.url, { clientId: 'device-pub', reconnectPeriod: 0 });
  try {
    await ing.start();
    const send = (topic: string, m: Uint8Array) => pub.publishAsync(topic, Buffer.from(m), { qos: 1 });
    await send(alice.topic(), a[0].message);
    await send(alice.topic(), a[1].message);
    await send(alice.topic(), a[1].message); // redelivery
    await send(alice.topic(), a[3].message); // 3 missing: link pending
    await send(bob.topic(), b[0].message);
    await send(bob.topic(), a[2].message); // alice's batch on bob's topic
    const flipped = b[1].message.slice();
    flipped[flipped.length - 1] ^= 1;
    await send(bob.topic(), flipped);
    await send('depin/nothex/tele', b[1].message);
    await until('8 messages', () => ing.stats().received === 8);
    await until('the gap sweep', () => ing.stats().gaps.unexplained === 1);
    let st = ing.stats();
    assert.equal(st.accepted, 4);
    assert.equal(st.duplicates, 1);
    assert.equal(st.rejected['topic-mismatch'], 2);
    assert.equal(st.rejected['bad-signature'], 1);
    assert.equal(st.connected, true);
    assert.deepEqual(st.lastSeq, { [alice.address]: 4, [bob.address]: 1 });

    // The verifier goes away; the broker keeps its QoS 1 messages for the persistent session.
    await ing.stop();
    await send(alice.topic(), a[2].message); // fills the gap
    await send(alice.topic(), a[4].message);
    await send(bob.topic(), b[1].message);
    ing = createIngest(opts);
    await ing.start();
    await until('3 queued messages', () => ing.stats().received === 3);
    st = ing.stats();
    assert.equal(st.accepted, 3);
    assert.equal(st.gaps.filledLate, 1, 'the gap declared before the restart was filled');
    await ing.stop();

    const db = store.db;
    const rows = db.prepare('SELECT device, seq FROM batches ORDER BY device, seq').all();
    const byDev = (d: string) => rows.filter((r: any) => r.device === d).map((r: any) => r.seq);
    assert.deepEqual(byDev(alice.address), [1, 2, 3, 4, 5]);
    assert.deepEqual(byDev(bob.address), [1, 2]);
    assert.equal(db.prepare('SELECT COUNT(*) AS n FROM records').get().n, 14);
    assert.deepEqual(
      db.prepare('SELECT reason, COUNT(*) AS n FROM rejects GROUP BY reason ORDER BY reason').all().map((r: any) => [r.reason, r.n]),
      [
        ['bad-signature', 1],
        ['topic-mismatch', 2],
      ],
    );
    const gap = db.prepare('SELECT device, seq, next_seq, explained, filled_at_ms FROM gaps').all();
    assert.equal(gap.length, 1);
    assert.deepEqual([gap[0].device, gap[0].seq, gap[0].next_seq, gap[0].explained], [alice.address, 3, 4, 0]);
    assert.ok(gap[0].filled_at_ms > 0);
    assert.ok(logs.some((l) => l.startsWith('subscribed to depin/+/tele (QoS 1)')));
  } finally {
    await ing.stop();
    await pub.endAsync();
    await broker.close();
    store.close();
  }
});

test('start() fails clearly when no broker answers', async () => {
  const store = openSqliteStore(':memory:');
  const ing = createIngest({ brokerUrl: 'mqtt://127.0.0.1:1', store, log: () => undefined, connectTimeoutMs: 300 });
  await assert.rejects(ing.start(), /no subscription to depin\/\+\/tele within 300 ms/);
  await ing.stop();
  // stop() while start() still waits: start() rejects at once instead of at the timeout.
  const ing2 = createIngest({ brokerUrl: 'mqtt://127.0.0.1:1', store, log: () => undefined, connectTimeoutMs: 60000 });
  const t0 = Date.now();
  const p = ing2.start();
  await ing2.stop();
  await assert.rejects(p, /stopped before the subscription/);
  assert.ok(Date.now() - t0 < 5000);
  store.close();
});
