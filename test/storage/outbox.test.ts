// Outbox: FIFO semantics, bounds at their limits, drop policy and report, compaction, recovery
// details, bad input, and flash wear for 10,000 batches on a simulated ESP32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashStorage, FILE_HEADER } from '../../agent-sim/platform/flash-storage.js';
import {
  Outbox, outboxConfig, OUTBOX_DEFAULTS, SEG_TAG, ENTRY_TAG, SEG_MAP_OFF, ENTRY_META, type OutboxConfig,
} from '../../firmware/core/session/outbox.js';
import { Counters } from '../../firmware/core/session/counters.js';
import { frame, frameSpan, alignUp, putU16, putU32, putF64 } from '../../firmware/core/session/flash-log.js';
import { fromHex, toHex } from '../../firmware/core/util/bytes.js';
import { batchBytes } from './model.js';

const FRAMES = JSON.parse(readFileSync(new URL('../vectors/storage/frames.json', import.meta.url), 'utf8'));

/** 4 segments of 512 bytes, 6 slots; room for 12 batches of up to 100 bytes. */
const SMALL: Partial<OutboxConfig> = {
  prefix: 'ob',
  metaFile: 'om',
  segmentBytes: 512,
  segmentSlots: 6,
  maxEntries: 12,
  maxBatchBytes: 100,
  metaFileBytes: 128,
  maxBytes: 2 * (32 + 128) + 4 * (32 + 512),
};

function flash(capacity = 256 * 1024): FlashStorage {
  return new FlashStorage({ capacity });
}
const meta = (seq: number, t = 1000 + seq) => ({ boot: 1, seq, t });
const vec = (file: string, offset: number) =>
  FRAMES.valid.find((v: { where?: { file: string; offset: number } }) => v.where?.file === file && v.where.offset === offset);

test('push, peek, ack, depth, bytes, oldestAge; layout matches the published frames', () => {
  const fs = flash();
  const ob = new Outbox(fs);
  const id = ob.push(fromHex('a1a2a3'), { boot: 3, seq: 1000, t: 1700000000000.5 });
  assert.equal(id, 1);
  const hdr = vec('obs1', 0);
  const ent = vec('obs1', 84);
  const raw = fs.read('obs1')!;
  assert.equal(raw.length, OUTBOX_DEFAULTS.segmentBytes);
  assert.equal(toHex(raw.subarray(0, hdr.frame.length / 2)), hdr.frame);
  assert.equal(SEG_MAP_OFF + OUTBOX_DEFAULTS.segmentSlots, 84);
  assert.equal(toHex(raw.subarray(84, 84 + ent.frame.length / 2)), ent.frame);
  ob.push(fromHex('b1'), { boot: 3, seq: 1001, t: 1700000001000 });
  assert.equal(ob.depth(), 2);
  assert.equal(ob.bytes(), 4);
  assert.equal(ob.oldestAge(1700000060000.5), 60000);
  assert.deepEqual(ob.peek(1), [{ id: 1, boot: 3, seq: 1000, t: 1700000000000.5, bytes: fromHex('a1a2a3') }]);
  assert.equal(ob.ack(1), true);
  assert.equal(raw.length && fs.read('obs1')![SEG_MAP_OFF], 0x00, 'ack is one byte in the map');
  assert.equal(ob.ack(1), false, 'a duplicate PUBACK is harmless');
  assert.equal(ob.ack(99), false);
  assert.deepEqual(ob.peek(5).map((e) => e.seq), [1001]);
  assert.equal(ob.oldestAge(0), 0, 'an entry from the future has age 0');
  ob.ack(2);
  assert.equal(ob.depth(), 0);
  assert.equal(ob.bytes(), 0);
  assert.equal(ob.oldestAge(5), 0);
});

test('acks in any order; state survives a reboot; ids keep growing', () => {
  const fs = flash();
  let ob = new Outbox(fs, SMALL);
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(ob.push(batchBytes(i, 50), meta(i)));
  for (const k of [5, 1, 9, 0, 3]) assert.equal(ob.ack(ids[k]), true);
  const left = ob.peek(20);
  ob = new Outbox(fs, SMALL);
  assert.deepEqual(ob.peek(20), left);
  assert.deepEqual(left.map((e) => e.seq), [2, 4, 6, 7, 8]);
  assert.ok(ob.push(batchBytes(99, 10), meta(99)) > ids[9]);
});

test('maxEntries at its limit: no drop at the limit, the oldest goes beyond, report until confirmed', () => {
  const fs = flash();
  const cfg = { ...SMALL, maxEntries: 5 };
  let ob = new Outbox(fs, cfg);
  for (let i = 0; i < 5; i++) ob.push(batchBytes(i, 20), meta(100 + i));
  assert.equal(ob.dropped(), 0);
  assert.equal(ob.dropReport(), undefined);
  ob.push(batchBytes(5, 20), meta(105));
  ob.push(batchBytes(6, 20), meta(106));
  assert.equal(ob.depth(), 5);
  assert.equal(ob.dropped(), 2);
  assert.deepEqual(ob.dropReport(), { count: 2, firstSeq: 100, lastSeq: 101 });
  assert.deepEqual(ob.peek(9).map((e) => e.seq), [102, 103, 104, 105, 106]);
  assert.equal(ob.stats().policy, 'drop-oldest');
  // Persisted, and a partial confirmation keeps what was dropped since.
  ob = new Outbox(fs, cfg);
  assert.equal(ob.dropped(), 2);
  const r = ob.dropReport()!;
  ob.push(batchBytes(7, 20), meta(107));
  assert.deepEqual(ob.dropReport(), { count: 3, firstSeq: 100, lastSeq: 102 });
  ob.confirmDropReport(r);
  assert.deepEqual(ob.dropReport(), { count: 1, firstSeq: 102, lastSeq: 102 });
  ob = new Outbox(fs, cfg);
  assert.deepEqual(ob.dropReport(), { count: 1, firstSeq: 102, lastSeq: 102 });
  ob.confirmDropReport(ob.dropReport()!);
  assert.equal(ob.dropReport(), undefined);
  assert.equal(new Outbox(fs, cfg).dropReport(), undefined);
  assert.equal(ob.dropped(), 3, 'the lifetime counter stays');
  assert.throws(() => ob.confirmDropReport({ count: 1, firstSeq: 0, lastSeq: 0 }), { name: 'RangeError', message: /does not match the pending drop report null/ });
});

test('the first drop leaves the published meta frame', () => {
  const fs = flash();
  const ob = new Outbox(fs, { maxEntries: 1 });
  ob.push(fromHex('01'), meta(1000));
  ob.push(fromHex('02'), meta(1001));
  const v = vec('obm0', 0);
  assert.equal(toHex(fs.read('obm0')!.subarray(0, v.frame.length / 2)), v.frame);
});

test('maxBytes at its limit: the outbox never occupies more flash than allowed', () => {
  const fs = flash();
  const ob = new Outbox(fs, { ...SMALL, maxEntries: 1000 });
  const footprint = () =>
    fs
      .list()
      .filter((n) => n.startsWith('ob') || n.startsWith('om'))
      .reduce((s, n) => s + FILE_HEADER + alignUp(fs.read(n)!.length), 0);
  for (let i = 0; i < 200; i++) {
    ob.push(batchBytes(i, 1 + ((i * 31) % 100)), meta(i));
    assert.ok(footprint() <= SMALL.maxBytes!, 'flash used ' + footprint() + ' > ' + SMALL.maxBytes);
    assert.ok(footprint() <= ob.stats().flashBytes, 'stats().flashBytes counts the meta files as reserved');
    if (i % 7 === 0) ob.ack(ob.peek(3)[2]?.id ?? 0);
  }
  assert.equal(ob.stats().maxSegments, 4);
  assert.equal(footprint(), SMALL.maxBytes, 'the budget is used in full');
  assert.ok(ob.dropped() > 100);
  // Everything still waiting is intact and in order.
  const all = ob.peek(1000);
  for (let k = 1; k < all.length; k++) assert.ok(all[k].id > all[k - 1].id);
});

test('maxBatchBytes: the limit is accepted, one more is a clear error and nothing is lost', () => {
  const fs = flash();
  const ob = new Outbox(fs, SMALL);
  ob.push(batchBytes(1, 100), meta(1));
  const snap = fs.snapshot();
  const st = JSON.stringify(ob.stats());
  assert.throws(() => ob.push(new Uint8Array(101), meta(2)), {
    name: 'RangeError',
    code: 'E_LENGTH',
    message: '"bytes" expected 1..100 bytes (maxBatchBytes), got 101',
  } as object);
  assert.throws(() => ob.push(new Uint8Array(0), meta(2)), { name: 'RangeError', code: 'E_LENGTH' } as object);
  assert.deepEqual(fs.snapshot(), snap);
  assert.equal(JSON.stringify(ob.stats()), st);
  assert.deepEqual(ob.peek(9)[0].bytes, batchBytes(1, 100));
});

test('bad input: wrong types and ranges are clear errors, state unchanged', () => {
  const fs = flash();
  const ob = new Outbox(fs, SMALL);
  ob.push(batchBytes(1, 10), meta(1));
  const snap = fs.snapshot();
  const st = JSON.stringify(ob.stats());
  const cases: [() => unknown, string, RegExp][] = [
    [() => ob.push([1, 2] as unknown as Uint8Array, meta(2)), 'TypeError', /"bytes" expected Uint8Array, got array/],
    [() => ob.push('ab' as unknown as Uint8Array, meta(2)), 'TypeError', /"bytes" expected Uint8Array, got string/],
    [() => ob.push(null as unknown as Uint8Array, meta(2)), 'TypeError', /got null/],
    [() => ob.push(fromHex('01'), undefined as unknown as typeof meta extends never ? never : { boot: number; seq: number; t: number }), 'TypeError', /"meta" expected an object/],
    [() => ob.push(fromHex('01'), { boot: 1, seq: -1, t: 0 }), 'RangeError', /"meta.seq" expected 0..4294967295, got -1/],
    [() => ob.push(fromHex('01'), { boot: 1, seq: 2 ** 32, t: 0 }), 'RangeError', /"meta.seq"/],
    [() => ob.push(fromHex('01'), { boot: 1.5, seq: 1, t: 0 }), 'TypeError', /"meta.boot" expected an integer, got 1.5/],
    [() => ob.push(fromHex('01'), { boot: 1, seq: 1, t: NaN }), 'RangeError', /"meta.t" expected a finite number >= 0, got NaN/],
    [() => ob.push(fromHex('01'), { boot: 1, seq: 1 } as unknown as { boot: number; seq: number; t: number }), 'RangeError', /"meta.t" .* got undefined/],
    [() => ob.ack('1' as unknown as number), 'TypeError', /"id" expected an integer, got string/],
    [() => ob.ack(-1), 'RangeError', /"id"/],
    [() => ob.peek(-1), 'RangeError', /"max"/],
    [() => ob.oldestAge('x' as unknown as number), 'TypeError', /"now"/],
    [() => ob.confirmDropReport(undefined as unknown as { count: number; firstSeq: number; lastSeq: number }), 'TypeError', /"report"/],
  ];
  for (const [f, name, re] of cases) assert.throws(f, (e: Error) => e.name === name && re.test(e.message), String(re));
  assert.deepEqual(fs.snapshot(), snap);
  assert.equal(JSON.stringify(ob.stats()), st);
  assert.throws(() => new Outbox(undefined as unknown as FlashStorage), { name: 'TypeError', message: /"storage" expected a Storage/ });
});

test('config: every bound named, at and beyond its limit', () => {
  assert.deepEqual(outboxConfig(), OUTBOX_DEFAULTS);
  assert.equal(outboxConfig({ prefix: 'p'.repeat(18) }).prefix.length, 18);
  const minSeg = alignUp(SEG_MAP_OFF + 6) + frameSpan(ENTRY_META + 100);
  assert.equal(outboxConfig({ ...SMALL, segmentBytes: minSeg, maxBytes: 1e6 }).segmentBytes, minSeg);
  const cases: [Partial<OutboxConfig>, RegExp][] = [
    [{ prefix: 'p'.repeat(19) }, /"prefix" expected a Storage file name of 1..28 chars/],
    [{ metaFile: 'm'.repeat(28) }, /"metaFile"/],
    [{ prefix: 'ob', metaFile: 'obm' }, /must not start with one another/],
    [{ segmentSlots: 0 }, /"segmentSlots" expected 1..255, got 0/],
    [{ segmentSlots: 256 }, /"segmentSlots" expected 1..255, got 256/],
    [{ maxBatchBytes: 0 }, /"maxBatchBytes" expected 1..65514, got 0/],
    [{ ...SMALL, segmentBytes: minSeg - 1 }, new RegExp('"segmentBytes" must hold the header, 6 ack slots and one batch of maxBatchBytes \\(100\\): at least ' + minSeg + ', got ' + (minSeg - 1))],
    [{ segmentBytes: 70000 }, /"segmentBytes" expected .*\.\.65532, got 70000/],
    [{ ...SMALL, maxBytes: 2 * (32 + 128) + 2 * (32 + 512) - 1 }, /"maxBytes" must hold both meta files and at least 2 segments: at least 1408, got 1407/],
    [{ maxEntries: 0 }, /"maxEntries" expected 1..65535, got 0/],
    [{ metaFileBytes: 10 }, /"metaFileBytes"/],
    [{ prefix: 5 as unknown as string }, /"prefix" expected a string, got number/],
  ];
  for (const [cfg, re] of cases) assert.throws(() => outboxConfig(cfg), re);
});

test('flash full when a segment must be created: clear error, nothing lost, works once space returns', () => {
  const fs = new FlashStorage({ capacity: 2 * (32 + 128) + 1 * (32 + 512) + 100 });
  const ob = new Outbox(fs, SMALL);
  for (let i = 0; i < 6; i++) ob.push(batchBytes(i, 40), meta(i));
  const before = ob.peek(20);
  // The meta files do not exist yet (no drop so far); with them the area would be exceeded too.
  assert.throws(() => ob.push(batchBytes(6, 40), meta(6)), { code: 'E_FULL' } as object);
  assert.deepEqual(ob.peek(20), before);
  ob.ack(before[0].id);
  ob.ack(before[1].id);
  assert.throws(() => ob.push(batchBytes(6, 40), meta(6)), { code: 'E_FULL' } as object, 'the segment is still in use');
  for (const e of before.slice(2)) ob.ack(e.id);
  // All acked: the full head may now be replaced.
  const id = ob.push(batchBytes(6, 40), meta(6));
  assert.deepEqual(ob.peek(5).map((e) => e.id), [id]);
});

test('compaction: mostly-acked segments are moved into the head instead of dropping', () => {
  const fs = flash();
  const ob = new Outbox(fs, { ...SMALL, maxEntries: 30 });
  const ids = [];
  for (let i = 0; i < 12; i++) ids.push(ob.push(batchBytes(i, 40), meta(i)));
  for (let k = 7; k < 12; k++) ob.ack(ids[k]);
  for (let k = 2; k < 6; k++) ob.ack(ids[k]);
  for (let i = 12; i < 22; i++) ob.push(batchBytes(i, 40), meta(i));
  const st = ob.stats();
  assert.ok(st.compactions >= 1);
  assert.equal(st.dropped, 0, 'no drop was needed');
  assert.deepEqual(ob.peek(3).map((e) => e.seq), [0, 1, 6]);
  const again = new Outbox(fs, { ...SMALL, maxEntries: 30 });
  assert.deepEqual(again.peek(30), ob.peek(30));
});

/** Hand-built segment file with the given entries; returns the entry offsets. */
function writeSegment(fs: FlashStorage, no: number, slots: number, entries: { id: number; seq: number; bytes: Uint8Array }[]): number[] {
  const h = new Uint8Array(11);
  h[0] = 1;
  putU32(h, 1, no);
  putU32(h, 5, entries.length ? entries[0].id : 1);
  putU16(h, 9, slots);
  fs.write('ob' + no, frame(SEG_TAG, h), 0, 512);
  let off = alignUp(SEG_MAP_OFF + slots);
  const offs: number[] = [];
  for (const e of entries) {
    const p = new Uint8Array(ENTRY_META + e.bytes.length);
    putU32(p, 0, e.id);
    putU32(p, 4, 1);
    putU32(p, 8, e.seq);
    putF64(p, 12, 0);
    p.set(e.bytes, ENTRY_META);
    const f = frame(ENTRY_TAG, p);
    fs.write('ob' + no, f, off);
    offs.push(off);
    off += alignUp(f.length);
  }
  return offs;
}

test('recovery: two copies of a batch (cut during compaction) count once; an ack on either holds for both', () => {
  const fs = flash();
  const A = { id: 1, seq: 10, bytes: fromHex('aa') };
  const B = { id: 2, seq: 11, bytes: fromHex('bb') };
  writeSegment(fs, 1, 6, [A, B]);
  writeSegment(fs, 2, 6, [A]);
  let ob = new Outbox(fs, SMALL);
  assert.deepEqual(ob.peek(9).map((e) => e.id), [1, 2]);
  ob.ack(1);
  assert.equal(fs.read('ob2')![SEG_MAP_OFF], 0x00, 'the ack went to the newer copy');
  // Reboot: the older copy is not acked on flash yet; recovery makes the ack hold there too,
  // so erasing the newer segment first can never bring the batch back.
  ob = new Outbox(fs, SMALL);
  assert.deepEqual(ob.peek(9).map((e) => e.id), [2]);
  assert.equal(fs.read('ob1')![SEG_MAP_OFF], 0x00);
  fs.erase('ob2');
  assert.deepEqual(new Outbox(fs, SMALL).peek(9).map((e) => e.id), [2]);
});

test('recovery: torn segment header erased, foreign names under the prefix left alone, torn tail skipped and sealed', () => {
  const fs = flash();
  fs.write('ob7', fromHex('5e0b00'), 0, 512);
  fs.write('obsolete', fromHex('01'));
  fs.write('ob01', fromHex('01'));
  const offs = writeSegment(fs, 3, 6, [{ id: 5, seq: 1, bytes: fromHex('0102') }]);
  // A torn second entry after the first.
  const torn = frame(ENTRY_TAG, new Uint8Array(ENTRY_META + 4).fill(7)).subarray(0, 12);
  fs.write('ob3', torn, offs[0] + frameSpan(ENTRY_META + 2));
  const ob = new Outbox(fs, SMALL);
  const st = ob.stats();
  assert.equal(st.invalidAtBoot, 1);
  assert.equal(st.sealedAtBoot, 1);
  assert.equal(fs.read('ob7'), undefined);
  assert.ok(fs.read('obsolete') && fs.read('ob01'));
  assert.deepEqual(ob.peek(9).map((e) => [e.id, toHex(e.bytes)]), [[5, '0102']]);
  const id = ob.push(fromHex('03'), meta(2));
  assert.equal(id, 6);
  assert.ok(fs.read('ob4'), 'a sealed head is not appended to: the next batch starts a new segment');
});

test('a batch damaged on flash is never returned: peek throws E_CORRUPT naming it, ack discards it', () => {
  const fs = new FlashStorage({ capacity: 64 * 1024, strict: false });
  const ob = new Outbox(fs, SMALL);
  const a = ob.push(fromHex('ffff'), meta(1));
  ob.push(fromHex('03'), meta(2));
  // Clear a bit in the first batch's payload (raw flash can do that).
  fs.write('ob1', fromHex('7f'), alignUp(SEG_MAP_OFF + 6) + 3 + ENTRY_META);
  assert.throws(() => ob.peek(1), { code: 'E_CORRUPT', message: /batch 1 no longer reads back intact/ } as object);
  assert.equal(ob.ack(a), true);
  assert.deepEqual(ob.peek(5).map((e) => e.seq), [2]);
});

test('file-backed flash: the outbox reopens from the directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
  try {
    const ob = new Outbox(new FlashStorage({ dir, capacity: 64 * 1024 }), SMALL);
    for (let i = 0; i < 8; i++) ob.push(batchBytes(i, 30), meta(i));
    ob.ack(2);
    const again = new Outbox(new FlashStorage({ dir, capacity: 64 * 1024 }), SMALL);
    assert.deepEqual(again.peek(20), ob.peek(20));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('flash wear: 10,000 batches of 200 bytes on a simulated ESP32 (defaults)', (t) => {
  const run = (label: string, perRound: number) => {
    const fs = new FlashStorage();
    const c = new Counters(fs, { totals: 1 }, 0);
    const ob = new Outbox(fs);
    let now = 0;
    let pushed = 0;
    const data = batchBytes(1, 200);
    while (pushed < 10_000) {
      for (let i = 0; i < perRound; i++, pushed++) {
        now += 60_000;
        c.add(0, 12, now);
        ob.push(data, { boot: c.boot(), seq: c.nextSeq(), t: now });
      }
      for (const e of ob.peek(1000)) ob.ack(e.id);
    }
    const s = fs.stats();
    const o = ob.stats();
    const direct = (s.bytesWritten - s.compactedBytes) / pushed;
    t.diagnostic(
      label + ': ' + (s.bytesWritten / pushed).toFixed(1) + ' bytes written per batch of 200 (' + direct.toFixed(1) +
        ' by our writes, ' + (s.compactedBytes / pushed).toFixed(1) + ' by Espruino compactions); ' + s.compactions +
        ' compactions = ' + (s.pageErases / 224).toFixed(2) + ' erase cycles per page; dropped ' + o.dropped +
        '; counter records ' + c.stats().writes,
    );
    return { s, o, pushed, direct, counters: c.stats().writes };
  };
  const online = run('online (ack after each batch)', 1);
  const frameBytes = 7 + ENTRY_META + 200;
  const perSeg = Math.floor((OUTBOX_DEFAULTS.segmentBytes - alignUp(SEG_MAP_OFF + 64)) / alignUp(frameBytes));
  // Per batch: its frame, one ack byte, a share of a segment creation (file header + header
  // frame), and the counters' records (29 bytes each, see the counters layout), plus their
  // file rotations (32-byte header each 1024 / 32 records).
  const counterBytes = (online.counters * 29 * (1 + 1 / 32)) / online.pushed;
  const expected = frameBytes + 1 + (FILE_HEADER + 18) / perSeg + counterBytes;
  assert.ok(Math.abs(online.direct - expected) < 1, online.direct + ' bytes per batch, expected ' + expected.toFixed(1));
  assert.equal(online.o.dropped, 0);
  assert.ok(online.counters <= 10_000 / 64 + 10_000 / 8 + 2, 'totals at most every 100 units (8+ batches), reservations every 64');
  assert.ok(online.s.compactions >= 1 && online.s.compactions <= 3);
  // During an outage every drop costs one meta record (40 bytes) on top.
  const outage = run('outage (1000 batches offline, then all acked)', 1000);
  assert.equal(outage.o.dropped, 10 * (1000 - OUTBOX_DEFAULTS.maxEntries));
  const extra = outage.direct - online.direct;
  const perDrop = frameSpan(4 + 29);
  assert.ok(extra <= (outage.o.dropped * perDrop * (1 + 1 / 25)) / outage.pushed + 1, 'extra ' + extra.toFixed(1) + ' bytes per batch');
});
