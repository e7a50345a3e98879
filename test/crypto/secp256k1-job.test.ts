// The signing job (bounded work per step, same result as sign()), the fixed-base table (format,
// install checks, lazy build) and the comb's exceptional-case fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as noble from '@noble/secp256k1';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import {
  createSignJob, sign, getPublicKey, buildGTable, installGTable, gTableInstalled, GTABLE_BYTES,
  DEFAULT_SIGN_BUDGET, MAX_SIGN_BUDGET, WORK_COSTS, fieldOpCounts, resetFieldOpCounts,
} from '../../firmware/core/crypto/secp256k1/index.js';
import { uninstallGTable, newCombState, combStart, combStep, combFailed, mulG, SPACING } from '../../firmware/core/crypto/secp256k1/gtable.js';
import { jacNew, jacToAffine } from '../../firmware/core/crypto/secp256k1/point.js';
import { feNew } from '../../firmware/core/crypto/secp256k1/field.js';
import { installSha256, sha256Portable } from '../../firmware/core/crypto/sha256.js';

noble.hashes.sha256 = sha256;
noble.hashes.hmacSha256 = (k, m) => hmac(sha256, k, m);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const P = 2n ** 256n - 2n ** 32n - 977n;
const num = (x: bigint) => bytes(x.toString(16).padStart(64, '0'));
const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

const TABLE = buildGTable();
installGTable(TABLE);

function run(job: ReturnType<typeof createSignJob>) {
  const opsPerStep: number[] = [];
  const progress: number[] = [];
  for (;;) {
    resetFieldOpCounts();
    const done = job.step();
    const c = fieldOpCounts();
    opsPerStep.push(c.mul + c.sqr);
    progress.push(job.progress);
    if (done) break;
    assert.ok(opsPerStep.length < 10000, 'job does not finish');
  }
  return { opsPerStep, progress };
}

test('a job stepped to completion gives the same signature as sign(), with bounded work per step', () => {
  for (let i = 0; i < 12; i++) {
    const priv = sha256(new Uint8Array([i, 1]));
    const msg = sha256(new Uint8Array([i, 2]));
    const job = createSignJob(msg, priv);
    assert.throws(() => job.result(), code('E_NOT_FINISHED'));
    const { opsPerStep, progress } = run(job);
    const s = sign(msg, priv);
    assert.equal(hex(job.result().compact), hex(s.compact));
    assert.equal(job.result().recovery, s.recovery);
    assert.equal(job.steps, opsPerStep.length);
    // Field multiplications per step never exceed the budget (units are at least one multiplication).
    assert.ok(Math.max(...opsPerStep) <= DEFAULT_SIGN_BUDGET, 'ops per step ' + Math.max(...opsPerStep));
    // 510 field multiplications in all: blinded inversions, 28 doublings + 28 additions, affine.
    assert.equal(opsPerStep.reduce((a, b) => a + b, 0), 510);
    assert.ok(opsPerStep.length >= 15 && opsPerStep.length <= 40, 'steps ' + opsPerStep.length);
    for (let k = 1; k < progress.length; k++) assert.ok(progress[k] >= progress[k - 1], 'progress is monotonic');
    assert.ok(progress[progress.length - 2] < 1);
    assert.equal(progress[progress.length - 1], 1);
    // After completion, step() does nothing and keeps answering true.
    resetFieldOpCounts();
    assert.equal(job.step(), true);
    assert.deepEqual(fieldOpCounts(), { mul: 0, sqr: 0 });
  }
});

test('budget 1: one operation per step, the largest being one comb column (18 multiplications)', () => {
  const priv = num(123456789n);
  const msg = sha256(new Uint8Array([9]));
  const job = createSignJob(msg, priv, { budget: 1 });
  const { opsPerStep } = run(job);
  assert.equal(Math.max(...opsPerStep), 18);
  assert.equal(hex(job.result().compact), hex(sign(msg, priv).compact));
  // Seeding (4 HMACs), candidate, blinding, 28 columns, two inversions of >= 10 batches, ...
  assert.ok(opsPerStep.length > 6 + SPACING + 20, 'steps ' + opsPerStep.length);
  // A huge budget finishes in one step.
  const one = createSignJob(msg, priv, { budget: MAX_SIGN_BUDGET });
  assert.equal(one.step(), true);
  assert.equal(one.steps, 1);
});

test('budget and options are validated', () => {
  const priv = num(5n);
  const msg = new Uint8Array(32);
  for (const b of [0, -1, 1.5, MAX_SIGN_BUDGET + 1, NaN]) assert.throws(() => createSignJob(msg, priv, { budget: b }), 'budget ' + b);
  assert.throws(() => createSignJob(msg, priv, { budget: '10' as unknown as number }), TypeError);
  assert.throws(() => createSignJob(msg, priv, null as unknown as object), TypeError);
  assert.throws(() => createSignJob(msg, priv, { extraEntropy: new Uint8Array(31) }), RangeError);
  // Inputs are validated when the job is created, not on the first step.
  assert.throws(() => createSignJob(new Uint8Array(31), priv), RangeError);
  assert.throws(() => createSignJob(msg, num(0n)), code('E_PRIVATE_KEY'));
});

test('extraEntropy through the job matches noble', () => {
  const priv = sha256(new Uint8Array([7]));
  const msg = sha256(new Uint8Array([8]));
  const extra = sha256(new Uint8Array([9]));
  const job = createSignJob(msg, priv, { extraEntropy: extra, budget: 25 });
  run(job);
  const want = noble.sign(msg, priv, { prehash: false, format: 'recovered', extraEntropy: extra });
  assert.equal(hex(job.result().compact), hex(want.subarray(1)));
  assert.equal(job.result().recovery, want[0]);
  assert.notEqual(hex(job.result().compact), hex(sign(msg, priv).compact));
});

test('the job costs HMACs by the SHA-256 in use: a (checked) slot makes them cheap', () => {
  const priv = num(77n);
  const msg = sha256(new Uint8Array([77]));
  const budget = WORK_COSTS.hmacNative * 6;
  const portable = createSignJob(msg, priv, { budget });
  const a = run(portable).opsPerStep.length;
  installSha256(sha256Portable);
  let b = 0;
  try {
    const job = createSignJob(msg, priv, { budget });
    b = run(job).opsPerStep.length;
    assert.equal(hex(job.result().compact), hex(portable.result().compact));
  } finally {
    installSha256(undefined);
  }
  // Six HMACs (seed, candidate, blinding) share one step at native cost; portable ones take one
  // step each.
  assert.equal(a - b, 5, 'steps portable ' + a + ', native ' + b);
});

test('table format: entry i is (2^232 + sum (2 b_t - 1) 2^(29 t)) G, coordinates little-endian', () => {
  assert.equal(TABLE.length, GTABLE_BYTES);
  assert.equal(hex(buildGTable()), hex(TABLE), 'deterministic');
  const le = (b: Uint8Array) => BigInt('0x' + hex(b.slice().reverse()));
  for (let i = 0; i < 256; i++) {
    let k = 2n ** 232n;
    for (let t = 0; t < 8; t++) k += ((i >> t) & 1 ? 1n : -1n) * 2n ** BigInt(29 * t);
    const Q = noble.Point.BASE.multiply(k).toAffine();
    assert.equal(le(TABLE.subarray(64 * i, 64 * i + 32)), Q.x, 'x of entry ' + i);
    assert.equal(le(TABLE.subarray(64 * i + 32, 64 * i + 64)), Q.y, 'y of entry ' + i);
  }
});

test('installGTable: wrong type or length, off-curve and wrong tables are rejected', () => {
  assert.throws(() => installGTable(new Uint8Array(GTABLE_BYTES - 1)), (e: Error & { code?: string }) => e instanceof RangeError && e.code === 'E_LENGTH');
  assert.throws(() => installGTable(Array.from(TABLE) as unknown as Uint8Array), TypeError);
  // A flipped bit in a spot-checked entry: not on the curve.
  const flipped = TABLE.slice();
  flipped[64 * 37 + 5] ^= 4;
  assert.throws(() => installGTable(flipped), (e: Error & { code?: string }) => e.code === 'E_GTABLE' && /entry 37/.test(e.message));
  // Valid points in the wrong order: every entry on the curve, but 1*G comes out wrong.
  const rotated = new Uint8Array(GTABLE_BYTES);
  rotated.set(TABLE.subarray(64), 0);
  rotated.set(TABLE.subarray(0, 64), GTABLE_BYTES - 64);
  assert.throws(() => installGTable(rotated), code('E_GTABLE'));
  // Zeros (an erased or never-written flash file): not points.
  assert.throws(() => installGTable(new Uint8Array(GTABLE_BYTES)), code('E_GTABLE'));
  assert.throws(() => installGTable(new Uint8Array(GTABLE_BYTES).fill(0xff)), code('E_GTABLE'));
  // The previous table is kept after a failed install.
  assert.equal(gTableInstalled(), true);
  assert.equal(hex(getPublicKey(num(1n))), hex(noble.getPublicKey(num(1n))));
});

test('installGTable reads views in place (even offset) or converts (odd offset)', () => {
  for (const off of [2, 1]) {
    const buf = new Uint8Array(GTABLE_BYTES + 3);
    buf.set(TABLE, off);
    installGTable(buf.subarray(off, off + GTABLE_BYTES));
    const priv = num(0xabcdefn + BigInt(off));
    assert.equal(hex(getPublicKey(priv)), hex(noble.getPublicKey(priv)));
    const msg = sha256(priv);
    assert.equal(hex(sign(msg, priv).compact), hex(noble.sign(msg, priv, { prehash: false })));
  }
  installGTable(TABLE);
});

test('without an installed table one is built on first use', () => {
  uninstallGTable();
  assert.equal(gTableInstalled(), false);
  const priv = num(31337n);
  assert.equal(hex(getPublicKey(priv)), hex(noble.getPublicKey(priv)));
  assert.equal(gTableInstalled(), true);
  installGTable(TABLE);
});

test('the comb detects exceptional additions and k*G falls back to the general code', () => {
  // Found by simulating the recoded comb: R = +-D_0 G at column 0 for this k.
  const k = 0x200000010000000800000040000002000000100000007ffffffc0000002n;
  const sc = new Int32Array(16);
  for (let i = 0; i < 16; i++) sc[i] = Number((k >> BigInt(16 * i)) & 0xffffn);
  const st = newCombState();
  combStart(st, sc);
  while (!combStep(st)) {
    /* next column */
  }
  assert.equal(combFailed(st), true);
  const x = feNew();
  const y = feNew();
  assert.equal(jacToAffine(mulG(jacNew(), sc), x, y), true);
  assert.equal(hex(getPublicKey(num(k), false)), hex(noble.getPublicKey(num(k), false)));
  // And a non-exceptional neighbour does not fail.
  sc[0] ^= 1;
  combStart(st, sc);
  while (!combStep(st)) {
    /* next column */
  }
  assert.equal(combFailed(st), false);
  // Extreme keys, including every small one the comb might trip on.
  for (const d of [1n, 2n, 3n, 4n, 5n, N - 1n, N - 2n, N - 3n, (N - 1n) / 2n, 2n ** 232n, N - 2n ** 232n]) {
    assert.equal(hex(getPublicKey(num(d), false)), hex(noble.getPublicKey(num(d), false)), 'key ' + d.toString(16));
  }
  assert.ok(P > N);
});
