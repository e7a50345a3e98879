// flash-log.ts: CRC-32, frames, scanning, StateLog. Frames are checked against an independent
// Python encoder (test/vectors/storage/frames.json), CRC-32 against the catalogue check value
// and Node's zlib.crc32; every torn prefix and every bit flip of a frame must be rejected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { crc32 as zcrc } from 'node:zlib';
import {
  crc32, crc32Portable, installCrc32, frame, checkFrame, scanFrames, frameSpan, StateLog, readRange, putF64, getF64, putU32, getU32,
  SCAN_BAD, SCAN_END, FRAME_MAX_PAYLOAD,
} from '../../firmware/core/session/flash-log.js';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import type { Storage } from '../../firmware/core/host.js';
import { fromHex, toHex } from '../../firmware/core/util/bytes.js';

const CRC = JSON.parse(readFileSync(new URL('../vectors/storage/crc32.json', import.meta.url), 'utf8'));
const FRAMES = JSON.parse(readFileSync(new URL('../vectors/storage/frames.json', import.meta.url), 'utf8'));

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

test('crc32: catalogue and published vectors', () => {
  assert.ok(CRC.valid.length >= 5);
  for (const v of CRC.valid) assert.equal(crc32(fromHex(v.hex)).toString(16).padStart(8, '0'), v.crc32, v.description);
});

test('crc32: agrees with zlib.crc32 on random data and sub-ranges', () => {
  const r = seeded(7);
  for (let n = 0; n < 300; n += 7) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
    assert.equal(crc32(b), zcrc(b), 'length ' + n);
    const s = Math.floor(n / 3);
    const e = n - Math.floor(n / 5);
    assert.equal(crc32(b, s, e), zcrc(b.subarray(s, e)), 'range ' + s + '..' + e);
  }
});

test('installCrc32: a correct native slot is used; a wrong one is refused and changes nothing', () => {
  let calls = 0;
  const good = (b: Uint8Array) => {
    calls++;
    return zcrc(b);
  };
  try {
    installCrc32(good);
    const b = fromHex('00112233445566');
    calls = 0;
    assert.equal(crc32(b, 1, 5), crc32Portable(b, 1, 5));
    assert.equal(calls, 1);
    installCrc32(undefined);
    const bad: [string, (b: Uint8Array) => number][] = [
      ['ignores the view offset', (b) => zcrc(new Uint8Array(b.buffer, 0, b.length))],
      ['returns a signed int', (b) => zcrc(b) | 0],
      ['returns a string', (b) => String(zcrc(b)) as unknown as number],
      ['another CRC (CRC-32C style init)', (b) => zcrc(b, 1)],
    ];
    for (const [why, fn] of bad) {
      if (why === 'returns a signed int') {
        // Signed results are accepted: crc32() normalises with >>> 0.
        installCrc32(fn);
        assert.equal(crc32(fromHex('ffffffff')), zcrc(fromHex('ffffffff')));
        installCrc32(undefined);
        continue;
      }
      assert.throws(() => installCrc32(fn), { code: 'E_CRC32_SLOT' } as object, why);
      calls = 0;
      crc32(fromHex('01'));
      assert.equal(calls, 0);
    }
    assert.throws(() => installCrc32(5 as unknown as (b: Uint8Array) => number), { name: 'TypeError' });
  } finally {
    installCrc32(undefined);
  }
});

test('frame: matches the independent encoder; span is padded to 4', () => {
  for (const v of FRAMES.valid) {
    const f = frame(v.tag, fromHex(v.payload));
    assert.equal(toHex(f), v.frame, v.description);
    assert.equal(frameSpan(fromHex(v.payload).length), v.span);
    const buf = new Uint8Array(v.span + 8).fill(0xff);
    buf.set(f, 0);
    assert.equal(checkFrame(buf, 0, buf.length), v.span);
  }
});

test('frame: every torn prefix and every single-bit flip is rejected', () => {
  const f = frame(0xe1, fromHex('0102030405060708090a0b0c0d0e0f10111213'));
  const span = frameSpan(f.length - 7);
  for (let k = 0; k < f.length; k++) {
    const buf = new Uint8Array(span + 16).fill(0xff);
    buf.set(f.subarray(0, k), 0);
    assert.equal(checkFrame(buf, 0, buf.length), k === 0 ? SCAN_END : SCAN_BAD, 'prefix ' + k);
  }
  for (let bit = 0; bit < f.length * 8; bit++) {
    const buf = new Uint8Array(span).fill(0xff);
    buf.set(f, 0);
    buf[bit >> 3] ^= 1 << (bit & 7);
    // A flipped tag that becomes 0xFF reads as the end of the log, which is just as safe.
    const r = checkFrame(buf, 0, buf.length);
    assert.ok(r === SCAN_BAD || (bit < 8 && buf[0] === 0xff && r === SCAN_END), 'bit ' + bit);
  }
});

test('frame: bad tag or oversize payload is a clear error', () => {
  assert.throws(() => frame(0xff, new Uint8Array(1)), { name: 'RangeError', message: /"tag" expected 0..254, got 255/ });
  assert.throws(() => frame(-1, new Uint8Array(1)), RangeError);
  assert.throws(() => frame(1, new Uint8Array(FRAME_MAX_PAYLOAD + 1)), { name: 'RangeError', message: /at most 65534 bytes, got 65535/ });
  assert.equal(frame(1, new Uint8Array(FRAME_MAX_PAYLOAD)).length, FRAME_MAX_PAYLOAD + 7);
});

test('scanFrames: valid run, torn tail seals, clean end with stray bytes seals', () => {
  const a = frame(1, fromHex('aa'));
  const b = frame(2, fromHex('bbbb'));
  const buf = new Uint8Array(64).fill(0xff);
  buf.set(a, 0);
  buf.set(b, frameSpan(1));
  const seen: number[] = [];
  let r = scanFrames(buf, 0, buf.length, (tag) => seen.push(tag));
  assert.deepEqual(seen, [1, 2]);
  assert.deepEqual(r, { next: frameSpan(1) + frameSpan(2), sealed: false, count: 2 });
  // Torn third frame: sealed, next stays after the last valid one.
  const c = frame(3, fromHex('cccccc'));
  buf.set(c.subarray(0, 5), r.next);
  r = scanFrames(buf, 0, buf.length, () => {});
  assert.deepEqual(r, { next: frameSpan(1) + frameSpan(2), sealed: true, count: 2 });
  // Erased tag but a programmed byte further on: not a clean end.
  const d = new Uint8Array(32).fill(0xff);
  d.set(a, 0);
  d[20] = 0;
  assert.equal(scanFrames(d, 0, d.length, () => {}).sealed, true);
});

test('field helpers: u32 extremes and f64 round trip', () => {
  const b = new Uint8Array(8);
  for (const v of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) {
    putU32(b, 2, v);
    assert.equal(getU32(b, 2), v);
  }
  for (const v of [0, -0.5, 1700000000000.5, Number.MAX_VALUE, 2 ** 53]) {
    putF64(b, 0, v);
    assert.equal(getF64(b, 0), v);
  }
});

test('StateLog: newest state wins, files rotate, each rotation replaces the older file', () => {
  const fs = new FlashStorage({ capacity: 8192 });
  const log = new StateLog(fs, 'sl', 64, 0x42);
  assert.equal(log.load(), undefined);
  // A record is 7 + 4 + 8 = 19 -> 20 bytes: 3 per 64-byte file.
  for (let i = 1; i <= 10; i++) {
    const s = new Uint8Array(8);
    putU32(s, 0, i);
    log.save(s);
    const again = new StateLog(fs, 'sl', 64, 0x42);
    assert.equal(getU32(again.load()!, 0), i, 'after save ' + i);
  }
  assert.deepEqual(fs.list('sl').sort(), ['sl0', 'sl1']);
  assert.equal(log.stats().rotations, 4);
  assert.equal(log.stats().rc, 10);
  assert.throws(() => log.save(new Uint8Array(64 - 7 - 4 + 1)), { name: 'RangeError', message: /"state" expected at most 53 bytes, got 54/ });
});

test('StateLog: a file of another size is not appended to (rotates instead)', () => {
  const fs = new FlashStorage({ capacity: 8192 });
  const s = new Uint8Array(4);
  new StateLog(fs, 'sl', 128, 1).save(s);
  const log = new StateLog(fs, 'sl', 64, 1);
  assert.ok(log.load());
  log.save(s);
  assert.equal(log.stats().active, 'sl1');
  assert.equal(fs.read('sl1')!.length, 64);
});

test('readRange: honours a range-aware read and falls back for one that ignores the range', () => {
  const fs = new FlashStorage({ capacity: 8192 });
  fs.write('f', fromHex('00112233445566778899'));
  assert.equal(toHex(readRange(fs, 'f', 3, 4)!), '33445566');
  const plain: Storage = {
    read: (n: string) => fs.read(n),
    write: () => {},
    erase: () => {},
    list: () => [],
    getFree: () => 0,
  };
  assert.equal(toHex(readRange(plain, 'f', 3, 4)!), '33445566');
  assert.equal(toHex(readRange(plain, 'f', 0, 10)!), '00112233445566778899');
  assert.equal(readRange(plain, 'nope', 0, 1), undefined);
});
