// The hashing and noise underneath every model, and the bounded caches: values are the same
// before and after a cache evicts (every cache is only a shortcut), and each bound is hit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash, hash2, hash3, u01, gauss, valueNoise, poisson, POISSON_EXACT_BELOW, localDay, dayOfWeek, dayOfYear, dayStart } from '../../agent-sim/profiles/noise.js';
import { DaySeries, SERIES } from '../../agent-sim/profiles/series.js';
import { createWeather, WEATHER } from '../../agent-sim/profiles/weather.js';
import { createProfiles, DAY_MS, HOUR_MS } from '../../agent-sim/profiles/index.js';

test('hash: integer keys exact beyond 32 bits and negative; strings differ from numbers; fast paths agree', () => {
  const seen = new Set<number>();
  for (const k of [0, 1, -1, 2 ** 32, 2 ** 32 + 1, -(2 ** 32), 2 ** 52, 1.7e12, 1.7e12 + 1]) seen.add(hash(k));
  assert.equal(seen.size, 9);
  assert.notEqual(hash('1'), hash(1));
  assert.notEqual(hash(1, 2), hash(2, 1));
  assert.equal(hash2(5, 1.7e12), hash(5, 1.7e12));
  assert.equal(hash3(5, -3, 9), hash(5, -3, 9));
  // Uniform enough: mean and quartiles of 20000 draws.
  let s = 0;
  const q = [0, 0, 0, 0];
  for (let i = 0; i < 20000; i++) {
    const u = u01(42, i);
    s += u;
    q[Math.floor(u * 4)]++;
  }
  assert.ok(Math.abs(s / 20000 - 0.5) < 0.01);
  for (const c of q) assert.ok(Math.abs(c - 5000) < 250);
  let g = 0;
  let g2 = 0;
  for (let i = 0; i < 20000; i++) {
    const z = gauss(7, i);
    g += z;
    g2 += z * z;
  }
  assert.ok(Math.abs(g / 20000) < 0.03 && Math.abs(g2 / 20000 - 1) < 0.05);
});

test('valueNoise: in [-1, 1], continuous, equal to the hashed knots at integers', () => {
  const k = hash('noise');
  let prev = valueNoise(k, 0);
  for (let x = 0.001; x < 50; x += 0.001) {
    const v = valueNoise(k, x);
    assert.ok(v >= -1 && v <= 1);
    assert.ok(Math.abs(v - prev) < 0.004, 'continuous at ' + x);
    prev = v;
  }
  for (const i of [-3, 0, 7]) assert.equal(valueNoise(k, i), (hash2(k, i) / 4294967296) * 2 - 1);
});

test('poisson: mean and variance on both sides of the exact/normal switch; a CDF the sum cannot reach ends', () => {
  for (const lam of [0.3, 4, POISSON_EXACT_BELOW - 0.1, POISSON_EXACT_BELOW, 200]) {
    let s = 0;
    let s2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const k = poisson(lam, u01(lam, i), gauss(lam, i));
      assert.ok(Number.isInteger(k) && k >= 0);
      s += k;
      s2 += k * k;
    }
    const m = s / n;
    const v = s2 / n - m * m;
    assert.ok(Math.abs(m - lam) < 4 * Math.sqrt(lam / n) + 0.01, `lambda ${lam}: mean ${m}`);
    assert.ok(Math.abs(v / lam - 1) < 0.08, `lambda ${lam}: variance ${v}`);
  }
  assert.equal(poisson(0, 0.5, 0), 0);
  assert.equal(poisson(-1, 0.5, 0), 0);
  // A u the float sum of the CDF never reaches (1 - 2^-53 at a mean of 29) ends in the far tail, not in a loop.
  const tail = poisson(POISSON_EXACT_BELOW - 1, 1 - 2 ** -53, 0);
  assert.ok(tail > 70 && tail < 120, 'tail ' + tail);
  const never = poisson(5, 1.5, 0);
  assert.ok(never > 20 && never < 60, 'never ' + never);
});

test('calendar: local days, weekdays and days of the year', () => {
  assert.equal(dayOfWeek(0), 4, '1970-01-01 was a Thursday');
  assert.equal(dayOfWeek(localDay(Date.UTC(2024, 6, 14), 0)), 0, '2024-07-14 was a Sunday');
  assert.equal(dayOfWeek(-1), 3);
  assert.equal(dayOfYear(localDay(Date.UTC(2024, 11, 31), 0)), 366);
  assert.equal(dayOfYear(localDay(Date.UTC(2025, 0, 1), 0)), 1);
  // 23:30 UTC is the next local day at UTC+1.
  const t = Date.UTC(2024, 2, 9, 23, 30);
  assert.equal(localDay(t, 1), localDay(t, 0) + 1);
  assert.equal(dayStart(localDay(t, 1), 1), Date.UTC(2024, 2, 9, 23));
});

test('DaySeries keeps CACHE_DAYS days; an evicted day is rebuilt identically', () => {
  let builds = 0;
  const s = new DaySeries({
    tzH: 0,
    build(D, out) {
      builds++;
      for (let m = 0; m < out.length; m++) out[m] = (D % 7) * 100 + m / 10;
    },
    ripple: 0.05,
    rippleKey: 9,
  });
  const t = (D: number) => D * DAY_MS + 12 * HOUR_MS + 12_345;
  const first = s.powerW(t(100));
  for (let k = 1; k < SERIES.CACHE_DAYS; k++) s.powerW(t(100 + k));
  assert.equal(builds, SERIES.CACHE_DAYS);
  assert.equal(s.powerW(t(100)), first);
  assert.equal(builds, SERIES.CACHE_DAYS, 'still cached at the bound');
  s.powerW(t(100 + SERIES.CACHE_DAYS)); // one past the bound: the oldest day goes
  assert.equal(s.powerW(t(100)), first);
  assert.equal(builds, SERIES.CACHE_DAYS + 2, 'rebuilt after eviction');
});

test('Weather keeps DAYS_KEPT days; beyond that the regimes are recomputed identically', () => {
  const o = { seed: 4, region: 'r', lat: 50, lon: 8, tzH: 1 };
  const a = createWeather(o);
  const before = [];
  for (let D = 19000; D < 19000 + WEATHER.DAYS_KEPT; D++) before.push(a.regime(D));
  for (let D = 20000; D < 20000 + 3 * WEATHER.DAYS_KEPT; D++) a.regime(D);
  for (let i = 0; i < before.length; i++) assert.equal(a.regime(19000 + i), before[i]);
  const b = createWeather(o);
  for (let i = 0; i < before.length; i++) assert.equal(b.regime(19000 + i), before[i]);
});

test('PV values do not depend on the shared sun cache (many places and days in between)', () => {
  const P = createProfiles({ seed: 2, region: 'x' });
  const t = Date.UTC(2024, 4, 5, 11, 17);
  const a = P.pv(1, 4).powerW(t);
  for (let i = 0; i < 12; i++) createProfiles({ seed: 2, region: 'y' + i, lat: 40 + i, lon: i }).pv(1, 4).powerW(t + i * DAY_MS);
  assert.equal(createProfiles({ seed: 2, region: 'x' }).pv(1, 4).powerW(t), a);
});
