// Field (mod p), scalar (mod n) and divsteps inversion arithmetic of the BigInt-free secp256k1,
// against BigInt references computed here (tests may use BigInt; core may not). Seeded inputs,
// extreme values (0, 1, p - 1, limbs at the loose bound), both product paths (plain loops and an
// E.convolve emulation), and the convolve slot's known-answer check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as F from '../../firmware/core/crypto/secp256k1/field.js';
import * as S from '../../firmware/core/crypto/secp256k1/scalar.js';
import { modInvert, modInfo, newInvState, invStart, invBatch, invFinish, MAX_INV_BATCHES } from '../../firmware/core/crypto/secp256k1/modinv.js';
import { P_INFO } from '../../firmware/core/crypto/secp256k1/point.js';

const P = 2n ** 256n - 2n ** 32n - 977n;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** xorshift32, seeded. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

function big(a: ArrayLike<number>): bigint {
  let x = 0n;
  for (let i = a.length - 1; i >= 0; i--) x = (x << 16n) + BigInt(a[i]);
  return x;
}

function limbs(x: bigint): Int32Array {
  const r = new Int32Array(16);
  for (let i = 0; i < 16; i++) r[i] = Number((x >> BigInt(16 * i)) & 0xffffn);
  return r;
}

/** E.convolve as documented in Espruino (jswrap_espruino.c): sum a[i] * b[(i + offset) % b.length]. */
function convolveEmu(a: ArrayLike<number>, b: ArrayLike<number>, offset: number): number {
  let v = 0;
  const l = b.length;
  let o = offset % l;
  if (o < 0) o += l;
  for (let i = 0; i < a.length; i++) v += a[i] * b[(i + o) % l];
  return v;
}

/** Field inputs: random values, edge values, and loose limb patterns up to the bound. */
function fieldInputs(seed: number, count: number): Int32Array[] {
  const next = rng(seed);
  const out: Int32Array[] = [limbs(0n), limbs(1n), limbs(P - 1n), limbs(P), limbs(2n ** 256n - 1n), limbs(2n ** 255n)];
  const maxLoose = new Int32Array(16).fill(F.LOOSE - 1);
  out.push(maxLoose);
  for (let i = 0; i < count; i++) {
    const r = new Int32Array(16);
    const loose = i % 3 === 0;
    for (let k = 0; k < 16; k++) r[k] = loose ? next() % F.LOOSE : next() & 0xffff;
    out.push(r);
  }
  return out;
}

const mod = (x: bigint, m: bigint) => ((x % m) + m) % m;

function checkLoose(r: Int32Array, what: string) {
  for (let i = 0; i < 16; i++) assert.ok(r[i] >= 0 && r[i] < F.LOOSE, what + ': limb ' + i + ' = ' + r[i] + ' outside [0, LOOSE)');
}

for (const path of ['plain', 'convolve'] as const) {
  test('field products and linear operations match BigInt (' + path + ')', () => {
    F.installConvolve(path === 'convolve' ? convolveEmu : undefined);
    try {
      const xs = fieldInputs(path === 'plain' ? 11 : 12, 120);
      const next = rng(99);
      for (let i = 0; i < xs.length; i++) {
        const a = xs[i];
        const b = xs[next() % xs.length];
        const A = big(a);
        const B = big(b);
        const r = F.feNew();
        F.feMul(r, a, b);
        checkLoose(r, 'mul');
        assert.equal(mod(big(r), P), mod(A * B, P), 'mul #' + i);
        F.feSqr(r, a);
        checkLoose(r, 'sqr');
        assert.equal(mod(big(r), P), mod(A * A, P), 'sqr #' + i);
        F.feAdd(r, a, b);
        checkLoose(r, 'add');
        assert.equal(mod(big(r), P), mod(A + B, P), 'add #' + i);
        F.feSub(r, a, b);
        checkLoose(r, 'sub');
        assert.equal(mod(big(r), P), mod(A - B, P), 'sub #' + i);
        const ka = (next() % 33) - 16;
        const kb = next() % 17;
        F.feLin(r, a, ka, b, kb);
        checkLoose(r, 'lin');
        assert.equal(mod(big(r), P), mod(BigInt(ka) * A - BigInt(kb) * B, P), 'lin ' + ka + ',' + kb + ' #' + i);
        const k = next() % 65;
        F.feMulSmall(r, a, k);
        checkLoose(r, 'mulSmall');
        assert.equal(mod(big(r), P), mod(BigInt(k) * A, P), 'mulSmall #' + i);
        // In place, every aliasing the point formulas use.
        const t = F.feCopy(F.feNew(), a);
        F.feMul(t, t, b);
        assert.equal(mod(big(t), P), mod(A * B, P), 'mul in place (r = a) #' + i);
        F.feCopy(t, b);
        F.feMul(t, a, t);
        assert.equal(mod(big(t), P), mod(A * B, P), 'mul in place (r = b) #' + i);
        F.feCopy(t, a);
        F.feSqr(t, t);
        assert.equal(mod(big(t), P), mod(A * A, P), 'sqr in place #' + i);
        F.feCopy(t, a);
        F.feMul(t, t, t);
        assert.equal(mod(big(t), P), mod(A * A, P), 'mul in place (r = a = b) #' + i);
        // Canonical form.
        F.feNormalize(F.feCopy(t, a));
        assert.equal(big(t), mod(A, P), 'normalize #' + i);
        for (let l = 0; l < 16; l++) assert.ok(t[l] >= 0 && t[l] <= 0xffff);
        assert.equal(F.feIsZero(a), mod(A, P) === 0n);
        assert.equal(F.feIsOdd(a), (mod(A, P) & 1n) === 1n);
      }
    } finally {
      F.installConvolve(undefined);
    }
  });
}

test('chains of products stay within the loose bound (worst-case limbs)', () => {
  F.installConvolve(convolveEmu);
  try {
    let a: F.Fe = new Int32Array(16).fill(F.LOOSE - 1);
    let A = big(a);
    for (let i = 0; i < 50; i++) {
      const r = F.feMul(F.feNew(), a, a);
      checkLoose(r, 'chain');
      A = mod(A * A, P);
      assert.equal(mod(big(r), P), A);
      // Push limbs back up to the bound in the positions the folds touch.
      a = F.feLin(F.feNew(), r, 16, r, 0);
      A = mod(16n * A, P);
    }
  } finally {
    F.installConvolve(undefined);
  }
});

test('feFromBytes / feToBytes / feIsCanonical / square roots', () => {
  const next = rng(5);
  for (let i = 0; i < 40; i++) {
    const b = new Uint8Array(32);
    for (let k = 0; k < 32; k++) b[k] = next() & 255;
    if (i === 0) b.fill(0xff);
    const x = F.feFromBytes(F.feNew(), b, 0);
    const X = BigInt('0x' + Buffer.from(b).toString('hex'));
    assert.equal(big(x), X);
    assert.equal(F.feIsCanonical(x), X < P);
    const out = F.feToBytes(new Uint8Array(32), 0, x);
    assert.equal(BigInt('0x' + Buffer.from(out).toString('hex')), mod(X, P));
    const sq = F.feSqr(F.feNew(), x);
    const root = F.feNew();
    assert.equal(F.feSqrt(root, sq), true);
    const R = big(F.feNormalize(root));
    assert.ok(R === mod(X, P) || R === mod(-X, P), 'sqrt of a square');
  }
  // A non-square: -1 (p = 3 mod 4).
  assert.equal(F.feSqrt(F.feNew(), limbs(P - 1n)), false);
  assert.equal(F.feIsCanonical(limbs(P - 1n)), true);
  assert.equal(F.feIsCanonical(limbs(P)), false);
});

test('operation counters count field multiplications and squarings only', () => {
  F.resetFieldOpCounts();
  const a = limbs(12345n);
  F.feMul(F.feNew(), a, a);
  F.feMul(F.feNew(), a, a);
  F.feSqr(F.feNew(), a);
  F.feAdd(F.feNew(), a, a);
  S.scMul(S.scNew(), a, a);
  assert.deepEqual(F.fieldOpCounts(), { mul: 2, sqr: 1 });
  F.resetFieldOpCounts();
  assert.deepEqual(F.fieldOpCounts(), { mul: 0, sqr: 0 });
});

test('installConvolve: rejects a wrong slot and keeps the previous one; undefined removes it', () => {
  assert.equal(F.convolveInstalled(), false);
  const broken = (a: ArrayLike<number>, b: ArrayLike<number>, o: number) => convolveEmu(a, b, o) + (o === 7 ? 1 : 0);
  assert.throws(() => F.installConvolve(broken), (e: Error & { code?: string }) => e.code === 'E_CONVOLVE_SLOT');
  assert.equal(F.convolveInstalled(), false);
  const throwing = () => {
    throw new Error('native failure');
  };
  assert.throws(() => F.installConvolve(throwing), (e: Error & { code?: string }) => e.code === 'E_CONVOLVE_SLOT');
  // Float rounding like a 32-bit float accumulator would give wrong columns: rejected too.
  const single = (a: ArrayLike<number>, b: ArrayLike<number>, o: number) => Math.fround(convolveEmu(a, b, o));
  assert.throws(() => F.installConvolve(single), (e: Error & { code?: string }) => e.code === 'E_CONVOLVE_SLOT');
  assert.throws(() => F.installConvolve(42 as unknown as F.ConvolveFn), TypeError);
  F.installConvolve(convolveEmu);
  assert.equal(F.convolveInstalled(), true);
  F.installConvolve(undefined);
  assert.equal(F.convolveInstalled(), false);
});

test('scalar arithmetic mod n matches BigInt', () => {
  const next = rng(21);
  const vals: bigint[] = [0n, 1n, 2n, N - 1n, N - 2n, N >> 1n, (N >> 1n) + 1n];
  for (let i = 0; i < 150; i++) {
    let x = 0n;
    for (let k = 0; k < 8; k++) x = (x << 32n) + BigInt(next());
    vals.push(x % N);
  }
  for (let i = 0; i < vals.length; i++) {
    const A = vals[i];
    const B = vals[(i * 7 + 3) % vals.length];
    const a = limbs(A);
    const b = limbs(B);
    assert.equal(big(S.scMul(S.scNew(), a, b)), (A * B) % N, 'mul #' + i);
    assert.equal(big(S.scAdd(S.scNew(), a, b)), (A + B) % N, 'add #' + i);
    assert.equal(big(S.scNeg(S.scNew(), a)), mod(-A, N), 'neg #' + i);
    assert.equal(big(S.scHalf(S.scNew(), a)), (A * ((N + 1n) / 2n)) % N, 'half #' + i);
    assert.equal(S.scIsHigh(a), A > N >> 1n, 'high #' + i);
    assert.equal(S.scIsValidNonZero(a), A > 0n && A < N);
    const ser = S.scToBytes(new Uint8Array(32), 0, a);
    assert.equal(big(S.scFromBytes(S.scNew(), ser, 0)), A);
  }
  // Reduction of any 256-bit value.
  for (const X of [N, N + 1n, 2n ** 256n - 1n, P]) {
    const r = S.scReduceOnce(S.scNew(), limbs(X));
    assert.equal(big(r), X % N);
    assert.equal(S.scIsValidNonZero(limbs(X)), false);
  }
});

test('divsteps inversion mod p and mod n matches BigInt; batches bounded; zero maps to zero', () => {
  const next = rng(77);
  const N_INFO = modInfo(limbs(N));
  let maxBatches = 0;
  for (const [M, info] of [
    [P, P_INFO],
    [N, N_INFO],
  ] as const) {
    const vals: bigint[] = [1n, 2n, 3n, M - 1n, M - 2n, (M + 1n) / 2n, 2n ** 255n, 2n ** 128n + 1n];
    for (let i = 0; i < 150; i++) {
      let x = 0n;
      for (let k = 0; k < 8; k++) x = (x << 32n) + BigInt(next());
      vals.push((x % (M - 1n)) + 1n);
    }
    for (const X of vals) {
      const st = newInvState(info);
      invStart(st, limbs(X));
      let batches = 0;
      while (!invBatch(st)) batches++;
      batches++;
      maxBatches = Math.max(maxBatches, batches);
      const r = invFinish(st, new Int32Array(16));
      assert.equal((big(r) * X) % M, 1n, 'inverse of ' + X.toString(16));
      assert.ok(big(r) < M);
    }
    assert.equal(big(modInvert(new Int32Array(16), limbs(0n), info)), 0n);
  }
  assert.ok(maxBatches < MAX_INV_BATCHES, 'batches ' + maxBatches);
});
