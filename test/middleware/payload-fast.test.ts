// The verifier's payload fast path must never disagree with the core's decodePayload: whenever
// it returns a batch, the core returns an equal one. Checked on generated batches (encoded by
// the core) and on seeded mutations of them; it must also take the common shapes (else it is
// useless), which the coverage assertion checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { decodePayloadFast } from '../../agent-sim/middleware/payload-fast.js';
import { decodePayload, encodePayload, type Batch } from '../../firmware/core/telemetry/batch.js';
import type { Reading } from '../../firmware/core/telemetry/senml.js';
import { prng } from './fixtures.js';

type Core = { ok: true; batch: Batch } | { ok: false };
function core(p: Uint8Array, lim?: { maxRecords: number; maxBytes: number }): Core {
  try {
    return { ok: true, batch: decodePayload(p, lim) };
  } catch {
    return { ok: false };
  }
}

/** The fast path agrees with the core on p; returns whether it took it. */
function agree(p: Uint8Array, what: string, lim?: { maxRecords: number; maxBytes: number }): boolean {
  const f = decodePayloadFast(p, lim);
  if (f === undefined) return false;
  const c = core(p, lim);
  assert.ok(c.ok, what + ': fast path accepted what the core rejects: ' + Buffer.from(p).toString('hex'));
  assert.deepEqual(f, c.batch, what);
  return true;
}

function randomBatch(rnd: () => number, i: number): Batch {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const synced = rnd() < 0.7;
  const nSamples = 1 + Math.floor(rnd() * 6);
  const names = ['m0/e', 'm0/p', 'm0/u', 'aq/pm25', 'aq/temp', 'hs/state', 'hs/tx', 'x', 'a-b:c.d_e/f'];
  const values = [0, 1, -1, 23, 24, 255, 256, 65535, 65536, 4294967295, -4294967296, 1.5, 230.25, 1234.5, 0.1, -0.5, 1e-7, 3.4e38, 1e300, 65504.5, Math.fround(1234.56), 6e-8, -7.25];
  const big = rnd() < 0.05; // an integer beyond 32 bits: the core's job
  const readings: Reading[] = [];
  const chosen = names.filter(() => rnd() < 0.4);
  if (!chosen.length) chosen.push('m0/e');
  const allUnits = rnd() < 0.6;
  for (let k = 0; k < nSamples; k++) {
    const t = synced ? 1764080000 + k * 10 + (rnd() < 0.1 ? 0.5 : 0) : -k * 7 - (rnd() < 0.2 ? 0.25 : 0);
    for (const n of chosen) {
      const r: Reading = { n, t };
      if (allUnits || rnd() < 0.5) r.u = pick(['Wh', 'W', 'V', 'ug/m3', 'Cel', '%RH']);
      const kind = rnd();
      if (kind < 0.5) r.v = big ? 2 ** 40 : pick(values);
      else if (kind < 0.75) r.s = 1000000 + k * pick([1, 21, 0.5]);
      else if (kind < 0.88) r.vs = pick(['online', '', rnd() < 0.2 ? 'ünïcödé' : 'ok', 'x'.repeat(30)]);
      else r.vb = rnd() < 0.5;
      readings.push(r);
    }
  }
  const seq = 1 + Math.floor(rnd() * 100000);
  const pseq = rnd() < 0.2 ? Math.floor(rnd() * seq) : seq - 1;
  const b: Batch = {
    boot: Math.floor(rnd() * 300),
    seq,
    prev: new Uint8Array(32).fill(i & 255),
    pseq,
    synced,
    up: Math.floor(rnd() * 1e6),
    readings,
    health: {},
  };
  if (rnd() < 0.8) b.health.queue = Math.floor(rnd() * 100);
  if (rnd() < 0.5) b.health.dropped = Math.floor(rnd() * 70000);
  if (rnd() < 0.5) b.health.freeMem = Math.floor(rnd() * 200000);
  if (rnd() < 0.3) b.health.reconnects = 3;
  if (rnd() < 0.2) b.health.oldestS = 99;
  if (seq > 3 && rnd() < 0.2) b.drop = { count: 2, firstSeq: 1, lastSeq: Math.min(2, seq - 1) };
  return b;
}

test('generated batches: fast path takes the common shapes and equals the core', () => {
  const rnd = prng(11);
  let taken = 0;
  let total = 0;
  for (let i = 0; i < 400; i++) {
    const b = randomBatch(rnd, i);
    let p: Uint8Array;
    try {
      p = encodePayload(b);
    } catch {
      continue; // e.g. a time offset the encoder refuses
    }
    total++;
    // What the fast path leaves to the core by design: non-ASCII text, integers >= 2^32.
    const rare = b.readings.some(
      (r) => (r.vs !== undefined && /[^\x00-\x7f]/.test(r.vs)) || (r.v !== undefined && Number.isInteger(r.v) && (r.v >= 2 ** 32 || r.v < -(2 ** 32))),
    );
    const took = agree(p, 'batch ' + i);
    if (took) taken++;
    assert.equal(took, !rare, 'batch ' + i + (rare ? ' taken' : ' refused') + ': ' + Buffer.from(p).toString('hex'));
  }
  assert.ok(total > 300 && taken > 200, total + ' batches, ' + taken + ' taken');
});

test('mutated payloads: whenever the fast path accepts, the core accepts the same batch', () => {
  const rnd = prng(5);
  let accepted = 0;
  let cases = 0;
  for (let i = 0; i < 60; i++) {
    let p: Uint8Array;
    try {
      p = encodePayload(randomBatch(rnd, i));
    } catch {
      continue;
    }
    // Every single-bit flip of the first payloads, random edits of all.
    if (i < 6)
      for (let bit = 0; bit < p.length * 8; bit++) {
        const t = p.slice();
        t[bit >> 3] ^= 1 << (bit & 7);
        cases++;
        if (agree(t, 'flip ' + bit + ' of ' + i)) accepted++;
      }
    for (let k = 0; k < 150; k++) {
      let t = p.slice();
      const op = rnd();
      const at = Math.floor(rnd() * t.length);
      if (op < 0.5) t[at] = Math.floor(rnd() * 256);
      else if (op < 0.7) t = t.slice(0, at);
      else if (op < 0.85) t = new Uint8Array([...t.slice(0, at), Math.floor(rnd() * 256), ...t.slice(at)]);
      else t = new Uint8Array([...t.slice(0, at), ...t.slice(at + 1)]);
      cases++;
      if (agree(t, 'edit ' + k + ' of ' + i)) accepted++;
    }
  }
  assert.ok(cases > 5000);
  assert.ok(accepted > 100, 'some mutations stay valid (values, times): ' + accepted);
});

test('limits: maxRecords and maxBytes at the limit', () => {
  const b: Batch = {
    boot: 1,
    seq: 2,
    prev: new Uint8Array(32),
    pseq: 1,
    synced: true,
    up: 5,
    readings: [
      { n: 'a/x', v: 1.5, t: 1764080000 },
      { n: 'a/y', v: 2.5, t: 1764080000 },
    ],
    health: {},
  };
  const p = encodePayload(b);
  assert.ok(agree(p, 'at maxRecords', { maxRecords: 2, maxBytes: p.length }));
  assert.equal(decodePayloadFast(p, { maxRecords: 1, maxBytes: 1000 }), undefined);
  assert.equal(decodePayloadFast(p, { maxRecords: 9, maxBytes: p.length - 1 }), undefined);
});

test('published envelope vectors: the fast path takes them and equals the core', () => {
  const path = 'test/vectors/envelope/batches.json';
  if (!existsSync(path)) return;
  const v = JSON.parse(readFileSync(path, 'utf8'));
  for (const c of v.valid) assert.ok(agree(new Uint8Array(Buffer.from(c.payloadHex, 'hex')), c.description), c.description);
});
