// The BigInt-free secp256k1 against @noble/secp256k1 (1000 seeded keys and messages: public
// keys, signatures, recovery ids, verification, recovery), published RFC 6979 vectors, our own
// edge cases (generated from noble by secp256k1-vectors-gen.ts), Wycheproof verification
// vectors, and invalid inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as noble from '@noble/secp256k1';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import {
  getPublicKey, isValidPrivateKey, sign, verify, recoverPublicKey, installConvolve,
} from '../../firmware/core/crypto/secp256k1/index.js';

noble.hashes.sha256 = sha256;
noble.hashes.hmacSha256 = (k, m) => hmac(sha256, k, m);

const VEC = new URL('../vectors/secp256k1/', import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, VEC), 'utf8'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const num = (x: bigint) => bytes(x.toString(16).padStart(64, '0'));

/** Reproducible bytes: SHA-256 in counter mode over a label. */
function stream(label: string) {
  let ctr = 0;
  const base = new TextEncoder().encode(label);
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32) {
      const c = new Uint8Array(base.length + 4);
      c.set(base);
      new DataView(c.buffer).setUint32(base.length, ctr++);
      out.set(sha256(c).subarray(0, Math.min(32, n - o)), o);
    }
    return out;
  };
}

/** E.convolve as documented (jswrap_espruino.c), to run the device's product path on Node. */
function convolveEmu(a: ArrayLike<number>, b: ArrayLike<number>, offset: number): number {
  let v = 0;
  const l = b.length;
  for (let i = 0; i < a.length; i++) v += a[i] * b[(i + offset) % l];
  return v;
}

function nobleSign(msg: Uint8Array, priv: Uint8Array, extraEntropy?: Uint8Array) {
  const r = noble.sign(msg, priv, extraEntropy ? { prehash: false, format: 'recovered', extraEntropy } : { prehash: false, format: 'recovered' });
  return { compact: hex(r.subarray(1)), recovery: r[0] };
}

test('1000 seeded keys and messages: public keys, signatures and recovery ids equal noble', () => {
  const rnd = stream('secp256k1 noble cross-check');
  for (let i = 0; i < 1000; i++) {
    let priv = rnd(32);
    while (!noble.utils.isValidSecretKey(priv)) priv = rnd(32);
    // Every 10th message is a hash >= n, reduced mod n in the nonce seed and in s.
    const msg = i % 10 === 9 ? bytes('ff'.repeat(16) + hex(rnd(16))) : rnd(32);
    const want = nobleSign(msg, priv);
    const got = sign(msg, priv);
    assert.equal(hex(got.compact), want.compact, 'signature #' + i);
    assert.equal(got.recovery, want.recovery, 'recovery #' + i);
    assert.equal(hex(got.r), want.compact.slice(0, 64));
    assert.equal(hex(got.s), want.compact.slice(64));
    if (i % 4 === 0) {
      assert.equal(hex(getPublicKey(priv)), hex(noble.getPublicKey(priv, true)), 'compressed #' + i);
      assert.equal(hex(getPublicKey(priv, false)), hex(noble.getPublicKey(priv, false)), 'uncompressed #' + i);
    }
  }
});

test('verify and recoverPublicKey agree with noble on seeded signatures, and reject altered ones', () => {
  const rnd = stream('secp256k1 verify cross-check');
  for (let i = 0; i < 50; i++) {
    const priv = rnd(32);
    const msg = rnd(32);
    const pub = noble.getPublicKey(priv, i % 2 === 0);
    const s = sign(msg, priv);
    assert.equal(verify(s.compact, msg, pub), true, 'verify #' + i);
    assert.equal(noble.verify(s.compact, msg, pub, { prehash: false }), true);
    assert.equal(hex(recoverPublicKey(s.compact, s.recovery, msg, i % 2 === 0)), hex(pub), 'recover #' + i);
    const wrongRec = recoverPublicKey(s.compact, s.recovery ^ 1, msg);
    assert.notEqual(hex(wrongRec), hex(noble.getPublicKey(priv)));
    const bad = s.compact.slice();
    bad[i % 64] ^= 1 << (i % 8);
    assert.equal(verify(bad, msg, pub), noble.verify(bad, msg, pub, { prehash: false }), 'altered signature #' + i);
    assert.equal(verify(bad, msg, pub), false);
    const msg2 = msg.slice();
    msg2[31] ^= 1;
    assert.equal(verify(s.compact, msg2, pub), false);
  }
});

test('the device product path (E.convolve emulation) gives the same signatures', () => {
  installConvolve(convolveEmu);
  try {
    const rnd = stream('secp256k1 convolve path');
    for (let i = 0; i < 60; i++) {
      const priv = rnd(32);
      const msg = rnd(32);
      const want = nobleSign(msg, priv);
      const got = sign(msg, priv);
      assert.equal(hex(got.compact), want.compact);
      assert.equal(got.recovery, want.recovery);
    }
  } finally {
    installConvolve(undefined);
  }
});

function parseDer(der: string): { r: string; s: string } {
  const b = bytes(der);
  assert.equal(b[0], 0x30);
  let o = 2;
  const int = () => {
    assert.equal(b[o], 0x02);
    const len = b[o + 1];
    let v = b.subarray(o + 2, o + 2 + len);
    o += 2 + len;
    while (v.length > 32 && v[0] === 0) v = v.subarray(1);
    return hex(v).padStart(64, '0');
  };
  return { r: int(), s: int() };
}

test('RFC 6979 published vectors (trezor-crypto / CoreBitcoin)', () => {
  const v = load('rfc6979.json');
  assert.equal(v.vectors.length, 6);
  for (const t of v.vectors) {
    const priv = bytes(t.privateKey);
    const msg = sha256(new TextEncoder().encode(t.message));
    const { r, s } = parseDer(t.der);
    const got = sign(msg, priv);
    assert.equal(hex(got.r), r, t.message);
    assert.equal(hex(got.s), s, t.message);
    // The nonce is pinned through r: r = x(kG) mod n for the published k.
    const R = noble.Point.BASE.multiply(BigInt('0x' + t.nonce)).toAffine();
    assert.equal(BigInt('0x' + r), R.x % N);
    assert.equal(verify(got.compact, msg, getPublicKey(priv)), true);
  }
});

test('edge cases: extreme keys, hashes >= n, low-S flips, extraEntropy (expected values from noble)', () => {
  const v = load('edge-cases.json');
  assert.ok(v.vectors.length >= 60);
  let flips = 0;
  for (const t of v.vectors) {
    const priv = bytes(t.privateKey);
    const msg = bytes(t.msgHash);
    const extra = t.extraEntropy ? bytes(t.extraEntropy) : undefined;
    const got = sign(msg, priv, extra ? { extraEntropy: extra } : undefined);
    assert.equal(hex(got.compact), t.signature, t.description);
    assert.equal(got.recovery, t.recovery, t.description);
    // The stored file and the installed noble still agree (the file is not stale).
    const live = nobleSign(msg, priv, extra);
    assert.equal(live.compact, t.signature, 'noble vs file: ' + t.description);
    assert.equal(hex(getPublicKey(priv)), t.publicKeyCompressed, t.description);
    assert.equal(hex(getPublicKey(priv, false)), t.publicKeyUncompressed, t.description);
    assert.equal(verify(got.compact, msg, bytes(t.publicKeyCompressed)), true, t.description);
    assert.equal(hex(recoverPublicKey(got.compact, got.recovery, msg, false)), t.publicKeyUncompressed, t.description);
    if (t.lowSFlipped) {
      flips++;
      // The unnormalised signature (n - s, recovery ^ 1) is rejected by default, accepted with lowS: false.
      const high = got.compact.slice();
      high.set(num(N - BigInt('0x' + hex(got.s))), 32);
      assert.equal(verify(high, msg, bytes(t.publicKeyCompressed)), false);
      assert.equal(verify(high, msg, bytes(t.publicKeyCompressed), { lowS: false }), true);
      assert.equal(hex(recoverPublicKey(high, got.recovery ^ 1, msg)), t.publicKeyCompressed);
    }
  }
  assert.ok(flips >= 6);
});

test('Wycheproof ECDSA secp256k1 SHA-256 (P1363): every vector', () => {
  const v = load('wycheproof-ecdsa-secp256k1-sha256-p1363.json');
  let n = 0;
  for (const g of v.testGroups) {
    const pub = bytes(g.publicKey);
    for (const t of g.tests) {
      const sig = bytes(t.sig);
      const msg = sha256(bytes(t.msg));
      let ok: boolean;
      if (sig.length !== 64) {
        // Wrong-size encodings are caller errors here: they throw, and none is valid.
        assert.throws(() => verify(sig, msg, pub, { lowS: false }), RangeError);
        ok = false;
      } else ok = verify(sig, msg, pub, { lowS: false });
      assert.equal(ok, t.result === 'valid', 'tcId ' + t.tcId + ' (' + t.comment + ')');
      n++;
    }
  }
  assert.equal(n, v.numberOfTests);
});

const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

test('invalid private keys: 0, n, above n, wrong length and type', () => {
  const msg = new Uint8Array(32);
  for (const [name, k] of [
    ['0', num(0n)],
    ['n', num(N)],
    ['n + 1', num(N + 1n)],
    ['2^256 - 1', bytes('ff'.repeat(32))],
  ] as const) {
    assert.equal(isValidPrivateKey(k), false, name);
    assert.throws(() => getPublicKey(k), (e: Error & { code?: string }) => e instanceof RangeError && e.code === 'E_PRIVATE_KEY', name);
    assert.throws(() => sign(msg, k), code('E_PRIVATE_KEY'), name);
  }
  assert.equal(isValidPrivateKey(num(1n)), true);
  assert.equal(isValidPrivateKey(num(N - 1n)), true);
  assert.equal(isValidPrivateKey(new Uint8Array(31)), false);
  assert.equal(isValidPrivateKey('00'.repeat(32)), false);
  assert.throws(() => getPublicKey(new Uint8Array(31)), (e: Error & { code?: string }) => e instanceof RangeError && e.code === 'E_LENGTH');
  assert.throws(() => getPublicKey(new Uint8Array(33)), RangeError);
  assert.throws(() => getPublicKey('01' as unknown as Uint8Array), (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'E_TYPE');
  assert.throws(() => getPublicKey([1, 2] as unknown as Uint8Array), TypeError);
  assert.throws(() => getPublicKey(num(1n), 1 as unknown as boolean), TypeError);
  assert.throws(() => sign(new Uint8Array(32), new Uint16Array(16) as unknown as Uint8Array), TypeError);
});

test('invalid message hashes and options', () => {
  const priv = num(1n);
  assert.throws(() => sign(new Uint8Array(31), priv), (e: Error) => e instanceof RangeError && /"msgHash" expected 32 bytes, got 31/.test(e.message));
  assert.throws(() => sign(new Uint8Array(64), priv), RangeError);
  assert.throws(() => sign('00' as unknown as Uint8Array, priv), TypeError);
  assert.throws(() => sign(new Uint8Array(32), priv, { extraEntropy: new Uint8Array(16) }), RangeError);
  assert.throws(() => sign(new Uint8Array(32), priv, { extraEntropy: true as unknown as Uint8Array }), TypeError);
  assert.throws(() => sign(new Uint8Array(32), priv, 5 as unknown as object), TypeError);
  assert.throws(() => verify(new Uint8Array(64), new Uint8Array(33), getPublicKey(priv)), RangeError);
});

test('verify: bad signatures return false, malformed arguments throw', () => {
  const priv = num(7n);
  const msg = sha256(new Uint8Array([1]));
  const pub = getPublicKey(priv);
  const good = sign(msg, priv).compact;
  const withR = (r: bigint) => {
    const s = good.slice();
    s.set(num(r), 0);
    return s;
  };
  const withS = (x: bigint) => {
    const s = good.slice();
    s.set(num(x), 32);
    return s;
  };
  assert.equal(verify(withR(0n), msg, pub), false, 'r = 0');
  assert.equal(verify(withR(N), msg, pub), false, 'r = n');
  assert.equal(verify(withS(0n), msg, pub), false, 's = 0');
  assert.equal(verify(withS(N), msg, pub), false, 's = n');
  assert.equal(verify(withS(N + 5n), msg, pub), false, 's > n');
  // Public keys that are not points: bad prefix, x without a square root, x >= p, off-curve y.
  const badPub = pub.slice();
  badPub[0] = 5;
  assert.equal(verify(good, msg, badPub), false);
  assert.equal(verify(good, msg, bytes('02' + '00'.repeat(31) + '05')), noble.utils.isValidPublicKey(bytes('02' + '00'.repeat(31) + '05')));
  assert.equal(verify(good, msg, bytes('02' + 'ff'.repeat(32))), false);
  const unc = getPublicKey(priv, false);
  const offCurve = unc.slice();
  offCurve[64] ^= 1;
  assert.equal(verify(good, msg, offCurve), false);
  assert.equal(verify(good, msg, new Uint8Array(33)), false, 'infinity encoding / zero key');
  assert.equal(verify(good, msg, unc), true);
  assert.throws(() => verify(good.subarray(0, 63), msg, pub), (e: Error & { code?: string }) => e instanceof RangeError && e.code === 'E_LENGTH');
  assert.throws(() => verify(good, msg, pub.subarray(0, 32)), RangeError);
  assert.throws(() => verify(good, msg, 'pub' as unknown as Uint8Array), TypeError);
  assert.throws(() => verify(good, msg, pub, { lowS: 1 as unknown as boolean }), TypeError);
});

test('recoverPublicKey: invalid inputs throw with codes', () => {
  const msg = sha256(new Uint8Array([2]));
  const sig = sign(msg, num(9n));
  const r0 = sig.compact.slice();
  r0.fill(0, 0, 32);
  assert.throws(() => recoverPublicKey(r0, 0, msg), (e: Error & { code?: string }) => e instanceof RangeError && e.code === 'E_SIGNATURE');
  const sN = sig.compact.slice();
  sN.set(num(N), 32);
  assert.throws(() => recoverPublicKey(sN, 0, msg), code('E_SIGNATURE'));
  // Recovery ids 2 and 3 need r + n < p: false for almost every r.
  assert.throws(() => recoverPublicKey(sig.compact, 2, msg), code('E_RECOVER'));
  // r that is not an x-coordinate on the curve (x = 5 has no y on secp256k1).
  const rx = sig.compact.slice();
  rx.set(num(5n), 0);
  assert.throws(() => recoverPublicKey(rx, 0, msg), code('E_RECOVER'));
  assert.throws(() => recoverPublicKey(sig.compact, 4, msg), RangeError);
  assert.throws(() => recoverPublicKey(sig.compact, 1.5, msg), TypeError);
  assert.throws(() => recoverPublicKey(sig.compact, 0, msg.subarray(1)), RangeError);
});
