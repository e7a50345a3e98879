// Determinism: same (seed, region, device, time) -> same value, whatever was asked before and
// in whatever order (virtual time may jump); other seeds, devices or regions -> other values;
// no Math.random anywhere. Correlation: devices of one region share the weather (cloud cover,
// PV days), devices of different regions do not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProfiles, localDay, dayStart, DAY_MS, HOUR_MS, MIN_MS, type Profiles } from '../../agent-sim/profiles/index.js';

/** Reproducible test times (an LCG; the models' own hashing is what is under test). */
function times(n: number, from: number, span: number, seed = 1): number[] {
  let x = seed;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(from + Math.floor((x / 2147483648) * span));
  }
  return out;
}

/** Every model's outputs at t for device `dev` (fresh objects, so no cache is shared with another call). */
function snapshot(P: Profiles, dev: number, ts: number[]): number[] {
  const h = P.household(dev, { meter: { swapsPerYear: 2, resetsPerYear: 1 } });
  const pv = P.pv(dev, 4.2);
  const net = P.netMetering(dev, 4.2);
  const aq = P.airQuality(dev);
  const gw = P.hotspot(dev);
  const room = P.indoor(dev);
  const out: number[] = [];
  for (const t of ts) {
    const c = gw.counters(t);
    const pm = aq.pm(t);
    out.push(h.powerW(t), h.energyWh(t), ...h.meter.registers(t), pv.powerW(t), pv.energyWh(t), net.netW(t), net.importWh(t), net.exportWh(t));
    out.push(pm.pm25, pm.pm10, aq.temperatureC(t), aq.humidityPct(t), aq.pressurePa(t), c.rxok, c.rxnb, c.txnb, room.co2Ppm(t), room.temperatureC(t));
  }
  return out;
}

const T0 = Date.UTC(2024, 0, 1);
const SPAN = 90 * DAY_MS;

test('same seed, region, device and time: identical values, in any query order', () => {
  const ts = times(60, T0, SPAN);
  const a = snapshot(createProfiles({ seed: 5, region: 'r1' }), 3, ts);
  // Reverse order, fresh objects: the values at each t are the same.
  const rev = ts.slice().reverse();
  const b = snapshot(createProfiles({ seed: 5, region: 'r1' }), 3, rev);
  const per = a.length / ts.length;
  for (let i = 0; i < ts.length; i++) assert.deepEqual(a.slice(i * per, (i + 1) * per), b.slice((ts.length - 1 - i) * per, (ts.length - i) * per), 'at ' + new Date(ts[i]).toISOString());
  for (const x of a) assert.ok(Number.isFinite(x));
});

test('a jump far ahead gives what walking there step by step gives', () => {
  const P = createProfiles({ seed: 5, region: 'r1' });
  const far = T0 + 120 * DAY_MS + 12345678;
  const jump = P.netMetering(2, 6);
  const walk = P.netMetering(2, 6);
  for (let t = T0; t < far; t += 10 * DAY_MS) walk.importWh(t);
  assert.equal(jump.importWh(far), walk.importWh(far));
  assert.equal(jump.exportWh(far), walk.exportWh(far));
  // Backwards from the epoch works too, and is the negative of the energy up to the epoch.
  const before = T0 - 20 * DAY_MS;
  assert.ok(jump.importWh(before) < 0);
  assert.ok(Math.abs(-jump.importWh(before) - (P.netMetering(2, 6).importWh(T0) - jump.importWh(before))) < 1e-6);
});

test('different seeds, devices or regions give different values', () => {
  const ts = times(40, T0, SPAN, 7);
  const base = snapshot(createProfiles({ seed: 5, region: 'r1' }), 3, ts);
  const others = [snapshot(createProfiles({ seed: 6, region: 'r1' }), 3, ts), snapshot(createProfiles({ seed: 5, region: 'r1' }), 4, ts), snapshot(createProfiles({ seed: 5, region: 'r2' }), 3, ts)];
  for (const o of others) {
    let differ = 0;
    let nonzero = 0;
    for (let i = 0; i < base.length; i++) {
      if (base[i] === 0 && o[i] === 0) continue; // PV at night is 0 everywhere
      nonzero++;
      if (base[i] !== o[i]) differ++;
    }
    assert.ok(differ / nonzero > 0.9, `only ${differ} of ${nonzero} values differ`);
  }
});

test('no Math.random: the models run with it disabled', () => {
  const saved = Math.random;
  Math.random = () => {
    throw new Error('Math.random called');
  };
  try {
    snapshot(createProfiles({ seed: 9, region: 'x' }), 1, times(10, T0, SPAN, 3));
  } finally {
    Math.random = saved;
  }
});

function pearson(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Daytime mean cloud cover seen at the device, and PV energy, per day for `days` days. */
function daily(P: Profiles, dev: number, days: number): { cloud: number[]; pv: number[] } {
  const pv = P.pv(dev, 5);
  const D0 = localDay(Date.UTC(2024, 3, 1), P.tzH);
  const cloud: number[] = [];
  const e: number[] = [];
  for (let D = D0; D < D0 + days; D++) {
    let s = 0;
    for (let h = 9; h <= 16; h++) for (let m = 0; m < 60; m += 10) s += pv.cloud(dayStart(D, P.tzH) + h * HOUR_MS + m * MIN_MS);
    cloud.push(s / 48);
    e.push(pv.dayWh(D));
  }
  return { cloud, pv: e };
}

test('correlated weather: two devices of one region see the same sky; two regions do not', () => {
  const A = createProfiles({ seed: 21, region: 'north-holland', lat: 52.4, lon: 4.9 });
  const B = createProfiles({ seed: 21, region: 'bavaria', lat: 48.1, lon: 11.6 });
  const a1 = daily(A, 1, 150);
  const a2 = daily(A, 2, 150);
  const b1 = daily(B, 1, 150);
  const same = pearson(a1.cloud, a2.cloud);
  const samePv = pearson(a1.pv, a2.pv);
  const other = pearson(a1.cloud, b1.cloud);
  const otherPv = pearson(a1.pv, b1.pv);
  assert.ok(same > 0.9, `same region, cloud r = ${same.toFixed(3)}`);
  assert.ok(samePv > 0.85, `same region, PV day energy r = ${samePv.toFixed(3)}`);
  assert.ok(Math.abs(other) < 0.25, `different regions, cloud r = ${other.toFixed(3)}`);
  // PV days of two regions share only the season (a trend over April..August): far below one region.
  assert.ok(otherPv < samePv - 0.3, `different regions, PV r = ${otherPv.toFixed(3)}`);
  // Not the same sky to the minute: passing clouds are the device's own.
  let diff = 0;
  const pa = A.pv(1, 5);
  const pb = A.pv(2, 5);
  for (let t = Date.UTC(2024, 4, 1, 8); t < Date.UTC(2024, 4, 20, 16); t += 37 * MIN_MS) if (Math.abs(pa.cloud(t) - pb.cloud(t)) > 0.01) diff++;
  assert.ok(diff > 20, 'devices differ in the passing clouds');
  // Temperature and rain are the region's: identical for every device of it.
  for (const t of times(50, T0, SPAN, 11)) {
    assert.equal(A.weather.temperatureC(t), createProfiles({ seed: 21, region: 'north-holland', lat: 52.4, lon: 4.9 }).weather.temperatureC(t));
    assert.equal(A.weather.rainMmH(t), A.weather.rainMmH(t));
  }
});
