// Keccak-256 as Ethereum uses it: the original Keccak submission's padding (0x01 ... 0x80),
// not FIPS 202 SHA3-256 (0x06 ... 0x80). Rate 1088 bits, capacity 512, 32-byte output.
//
// No BigInt and no 64-bit integers on Espruino: each 64-bit lane is a pair of 32-bit words in a
// Uint32Array, low word first (lanes are little-endian, FIPS 202 §B.1).

import { abytes } from '../util/errors.js';

// ---------------------------------------------------------------------------------------------
// Constants (FIPS 202 §3.2; the Keccak reference, keccak.team "Keccak-f[1600]")

/** Rate in bytes for Keccak-256: (1600 - 2 * 256) / 8. */
const RATE = 136;
const OUTPUT_LEN = 32;
const ROUNDS = 24;

/** ι round constants RC[i] (§3.2.5), as [high word, low word] pairs. */
const RC_HI = new Uint32Array([
  0x00000000, 0x00000000, 0x80000000, 0x80000000, 0x00000000, 0x00000000, 0x80000000, 0x80000000,
  0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x80000000, 0x80000000, 0x80000000,
  0x80000000, 0x80000000, 0x00000000, 0x80000000, 0x80000000, 0x80000000, 0x00000000, 0x80000000,
]);
const RC_LO = new Uint32Array([
  0x00000001, 0x00008082, 0x0000808a, 0x80008000, 0x0000808b, 0x80000001, 0x80008081, 0x00008009,
  0x0000008a, 0x00000088, 0x80008009, 0x8000000a, 0x8000808b, 0x0000008b, 0x00008089, 0x00008003,
  0x00008002, 0x00000080, 0x0000800a, 0x8000000a, 0x80008081, 0x00008080, 0x80000001, 0x80008008,
]);

/** ρ rotation offsets (§3.2.2, Table 2) for lane x + 5y. */
const RHO = new Uint8Array([
  0, 1, 62, 28, 27, //  y = 0
  36, 44, 6, 55, 20, // y = 1
  3, 10, 43, 25, 39, // y = 2
  41, 45, 15, 21, 8, //  y = 3
  18, 2, 61, 56, 14, //  y = 4
]);

/** π (§3.2.3): lane x + 5y moves to lane y + 5((2x + 3y) mod 5). */
const PI = new Uint8Array(25);
for (let x = 0; x < 5; x++) for (let y = 0; y < 5; y++) PI[x + 5 * y] = y + 5 * ((2 * x + 3 * y) % 5);

// ---------------------------------------------------------------------------------------------
// Keccak-f[1600]

// Scratch, allocated once (hashing is synchronous). S: state, 25 lanes as (lo, hi) pairs.
const S = new Uint32Array(50);
const B = new Uint32Array(50);
const C = new Uint32Array(10);

function permute(): void {
  for (let round = 0; round < ROUNDS; round++) {
    // θ: XOR every lane with the parities of two neighbouring columns.
    for (let x = 0; x < 10; x++) C[x] = S[x] ^ S[x + 10] ^ S[x + 20] ^ S[x + 30] ^ S[x + 40];
    for (let x = 0; x < 5; x++) {
      const l1 = ((x + 1) % 5) * 2;
      const l4 = ((x + 4) % 5) * 2;
      const dlo = C[l4] ^ ((C[l1] << 1) | (C[l1 + 1] >>> 31));
      const dhi = C[l4 + 1] ^ ((C[l1 + 1] << 1) | (C[l1] >>> 31));
      for (let y = 0; y < 50; y += 10) {
        S[y + 2 * x] ^= dlo;
        S[y + 2 * x + 1] ^= dhi;
      }
    }
    // ρ and π: rotate each lane and move it to its new place.
    for (let i = 0; i < 25; i++) {
      const lo = S[2 * i];
      const hi = S[2 * i + 1];
      const d = 2 * PI[i];
      let n = RHO[i];
      if (n === 0) {
        B[d] = lo;
        B[d + 1] = hi;
      } else if (n < 32) {
        B[d] = (lo << n) | (hi >>> (32 - n));
        B[d + 1] = (hi << n) | (lo >>> (32 - n));
      } else {
        // Rotating by n >= 32 swaps the words, then rotates by n - 32 (no offset equals 32).
        n -= 32;
        B[d] = (hi << n) | (lo >>> (32 - n));
        B[d + 1] = (lo << n) | (hi >>> (32 - n));
      }
    }
    // χ: the only non-linear step, row by row.
    for (let y = 0; y < 50; y += 10) {
      for (let x = 0; x < 10; x++) {
        const x1 = y + ((x + 2) % 10);
        const x2 = y + ((x + 4) % 10);
        S[y + x] = B[y + x] ^ (~B[x1] & B[x2]);
      }
    }
    // ι
    S[0] ^= RC_LO[round];
    S[1] ^= RC_HI[round];
  }
}

/** XOR `len` bytes of `b` from offset `o` into the state (lanes little-endian). */
function absorb(b: Uint8Array, o: number, len: number): void {
  for (let i = 0; i < len; i++) S[i >> 2] ^= b[o + i] << ((i & 3) << 3);
}

// ---------------------------------------------------------------------------------------------
// Public

/** Keccak-256 (Ethereum) of `data`, 32 bytes. */
export function keccak256(data: Uint8Array): Uint8Array {
  abytes('data', data);
  S.fill(0);
  const len = data.length;
  let o = 0;
  for (; o + RATE <= len; o += RATE) {
    absorb(data, o, RATE);
    permute();
  }
  absorb(data, o, len - o);
  // Keccak pad10*1 with the original domain byte 0x01; both ends share a byte when only one is left.
  S[(len - o) >> 2] ^= 0x01 << (((len - o) & 3) << 3);
  S[(RATE - 1) >> 2] ^= 0x80 << (((RATE - 1) & 3) << 3);
  permute();
  const out = new Uint8Array(OUTPUT_LEN);
  for (let i = 0; i < OUTPUT_LEN; i++) out[i] = S[i >> 2] >>> ((i & 3) << 3);
  return out;
}
