import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  bme280ParseCalib,
  bme280DecodeData,
  bme280Temperature,
  bme280Pressure,
  bme280Humidity,
  bme280MeasureMaxMs,
  type Bme280Calib,
} from '../../firmware/core/sources/bme280/decoder.js';
import { bme280Source } from '../../firmware/core/sources/bme280/driver.js';
import { BME280_SCHEMA, BME280_MAX_POLLS, BME280_MAX_POLL_MS, BME280_MAX_STUCK_READS } from '../../firmware/core/sources/bme280/schema.js';
import { validate } from '../../firmware/core/config/schema.js';
import { Bme280Sim, intCalib, intTemperature, intPressure, intHumidity, FORUM_CALIB1, FORUM_CALIB2 } from '../../agent-sim/peripherals/bme280.js';
import { rig, readOnce, val, prng, hex, type TestRig } from './sensor-host.js';
import { benchFrames, decodeOnce } from './bme280-frames.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/bme280.json', import.meta.url), 'utf8'));
const FIELD = JSON.parse(readFileSync('/work/shared/vectors/field-vectors.json', 'utf8')).sensors.bmp280_datasheet_compensation;

/** Calibration register bytes (Table 16 layout) from dig_T / dig_P words. */
function calibBytes(T: number[], P: number[]): Uint8Array {
  const b = new Uint8Array(26);
  const w = [...T, ...P];
  for (let i = 0; i < 12; i++) {
    b[i * 2] = w[i] & 255;
    b[i * 2 + 1] = (w[i] >> 8) & 255;
  }
  return b;
}

test('BMP280 datasheet vector (shared field vector): T = 25.0825 Cel, t_fine = 128422, P = 100653.26 Pa', () => {
  const v = V.compensation[0];
  assert.deepEqual(v.dig_T, FIELD.dig_T);
  assert.deepEqual(v.dig_P, FIELD.dig_P);
  const cal = bme280ParseCalib(calibBytes(FIELD.dig_T, FIELD.dig_P))!;
  assert.deepEqual([cal.T1, cal.T2, cal.T3], FIELD.dig_T);
  assert.deepEqual([cal.P1, cal.P2, cal.P3, cal.P4, cal.P5, cal.P6, cal.P7, cal.P8, cal.P9], FIELD.dig_P);
  assert.equal(cal.H1, undefined, 'no humidity words on a BMP280 readout');
  const t = bme280Temperature(cal, FIELD.adc_T);
  assert.ok(Math.abs(t.t - FIELD.T_degC_float) < v.T_tolerance, 'T ' + t.t);
  assert.equal(t.tFine, FIELD.t_fine);
  const p = bme280Pressure(cal, FIELD.adc_P, t.tFine);
  assert.ok(Math.abs(p - FIELD.P_Pa_float) < v.P_tolerance, 'P ' + p);
  // the simulator's integer formulas (BigInt) against the datasheet's integer results
  const ic = intCalib(calibBytes(FIELD.dig_T, FIELD.dig_P), new Uint8Array(7));
  const it = intTemperature(ic, FIELD.adc_T);
  assert.equal(Number(it.tFine), FIELD.t_fine);
  assert.equal(Number(it.t100), FIELD.T_int32_x100);
  assert.equal(Number(intPressure(ic, FIELD.adc_P, it.tFine)), FIELD.P_int64_Q24_8);
});

test('real BME280 capture: calibration bytes incl. the split dig_H4/dig_H5, data burst, 24.44 Cel, 54.17 %RH', () => {
  const v = V.compensation[1];
  const cal = bme280ParseCalib(hex(v.calib1), hex(v.calib2))!;
  assert.deepEqual({ ...cal }, v.parsed);
  const r = bme280DecodeData(hex(v.data))!;
  assert.deepEqual(r, { adcP: v.adc.P, adcT: v.adc.T, adcH: v.adc.H });
  const t = bme280Temperature(cal, r.adcT);
  assert.equal(Math.round(t.t * 100) / 100, v.T_reported);
  const p = bme280Pressure(cal, r.adcP, t.tFine);
  assert.ok(Math.abs(p - v.P_computed) < v.P_tolerance, 'P ' + p);
  const h = bme280Humidity(cal, r.adcH!, t.tFine);
  assert.equal(Math.round(h * 100) / 100, v.RH_reported);
  assert.ok(Math.abs(h - v.RH_computed) < 1e-9);
  // same capture through the simulator's integer formulas
  const ic = intCalib(hex(v.calib1), hex(v.calib2));
  const it = intTemperature(ic, r.adcT);
  assert.equal(Number(it.t100), v.T_int32_x100);
  assert.equal(Number(it.tFine), v.t_fine_int32);
  assert.equal(Number(intPressure(ic, r.adcP, it.tFine)), v.P_int64_Q24_8);
  assert.equal(Number(intHumidity(ic, r.adcH!, it.tFine)), v.RH_int32_Q22_10);
});

test('calibration vectors: negative split nibbles; impossible readouts refused', () => {
  for (const v of V.calibration) {
    const cal = bme280ParseCalib(hex(v.calib1), v.calib2 ? hex(v.calib2) : undefined);
    if (v.parsed === null) assert.equal(cal, undefined, v.name);
    else assert.deepEqual({ ...cal }, v.parsed, v.name);
  }
  assert.equal(bme280ParseCalib(new Uint8Array(25)), undefined);
  assert.equal(bme280ParseCalib(hex(V.calibration[0].calib1), new Uint8Array(6)), undefined);
  assert.equal(bme280DecodeData(new Uint8Array(7)), undefined);
  assert.deepEqual(bme280DecodeData(hex('80 00 00 80 00 00')), { adcP: 0x80000, adcT: 0x80000 });
  // §9.1: x1/x1/x1 = 9.3 ms, x16 everywhere = 112.8 ms, BMP280 x1/x1 = 6.425 ms
  assert.ok(Math.abs(bme280MeasureMaxMs(1, 1, 1) - 9.3) < 1e-9);
  assert.ok(Math.abs(bme280MeasureMaxMs(16, 16, 16) - 112.8) < 1e-9);
  assert.ok(Math.abs(bme280MeasureMaxMs(1, 1, 0) - 6.425) < 1e-9);
});

test('precision: double formulas against the int32/int64 ones over 30,000 raw samples in the operating range', (t) => {
  const rnd = prng(280);
  const cals = [
    { c: bme280ParseCalib(FORUM_CALIB1, FORUM_CALIB2)!, ic: intCalib(FORUM_CALIB1, FORUM_CALIB2) },
    { c: bme280ParseCalib(hex(V.calibration[0].calib1), hex(V.calibration[0].calib2))!, ic: intCalib(hex(V.calibration[0].calib1), hex(V.calibration[0].calib2)) },
  ];
  let dT = 0;
  let dP = 0;
  let dH = 0;
  let n = 0;
  for (let i = 0; i < 30000; i++) {
    const { c, ic } = cals[i % 2];
    const adcT = Math.floor(rnd() * 0x100000);
    const adcP = Math.floor(rnd() * 0x100000);
    const adcH = Math.floor(rnd() * 0x10000);
    const tt = bme280Temperature(c, adcT);
    const p = bme280Pressure(c, adcP, tt.tFine);
    if (!(tt.t >= -40 && tt.t <= 85 && p >= 30000 && p <= 110000)) continue;
    n++;
    const it = intTemperature(ic, adcT);
    dT = Math.max(dT, Math.abs(tt.t - Number(it.t100) / 100));
    dP = Math.max(dP, Math.abs(p - Number(intPressure(ic, adcP, it.tFine)) / 256));
    const h = bme280Humidity(c, adcH, tt.tFine);
    if (h > 0 && h < 100) dH = Math.max(dH, Math.abs(h - Number(intHumidity(ic, adcH, it.tFine)) / 1024));
  }
  t.diagnostic('samples in range: ' + n + '; max |double - integer|: T ' + dT.toFixed(4) + ' Cel, P ' + dP.toFixed(3) + ' Pa, RH ' + dH.toFixed(4) + ' %RH');
  assert.ok(n > 1000);
  assert.ok(dT <= 0.01, 'T ' + dT);
  assert.ok(dP <= 0.5, 'P ' + dP);
  assert.ok(dH <= 0.01, 'RH ' + dH);
});

function setup(cfg: Record<string, unknown> = {}, o: { chipId?: number; address?: number } = {}): { r: TestRig; sim: Bme280Sim; src: ReturnType<typeof bme280Source.create> } {
  const r = rig();
  const sim = new Bme280Sim(r.vt.now, { chipId: o.chipId });
  r.sim.i2cBus('I2C1').attach(o.address ?? 0x76, sim);
  const v = validate(BME280_SCHEMA, cfg, 'bme');
  assert.deepEqual(v.errors, []);
  return { r, sim, src: bme280Source.create(r.host, 'env', 1000, v.value) };
}

test('round trip: simulated BME280 -> readings equal the truth within the ADC step, and the integer formulas within their precision', () => {
  for (const [cfg, stepP] of [
    // half an ADC step (16-bit at 1x: ~2.6 Pa a step; 20-bit at 16x: ~0.16 Pa) + the 0.5 Pa
    // between the sim's int64 inversion and the driver's double formula
    [{}, 1.9],
    [{ temperatureOversampling: '16x', pressureOversampling: '16x', humidityOversampling: '16x', address: 0x77 }, 0.6],
  ] as const) {
    const { r, sim, src } = setup(cfg, { address: (cfg as any).address });
    try {
      for (const [t, p, rh] of [
        [21.5, 101325, 45],
        [-39.5, 30500, 3.5],
        [84.5, 109500, 97],
        [0, 95000, 50],
        [-0.003, 100000, 0.5],
      ]) {
        sim.temperature = t;
        sim.pressure = p;
        sim.humidity = rh;
        const res = readOnce(r.vt, src);
        assert.equal(res.calls, 1);
        assert.equal(res.err, undefined, String(res.err));
        assert.deepEqual(res.values!.map((x) => x.n + ' ' + x.u), ['t Cel', 'pres Pa', 'rh %RH']);
        assert.ok(Math.abs(val(res.values, 't')! - t) < 0.02, 't ' + t + ' -> ' + val(res.values, 't'));
        assert.ok(Math.abs(val(res.values, 'pres')! - p) < stepP, 'p ' + p + ' -> ' + val(res.values, 'pres'));
        assert.ok(Math.abs(val(res.values, 'rh')! - rh) < 0.02, 'rh ' + rh + ' -> ' + val(res.values, 'rh'));
        assert.ok(!Object.is(val(res.values, 't'), -0));
      }
    } finally {
      r.done();
    }
  }
});

test('register protocol: id, reset, NVM wait, calibration, then ctrl_hum before ctrl_meas; waits the §9.1 maximum', () => {
  const { r, sim, src } = setup({ humidityOversampling: '2x', pressureOversampling: '4x', temperatureOversampling: '8x', iirFilter: '4x' });
  try {
    const first = readOnce(r.vt, src);
    assert.equal(first.err, undefined);
    assert.deepEqual(sim.writes, [
      [0xe0, 0xb6],
      [0xf2, 0x02],
      [0xf5, 0x02 << 2],
      [0xf4, (4 << 5) | (3 << 2) | 1],
    ]);
    const second = readOnce(r.vt, src);
    assert.equal(second.ms, Math.ceil(bme280MeasureMaxMs(8, 4, 2)));
    assert.equal(sim.writes.filter((w) => w[0] === 0xe0).length, 1, 'reset only once');
    assert.deepEqual(src.stats!(), { reads: 2, ok: 2, nack: 0, badId: 0, badCalib: 0, notReady: 0, noData: 0, range: 0, stuck: 0, inits: 1 });
  } finally {
    r.done();
  }
});

test('BMP280 (chip id 0x58): detected, no humidity register touched, no rh reported', () => {
  const { r, sim, src } = setup({}, { chipId: 0x58 });
  try {
    sim.temperature = 18.25;
    sim.pressure = 98765;
    const res = readOnce(r.vt, src);
    assert.equal(res.err, undefined);
    assert.deepEqual(res.values!.map((x) => x.n), ['t', 'pres']);
    assert.ok(Math.abs(val(res.values, 't')! - 18.25) < 0.02);
    assert.ok(Math.abs(val(res.values, 'pres')! - 98765) < 3);
    assert.equal(sim.writes.filter((w) => w[0] === 0xf2).length, 0);
    assert.equal(res.ms, 2 + Math.ceil(bme280MeasureMaxMs(1, 1, 0)));
  } finally {
    r.done();
  }
});

test('faults: missing, wrong chip id, dead calibration, never measures, busy forever; counted, never a value', () => {
  const { r, sim, src } = setup({ maxPolls: 3, pollMs: 5 });
  try {
    const codes: (string | undefined)[] = [];
    const step = () => {
      const res = readOnce(r.vt, src);
      assert.equal(res.calls, 1);
      if (res.err) assert.equal(res.values, undefined);
      codes.push(res.err?.code);
      return res;
    };
    sim.faults.missing = true;
    step();
    sim.faults.missing = false;
    step();
    sim.faults.chipId = 0xff; // floating bus
    step();
    sim.faults.chipId = 0x61;
    step();
    sim.faults.chipId = undefined;
    sim.faults.deadCalib = true;
    step();
    sim.faults.deadCalib = false;
    step();
    sim.faults.busyForever = true;
    const busy = step();
    assert.equal(busy.ms, 10 + 3 * 5);
    sim.faults.busyForever = false;
    r.vt.advance(50);
    sim.faults.neverMeasures = true;
    sim.write(new Uint8Array([0xe0, 0xb6])); // the part resets behind the driver's back: registers back to 0x80000
    r.vt.advance(5);
    step();
    sim.faults.neverMeasures = false;
    step();
    assert.deepEqual(codes, [
      'E_NO_DEVICE',
      undefined,
      'E_CHIP_ID',
      'E_CHIP_ID',
      'E_CALIBRATION',
      undefined,
      'E_NOT_READY',
      'E_NO_DATA',
      undefined,
    ]);
    assert.deepEqual(src.stats!(), { reads: 9, ok: 3, nack: 1, badId: 2, badCalib: 1, notReady: 1, noData: 1, range: 0, stuck: 0, inits: 3 });
  } finally {
    r.done();
  }
});

test('stuck value: stuckReads = 3 rejects the third identical burst; off by default', () => {
  const { r, sim, src } = setup({ stuckReads: 3 });
  try {
    sim.faults.stuck = true;
    assert.equal(readOnce(r.vt, src).err, undefined);
    sim.temperature = 30;
    assert.equal(readOnce(r.vt, src).err, undefined);
    assert.equal(readOnce(r.vt, src).err?.code, 'E_STUCK');
    sim.faults.stuck = false;
    const ok = readOnce(r.vt, src);
    assert.equal(ok.err, undefined);
    assert.ok(Math.abs(val(ok.values, 't')! - 30) < 0.02);
    assert.equal(src.stats!().stuck, 1);
  } finally {
    r.done();
  }
  const d = setup();
  try {
    d.sim.faults.stuck = true;
    for (let i = 0; i < 10; i++) assert.equal(readOnce(d.r.vt, d.src).err, undefined);
  } finally {
    d.r.done();
  }
});

test('fuzz: 3,000 reads with random corruption of any register read; no exception, values only from plausible bursts', (t) => {
  const { r, sim, src } = setup();
  const rnd = prng(5);
  const cal = bme280ParseCalib(FORUM_CALIB1, FORUM_CALIB2) as Bme280Calib;
  const tally: Record<string, number> = {};
  let corruptedBurstPassed = 0;
  let corruptedBursts = 0;
  try {
    for (let n = 0; n < 3000; n++) {
      sim.temperature = -40 + rnd() * 125;
      sim.pressure = 30000 + rnd() * 80000;
      sim.humidity = rnd() * 100;
      let burst: Uint8Array | undefined;
      let corrupted = false;
      sim.faults.mutate = (reg, b) => {
        if (rnd() < 0.3) {
          b[Math.floor(rnd() * b.length)] ^= 1 + Math.floor(rnd() * 255);
          if (reg === 0xf7) corrupted = true;
        }
        if (reg === 0xf7) burst = b.slice();
      };
      const res = readOnce(r.vt, src);
      assert.equal(res.calls, 1);
      const code = res.err?.code ?? 'ok';
      tally[code] = (tally[code] ?? 0) + 1;
      if (corrupted) corruptedBursts++;
      if (!res.err) {
        // the reading is exactly what the received burst says, and inside the operating range
        const raw = bme280DecodeData(burst!)!;
        const tt = bme280Temperature(cal, raw.adcT);
        assert.equal(val(res.values, 't'), Math.round(tt.t * 100) / 100 + 0);
        assert.ok(tt.t >= -40 && tt.t <= 85);
        if (corrupted) corruptedBurstPassed++;
      } else assert.equal(res.values, undefined);
    }
  } finally {
    r.done();
  }
  // No checksum: a corrupted burst that stays inside the operating range is indistinguishable
  // from a real reading. The guards catch what leaves it (and the id/calibration checks).
  t.diagnostic('outcomes ' + JSON.stringify(tally) + '; corrupted data bursts delivered: ' + corruptedBurstPassed + ' / ' + corruptedBursts);
  assert.ok(tally.ok > 1000);
  assert.ok((tally.E_CHIP_ID ?? 0) > 100 && (tally.E_RANGE ?? 0) > 10);
});

test('bounds at their limits: maxPolls = 50, pollMs = 50 -> 51 status reads, then E_NOT_READY', () => {
  const { r, sim, src } = setup({ maxPolls: BME280_MAX_POLLS, pollMs: BME280_MAX_POLL_MS, stuckReads: BME280_MAX_STUCK_READS });
  try {
    assert.equal(readOnce(r.vt, src).err, undefined);
    let statusReads = 0;
    sim.faults.mutate = (reg) => {
      if (reg === 0xf3) statusReads++;
    };
    sim.faults.busyForever = true;
    const res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_NOT_READY');
    assert.equal(statusReads, 51);
    assert.equal(res.ms, 10 + 50 * 50);
  } finally {
    r.done();
  }
});

test('schema: errors name the field and the rule', () => {
  assert.deepEqual(
    validate(BME280_SCHEMA, { address: 0x75, temperatureOversampling: '3x', iirFilter: '32x', pressureOversampling: 16, maxPolls: 51, pollMs: 51, stuckReads: -1 }, 'b').errors,
    [
      'b.address: expected an integer in 118..119, got 117',
      'b.temperatureOversampling: expected one of 1x, 2x, 4x, 8x, 16x, got "3x"; did you mean "1x"?',
      'b.pressureOversampling: expected a string, got 16',
      'b.iirFilter: expected one of off, 2x, 4x, 8x, 16x, got "32x"; did you mean "2x"?',
      'b.pollMs: expected an integer in 1..50, got 51',
      'b.maxPolls: expected an integer in 0..50, got 51',
      'b.stuckReads: expected an integer in 0..1000, got -1',
    ],
  );
  const r = rig();
  try {
    assert.throws(() => bme280Source.create({ ...r.host, io: undefined }, 'x', 1000, validate(BME280_SCHEMA, {}, '').value), { code: 'E_NO_IO' });
  } finally {
    r.done();
  }
});

test('stop(): no callback after it', () => {
  const { r, src } = setup();
  try {
    let calls = 0;
    src.read(() => calls++);
    src.stop!();
    r.vt.advance(100);
    assert.equal(calls, 0);
  } finally {
    r.done();
  }
});

test('bench helpers', () => {
  for (const f of benchFrames()) assert.ok(decodeOnce(f.bytes));
});
