// Modular inversion by Bernstein-Yang divsteps ("safegcd", https://gcd.cr.yp.to/safegcd-20190413.pdf),
// in the variable-time form of libsecp256k1's src/modinv32_impl.h (secp256k1_modinv32_var),
// adapted to what doubles can hold exactly: batches of 24 divsteps on signed 24-bit limbs.
//
// Why 24: a batch yields a 2x2 matrix with entries below 2^24; applying it to 24-bit limbs, plus
// the modulus correction, stays below 2^50, exact in a double, and the divsteps themselves run on
// int32 (no Math.imul: every product there is below 2^40). Limbs of exactly the batch length make
// the division by 2^24 after each batch a shift by one limb.
//
// Timing: VARIABLE-TIME in the value being inverted (branches and the number of batches depend
// on it). Callers invert only blinded values (x * b with a secret random b, then multiply by b),
// so the timing reveals nothing about the secret x. See sign-job.ts.
//
// The work is split into batches so a caller can spread one inversion over several event-loop
// turns: invStart(), then invBatch() until it returns true, then invFinish().

import type { Fe } from './field.js';

// ---------------------------------------------------------------------------------------------
// Constants

/** Divsteps per batch, and the bit width of a limb. */
const N = 24;
const M24 = 0xffffff;
const B24 = 16777216;
/** Limbs: 11 * 24 = 264 bits hold the signed values (|d|, |e| < 2 * modulus < 2^257). */
const L = 11;
/**
 * Batches before giving up. The divsteps bound for 256-bit inputs is 590 to 724 depending on the
 * starting delta (paper §11, libsecp256k1 doc/safegcd_implementation.md); 40 * 24 = 960 leaves
 * margin, so reaching it means a bug, not an unlucky input.
 */
export const MAX_INV_BATCHES = 40;

/** Trailing zeros of a byte; 8 for zero. */
const CTZ8 = new Uint8Array(256);
CTZ8[0] = 8;
for (let i = 1; i < 256; i++) {
  let z = 0;
  while (((i >> z) & 1) === 0) z++;
  CTZ8[i] = z;
}

/** INV256[i] = -(2i + 1)^-1 mod 256 (negated, as libsecp256k1's table: g + f*w cancels bits). */
const INV256 = new Uint8Array(128);
for (let i = 0; i < 128; i++) {
  const a = 2 * i + 1;
  let x = a; // correct mod 8; each Newton step doubles the correct bits
  for (let k = 0; k < 3; k++) x = (x * (2 - a * x)) & 255;
  INV256[i] = -x & 255;
}

// ---------------------------------------------------------------------------------------------
// Modulus description

export interface ModInfo {
  /** The odd modulus in 24-bit limbs. */
  m: Int32Array;
  /** m^-1 mod 2^24. */
  inv: number;
}

/** Builds the description of an odd modulus given as 16 limbs of 16 bits. */
export function modInfo(m16: ArrayLike<number>): ModInfo {
  const m = new Int32Array(L);
  from16(m, m16);
  const m0 = m[0];
  let x = m0;
  for (let k = 0; k < 4; k++) x = (x * ((2 - ((m0 * x) & M24)) & M24)) & M24;
  return { m: m, inv: x };
}

/** 16 limbs of 16 bits (non-negative, each < 2^16) into 11 limbs of 24 bits. */
function from16(out: Int32Array, a: ArrayLike<number>): void {
  let acc = 0;
  let bits = 0;
  let j = 0;
  for (let i = 0; i < 16; i++) {
    acc += a[i] * (bits === 0 ? 1 : bits === 8 ? 256 : bits === 16 ? 65536 : 16777216);
    bits += 16;
    if (bits >= 24) {
      const lo = acc & M24;
      out[j++] = lo;
      acc = (acc - lo) / B24;
      bits -= 24;
    }
  }
  out[j++] = acc;
  while (j < L) out[j++] = 0;
}

/** 11 limbs of 24 bits (each in [0, 2^24), value < 2^256) into 16 limbs of 16 bits. */
function to16(out: Fe, a: Int32Array): void {
  let acc = 0;
  let bits = 0;
  let j = 0;
  for (let i = 0; i < L && j < 16; i++) {
    acc += a[i] * (bits === 0 ? 1 : 256);
    bits += 24;
    while (bits >= 16 && j < 16) {
      const lo = acc & 0xffff;
      out[j++] = lo;
      acc = (acc - lo) / 65536;
      bits -= 16;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// State of one inversion

export interface InvState {
  f: Int32Array;
  g: Int32Array;
  d: Int32Array;
  e: Int32Array;
  eta: number;
  len: number;
  batches: number;
  done: boolean;
  mi: ModInfo;
}

export function newInvState(mi: ModInfo): InvState {
  return {
    f: new Int32Array(L),
    g: new Int32Array(L),
    d: new Int32Array(L),
    e: new Int32Array(L),
    eta: -1,
    len: L,
    batches: 0,
    done: false,
    mi: mi,
  };
}

/** Starts inverting x (16-bit limbs, canonical: below the modulus). */
export function invStart(st: InvState, x: Fe): void {
  st.f.set(st.mi.m);
  from16(st.g, x);
  st.d.fill(0);
  st.e.fill(0);
  st.e[0] = 1;
  // eta = -delta; delta starts at 1 as in libsecp256k1's variable-time code.
  st.eta = -1;
  st.len = L;
  st.batches = 0;
  let z = 0;
  for (let i = 0; i < L; i++) z |= st.g[i];
  st.done = z === 0;
}

// The transition matrix of the last batch (module scratch: inversions are synchronous).
let tu = 0;
let tv = 0;
let tq = 0;
let tr = 0;

/** 24 divsteps on the low bits of f and g (libsecp256k1 secp256k1_modinv32_divsteps_30_var). */
function divsteps(eta: number, f: number, g: number): number {
  let u = 1;
  let v = 0;
  let q = 0;
  let r = 1;
  let i = N;
  for (;;) {
    // Steps with g even only halve g: do up to 8 of them at once.
    let zeros = CTZ8[g & 255];
    if (zeros > i) zeros = i;
    g >>= zeros;
    u <<= zeros;
    v <<= zeros;
    eta -= zeros;
    i -= zeros;
    if (i === 0) break;
    if ((g & 1) === 0) continue;
    if (eta < 0) {
      let t = f;
      eta = -eta;
      f = g;
      g = -t | 0;
      t = u;
      u = q;
      q = -t | 0;
      t = v;
      v = r;
      r = -t | 0;
    }
    // Cancel as many low bits of g as allowed (at most i, at most eta + 1, at most 8 per table
    // lookup) by adding a multiple of f.
    const limit = eta + 1 > i ? i : eta + 1;
    const m = (0xffffffff >>> (32 - limit)) & 255;
    const w = (g * INV256[(f >> 1) & 127]) & m;
    g = (g + f * w) | 0;
    q = (q + u * w) | 0;
    r = (r + v * w) | 0;
  }
  tu = u;
  tv = v;
  tq = q;
  tr = r;
  return eta;
}

/** [f, g] = [u v; q r] [f, g] / 2^24 on the first len limbs. */
function updateFg(f: Int32Array, g: Int32Array, len: number): void {
  const u = tu;
  const v = tv;
  const q = tq;
  const r = tr;
  let fi = f[0];
  let gi = g[0];
  let cf = u * fi + v * gi;
  let cg = q * fi + r * gi;
  // The low 24 bits are zero by construction of the matrix.
  cf = cf / B24;
  cg = cg / B24;
  for (let i = 1; i < len; i++) {
    fi = f[i];
    gi = g[i];
    cf += u * fi + v * gi;
    cg += q * fi + r * gi;
    let lo = cf & M24;
    f[i - 1] = lo;
    cf = (cf - lo) / B24;
    lo = cg & M24;
    g[i - 1] = lo;
    cg = (cg - lo) / B24;
  }
  f[len - 1] = cf;
  g[len - 1] = cg;
}

/** [d, e] = [u v; q r] [d, e] / 2^24 mod m, keeping d, e in (-2m, m). */
function updateDe(d: Int32Array, e: Int32Array, mi: ModInfo): void {
  const u = tu;
  const v = tv;
  const q = tq;
  const r = tr;
  const m = mi.m;
  const sd = d[L - 1] >> 31;
  const se = e[L - 1] >> 31;
  let md = (u & sd) + (v & se);
  let me = (q & sd) + (r & se);
  let di = d[0];
  let ei = e[0];
  let cd = u * di + v * ei;
  let ce = q * di + r * ei;
  // Choose md, me so that the sums below have 24 zero low bits.
  md -= (mi.inv * (cd & M24) + md) & M24;
  me -= (mi.inv * (ce & M24) + me) & M24;
  cd += m[0] * md;
  ce += m[0] * me;
  cd = cd / B24;
  ce = ce / B24;
  for (let i = 1; i < L; i++) {
    di = d[i];
    ei = e[i];
    cd += u * di + v * ei + m[i] * md;
    ce += q * di + r * ei + m[i] * me;
    let lo = cd & M24;
    d[i - 1] = lo;
    cd = (cd - lo) / B24;
    lo = ce & M24;
    e[i - 1] = lo;
    ce = (ce - lo) / B24;
  }
  d[L - 1] = cd;
  e[L - 1] = ce;
}

/** One batch of divsteps. Returns true once g = 0 (then call invFinish). */
export function invBatch(st: InvState): boolean {
  if (st.done) return true;
  if (st.batches >= MAX_INV_BATCHES) {
    const e = new Error('modular inversion did not converge in ' + MAX_INV_BATCHES + ' batches') as Error & { code: string };
    e.code = 'E_INVERT';
    throw e;
  }
  st.batches++;
  const f = st.f;
  const g = st.g;
  let len = st.len;
  st.eta = divsteps(st.eta, f[0], g[0]);
  updateDe(st.d, st.e, st.mi);
  updateFg(f, g, len);
  if (g[0] === 0) {
    let z = 0;
    for (let j = 1; j < len; j++) z |= g[j];
    if (z === 0) {
      st.done = true;
      return true;
    }
  }
  // Drop the top limb once it holds only the sign of both f and g.
  const fn = f[len - 1];
  const gn = g[len - 1];
  if (len >= 2 && (fn ^ (fn >> 31)) === 0 && (gn ^ (gn >> 31)) === 0) {
    f[len - 2] |= fn << 24;
    g[len - 2] |= gn << 24;
    st.len = --len;
  }
  return false;
}

/**
 * The inverse in [0, m) as 16 limbs of 16 bits (0 when x was 0: no inverse exists).
 * libsecp256k1 secp256k1_modinv32_normalize_30: d is in (-2m, m); f is +1 or -1.
 */
export function invFinish(st: InvState, out: Fe): Fe {
  const d = st.d;
  const m = st.mi.m;
  const sign = st.f[st.len - 1] >> 31;
  let cond = d[L - 1] >> 31;
  for (let i = 0; i < L; i++) d[i] += m[i] & cond;
  for (let i = 0; i < L; i++) d[i] = (d[i] ^ sign) - sign;
  for (let i = 0; i < L - 1; i++) {
    d[i + 1] += d[i] >> 24;
    d[i] &= M24;
  }
  cond = d[L - 1] >> 31;
  for (let i = 0; i < L; i++) d[i] += m[i] & cond;
  for (let i = 0; i < L - 1; i++) {
    d[i + 1] += d[i] >> 24;
    d[i] &= M24;
  }
  to16(out, d);
  return out;
}

/** x^-1 mod m in one go (desktop paths and tests). */
export function modInvert(out: Fe, x: Fe, mi: ModInfo): Fe {
  const st = newInvState(mi);
  invStart(st, x);
  while (!invBatch(st)) {
    /* next batch */
  }
  return invFinish(st, out);
}
