// Counters: boot counter, block-reserved sequence numbers, rate-bounded monotonic totals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import {
  Counters, COUNTERS_DEFAULTS, countersConfig, encodeCountersState, decodeCountersState, COUNTERS_TAG,
} from '../../firmware/core/session/counters.js';
import { StateLog, frameSpan } from '../../firmware/core/session/flash-log.js';
import { toHex } from '../../firmware/core/util/bytes.js';

const FRAMES = JSON.parse(readFileSync(new URL('../vectors/storage/frames.json', import.meta.url), 'utf8'));

function flash(): FlashStorage {
  return new FlashStorage({ capacity: 64 * 1024 });
}

test('first boot: boot 1, numbering from 0, one record, laid out as the published frame', () => {
  const fs = flash();
  const c = new Counters(fs, undefined, 0);
  assert.equal(c.boot(), 1);
  assert.equal(c.nextSeq(), 0);
  assert.equal(c.nextSeq(), 1);
  assert.equal(c.stats().fresh, true);
  assert.equal(fs.stats().writeCalls, 1);
  const v = FRAMES.valid.find((x: { where?: { file: string } }) => x.where?.file === 'ctr0');
  assert.equal(toHex(fs.read('ctr0')!.subarray(0, v.frame.length / 2)), v.frame);
  assert.equal(fs.read('ctr0')!.length, COUNTERS_DEFAULTS.fileBytes);
});

test('sequence numbers: one flash record per seqBlock; a reboot skips the rest of the block', () => {
  const fs = flash();
  let c = new Counters(fs, { seqBlock: 64 }, 0);
  for (let i = 0; i < 1000; i++) assert.equal(c.nextSeq(), i);
  // 1 boot record + reservations at 64, 128, ..., 960: 15 more.
  assert.equal(c.stats().writes, 1 + Math.floor(999 / 64));
  const end = c.stats().seqEnd;
  assert.equal(end, 1024);
  c = new Counters(fs, { seqBlock: 64 }, 0);
  assert.equal(c.boot(), 2);
  assert.equal(c.nextSeq(), 1024, 'continues at the reservation end; gap 1000..1023 explained by boot 2');
});

test('sequence numbers: strictly increasing over 30 reboots with random use; each boot wastes < one block', () => {
  const fs = flash();
  let last = -1;
  let x = 12345;
  let bootsSinceUse = 1;
  for (let b = 1; b <= 30; b++) {
    const c = new Counters(fs, { seqBlock: 16 }, 0);
    assert.equal(c.boot(), b);
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const uses = x % 50;
    for (let i = 0; i < uses; i++) {
      const s = c.nextSeq();
      assert.ok(s > last);
      // Each boot reserves a block when it starts; what it leaves unused is skipped.
      if (i === 0) assert.ok(s - last - 1 < 16 * bootsSinceUse, 'gap ' + (s - last - 1) + ' after ' + bootsSinceUse + ' boot(s)');
      else assert.equal(s, last + 1);
      last = s;
    }
    bootsSinceUse = uses > 0 ? 1 : bootsSinceUse + 1;
  }
});

test('totals: at most one write per totalsMinIntervalMs; lag bounded by delta and by totalsMaxIntervalMs', () => {
  const fs = flash();
  const cfg = { totalsMinIntervalMs: 60_000, totalsMaxIntervalMs: 900_000, totalsDelta: 100, totals: 2 };
  const c = new Counters(fs, cfg, 0);
  const w0 = c.stats().writes;
  let lastWrite = 0;
  let writes = 0;
  // Fast counting: 5 units per second for an hour on total 0.
  for (let t = 1000; t <= 3_600_000; t += 1000) {
    const before = c.stats().writes;
    c.add(0, 5, t);
    if (c.stats().writes > before) {
      assert.ok(t - lastWrite >= 60_000, 'write at ' + t + ' only ' + (t - lastWrite) + ' ms after the last');
      lastWrite = t;
      writes++;
    }
    // Lag: never more than delta plus what is counted within the minimum interval.
    assert.ok(c.stats().lag[0] <= 100 + 5 * 60, 'lag ' + c.stats().lag[0] + ' at ' + t);
  }
  assert.equal(c.stats().writes - w0, writes);
  assert.ok(writes <= 60 && writes >= 59, 'one write per minute: ' + writes);
  // Slow counting on total 1: 1 unit per minute never reaches delta; time bound writes it.
  const c2 = new Counters(flash(), cfg, 0);
  let t = 0;
  let maxLagMs = 0;
  let since = 0;
  for (let i = 0; i < 120; i++) {
    t += 60_000;
    const before = c2.stats().writes;
    c2.add(1, 1, t);
    if (c2.stats().writes > before) since = t;
    maxLagMs = Math.max(maxLagMs, t - since);
    assert.ok(c2.persisted(1) >= c2.total(1) - 15, 'at most 15 minutes of counting unpersisted');
  }
  assert.ok(maxLagMs < 900_000);
});

test('totals: tick() writes on the time bound without new counts; flush() writes at once; restore after reboot', () => {
  const fs = flash();
  const cfg = { totalsMinIntervalMs: 1000, totalsMaxIntervalMs: 10_000, totalsDelta: 1e9 };
  const c = new Counters(fs, cfg, 0);
  c.add(0, 2.5, 100);
  assert.equal(c.persisted(0), 0);
  assert.equal(c.tick(5000), false);
  assert.equal(c.tick(10_000), true);
  assert.equal(c.persisted(0), 2.5);
  assert.equal(c.tick(30_000), false, 'nothing changed');
  c.add(0, 0.25, 30_001);
  assert.equal(c.persisted(0), 2.75, 'the first add after a long quiet spell writes at once (time bound)');
  c.add(0, 0.5, 30_002);
  assert.equal(c.persisted(0), 2.75);
  assert.equal(c.flush(30_003), true);
  assert.equal(c.persisted(0), 3.25);
  assert.equal(c.flush(30_004), false);
  c.add(0, 1, 30_005);
  const again = new Counters(fs, cfg, 0);
  assert.equal(again.total(0), 3.25, 'the unflushed 1 is lost, as documented; never below the persisted value');
  assert.equal(again.persisted(0), 3.25);
});

test('totals: a config that adds a total keeps the old ones and starts the new one at 0', () => {
  const fs = flash();
  const c = new Counters(fs, { totals: 1 }, 0);
  c.add(0, 7, 1);
  c.flush(2);
  const d = new Counters(fs, { totals: 3 }, 0);
  assert.deepEqual([d.total(0), d.total(1), d.total(2)], [7, 0, 0]);
});

test('bad input: clear errors, nothing changes', () => {
  const fs = flash();
  const c = new Counters(fs, { totals: 2 }, 0);
  c.add(1, 3, 10);
  const before = JSON.stringify([c.stats(), fs.snapshot()]);
  const bad: [() => unknown, RegExp][] = [
    [() => c.add(0, -1, 10), /"delta" expected a finite number >= 0, got -1/],
    [() => c.add(0, NaN, 10), /"delta" expected a finite number >= 0, got NaN/],
    [() => c.add(0, Infinity, 10), /"delta"/],
    [() => c.add(0, '1' as unknown as number, 10), /"delta" expected a finite number >= 0, got string/],
    [() => c.add(2, 1, 10), /"index" expected 0..1, got 2/],
    [() => c.add(0.5, 1, 10), /"index" expected an integer, got 0.5/],
    [() => c.add(0, 1, -5), /"now"/],
    [() => c.total(-1), /"index"/],
    [() => c.tick(NaN), /"now"/],
  ];
  for (const [f, re] of bad) assert.throws(f, re);
  assert.equal(JSON.stringify([c.stats(), fs.snapshot()]), before);
});

test('config bounds: each field named, at and beyond its limit', () => {
  const ok = countersConfig({ file: 'x'.repeat(27), totals: 16, seqBlock: 1 });
  assert.equal(ok.totals, 16);
  const cases: [object, RegExp][] = [
    [{ file: 'x'.repeat(28) }, /"file" expected a Storage file name of 1..28 chars/],
    [{ file: 3 }, /"file" expected a string, got number/],
    [{ totals: 17 }, /"totals" expected 0..16, got 17/],
    [{ seqBlock: 0 }, /"seqBlock" expected 1..65536, got 0/],
    [{ fileBytes: 2 * frameSpan(4 + 10 + 8) - 1 }, /"fileBytes" expected 64..65535, got 63/],
    [{ totalsMinIntervalMs: 10, totalsMaxIntervalMs: 5 }, /"totalsMaxIntervalMs" expected a finite number >= 10, got 5/],
    [{ totalsDelta: -1 }, /"totalsDelta"/],
  ];
  for (const [cfg, re] of cases) assert.throws(() => countersConfig(cfg), re);
  assert.throws(() => new Counters(flash(), { seqBlock: 0 }, 0), /seqBlock/);
  assert.equal(flash().list().length, 0);
});

test('a failing write (flash full) hands out no number and claims nothing persisted', () => {
  // Room for the two counter files and little else: a rotation then fails with E_FULL.
  const fs = new FlashStorage({ capacity: 2 * (32 + 64) + 40 });
  const c = new Counters(fs, { fileBytes: 64, seqBlock: 2, totalsDelta: 0, totalsMinIntervalMs: 0 }, 0);
  assert.equal(c.nextSeq(), 0);
  assert.equal(c.nextSeq(), 1);
  // Fill the rest of the area so the next rotation (a new file) cannot be placed.
  fs.write('hog', new Uint8Array(fs.getFree() - 32));
  let got: number[] = [];
  let failed: unknown;
  try {
    for (let i = 0; i < 10; i++) got.push(c.nextSeq());
  } catch (e) {
    failed = e;
  }
  assert.ok(failed && (failed as { code: string }).code === 'E_FULL', 'expected E_FULL, got ' + String(failed));
  const p = c.persisted(0);
  assert.throws(() => c.add(0, 5, 1), { code: 'E_FULL' } as object);
  assert.equal(c.persisted(0), p, 'a failed write must not count as persisted');
  assert.equal(c.total(0), 5);
  fs.erase('hog');
  fs.compact();
  const s = c.nextSeq();
  assert.equal(s, got[got.length - 1] + 1, 'numbering resumes where it stopped, nothing skipped or reused');
  const after = new Counters(fs, { fileBytes: 64, seqBlock: 2 }, 0);
  assert.ok(after.nextSeq() > s);
  got = [];
});

test('exhausted u32 sequence space and boot counter are errors, not wrap-arounds', () => {
  const fs = flash();
  const log = new StateLog(fs, 'ctr', COUNTERS_DEFAULTS.fileBytes, COUNTERS_TAG);
  log.save(encodeCountersState({ boot: 7, seqEnd: 0xffffffff - 10, totals: new Float64Array(1) }));
  assert.throws(() => new Counters(fs, undefined, 0), { code: 'E_EXHAUSTED', message: /sequence numbers exhausted/ } as object);
  log.save(encodeCountersState({ boot: 0xffffffff, seqEnd: 0, totals: new Float64Array(1) }));
  assert.throws(() => new Counters(fs, undefined, 0), { code: 'E_EXHAUSTED', message: /boot counter exhausted/ } as object);
});

test('state encoding round-trips; malformed records decode to undefined', () => {
  const st = { boot: 3, seqEnd: 192, totals: new Float64Array([12.5, 7]) };
  assert.deepEqual(decodeCountersState(encodeCountersState(st)), st);
  const b = encodeCountersState(st);
  assert.equal(decodeCountersState(b.subarray(0, b.length - 1)), undefined);
  const v = b.slice();
  v[0] = 9;
  assert.equal(decodeCountersState(v), undefined);
});
