// Unit tests of the agent loop (firmware/core/session/agent.ts) on a virtual device: virtual
// time, in-memory flash with power-cut injection, a broker faked at the MQTT packet level
// (test/agent/fake.ts). Every bound is driven to its limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualDevice, countingSource, baseConfig, scriptedEntropy } from './fake.js';
import { Agent, type AgentConfig } from '../../firmware/core/session/agent.js';
import type { Source, SourceValue } from '../../firmware/core/sources/source.js';
import { decodeSign1 } from '../../firmware/core/codec/cose.js';
import { decodePayload, type Batch } from '../../firmware/core/telemetry/batch.js';
import { deviceAddress, payloadHash } from '../../firmware/core/telemetry/envelope.js';
import { getPublicKey } from '../../firmware/core/crypto/secp256k1/index.js';
import { StateLog } from '../../firmware/core/session/flash-log.js';
import { toHex } from '../../firmware/core/util/bytes.js';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { createIngest } from '../../agent-sim/middleware/ingest.js';
import { openSqliteStore } from '../../agent-sim/middleware/store-sqlite.js';

function batches(dev: VirtualDevice): (Batch & { at: number; message: Uint8Array })[] {
  return dev.broker.tele().map((p) => ({ ...decodePayload(decodeSign1(p.payload).payload), at: p.at, message: p.payload }));
}
/** Distinct batches by seq (resends collapse). */
function uniq<T extends { seq: number }>(bs: T[]): T[] {
  const m = new Map<number, T>();
  for (const b of bs) if (!m.has(b.seq)) m.set(b.seq, b);
  return [...m.values()].sort((a, b) => a.seq - b.seq);
}
const one = (n: number): SourceValue[] => [{ n: 'v', v: n }];

// ---------------------------------------------------------------------------------------------
// Bounds

test('maxPendingReadings: at the bound nothing is dropped; beyond it the oldest go and are counted', () => {
  const dev = new VirtualDevice();
  const src = countingSource('s', 100, one);
  dev.boot(baseConfig({ maxPendingReadings: 5, batchMaxReadings: 10, batchMaxAgeMs: 86400000 }), [src]).start();
  dev.advance(450); // reads at 0, 100, ..., 400
  assert.deepEqual([dev.agent.stats().readings, dev.agent.stats().readingsDropped], [5, 0]);
  dev.advance(100);
  assert.deepEqual([dev.agent.stats().readings, dev.agent.stats().readingsDropped], [6, 1]);
  dev.advance(600); // 12 reads in all
  assert.deepEqual([dev.agent.stats().readings, dev.agent.stats().readingsDropped], [12, 7]);
  assert.equal(batches(dev).length, 0, 'neither bound for sealing was reached');
  dev.agent.flush();
  dev.runUntil('the batch', () => batches(dev).length === 1);
  assert.deepEqual(batches(dev)[0].readings.map((r) => r.v).sort((a, b) => a! - b!), [7, 8, 9, 10, 11], 'the newest five were kept');
});

test('batchMaxReadings: a batch is sealed when N readings wait, never with more than N', () => {
  const dev = new VirtualDevice();
  const src = countingSource('s', 100, one);
  dev.boot(baseConfig({ batchMaxReadings: 4, batchMaxAgeMs: 86400000 }), [src]).start();
  dev.advance(250); // 3 reads
  assert.equal(dev.agent.stats().batches + (batches(dev).length ? 1 : 0), 0);
  dev.advance(100); // the 4th
  dev.runUntil('first batch', () => batches(dev).length === 1, 100, 1);
  assert.deepEqual(batches(dev)[0].readings.map((r) => r.v), [0, 1, 2, 3]);
  // Three values per read: pending goes 3, 6 -> seal 4 (2 left), 5 -> 4 (1), 4 -> 4 (0), ...
  const dev2 = new VirtualDevice();
  const src2 = countingSource('m', 100, (n) => [{ n: 'a', v: n }, { n: 'b', v: n }, { n: 'c', v: n }]);
  dev2.boot(baseConfig({ batchMaxReadings: 4, batchMaxAgeMs: 86400000 }), [src2]).start();
  dev2.advance(2000);
  const sizes = batches(dev2).map((b) => b.readings.length);
  assert.ok(sizes.length >= 10, sizes.length + ' batches');
  assert.ok(sizes.every((n) => n === 4), 'sizes ' + sizes.join(','));
  assert.equal(dev2.agent.stats().readingsDropped, 0);
});

test('batchMaxAgeMs: sealed once the oldest waiting reading is that old, within one age tick', () => {
  for (const age of [2500, 300]) {
    const dev = new VirtualDevice();
    const src = countingSource('s', 1000, one);
    dev.boot(baseConfig({ batchMaxReadings: 100, batchMaxAgeMs: age }), [src]).start();
    dev.advance(age - 1);
    assert.equal(batches(dev).length, 0, age + ': not before the age');
    const tick = Math.min(age, 1000);
    dev.runUntil('sealed by age', () => batches(dev).length === 1, tick + 10, 1);
    const b = batches(dev)[0];
    assert.ok(b.at >= age && b.at <= age + tick, age + ': sealed at ' + b.at);
    assert.equal(b.readings[0].v, 0, 'the oldest reading is in it');
    assert.ok(b.readings.length >= 1 && b.readings.length <= Math.floor(b.at / 1000) + 1, b.readings.length + ' readings');
  }
});

test('publishWindow: never more batches handed to the MQTT client than the window; each PUBACK lets one more go', () => {
  const dev = new VirtualDevice();
  const window = 3;
  const src = countingSource('s', 100, one);
  dev.boot(baseConfig({ batchMaxReadings: 1, publishWindow: window }), [src]);
  const client = dev.agent.client;
  let outstanding = 0;
  let maxOutstanding = 0;
  const publish = client.publish.bind(client);
  client.publish = (topic, payload, opts, done) => {
    if (!topic.endsWith('/tele')) return publish(topic, payload, opts, done);
    outstanding++;
    maxOutstanding = Math.max(maxOutstanding, outstanding);
    assert.ok(outstanding <= window, 'handed ' + outstanding + ' with a window of ' + window);
    return publish(topic, payload, opts, (h) => {
      outstanding--;
      done?.(h);
    });
  };
  dev.broker.holdAcks = true;
  dev.agent.start();
  dev.advance(2000);
  assert.ok(dev.agent.stats().batches >= 15, 'batches kept being sealed: ' + dev.agent.stats().batches);
  assert.equal(dev.broker.tele().length, window, 'the broker saw exactly the window');
  assert.equal(maxOutstanding, window);
  assert.equal(dev.agent.outbox.depth(), dev.agent.stats().batches, 'the rest waits on flash');
  dev.agent.quiesce();
  dev.advance(100);
  let seen = dev.broker.tele().length;
  while (dev.agent.outbox.depth() > 0) {
    dev.broker.releaseAcks(1);
    dev.advance(20);
    const now = dev.broker.tele().length;
    assert.ok(now - seen <= 1, 'one PUBACK released at most one more batch');
    seen = now;
    assert.ok(client.stats.queued <= window + 4, 'client queue bound');
  }
  assert.equal(uniq(batches(dev)).length, dev.agent.stats().batches);
  assert.equal(maxOutstanding, window);
});

// ---------------------------------------------------------------------------------------------
// Sources that misbehave

test('sources that throw, fail, never answer, answer twice or report unencodable values: skipped and counted, the loop goes on', () => {
  const dev = new VirtualDevice();
  const good = countingSource('ok', 100, one);
  const thrower: Source = { id: 'th', intervalMs: 100, read: () => { throw new Error('boom'); } };
  const failer: Source = { id: 'fl', intervalMs: 100, read: (done) => done(new Error('bus error')) };
  const silent: Source & { reads: number } = { id: 'si', intervalMs: 100, reads: 0, read: () => void silent.reads++ };
  let twice = 0;
  const doubler: Source = {
    id: 'db',
    intervalMs: 100,
    read: (done) => {
      done(undefined, [{ n: 'x', v: twice }]);
      done(undefined, [{ n: 'x', v: 1000 + twice++ }]);
    },
  };
  let k = 0;
  const nan: Source = { id: 'nn', intervalMs: 100, read: (done) => done(undefined, [{ n: 'x', v: k++ % 2 ? NaN : 1 }]) };
  dev.boot(baseConfig({ batchMaxReadings: 8 }), [good, thrower, failer, silent, doubler, nan]).start();
  dev.advance(1950); // 20 rounds
  const s = dev.agent.stats();
  assert.equal(good.reads, 20);
  assert.equal(s.sourceErrors, 40, 'throws and failures');
  assert.equal(silent.reads, 1, 'a read that never answered is not stacked');
  assert.equal(s.readsSkipped, 19, 'its later due reads are counted as skipped');
  assert.equal(s.readingsDropped, 10, 'the NaN readings, and only those');
  assert.ok(dev.logs.some((l) => l.level === 'warn' && /th threw: boom/.test(l.msg)), 'the throw is logged');
  dev.agent.quiesce();
  dev.runUntil('drained', () => dev.agent.idle(), 5000);
  const recs = uniq(batches(dev)).flatMap((b) => b.readings);
  assert.equal(recs.filter((r) => r.n === 'ok/v').length, 20, 'every reading of the good source arrived');
  assert.deepEqual(recs.filter((r) => r.n === 'db/x').map((r) => r.v).sort((a, b) => a! - b!), [...Array(20).keys()], 'first answer only');
  assert.equal(recs.filter((r) => r.n === 'nn/x').length, 10);
  assert.deepEqual(dev.uncaught, []);
});

// ---------------------------------------------------------------------------------------------
// Configuration

test('config validation names the field, the rule and what came; limits are accepted', () => {
  const src = (id: string, intervalMs = 1000): Source => ({ id, intervalMs, read: (d) => d(undefined, []) });
  const make = (over: Partial<AgentConfig>, sources: Source[] = [src('m0')]) => new Agent(new VirtualDevice().host(), baseConfig(over), sources);
  const bad: [string, Partial<AgentConfig>, Source[] | undefined, RegExp][] = [
    ['prefix with a trailing /', { prefix: 'depin/' }, undefined, /"prefix" expected topic levels .*, got "depin\/"/],
    ['prefix with a space', { prefix: 'de pin' }, undefined, /"prefix" expected/],
    ['prefix with a wildcard', { prefix: 'depin/#' }, undefined, /"prefix" expected/],
    ['operator of 39 digits', { operators: ['a'.repeat(39)] }, undefined, /"operators\[0\]" expected 40 lowercase hex digits, got "a{39}"/],
    ['operator in upper case', { operators: ['b'.repeat(40), 'A'.repeat(40)] }, undefined, /"operators\[1\]" expected 40 lowercase hex digits/],
    ['operator not hex', { operators: ['g'.repeat(40)] }, undefined, /"operators\[0\]"/],
    ['operators not a list', { operators: 'abc' as unknown as string[] }, undefined, /"operators" expected an array/],
    ['duplicate source id', {}, [src('m0'), src('m1'), src('m0')], /sources\[2\]\.id "m0" is used twice/],
    ['source id with a slash', {}, [src('m/0')], /sources\[0\]\.id expected letters, digits, _ or -/],
    ['intervalMs below range', {}, [src('m0', 99)], /"sources\[0\]\.intervalMs" expected 100\.\.86400000, got 99/],
    ['intervalMs above range', {}, [src('m0'), src('m1', 86400001)], /"sources\[1\]\.intervalMs" expected 100\.\.86400000, got 86400001/],
    ['intervalMs not an integer', {}, [src('m0', 150.5)], /"sources\[0\]\.intervalMs" expected an integer, got 150\.5/],
    ['batchMaxReadings 0', { batchMaxReadings: 0 }, undefined, /"batchMaxReadings" expected 1\.\.1024, got 0/],
    ['batchMaxReadings 1025', { batchMaxReadings: 1025 }, undefined, /"batchMaxReadings" expected 1\.\.1024, got 1025/],
    ['publishWindow 0', { publishWindow: 0 }, undefined, /"publishWindow" expected 1\.\.64, got 0/],
    ['publishWindow 65', { publishWindow: 65 }, undefined, /"publishWindow" expected 1\.\.64, got 65/],
    ['maxPendingReadings 0', { maxPendingReadings: 0 }, undefined, /"maxPendingReadings" expected 1\.\.65536, got 0/],
    ['batchMaxAgeMs 0', { batchMaxAgeMs: 0 }, undefined, /"batchMaxAgeMs" expected 1\.\.86400000, got 0/],
  ];
  for (const [what, over, sources, re] of bad) assert.throws(() => make(over, sources), re, what);
  // At the limits: accepted.
  make({ prefix: 'a/b-c_9', operators: ['0123456789abcdef0123456789abcdef01234567'], batchMaxReadings: 1024, publishWindow: 64, maxPendingReadings: 65536 }, [src('a', 100), src('b', 86400000)]);
  make({ batchMaxReadings: 1, publishWindow: 1, maxPendingReadings: 1, batchMaxAgeMs: 1 }, []);
});

// ---------------------------------------------------------------------------------------------
// Keys

test('a key file holding garbage is refused, not replaced; an impossible entropy source fails loudly', () => {
  for (const junk of [new Uint8Array(31).fill(7), new Uint8Array(32), new Uint8Array(32).fill(0xff), new Uint8Array(33).fill(1)]) {
    const storage = new FlashStorage();
    storage.write('key', junk);
    const dev = new VirtualDevice({ storage });
    assert.throws(() => dev.boot(baseConfig(), []), /Storage file "key" holds no valid key; refusing to replace it/);
    assert.deepEqual(storage.read('key'), junk, 'the file is untouched');
  }
  const dev = new VirtualDevice({ entropy: { randomBytes: (n) => new Uint8Array(n) } });
  assert.throws(() => dev.boot(baseConfig(), []), /entropy source gave no valid private key in 8 tries/);
  assert.equal(dev.storage.read('key'), undefined);
});

test('a new device makes its key from host entropy (skipping invalid candidates), keeps it, and never publishes it', () => {
  const key = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 255);
  const entropy = scriptedEntropy([new Uint8Array(32), new Uint8Array(32).fill(0xff), key]);
  const operatorKey = new Uint8Array(32).fill(3);
  const dev = new VirtualDevice({ entropy });
  dev.boot(baseConfig({ batchMaxReadings: 2, operators: [toHex(deviceAddress(operatorKey))] }), [countingSource('s', 100, one)]);
  assert.deepEqual(dev.storage.read('key'), key, 'the third candidate, the first valid one, is stored');
  assert.equal(dev.agent.addressHex, toHex(deviceAddress(key)));
  dev.agent.start();
  dev.advance(1500);
  // A command (garbage) makes the agent publish on .../cmdack too.
  dev.broker.deliver(dev.agent.topics.cmd, new Uint8Array([1, 2, 3]), 7);
  dev.advance(100);
  // Same identity after a reboot.
  dev.boot(baseConfig({ batchMaxReadings: 2 }), [countingSource('s', 100, one)]).start();
  dev.advance(1000);
  assert.equal(dev.agent.addressHex, toHex(deviceAddress(key)));
  const topics = new Set(dev.broker.published.map((p) => p.topic.split('/').pop()));
  assert.deepEqual([...topics].sort(), ['cmdack', 'meta', 'status', 'tele']);
  const all = Buffer.concat(dev.broker.wire);
  assert.ok(all.length > 3000, all.length + ' bytes sent');
  for (const needle of [Buffer.from(key), Buffer.from(toHex(key)), Buffer.from(toHex(key).toUpperCase()), Buffer.from(key).toString('base64')])
    assert.equal(all.indexOf(needle), -1, 'the private key appears in what the device sent');
  // The scan would see a key: the public key is in the birth record.
  assert.ok(all.indexOf(Buffer.from(toHex(getPublicKey(key, false)))) >= 0, 'positive control: the public key is in .../meta');
});

// ---------------------------------------------------------------------------------------------
// Chain head at boot

/** Feeds every message the device published into a fresh verifier; returns its stats. */
async function verifyAll(dev: VirtualDevice) {
  const store = openSqliteStore(':memory:');
  const ing = createIngest({ store, registry: { devices: [{ address: dev.agent.addressHex, publicKey: toHex(dev.agent.publicKey) }] }, log: () => undefined });
  for (const p of dev.broker.tele()) await ing.process(p.topic, p.payload);
  await ing.flush();
  const st = ing.stats();
  store.close();
  return st;
}

test('chain head heals at boot: pushed into the outbox but head not saved -> the next batch still links to it', async () => {
  for (const torn of [0, 9]) {
    const dev = new VirtualDevice();
    const cfg = baseConfig({ batchMaxReadings: 2 });
    dev.boot(cfg, [countingSource('s', 100, one)]).start();
    dev.runUntil('two batches acked', () => dev.agent.stats().acked >= 2);
    // Tear the write that follows the next outbox entry frame: the chain head save.
    const write = dev.storage.write.bind(dev.storage);
    let armed = true;
    let pushedSeq = 0;
    dev.storage.write = (name, data, off, size) => {
      if (armed && name.startsWith('chn')) {
        armed = false;
        pushedSeq = dev.agent.outbox.peek(dev.agent.outbox.depth()).pop()!.seq;
        dev.storage.cutPowerAfter(1, { tornBytes: torn });
      }
      write(name, data, off, size);
    };
    dev.runUntil('the power cut', () => dev.poweredOff, 5000, 1);
    dev.storage.write = write;
    assert.ok(pushedSeq > 2, 'pushed seq ' + pushedSeq);
    const saved = new StateLog(dev.storage, 'chn', 512, 0xc7).load()!;
    const savedSeq = (saved[0] << 24) | (saved[1] << 16) | (saved[2] << 8) | saved[3];
    assert.ok(savedSeq < pushedSeq, 'torn ' + torn + ': the saved head (' + savedSeq + ') is older than the batch in the outbox (' + pushedSeq + ')');
    const inOutbox = dev.agent.outbox.peek(dev.agent.outbox.depth()).find((e) => e.seq === pushedSeq)!;
    const pushedHash = payloadHash(decodeSign1(inOutbox.bytes).payload);

    dev.boot(cfg, [countingSource('s', 100, one)]).start();
    dev.runUntil('boot 2 sealed a batch', () => uniq(batches(dev)).some((b) => b.boot === 2));
    const next = uniq(batches(dev)).find((b) => b.boot === 2)!;
    assert.equal(next.pseq, pushedSeq, 'torn ' + torn + ': links to the batch that was pushed, not to the saved head');
    assert.deepEqual(next.prev, pushedHash);
    assert.ok(uniq(batches(dev)).some((b) => b.seq === pushedSeq), 'and that batch was sent from the outbox');
    dev.agent.quiesce();
    dev.runUntil('drained', () => dev.agent.idle());
    const st = await verifyAll(dev);
    assert.deepEqual([st.rejectedTotal, st.gaps.unexplained, st.pendingLinks], [0, 0, 0]);
    assert.equal(st.linksVerified, st.accepted - 1, 'every batch links to its predecessor');
  }
});

test('a power cut tearing the outbox entry frame loses that batch and its seq; the next batch links to the one before, no gap', async () => {
  const dev = new VirtualDevice();
  const cfg = baseConfig({ batchMaxReadings: 2 });
  dev.boot(cfg, [countingSource('s', 100, one)]).start();
  dev.runUntil('two batches acked', () => dev.agent.stats().acked >= 2);
  const lastSeq = dev.agent.stats().lastSeq;
  const write = dev.storage.write.bind(dev.storage);
  let armed = true;
  dev.storage.write = (name, data, off, size) => {
    if (armed && name.startsWith('obs') && off !== undefined && off > 0 && data.length > 100) {
      armed = false;
      dev.storage.cutPowerAfter(1, { tornBytes: 50 });
    }
    write(name, data, off, size);
  };
  dev.runUntil('the power cut', () => dev.poweredOff, 5000, 1);
  dev.storage.write = write;
  dev.boot(cfg, [countingSource('s', 100, one)]).start();
  dev.runUntil('boot 2 sealed a batch', () => uniq(batches(dev)).some((b) => b.boot === 2));
  const next = uniq(batches(dev)).find((b) => b.boot === 2)!;
  assert.equal(next.pseq, lastSeq, 'links to the last batch stored before the cut');
  assert.ok(next.seq > lastSeq + 1, 'the torn batch\'s seq is not reused');
  assert.ok(!uniq(batches(dev)).some((b) => b.seq === lastSeq + 1), 'the torn batch was never sent');
  dev.agent.quiesce();
  dev.runUntil('drained', () => dev.agent.idle());
  const st = await verifyAll(dev);
  assert.deepEqual([st.rejectedTotal, st.gaps.unexplained, st.pendingLinks], [0, 0, 0]);
  assert.equal(st.linksVerified, st.accepted - 1);
});

// ---------------------------------------------------------------------------------------------
// Drop reports

test('drop reports: drops made while several copies are pending are all published and settled once the broker has them', async () => {
  const dev = new VirtualDevice();
  const cfg = baseConfig({ batchMaxReadings: 1, publishWindow: 2, outbox: { maxEntries: 3 }, broker: { host: 'fake', port: 1883, keepAliveS: 30, reconnect: { minMs: 50, maxMs: 50, factor: 1 } } });
  dev.broker.down = true;
  dev.boot(cfg, [countingSource('s', 100, one)]).start();
  dev.advance(1500); // ~15 batches into an outbox of 3
  const dropped = dev.agent.outbox.dropped();
  assert.ok(dropped >= 10, 'dropped ' + dropped);
  assert.equal(dev.agent.outbox.depth(), 3);
  // What the agent remembers per batch in RAM is bounded by what is still waiting, however long
  // the outage lasts: nothing for batches the outbox dropped.
  const remembered = () => Object.keys((dev.agent as unknown as { inflight: object }).inflight).length;
  assert.ok(remembered() <= 2 * (3 + 2), 'entries kept for ' + remembered() + ' batches');
  dev.advance(3000);
  assert.ok(remembered() <= 2 * (3 + 2), 'entries kept for ' + remembered() + ' batches after a longer outage');
  dev.broker.down = false;
  dev.broker.holdAcks = true;
  dev.runUntil('connected', () => dev.agent.stats().state === 'CONNECTED', 2000);
  // Let batches carrying the report pile up, then acknowledge one at a time while more drops happen.
  for (let i = 0; i < 10; i++) {
    dev.advance(150);
    dev.broker.releaseAcks(1);
  }
  dev.broker.holdAcks = false;
  dev.broker.releaseAcks();
  dev.advance(500);
  dev.agent.quiesce();
  dev.runUntil('drained', () => dev.agent.idle());
  assert.equal(dev.agent.outbox.dropReport(), undefined, 'nothing left pending');
  assert.deepEqual(dev.logs.filter((l) => l.level === 'error'), []);
  // Every dropped batch that never went out lies inside a drop report a published batch signed.
  const sent = uniq(batches(dev));
  const sentSeqs = new Set(sent.map((b) => b.seq));
  const reports = sent.filter((b) => b.drop).map((b) => b.drop!);
  const last = sent[sent.length - 1].seq;
  for (let s = 1; s <= last; s++)
    if (!sentSeqs.has(s)) assert.ok(reports.some((r) => r.firstSeq <= s && s <= r.lastSeq), 'seq ' + s + ' neither sent nor reported');
  const st = await verifyAll(dev);
  assert.deepEqual([st.rejectedTotal, st.gaps.unexplained, st.pendingLinks], [0, 0, 0]);
  assert.ok(st.gaps.explained >= 1, 'explained gaps ' + st.gaps.explained);
});

test('omitted bounds take their defaults (and the caller\'s config object is not changed)', () => {
  const cfg = baseConfig();
  for (const k of ['batchMaxReadings', 'batchMaxAgeMs', 'maxPendingReadings', 'publishWindow'] as const) delete (cfg as Partial<AgentConfig>)[k];
  const before = JSON.stringify(cfg);
  const agent = new Agent(new VirtualDevice().host(), cfg, []);
  assert.equal(JSON.stringify(cfg), before);
  assert.equal(agent.stats().readings, 0);
});
