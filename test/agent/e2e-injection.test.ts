// Injection while a fleet runs: a second MQTT client captures genuine batches from the broker
// and publishes forgeries, replays, bit-flipped and truncated copies and garbage to the devices'
// topics. Each injected message's expected verdict follows from docs/wire-format.md ("How a
// verifier checks a message") and the reject reasons in agent-sim/middleware/README.md, not from
// running the verifier: a changed kid no longer matches the topic, a changed payload or
// signature fails ES256K, a changed algorithm is wrong-alg, broken structure is malformed, an
// exact copy is a duplicate. The per-reason counts must match what was injected, and the genuine
// stream must come through as if nothing happened (rig.audit()).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startAedes } from '../harness/brokers.js';
import { startRig, summary } from './rig.js';
import { sleep, until } from './helpers.js';
import { testDevice, TEST_KEYS, prng } from '../middleware/fixtures.js';
import { encodePayload } from '../../firmware/core/telemetry/batch.js';
import { decodeSign1 } from '../../firmware/core/codec/cose.js';
import { fromHex } from '../../firmware/core/util/bytes.js';
import { REJECT_REASONS, VERIFIER_DEFAULTS, type RejectReason } from '../../agent-sim/middleware/verify.js';

/** Byte offsets of the fixed COSE_Sign1 layout (docs/wire-format.md, "The message"). */
const AT = { TAG: 0, ALG_ARG: 6, KID: 10, PAYLOAD_HEAD: 30 };

test('forged, replayed, bit-flipped, truncated and garbage messages: each rejected for its reason or counted as a duplicate; the genuine stream is unaffected', async (t) => {
  const broker = await startAedes();
  const rig = await startRig({ tag: 'inject', broker, devices: 2 });
  const spy = await mqtt.connectAsync(broker.url, { clientId: 'injector', reconnectPeriod: 0 });
  t.after(async () => {
    await spy.endAsync();
    await rig.close();
    await broker.close();
  });
  const captured: { topic: string; bytes: Uint8Array }[] = [];
  spy.on('message', (topic, payload) => captured.push({ topic, bytes: new Uint8Array(payload) }));
  await spy.subscribeAsync('depin/+/tele', { qos: 1 });
  rig.start();
  const [A, B] = rig.devices.map((d) => ({ dev: d, addr: d.agent.addressHex, topic: d.agent.topics.tele, cmd: d.agent.topics.cmd }));
  await until('genuine batches captured from both devices', () => [A, B].every((x) => captured.filter((c) => c.topic === x.topic).length >= 4), 8000);
  const ofA = captured.filter((c) => c.topic === A.topic).map((c) => c.bytes);
  const ofB = captured.filter((c) => c.topic === B.topic).map((c) => c.bytes);

  const expected: Partial<Record<RejectReason, number>> = {};
  let replays = 0;
  const sends: [string, Uint8Array][] = [];
  const inject = (topic: string, bytes: Uint8Array, reason: RejectReason | 'duplicate') => {
    sends.push([topic, bytes]);
    if (reason === 'duplicate') replays++;
    else expected[reason] = (expected[reason] ?? 0) + 1;
  };
  const flip = (m: Uint8Array, at: number, bit = 0) => {
    const c = m.slice();
    c[at] ^= 1 << bit;
    return c;
  };

  // Forgeries: another key signs with a real device's kid, on its topic.
  const mallory = testDevice(TEST_KEYS.mallory);
  const kidA = fromHex(A.addr);
  const genuinePayload = decodeSign1(ofA[1]).payload;
  inject(A.topic, mallory.sealPayload(genuinePayload, kidA), 'bad-signature'); // the device's own payload, re-signed
  const claim = (seq: number, drop?: { count: number; firstSeq: number; lastSeq: number }) =>
    encodePayload({ boot: 9, seq, prev: new Uint8Array(32), pseq: seq - 1, synced: true, up: 5, readings: [{ n: 'm0/e', u: 'Wh', s: 1, t: 1764080000 }], health: {}, drop });
  inject(A.topic, mallory.sealPayload(claim(100000), kidA), 'bad-signature'); // a seq far ahead
  inject(A.topic, mallory.sealPayload(claim(100001, { count: 50, firstSeq: 1, lastSeq: 60 }), kidA), 'bad-signature'); // a drop report "explaining" gaps
  inject(mallory.topic(), mallory.sealPayload(claim(1)), 'unknown-device'); // a validly signed stranger
  // Replays: exact copies of what the broker carried, and a copy onto another device's topic.
  for (const m of [ofA[0], ofA[2], ofB[0], ofB[1], ofB[1]]) inject(m === ofA[0] || m === ofA[2] ? A.topic : B.topic, m, 'duplicate');
  inject(B.topic, ofA[3], 'topic-mismatch');
  // Bit flips at several positions of one genuine message.
  const m = ofA[2];
  inject(A.topic, flip(m, AT.KID + 5, 3), 'topic-mismatch');
  inject(A.topic, flip(m, AT.KID + 19, 0), 'topic-mismatch');
  inject(A.topic, flip(m, AT.PAYLOAD_HEAD + 20, 1), 'bad-signature'); // inside the payload
  inject(A.topic, flip(m, m.length - 70, 6), 'bad-signature'); // last payload byte
  inject(A.topic, flip(m, m.length - 50, 2), 'bad-signature'); // r
  inject(A.topic, flip(m, m.length - 1, 0), 'bad-signature'); // s
  inject(A.topic, flip(m, AT.ALG_ARG, 0), 'wrong-alg'); // alg -47 -> -48
  inject(A.topic, flip(m, AT.TAG, 0), 'malformed'); // tag 18 -> 19
  inject(A.topic, flip(m, AT.PAYLOAD_HEAD + 1, 4), 'malformed'); // payload length no longer matches
  // Truncations.
  for (const n of [m.length - 1, m.length - 64, 40, 1]) inject(A.topic, m.slice(0, n), 'malformed');
  inject(A.topic, new Uint8Array(0), 'malformed');
  // Garbage (seeded), never starting like a COSE_Sign1.
  const rnd = prng(7);
  for (const n of [5, 300, 1500]) {
    const g = new Uint8Array(n).map(() => Math.floor(rnd() * 256));
    g[0] = 0x00;
    inject(B.topic, g, 'malformed');
  }
  inject(B.topic, new Uint8Array(VERIFIER_DEFAULTS.maxMessageBytes + 1).fill(0xd2), 'oversize');
  // Garbage on the command topics: refused by the agents, which keep running.
  await spy.publishAsync(A.cmd, Buffer.from('not a command'), { qos: 1 });
  await spy.publishAsync(B.cmd, Buffer.from(flip(m, 3)), { qos: 1 });

  const receivedBefore = rig.ingest.stats().received;
  for (const [topic, bytes] of sends) await spy.publishAsync(topic, Buffer.from(bytes), { qos: 1 });
  await until('every injected message verified', () => rig.ingest.stats().received >= receivedBefore + sends.length, 8000);
  await until('the agents refused the commands', () => rig.devices.every((d) => d.agent.stats().commandsRejected === 1), 5000);
  await sleep(300);
  await rig.finish();
  const a = rig.audit();

  const st = rig.ingest.stats();
  const want = Object.fromEntries(REJECT_REASONS.map((r) => [r, expected[r] ?? 0]));
  assert.deepEqual(st.rejected, want, 'reject counts per reason');
  assert.equal(st.duplicates, replays, 'replays counted as duplicates');
  for (const d of rig.devices) assert.equal(d.agent.stats().mqtt.reconnects, 0, 'no genuine resend, so every duplicate is a replay');
  const stored = rig.store.db.prepare('SELECT reason, COUNT(*) AS n FROM rejects GROUP BY reason').all() as { reason: string; n: number }[];
  assert.deepEqual(Object.fromEntries(stored.map((r) => [r.reason, r.n])), Object.fromEntries(Object.entries(want).filter(([, n]) => n > 0)), 'rejects table');
  // Nothing injected was stored: every stored row is byte-identical to a message a device sent.
  const genuine = new Set(captured.map((c) => Buffer.from(c.bytes).toString('hex')));
  const raws = rig.store.db.prepare('SELECT raw FROM batches').all() as { raw: Buffer }[];
  for (const r of raws) assert.ok(genuine.has(r.raw.toString('hex')), 'a stored batch is not one a device published');
  // The agents answered the garbage commands with errors and kept working.
  for (const d of rig.devices) assert.ok(d.agent.stats().acked >= 6, d.spec.label + ' kept publishing');
  t.diagnostic(
    sends.length + ' injected (' + replays + ' replays, rejects ' + JSON.stringify(expected) + '), 2 garbage commands: ' + summary(a),
  );
});
