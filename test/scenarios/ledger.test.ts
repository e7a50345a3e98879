// The reading ledger (agent-sim/scenario/ledger.ts) on real simulated devices sealing offline in
// virtual time, with deliveries to the verifier made by hand: a clean delivery accounts for every
// reading, and each kind of wrong outcome is caught and named (device and seq): a batch the
// broker acknowledged and never delivered, an outbox that vanished, a batch accepted twice, a
// forged message accepted, records that differ from what was sealed, a genuine message refused.
// Power cuts lose only readings in RAM, counted as such.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SimDevice, deviceSpec, type FleetConfig } from '../../agent-sim/fleet.js';
import { VirtualTime } from '../../agent-sim/platform/virtual-time.js';
import { seededEntropy } from '../../agent-sim/platform/host.js';
import { FleetLedger, readingKey } from '../../agent-sim/scenario/ledger.js';
import { createVerifier, type Verified } from '../../agent-sim/middleware/verify.js';
import { addDevice, type Registry } from '../../agent-sim/middleware/registry.js';
import type { Store, WriteUnit } from '../../agent-sim/middleware/store.js';
import { toHex } from '../../firmware/core/util/bytes.js';
import { createSealJob, deviceAddress } from '../../firmware/core/telemetry/envelope.js';
import { decodeSign1 } from '../../firmware/core/codec/cose.js';

/** A port nothing listens on: devices try, are refused, back off, and keep sealing. */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

async function setup(n = 2, outbox?: { maxEntries: number }) {
  const vt = new VirtualTime({});
  const labels = new Map<string, number>();
  const ledger = new FleetLedger({ indexOf: (d) => labels.get(d.spec.label) ?? -1, now: () => vt.now(), prefix: 'depin' });
  const fleet: FleetConfig = {
    brokerHost: '127.0.0.1',
    brokerPort: await deadPort(),
    prefix: 'depin',
    intervalMs: 60_000,
    batchMaxReadings: 6,
    batchMaxAgeMs: 3_600_000,
    time: vt,
    agent: { broker: { host: '127.0.0.1', port: 1, reconnect: { minMs: 60_000, maxMs: 600_000, factor: 2 } }, outbox },
  };
  const devices: SimDevice[] = [];
  for (let i = 0; i < n; i++) {
    const spec = deviceSpec(i, 1, ['energy', 'air']);
    labels.set(spec.label, i);
    const d = new SimDevice(fleet, spec, { broker: { host: '127.0.0.1', port: fleet.brokerPort }, observer: ledger, entropy: seededEntropy('ledger-' + i), log: () => undefined });
    devices.push(d);
  }
  const reg: Registry = { devices: [] };
  for (const d of devices) addDevice(reg, { publicKey: d.agent.publicKey, label: d.spec.label });
  const verifier = createVerifier({ registry: reg, backend: 'noble' });
  ledger.tapVerifier(verifier);
  const written: WriteUnit[] = [];
  const inner: Store = {
    kind: 'test',
    loadDevice: () => undefined,
    lookupBatch: () => undefined,
    write: (u) => void written.push(...u),
    syncDevices: () => undefined,
    close: () => undefined,
  };
  const store = ledger.observeStore(inner);
  for (const d of devices) d.start();
  const run = (ms: number) => vt.runUntil(vt.now() + ms);
  /** The broker takes a device's queued batches: PUBACK each, hand each to the verifier. */
  const deliver = (d: SimDevice, o: { skip?: (seq: number) => boolean; twice?: boolean } = {}) => {
    const out: Verified[] = [];
    for (const e of d.agent.outbox.peek(d.agent.outbox.depth())) {
      d.agent.outbox.ack(e.id);
      if (o.skip?.(e.seq)) continue;
      const v = verifier.verifyMessage('depin/' + d.agent.addressHex + '/tele', e.bytes, vt.now());
      assert.ok(v.ok, 'a genuine message verifies: ' + (!v.ok && v.detail));
      store.write([{ batch: v }]);
      if (o.twice) store.write([{ batch: v }]);
      out.push(v);
    }
    return out;
  };
  const stop = () => {
    for (const d of devices) if (!d.poweredOff) d.powerCut();
  };
  return { vt, ledger, devices, verifier, store, written, run, deliver, stop };
}

test('clean delivery: every reading produced is verified or still in RAM, and the classes add up', async () => {
  const t = await setup();
  try {
    // 2 h of sealing offline: below the outbox bounds, none dropped.
    await t.run(2 * 3_600_000);
    for (const d of t.devices) t.deliver(d);
    const a = t.ledger.account();
    assert.deepEqual(a.failures, []);
    const R = a.readings;
    assert.equal(R.droppedReported, 0);
    assert.ok(R.produced > 500, 'produced ' + R.produced);
    assert.equal(R.verified + R.queuedOnDevice, R.produced);
    assert.ok(R.queuedOnDevice < 6 * 2, 'at most a batch per device still in RAM: ' + R.queuedOnDevice);
    assert.equal(a.batches.verified, a.batches.sealed);
    assert.equal(a.batches.acked, a.batches.sealed);
    // Each produced reading is in exactly one accepted batch: per device, the sum of record counts.
    let records = 0;
    for (const u of t.written) records += u.batch!.records.length;
    assert.equal(records, R.verified);
  } finally {
    t.stop();
  }
});

test('outbox overflow while offline: dropped batches are accounted as reported by the signed drop reports', async () => {
  const t = await setup(1, { maxEntries: 20 });
  try {
    // 3 h offline: far more batches than the outbox holds (20): the oldest are dropped.
    await t.run(3 * 3_600_000);
    const d = t.devices[0];
    assert.ok(d.agent.outbox.dropped() > 0, 'the outbox dropped batches');
    t.deliver(d);
    const a = t.ledger.account();
    assert.deepEqual(a.failures, []);
    // The newest drop happened while sealing the newest batch: its report waits on the device.
    assert.equal(a.batches.droppedReported + a.batches.dropReportPending, d.agent.outbox.dropped());
    assert.ok(a.batches.droppedReported > 0);
    const R = a.readings;
    assert.ok(R.droppedReported > 0);
    assert.equal(R.verified + R.droppedReported + R.queuedOnDevice, R.produced);
  } finally {
    t.stop();
  }
});

test('a batch the broker acknowledged and never delivered is lost at the broker, named by device and seq', async () => {
  const t = await setup();
  try {
    await t.run(3 * 3_600_000);
    const d = t.devices[1];
    const victim = d.agent.outbox.peek(3)[2].seq;
    t.deliver(t.devices[0]);
    t.deliver(d, { skip: (s) => s === victim });
    const a = t.ledger.account();
    assert.equal(a.batches.lostAtBroker, 1);
    assert.deepEqual(
      a.failures.map((f) => f.kind + ' ' + f.text),
      ['lost-at-broker ' + d.spec.label + ' seq ' + victim + ': acknowledged by the broker, never delivered to the verifier (lost at the broker)'],
    );
    assert.deepEqual(a.lostAtBroker.map((x) => [x.label, x.seq, x.laterAccepted]), [[d.spec.label, victim, true]]);
  } finally {
    t.stop();
  }
});

test('batches that vanish from a device (its outbox wiped) are unaccounted, each named', async () => {
  const t = await setup(1);
  try {
    await t.run(3 * 3_600_000);
    const d = t.devices[0];
    const seqs = d.agent.outbox.peek(d.agent.outbox.depth()).map((e) => e.seq);
    assert.ok(seqs.length >= 3);
    d.powerCut();
    for (const f of d.storage.list('ob')) d.storage.erase(f);
    d.boot();
    d.start();
    await t.run(60_000);
    const a = t.ledger.account();
    assert.equal(a.batches.unaccounted, seqs.length);
    const named = a.failures.filter((f) => f.kind === 'unaccounted').map((f) => Number(/seq (\d+)/.exec(f.text)![1]));
    assert.deepEqual(named, seqs);
    assert.ok(a.failures.every((f) => f.text.startsWith(d.spec.label)));
  } finally {
    t.stop();
  }
});

test('a batch accepted twice (a replay that got through) and records that differ from the sealed ones are failures', async () => {
  const t = await setup(1);
  try {
    await t.run(2 * 3_600_000);
    const d = t.devices[0];
    const entries = d.agent.outbox.peek(2);
    d.agent.outbox.ack(entries[0].id);
    const v = t.verifier.verifyMessage('depin/' + d.agent.addressHex + '/tele', entries[0].bytes, t.vt.now()) as Verified;
    t.store.write([{ batch: v }]);
    t.store.write([{ batch: v }]);
    // The second batch is "stored" with one value changed.
    d.agent.outbox.ack(entries[1].id);
    const w = t.verifier.verifyMessage('depin/' + d.agent.addressHex + '/tele', entries[1].bytes, t.vt.now()) as Verified;
    const r = w.records.find((x) => x.value !== undefined)!;
    r.value = (r.value as number) + 1;
    t.store.write([{ batch: w }]);
    const a = t.ledger.account();
    assert.equal(a.acceptedTwice, 1);
    const kinds = a.failures.map((f) => f.kind).sort();
    assert.ok(kinds.includes('accepted-twice'), kinds.join());
    const content = a.failures.filter((f) => f.kind === 'content');
    assert.equal(content.length, 1);
    assert.match(content[0].text, new RegExp(d.spec.label + ' seq ' + entries[1].seq + ': the stored records'));
  } finally {
    t.stop();
  }
});

test('a forged message accepted by a broken verifier, and a genuine one refused, are failures', async () => {
  const t = await setup(1);
  try {
    await t.run(2 * 3_600_000);
    const d = t.devices[0];
    // A broken verifier's output: an attacker's message (signed by another key) as if verified.
    const e = d.agent.outbox.peek(1)[0];
    const payload = decodeSign1(e.bytes).payload;
    const key = seededEntropy('attacker').randomBytes(32);
    const job = createSealJob(payload, key, deviceAddress(key));
    while (!job.step());
    const forged = job.result();
    t.ledger.registerAttack(forged, 'forged');
    const good = t.verifier.verifyMessage('depin/' + d.agent.addressHex + '/tele', e.bytes, t.vt.now()) as Verified;
    t.store.write([{ batch: { ...good, kid: toHex(deviceAddress(key)), message: forged } }]);
    // A registry that lacks the device: its genuine message is refused.
    const v2 = createVerifier({ registry: { devices: [] }, backend: 'noble' });
    t.ledger.tapVerifier(v2);
    const r = v2.verifyMessage('depin/' + d.agent.addressHex + '/tele', e.bytes, t.vt.now());
    assert.equal(r.ok, false);
    const a = t.ledger.account();
    assert.deepEqual(a.forgedAccepted, { forged: 1 });
    assert.deepEqual(a.genuineRejected, { 'unknown-device': 1 });
    const kinds = new Set(a.failures.map((f) => f.kind));
    assert.ok(kinds.has('forged-accepted') && kinds.has('genuine-rejected'), [...kinds].join());
  } finally {
    t.stop();
  }
});

test('power cuts: readings in RAM are lost and counted, nothing else; the device keeps sealing after boot', async () => {
  const t = await setup(2);
  try {
    await t.run(90 * 60_000);
    const d = t.devices[0];
    const before = t.ledger.of(d).pendingCount();
    assert.ok(before > 0, 'readings wait in RAM at the cut');
    d.powerCut();
    await t.run(5 * 60_000);
    d.boot();
    d.start();
    // And a cut torn inside a flash write.
    await t.run(60 * 60_000);
    d.storage.cutPowerAfter(1);
    await t.run(30 * 60_000);
    assert.ok(d.poweredOff, 'the torn write cut the power');
    d.boot();
    d.start();
    await t.run(60 * 60_000);
    for (const x of t.devices) t.deliver(x);
    const a = t.ledger.account();
    assert.deepEqual(a.failures, []);
    assert.ok(a.readings.lostAtPowerCut >= before, 'lost at cuts ' + a.readings.lostAtPowerCut);
    const R = a.readings;
    assert.equal(R.verified + R.queuedOnDevice + R.lostAtPowerCut, R.produced);
    assert.equal(d.boots, 3);
  } finally {
    t.stop();
  }
});

test('readingKey: name, unit, kind and value; times are not part of it', () => {
  assert.equal(readingKey('m0/e', { u: 'Wh', s: 12 }), 'm0/e|Wh|s12');
  assert.equal(readingKey('m0/sn', { vs: 'X1' }), 'm0/sn||tX1');
  assert.notEqual(readingKey('a', { v: 1 }), readingKey('a', { s: 1 }));
  assert.equal(readingKey('a', { v: 0.1 + 0.2 }), 'a||v' + (0.1 + 0.2));
});
