// Fixed-base multiplication k*G with a signed-digit comb and a 16 KB table of multiples of G.
//
// The comb (Hamburg's signed-digit comb, as in libsecp256k1's ecmult_gen): TEETH = 9 teeth
// spaced SPACING = 29 bits apart cover 261 bits. The scalar k is recoded as
//   u = (k + 2^261 - 1) / 2 mod n,   so that   k = sum over i < 261 of (2 u_i - 1) 2^i (mod n),
// i.e. every bit stands for +1 or -1 and no digit is ever zero. Column j (0..28) has the digit
//   D_j = sum over t < 9 of (2 u_(29t + j) - 1) 2^(29t),   and   k G = sum over j of 2^j D_j G,
// evaluated as R = D_28 G; then for j = 27..0: R = 2R + D_j G: 28 doublings and 28 mixed
// additions (3M+4S and 8M+3S) = 504 field multiplications, against 569 for an unsigned
// 8 x 32 comb with the same table size. Flipping all nine bits negates D_j, so the table
// stores only the digits whose top tooth (t = 8) is +1; the other half is the negation.
//
// ------------------------------------------------------------------------------------------
// Table format (a file format: the build writes it to dist/ and the device maps it from flash)
//   16384 bytes = 256 entries x 64 bytes, no header.
//   Entry i (0..255) at byte offset 64 i holds the affine point
//       P_i = (2^232 + sum over t < 8 of (2 b_t - 1) 2^(29t)) G,   b_t = bit t of i,
//   as x (bytes 0..31 of the entry) then y (bytes 32..63), each coordinate fully reduced
//   (< p) and stored LITTLE-ENDIAN (byte 0 least significant). Equivalently, each coordinate is
//   16 little-endian uint16 limbs, least significant limb first, which is how it is read: through
//   a Uint16Array view over the bytes, without copying, on little-endian hosts (ESP32, x86, ARM).
// ------------------------------------------------------------------------------------------
//
// Exceptional additions (R = +-table entry, or R at infinity) cannot be excluded for every k
// without branches, so the additions do not check for them; they turn Z into 0, which persists.
// kG is never infinity for 1 <= k < n, so Z = 0 at the end means an exceptional case was hit,
// and the caller recomputes with the general variable-base code (mulAffine), which handles them.
//
// Timing: not constant-time. The table index and the sign of each digit are secret and select
// memory and a negation. There are no other secret-dependent branches.

import { abytes, err } from '../../util/errors.js';
import {
  feCopy, feIsCanonical, feIsZero, feMul, feNeg, feNew, feNormalize, feSetSmall, type Fe,
} from './field.js';
import { modInvert } from './modinv.js';
import {
  G_X, G_Y, P_INFO, isOnCurve, jacAdd, jacAddAffine, jacCopy, jacDouble, jacNew, jacSetAffine,
  jacSetInfinity, mulAffine, type Jac,
} from './point.js';
import { scAdd, scHalf, scIsZero, scNew } from './scalar.js';

type Sc = Fe;

// ---------------------------------------------------------------------------------------------
// Constants

export const TEETH = 9;
export const SPACING = 29;
export const GTABLE_ENTRIES = 256;
export const GTABLE_BYTES = 16384;
/** Limbs (uint16) per entry: x then y. */
const ENTRY_LIMBS = 32;
/** (2^261 - 1) mod n, the recoding offset (16-bit limbs). */
const RECODE_OFFSET = new Int32Array([0xd7df, 0xf937, 0x2e65, 0x05b4, 0xf888, 0x16eb, 0x632a, 0xaa24,
  0x0028, 0, 0, 0, 0, 0, 0, 0]);
/**
 * Entries installGTable compares byte for byte (x then y, little-endian, as stored): they pin the
 * format (base point, teeth, spacing, digit encoding). Values from buildGTable, checked against
 * @noble/secp256k1 for every entry by the tests.
 */
const ANCHORS: { i: number; hex: string }[] = [
  { i: 0, hex: '7c86ed8ebd19472a37b66953fc785c12f3cd51565780c172729af7b1ac1a1a2e' +
    'fde61b8efbc3d40a911f14f2f616906b96079aa8124be26858a21c199465a68d' },
  { i: 1, hex: 'c504fbcd86acc061b4b8b10d1b198d126ddc0b1dd0a5b71bcea4aa74fb9bfb70' +
    '033db5b437995bd467cc1f937fbf865bb77892625ee5003c69c79c6d9012c2d2' },
  { i: 128, hex: 'd9407fd88f69324153b1c59f8a734ecdd65cc647d7bf3a6ff3e6a68b2360d7c6' +
    '7222e14f8c72521945f985cd8f4e18f51db2f827e07f6ad8d2de51cb149b3ce1' },
  { i: 255, hex: '5ead5eec27e0785f85c8163d6d4cdf27db507d36ba48ad8bbc6e3d1252b36226' +
    '40b85e90f0a70d98b8dc1f94d125c9338fda18da123c4d3fcfff16d14e7b0be7' },
];
/** Entries installGTable checks to be points on the curve (catches corruption elsewhere). */
const SPOT_ENTRIES = [2, 37, 64, 100, 127, 129, 170, 201, 254];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let table: Uint16Array | undefined;

// ---------------------------------------------------------------------------------------------
// Building (desktop, or lazily on a device without an installed table)

/** The table bytes in the format above. Takes well under a second on Node. */
export function buildGTable(): Uint8Array {
  // B[t] = 2^(29t) G.
  const B: Jac[] = [];
  const cur = jacSetAffine(jacNew(), G_X, G_Y);
  for (let t = 0; t < TEETH; t++) {
    if (t > 0) for (let i = 0; i < SPACING; i++) jacDouble(cur);
    B.push(jacCopy(jacNew(), cur));
  }
  // Entry 0 = B[8] - sum B[t]; entry i = entry (i without its top bit h) + 2 B[h].
  const pts: Jac[] = [];
  const e0 = jacCopy(jacNew(), B[8]);
  for (let t = 0; t < 8; t++) {
    const neg = jacCopy(jacNew(), B[t]);
    feNeg(neg.y, neg.y);
    jacAdd(e0, neg);
  }
  pts.push(e0);
  const twoB: Jac[] = [];
  for (let t = 0; t < 8; t++) {
    const d = jacCopy(jacNew(), B[t]);
    jacDouble(d);
    twoB.push(d);
  }
  for (let i = 1; i < GTABLE_ENTRIES; i++) {
    let h = 7;
    while (((i >> h) & 1) === 0) h--;
    const p = jacCopy(jacNew(), pts[i - (1 << h)]);
    jacAdd(p, twoB[h]);
    pts.push(p);
  }
  // Batch inversion of the Z coordinates (one inversion for all 256).
  const prefix: Fe[] = [];
  let acc = feSetSmall(feNew(), 1);
  for (let i = 0; i < GTABLE_ENTRIES; i++) {
    acc = feMul(feNew(), acc, pts[i].z);
    prefix.push(acc);
  }
  const inv = modInvert(feNew(), feNormalize(feCopy(feNew(), acc)), P_INFO);
  const out = new Uint8Array(GTABLE_BYTES);
  const zi = feNew();
  const z2 = feNew();
  const x = feNew();
  const y = feNew();
  for (let i = GTABLE_ENTRIES - 1; i >= 0; i--) {
    if (i > 0) feMul(zi, inv, prefix[i - 1]);
    else feCopy(zi, inv);
    feMul(inv, inv, pts[i].z);
    feMul(z2, zi, zi);
    feMul(x, pts[i].x, z2);
    feMul(z2, z2, zi);
    feMul(y, pts[i].y, z2);
    feNormalize(x);
    feNormalize(y);
    const o = 64 * i;
    for (let l = 0; l < 16; l++) {
      out[o + 2 * l] = x[l] & 0xff;
      out[o + 2 * l + 1] = x[l] >> 8;
      out[o + 32 + 2 * l] = y[l] & 0xff;
      out[o + 33 + 2 * l] = y[l] >> 8;
    }
  }
  return out;
}

/** uint16 limbs of the table bytes: a view when possible, else a converted copy. */
function limbView(bytes: Uint8Array): Uint16Array {
  if (LITTLE_ENDIAN && (bytes.byteOffset & 1) === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, GTABLE_BYTES / 2);
  const v = new Uint16Array(GTABLE_BYTES / 2);
  for (let i = 0; i < v.length; i++) v[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
  return v;
}

/**
 * Installs a table made by buildGTable (on the device: a view over memory-mapped flash; it is
 * read in place, never copied, so the bytes must stay valid). Checks the length, four entries
 * byte for byte (ANCHORS) and nine more for being points on the curve (about 10 ms in the -Og
 * Linux build); throws E_GTABLE otherwise and keeps the previous table. Not every entry is
 * checked: a bit flipped elsewhere would give wrong signatures, which verification catches.
 */
export function installGTable(bytes: Uint8Array): void {
  abytes('gtable', bytes, GTABLE_BYTES);
  for (let k = 0; k < ANCHORS.length; k++) {
    const a = ANCHORS[k];
    for (let j = 0; j < 64; j++) {
      if (bytes[64 * a.i + j] !== parseInt(a.hex.substr(2 * j, 2), 16))
        throw err('E_GTABLE', '"gtable" entry ' + a.i + ' differs from the expected multiple of G: not a table in this format (9 teeth x 29, little-endian)');
    }
  }
  const v = limbView(bytes);
  const x = feNew();
  const y = feNew();
  for (let k = 0; k < SPOT_ENTRIES.length; k++) {
    const i = SPOT_ENTRIES[k];
    loadEntry(v, i, x, y);
    if (!feIsCanonical(x) || !feIsCanonical(y) || !isOnCurve(x, y))
      throw err('E_GTABLE', '"gtable" entry ' + i + ' is not a point on secp256k1: wrong or corrupted table file');
  }
  table = v;
}

/** Forgets the installed table (tests; the next use builds one). */
export function uninstallGTable(): void {
  table = undefined;
}

export function gTableInstalled(): boolean {
  return table !== undefined;
}

/** The active table, built on first use when none was installed. */
export function gTable(): Uint16Array {
  if (!table) table = limbView(buildGTable());
  return table;
}

function loadEntry(v: Uint16Array, i: number, x: Fe, y: Fe): void {
  const o = ENTRY_LIMBS * i;
  x.set(v.subarray(o, o + 16));
  y.set(v.subarray(o + 16, o + 32));
}

// ---------------------------------------------------------------------------------------------
// The comb, one column per step

export interface CombState {
  r: Jac;
  /** The recoded scalar u. */
  u: Sc;
  /** Next column, SPACING - 1 down to 0; -1 when finished. */
  j: number;
  tab: Uint16Array;
  x: Fe;
  y: Fe;
}

export function newCombState(): CombState {
  return { r: jacNew(), u: scNew(), j: -1, tab: new Uint16Array(0), x: feNew(), y: feNew() };
}

/** Prepares k*G (k canonical, below n). */
export function combStart(st: CombState, k: Sc, tab?: Uint16Array): void {
  scAdd(st.u, k, RECODE_OFFSET);
  scHalf(st.u, st.u);
  st.j = SPACING - 1;
  st.tab = tab || gTable();
}

/** Processes one column (a doubling and a mixed addition). Returns true when done. */
export function combStep(st: CombState): boolean {
  const j = st.j;
  if (j < 0) return true;
  const u = st.u;
  let idx = 0;
  for (let t = 0; t < 8; t++) {
    const b = 29 * t + j;
    idx |= ((u[b >> 4] >> (b & 15)) & 1) << t;
  }
  const b8 = 232 + j;
  const top = (u[b8 >> 4] >> (b8 & 15)) & 1;
  // top = 0: the digit is minus the entry with all bits flipped.
  idx ^= (top - 1) & 255;
  loadEntry(st.tab, idx, st.x, st.y);
  if (j === SPACING - 1) {
    if (!top) feNeg(st.y, st.y);
    jacSetAffine(st.r, st.x, st.y);
  } else {
    jacDouble(st.r);
    jacAddAffine(st.r, st.x, st.y, 2 * top - 1);
  }
  st.j = j - 1;
  return st.j < 0;
}

/** True when the finished comb hit an exceptional addition (see the header); then use mulG's fallback. */
export function combFailed(st: CombState): boolean {
  return feIsZero(st.r.z);
}

/** out = k*G for a canonical scalar k (0 gives infinity). Not a job: desktop and getPublicKey. */
export function mulG(out: Jac, k: Sc): Jac {
  if (scIsZero(k)) return jacSetInfinity(out);
  const st = newCombState();
  combStart(st, k);
  while (!combStep(st)) {
    /* next column */
  }
  if (combFailed(st)) return mulAffine(out, G_X, G_Y, k);
  return jacCopy(out, st.r);
}

/** Recomputes k*G the slow, exception-free way (the fallback after combFailed). */
export function mulGSlow(out: Jac, k: Sc): Jac {
  return mulAffine(out, G_X, G_Y, k);
}
