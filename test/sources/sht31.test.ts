import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sht31Crc, sht31Decode, SHT31_READ_LEN } from '../../firmware/core/sources/sht31/decoder.js';
import { sht31Source } from '../../firmware/core/sources/sht31/driver.js';
import { SHT31_SCHEMA, SHT31_MAX_READ_RETRIES, SHT31_MAX_RETRY_MS, SHT31_MAX_STUCK_READS } from '../../firmware/core/sources/sht31/schema.js';
import { validate } from '../../firmware/core/config/schema.js';
import { checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import { Sht31Sim, sensirionCrc } from '../../agent-sim/peripherals/sht31.js';
import { rig, readOnce, val, prng, hex, type TestRig } from './sensor-host.js';
import { benchFrames, decodeOnce } from './sht31-frames.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/sht31.json', import.meta.url), 'utf8'));
const FIELD = JSON.parse(readFileSync('/work/shared/vectors/field-vectors.json', 'utf8')).sensors;

function round2(x: number): number {
  return Math.round(x * 100) / 100 + 0;
}

/** Independent check: both words carry a valid CRC (the simulator's implementation). */
function crcOk(b: Uint8Array): boolean {
  return b.length === 6 && sensirionCrc(b[0], b[1]) === b[2] && sensirionCrc(b[3], b[4]) === b[5];
}

test('CRC-8 vectors: datasheet 0xBEEF -> 0x92 and the shared field vector', () => {
  for (const v of V.crc) assert.equal(sht31Crc(hex(v.in), 0, 2), parseInt(v.crc, 16), v.name);
  assert.equal(sht31Crc(hex(FIELD.sensirion_crc8_check.in), 0, 2), parseInt(FIELD.sensirion_crc8_check.crc, 16));
});

test('valid read-outs decode exactly; invalid ones are rejected', () => {
  for (const v of V.valid) {
    const r = sht31Decode(hex(v.frame));
    assert.ok(r, v.name);
    assert.ok(Math.abs(r.t - v.t) < 1e-12, v.name + ' t ' + r.t);
    assert.ok(Math.abs(r.rh - v.rh) < 1e-12, v.name + ' rh ' + r.rh);
    assert.equal(round2(r.t), v.t_reported, v.name);
    assert.equal(round2(r.rh), v.rh_reported, v.name);
  }
  for (const v of V.invalid) assert.equal(sht31Decode(hex(v.frame)), undefined, v.name);
  // The shared field vector says 25.0 / 50.0: exact for T, 50.00076 for RH (reported 50.0).
  const f = sht31Decode(hex(FIELD.sht31_T25_RH50.frame))!;
  assert.equal(f.t, FIELD.sht31_T25_RH50.expect.temperature_C);
  assert.equal(round2(f.rh), FIELD.sht31_T25_RH50.expect.humidity_pct);
  assert.equal(sht31Decode(new Uint8Array(7)), undefined);
  assert.equal(sht31Decode('66 66 93 80 00 A2' as any), undefined);
});

test('every single-byte corruption of every valid read-out is rejected (exhaustive)', () => {
  let tried = 0;
  for (const v of V.valid) {
    const good = hex(v.frame);
    for (let i = 0; i < SHT31_READ_LEN; i++)
      for (let x = 1; x < 256; x++) {
        const b = good.slice();
        b[i] ^= x;
        assert.equal(sht31Decode(b), undefined, v.name + ' byte ' + i + ' ^ ' + x);
        tried++;
      }
  }
  assert.equal(tried, V.valid.length * 6 * 255);
});

test('fuzz: 50,000 random and multi-byte-mutated read-outs; a decode only ever comes from a valid codeword', (t) => {
  const rnd = prng(31);
  let randomPass = 0;
  let mutatedPass = 0;
  const base = V.valid.map((v: { frame: string }) => hex(v.frame));
  for (let n = 0; n < 50000; n++) {
    let b: Uint8Array;
    if (n % 2) {
      b = new Uint8Array(6);
      for (let i = 0; i < 6; i++) b[i] = Math.floor(rnd() * 256);
    } else {
      b = base[n % base.length].slice();
      const k = 2 + Math.floor(rnd() * 4);
      for (let j = 0; j < k; j++) b[Math.floor(rnd() * 6)] ^= 1 + Math.floor(rnd() * 255);
    }
    const r = sht31Decode(b);
    assert.equal(!!r, crcOk(b));
    if (r) {
      if (n % 2) randomPass++;
      // a mutation that cancels itself (same byte, same XOR twice) gives back the valid original
      else if (!base.some((x: Uint8Array) => x.every((y, i) => y === b[i]))) mutatedPass++;
      assert.equal(r.rawT, (b[0] << 8) | b[1]);
      assert.equal(r.rawRH, (b[3] << 8) | b[4]);
    }
  }
  // Two independent 8-bit CRCs: about 1 in 65,536 random read-outs passes (0.4 expected here).
  // A multi-byte corruption confined to one word (data + its CRC) is a valid codeword 1 time in
  // 256: that is the CRC-8's limit, and why single-byte corruption is the guarantee.
  t.diagnostic('random read-outs passing: ' + randomPass + ' / 25000; multi-byte mutations passing: ' + mutatedPass + ' / 25000');
  assert.ok(randomPass <= 3, 'random read-outs passing ' + randomPass);
  assert.ok(mutatedPass <= 25000 / 256, 'mutated read-outs passing ' + mutatedPass);
});

function setup(cfg: Record<string, unknown> = {}, address = 0x44): { r: TestRig; sim: Sht31Sim; src: ReturnType<typeof sht31Source.create> } {
  const r = rig();
  const sim = new Sht31Sim(r.vt.now);
  r.sim.i2cBus('I2C1').attach(address, sim);
  const v = validate(SHT31_SCHEMA, cfg, 'sht');
  assert.deepEqual(v.errors, []);
  const src = sht31Source.create(r.host, 'th', 1000, v.value);
  return { r, sim, src };
}

test('round trip: simulated SHT31 -> driver readings equal the truth within the 16-bit step', () => {
  const { r, sim, src } = setup();
  try {
    for (const [t, rh] of [
      [21.5, 45],
      [-39.99, 0.5],
      [0, 100],
      [-0.001, 12.34],
      [85.25, 99.99],
      [124.9, 3.21],
    ]) {
      sim.temperature = t;
      sim.humidity = rh;
      const res = readOnce(r.vt, src);
      assert.equal(res.calls, 1);
      assert.equal(res.err, undefined);
      assert.deepEqual(res.values!.map((x) => [x.n, x.u]), [
        ['t', 'Cel'],
        ['rh', '%RH'],
      ]);
      // one code is 0.0027 Cel / 0.0015 %RH; rounding to 0.01 adds 0.005.
      assert.ok(Math.abs(val(res.values, 't')! - t) <= 0.0027 / 2 + 0.005 + 1e-9, 't ' + t + ' -> ' + val(res.values, 't'));
      assert.ok(Math.abs(val(res.values, 'rh')! - rh) <= 0.0015 / 2 + 0.005 + 1e-9, 'rh ' + rh);
      assert.ok(!Object.is(val(res.values, 't'), -0));
      assert.ok(res.ms >= 16 && res.ms <= 20, 'waited the datasheet maximum, ' + res.ms + ' ms');
    }
    assert.deepEqual(sim.commands.slice(0, 2), [0x30a2, 0x2400], 'soft reset first, then single shot high');
    assert.equal(sim.commands.filter((c) => c === 0x30a2).length, 1);
    assert.deepEqual(src.stats!(), { reads: 6, ok: 6, nack: 0, crc: 0, notReady: 0, stuck: 0, resets: 1 });
  } finally {
    r.done();
  }
});

test('repeatability picks the command and the wait; address 0x45', () => {
  for (const [rep, cmd, wait] of [
    ['medium', 0x240b, 7],
    ['low', 0x2416, 5],
  ] as const) {
    const { r, sim, src } = setup({ repeatability: rep, address: 0x45 }, 0x45);
    try {
      readOnce(r.vt, src); // includes the 2 ms reset
      const res = readOnce(r.vt, src);
      assert.equal(res.err, undefined);
      assert.equal(sim.commands[sim.commands.length - 1], cmd);
      assert.equal(res.ms, wait);
    } finally {
      r.done();
    }
  }
});

test('faults: missing device, bad CRC, slow measurement; counted, never a value, recovery', () => {
  const { r, sim, src } = setup();
  try {
    sim.faults.missing = true;
    let res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_NO_DEVICE');
    assert.equal(res.values, undefined);
    sim.faults.missing = false;
    res = readOnce(r.vt, src);
    assert.equal(res.err, undefined, 'recovers once the device answers');
    sim.faults.badCrc = true;
    res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_CRC');
    assert.equal(res.values, undefined);
    sim.faults.badCrc = false;
    sim.faults.slowMs = 6; // 18.5 ms: the first read-out attempt at 16 ms is NACKed, the retry at 21 ms succeeds
    res = readOnce(r.vt, src);
    assert.equal(res.err, undefined);
    assert.equal(res.ms, 21);
    sim.faults.slowMs = 1000;
    res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_NOT_READY');
    r.vt.advance(2000);
    sim.faults.slowMs = 0;
    // device vanishes in the middle of a read (after the command, before the read-out)
    src.read(() => {});
    sim.faults.missing = true;
    res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_BUSY', 'a second read while one runs is refused, not stacked');
    r.vt.advance(100);
    sim.faults.missing = false;
    const st = src.stats!();
    // vanishing after the command looks like a measurement that never ends: counted as notReady
    assert.deepEqual(st, { reads: 6, ok: 2, nack: 1, crc: 1, notReady: 2, stuck: 0, resets: 1 });
  } finally {
    r.done();
  }
});

test('stuck value: off by default; stuckReads = N rejects the N-th identical read-out and recovers on change', () => {
  {
    const { r, sim, src } = setup();
    try {
      sim.faults.stuck = true;
      for (let i = 0; i < 20; i++) assert.equal(readOnce(r.vt, src).err, undefined);
    } finally {
      r.done();
    }
  }
  const { r, sim, src } = setup({ stuckReads: 3 });
  try {
    sim.faults.stuck = true;
    assert.equal(readOnce(r.vt, src).err, undefined);
    sim.temperature = 30; // the stuck sensor does not follow
    assert.equal(readOnce(r.vt, src).err, undefined);
    const res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_STUCK');
    assert.equal(res.values, undefined);
    assert.equal(readOnce(r.vt, src).err?.code, 'E_STUCK');
    sim.faults.stuck = false;
    const ok = readOnce(r.vt, src);
    assert.equal(ok.err, undefined);
    assert.ok(Math.abs(val(ok.values, 't')! - 30) < 0.01);
    assert.equal(src.stats!().stuck, 2);
  } finally {
    r.done();
  }
});

test('fuzz the driver: 2,000 reads with random corruption on the wire; values only from CRC-valid read-outs', () => {
  const { r, sim, src } = setup();
  const rnd = prng(7);
  try {
    let emitted = 0;
    let rejected = 0;
    for (let n = 0; n < 2000; n++) {
      sim.temperature = -40 + rnd() * 165;
      sim.humidity = rnd() * 100;
      let wire: Uint8Array | undefined;
      const orig = sim.read.bind(sim);
      sim.read = (count: number) => {
        const b = orig(count);
        const k = Math.floor(rnd() * 3);
        for (let j = 0; j < k; j++) b[Math.floor(rnd() * 6)] ^= 1 + Math.floor(rnd() * 255);
        wire = b.slice();
        return b;
      };
      const res = readOnce(r.vt, src);
      sim.read = orig;
      assert.equal(res.calls, 1);
      if (res.err) {
        rejected++;
        assert.equal(res.err.code, 'E_CRC');
        assert.ok(!crcOk(wire!));
      } else {
        emitted++;
        assert.ok(crcOk(wire!));
        assert.equal(val(res.values, 't'), round2(-45 + (175 * ((wire![0] << 8) | wire![1])) / 65535));
      }
    }
    assert.equal(emitted + rejected, 2000);
    assert.equal(src.stats!().crc, rejected);
    assert.ok(rejected > 1000 && emitted > 500, emitted + ' / ' + rejected);
  } finally {
    r.done();
  }
});

test('bounds at their limits: readRetries = 10 makes exactly 11 read-out attempts', () => {
  const { r, sim, src } = setup({ readRetries: SHT31_MAX_READ_RETRIES, retryMs: SHT31_MAX_RETRY_MS, stuckReads: SHT31_MAX_STUCK_READS });
  try {
    let attempts = 0;
    const orig = sim.read.bind(sim);
    sim.read = (n: number) => {
      attempts++;
      return orig(n);
    };
    sim.faults.slowMs = 1e9;
    const res = readOnce(r.vt, src, 10_000);
    assert.equal(res.err?.code, 'E_NOT_READY');
    assert.equal(attempts, 11);
    assert.equal(res.ms, 2 + 16 + 10 * 100);
  } finally {
    r.done();
  }
});

test('schema: errors name the field and the rule; limits accepted', () => {
  assert.deepEqual(validate(SHT31_SCHEMA, { address: 0x46, repeatability: 'hgh', readRetries: 11, retryMs: 0, stuckReads: 1001, sda: '21', hz: 5 }, 's').errors, [
    's.sda: expected a pin name such as "D22", got "21"',
    's.hz: expected an integer in 10000..1000000, got 5',
    's.address: expected an integer in 68..69, got 70',
    's.repeatability: expected one of high, medium, low, got "hgh"; did you mean "high"?',
    's.readRetries: expected an integer in 0..10, got 11',
    's.retryMs: expected an integer in 1..100, got 0',
    's.stuckReads: expected an integer in 0..1000, got 1001',
  ]);
  assert.deepEqual(validate(SHT31_SCHEMA, { address: 0x45, readRetries: 10, retryMs: 100, stuckReads: 1000, hz: 1000000 }, 's').errors, []);
  assert.deepEqual(checkSourceConfigs([sht31Source], [{ id: 'th', type: 'sht31', adress: 68 }]), ['sources[0].adress: unknown option; did you mean "address"? [sht31]']);
  const r = rig();
  try {
    assert.throws(() => sht31Source.create({ ...r.host, io: {} }, 'th', 1000, validate(SHT31_SCHEMA, {}, '').value), { code: 'E_NO_IO' });
  } finally {
    r.done();
  }
});

test('stop(): no callback after it, the bus handle is closed', () => {
  const { r, src } = setup();
  try {
    let calls = 0;
    src.read(() => calls++);
    src.stop!();
    src.stop!();
    r.vt.advance(1000);
    assert.equal(calls, 0);
  } finally {
    r.done();
  }
});

test('bench helpers decode every representative frame', () => {
  const f = benchFrames();
  assert.equal(f.length, V.valid.length);
  for (const x of f) assert.ok(decodeOnce(x.bytes));
});
