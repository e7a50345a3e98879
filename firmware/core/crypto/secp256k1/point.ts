// Points of secp256k1 (y^2 = x^3 + 7 over F_p, SEC 2 v2 §2.4.1) in Jacobian coordinates:
// (X, Y, Z) stands for the affine point (X / Z^2, Y / Z^3); Z = 0 is the point at infinity.
//
// Two kinds of addition:
// - jacAddAffine: the mixed addition the signer uses, 8M + 3S, with NO special cases. It is only
//   called where the caller can detect the exceptional inputs afterwards (see gtable.ts): when
//   P = +-Q or P is infinity, its result has Z = 0, and Z = 0 is kept by every later doubling and
//   addition, so one check at the end catches them all.
// - jacAdd: general Jacobian addition with the special cases handled (verification, recovery,
//   table building: desktop paths).

import {
  feAdd, feCopy, feEqual, feFromBytes, feIsCanonical, feIsOdd, feIsZero, feLin, feMul, feMulSmall,
  feNew, feNormalize, feSetSmall, feSqr, feSqrt, feSub, feToBytes, fieldModulusLimbs, type Fe,
} from './field.js';
import { modInfo, modInvert, type ModInfo } from './modinv.js';
import { scCopy, scNew } from './scalar.js';

// ---------------------------------------------------------------------------------------------
// Constants (SEC 2 v2 §2.4.1)

/** Curve constant b in y^2 = x^3 + b. */
const CURVE_B = 7;

// Declared before use: Espruino does not hoist function declarations.
function feLimbs(hex: string): Fe {
  const r = feNew();
  for (let i = 0; i < 16; i++) r[i] = parseInt(hex.substr(60 - 4 * i, 4), 16);
  return r;
}

/** G in 16-bit limbs, least significant first. */
export const G_X = feLimbs('79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798');
export const G_Y = feLimbs('483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8');

export const P_INFO: ModInfo = modInfo(fieldModulusLimbs());

// ---------------------------------------------------------------------------------------------
// Jacobian points

export interface Jac {
  x: Fe;
  y: Fe;
  z: Fe;
}

export function jacNew(): Jac {
  return { x: feNew(), y: feNew(), z: feNew() };
}

export function jacSetAffine(p: Jac, x: Fe, y: Fe): Jac {
  feCopy(p.x, x);
  feCopy(p.y, y);
  feSetSmall(p.z, 1);
  return p;
}

export function jacSetInfinity(p: Jac): Jac {
  feSetSmall(p.x, 1);
  feSetSmall(p.y, 1);
  feSetSmall(p.z, 0);
  return p;
}

export function jacCopy(r: Jac, p: Jac): Jac {
  feCopy(r.x, p.x);
  feCopy(r.y, p.y);
  feCopy(r.z, p.z);
  return r;
}

export function jacIsInfinity(p: Jac): boolean {
  return feIsZero(p.z);
}

// Scratch for the formulas (synchronous use only).
const T1 = feNew();
const T2 = feNew();
const T3 = feNew();
const T4 = feNew();
const T5 = feNew();
const T6 = feNew();

/**
 * p = 2p in place, 3M + 4S (a = 0): with S = 4XY^2 and M = 3X^2,
 * X3 = M^2 - 2S, Y3 = M(S - X3) - 8Y^4, Z3 = 2YZ. Infinity (Z = 0) stays infinity.
 */
export function jacDouble(p: Jac): void {
  const X = p.x;
  const Y = p.y;
  const Z = p.z;
  const yy = T1;
  const s = T2;
  const xx = T3;
  const t = T4;
  feSqr(yy, Y);
  feMul(s, X, yy); // S / 4
  feSqr(xx, X);
  feMul(Z, Y, Z);
  feMulSmall(Z, Z, 2);
  feSqr(X, xx);
  feLin(X, X, 9, s, 8); // 9X^4 - 8XY^2 = M^2 - 2S
  feSqr(yy, yy);
  feLin(t, s, 4, X, 1); // S - X3
  feMul(Y, xx, t);
  feLin(Y, Y, 3, yy, 8); // 3X^2 (S - X3) - 8Y^4
}

/**
 * p += (x2, sy * y2) in place, sy = 1 or -1 (madd-2004-hmv, 8M + 3S; the sign costs nothing:
 * it goes into R = sy S2 - Y1). No special cases: when p is infinity or p = +-(x2, y2) the
 * result has Z = 0 (see the header comment).
 */
export function jacAddAffine(p: Jac, x2: Fe, y2: Fe, sy: number): void {
  const X = p.x;
  const Y = p.y;
  const Z = p.z;
  const h = T1;
  const r = T2;
  const hhh = T3;
  const v = T4;
  feSqr(h, Z);
  feMul(r, h, Z);
  feMul(h, h, x2); // U2
  feMul(r, r, y2); // S2
  feSub(h, h, X); // H = U2 - X1
  feLin(r, r, sy, Y, 1); // R = +-S2 - Y1
  feMul(Z, Z, h);
  feSqr(v, h);
  feMul(hhh, v, h);
  feMul(v, v, X); // V = X1 H^2
  feSqr(X, r);
  feSub(X, X, hhh);
  feLin(X, X, 1, v, 2); // X3 = R^2 - H^3 - 2V
  feSub(v, v, X);
  feMul(v, v, r);
  feMul(hhh, hhh, Y);
  feSub(Y, v, hhh); // Y3 = R (V - X3) - Y1 H^3
}

/** p += q, any inputs (infinity, equal, opposite). */
export function jacAdd(p: Jac, q: Jac): void {
  if (jacIsInfinity(q)) return;
  if (jacIsInfinity(p)) {
    jacCopy(p, q);
    return;
  }
  const u1 = T1;
  const u2 = T2;
  const s1 = T3;
  const s2 = T4;
  const t = T5;
  const hh = T6;
  feSqr(t, q.z);
  feMul(u1, p.x, t);
  feMul(s1, p.y, t);
  feMul(s1, s1, q.z);
  feSqr(t, p.z);
  feMul(u2, q.x, t);
  feMul(s2, q.y, t);
  feMul(s2, s2, p.z);
  feSub(u2, u2, u1); // H
  feSub(s2, s2, s1); // R
  if (feIsZero(u2)) {
    if (feIsZero(s2)) jacDouble(p);
    else jacSetInfinity(p);
    return;
  }
  feMul(p.z, p.z, q.z);
  feMul(p.z, p.z, u2); // Z3 = Z1 Z2 H
  feSqr(hh, u2);
  feMul(t, hh, u2); // H^3
  feMul(u1, u1, hh); // V = U1 H^2
  feSqr(p.x, s2);
  feSub(p.x, p.x, t);
  feLin(p.x, p.x, 1, u1, 2);
  feSub(u1, u1, p.x);
  feMul(u1, u1, s2);
  feMul(t, t, s1);
  feSub(p.y, u1, t);
}

/** Affine coordinates (canonical) of p, or false for infinity. Not blinded: public values only. */
export function jacToAffine(p: Jac, x: Fe, y: Fe): boolean {
  const zi = feNew();
  feNormalize(feCopy(zi, p.z));
  let d = 0;
  for (let i = 0; i < 16; i++) d |= zi[i];
  if (d === 0) return false;
  modInvert(zi, zi, P_INFO);
  affineFromInverse(p, zi, x, y);
  return true;
}

/** x = X zi^2, y = Y zi^3 (canonical) given zi = 1 / Z. 3M + 1S. */
export function affineFromInverse(p: Jac, zi: Fe, x: Fe, y: Fe): void {
  const z2 = T5;
  feSqr(z2, zi);
  feMul(x, p.x, z2);
  feMul(z2, z2, zi);
  feMul(y, p.y, z2);
  feNormalize(x);
  feNormalize(y);
}

// ---------------------------------------------------------------------------------------------
// Affine helpers and SEC 1 encoding (SEC 1 v2 §2.3.3, §2.3.4)

/** y^2 = x^3 + 7 for canonical x, y. */
export function isOnCurve(x: Fe, y: Fe): boolean {
  const l = feSqr(feNew(), y);
  const r = feSqr(feNew(), x);
  feMul(r, r, x);
  feAdd(r, r, feSetSmall(feNew(), CURVE_B));
  return feEqual(l, r);
}

/** SEC 1 encoding of a canonical affine point. */
export function encodePoint(x: Fe, y: Fe, compressed: boolean): Uint8Array {
  if (compressed) {
    const out = new Uint8Array(33);
    out[0] = feIsOdd(y) ? 3 : 2;
    feToBytes(out, 1, x);
    return out;
  }
  const out = new Uint8Array(65);
  out[0] = 4;
  feToBytes(out, 1, x);
  feToBytes(out, 33, y);
  return out;
}

/**
 * Decodes a SEC 1 point (33 bytes 02/03 || x, or 65 bytes 04 || x || y) into canonical x, y.
 * Returns false for anything that is not a point on the curve (bad prefix, coordinate >= p,
 * x without a square root, off-curve). The point at infinity (0x00) is rejected, as in noble.
 */
export function decodePoint(b: Uint8Array, x: Fe, y: Fe): boolean {
  const len = b.length;
  const head = b[0];
  if (len === 33 && (head === 2 || head === 3)) {
    feFromBytes(x, b, 1);
    if (!feIsCanonical(x)) return false;
    return liftX(x, head === 3, y);
  }
  if (len === 65 && head === 4) {
    feFromBytes(x, b, 1);
    feFromBytes(y, b, 33);
    if (!feIsCanonical(x) || !feIsCanonical(y)) return false;
    return isOnCurve(x, y);
  }
  return false;
}

/** y with the requested parity such that (x, y) is on the curve; false if none exists. */
export function liftX(x: Fe, odd: boolean, y: Fe): boolean {
  const c = feSqr(feNew(), x);
  feMul(c, c, x);
  feAdd(c, c, feSetSmall(feNew(), CURVE_B));
  if (!feSqrt(y, c)) return false;
  feNormalize(y);
  if (feIsOdd(y) !== odd) {
    feSub(y, feSetSmall(feNew(), 0), y);
    feNormalize(y);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Variable-base multiplication (desktop paths: verification, recovery, fallbacks)

/** out = k * (x, y) for a 256-bit k, 4-bit fixed window, all special cases handled. */
export function mulAffine(out: Jac, x: Fe, y: Fe, k: Fe): Jac {
  const tab: Jac[] = [];
  tab.push(jacSetInfinity(jacNew()));
  tab.push(jacSetAffine(jacNew(), x, y));
  for (let i = 2; i < 16; i++) {
    const t = jacCopy(jacNew(), tab[i - 1]);
    jacAdd(t, tab[1]);
    tab.push(t);
  }
  const kk = scCopy(scNew(), k);
  jacSetInfinity(out);
  for (let i = 15; i >= 0; i--) {
    for (let sh = 12; sh >= 0; sh -= 4) {
      jacDouble(out);
      jacDouble(out);
      jacDouble(out);
      jacDouble(out);
      jacAdd(out, tab[(kk[i] >> sh) & 15]);
    }
  }
  return out;
}
