// Operator commands on a running fleet, and a device whose clock is not synchronised yet.
// Commands are COSE_Sign1 messages (the telemetry envelope) over encodeCommand payloads, signed
// with test keys; acknowledgements are read from .../cmdack with the `mqtt` client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startAedes } from '../harness/brokers.js';
import { startRig, summary, storedBatch } from './rig.js';
import { sleep, until, tempDir } from './helpers.js';
import { testDevice, TEST_KEYS, prng } from '../middleware/fixtures.js';
import { encodeCommand, Agent, type AgentConfig } from '../../firmware/core/session/agent.js';
import type { Source } from '../../firmware/core/sources/source.js';
import { fromHex } from '../../firmware/core/util/bytes.js';
import { createNodeHost, systemClock } from '../../agent-sim/platform/host.js';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { startLinkProxy } from '../../agent-sim/link-proxy.js';
import { createIngest } from '../../agent-sim/middleware/ingest.js';
import { openSqliteStore } from '../../agent-sim/middleware/store-sqlite.js';
import { decodeSign1 } from '../../firmware/core/codec/cose.js';
import { decodePayload } from '../../firmware/core/telemetry/batch.js';
import { toHex } from '../../firmware/core/util/bytes.js';

type Ack = { seq: number; ok: boolean; error: string };

test('operator commands: a signed one changes interval and batch size and is acked; forged, foreign-key, replayed, misaddressed, malformed and out-of-range ones are refused with an error ack; settings survive a reboot', async (t) => {
  const broker = await startAedes();
  const operator = testDevice(TEST_KEYS.carol);
  const mallory = testDevice(TEST_KEYS.mallory);
  const rig = await startRig({ tag: 'cmd', broker, devices: 2, kinds: ['energy'], intervalMs: 500, batchMaxReadings: 6, batchMaxAgeMs: 3000, operators: [operator.address] });
  const ops = await mqtt.connectAsync(broker.url, { clientId: 'operator', reconnectPeriod: 0 });
  t.after(async () => {
    await ops.endAsync();
    await rig.close();
    await broker.close();
  });
  const acks = new Map<string, Ack[]>();
  ops.on('message', (topic, payload) => {
    const l = acks.get(topic) ?? [];
    l.push(JSON.parse(payload.toString()));
    acks.set(topic, l);
  });
  await ops.subscribeAsync('depin/+/cmdack', { qos: 1 });
  rig.start();
  const [A, B] = rig.devices;
  const ackTopic = A.agent.topics.cmdack;
  const addrA = fromHex(A.agent.addressHex);
  const addrB = fromHex(B.agent.addressHex);
  let nAcks = 0;
  /** Publish to A's command topic and wait for the next ack there. */
  async function send(bytes: Uint8Array): Promise<Ack> {
    await ops.publishAsync(A.agent.topics.cmd, Buffer.from(bytes), { qos: 1 });
    nAcks++;
    await until('command ack ' + nAcks, () => (acks.get(ackTopic)?.length ?? 0) >= nAcks, 5000);
    return acks.get(ackTopic)![nAcks - 1];
  }
  /** Readings per second over one second. */
  async function rate(d: typeof A): Promise<number> {
    const r0 = d.agent.stats().readings;
    await sleep(1000);
    return d.agent.stats().readings - r0;
  }
  await until('publishing', () => rig.devices.every((d) => d.agent.stats().acked >= 1), 8000);
  const before = await rate(A);

  // Send it just after a read: the old schedule would read next 500 ms later, the new one
  // within 100 ms of the command.
  const first = operator.sealPayload(encodeCommand(addrA, 1, { batchMaxReadings: 3, 'm0.intervalMs': 100 }));
  const r0 = A.agent.stats().readings;
  await until('a read', () => A.agent.stats().readings > r0, 2000);
  const tRead = Date.now();
  const rRead = A.agent.stats().readings;
  assert.deepEqual(await send(first), { seq: 1, ok: true, error: '' });
  const tAck = Date.now() - tRead;
  await sleep(Math.max(0, 440 - (Date.now() - tRead)));
  const early = A.agent.stats().readings - rRead;
  assert.ok(tAck < 300, 'command round trip ' + tAck + ' ms');
  assert.ok(early >= 3, 'the new interval starts at once, not after the pending 500 ms timer: ' + early + ' readings within 440 ms of the last old read');
  const seqAtAck = A.agent.stats().lastSeq;
  const after = await rate(A);
  assert.ok(before >= 3 && before <= 9, 'three values every 500 ms: ' + before + '/s');
  assert.ok(after >= 3 * before, 'three values every 100 ms: ' + after + '/s (was ' + before + '/s)');

  const refused: [string, Uint8Array, number, RegExp][] = [
    ['signed by a key that is not an operator', mallory.sealPayload(encodeCommand(addrA, 2, { batchMaxReadings: 50 })), 0, /not signed by a configured operator/],
    ['operator kid, another key signed it', mallory.sealPayload(encodeCommand(addrA, 2, { batchMaxReadings: 50 }), fromHex(operator.address)), 0, /signature does not verify/],
    ['replayed (same command seq)', first, 1, /not above the last applied 1 \(replay\)/],
    ['an older seq', operator.sealPayload(encodeCommand(addrA, 1, { batchMaxReadings: 50 })), 1, /replay/],
    ['for another device', operator.sealPayload(encodeCommand(addrB, 2, { batchMaxReadings: 50 })), 0, /for another device/],
    ['malformed', new Uint8Array(40).map(() => Math.floor(prng(3)() * 256)), 0, /./],
    ['out of range', operator.sealPayload(encodeCommand(addrA, 3, { batchMaxReadings: 0 })), 3, /"batchMaxReadings" expected 1\.\.1024, got 0/],
    ['unknown setting, valid one beside it', operator.sealPayload(encodeCommand(addrA, 4, { batchMaxAgeMs: 1000, 'x9.intervalMs': 200 })), 4, /unknown setting "x9\.intervalMs"/],
  ];
  for (const [what, bytes, seq, why] of refused) {
    const ack = await send(bytes);
    assert.equal(ack.ok, false, what + ' was accepted');
    assert.equal(ack.seq, seq, what + ': ack seq');
    assert.match(ack.error, why, what);
  }
  assert.deepEqual([A.agent.stats().commandsApplied, A.agent.stats().commandsRejected], [1, refused.length]);
  // A second command changes another setting; both must survive the reboot.
  assert.deepEqual(await send(operator.sealPayload(encodeCommand(addrA, 5, { batchMaxAgeMs: 2000 }))), { seq: 5, ok: true, error: '' });
  await sleep(500);
  // Batches sealed after the first command carry 3 readings (one read of the meter); B is unchanged.
  const rowsA = rig.store.db.prepare('SELECT seq, record_count FROM batches WHERE device = ? AND seq > ?').all(A.agent.addressHex, seqAtAck + 1) as { seq: number; record_count: number }[];
  assert.ok(rowsA.length >= 5, rowsA.length + ' batches after the command');
  for (const r of rowsA) assert.equal(r.record_count, 3, 'seq ' + r.seq);
  const rowsB = rig.store.db.prepare('SELECT record_count FROM batches WHERE device = ?').all(B.agent.addressHex) as { record_count: number }[];
  for (const r of rowsB) assert.equal(r.record_count, 6);
  assert.equal(B.agent.stats().commandsRejected + B.agent.stats().commandsApplied, 0, 'B saw none of the commands for A');

  // Reboot with the firmware's configured interval: the stored settings must come back from flash.
  A.powerCut();
  A.sources[0].intervalMs = 500;
  rig.bootDevice(A);
  await until('A publishing again', () => A.agent.stats().acked >= 2, 5000);
  assert.equal(A.sources[0].intervalMs, 100, 'source interval restored from flash');
  assert.ok((await rate(A)) >= 3 * before, 'reading at the commanded rate after the reboot');
  const bootSeq = A.agent.stats().lastSeq;
  await until('more batches after the reboot', () => A.agent.stats().lastSeq >= bootSeq + 3, 5000);
  const cfgAfter = (A.agent as unknown as { cfg: AgentConfig }).cfg;
  assert.deepEqual([cfgAfter.batchMaxReadings, cfgAfter.batchMaxAgeMs], [3, 2000], 'both commands\' settings restored');
  assert.equal(storedBatch(rig, A.agent.addressHex, bootSeq)?.readings.length ?? 3, 3);
  const replay = await send(operator.sealPayload(encodeCommand(addrA, 5, { batchMaxReadings: 7 })));
  assert.deepEqual([replay.ok, replay.seq], [false, 5], 'the last applied command seq survives the reboot');
  await rig.finish();
  const a = rig.audit();
  const post = rig.store.db.prepare('SELECT record_count FROM batches WHERE device = ? AND boot = 2').all(A.agent.addressHex) as { record_count: number }[];
  assert.ok(post.length >= 3, post.length + ' batches after the reboot');
  for (const r of post.slice(0, -1)) assert.equal(r.record_count, 3, 'batch size after the reboot');
  t.diagnostic('2 commands applied, ' + refused.length + ' refused, 1 refused after reboot: ' + summary(a));
});

test('unsynced clock: relative times (<= 0) marked estimated; after sync absolute times; health stays sane for batches queued across the sync', async (t) => {
  const { dir, remove } = tempDir('clock');
  const broker = await startAedes();
  const proxy = await startLinkProxy({ targetPort: broker.port });
  const clock = systemClock(false);
  const host = createNodeHost({ storage: new FlashStorage(), clock, log: () => undefined });
  let i = 0;
  const src: Source = { id: 't0', intervalMs: 150, read: (done) => done(undefined, [{ n: 'c', u: 'Cel', v: 20 + (i++ % 10) / 10 }]) };
  const cfg: AgentConfig = {
    prefix: 'depin',
    broker: { host: '127.0.0.1', port: proxy.port, keepAliveS: 1, pingTimeoutMs: 500, connectTimeoutMs: 1000, reconnect: { minMs: 50, maxMs: 300, factor: 2 } },
    batchMaxReadings: 4,
    batchMaxAgeMs: 2000,
    maxPendingReadings: 64,
    publishWindow: 2,
    operators: [],
    firmware: 'test',
    board: 'test',
  };
  const agent = new Agent(host, cfg, [src]);
  const store = openSqliteStore(join(dir, 'v.sqlite'));
  const ingest = createIngest({
    brokerUrl: broker.url,
    store,
    registry: { devices: [{ address: agent.addressHex, publicKey: toHex(agent.publicKey) }] },
    clientId: 'verifier-clock',
    log: () => undefined,
  });
  await ingest.start();
  t.after(async () => {
    agent.stop();
    await ingest.stop();
    store.close();
    await proxy.close();
    await broker.close();
    remove();
  });
  agent.start();
  await until('unsynced batches verified', () => ingest.stats().accepted >= 2, 5000);
  // Queue unsynced batches, then sync while they still wait: the next batch sees an old queue.
  proxy.refuse();
  proxy.drop();
  const queued0 = agent.stats().batches;
  await until('unsynced batches queued', () => agent.stats().batches >= queued0 + 2, 5000);
  clock.setSynced(true);
  const syncedAt = Date.now();
  await until('a synced batch sealed behind them', () => agent.stats().batches >= queued0 + 4, 5000);
  proxy.restore();
  await sleep(600);
  agent.quiesce();
  await until('drained', () => agent.idle() && ingest.stats().accepted === agent.stats().batches, 8000);

  const rows = store.db.prepare('SELECT seq, synced, raw, received_at_ms, time_base_ms, health FROM batches ORDER BY seq').all() as {
    seq: number;
    synced: number;
    raw: Buffer;
    received_at_ms: number;
    time_base_ms: number | null;
    health: string;
  }[];
  const unsynced = rows.filter((r) => r.synced === 0);
  const synced = rows.filter((r) => r.synced === 1);
  assert.ok(unsynced.length >= 4 && synced.length >= 2, unsynced.length + ' unsynced, ' + synced.length + ' synced');
  const recs = store.db.prepare('SELECT seq, time, time_estimated FROM records').all() as { seq: number; time: number; time_estimated: number }[];
  for (const r of unsynced) {
    const b = decodePayload(decodeSign1(new Uint8Array(r.raw)).payload);
    assert.equal(b.synced, false);
    for (const x of b.readings) assert.ok(x.t <= 0, 'seq ' + r.seq + ': relative time ' + x.t);
    assert.equal(r.time_base_ms, r.received_at_ms, 'anchored at receipt');
    for (const x of recs.filter((y) => y.seq === r.seq)) {
      assert.equal(x.time_estimated, 1);
      assert.ok(x.time <= r.received_at_ms / 1000 && x.time > r.received_at_ms / 1000 - 60, 'estimated time ' + x.time + ' vs receipt ' + r.received_at_ms);
    }
  }
  for (const r of synced) {
    const b = decodePayload(decodeSign1(new Uint8Array(r.raw)).payload);
    for (const x of b.readings) assert.ok(Math.abs(x.t - syncedAt / 1000) < 30, 'seq ' + r.seq + ': absolute time ' + x.t);
    for (const x of recs.filter((y) => y.seq === r.seq)) assert.equal(x.time_estimated, 0);
  }
  // Health key 2 (oldest unsent batch, seconds): a queue of batches made before the sync has no
  // wall time; it must not be reported as decades old.
  for (const r of rows) {
    const h = JSON.parse(r.health) as { oldestS?: number; queue?: number };
    assert.ok(h.oldestS === undefined || h.oldestS < 60, 'seq ' + r.seq + ' health.oldestS = ' + h.oldestS);
  }
  const st = ingest.stats();
  assert.deepEqual([st.rejectedTotal, st.gaps.unexplained, st.linksVerified], [0, 0, rows.length - 1]);
  t.diagnostic(unsynced.length + ' unsynced batches (relative times, estimated), ' + synced.length + ' synced; links verified ' + st.linksVerified);
});
