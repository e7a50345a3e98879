// The signed batch format in core: payload encoding, SenML compaction, sealing and opening.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encodePayload, decodePayload, type Batch } from '../../firmware/core/telemetry/batch.js';
import { encodePack, decodePack, type Reading } from '../../firmware/core/telemetry/senml.js';
import { seal, openEnvelope, createSealJob, deviceAddress, payloadHash } from '../../firmware/core/telemetry/envelope.js';
import { decodeSign1, encodeSign1 } from '../../firmware/core/codec/cose.js';
import { encode, decode, CborMap } from '../../firmware/core/codec/cbor.js';
import { getPublicKey } from '../../firmware/core/crypto/secp256k1/index.js';
import { toHex, fromHex } from '../../firmware/core/util/bytes.js';
import { envelopeCases, energyBatch } from './envelope-cases.js';

const vectors = JSON.parse(readFileSync('test/vectors/envelope/batches.json', 'utf8'));
const canonical = (rs: Reading[]) => [...rs].sort((a, b) => (a.n !== b.n ? (a.n < b.n ? -1 : 1) : a.t - b.t));
const KEY1 = fromHex('0000000000000000000000000000000000000000000000000000000000000001');
const KEY2 = fromHex('0000000000000000000000000000000000000000000000000000000000000002');

test('core reproduces the published vectors byte for byte', () => {
  const cases = envelopeCases();
  assert.equal(cases.length, vectors.valid.length);
  cases.forEach((c, i) => {
    const v = vectors.valid[i];
    const payload = encodePayload(c.batch);
    assert.equal(toHex(payload), v.payloadHex, c.description);
    assert.equal(toHex(seal(payload, fromHex(c.privateKey))), v.messageHex, c.description);
  });
});

test('payload round trip returns the batch with readings in canonical order', () => {
  for (const c of envelopeCases()) {
    const back = decodePayload(encodePayload(c.batch));
    assert.deepEqual(back, { ...c.batch, readings: canonical(c.batch.readings) } as Batch, c.description);
  }
});

test('SenML compaction: runs share bn/bu, sums become deltas, times offsets', () => {
  const b = energyBatch(16, 5);
  const pack = encodePack(b.readings);
  assert.equal(pack.length, 48);
  const first = pack[0] as CborMap;
  assert.equal(first.get(-2), 'm0/e'); // run of one name: full name as base name, n omitted
  assert.equal(first.get(-4), 'Wh');
  assert.equal(first.get(-6), 1234567);
  assert.equal(first.get(5), 0);
  const second = pack[1] as CborMap;
  assert.equal(second.get(0), undefined);
  assert.equal(second.get(5), 21);
  assert.equal(second.get(6), 10);
  assert.deepEqual(decodePack(pack, 100), canonical(b.readings));
  // 16 samples: at most 48 bytes per sample for the whole signed message (issue target).
  const msg = seal(encodePayload(b), KEY1);
  assert.ok(msg.length <= 16 * 48, 'signed 16-sample batch is ' + msg.length + ' bytes');
  const one = seal(encodePayload(energyBatch(1, 5)), KEY1);
  assert.ok(one.length <= 220, 'signed 1-sample batch is ' + one.length + ' bytes');
});

test('SenML: inexact sum deltas restart the base sum; lone records use a directory base name', () => {
  const rs: Reading[] = [
    { n: 'x/s', u: 'Wh', s: 1e17, t: 0 },
    { n: 'x/s', u: 'Wh', s: 1e17 + 16, t: 1 },
    { n: 'x/s', u: 'Wh', s: 0.1, t: 2 },
    { n: 'y/a', u: 'A', v: 1.5, t: 0 },
  ];
  const pack = encodePack(rs);
  assert.deepEqual(decodePack(pack, 10), canonical(rs));
  assert.equal((pack[2] as CborMap).get(-6), 0.1, 'restarted bs where the delta is not exact');
  assert.equal((pack[3] as CborMap).get(-2), 'y/');
  assert.equal((pack[3] as CborMap).get(0), 'a');
});

test('SenML: a reading without a unit disables bu so nothing inherits a wrong unit', () => {
  const rs: Reading[] = [
    { n: 'a/p', u: 'W', v: 1, t: 0 },
    { n: 'a/p', u: 'W', v: 2, t: 1 },
    { n: 'a/state', vs: 'ok', t: 1 },
  ];
  const back = decodePack(encodePack(rs), 10);
  assert.equal(back[2].u, undefined);
  assert.deepEqual(back, canonical(rs));
});

test('bad readings and batches get errors that name the field', () => {
  const good = energyBatch(1, 3);
  const cases: [string, Partial<Batch> | ((b: Batch) => void), RegExp][] = [
    ['seq 0', { seq: 0, pseq: 0 }, /"seq" expected an integer >= 1/],
    ['pseq >= seq', { pseq: 3 }, /"pseq" must be below "seq"/],
    ['prev length', { prev: new Uint8Array(31) }, /"prev" expected 32 bytes, got 31/],
    ['boot negative', { boot: -1 }, /"boot" expected an integer/],
    ['bad name', (b) => (b.readings[0].n = '/bad'), /readings\[0\]\.n expected a SenML name/],
    ['NaN value', (b) => (b.readings[1].v = NaN), /readings\[1\]\.v expected a finite number/],
    ['no value', (b) => (b.readings[1].v = undefined), /readings\[1\] has no value/],
    ['name ends with /', (b) => (b.readings[0].n = 'm0/'), /must not end with "\/"/],
    ['unsynced future time', (b) => ((b.synced = false), (b.readings[0].t = 5)), /unsynced batch needs times <= 0/],
    ['drop beyond seq', { drop: { count: 1, firstSeq: 3, lastSeq: 3 } }, /"drop.lastSeq" must be below "seq"/],
    ['health not integer', { health: { queue: 1.5 } }, /"health.queue" expected an integer/],
  ];
  for (const [name, change, re] of cases) {
    const b: Batch = JSON.parse(JSON.stringify({ ...good, prev: [] }));
    b.prev = new Uint8Array(32);
    if (typeof change === 'function') change(b);
    else Object.assign(b, change);
    assert.throws(() => encodePayload(b), re, name);
  }
  assert.throws(() => encodePayload(null as any), TypeError);
});

test('decodePayload rejects unknown keys, non-canonical forms and bad versions', () => {
  const p = decode(encodePayload(energyBatch(1, 9))) as CborMap;
  const mutate = (f: (m: CborMap) => void) => {
    const m = decode(encodePayload(energyBatch(1, 9))) as CborMap;
    f(m);
    return encode(m);
  };
  assert.throws(() => decodePayload(mutate((m) => m.set(10, 1))), /unknown key 10/);
  assert.throws(() => decodePayload(mutate((m) => m.set(0, 2))), /unsupported format version 2/);
  assert.throws(() => decodePayload(mutate((m) => m.set(4, 8))), /"pseq" present although it equals seq - 1/);
  assert.throws(() => decodePayload(mutate((m) => m.set(5, 3))), /unknown flag bits/);
  assert.throws(() => decodePayload(mutate((m) => (m.entries = m.entries.filter((e) => e[0] !== 2)))), /lacks "seq"/);
  assert.throws(() => decodePayload(mutate((m) => (m.get(8) as CborMap).set(9, 1))), /"h" has unknown key 9/);
  assert.throws(() => decodePayload(mutate((m) => ((m.get(7) as CborMap[])[0] as CborMap).set(99, 1))), /label 99 unknown/);
  // Non-shortest integer for seq (0x18 0x09 instead of 0x09): deterministic decoding rejects it.
  const bytes = encodePayload(energyBatch(1, 9));
  const i = bytes.indexOf(0x09, bytes.indexOf(0x02) + 1);
  const loose = new Uint8Array([...bytes.subarray(0, i), 0x18, 0x09, ...bytes.subarray(i + 1)]);
  assert.throws(() => decodePayload(loose));
  assert.throws(() => decodePayload(new Uint8Array(70000)), /exceeds/);
  assert.ok(p instanceof CborMap);
});

test('openEnvelope: registry key, recovery, and every single-bit flip rejected', () => {
  const payload = encodePayload(energyBatch(1, 11));
  const msg = seal(payload, KEY1);
  const pub = getPublicKey(KEY1, false);
  assert.equal(toHex(openEnvelope(msg, pub).payload), toHex(payload));
  assert.equal(toHex(openEnvelope(msg).publicKey), toHex(pub));
  // Another key's signature under the victim's kid: forged.
  const forged = encodeSign1(deviceAddress(KEY1), payload, decodeSign1(seal(payload, KEY2)).signature);
  assert.throws(() => openEnvelope(forged, pub), /signature does not verify/);
  assert.throws(() => openEnvelope(forged), /signature does not verify/);
  assert.throws(() => openEnvelope(msg, getPublicKey(KEY2, false)), /kid does not match/);
  let rejected = 0;
  for (let bit = 0; bit < msg.length * 8; bit++) {
    const m = msg.slice();
    m[bit >> 3] ^= 1 << (bit & 7);
    try {
      openEnvelope(m, pub);
    } catch (e: any) {
      assert.ok(typeof e.code === 'string', 'coded error for bit ' + bit + ': ' + e.message);
      rejected++;
    }
  }
  assert.equal(rejected, msg.length * 8, 'every bit flip rejected');
});

test('seal job: steps are bounded, progress rises, result before the end throws', () => {
  const payload = encodePayload(energyBatch(4, 12));
  const job = createSealJob(payload, KEY1, deviceAddress(KEY1));
  assert.throws(() => job.result(), /not finished/);
  let steps = 0;
  let last = -1;
  while (!job.step()) {
    const p = job.progress();
    assert.ok(p >= last && p < 1);
    last = p;
    steps++;
  }
  assert.ok(steps > 10, 'signing is spread over ' + steps + ' steps');
  assert.equal(job.progress(), 1);
  assert.equal(toHex(job.result()), toHex(seal(payload, KEY1)));
  assert.equal(toHex(payloadHash(payload)).length, 64);
});
