// Senseair S8 (the worked example of docs/sources.md): vectors, the parser split at every byte
// and fed random chunks, round trips with the simulated sensor including its faults, fuzzing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { S8Parser, crc16Modbus, s8Request, S8_ANY_ADDRESS, type S8Frame } from '../../firmware/core/sources/s8/decoder.js';
import { s8Source, type S8Source } from '../../firmware/core/sources/s8/driver.js';
import { createSources, checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import type { SourceValue } from '../../firmware/core/sources/source.js';
import { createSimIO, SerialLink } from '../../agent-sim/io/index.js';
import { S8Sensor } from '../../agent-sim/peripherals/s8.js';
import { VirtualClock, virtualHost, rng } from './virtual-clock.js';
import { benchFrames, decodeOnce } from './s8-frames.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/s8.json', import.meta.url), 'utf8'));
const bytes = (h: string) => new Uint8Array(h.split(' ').map((x) => parseInt(x, 16)));

function parseAll(chunks: Uint8Array[]): S8Frame[] {
  const out: S8Frame[] = [];
  const p = new S8Parser(S8_ANY_ADDRESS, (f) => out.push(f));
  for (const c of chunks) p.push(c);
  return out;
}
function expected(v: { ppm?: number; exception?: number; rejected?: boolean }): S8Frame[] {
  if (v.rejected) return [];
  return [v.exception ? { ppm: -1, exception: v.exception } : { ppm: v.ppm!, exception: 0 }];
}

test('CRC-16/MODBUS check value and the TDE2067 request bytes', () => {
  assert.equal(crc16Modbus(bytes(V.crc16_modbus_check.in), 0, 9), V.crc16_modbus_check.crc);
  assert.deepEqual(s8Request(V.request.address), bytes(V.request.bytes));
});

test('vectors, whole and split at every byte', () => {
  for (const v of V.frames) {
    const b = bytes(v.bytes);
    assert.deepEqual(parseAll([b]), expected(v), v.description);
    for (let i = 1; i < b.length; i++) assert.deepEqual(parseAll([b.subarray(0, i), b.subarray(i)]), expected(v), v.description + ' split at ' + i);
  }
});

test('all vectors concatenated, with noise between, in random chunks: every valid frame found once', () => {
  const r = rng(11);
  for (let round = 0; round < 200; round++) {
    const parts: number[] = [];
    const want: S8Frame[] = [];
    for (let k = 0; k < 20; k++) {
      const v = V.frames[Math.floor(r() * V.frames.length)];
      // Noise that cannot complete a frame start (no 0xFE) between frames.
      const noise = Math.floor(r() * 4);
      for (let i = 0; i < noise; i++) parts.push(Math.floor(r() * 0xfe));
      parts.push(...bytes(v.bytes));
      want.push(...expected(v));
    }
    const all = new Uint8Array(parts);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < all.length; ) {
      const n = 1 + Math.floor(r() * 9);
      chunks.push(all.subarray(i, i + n));
      i += n;
    }
    assert.deepEqual(parseAll(chunks), want, 'round ' + round);
  }
});

test('fuzz: 20000 mutated frames never throw and never yield a value the CRC did not vouch for', () => {
  const r = rng(12);
  const good = bytes(V.frames[0].bytes);
  let caught = 0;
  for (let i = 0; i < 20000; i++) {
    const b = good.slice();
    const flips = 1 + Math.floor(r() * 3);
    for (let f = 0; f < flips; f++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
    const out = parseAll([b]);
    // Flips that hit one bit twice give back the original frame: the only frame allowed out.
    if (b.every((x, k) => x === good[k])) {
      assert.deepEqual(out, [{ ppm: 400, exception: 0 }]);
      continue;
    }
    assert.deepEqual(out, [], 'mutated ' + Array.from(b, (x) => x.toString(16)).join(' '));
    caught++;
  }
  assert.ok(caught > 19500, 'CRC-16/MODBUS (x+1 factor: every odd error; every 2-bit error) caught all: ' + caught);
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(Math.floor(r() * 40));
    for (let k = 0; k < b.length; k++) b[k] = r() < 0.2 ? 0xfe : Math.floor(r() * 256);
    parseAll([b]);
  }
});

test('benchFrames / decodeOnce', () => {
  assert.deepEqual(decodeOnce(benchFrames()[0].bytes), { ppm: 400, exception: 0 });
  assert.deepEqual(decodeOnce(benchFrames()[1].bytes), { ppm: -1, exception: 2 });
});

// ---------------------------------------------------------------------------------------------
// Round trips

function rig(cfg: Record<string, unknown> = {}, seed = 1) {
  const vc = new VirtualClock().install();
  const sim = createSimIO(vc.now);
  const link = new SerialLink('Serial2', { baud: 9600 }, { seed, latencyMs: 1, maxChunk: 3 });
  sim.serial.set('Serial2', link);
  const sensor = new S8Sensor({ link, now: vc.now, seed });
  const { host } = virtualHost(vc, sim.io);
  const [src] = createSources(host, [s8Source], [{ id: 'co2', type: 's8', port: 'Serial2', rx: 'D16', tx: 'D17', ...cfg }]);
  return { vc, sensor, src: src as S8Source, link };
}
function readWait(r: ReturnType<typeof rig>): { e?: Error & { code?: string }; v?: SourceValue[] } {
  let out: { e?: Error; v?: SourceValue[] } | undefined;
  r.src.read((e, v) => (out = { e, v }));
  r.vc.advance(2000);
  assert.ok(out, 'answered within 2 s');
  return out!;
}

test('round trip: 50 reads over the simulated UART give exactly the sensor\'s values', () => {
  const r = rig();
  try {
    for (let i = 0; i < 50; i++) {
      r.vc.advance(58000);
      const { e, v } = readWait(r);
      assert.equal(e, undefined);
      assert.deepEqual(v, [{ n: 'co2', u: 'ppm', v: r.sensor.lastPpm }]);
    }
    assert.equal(r.sensor.requests, 50);
    assert.equal(r.src.stats().ok, 50);
  } finally {
    r.vc.uninstall();
  }
});

test('faults: silent sensor times out after retries; bad CRC, exceptions, truncation and 0 ppm are errors, never values; noise is skipped', () => {
  const r = rig({ retries: 2, timeoutMs: 100 });
  try {
    r.sensor.faults = { silent: true };
    let x = readWait(r);
    assert.equal(x.e!.code, 'E_TIMEOUT');
    assert.equal(x.e!.message, 's8 "co2": no valid answer within 100 ms after 3 requests');
    assert.equal(r.sensor.requests, 3);
    r.sensor.faults = { badCrc: true };
    x = readWait(r);
    assert.equal(x.e!.code, 'E_TIMEOUT', 'a corrupt answer is no answer');
    assert.equal(x.e!.message, 's8 "co2": no valid answer within 100 ms (3 frames with a bad CRC dropped) after 3 requests');
    assert.equal(x.v, undefined);
    assert.equal(r.src.stats().crcErrors, 3);
    r.sensor.faults = { exception: 3 };
    x = readWait(r);
    assert.equal(x.e!.code, 'E_EXCEPTION');
    r.sensor.faults = { truncate: 5 };
    assert.equal(readWait(r).e!.code, 'E_TIMEOUT');
    r.sensor.faults = { stuckPpm: 0 };
    x = readWait(r);
    assert.equal(x.e!.code, 'E_RANGE');
    assert.equal(r.src.stats().outOfRange, 3);
    r.sensor.faults = { noise: 6 };
    x = readWait(r);
    assert.deepEqual(x.v, [{ n: 'co2', u: 'ppm', v: r.sensor.lastPpm }]);
    r.sensor.faults = {};
    assert.equal(readWait(r).e, undefined);
  } finally {
    r.vc.uninstall();
  }
});

test('a late answer (after the timeout) is not taken for the next read\'s', () => {
  const r = rig({ retries: 0, timeoutMs: 20 });
  try {
    r.sensor.o.latencyMs = 50;
    let out: { e?: Error; v?: SourceValue[] } | undefined;
    r.src.read((e, v) => (out = { e, v }));
    r.vc.advance(30);
    assert.equal((out!.e as Error & { code: string }).code, 'E_TIMEOUT');
    r.vc.advance(100);
    assert.equal(r.src.stats().late, 1);
    r.sensor.o.latencyMs = 5;
    const x = readWait(r);
    assert.deepEqual(x.v, [{ n: 'co2', u: 'ppm', v: r.sensor.lastPpm }]);
    let busy: Error | undefined;
    r.src.read(() => {});
    r.src.read((e) => (busy = e));
    assert.match(busy!.message, /previous read is still running/);
    r.vc.advance(100);
    r.src.stop!();
  } finally {
    r.vc.uninstall();
  }
});

test('schema: errors name the field; bounds at their limits; a missing port or UART is reported', () => {
  assert.deepEqual(checkSourceConfigs([s8Source], [{ id: 'c', type: 's8', adress: 1, timeoutMs: 19, retries: 6, rx: '16' }]), [
    'sources[0].adress: unknown option; did you mean "address"? [s8]',
    'sources[0].port: required option missing [s8]',
    'sources[0].rx: expected a pin name such as "D22", got "16" [s8]',
    'sources[0].timeoutMs: expected an integer in 20..2000, got 19 [s8]',
    'sources[0].retries: expected an integer in 0..5, got 6 [s8]',
  ]);
  assert.deepEqual(checkSourceConfigs([s8Source], [{ id: 'c', type: 's8', port: 'Serial2', address: 254, timeoutMs: 2000, retries: 5 }, { id: 'd', type: 's8', port: 'S', address: 1, timeoutMs: 20, retries: 0 }]), []);
  const vc = new VirtualClock();
  const sim = createSimIO(vc.now);
  const { host } = virtualHost(vc, sim.io);
  assert.throws(() => createSources(host, [s8Source], [{ id: 'c', type: 's8', port: 'Serial9' }]), /no serial port "Serial9"/);
  const { host: none } = virtualHost(vc, {});
  assert.throws(() => createSources(none, [s8Source], [{ id: 'c', type: 's8', port: 'Serial2' }]), /no io\.serial/);
});
