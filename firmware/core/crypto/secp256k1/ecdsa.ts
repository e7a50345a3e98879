// Keys, verification and public-key recovery (SEC 1 v2 §4.1.4, §4.1.6), byte-compatible with
// @noble/secp256k1 v3 used with { prehash: false } and its defaults (lowS: true).
//
// Inputs are 32-byte big-endian scalars and 32-byte message hashes; a hash is taken as an integer
// and reduced mod n (RFC 6979 bits2int for a 256-bit hash, then mod n, as noble does).
// Verification and recovery run on the desktop (verifier, tests); they are plain, not tuned.
//
// Errors: wrong types throw TypeError, wrong lengths or out-of-range values RangeError, both with
// a `code` (E_TYPE, E_LENGTH, E_RANGE, E_PRIVATE_KEY, E_SIGNATURE, E_RECOVER).

import { abytes, aint, err, describe } from '../../util/errors.js';
import { feIsCanonical, feNew, type Fe } from './field.js';
import { mulG } from './gtable.js';
import { modInvert } from './modinv.js';
import {
  decodePoint, encodePoint, jacAdd, jacNew, jacToAffine, liftX, mulAffine,
} from './point.js';
import {
  N_INFO, scCmp, scFromBytes, scIsHigh, scIsValidNonZero, scIsZero, scMul, scNeg, scNew,
  scReduceOnce, scalarOrderLimbs,
} from './scalar.js';

// ---------------------------------------------------------------------------------------------
// Constants

export const PRIVATE_KEY_BYTES = 32;
export const HASH_BYTES = 32;
export const SIGNATURE_BYTES = 64;

const N_LIMBS = scalarOrderLimbs();

/** Espruino 2v29 has no RangeError global (naming it there throws): fall back to Error. */
const RANGE_ERROR: ErrorConstructor = typeof RangeError !== 'undefined' ? RangeError : Error;

// ---------------------------------------------------------------------------------------------
// Shared parsing

/** The private key as a scalar; throws unless it is 32 bytes encoding 1..n-1. */
export function privToScalar(priv: unknown, out: Fe): Fe {
  abytes('privateKey', priv, PRIVATE_KEY_BYTES);
  scFromBytes(out, priv as Uint8Array, 0);
  if (!scIsValidNonZero(out))
    throw err('E_PRIVATE_KEY', '"privateKey" expected an integer in 1..n-1, got ' + (scIsZero(out) ? '0' : 'a value >= n'), RANGE_ERROR);
  return out;
}

/** bits2int(hash) mod n for a 32-byte hash (RFC 6979 §2.3.2: 256-bit hash, no shift). */
export function hashToScalar(hash: unknown, out: Fe): Fe {
  abytes('msgHash', hash, HASH_BYTES);
  scFromBytes(out, hash as Uint8Array, 0);
  return scReduceOnce(out, out);
}

function aflag(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw err('E_TYPE', '"' + name + '" expected a boolean, got ' + describe(v), TypeError);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Keys

/** True for a 32-byte private key encoding 1..n-1 (false for anything else, no throw). */
export function isValidPrivateKey(priv: unknown): boolean {
  if (!(priv instanceof Uint8Array) || priv.length !== PRIVATE_KEY_BYTES) return false;
  return scIsValidNonZero(scFromBytes(scNew(), priv, 0));
}

/** SEC 1 public key of `priv`: 33 bytes (compressed, default) or 65 bytes. */
export function getPublicKey(priv: Uint8Array, compressed?: boolean): Uint8Array {
  const c = compressed === undefined ? true : aflag('compressed', compressed);
  const d = privToScalar(priv, scNew());
  const P = mulG(jacNew(), d);
  const x = feNew();
  const y = feNew();
  jacToAffine(P, x, y);
  d.fill(0);
  return encodePoint(x, y, c);
}

// ---------------------------------------------------------------------------------------------
// Verification

export interface VerifyOptions {
  /** Reject s > n/2 (noble's default, BIP 62 / Ethereum rule). Default true. */
  lowS?: boolean;
}

/**
 * True iff `sig64` (r || s) is a valid signature of `msgHash` by `pub` (SEC 1, 33 or 65 bytes).
 * Wrong types or lengths throw; every other failure (r or s outside 1..n-1, high s when lowS,
 * a public key that is not a curve point, a mismatch) returns false, as in noble.
 */
export function verify(sig64: Uint8Array, msgHash: Uint8Array, pub: Uint8Array, opts?: VerifyOptions): boolean {
  abytes('signature', sig64, SIGNATURE_BYTES);
  const h = hashToScalar(msgHash, scNew());
  abytes('publicKey', pub);
  if (pub.length !== 33 && pub.length !== 65)
    throw err('E_LENGTH', '"publicKey" expected 33 or 65 bytes, got ' + pub.length, RANGE_ERROR);
  const lowS = opts === undefined || opts.lowS === undefined ? true : aflag('lowS', opts.lowS);
  const r = scFromBytes(scNew(), sig64, 0);
  const s = scFromBytes(scNew(), sig64, 32);
  if (!scIsValidNonZero(r) || !scIsValidNonZero(s)) return false;
  if (lowS && scIsHigh(s)) return false;
  const qx = feNew();
  const qy = feNew();
  if (!decodePoint(pub, qx, qy)) return false;
  const w = modInvert(scNew(), s, N_INFO);
  const u1 = scMul(scNew(), h, w);
  const u2 = scMul(scNew(), r, w);
  const R = mulG(jacNew(), u1);
  jacAdd(R, mulAffine(jacNew(), qx, qy, u2));
  const x = feNew();
  const y = feNew();
  if (!jacToAffine(R, x, y)) return false;
  // x is canonical (< p); compare x mod n with r.
  return scCmp(scReduceOnce(x, x), r) === 0;
}

// ---------------------------------------------------------------------------------------------
// Recovery

/**
 * The public key that produced `sig64` over `msgHash` with recovery id 0..3 (bit 0: parity of
 * R.y; bit 1: R.x = r + n). Throws E_SIGNATURE for r or s outside 1..n-1 and E_RECOVER when no
 * key matches.
 */
export function recoverPublicKey(sig64: Uint8Array, recovery: number, msgHash: Uint8Array, compressed?: boolean): Uint8Array {
  abytes('signature', sig64, SIGNATURE_BYTES);
  aint('recovery', recovery, 0, 3);
  const h = hashToScalar(msgHash, scNew());
  const c = compressed === undefined ? true : aflag('compressed', compressed);
  const r = scFromBytes(scNew(), sig64, 0);
  const s = scFromBytes(scNew(), sig64, 32);
  if (!scIsValidNonZero(r)) throw err('E_SIGNATURE', '"signature" r expected 1..n-1', RANGE_ERROR);
  if (!scIsValidNonZero(s)) throw err('E_SIGNATURE', '"signature" s expected 1..n-1', RANGE_ERROR);
  // R.x = r, or r + n for recovery ids 2 and 3 (only possible when r + n < p).
  const rx = feNew();
  if (recovery & 2) {
    let c2 = 0;
    for (let i = 0; i < 16; i++) {
      const v = r[i] + N_LIMBS[i] + c2;
      rx[i] = v & 0xffff;
      c2 = v >>> 16;
    }
    if (c2 || !feIsCanonical(rx)) throw err('E_RECOVER', 'recovery id ' + recovery + ' needs r + n < p; no key matches');
  } else {
    for (let i = 0; i < 16; i++) rx[i] = r[i];
  }
  const ry = feNew();
  if (!liftX(rx, (recovery & 1) === 1, ry)) throw err('E_RECOVER', 'r is not the x-coordinate of a curve point; no key matches');
  const ri = modInvert(scNew(), r, N_INFO);
  const u1 = scMul(scNew(), scNeg(scNew(), h), ri); // -h / r
  const u2 = scMul(scNew(), s, ri); // s / r
  const Q = mulG(jacNew(), u1);
  jacAdd(Q, mulAffine(jacNew(), rx, ry, u2));
  const x = feNew();
  const y = feNew();
  if (!jacToAffine(Q, x, y)) throw err('E_RECOVER', 'recovered point is at infinity; no key matches');
  return encodePoint(x, y, c);
}
