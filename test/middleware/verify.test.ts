// The per-message verifier: every way a message can be wrong gets exactly one reason code, and
// nothing crashes it. Messages come from the core's encodePayload + seal with test keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVerifier, parseSign1Fast, REJECT_REASONS, type Verifier, type VerifyResult } from '../../agent-sim/middleware/verify.js';
import { nativeBackend, nobleBackend, selectBackend, checkSignatureRange } from '../../agent-sim/middleware/sigbackend.js';
import { decodeSign1 } from '../../firmware/core/codec/cose.js';
import { CborMap, CborTag, encode } from '../../firmware/core/codec/cbor.js';
import { testDevice, registryOf, TEST_KEYS, prng } from './fixtures.js';

const alice = testDevice(TEST_KEYS.alice);
const bob = testDevice(TEST_KEYS.bob);
const carol = testDevice(TEST_KEYS.carol);
const mallory = testDevice(TEST_KEYS.mallory);
const NOW = 1764090000000;

const first = alice.next();
const second = alice.next();

function reason(r: VerifyResult): string {
  return r.ok ? 'ok' : r.reason;
}

const withRegistry = createVerifier({ registry: registryOf([alice, bob, carol], [carol]), backend: 'libsecp256k1' });
const recovering = createVerifier({ backend: 'libsecp256k1' });

test('valid messages verify with a registry and by recovery, and decode to the sealed batch', () => {
  for (const v of [withRegistry, recovering]) {
    for (const s of [first, second]) {
      const r = v.verifyMessage(alice.topic(), s.message, NOW);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.kid, alice.address);
      assert.deepEqual(r.publicKey, alice.publicKey);
      assert.deepEqual(r.payload, s.payload);
      assert.deepEqual(r.payloadHash, s.hash);
      assert.equal(r.batch.seq, s.batch.seq);
      assert.equal(r.batch.pseq, s.batch.pseq);
      assert.deepEqual(r.batch.prev, s.batch.prev);
      assert.deepEqual(r.batch.readings, s.batch.readings);
      assert.equal(r.timeBaseMs, undefined);
      assert.equal(r.records.length, 2);
      assert.equal(r.records[0].time, s.batch.readings[0].t);
      assert.equal(r.records[0].timeEstimated, false);
    }
  }
});

test('recovery mode remembers the recovered key per kid, bounded by maxLearnedKeys', () => {
  const v = createVerifier({ backend: 'libsecp256k1', maxLearnedKeys: 1 });
  const b = bob.next();
  assert.ok(v.verifyMessage(alice.topic(), first.message, NOW).ok);
  assert.ok(v.verifyMessage(bob.topic(), b.message, NOW).ok);
  // alice's key was evicted (limit 1): recovering again still works.
  assert.ok(v.verifyMessage(alice.topic(), second.message, NOW).ok);
});

test('unsynced batches: relative times anchored at the receive time and marked estimated', () => {
  const d = testDevice(TEST_KEYS.bob);
  const s = d.next({ synced: false });
  const r = recovering.verifyMessage(d.topic(), s.message, NOW);
  assert.ok(r.ok);
  assert.equal(r.timeBaseMs, NOW);
  assert.equal(r.records[0].time, NOW / 1000 - 5);
  assert.equal(r.records[0].timeEstimated, true);
});

test('forged: signed by another key but carrying the victim kid', () => {
  const forged = mallory.sealPayload(first.payload, alice.kid);
  assert.equal(reason(withRegistry.verifyMessage(alice.topic(), forged, NOW)), 'bad-signature');
  assert.equal(reason(recovering.verifyMessage(alice.topic(), forged, NOW)), 'bad-signature');
  // A registered device signing for another registered device is a forgery too.
  const byBob = bob.sealPayload(first.payload, alice.kid);
  assert.equal(reason(withRegistry.verifyMessage(alice.topic(), byBob, NOW)), 'bad-signature');
});

test('tampered: every single-bit flip of a message is rejected, none throws', () => {
  const m = first.message;
  const seen: Record<string, number> = {};
  for (const v of [withRegistry, recovering]) {
    for (const topic of [alice.topic(), undefined]) {
      for (let bit = 0; bit < m.length * 8; bit++) {
        const t = m.slice();
        t[bit >> 3] ^= 1 << (bit & 7);
        const r = v.verifyMessage(topic, t, NOW);
        assert.equal(r.ok, false, 'bit ' + bit + ' accepted');
        if (!r.ok) {
          assert.ok(REJECT_REASONS.includes(r.reason));
          seen[r.reason] = (seen[r.reason] || 0) + 1;
        }
      }
    }
  }
  // Flips land in the structure, the kid and the payload/signature: all of these must show up.
  for (const why of ['malformed', 'topic-mismatch', 'unknown-device', 'bad-signature']) assert.ok(seen[why] > 0, why + ' never seen: ' + JSON.stringify(seen));
});

test('truncated at every length: malformed', () => {
  const m = second.message;
  for (let n = 0; n < m.length; n++) assert.equal(reason(recovering.verifyMessage(alice.topic(), m.subarray(0, n), NOW)), 'malformed', 'length ' + n);
  const longer = new Uint8Array(m.length + 1);
  longer.set(m);
  assert.equal(reason(recovering.verifyMessage(alice.topic(), longer, NOW)), 'malformed', 'trailing byte');
});

test('fast COSE parser accepts exactly what the core decodeSign1 accepts (flips, truncations, random edits)', () => {
  const rnd = prng(7);
  const cases: Uint8Array[] = [];
  const m = first.message;
  for (let bit = 0; bit < m.length * 8; bit++) {
    const t = m.slice();
    t[bit >> 3] ^= 1 << (bit & 7);
    cases.push(t);
  }
  for (let n = 0; n <= m.length; n++) cases.push(m.slice(0, n));
  for (let i = 0; i < 2000; i++) {
    const t = m.slice();
    const k = 1 + Math.floor(rnd() * 3);
    for (let j = 0; j < k; j++) t[Math.floor(rnd() * t.length)] = Math.floor(rnd() * 256);
    cases.push(t);
  }
  // Payload lengths across the 1-, 2- and 3-byte length forms.
  for (const len of [0, 23, 24, 255, 256, 1000]) {
    const p = new Uint8Array(len).fill(0xa0);
    cases.push(encode(new CborTag(18, [new Uint8Array([0xa1, 0x01, 0x38, 0x2e]), new CborMap([[4, alice.kid]]), p, new Uint8Array(64)])));
  }
  let accepted = 0;
  for (const c of cases) {
    let core = true;
    try {
      decodeSign1(c);
    } catch {
      core = false;
    }
    const fast = parseSign1Fast(c) !== undefined;
    assert.equal(fast, core, 'disagree on ' + Buffer.from(c).toString('hex'));
    if (fast) accepted++;
  }
  assert.ok(accepted >= 7, 'the original, the length-form cases and signature/kid/payload-content edits parse');
  // Same verdicts when the verifier itself uses the core parser.
  const viaCore = createVerifier({ backend: 'libsecp256k1', coseParser: 'core' });
  for (const c of cases.slice(0, 400)) assert.equal(reason(viaCore.verifyMessage(undefined, c, NOW)), reason(recovering.verifyMessage(undefined, c, NOW)));
});

test('wrong algorithm in the protected header: wrong-alg; extra headers: malformed', () => {
  const parts = decodeSign1(first.message);
  const mk = (prot: Uint8Array, unprot: CborMap) => encode(new CborTag(18, [prot, unprot, parts.payload, parts.signature]));
  const kidMap = new CborMap([[4, alice.kid]]);
  const es256 = mk(encode(new CborMap([[1, -7]])), kidMap);
  assert.equal(reason(recovering.verifyMessage(alice.topic(), es256, NOW)), 'wrong-alg');
  const eddsa = mk(encode(new CborMap([[1, -8]])), kidMap);
  assert.equal(reason(recovering.verifyMessage(alice.topic(), eddsa, NOW)), 'wrong-alg');
  const extraProt = mk(encode(new CborMap([[1, -47], [4, alice.kid]])), kidMap);
  assert.equal(reason(recovering.verifyMessage(alice.topic(), extraProt, NOW)), 'malformed');
  const extraUnprot = mk(parts.protectedBytes, new CborMap([[4, alice.kid], [5, new Uint8Array(12)]]));
  assert.equal(reason(recovering.verifyMessage(alice.topic(), extraUnprot, NOW)), 'malformed');
  const noTag = encode([parts.protectedBytes, kidMap, parts.payload, parts.signature]);
  assert.equal(reason(recovering.verifyMessage(alice.topic(), noTag, NOW)), 'malformed');
  const garbage = new Uint8Array([0xff, 0x00, 0x13]);
  assert.equal(reason(recovering.verifyMessage(alice.topic(), garbage, NOW)), 'malformed');
});

test('topic must be <prefix>/<kid lowercase hex>/tele', () => {
  const m = first.message;
  assert.equal(reason(recovering.verifyMessage(bob.topic(), m, NOW)), 'topic-mismatch');
  assert.equal(reason(recovering.verifyMessage('depin/' + alice.address.toUpperCase() + '/tele', m, NOW)), 'topic-mismatch');
  assert.equal(reason(recovering.verifyMessage(alice.topic('other'), m, NOW)), 'topic-mismatch');
  assert.equal(reason(recovering.verifyMessage('depin/' + alice.address + '/tele/x', m, NOW)), 'topic-mismatch');
  const other = createVerifier({ backend: 'libsecp256k1', prefix: 'site/a' });
  assert.ok(other.verifyMessage(alice.topic('site/a'), m, NOW).ok);
  assert.equal(reason(other.verifyMessage(alice.topic(), m, NOW)), 'topic-mismatch');
});

test('registry: unknown and revoked devices; reload switches modes', () => {
  const c = carol.next();
  const m = mallory.next();
  assert.equal(reason(withRegistry.verifyMessage(carol.topic(), c.message, NOW)), 'revoked-device');
  assert.equal(reason(withRegistry.verifyMessage(mallory.topic(), m.message, NOW)), 'unknown-device');
  const v = createVerifier({ backend: 'libsecp256k1', registry: registryOf([alice]) });
  assert.equal(reason(v.verifyMessage(mallory.topic(), m.message, NOW)), 'unknown-device');
  v.setRegistry(registryOf([alice, mallory]));
  assert.ok(v.verifyMessage(mallory.topic(), m.message, NOW).ok);
  v.setRegistry(registryOf([alice, mallory], [mallory]));
  assert.equal(reason(v.verifyMessage(mallory.topic(), m.message, NOW)), 'revoked-device');
  v.setRegistry(undefined);
  assert.ok(v.verifyMessage(mallory.topic(), m.message, NOW).ok);
});

const N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
function big32(x: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex'));
}

test('signature range: high-S, r or s zero, r >= n are bad-signature', () => {
  const m = first.message;
  const at = m.length - 64;
  const s = BigInt('0x' + Buffer.from(m.subarray(at + 32)).toString('hex'));
  const r = BigInt('0x' + Buffer.from(m.subarray(at, at + 32)).toString('hex'));
  const variants: [string, bigint, bigint][] = [
    ['high-S (n - s), the malleable twin', r, N - s],
    ['r = 0', 0n, s],
    ['s = 0', r, 0n],
    ['r = n', N, s],
    ['r = n + small (2^256 - 1)', (1n << 256n) - 1n, s],
  ];
  for (const [name, rr, ss] of variants) {
    const t = m.slice();
    t.set(big32(rr), at);
    t.set(big32(ss), at + 32);
    for (const v of [withRegistry, recovering]) assert.equal(reason(v.verifyMessage(alice.topic(), t, NOW)), 'bad-signature', name);
  }
  // The boundary: s = n/2 is allowed, n/2 + 1 is not (checked on bytes, no signature needed).
  const half = N >> 1n;
  const sig = new Uint8Array(64);
  sig.set(big32(1n), 0);
  sig.set(big32(half), 32);
  assert.equal(checkSignatureRange(sig), undefined);
  sig.set(big32(half + 1n), 32);
  assert.match(String(checkSignatureRange(sig)), /high-S/);
  sig.set(big32(N - 1n), 0);
  sig.set(big32(1n), 32);
  assert.equal(checkSignatureRange(sig), undefined);
});

test('validly signed but invalid payloads: malformed (after the signature passed)', () => {
  const unknownKey = new CborMap([
    [0, 1],
    [1, 1],
    [2, 5],
    [3, new Uint8Array(32)],
    [5, 1],
    [6, 10],
    [7, []],
    [8, new CborMap()],
    [10, 1],
  ]);
  const msgs = [
    alice.sealPayload(encode(unknownKey)),
    // Not deterministic: seq 5 written as a 1-byte argument (18 05).
    alice.sealPayload(new Uint8Array([0xa8, 0x00, 0x01, 0x01, 0x01, 0x02, 0x18, 0x05, 0x03, 0x58, 0x20, ...new Uint8Array(32), 0x05, 0x01, 0x06, 0x0a, 0x07, 0x80, 0x08, 0xa0])),
    alice.sealPayload(new Uint8Array([0xa0])),
    alice.sealPayload(new Uint8Array(0)),
  ];
  for (const m of msgs) {
    const r = recovering.verifyMessage(alice.topic(), m, NOW);
    assert.equal(reason(r), 'malformed');
    assert.equal(r.ok ? '' : r.kid, alice.address, 'kid reported: the signature was good');
    assert.match(r.ok ? '' : r.detail, /^payload: /);
  }
});

test('oversize: bounded before parsing, at the limit exactly', () => {
  const m = first.message;
  const atLimit = createVerifier({ backend: 'libsecp256k1', maxMessageBytes: m.length });
  assert.ok(atLimit.verifyMessage(alice.topic(), m, NOW).ok);
  const below = createVerifier({ backend: 'libsecp256k1', maxMessageBytes: m.length - 1 });
  assert.equal(reason(below.verifyMessage(alice.topic(), m, NOW)), 'oversize');
  assert.equal(reason(recovering.verifyMessage(alice.topic(), new Uint8Array(70000), NOW)), 'oversize');
});

test('non-bytes input is malformed, not a crash', () => {
  for (const x of [undefined, null, 'text', 42, {}, [1, 2]])
    assert.equal(reason(recovering.verifyMessage(alice.topic(), x as unknown as Uint8Array, NOW)), 'malformed');
});

test('backends agree: libsecp256k1 and noble, verify and recover', () => {
  const nat = nativeBackend();
  const nob = nobleBackend();
  const vn = createVerifier({ backend: nob, registry: registryOf([alice]) });
  const vr = createVerifier({ backend: nob });
  for (const s of [first, second]) {
    assert.ok(vn.verifyMessage(alice.topic(), s.message, NOW).ok);
    assert.ok(vr.verifyMessage(alice.topic(), s.message, NOW).ok);
  }
  const rnd = prng(3);
  const m = first.message;
  for (let i = 0; i < 24; i++) {
    const t = m.slice();
    const bit = Math.floor(rnd() * (m.length - 40) * 8) + 40 * 8; // payload and signature
    t[bit >> 3] ^= 1 << (bit & 7);
    assert.equal(reason(vn.verifyMessage(alice.topic(), t, NOW)), reason(withRegistry.verifyMessage(alice.topic(), t, NOW)));
  }
  const h = new Uint8Array(32).fill(7);
  const sig = m.subarray(m.length - 64);
  for (const rec of [0, 1]) assert.deepEqual(nat.recover(sig, rec, h), nob.recover(sig, rec, h));
  assert.equal(nat.verify(sig, h, alice.publicKey), false);
  assert.equal(nob.verify(sig, h, alice.publicKey), false);
  // Garbage keys are a failed check, not an exception.
  assert.equal(nat.verify(sig, h, new Uint8Array(65)), false);
  assert.equal(nob.verify(sig, h, new Uint8Array(65)), false);
});

test('backend selection: auto picks the native binding; explicit noble is honoured', () => {
  const warnings: string[] = [];
  assert.equal(selectBackend('auto', (w) => warnings.push(w)).name, 'libsecp256k1');
  assert.equal(selectBackend('noble').name, 'noble');
  assert.equal(warnings.length, 0);
  const v: Verifier = createVerifier();
  assert.equal(v.backend.name, 'libsecp256k1');
  // A binding that fails to load: auto falls back to noble and says so; an explicit request fails.
  const broken = () => {
    throw new Error('Cannot find module secp256k1.node');
  };
  const fb = selectBackend('auto', (w) => warnings.push(w), broken);
  assert.equal(fb.name, 'noble');
  assert.match(warnings[0], /libsecp256k1 binding did not load \(Cannot find module secp256k1.node\); falling back to @noble\/secp256k1/);
  assert.throws(() => selectBackend('libsecp256k1', undefined, broken), /Cannot find module/);
  const viaNoble = createVerifier({ backend: fb });
  assert.ok(viaNoble.verifyMessage(alice.topic(), first.message, NOW).ok);
});
