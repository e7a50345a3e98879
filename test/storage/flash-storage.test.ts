// The simulated flash follows Espruino's Storage rules (src/jsflash.c jsfWriteFile), counts
// wear, tears writes on request, and mirrors itself crash-consistently into a directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashStorage, isPowerCut, ESP32_STORAGE_BYTES, FILE_HEADER } from '../../agent-sim/platform/flash-storage.js';
import { utf8Encode, fromHex, toHex } from '../../firmware/core/util/bytes.js';

const s = utf8Encode;
const hex = (b: Uint8Array | undefined) => (b ? toHex(b) : 'none');
function ff(n: number): string {
  return 'ff'.repeat(n);
}

test('ESP32 defaults: 896 KB, strict', () => {
  const fs = new FlashStorage();
  assert.equal(ESP32_STORAGE_BYTES, 917504);
  assert.equal(fs.getFree(), 917504);
  assert.equal(fs.strict, true);
});

test("names: 1..28 chars, anything longer is a clear error (the device would truncate it)", () => {
  const fs = new FlashStorage({ capacity: 4096 });
  fs.write('x'.repeat(28), s('a'));
  assert.equal(hex(fs.read('x'.repeat(28))), '61');
  for (const op of [() => fs.write('x'.repeat(29), s('a')), () => fs.read('y'.repeat(29)), () => fs.erase('z'.repeat(29)), () => fs.write('', s('a'))])
    assert.throws(op, { name: 'RangeError', code: 'E_NAME', message: /"name" expected 1..28 chars/ } as object);
  assert.throws(() => fs.write(5 as unknown as string, s('a')), { name: 'TypeError', code: 'E_TYPE' } as object);
  assert.deepEqual(fs.list(), ['x'.repeat(28)]);
});

test("Espruino's documented example (jswrap_storage.c write): preallocate, fill, rewrite at 0", () => {
  const fs = new FlashStorage({ capacity: 4096 });
  fs.write('a', s('Hello'), 0, 14);
  assert.equal(hex(fs.read('a')), toHex(s('Hello')) + ff(9));
  fs.write('a', s(' '), 5);
  fs.write('a', s('World!!!'), 6);
  assert.equal(hex(fs.read('a')), toHex(s('Hello World!!!')));
  fs.write('a', s(' '), 0);
  assert.equal(hex(fs.read('a')), '20');
});

test('read(name, offset, length) as jsfReadFile: clipped, length <= 0 reads to the end, copies', () => {
  const fs = new FlashStorage({ capacity: 4096 });
  fs.write('r', fromHex('0011223344'));
  assert.equal(hex(fs.read('r', 1, 2)), '1122');
  assert.equal(hex(fs.read('r', 3, 0)), '3344');
  assert.equal(hex(fs.read('r', 3, 99)), '3344');
  assert.equal(hex(fs.read('r', 9, 1)), '');
  assert.equal(fs.read('none', 0, 1), undefined);
  const r = fs.read('r')!;
  r[0] = 0x99;
  assert.equal(hex(fs.read('r')), '0011223344', 'callers cannot change flash through a read');
});

test('offset writes: only into erased bytes (strict, like the device), AND semantics otherwise', () => {
  const fs = new FlashStorage({ capacity: 4096 });
  fs.write('f', fromHex('f0'), 0, 4);
  fs.write('f', fromHex('aa'), 1);
  const snap = fs.snapshot();
  // The device refuses any byte that is not 0xFF, even one that would need no bit set.
  assert.throws(() => fs.write('f', fromHex('55'), 1), { code: 'E_NOT_ERASED', message: /bytes 1..1 are not erased/ } as object);
  assert.throws(() => fs.write('f', fromHex('aa00'), 1), { code: 'E_NOT_ERASED' } as object);
  assert.deepEqual(fs.snapshot(), snap);
  assert.equal(hex(fs.read('f')), 'f0aaffff');
  const loose = new FlashStorage({ capacity: 4096, strict: false });
  loose.write('f', fromHex('f0'), 0, 4);
  loose.write('f', fromHex('0f'), 1);
  loose.write('f', fromHex('3c'), 1);
  assert.equal(hex(loose.read('f')), 'f00cffff', 'flash can only clear bits: 0x0f AND 0x3c');
  assert.equal(loose.stats().notErased, 1);
});

test('create/replace rules: identical rewrite is free, same-size erased file is reused, trash is counted', () => {
  const fs = new FlashStorage({ capacity: 4096 });
  fs.write('a', s('abcd'));
  const w0 = fs.stats();
  assert.equal(w0.used, FILE_HEADER + 4);
  assert.equal(w0.bytesWritten, FILE_HEADER + 4);
  fs.write('a', s('abcd'));
  assert.equal(fs.stats().writeCalls, w0.writeCalls, 'identical rewrite writes nothing');
  fs.write('a', s('abce'));
  const w1 = fs.stats();
  assert.equal(w1.garbage, FILE_HEADER + 4);
  assert.equal(w1.fileErases, 1);
  assert.equal(fs.getFree(), 4096 - 2 * (FILE_HEADER + 4));
  // A same-size file that is still all 0xFF is written in place.
  fs.write('p', new Uint8Array(0), 0, 10);
  fs.write('p', s('x'), 0, 10);
  assert.equal(fs.stats().garbage, w1.garbage);
  assert.equal(hex(fs.read('p')), '78' + ff(9));
  // Sizes round up to 4 bytes plus the 32-byte header.
  assert.equal(fs.stats().used, 2 * FILE_HEADER + 4 + 12);
});

test('bad calls throw and change nothing', () => {
  const fs = new FlashStorage({ capacity: 4096 });
  fs.write('a', s('abcd'), 0, 8);
  const snap = fs.snapshot();
  const st = fs.stats();
  const cases: [() => void, string][] = [
    [() => fs.write('nope', s('x'), 3), 'E_NOFILE'],
    [() => fs.write('a', s('xyz'), 6), 'E_BOUNDS'],
    [() => fs.write('a', s('0123456789'), 0, 8), 'E_BOUNDS'],
    [() => fs.write('z', new Uint8Array(0)), 'E_EMPTY'],
    [() => fs.write('a', 'text' as unknown as Uint8Array), 'E_TYPE'],
    [() => fs.write('a', s('x'), -1), 'E_RANGE'],
    [() => fs.write('a', s('x'), 1.5), 'E_RANGE'],
    [() => fs.write('a', s('x'), 0, 0x1000000), 'E_RANGE'],
    [() => fs.write('big', new Uint8Array(4096)), 'E_FULL'],
  ];
  for (const [f, code] of cases) assert.throws(f, (e: Error & { code?: string }) => e.code === code && e.message.length > 10, code);
  assert.deepEqual(fs.snapshot(), snap);
  assert.deepEqual(fs.stats(), st);
});

test('capacity: trash is reclaimed by compaction, automatically when a new file needs it', () => {
  const fs = new FlashStorage({ capacity: 4096, pageBytes: 512 });
  // 10 replacements of a 300-byte file: 10 * 332 > 4096, so the device compacts on its own.
  for (let i = 0; i < 20; i++) fs.write('log', new Uint8Array(300).fill(i));
  const st = fs.stats();
  assert.ok(st.compactions >= 1);
  assert.equal(st.used, FILE_HEADER + 300);
  assert.ok(st.pageErases >= st.compactions * Math.ceil((4096 - 332) / 512));
  assert.equal(fs.read('log')![0], 19);
  fs.compact();
  assert.equal(fs.getFree(), 4096 - 332);
  assert.equal(fs.stats().garbage, 0);
  // Live data alone larger than the area: E_FULL, not a compaction loop.
  assert.throws(() => fs.write('other', new Uint8Array(4096 - 332 - FILE_HEADER + 4)), { code: 'E_FULL' } as object);
});

test('list(prefix) in flash order; erase trashes; erase of a missing file is a no-op', () => {
  const fs = new FlashStorage({ capacity: 4096 });
  fs.write('b1', s('1'));
  fs.write('a1', s('1'));
  fs.write('b2', s('1'));
  fs.write('b1', s('2'));
  assert.deepEqual(fs.list('b'), ['b2', 'b1']);
  assert.deepEqual(fs.list(), ['a1', 'b2', 'b1']);
  fs.erase('a1');
  fs.erase('a1');
  assert.deepEqual(fs.list(), ['b2', 'b1']);
  assert.equal(fs.stats().fileErases, 2);
});

test('power cut: offset write keeps a prefix, then every write and erase is refused until reboot()', () => {
  const fs = new FlashStorage({ capacity: 4096 });
  fs.write('f', new Uint8Array(0), 0, 8);
  fs.cutPowerAfter(2, { tornBytes: 3 });
  fs.write('f', fromHex('01'), 0 + 1);
  assert.throws(() => fs.write('f', fromHex('0203040506'), 2), (e) => isPowerCut(e));
  assert.ok(fs.poweredOff);
  assert.equal(hex(fs.read('f')), 'ff01020304ffffff');
  assert.throws(() => fs.write('g', s('x')), (e) => isPowerCut(e));
  assert.throws(() => fs.erase('f'), (e) => isPowerCut(e));
  assert.throws(() => fs.compact(), (e) => isPowerCut(e));
  fs.reboot();
  fs.write('f', fromHex('07'), 7);
  assert.equal(hex(fs.read('f')), 'ff01020304ffff07');
  assert.equal(fs.stats().powerCuts, 1);
});

test('power cut: the three outcomes of a torn replace, and of a torn erase', () => {
  const mk = () => {
    const fs = new FlashStorage({ capacity: 4096 });
    fs.write('f', s('old'));
    return fs;
  };
  const outcomes: Record<string, string> = {};
  for (const torn of [-2, -1, 0, 2, 99]) {
    const fs = mk();
    fs.cutPowerAfter(1, { tornBytes: torn });
    assert.throws(() => fs.write('f', s('new!'), 0, 6), (e) => isPowerCut(e));
    outcomes[torn] = hex(fs.read('f'));
  }
  assert.deepEqual(outcomes, {
    '-2': toHex(s('old')),
    '-1': 'none',
    '0': ff(6),
    '2': toHex(s('ne')) + ff(4),
    '99': toHex(s('new!')) + ff(2),
  });
  for (const [torn, left] of [
    [0, toHex(s('old'))],
    [1, 'none'],
  ] as const) {
    const fs = mk();
    fs.cutPowerAfter(1, { tornBytes: torn });
    assert.throws(() => fs.erase('f'), (e) => isPowerCut(e));
    assert.equal(hex(fs.read('f')), left);
  }
});

test('power cut: steps are counted per changing call; the PRNG is seeded', () => {
  const run = (seed: number) => {
    const fs = new FlashStorage({ capacity: 4096, seed });
    fs.write('f', new Uint8Array(0), 0, 64);
    fs.write('g', s('same'));
    fs.write('g', s('same'));
    assert.equal(fs.stats().steps, 2, 'an identical rewrite is not a step');
    fs.cutPowerAfter(2);
    fs.write('f', new Uint8Array(16).fill(0x11), 0 + 16);
    assert.throws(() => fs.write('f', new Uint8Array(32).fill(0x22), 32), (e) => isPowerCut(e));
    return hex(fs.read('f'));
  };
  assert.equal(run(5), run(5));
  const outs = new Set([1, 2, 3, 4, 5, 6, 7, 8].map(run));
  assert.ok(outs.size > 3, 'different seeds tear at different lengths');
});

test('file-backed: survives reopening (files, trash, order, wear), odd names, stray temp files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flash-'));
  try {
    const a = new FlashStorage({ dir, capacity: 8192 });
    a.write('seg/1.x', s('abc'), 0, 8);
    a.write('seg/1.x', s('d'), 3);
    a.write('ünï', s('u'));
    a.write('tmp', s('1'));
    a.write('tmp', s('2'));
    const files = readdirSync(dir).sort();
    assert.ok(files.includes('_flash.json'));
    assert.ok(!files.some((f) => f.endsWith('.tmp')));
    writeFileSync(join(dir, 'f_junk.tmp'), 'half a write');
    const b = new FlashStorage({ dir, capacity: 8192 });
    assert.deepEqual(b.snapshot(), a.snapshot());
    assert.deepEqual(b.list(), a.list());
    const sa = a.stats();
    const sb = b.stats();
    assert.deepEqual({ ...sb, steps: 0 }, { ...sa, steps: 0 });
    assert.equal(existsSync(join(dir, 'f_junk.tmp')), false);
    // A torn write is on disk exactly as in memory.
    b.cutPowerAfter(1, { tornBytes: 1 });
    assert.throws(() => b.write('seg/1.x', s('ef'), 4), (e) => isPowerCut(e));
    const c = new FlashStorage({ dir, capacity: 8192 });
    assert.equal(hex(c.read('seg/1.x')), toHex(s('abcde')) + ff(3));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
