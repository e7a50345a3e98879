// SHA-256, HMAC-SHA-256 and Keccak-256: standard vectors, seeded random inputs against
// @noble/hashes, the native slot's known-answer check, and wrong-type inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { keccak_256 as nobleKeccak } from '@noble/hashes/sha3.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { sha256, sha256Portable, installSha256, sha256IsNative } from '../../firmware/core/crypto/sha256.js';
import { hmacSha256, createHmacSha256 } from '../../firmware/core/crypto/hmac.js';
import { keccak256 } from '../../firmware/core/crypto/keccak.js';
import { toHex, fromHex } from '../../firmware/core/util/bytes.js';

const VEC = new URL('../vectors/hashes/', import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, VEC), 'utf8'));

type MsgVec = { description: string; ascii?: string; hex?: string; repeat?: number; pattern1000?: boolean; digest: string };
function message(v: MsgVec): Uint8Array {
  if (v.pattern1000) {
    const b = new Uint8Array(1000);
    for (let i = 0; i < 1000; i++) b[i] = (i * 7 + 3) & 255;
    return b;
  }
  if (v.hex !== undefined) return fromHex(v.hex);
  return new Uint8Array(Buffer.from(v.ascii!.repeat(v.repeat ?? 1), 'latin1'));
}

/** xorshift32, seeded: reproducible inputs. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
  const bytes = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = next() & 255;
    return b;
  };
  return { next, bytes };
}

const isTypeErrorNaming = (name: string) => (e: unknown) =>
  e instanceof TypeError && (e as { code?: string }).code === 'E_TYPE' && e.message.includes('"' + name + '"');

// ---------------------------------------------------------------------------------------------
// SHA-256

test('sha256: FIPS 180-4 vectors (portable and dispatcher)', () => {
  installSha256();
  const { vectors } = load('sha256.json');
  assert.ok(vectors.length >= 6);
  for (const v of vectors as MsgVec[]) {
    const m = message(v);
    assert.equal(toHex(sha256Portable(m)), v.digest, v.description);
    assert.equal(toHex(sha256(m)), v.digest, v.description);
  }
});

test('sha256: every length 0..300 and large inputs match @noble/hashes, also as offset views', () => {
  const r = rng(0x5eed256);
  for (let n = 0; n <= 300; n++) {
    const m = r.bytes(n);
    assert.equal(toHex(sha256Portable(m)), toHex(nobleSha256(m)), 'length ' + n);
  }
  for (const n of [4095, 65536, 100003]) {
    const m = r.bytes(n);
    assert.equal(toHex(sha256Portable(m)), toHex(nobleSha256(m)), 'length ' + n);
  }
  const buf = r.bytes(200);
  for (const [a, b] of [[1, 200], [3, 70], [64, 128], [7, 7]]) {
    const view = buf.subarray(a, b);
    assert.equal(toHex(sha256Portable(view)), toHex(nobleSha256(view.slice())), 'view ' + a + '..' + b);
  }
});

test('sha256: input is not modified and output is fresh', () => {
  const m = rng(9).bytes(130);
  const copy = m.slice();
  const a = sha256Portable(m);
  const b = sha256Portable(m);
  assert.deepEqual(m, copy);
  assert.notEqual(a, b);
  assert.deepEqual(a, b);
});

// ---------------------------------------------------------------------------------------------
// Native slot

test('installSha256: a correct slot is installed and used by sha256 and HMAC', () => {
  let calls = 0;
  const slot = (d: Uint8Array) => {
    calls++;
    return nobleSha256(d);
  };
  try {
    installSha256(slot);
    assert.equal(sha256IsNative(), true);
    const before = calls;
    assert.equal(toHex(sha256(new Uint8Array([1, 2, 3]))), toHex(nobleSha256(new Uint8Array([1, 2, 3]))));
    assert.equal(calls, before + 1);
    hmacSha256(new Uint8Array(3), new Uint8Array(5));
    assert.equal(calls, before + 3, 'one HMAC is two hashes');
  } finally {
    installSha256();
  }
  assert.equal(sha256IsNative(), false);
  const before = calls;
  sha256(new Uint8Array(1));
  assert.equal(calls, before, 'portable after restore');
});

test('installSha256: an Espruino-style wrapper (ArrayBuffer result converted) passes', () => {
  // What firmware/espruino is expected to install: crypto.SHA256 returns an ArrayBuffer.
  const fakeCryptoSHA256 = (d: Uint8Array): ArrayBuffer => nobleSha256(d).slice().buffer as ArrayBuffer;
  try {
    installSha256((d) => new Uint8Array(fakeCryptoSHA256(d)));
    assert.equal(sha256IsNative(), true);
  } finally {
    installSha256();
  }
});

test('installSha256: broken slots are rejected with E_SHA256_SLOT and not installed', () => {
  const broken: [string, (d: Uint8Array) => unknown][] = [
    ['flips a bit', (d) => { const h = nobleSha256(d); h[31] ^= 1; return h; }],
    ['returns an ArrayBuffer', (d) => nobleSha256(d).buffer],
    ['returns 31 bytes', (d) => nobleSha256(d).subarray(0, 31)],
    ['returns a plain array', (d) => Array.prototype.slice.call(nobleSha256(d))],
    ['hashes the whole underlying buffer', (d) => nobleSha256(new Uint8Array(d.buffer))],
    ['ignores the view offset', (d) => nobleSha256(new Uint8Array(d.buffer, 0, d.length))],
    ['truncates long input to 512 bytes', (d) => nobleSha256(d.subarray(0, 512))],
    ['is Keccak-256', (d) => nobleKeccak(d)],
    ['throws', () => { throw new Error('no crypto'); }],
  ];
  for (const [name, fn] of broken) {
    assert.throws(
      () => installSha256(fn as (d: Uint8Array) => Uint8Array),
      (e: unknown) => (e as { code?: string }).code === 'E_SHA256_SLOT' && /installSha256: slot/.test((e as Error).message),
      name,
    );
    assert.equal(sha256IsNative(), false, name + ' must not be installed');
  }
  assert.throws(() => installSha256(123 as never), isTypeErrorNaming('fn'));
  assert.throws(() => installSha256('sha256' as never), isTypeErrorNaming('fn'));
});

// ---------------------------------------------------------------------------------------------
// HMAC-SHA-256

test('hmacSha256: RFC 4231 test cases 1-7', () => {
  const { vectors } = load('hmac-sha256.json');
  assert.equal(vectors.length, 7);
  for (const v of vectors as { description: string; key: string; data: string; mac: string; truncateBytes?: number }[]) {
    const key = fromHex(v.key);
    const data = fromHex(v.data);
    const n = v.truncateBytes ?? 32;
    assert.equal(toHex(hmacSha256(key, data).subarray(0, n)), v.mac, v.description);
    // Same MAC when the message comes in parts split anywhere.
    const h = createHmacSha256(key);
    for (const cut of [0, 1, data.length >> 1, data.length]) {
      const mac = h.mac([data.subarray(0, cut), new Uint8Array(0), data.subarray(cut)]);
      assert.equal(toHex(mac.subarray(0, n)), v.mac, v.description + ' split at ' + cut);
    }
  }
});

test('hmacSha256: random keys 0..200 bytes and messages 0..300 bytes match @noble/hashes', () => {
  const r = rng(0x4a3c);
  for (let n = 0; n <= 300; n++) {
    const key = r.bytes(r.next() % 201);
    const msg = r.bytes(n);
    assert.equal(toHex(hmacSha256(key, msg)), toHex(nobleHmac(nobleSha256, key, msg)), 'msg ' + n + ' key ' + key.length);
  }
  for (const [kl, ml] of [[64, 64], [65, 10000], [63, 65536], [1000, 1]]) {
    const key = r.bytes(kl);
    const msg = r.bytes(ml);
    assert.equal(toHex(hmacSha256(key, msg)), toHex(nobleHmac(nobleSha256, key, msg)), kl + '/' + ml);
  }
});

test('createHmacSha256: reusable across calls (RFC 6979 pattern), key copied, clean() disables', () => {
  const r = rng(6979);
  const key = r.bytes(32);
  const keyCopy = key.slice();
  const h = createHmacSha256(key);
  key.fill(0); // the object must not depend on the caller's buffer afterwards
  let v: Uint8Array = r.bytes(32);
  for (let i = 0; i < 20; i++) {
    const parts = [v, new Uint8Array([i & 1]), r.bytes(32), r.bytes(32)];
    const all = Buffer.concat(parts);
    const got = h.mac(parts);
    assert.equal(toHex(got), toHex(nobleHmac(nobleSha256, keyCopy, all)), 'call ' + i);
    v = got;
  }
  h.clean();
  assert.throws(() => h.mac([v]), (e: unknown) => (e as { code?: string }).code === 'E_HMAC_CLEANED');
});

// ---------------------------------------------------------------------------------------------
// Keccak-256

test('keccak256: Keccak team KATs and Ethereum constants', () => {
  const { vectors } = load('keccak256.json');
  assert.ok(vectors.length >= 8);
  for (const v of vectors as MsgVec[]) assert.equal(toHex(keccak256(message(v))), v.digest, v.description);
});

test('keccak256: every length 0..300 (rate 136 boundaries) and large inputs match @noble/hashes', () => {
  const r = rng(0xecc);
  for (let n = 0; n <= 300; n++) {
    const m = r.bytes(n);
    assert.equal(toHex(keccak256(m)), toHex(nobleKeccak(m)), 'length ' + n);
  }
  for (const n of [1360, 65536, 100003]) {
    const m = r.bytes(n);
    assert.equal(toHex(keccak256(m)), toHex(nobleKeccak(m)), 'length ' + n);
  }
  const buf = r.bytes(300);
  const view = buf.subarray(5, 290);
  assert.equal(toHex(keccak256(view)), toHex(nobleKeccak(view.slice())));
});

// ---------------------------------------------------------------------------------------------
// Wrong types

test('wrong-type inputs give TypeError naming the argument', () => {
  const bad: unknown[] = ['abc', [1, 2, 3], undefined, null, 5, {}, new Uint16Array(2), new ArrayBuffer(4)];
  const k = new Uint8Array(4);
  for (const b of bad) {
    assert.throws(() => sha256(b as Uint8Array), isTypeErrorNaming('data'));
    assert.throws(() => sha256Portable(b as Uint8Array), isTypeErrorNaming('data'));
    assert.throws(() => keccak256(b as Uint8Array), isTypeErrorNaming('data'));
    assert.throws(() => hmacSha256(b as Uint8Array, k), isTypeErrorNaming('key'));
    assert.throws(() => hmacSha256(k, b as Uint8Array), isTypeErrorNaming('msg'));
    assert.throws(() => createHmacSha256(b as Uint8Array), isTypeErrorNaming('key'));
    assert.throws(() => createHmacSha256(k).mac([k, b as Uint8Array]), isTypeErrorNaming('parts[1]'));
  }
  assert.throws(() => createHmacSha256(k).mac(k as never), isTypeErrorNaming('parts'));
});
