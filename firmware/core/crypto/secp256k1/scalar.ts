// Arithmetic modulo the group order n (SEC 2 v2 §2.4.1) without BigInt.
//
// Same 16 x 16-bit limb layout as field.ts, but scalars are always kept canonical (< n): there
// are only a handful of scalar operations per signature, so simplicity wins over laziness here.
// Reduction folds with 2^256 = c (mod n), c = 2^256 - n < 2^129, until the value fits 256 bits.

import { mulCols, type Fe } from './field.js';
import { modInfo, type ModInfo } from './modinv.js';

// ---------------------------------------------------------------------------------------------
// Constants (SEC 2 v2 §2.4.1)

const LIMBS = 16;
const M16 = 0xffff;
/** n, 16-bit limbs, least significant first. */
const N_LIMBS = new Int32Array([0x4141, 0xd036, 0x5e8c, 0xbfd2, 0xa03b, 0xaf48, 0xdce6, 0xbaae,
  0xfffe, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff]);
/** c = 2^256 - n (129 bits). */
const C_LIMBS = new Int32Array([0xbebf, 0x2fc9, 0xa173, 0x402d, 0x5fc4, 0x50b7, 0x2319, 0x4551, 0x0001]);
/** floor(n / 2): s above it is "high" (BIP 62 / noble lowS). */
const HALF_N = new Int32Array([0x20a0, 0x681b, 0x2f46, 0xdfe9, 0x501d, 0x57a4, 0x6e73, 0x5d57,
  0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0x7fff]);

export const N_INFO: ModInfo = modInfo(N_LIMBS);

// ---------------------------------------------------------------------------------------------
// Scratch (synchronous use only)

const COLS = new Float64Array(31);
/** Wide value in 16-bit limbs: 32 limbs for a product, 2 spare for folds. */
const W = new Float64Array(34);
const FOLD_COLS = new Float64Array(31);
const HI = new Int32Array(LIMBS);
/** c padded to 16 limbs, as the second operand of the fold products. */
const C16 = new Int32Array(LIMBS);
C16.set(C_LIMBS);

// ---------------------------------------------------------------------------------------------

export function scNew(): Fe {
  return new Int32Array(LIMBS);
}

export function scCopy(r: Fe, a: Fe): Fe {
  for (let i = 0; i < LIMBS; i++) r[i] = a[i];
  return r;
}

/** 32 big-endian bytes as a 256-bit integer (not reduced). */
export function scFromBytes(r: Fe, b: Uint8Array, off: number): Fe {
  for (let i = 0; i < LIMBS; i++) r[i] = b[off + 31 - 2 * i] | (b[off + 30 - 2 * i] << 8);
  return r;
}

export function scToBytes(out: Uint8Array, off: number, a: Fe): Uint8Array {
  for (let i = 0; i < LIMBS; i++) {
    out[off + 31 - 2 * i] = a[i] & 0xff;
    out[off + 30 - 2 * i] = a[i] >> 8;
  }
  return out;
}

/** Compares two canonical 16-limb values: -1, 0 or 1. */
export function scCmp(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = LIMBS - 1; i >= 0; i--) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

export function scIsZero(a: Fe): boolean {
  let d = 0;
  for (let i = 0; i < LIMBS; i++) d |= a[i];
  return d === 0;
}

/** True for 1 <= a < n (a: any 256-bit value in 16-bit limbs). */
export function scIsValidNonZero(a: Fe): boolean {
  return !scIsZero(a) && scCmp(a, N_LIMBS) < 0;
}

/** True when a > floor(n / 2). */
export function scIsHigh(a: Fe): boolean {
  return scCmp(a, HALF_N) > 0;
}

/** r = a - n if a >= n (a below 2^256, so one subtraction is enough). */
export function scReduceOnce(r: Fe, a: Fe): Fe {
  if (scCmp(a, N_LIMBS) < 0) return scCopy(r, a);
  let b = 0;
  for (let i = 0; i < LIMBS; i++) {
    const x = a[i] - N_LIMBS[i] - b;
    r[i] = x & M16;
    b = (x >> 31) & 1;
  }
  return r;
}

/** r = (a + b) mod n. */
export function scAdd(r: Fe, a: Fe, b: Fe): Fe {
  let c = 0;
  for (let i = 0; i < LIMBS; i++) {
    const x = a[i] + b[i] + c;
    W[i] = x & M16;
    c = x >>> 16;
  }
  W[16] = c;
  return reduceWide(r, W, 17);
}

/** r = -a mod n. */
export function scNeg(r: Fe, a: Fe): Fe {
  if (scIsZero(a)) return scCopy(r, a);
  let b = 0;
  for (let i = 0; i < LIMBS; i++) {
    const x = N_LIMBS[i] - a[i] - b;
    r[i] = x & M16;
    b = (x >> 31) & 1;
  }
  return r;
}

/** r = a * b mod n. */
export function scMul(r: Fe, a: Fe, b: Fe): Fe {
  mulCols(COLS, a, b);
  let c = 0;
  for (let k = 0; k < 31; k++) {
    const x = COLS[k] + c;
    W[k] = x & M16;
    c = (x / 65536) | 0;
  }
  W[31] = c;
  return reduceWide(r, W, 32);
}

/** r = a / 2 mod n, i.e. (a + n * (a odd)) >> 1 (used to recode scalars for the comb). */
export function scHalf(r: Fe, a: Fe): Fe {
  const odd = a[0] & 1;
  let c = 0;
  for (let i = 0; i < LIMBS; i++) {
    const x = a[i] + N_LIMBS[i] * odd + c;
    W[i] = x & M16;
    c = x >>> 16;
  }
  W[16] = c;
  for (let i = 0; i < LIMBS; i++) r[i] = (W[i] >> 1) | ((W[i + 1] & 1) << 15);
  return r;
}

/**
 * w (normalised 16-bit limbs, `len` of them) mod n into r: folds the limbs above 2^256 with c
 * (w = L + H 2^256 = L + H c), one 16 x 16 product each (native columns when installed), until
 * nothing is left above; then subtracts n once if needed. w is clobbered.
 */
function reduceWide(r: Fe, w: Float64Array, len: number): Fe {
  while (len > LIMBS) {
    const hi = len - LIMBS;
    for (let i = 0; i < LIMBS; i++) HI[i] = i < hi ? w[LIMBS + i] : 0;
    mulCols(FOLD_COLS, HI, C16);
    // H c has at most hi + 9 limbs; one more for the carry of the sum.
    const tl = hi + 9 > LIMBS ? hi + 10 : LIMBS + 1;
    let c = 0;
    for (let i = 0; i < tl; i++) {
      const x = (i < LIMBS ? w[i] : 0) + FOLD_COLS[i] + c;
      w[i] = x & M16;
      c = (x / 65536) | 0;
    }
    len = tl;
    while (len > LIMBS && w[len - 1] === 0) len--;
  }
  for (let i = 0; i < LIMBS; i++) r[i] = w[i];
  return scReduceOnce(r, r);
}

export function scalarOrderLimbs(): Fe {
  return scCopy(scNew(), N_LIMBS);
}
