// End to end over a misbehaving link: devices reach a real broker (aedes) through the link proxy,
// the verifier connects directly and writes SQLite. Claims are checked from the database by
// rig.audit() (see rig.ts); each test adds what its fault must have caused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAedes } from '../harness/brokers.js';
import { startRig, summary } from './rig.js';
import { sleep, until } from './helpers.js';

test('link black-holed longer than keep-alive, then restored: dead link detected, reconnect, resend; nothing lost, duplicates stored once', async (t) => {
  const broker = await startAedes();
  const rig = await startRig({ tag: 'hole', broker, proxy: true, devices: 3 });
  t.after(async () => {
    await rig.close();
    await broker.close();
  });
  // 150 ms each way: PUBACKs are still on their way when the link goes silent.
  rig.proxy!.setLatency(150);
  rig.start();
  await until('every device published', () => rig.devices.every((d) => d.agent.stats().acked >= 2), 8000);
  await until('batches in flight', () => rig.devices.some((d) => d.agent.stats().mqtt.inflight > 0), 3000);
  const before = rig.devices.map((d) => ({ ...d.agent.stats().mqtt.disconnects }));
  const sealedBefore = rig.devices.map((d) => d.agent.stats().batches);
  const inflight = rig.devices.reduce((n, d) => n + d.agent.stats().mqtt.inflight, 0);
  rig.proxy!.blackhole();
  // keepAliveS 1 + pingTimeoutMs 500: a silent link is declared dead within ~1.5 s.
  await sleep(2500);
  for (const [i, d] of rig.devices.entries()) {
    const s = d.agent.stats();
    assert.ok(s.mqtt.disconnects.keepalive_timeout > before[i].keepalive_timeout, d.spec.label + ' noticed the dead link by keep-alive');
    assert.notEqual(s.state, 'CONNECTED');
    assert.ok(s.batches > sealedBefore[i], d.spec.label + ' kept sealing while the link was dead');
    assert.ok(s.queue > 0, d.spec.label + ' queued batches on flash');
  }
  rig.proxy!.restore();
  rig.proxy!.setLatency(0);
  await until('all reconnected', () => rig.devices.every((d) => d.agent.stats().state === 'CONNECTED'), 5000);
  await sleep(500);
  await rig.finish();
  const a = rig.audit();
  for (const x of a) assert.ok(x.stored >= 10, x.label + ' stored ' + x.stored);
  for (const d of rig.devices) assert.ok(d.agent.stats().mqtt.reconnects >= 1, d.spec.label + ' reconnected');
  t.diagnostic('black hole 2.5 s, ' + inflight + ' batches in flight when it opened: ' + summary(a) + ' | proxy ' + JSON.stringify(rig.proxy!.stats()));
});

test('link reset (RST both ways) twice mid-run: reconnect and resend; nothing lost', async (t) => {
  const broker = await startAedes();
  const rig = await startRig({ tag: 'reset', broker, proxy: true, devices: 2 });
  t.after(async () => {
    await rig.close();
    await broker.close();
  });
  rig.start();
  for (let k = 0; k < 2; k++) {
    await until('publishing', () => rig.devices.every((d) => d.agent.stats().acked >= 2 * (k + 1)), 8000);
    assert.ok(rig.proxy!.drop() >= 2, 'links reset');
  }
  await rig.finish();
  const a = rig.audit();
  for (const d of rig.devices) assert.ok(d.agent.stats().mqtt.disconnects.socket_closed + d.agent.stats().mqtt.disconnects.socket_error >= 2, d.spec.label + ' saw both resets');
  t.diagnostic('2 resets: ' + summary(a));
});

test('outbox overflow while the broker is unreachable: oldest dropped, signed drop report, gaps explained, none unexplained', async (t) => {
  const broker = await startAedes();
  const maxEntries = 5;
  const rig = await startRig({ tag: 'overflow', broker, proxy: true, devices: 2, agent: { outbox: { maxEntries } } });
  t.after(async () => {
    await rig.close();
    await broker.close();
  });
  rig.start();
  await until('publishing', () => rig.devices.every((d) => d.agent.stats().acked >= 3), 8000);
  // Unreachable: open links reset, new ones refused.
  rig.proxy!.refuse();
  rig.proxy!.drop();
  await until('every outbox overflowed', () => rig.devices.every((d) => d.agent.outbox.dropped() >= 6), 8000);
  for (const d of rig.devices) {
    assert.equal(d.agent.outbox.depth(), maxEntries, 'the outbox holds exactly its bound');
    assert.ok(d.agent.outbox.dropReport(), 'a drop report is pending');
  }
  rig.proxy!.restore();
  await sleep(800);
  await rig.finish();
  const a = rig.audit();
  for (const x of a) {
    assert.ok(x.droppedByDevice >= 6, x.label + ' dropped ' + x.droppedByDevice);
    assert.ok(x.explainedGaps >= 1, x.label + ': its loss shows as explained gaps');
    // Each dropped batch is either gone (sealed, not stored) or was already in the MQTT client's
    // window when dropped and reached the broker anyway.
    assert.equal(x.droppedByDevice, x.sealed - x.stored + x.droppedButDelivered, x.label + ': dropped batches accounted one by one');
    const reports = rig.store.db.prepare('SELECT COUNT(*) AS n FROM batches WHERE device = ? AND drop_count IS NOT NULL').get(x.address) as { n: number };
    assert.ok(reports.n >= 1, x.label + ': a signed drop report was stored');
  }
  const st = rig.ingest.stats();
  assert.ok(st.gaps.explained >= 2, 'explained gaps ' + st.gaps.explained);
  assert.equal(st.gaps.unexplained, 0);
  t.diagnostic('overflow (maxEntries ' + maxEntries + '): ' + summary(a) + ' | verifier gaps ' + JSON.stringify(st.gaps));
});
