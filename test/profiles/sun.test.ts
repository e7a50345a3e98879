// The sun model against astronomical facts and the published clear-sky formulas
// (test/vectors/profiles/solar-facts.json), and the shapes that follow for a PV system.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sunPosition, sunTimes, sunSteps, clearSkyGhi, erbsDiffuseFraction, planeOfArray, extraterrestrial } from '../../agent-sim/profiles/index.js';

const facts = JSON.parse(readFileSync(new URL('../vectors/profiles/solar-facts.json', import.meta.url), 'utf8'));
const DEG = 180 / Math.PI;

test('declination at solstices and equinoxes', () => {
  for (const c of facts.declination.cases) {
    const got = sunPosition(Date.parse(c.utc), 0, 0).decl * DEG;
    assert.ok(Math.abs(got - c.deg) <= facts.declination.toleranceDeg, `${c.description}: ${got.toFixed(3)} vs ${c.deg}`);
  }
});

test('equation of time at its extremes and zero crossing', () => {
  for (const c of facts.equationOfTime.cases) {
    const got = sunPosition(Date.parse(c.utc), 0, 0).eotMin;
    assert.ok(Math.abs(got - c.min) <= facts.equationOfTime.toleranceMin, `${c.description}: ${got.toFixed(2)} vs ${c.min}`);
  }
});

test('elevation at solar noon (both hemispheres) and the time of solar noon', () => {
  for (const c of facts.noonElevation.cases) {
    const noon = sunTimes(Date.parse(c.date + 'T12:00:00Z'), c.lat, c.lon).noon;
    const got = sunPosition(noon, c.lat, c.lon).elevationDeg;
    assert.ok(Math.abs(got - c.deg) <= facts.noonElevation.toleranceDeg, `${c.description}: ${got.toFixed(2)} vs ${c.deg}`);
    // Noon is the highest point of the day: a minute either side is lower.
    assert.ok(sunPosition(noon - 60000, c.lat, c.lon).elevationDeg < got && sunPosition(noon + 60000, c.lat, c.lon).elevationDeg < got);
  }
  for (const c of facts.solarNoon.cases) {
    const got = sunTimes(Date.parse(c.date + 'T12:00:00Z'), 0, c.lon).noon;
    assert.ok(Math.abs(got - Date.parse(c.utc)) <= facts.solarNoon.toleranceMin * 60000, `${c.description}: ${new Date(got).toISOString()}`);
  }
});

test('day length at the equator; polar night has no sunrise', () => {
  for (const c of facts.dayLength.cases) {
    const st = sunTimes(Date.parse(c.date + 'T12:00:00Z'), c.lat, c.lon);
    if (c.minutes === null) {
      assert.ok(isNaN(st.rise) && isNaN(st.set), c.description);
      assert.ok(sunPosition(st.noon, c.lat, c.lon).elevationDeg < 0, c.description + ': below the horizon at noon');
    } else {
      const got = (st.set - st.rise) / 60000;
      assert.ok(Math.abs(got - c.minutes) <= c.toleranceMin, `${c.description}: ${got.toFixed(1)} min`);
      // At sunrise the sun's centre is 0.833 deg below the geometric horizon.
      assert.ok(Math.abs(sunPosition(st.rise, c.lat, c.lon).elevationDeg + 0.833) < 0.05);
    }
  }
});

test('Haurwitz clear sky and the Erbs diffuse fraction as published', () => {
  for (const c of facts.haurwitz.cases) assert.ok(Math.abs(clearSkyGhi(c.cosZ) - c.ghi) <= facts.haurwitz.toleranceWm2, c.description);
  for (const c of facts.erbs.cases) assert.ok(Math.abs(erbsDiffuseFraction(c.kt) - c.fd) <= facts.erbs.tolerance, c.description);
  // The branches meet (within the rounding of the published coefficients).
  assert.ok(Math.abs(erbsDiffuseFraction(0.22) - erbsDiffuseFraction(0.2200001)) < 0.002);
  assert.ok(Math.abs(erbsDiffuseFraction(0.8) - erbsDiffuseFraction(0.8000001)) < 0.01);
});

test('sunSteps (interpolated declination) agrees with sunPosition within 0.05 deg', () => {
  const start = Date.UTC(2024, 2, 20, 23);
  const s = sunSteps(start, 1440, 60000, 52.09, 5.12);
  for (let m = 0; m < 1440; m += 37) {
    const p = sunPosition(start + m * 60000 + 30000, 52.09, 5.12);
    assert.ok(Math.abs(Math.asin(s.cosZ[m]) - Math.asin(p.cosZ)) * DEG < 0.05, 'minute ' + m);
    if (p.elevationDeg > 1) assert.ok(Math.abs(s.azimuthDeg[m] - p.azimuthDeg) < 0.1, 'azimuth at minute ' + m);
  }
});

test('plane of array: a south panel gains in winter, loses nothing to a sun behind it, and equals GHI when flat', () => {
  const t = Date.UTC(2024, 11, 21, 11, 40);
  const sun = sunPosition(t, 52.09, 5.12);
  const etr = extraterrestrial(t);
  const ghi = clearSkyGhi(sun.cosZ);
  assert.ok(Math.abs(planeOfArray(ghi, sun.cosZ, sun.azimuthDeg, etr, { tiltDeg: 0, azimuthDeg: 180 }) - ghi) < 1e-9);
  assert.ok(planeOfArray(ghi, sun.cosZ, sun.azimuthDeg, etr, { tiltDeg: 35, azimuthDeg: 180 }) > 1.5 * ghi, 'low winter sun on a tilted panel');
  const north = planeOfArray(ghi, sun.cosZ, sun.azimuthDeg, etr, { tiltDeg: 35, azimuthDeg: 0 });
  assert.ok(north < 0.5 * ghi && north > 0, 'a north panel sees diffuse light only');
  assert.equal(planeOfArray(ghi, -0.1, 180, etr, { tiltDeg: 35, azimuthDeg: 180 }), 0);
});
