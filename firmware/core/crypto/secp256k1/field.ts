// Arithmetic modulo p = 2^256 - 2^32 - 977 (SEC 2 §2.4.1) without BigInt.
//
// Representation: an element is an Int32Array of 16 limbs of 16 bits, least significant first.
// Results of every operation are "loose": each limb in [0, LOOSE) with LOOSE = 2^16 + 2^13, the
// value congruent mod p but not necessarily below p (or even below 2^256). feNormalize() gives
// the canonical form; only serialisation, comparisons and the inversion need it.
//
// Why 16-bit limbs: with limbs below LOOSE a column of a product is a sum of 16 products below
// 2^32.4, an exact double below 2^36.4, and the fold by 2^256 = 2^32 + 977 (mod p) can run on
// raw columns (979 * 2^36.4 < 2^46.3) before any carry. That fold is what makes 16-bit limbs beat
// wider ones on Espruino. Carries use `x & 0xffff` (exact for 0 <= x < 2^53: JavaScript's ToInt32,
// and Espruino converts doubles to int32 through a 64-bit integer, jsvar.c) and `(x / 65536) | 0`
// (exact while x / 65536 < 2^31, i.e. x < 2^47: the reason for the LOOSE bound).
//
// Products: with a native dot product installed (installConvolve(E.convolve)), each of the 31
// columns is one native call on a reversed, zero-padded copy of the second operand; otherwise
// plain loops, which V8 compiles well. Both produce the same columns, then share the reduction.
//
// Timing: no secret-dependent branches or indices here, but nothing in an interpreter is
// constant-time in a strict sense (Espruino's integer/double value representation differs by
// magnitude).

export type Fe = Int32Array;

// ---------------------------------------------------------------------------------------------
// Constants (SEC 2 v2 §2.4.1, secp256k1 domain parameters)

/** Limbs per element. */
export const LIMBS = 16;
const M16 = 0xffff;
/** Exclusive upper bound of every limb of every result (see the header comment). */
export const LOOSE = 0x12000;
/** p = 2^256 - 2^32 - 977, as 16-bit limbs, least significant first. */
const P_LIMBS = new Int32Array([0xfc2f, 0xffff, 0xfffe, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
  0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff]);
/** 2^256 mod p = 2^32 + 977: the fold constant, as limb 0 (977) and a unit at limb 2 (2^32). */
const FOLD = 977;

// ---------------------------------------------------------------------------------------------
// Operation counters (for the benchmark; cheap increments)

let nMul = 0;
let nSqr = 0;

export function fieldOpCounts(): { mul: number; sqr: number } {
  return { mul: nMul, sqr: nSqr };
}

export function resetFieldOpCounts(): void {
  nMul = 0;
  nSqr = 0;
}

// ---------------------------------------------------------------------------------------------
// Elements

export function feNew(): Fe {
  return new Int32Array(LIMBS);
}

export function feCopy(r: Fe, a: ArrayLike<number>): Fe {
  for (let i = 0; i < LIMBS; i++) r[i] = a[i];
  return r;
}

export function feSetSmall(r: Fe, v: number): Fe {
  r.fill(0);
  r[0] = v;
  return r;
}

/** 32 big-endian bytes (any value below 2^256; callers check the range they need). */
export function feFromBytes(r: Fe, b: Uint8Array, off: number): Fe {
  for (let i = 0; i < LIMBS; i++) r[i] = (b[off + 31 - 2 * i] | (b[off + 30 - 2 * i] << 8));
  return r;
}

/** Canonical 32 big-endian bytes into `out` at `off`. */
export function feToBytes(out: Uint8Array, off: number, a: Fe): Uint8Array {
  const t = TN;
  feCopy(t, a);
  feNormalize(t);
  for (let i = 0; i < LIMBS; i++) {
    out[off + 31 - 2 * i] = t[i] & 0xff;
    out[off + 30 - 2 * i] = t[i] >> 8;
  }
  return out;
}

/** True if the canonical limbs `a` (limbs < 2^16) are below p. */
export function feIsCanonical(a: Fe): boolean {
  for (let i = LIMBS - 1; i >= 0; i--) {
    if (a[i] !== P_LIMBS[i]) return a[i] < P_LIMBS[i];
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Reduction

/**
 * Full reduction in place: limbs < 2^16 and value < p. Accepts any limbs in [0, 2^31).
 */
export function feNormalize(r: Fe): Fe {
  let c = 0;
  let x = 0;
  // Two rounds of carry + fold bring the value below 2^256 (the second fold adds at most 2^32+977
  // to a value that just wrapped, so it cannot wrap again).
  for (let round = 0; round < 2; round++) {
    c = 0;
    for (let i = 0; i < LIMBS; i++) {
      x = r[i] + c;
      r[i] = x & M16;
      c = (x / 65536) | 0;
    }
    x = r[0] + FOLD * c;
    r[0] = x & M16;
    x = r[1] + ((x / 65536) | 0);
    r[1] = x & M16;
    x = r[2] + c + ((x / 65536) | 0);
    r[2] = x & M16;
    r[3] += (x / 65536) | 0;
  }
  c = 0;
  for (let i = 3; i < LIMBS; i++) {
    x = r[i] + c;
    r[i] = x & M16;
    c = x >>> 16;
  }
  // Now r < 2^256. r >= p iff r + (2^32 + 977) carries out of 2^256; then keep that sum.
  const t = TS;
  c = 0;
  for (let i = 0; i < LIMBS; i++) {
    x = r[i] + c + (i === 0 ? FOLD : i === 2 ? 1 : 0);
    t[i] = x & M16;
    c = x >>> 16;
  }
  if (c) feCopy(r, t);
  return r;
}

/** Reduce 31 raw columns (each < 2^39) into r. */
function reduceCols(r: Fe, T: Float64Array): void {
  let x = T[0] + FOLD * T[16];
  r[0] = x & M16;
  let c = (x / 65536) | 0;
  x = T[1] + FOLD * T[17] + c;
  r[1] = x & M16;
  c = (x / 65536) | 0;
  for (let i = 2; i < 15; i++) {
    x = T[i] + FOLD * T[i + 16] + T[i + 14] + c;
    r[i] = x & M16;
    c = (x / 65536) | 0;
  }
  x = T[15] + T[29] + c;
  r[15] = x & M16;
  c = (x / 65536) | 0;
  foldTopWide(r, T[30] + c);
}

/**
 * Folds what is left at 2^256 after a product (top < 2^36) back in: 977 at limb 0 and 1 at
 * limb 2, carried through limb 3; limb 4 takes the last small carry (< 8) and stays below LOOSE.
 */
function foldTopWide(r: Fe, top: number): void {
  let x = r[0] + 977 * top;
  r[0] = x & 0xffff;
  x = r[1] + ((x / 65536) | 0);
  r[1] = x & 0xffff;
  x = r[2] + top + ((x / 65536) | 0);
  r[2] = x & 0xffff;
  x = r[3] + ((x / 65536) | 0);
  r[3] = x & 0xffff;
  r[4] += (x / 65536) | 0;
}

// ---------------------------------------------------------------------------------------------
// Products

/** Scratch, allocated once: Espruino's allocator is slow and all of this is synchronous. */
const COLS = new Float64Array(31);
/** Second operand reversed into [0, 16), zeros in [16, 32): see mulColsConv. */
const REV = new Int32Array(32);
const ACOPY = new Int32Array(LIMBS);
const TN = new Int32Array(LIMBS);
const TS = new Int32Array(LIMBS);

export type ConvolveFn = (a: ArrayLike<number>, b: ArrayLike<number>, offset: number) => number;
let conv: ConvolveFn | undefined;

function mulColsPlain(T: Float64Array, a: Fe, b: Fe): void {
  T.fill(0);
  for (let i = 0; i < LIMBS; i++) {
    const ai = a[i];
    for (let j = 0; j < LIMBS; j++) T[i + j] += ai * b[j];
  }
}

function sqrColsPlain(T: Float64Array, a: Fe): void {
  T.fill(0);
  for (let i = 0; i < LIMBS; i++) {
    const ai = a[i];
    const a2 = ai + ai;
    T[i + i] += ai * ai;
    for (let j = i + 1; j < LIMBS; j++) T[i + j] += a2 * a[j];
  }
}

/**
 * Column k of a*b is sum over i of a[i] * b[k - i]. With B[m] = b[15 - m] for m < 16 and
 * B[m] = 0 for 16 <= m < 32, conv(a, B, o) = sum a[i] * B[(i + o) % 32], which is column k for
 * o = 15 - k (k <= 15) and o = 47 - k (k >= 16): out-of-range terms land on the zeros.
 * Unrolled: a loop costs about half as much again in the interpreter.
 */
function mulColsConv(T: Float64Array, a: Fe, b: Fe): void {
  const B = REV;
  const cv = conv as ConvolveFn;
  B[0] = b[15]; B[1] = b[14]; B[2] = b[13]; B[3] = b[12];
  B[4] = b[11]; B[5] = b[10]; B[6] = b[9]; B[7] = b[8];
  B[8] = b[7]; B[9] = b[6]; B[10] = b[5]; B[11] = b[4];
  B[12] = b[3]; B[13] = b[2]; B[14] = b[1]; B[15] = b[0];
  T[0] = cv(a, B, 15); T[1] = cv(a, B, 14); T[2] = cv(a, B, 13); T[3] = cv(a, B, 12);
  T[4] = cv(a, B, 11); T[5] = cv(a, B, 10); T[6] = cv(a, B, 9); T[7] = cv(a, B, 8);
  T[8] = cv(a, B, 7); T[9] = cv(a, B, 6); T[10] = cv(a, B, 5); T[11] = cv(a, B, 4);
  T[12] = cv(a, B, 3); T[13] = cv(a, B, 2); T[14] = cv(a, B, 1); T[15] = cv(a, B, 0);
  T[16] = cv(a, B, 31); T[17] = cv(a, B, 30); T[18] = cv(a, B, 29); T[19] = cv(a, B, 28);
  T[20] = cv(a, B, 27); T[21] = cv(a, B, 26); T[22] = cv(a, B, 25); T[23] = cv(a, B, 24);
  T[24] = cv(a, B, 23); T[25] = cv(a, B, 22); T[26] = cv(a, B, 21); T[27] = cv(a, B, 20);
  T[28] = cv(a, B, 19); T[29] = cv(a, B, 18); T[30] = cv(a, B, 17);
}

/**
 * The whole product with the native slot: the columns of mulColsConv, folded as they come
 * (column i + 16 goes to limb i times 977 and to limb i + 2), no column array. Written out
 * limb by limb because every interpreted statement counts on the device.
 */
function mulConv(r: Fe, a: Fe, b: Fe): void {
  // Limbs of r are written while `a` is still being read: never let `a` be r (b is copied to B).
  if (r === a) {
    if (r !== b) {
      a = b;
      b = r;
    } else a = feCopy(ACOPY, r);
  }
  const B = REV;
  const cv = conv as ConvolveFn;
  B[0] = b[15]; B[1] = b[14]; B[2] = b[13]; B[3] = b[12];
  B[4] = b[11]; B[5] = b[10]; B[6] = b[9]; B[7] = b[8];
  B[8] = b[7]; B[9] = b[6]; B[10] = b[5]; B[11] = b[4];
  B[12] = b[3]; B[13] = b[2]; B[14] = b[1]; B[15] = b[0];
  // High columns 16..30 (h_i is column 16 + i): each is folded twice, so keep them.
  const h0 = cv(a, B, 31); const h1 = cv(a, B, 30); const h2 = cv(a, B, 29);
  const h3 = cv(a, B, 28); const h4 = cv(a, B, 27); const h5 = cv(a, B, 26);
  const h6 = cv(a, B, 25); const h7 = cv(a, B, 24); const h8 = cv(a, B, 23);
  const h9 = cv(a, B, 22); const h10 = cv(a, B, 21); const h11 = cv(a, B, 20);
  const h12 = cv(a, B, 19); const h13 = cv(a, B, 18); const h14 = cv(a, B, 17);
  let x = cv(a, B, 15) + 977 * h0;
  r[0] = x & 0xffff;
  x = cv(a, B, 14) + 977 * h1 + ((x / 65536) | 0);
  r[1] = x & 0xffff;
  x = cv(a, B, 13) + 977 * h2 + h0 + ((x / 65536) | 0);
  r[2] = x & 0xffff;
  x = cv(a, B, 12) + 977 * h3 + h1 + ((x / 65536) | 0);
  r[3] = x & 0xffff;
  x = cv(a, B, 11) + 977 * h4 + h2 + ((x / 65536) | 0);
  r[4] = x & 0xffff;
  x = cv(a, B, 10) + 977 * h5 + h3 + ((x / 65536) | 0);
  r[5] = x & 0xffff;
  x = cv(a, B, 9) + 977 * h6 + h4 + ((x / 65536) | 0);
  r[6] = x & 0xffff;
  x = cv(a, B, 8) + 977 * h7 + h5 + ((x / 65536) | 0);
  r[7] = x & 0xffff;
  x = cv(a, B, 7) + 977 * h8 + h6 + ((x / 65536) | 0);
  r[8] = x & 0xffff;
  x = cv(a, B, 6) + 977 * h9 + h7 + ((x / 65536) | 0);
  r[9] = x & 0xffff;
  x = cv(a, B, 5) + 977 * h10 + h8 + ((x / 65536) | 0);
  r[10] = x & 0xffff;
  x = cv(a, B, 4) + 977 * h11 + h9 + ((x / 65536) | 0);
  r[11] = x & 0xffff;
  x = cv(a, B, 3) + 977 * h12 + h10 + ((x / 65536) | 0);
  r[12] = x & 0xffff;
  x = cv(a, B, 2) + 977 * h13 + h11 + ((x / 65536) | 0);
  r[13] = x & 0xffff;
  x = cv(a, B, 1) + 977 * h14 + h12 + ((x / 65536) | 0);
  r[14] = x & 0xffff;
  x = cv(a, B, 0) + h13 + ((x / 65536) | 0);
  r[15] = x & 0xffff;
  foldTopWide(r, h14 + ((x / 65536) | 0));
}

/** r = a * b mod p. r may alias a or b. */
export function feMul(r: Fe, a: Fe, b: Fe): Fe {
  nMul++;
  if (conv) mulConv(r, a, b);
  else {
    mulColsPlain(COLS, a, b);
    reduceCols(r, COLS);
  }
  return r;
}

/** r = a^2 mod p. r may alias a. */
export function feSqr(r: Fe, a: Fe): Fe {
  nSqr++;
  if (conv) mulConv(r, a, a);
  else {
    sqrColsPlain(COLS, a);
    reduceCols(r, COLS);
  }
  return r;
}

/** The column routine outside the counters, for scalar.ts (products mod n). */
export function mulCols(T: Float64Array, a: Fe, b: Fe): void {
  if (conv) mulColsConv(T, a, b);
  else mulColsPlain(T, a, b);
}

/**
 * Installs a native dot product (Espruino: pass E.convolve itself, not a wrapper: each product
 * makes 31 calls) or removes it (undefined). The slot is checked on a known product first; a
 * slot that disagrees with the portable loops throws E_CONVOLVE_SLOT and is not installed.
 */
export function installConvolve(fn: ConvolveFn | undefined): void {
  if (fn === undefined) {
    conv = undefined;
    return;
  }
  if (typeof fn !== 'function') throw new TypeError('"convolve" expected a function or undefined, got ' + typeof fn);
  // Known answer: (p - 1)^2 and a mixed product, checked column by column against the loops.
  const a = feNew();
  const b = feNew();
  for (let i = 0; i < LIMBS; i++) {
    a[i] = P_LIMBS[i] - (i === 0 ? 1 : 0);
    b[i] = (i * 40503 + 12345) & M16;
  }
  const want = new Float64Array(31);
  const got = new Float64Array(31);
  const prev = conv;
  conv = fn;
  let ok = true;
  try {
    for (let round = 0; round < 2; round++) {
      const y = round === 0 ? a : b;
      mulColsPlain(want, a, y);
      mulColsConv(got, a, y);
      for (let k = 0; k < 31; k++) if (got[k] !== want[k]) ok = false;
      // The fused product, in place as the point formulas use it.
      const r1 = feNew();
      mulColsPlain(want, a, y);
      reduceCols(r1, want);
      const r2 = feCopy(feNew(), a);
      mulConv(r2, r2, round === 0 ? r2 : y);
      for (let k = 0; k < LIMBS; k++) if (r1[k] !== r2[k]) ok = false;
    }
  } catch (e) {
    ok = false;
  }
  if (!ok) {
    conv = prev;
    const e = new Error('convolve slot gave a wrong product column; not installed') as Error & { code: string };
    e.code = 'E_CONVOLVE_SLOT';
    throw e;
  }
}

export function convolveInstalled(): boolean {
  return conv !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Linear operations (no counters: they are not field multiplications)

/** Carry out of limb 15 (c < 2^7) folded back in; limbs 1 and 2 take small increments. */
function foldTop(r: Fe, c: number): void {
  const x = r[0] + FOLD * c;
  r[0] = x & M16;
  r[1] += x >>> 16;
  r[2] += c;
}

/** r = a + b. */
export function feAdd(r: Fe, a: Fe, b: Fe): Fe {
  let x = a[0] + b[0];
  r[0] = x & 0xffff;
  x = a[1] + b[1] + (x >>> 16);
  r[1] = x & 0xffff;
  x = a[2] + b[2] + (x >>> 16);
  r[2] = x & 0xffff;
  x = a[3] + b[3] + (x >>> 16);
  r[3] = x & 0xffff;
  x = a[4] + b[4] + (x >>> 16);
  r[4] = x & 0xffff;
  x = a[5] + b[5] + (x >>> 16);
  r[5] = x & 0xffff;
  x = a[6] + b[6] + (x >>> 16);
  r[6] = x & 0xffff;
  x = a[7] + b[7] + (x >>> 16);
  r[7] = x & 0xffff;
  x = a[8] + b[8] + (x >>> 16);
  r[8] = x & 0xffff;
  x = a[9] + b[9] + (x >>> 16);
  r[9] = x & 0xffff;
  x = a[10] + b[10] + (x >>> 16);
  r[10] = x & 0xffff;
  x = a[11] + b[11] + (x >>> 16);
  r[11] = x & 0xffff;
  x = a[12] + b[12] + (x >>> 16);
  r[12] = x & 0xffff;
  x = a[13] + b[13] + (x >>> 16);
  r[13] = x & 0xffff;
  x = a[14] + b[14] + (x >>> 16);
  r[14] = x & 0xffff;
  x = a[15] + b[15] + (x >>> 16);
  r[15] = x & 0xffff;
  foldTop(r, x >>> 16);
  return r;
}

/** r = a - b. */
export function feSub(r: Fe, a: Fe, b: Fe): Fe {
  return feLin(r, a, 1, b, 1);
}

/** r = ka * a - kb * b for small integers -16 <= ka <= 16, 0 <= kb <= 16 (64 p keeps every limb positive). */
export function feLin(r: Fe, a: Fe, ka: number, b: Fe, kb: number): Fe {
  let x = ka * a[0] - kb * b[0] + 4131776;
  r[0] = x & 0xffff;
  x = ka * a[1] - kb * b[1] + 4194240 + (x >>> 16);
  r[1] = x & 0xffff;
  x = ka * a[2] - kb * b[2] + 4194176 + (x >>> 16);
  r[2] = x & 0xffff;
  x = ka * a[3] - kb * b[3] + 4194240 + (x >>> 16);
  r[3] = x & 0xffff;
  x = ka * a[4] - kb * b[4] + 4194240 + (x >>> 16);
  r[4] = x & 0xffff;
  x = ka * a[5] - kb * b[5] + 4194240 + (x >>> 16);
  r[5] = x & 0xffff;
  x = ka * a[6] - kb * b[6] + 4194240 + (x >>> 16);
  r[6] = x & 0xffff;
  x = ka * a[7] - kb * b[7] + 4194240 + (x >>> 16);
  r[7] = x & 0xffff;
  x = ka * a[8] - kb * b[8] + 4194240 + (x >>> 16);
  r[8] = x & 0xffff;
  x = ka * a[9] - kb * b[9] + 4194240 + (x >>> 16);
  r[9] = x & 0xffff;
  x = ka * a[10] - kb * b[10] + 4194240 + (x >>> 16);
  r[10] = x & 0xffff;
  x = ka * a[11] - kb * b[11] + 4194240 + (x >>> 16);
  r[11] = x & 0xffff;
  x = ka * a[12] - kb * b[12] + 4194240 + (x >>> 16);
  r[12] = x & 0xffff;
  x = ka * a[13] - kb * b[13] + 4194240 + (x >>> 16);
  r[13] = x & 0xffff;
  x = ka * a[14] - kb * b[14] + 4194240 + (x >>> 16);
  r[14] = x & 0xffff;
  x = ka * a[15] - kb * b[15] + 4194240 + (x >>> 16);
  r[15] = x & 0xffff;
  foldTop(r, x >>> 16);
  return r;
}

/** r = k * a for a small integer 0 <= k <= 64. */
export function feMulSmall(r: Fe, a: Fe, k: number): Fe {
  let x = k * a[0];
  r[0] = x & 0xffff;
  x = k * a[1] + (x >>> 16);
  r[1] = x & 0xffff;
  x = k * a[2] + (x >>> 16);
  r[2] = x & 0xffff;
  x = k * a[3] + (x >>> 16);
  r[3] = x & 0xffff;
  x = k * a[4] + (x >>> 16);
  r[4] = x & 0xffff;
  x = k * a[5] + (x >>> 16);
  r[5] = x & 0xffff;
  x = k * a[6] + (x >>> 16);
  r[6] = x & 0xffff;
  x = k * a[7] + (x >>> 16);
  r[7] = x & 0xffff;
  x = k * a[8] + (x >>> 16);
  r[8] = x & 0xffff;
  x = k * a[9] + (x >>> 16);
  r[9] = x & 0xffff;
  x = k * a[10] + (x >>> 16);
  r[10] = x & 0xffff;
  x = k * a[11] + (x >>> 16);
  r[11] = x & 0xffff;
  x = k * a[12] + (x >>> 16);
  r[12] = x & 0xffff;
  x = k * a[13] + (x >>> 16);
  r[13] = x & 0xffff;
  x = k * a[14] + (x >>> 16);
  r[14] = x & 0xffff;
  x = k * a[15] + (x >>> 16);
  r[15] = x & 0xffff;
  foldTop(r, x >>> 16);
  return r;
}


/** r = -a. */
export function feNeg(r: Fe, a: Fe): Fe {
  return feLin(r, a, 0, a, 1);
}

// ---------------------------------------------------------------------------------------------
// Predicates (on the canonical value)

export function feIsZero(a: Fe): boolean {
  const t = feNormalize(feCopy(TN, a));
  let d = 0;
  for (let i = 0; i < LIMBS; i++) d |= t[i];
  return d === 0;
}

export function feEqual(a: Fe, b: Fe): boolean {
  return feIsZero(feSub(TN, a, b));
}

export function feIsOdd(a: Fe): boolean {
  return (feNormalize(feCopy(TN, a))[0] & 1) === 1;
}

// ---------------------------------------------------------------------------------------------
// Powers (desktop paths: square roots for point decompression)

/** r = a^e mod p for a big-endian exponent e; square-and-multiply (variable-time in e). */
export function fePow(r: Fe, a: Fe, e: Uint8Array): Fe {
  const base = feCopy(feNew(), a);
  const acc = feSetSmall(feNew(), 1);
  for (let i = 0; i < e.length; i++) {
    for (let bit = 7; bit >= 0; bit--) {
      feSqr(acc, acc);
      if ((e[i] >> bit) & 1) feMul(acc, acc, base);
    }
  }
  return feCopy(r, acc);
}

/** (p + 1) / 4, big-endian: a^((p+1)/4) is a square root of a when one exists (p = 3 mod 4). */
const SQRT_EXP = new Uint8Array(32);
for (let i = 0; i < 32; i++) SQRT_EXP[i] = 0xff;
SQRT_EXP[0] = 0x3f;
SQRT_EXP[28] = 0xbf;
SQRT_EXP[29] = 0xff;
SQRT_EXP[30] = 0xff;
SQRT_EXP[31] = 0x0c;

/** A square root of a, or false (r untouched) when a is not a square. */
export function feSqrt(r: Fe, a: Fe): boolean {
  const s = fePow(feNew(), a, SQRT_EXP);
  const s2 = feSqr(feNew(), s);
  if (!feEqual(s2, a)) return false;
  feCopy(r, s);
  return true;
}

/** p as 16-bit limbs, least significant first (tests). */
export function fieldModulusLimbs(): Fe {
  return feCopy(feNew(), P_LIMBS);
}
