// Sequence and chain bookkeeping on its own: synthetic batches (hashes are sha256 of a label),
// so each rule of docs/wire-format.md steps 4-6 is exercised directly, bounds at their limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createChainTracker, type AdmitInput, type ChainTracker, type GapEvent } from '../../agent-sim/middleware/chain.js';

const Z = new Uint8Array(32);
function h(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest());
}

/** A device's chain: batch i has hash h(name/i) and links to its predecessor's hash. */
function chain(name: string, seqs: number[], at = 0): AdmitInput[] {
  const out: AdmitInput[] = [];
  let prevSeq = 0;
  for (const s of seqs) {
    out.push({ seq: s, pseq: prevSeq, prev: prevSeq ? h(name + '/' + prevSeq) : Z, payloadHash: h(name + '/' + s), receivedAt: at });
    prevSeq = s;
  }
  return out;
}

function admitAll(t: ChainTracker, dev: string, bs: AdmitInput[]) {
  return bs.map((b) => t.admit(dev, b));
}

test('in-order chain: every link verified, nothing pending', () => {
  const t = createChainTracker();
  const r = admitAll(t, 'A', chain('A', [1, 2, 3, 4]));
  assert.deepEqual(r.map((x) => x.status), ['accepted', 'accepted', 'accepted', 'accepted']);
  assert.equal(t.stats().linksVerified, 3);
  assert.equal(t.stats().pendingLinks, 0);
  assert.equal(t.lastSeq('A'), 4);
});

test('duplicate (same hash) vs conflict (different payload, same seq)', () => {
  const t = createChainTracker();
  const [b1, b2] = chain('A', [1, 2]);
  t.admit('A', b1);
  t.admit('A', b2);
  assert.equal(t.admit('A', b2).status, 'duplicate');
  assert.equal(t.admit('A', b1).status, 'duplicate');
  const other = t.admit('A', { ...b2, payloadHash: h('evil') });
  assert.equal(other.status, 'conflict');
  // Devices are independent.
  assert.equal(t.admit('B', b1).status, 'accepted');
});

test('chain-break: prev does not match the held predecessor; refused batch changes nothing', () => {
  const t = createChainTracker();
  const [b1, b2, b3] = chain('A', [1, 2, 3]);
  t.admit('A', b1);
  const bad = { ...b2, prev: h('not A/1') };
  const r = t.admit('A', bad);
  assert.equal(r.status, 'chain-break');
  assert.match((r as { detail: string }).detail, /prev does not match .* seq 1/);
  // The genuine batch 2 is still accepted afterwards.
  assert.equal(t.admit('A', b2).status, 'accepted');
  assert.equal(t.admit('A', b3).status, 'accepted');
});

test('out of order: link pending until the predecessor arrives, then checked (both outcomes)', () => {
  const t = createChainTracker();
  const [b1, b2, b3] = chain('A', [1, 2, 3]);
  t.admit('A', b1);
  const r3 = t.admit('A', b3);
  assert.deepEqual(r3, { status: 'accepted', linked: false, pending: true, events: [] });
  assert.equal(t.stats().pendingLinks, 1);
  // A validly "signed" seq 2 whose hash is not what 3 names: chain-break, link stays pending.
  assert.equal(t.admit('A', { ...b2, payloadHash: h('other 2') }).status, 'chain-break');
  assert.equal(t.stats().pendingLinks, 1);
  const r2 = t.admit('A', b2);
  assert.equal(r2.status, 'accepted');
  assert.equal(t.stats().pendingLinks, 0);
  assert.equal(t.stats().linksVerified, 2);
});

test('skipped sequence numbers between pseq and seq are not gaps', () => {
  const t = createChainTracker({ gapGraceMs: 0 });
  admitAll(t, 'A', chain('A', [1, 2, 65, 129]));
  assert.deepEqual(t.sweep(1e12), []);
  assert.equal(t.stats().linksVerified, 3);
});

test('gaps: declared after the grace period, unexplained; filled late when the batch arrives', () => {
  const t = createChainTracker({ gapGraceMs: 1000 });
  const [b1, b2, b3] = chain('A', [1, 2, 3], 5000);
  t.admit('A', b1);
  t.admit('A', b3);
  assert.deepEqual(t.sweep(5999), [], 'still inside the grace period');
  const ev = t.sweep(6000);
  assert.deepEqual(ev, [{ kind: 'declared', device: 'A', seq: 2, nextSeq: 3, explained: false, detectedAt: 6000 }]);
  assert.deepEqual(t.sweep(7000), [], 'declared once');
  assert.deepEqual(t.stats().gaps, { explained: 0, unexplained: 1, filledLate: 0 });
  const r = t.admit('A', { ...b2, receivedAt: 9000 });
  assert.equal(r.status, 'accepted');
  assert.deepEqual((r as { events: GapEvent[] }).events, [
    { kind: 'filled', device: 'A', seq: 2, nextSeq: 3, explained: false, detectedAt: 6000, filledAt: 9000 },
  ]);
  assert.deepEqual(t.stats().gaps, { explained: 0, unexplained: 0, filledLate: 1 });
});

test('gaps explained by a signed drop report, whether it comes before or after the gap is declared', () => {
  const t = createChainTracker({ gapGraceMs: 1000 });
  // Device dropped 3..5 from its outbox; 6 links to 5. Report in batch 6 itself.
  const bs = chain('A', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.admit('A', bs[0]);
  t.admit('A', bs[1]);
  const r6 = t.admit('A', { ...bs[5], drop: { count: 3, firstSeq: 3, lastSeq: 5 } });
  const ev6 = (r6 as { events: GapEvent[] }).events;
  assert.equal(ev6.length, 1);
  assert.deepEqual(ev6[0], { kind: 'declared', device: 'A', seq: 5, nextSeq: 6, explained: true, dropReportSeq: 6, detectedAt: 0 });
  // Then 8 is lost in transit (9 links to 8), declared unexplained; a later report covering 8
  // (the device did drop it after all) turns it explained.
  t.admit('A', bs[6]);
  t.admit('A', { ...bs[8], receivedAt: 100 });
  const ev = t.sweep(1100);
  assert.deepEqual(ev.map((e) => [e.seq, e.explained]), [[8, false]]);
  assert.deepEqual(t.stats().gaps, { explained: 1, unexplained: 1, filledLate: 0 });
  const r10 = t.admit('A', { ...bs[9], drop: { count: 1, firstSeq: 8, lastSeq: 8 } });
  assert.deepEqual((r10 as { events: GapEvent[] }).events, [
    { kind: 'explained', device: 'A', seq: 8, nextSeq: 9, explained: true, dropReportSeq: 10, detectedAt: 1100 },
  ]);
  assert.deepEqual(t.stats().gaps, { explained: 2, unexplained: 0, filledLate: 0 });
});

test('first batch rules: pseq 0 needs a zero prev and no earlier seq; nothing precedes it', () => {
  const t = createChainTracker();
  assert.equal(t.admit('A', { seq: 1, pseq: 0, prev: h('x'), payloadHash: h('A/1'), receivedAt: 0 }).status, 'chain-break');
  const [b1, b2] = chain('A', [5, 6]);
  t.admit('A', b1);
  t.admit('A', b2);
  // A second "first batch" later in the sequence: a reset chain.
  assert.equal(t.admit('A', { seq: 7, pseq: 0, prev: Z, payloadHash: h('A/7'), receivedAt: 0 }).status, 'chain-break');
  // A batch numbered before the first one.
  assert.equal(t.admit('A', { seq: 3, pseq: 2, prev: h('A/2'), payloadHash: h('A/3'), receivedAt: 0 }).status, 'chain-break');
});

test('forks: two batches naming the same predecessor', () => {
  const t = createChainTracker();
  const [b1, b2, b3] = chain('A', [1, 2, 3]);
  t.admit('A', b1);
  t.admit('A', b2);
  const fork = { seq: 4, pseq: 1, prev: h('A/1'), payloadHash: h('A/4'), receivedAt: 0 };
  assert.match(JSON.stringify(t.admit('A', fork)), /fork: seq 1 is already followed by seq 2/);
  // Pending variant: 3 names 2 (not held yet in a fresh tracker), 5 names 2 too.
  const u = createChainTracker();
  u.admit('A', b3);
  assert.match(JSON.stringify(u.admit('A', { seq: 5, pseq: 2, prev: h('A/2'), payloadHash: h('A/5'), receivedAt: 0 })), /fork/);
});

test('bound: maxPendingLinks evicts the oldest link as a gap, at the limit exactly', () => {
  const t = createChainTracker({ maxPendingLinks: 2, gapGraceMs: 1e9 });
  const [a1, a2, a3, a4] = chain('A', [1, 2, 3, 4]);
  const [b1, b2, b3, b4] = chain('B', [1, 2, 3, 4]);
  t.admit('A', a2); // pending 1
  t.admit('B', b2); // pending 1
  assert.equal(t.stats().pendingLinks, 2);
  const r = t.admit('A', { ...a4, receivedAt: 50 }); // pending 3: evicts A's link to 1
  assert.deepEqual((r as { events: GapEvent[] }).events, [
    { kind: 'declared', device: 'A', seq: 1, nextSeq: 2, explained: false, detectedAt: 50, evicted: true },
  ]);
  assert.equal(t.stats().pendingLinks, 2);
  // A's 1 arriving now is accepted (no longer checked against 2); B's link is still held.
  assert.equal(t.admit('A', a1).status, 'accepted');
  assert.equal(t.admit('B', { ...b1, payloadHash: h('wrong') }).status, 'chain-break');
  void a3;
  void b3;
  void b4;
});

test('bound: maxKnownPerDevice forgets old hashes and asks for a lookup instead', () => {
  const t = createChainTracker({ maxKnownPerDevice: 3 });
  const bs = chain('A', [1, 2, 3, 4, 5]);
  admitAll(t, 'A', bs);
  // 1 and 2 were evicted: a redelivered 1 needs a store lookup; 4 and 5 do not.
  assert.deepEqual(t.missing('A', 1, 0), [1]);
  assert.deepEqual(t.missing('A', 2, 1), [2, 1]);
  assert.deepEqual(t.missing('A', 5, 4), []);
  assert.deepEqual(t.missing('A', 6, 5), []);
  // Store says 1 is there with this hash: duplicate. Without priming it would look new.
  t.prime('A', 1, { seq: 1, pseq: 0, payloadHash: bs[0].payloadHash, prev: Z });
  assert.equal(t.admit('A', bs[0]).status, 'duplicate');
});

test('bound: maxDropReportsPerDevice keeps only the newest reports, at the limit exactly', () => {
  for (const [limit, explained] of [[1, false], [2, true]] as const) {
    const t = createChainTracker({ maxDropReportsPerDevice: limit, gapGraceMs: 10 });
    const bs = chain('A', [1, 2, 3, 4, 5, 6]);
    t.admit('A', bs[0]);
    t.admit('A', { ...bs[3], drop: { count: 1, firstSeq: 2, lastSeq: 2 } }); // report for 2; 4 waits for 3
    t.admit('A', { ...bs[5], drop: { count: 1, firstSeq: 5, lastSeq: 5 } }); // second report
    t.admit('A', { ...bs[2] }); // 3 arrives and names 2, which never comes
    const ev = t.sweep(100);
    assert.deepEqual(ev.map((e) => [e.seq, e.explained]), [[2, explained]], 'limit ' + limit);
  }
});

test('load: a snapshot from the store restores duplicates, open links and declared gaps', () => {
  const t = createChainTracker({ gapGraceMs: 10 });
  const bs = chain('A', [1, 2, 3, 4, 5]);
  t.load('A', {
    maxSeq: 5,
    minSeq: 1,
    firstSeq: 1,
    recent: [bs[3], bs[4]].map((b) => ({ seq: b.seq, pseq: b.pseq, payloadHash: b.payloadHash, prev: b.prev })),
    openLinks: [{ seq: 4, pseq: 3, prev: bs[3].prev, since: 0, gap: { detectedAt: 7, explained: false } }],
    drops: [],
  });
  assert.equal(t.admit('A', bs[4]).status, 'duplicate');
  assert.deepEqual(t.missing('A', 2, 1), [2, 1], 'older than the snapshot: ask the store');
  assert.deepEqual(t.stats().gaps, { explained: 0, unexplained: 1, filledLate: 0 });
  const r = t.admit('A', { ...bs[2], receivedAt: 20 });
  assert.equal(r.status, 'accepted');
  assert.equal((r as { events: GapEvent[] }).events[0].kind, 'filled');
  t.forget('A');
  assert.equal(t.loaded('A'), false);
  assert.deepEqual(t.stats().gaps, { explained: 0, unexplained: 0, filledLate: 1 });
});

test('bound: maxDevices forgets the least recently active device, at the limit exactly', () => {
  const t = createChainTracker({ maxDevices: 2, gapGraceMs: 10 });
  const a = chain('A', [1, 2, 3]);
  const b = chain('B', [1, 2]);
  const c = chain('C', [1]);
  t.admit('A', a[0]);
  t.admit('A', a[2]); // A waits for 2
  t.admit('B', b[0]);
  t.admit('A', { ...a[2] }); // duplicate, but A is now the most recent
  assert.equal(t.stats().devices, 2);
  t.admit('C', c[0]); // third device: B (least recent) goes
  assert.deepEqual([t.loaded('A'), t.loaded('B'), t.loaded('C')], [true, false, true]);
  t.admit('B', b[1]); // B comes back (a fresh state; the ingest reloads it from the store)
  assert.deepEqual([t.loaded('A'), t.loaded('B'), t.loaded('C')], [false, true, true]);
  assert.equal(t.stats().pendingLinks, 1, "A's pending link went with it; B now waits for 1");
  assert.deepEqual(t.sweep(100).map((e) => [e.device, e.seq]), [['B', 1]]);
});

test('options are validated', () => {
  assert.throws(() => createChainTracker({ maxPendingLinks: -1 }), RangeError);
  assert.throws(() => createChainTracker({ gapGraceMs: 1.5 }), RangeError);
});
