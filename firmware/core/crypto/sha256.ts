// SHA-256 (FIPS 180-4) with a pluggable native slot.
//
// The portable implementation runs anywhere (Node, Espruino without `crypto`) and is the
// reference the slot is checked against. A platform that has a native hash installs it with
// installSha256(); every caller then goes through sha256(), which dispatches to the slot.
//
// Slot contract (what a platform wrapper must provide):
//   fn(data: Uint8Array) -> Uint8Array of exactly 32 bytes, the digest of the bytes
//   data[0 .. data.length) — honouring the view's byteOffset, never the whole underlying buffer.
//   It must not keep or modify `data`, and must return a fresh array each call.
//   Espruino: require("crypto").SHA256 returns an ArrayBuffer (wrap with new Uint8Array(ab)) and
//   hashes `.length` BYTES of whatever typed array it gets, so a wrapper passes Uint8Array views
//   only (a Uint8Array's length is its byte count) and must not pass other typed arrays.
// installSha256() runs known answers through the slot, including a view into a larger buffer,
// and throws E_SHA256_SLOT if any differs, so a broken native hash fails loudly at start-up
// instead of producing bad signatures.

import { abytes, err, describe } from '../util/errors.js';
import { toHex } from '../util/bytes.js';

// ---------------------------------------------------------------------------------------------
// Constants (FIPS 180-4)

/** §4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** §5.3.3: initial hash value H(0). */
const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/** §5.1.1: block size in bytes; the last 8 bytes of the final block hold the bit length. */
const BLOCK = 64;
export const SHA256_OUTPUT_LEN = 32;

// ---------------------------------------------------------------------------------------------
// Portable implementation

// Module-level scratch: allocated once, because Espruino's allocator is slow and hashing is
// synchronous, so no two calls can share them at the same time.
const H = new Uint32Array(8);
const W = new Uint32Array(64);
const TAIL = new Uint8Array(2 * BLOCK);

/** §6.2.2: one compression of the 64-byte block at `b[o..o+64)` into H. */
function compress(b: Uint8Array, o: number): void {
  for (let t = 0; t < 16; t++, o += 4) W[t] = (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  for (let t = 16; t < 64; t++) {
    const w15 = W[t - 15];
    const w2 = W[t - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[t] = (s1 + W[t - 7] + s0 + W[t - 16]) | 0;
  }
  let a = H[0] | 0, bb = H[1] | 0, c = H[2] | 0, d = H[3] | 0;
  let e = H[4] | 0, f = H[5] | 0, g = H[6] | 0, h = H[7] | 0;
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const T1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t] + W[t]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const T2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + T1) | 0;
    d = c;
    c = bb;
    bb = a;
    a = (T1 + T2) | 0;
  }
  H[0] += a;
  H[1] += bb;
  H[2] += c;
  H[3] += d;
  H[4] += e;
  H[5] += f;
  H[6] += g;
  H[7] += h;
}

/** SHA-256 in plain JS. Always available; the reference the native slot is checked against. */
export function sha256Portable(data: Uint8Array): Uint8Array {
  abytes('data', data);
  const len = data.length;
  H.set(IV);
  const full = len - (len % BLOCK);
  for (let o = 0; o < full; o += BLOCK) compress(data, o);
  // §5.1.1 padding: 0x80, zeros, then the 64-bit big-endian bit length, in one or two blocks.
  const rest = len - full;
  const tailLen = rest < BLOCK - 8 ? BLOCK : 2 * BLOCK;
  TAIL.fill(0);
  TAIL.set(data.subarray(full), 0);
  TAIL[rest] = 0x80;
  const hi = Math.floor(len / 0x20000000); // bits above 2^32 of len * 8
  const lo = len << 3; // low 32 bits of len * 8 (ToInt32 keeps len's low bits)
  TAIL[tailLen - 8] = hi >>> 24;
  TAIL[tailLen - 7] = hi >>> 16;
  TAIL[tailLen - 6] = hi >>> 8;
  TAIL[tailLen - 5] = hi;
  TAIL[tailLen - 4] = lo >>> 24;
  TAIL[tailLen - 3] = lo >>> 16;
  TAIL[tailLen - 2] = lo >>> 8;
  TAIL[tailLen - 1] = lo;
  compress(TAIL, 0);
  if (tailLen > BLOCK) compress(TAIL, BLOCK);
  const out = new Uint8Array(SHA256_OUTPUT_LEN);
  for (let i = 0; i < 8; i++) {
    const v = H[i];
    out[4 * i] = v >>> 24;
    out[4 * i + 1] = v >>> 16;
    out[4 * i + 2] = v >>> 8;
    out[4 * i + 3] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Native slot

export type Sha256Fn = (data: Uint8Array) => Uint8Array;

let slot: Sha256Fn | undefined;

/** SHA-256 of `data` through the installed slot, or the portable implementation. */
export function sha256(data: Uint8Array): Uint8Array {
  abytes('data', data);
  return slot ? slot(data) : sha256Portable(data);
}

function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const SLOT_1000_HEX = '1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371';

/**
 * Known answers for the slot check. The 1000-byte case is bytes (i * 7 + 3) & 255 for
 * i = 0..999, handed over as a view at offset 5 of a 1010-byte buffer whose other bytes are
 * 0xff, so a slot that hashes the whole buffer (or ignores byteOffset) is caught.
 * Digests from FIPS 180-4 examples; the last one computed with Node's crypto (OpenSSL).
 */
function slotChecks(): { name: string; data: Uint8Array; hex: string }[] {
  const big = new Uint8Array(1010);
  big.fill(0xff);
  for (let i = 0; i < 1000; i++) big[5 + i] = (i * 7 + 3) & 255;
  return [
    { name: '""', data: new Uint8Array(0), hex: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
    { name: '"abc"', data: asciiBytes('abc'), hex: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' },
    {
      name: '448-bit message',
      data: asciiBytes('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
      hex: '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    },
    { name: '1000-byte view', data: big.subarray(5, 1005), hex: SLOT_1000_HEX },
  ];
}
/**
 * Install a native SHA-256 (see the slot contract at the top of this file), or restore the
 * portable one with no argument. The slot must pass the known answers or it is not installed
 * and E_SHA256_SLOT is thrown.
 */
export function installSha256(fn?: Sha256Fn): void {
  if (fn === undefined) {
    slot = undefined;
    return;
  }
  if (typeof fn !== 'function')
    throw err('E_TYPE', '"fn" expected a function or undefined, got ' + describe(fn), TypeError);
  const checks = slotChecks();
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i];
    let got: unknown;
    try {
      got = fn(c.data);
    } catch (e) {
      throw err('E_SHA256_SLOT', 'installSha256: slot threw on known answer ' + c.name + ': ' + (e && (e as Error).message));
    }
    if (!(got instanceof Uint8Array) || got.length !== SHA256_OUTPUT_LEN)
      throw err('E_SHA256_SLOT', 'installSha256: slot expected to return Uint8Array(32) for ' + c.name + ', got ' + describe(got));
    const hex = toHex(got);
    if (hex !== c.hex)
      throw err('E_SHA256_SLOT', 'installSha256: slot failed known answer ' + c.name + ': expected ' + c.hex + ', got ' + hex);
  }
  slot = fn;
}

/** True when a native slot is installed. */
export function sha256IsNative(): boolean {
  return slot !== undefined;
}
