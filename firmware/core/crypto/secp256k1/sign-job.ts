// ECDSA signing (SEC 1 v2 §4.1.3) with RFC 6979 deterministic nonces (HMAC-SHA-256 DRBG, §3.2),
// low-S normalised, as a job that does a bounded amount of work per step() so the device's event
// loop keeps running while a signature is computed over many ticks. sign() runs the same job to
// completion in one step. Output is byte-identical to @noble/secp256k1 v3
// sign(msgHash, priv, { prehash: false, lowS: true, format: 'recovered' }) (and its extraEntropy).
//
// Work is counted in units of about one field multiplication (WORK_COSTS). A step performs
// operations until the next one would exceed its budget (always at least one), so a step costs
// at most max(budget, the largest single operation) units. Default budget DEFAULT_SIGN_BUDGET.
//
// Side channels: the nonce inversion and the point's Z inversion use variable-time divsteps on
// BLINDED values: k*b mod n and Z*b mod p, with b = HMAC_K(V || 0x02) from the RFC 6979 state
// (secret, independent of k), then multiplied back by b. The comb's table index and digit signs
// are secret-dependent (see gtable.ts). Nothing here is constant-time in the strict sense.

import { abytes, aint, describe, err } from '../../util/errors.js';
import { createHmacSha256, type HmacSha256 } from '../hmac.js';
import { sha256IsNative } from '../sha256.js';
import { hashToScalar, privToScalar } from './ecdsa.js';
import { feFromBytes, feIsZero, feMul, feNew, feNormalize, feSetSmall } from './field.js';
import { combFailed, combStart, combStep, mulGSlow, newCombState, SPACING } from './gtable.js';
import { invBatch, invFinish, invStart, newInvState } from './modinv.js';
import { affineFromInverse, P_INFO } from './point.js';
import {
  N_INFO, scAdd, scFromBytes, scIsHigh, scIsValidNonZero, scIsZero, scMul, scNeg, scNew, scReduceOnce,
  scToBytes,
} from './scalar.js';

// ---------------------------------------------------------------------------------------------
// Constants

/**
 * Default work per step, in field-multiplication units (WORK_COSTS): two comb columns, or 13
 * divsteps batches; about 9 ms per step in the -Og Linux build, 20 steps per signature.
 */
export const DEFAULT_SIGN_BUDGET = 40;
/** Upper bound accepted for opts.budget. */
export const MAX_SIGN_BUDGET = 1e9;
/** RFC 6979 §3.2 step h: candidates tried before giving up (noble's hmacDrbg limit). */
export const MAX_DRBG_ITERATIONS = 1000;
/** Length of opts.extraEntropy (RFC 6979 §3.6 k'). */
export const EXTRA_ENTROPY_BYTES = 32;

/**
 * Cost of each operation in units of about one field multiplication: 0.2 ms in Espruino's -Og
 * Linux build with E.convolve on a desktop x86 (measured there, with native SHA-256: a comb column
 * 4.2 ms, a divsteps batch 0.45-0.65 ms, an HMAC 0.2-0.7 ms, a JavaScript HMAC about 38 ms;
 * starting the k inversion 1.4 ms, the affine step 2.2 ms, the final step 4.5 ms). The device is
 * slower by a roughly constant factor, so the proportions, not the milliseconds, carry over.
 */
export const WORK_COSTS = {
  /** One comb column: a doubling (7 multiplications) and a mixed addition (11), linear operations. */
  column: 20,
  /** 24 divsteps and the update of f, g, d, e (11 limbs of 24 bits). */
  invBatch: 3,
  hmacNative: 2,
  hmacPortable: 180,
  /** Blind (Z * b, or k * b mod n), normalise, start an inversion. */
  invStart: 7,
  /** Finish Z^-1, affine x and y, r, recovery id. */
  affine: 10,
  /** Finish k^-1, s = k^-1 (h + r d), low-S, encode. */
  finish: 21,
  /** The exception-free recomputation after an exceptional comb addition (never seen in practice). */
  fallback: 4000,
};

/** Divsteps batches of one inversion, on average (for `progress` only). */
const EXPECTED_INV_BATCHES = 23;

// Operations of the job, in order.
const OP_SEED1 = 0;
const OP_SEED2 = 1;
const OP_SEED3 = 2;
const OP_SEED4 = 3;
const OP_GEN = 4;
const OP_BLIND = 5;
const OP_COMB = 6;
const OP_FALLBACK = 7;
const OP_ZINV_START = 8;
const OP_ZINV = 9;
const OP_AFFINE = 10;
const OP_KINV_START = 11;
const OP_KINV = 12;
const OP_S = 13;
const OP_RESEED1 = 14;
const OP_RESEED2 = 15;
const OP_DONE = 16;

const BYTE0 = new Uint8Array([0]);
const BYTE1 = new Uint8Array([1]);
const BYTE2 = new Uint8Array([2]);

// ---------------------------------------------------------------------------------------------
// Types

export interface Signature {
  /** 32 bytes, big-endian. */
  r: Uint8Array;
  /** 32 bytes, big-endian, at most floor(n / 2). */
  s: Uint8Array;
  /** 0..3: bit 0 is the parity of R.y, bit 1 is set when R.x >= n (noble's `recovery`). */
  recovery: number;
  /** r || s, 64 bytes. */
  compact: Uint8Array;
}

export interface SignOptions {
  /** Work units per step() (default DEFAULT_SIGN_BUDGET); see WORK_COSTS. */
  budget?: number;
  /** 32 bytes mixed into the nonce (RFC 6979 §3.6), as noble's extraEntropy. */
  extraEntropy?: Uint8Array;
}

export interface SignJob {
  /** Does up to `budget` units of work; true once the signature is ready. */
  step(): boolean;
  /** The signature; throws E_NOT_FINISHED before step() returned true. */
  result(): Signature;
  /** Estimated fraction done, 0..1 (1 exactly when finished). */
  progress: number;
  /** Steps taken so far. */
  steps: number;
}

// ---------------------------------------------------------------------------------------------

/** Starts signing a 32-byte hash with a 32-byte private key. Validates everything up front. */
export function createSignJob(msgHash: Uint8Array, priv: Uint8Array, opts?: SignOptions): SignJob {
  const h = hashToScalar(msgHash, scNew());
  const d = privToScalar(priv, scNew());
  let budget = DEFAULT_SIGN_BUDGET;
  let extra: Uint8Array | undefined;
  if (opts !== undefined) {
    if (typeof opts !== 'object' || opts === null) throw err('E_TYPE', '"opts" expected an object, got ' + describe(opts), TypeError);
    if (opts.budget !== undefined) budget = aint('budget', opts.budget, 1, MAX_SIGN_BUDGET);
    if (opts.extraEntropy !== undefined) extra = abytes('extraEntropy', opts.extraEntropy, EXTRA_ENTROPY_BYTES);
  }
  const hashCost = sha256IsNative() ? WORK_COSTS.hmacNative : WORK_COSTS.hmacPortable;
  const expected =
    6 * hashCost + (SPACING - 1) * WORK_COSTS.column + 2 * WORK_COSTS.invStart +
    2 * EXPECTED_INV_BATCHES * WORK_COSTS.invBatch + WORK_COSTS.affine + WORK_COSTS.finish;

  // RFC 6979 §3.2 step d: seed = int2octets(x) || bits2octets(h1) [|| k'].
  const seed = new Uint8Array(64 + (extra ? extra.length : 0));
  scToBytes(seed, 0, d);
  scToBytes(seed, 32, h);
  if (extra) seed.set(extra, 64);

  // Steps b, c: V = 0x01..., K = 0x00...
  let V: Uint8Array = new Uint8Array(32);
  V.fill(1);
  let hm: HmacSha256 = createHmacSha256(new Uint8Array(32));
  let iterations = 0;

  const k = scNew();
  const bn = scNew(); // blinding factor mod n
  const bp = feNew(); // the same bytes as a field element
  const comb = newCombState();
  const inv = newInvState(P_INFO);
  const ninv = newInvState(N_INFO);
  const t = feNew();
  const x = feNew();
  const y = feNew();
  const r = scNew();
  let recovery = 0;
  let sig: Signature | undefined;
  let op = OP_SEED1;
  let spentTotal = 0;

  function rekey(key: Uint8Array): void {
    hm.clean();
    hm = createHmacSha256(key);
  }

  function cost(): number {
    switch (op) {
      case OP_COMB:
        return WORK_COSTS.column;
      case OP_ZINV:
      case OP_KINV:
        return WORK_COSTS.invBatch;
      case OP_FALLBACK:
        return WORK_COSTS.fallback;
      case OP_ZINV_START:
      case OP_KINV_START:
        return WORK_COSTS.invStart;
      case OP_AFFINE:
        return WORK_COSTS.affine;
      case OP_S:
        return WORK_COSTS.finish;
      default:
        return hashCost;
    }
  }

  function scrub(): void {
    hm.clean();
    V.fill(0);
    seed.fill(0);
    d.fill(0);
    k.fill(0);
    bn.fill(0);
    bp.fill(0);
    comb.u.fill(0);
    // 1 / k, and the blinded inverse it came from.
    t.fill(0);
    ninv.d.fill(0);
    ninv.e.fill(0);
  }

  function run(): void {
    switch (op) {
      case OP_SEED1: // K = HMAC_K(V || 0x00 || seed)
        rekey(hm.mac([V, BYTE0, seed]));
        op = OP_SEED2;
        return;
      case OP_SEED2: // V = HMAC_K(V)
        V = hm.mac([V]);
        op = OP_SEED3;
        return;
      case OP_SEED3: // K = HMAC_K(V || 0x01 || seed)
        rekey(hm.mac([V, BYTE1, seed]));
        op = OP_SEED4;
        return;
      case OP_SEED4:
        V = hm.mac([V]);
        op = OP_GEN;
        return;
      case OP_GEN: {
        // Step h: T = V = HMAC_K(V); k = bits2int(T), accepted if 1 <= k < n.
        if (iterations++ >= MAX_DRBG_ITERATIONS)
          throw err('E_DRBG', 'RFC 6979: no valid nonce after ' + MAX_DRBG_ITERATIONS + ' candidates');
        V = hm.mac([V]);
        scFromBytes(k, V, 0);
        op = scIsValidNonZero(k) ? OP_BLIND : OP_RESEED1;
        return;
      }
      case OP_BLIND: {
        // A secret factor independent of k, from the DRBG key; it leaves K and V untouched, so
        // later candidates (if any) follow RFC 6979 exactly.
        const b = hm.mac([V, BYTE2]);
        scFromBytes(bn, b, 0);
        scReduceOnce(bn, bn);
        if (scIsZero(bn)) bn[0] = 1;
        feFromBytes(bp, b, 0);
        if (feIsZero(bp)) feSetSmall(bp, 1);
        b.fill(0);
        combStart(comb, k);
        op = OP_COMB;
        return;
      }
      case OP_COMB:
        if (combStep(comb)) op = combFailed(comb) ? OP_FALLBACK : OP_ZINV_START;
        return;
      case OP_FALLBACK:
        mulGSlow(comb.r, k);
        op = OP_ZINV_START;
        return;
      case OP_ZINV_START:
        feMul(t, comb.r.z, bp);
        invStart(inv, feNormalize(t));
        op = OP_ZINV;
        return;
      case OP_ZINV:
        if (invBatch(inv)) op = OP_AFFINE;
        return;
      case OP_AFFINE: {
        invFinish(inv, t);
        feMul(t, t, bp); // 1 / Z
        affineFromInverse(comb.r, t, x, y);
        // r = x mod n; recovery: bit 1 when x >= n, bit 0 the parity of y.
        scReduceOnce(r, x);
        // x >= n iff the reduction changed x; it then changed limb 0 too, as n[0] = 0x4141 != 0.
        recovery = (r[0] === x[0] ? 0 : 2) | (y[0] & 1);
        op = scIsZero(r) ? OP_RESEED1 : OP_KINV_START;
        return;
      }
      case OP_KINV_START:
        scMul(t, k, bn);
        invStart(ninv, t);
        op = OP_KINV;
        return;
      case OP_KINV:
        if (invBatch(ninv)) op = OP_S;
        return;
      case OP_S: {
        invFinish(ninv, t);
        scMul(t, t, bn); // 1 / k
        const s = scMul(scNew(), r, d);
        scAdd(s, s, h);
        scMul(s, s, t);
        if (scIsZero(s)) {
          op = OP_RESEED1;
          return;
        }
        if (scIsHigh(s)) {
          scNeg(s, s);
          recovery ^= 1;
        }
        const compact = new Uint8Array(64);
        scToBytes(compact, 0, r);
        scToBytes(compact, 32, s);
        // Copies, not slice(): Espruino's TypedArray slice() returns a plain Array.
        const rb = new Uint8Array(32);
        const sb = new Uint8Array(32);
        rb.set(compact.subarray(0, 32));
        sb.set(compact.subarray(32, 64));
        sig = { r: rb, s: sb, recovery: recovery, compact: compact };
        scrub();
        op = OP_DONE;
        return;
      }
      case OP_RESEED1: // K = HMAC_K(V || 0x00); V = HMAC_K(V) (reseed without data), then step h again
        rekey(hm.mac([V, BYTE0]));
        op = OP_RESEED2;
        return;
      case OP_RESEED2:
        V = hm.mac([V]);
        op = OP_GEN;
        return;
    }
  }

  const job: SignJob = {
    progress: 0,
    steps: 0,
    step: function (): boolean {
      if (op === OP_DONE) return true;
      job.steps++;
      let spent = 0;
      for (;;) {
        const c = cost();
        if (spent > 0 && spent + c > budget) break;
        run();
        spent += c;
        if (op === OP_DONE) break;
      }
      spentTotal += spent;
      if (op === OP_DONE) job.progress = 1;
      else job.progress = spentTotal < expected ? (0.99 * spentTotal) / expected : 0.99;
      return op === OP_DONE;
    },
    result: function (): Signature {
      if (!sig) throw err('E_NOT_FINISHED', 'signature not ready: call step() until it returns true');
      return sig;
    },
  };
  return job;
}

/** Signs at once: the same job, run to completion in one step. */
export function sign(msgHash: Uint8Array, priv: Uint8Array, opts?: { extraEntropy?: Uint8Array }): Signature {
  let extra: Uint8Array | undefined;
  if (opts !== undefined) {
    if (typeof opts !== 'object' || opts === null) throw err('E_TYPE', '"opts" expected an object, got ' + describe(opts), TypeError);
    extra = opts.extraEntropy;
  }
  const job = createSignJob(msgHash, priv, extra === undefined ? { budget: MAX_SIGN_BUDGET } : { budget: MAX_SIGN_BUDGET, extraEntropy: extra });
  job.step();
  return job.result();
}
