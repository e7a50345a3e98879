// The profile sources (agent-sim/sources/profiles.ts) on the models: the values each kind
// reports, the agent-side consequence of meter events in the data (e never backwards, sn/e_reg/ev
// on the read that saw the event), continuity across a source restart with its memory and from
// the memory format of before the models, and the boundary checks of createProfiles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourcesFor, energyMeterSource, netMeterSource, hotspotSource, DEVICE_KINDS, type PeripheralMemory } from '../../agent-sim/sources/profiles.js';
import { createProfiles, localDay, DAY_MS, HOUR_MS, MIN_MS } from '../../agent-sim/profiles/index.js';
import type { Source, SourceValue } from '../../firmware/core/session/agent.js';

function ram(init?: Record<string, number>): PeripheralMemory & { st?: Record<string, number> } {
  const m: PeripheralMemory & { st?: Record<string, number> } = {
    st: init,
    load: () => (m.st ? { ...m.st } : undefined),
    save(s) {
      m.st = { ...s };
    },
  };
  return m;
}

function read(s: Source): SourceValue[] {
  let out: SourceValue[] | undefined;
  s.read((e, v) => {
    assert.equal(e, undefined);
    out = v;
  });
  assert.ok(out, 'answers synchronously');
  return out as SourceValue[];
}

const val = (vs: SourceValue[], n: string) => vs.find((x) => x.n === n);

test('every kind builds its sources with the documented names; "pv" is a device kind', () => {
  assert.deepEqual(DEVICE_KINDS, ['energy', 'air', 'hotspot', 'pv']);
  let now = Date.UTC(2025, 5, 21, 11, 30);
  const clock = () => now;
  const names = (k: (typeof DEVICE_KINDS)[number]) => sourcesFor(k, 42, 10_000, clock, ram()).map((s) => [s.id, read(s).map((v) => v.n)]);
  assert.deepEqual(names('energy'), [['m0', ['e', 'p', 'u', 'sn', 'e_reg']]]);
  assert.deepEqual(names('air'), [['aq', ['pm1', 'pm25', 'pm10', 'temp', 'rh', 'pres']]]);
  assert.deepEqual(names('hotspot'), [['hs', ['rxok', 'rxnb', 'txnb', 'rssi', 'snr']]]);
  assert.deepEqual(names('pv'), [
    ['m0', ['e', 'e_exp', 'p', 'u', 'sn', 'e_reg', 'e_exp_reg']],
    ['pv', ['e', 'p']],
  ]);
  // Later reads of a meter carry only e, p, u.
  const [m0] = sourcesFor('energy', 42, 10_000, clock, ram());
  read(m0);
  now += 10_000;
  assert.deepEqual(read(m0).map((v) => v.n), ['e', 'p', 'u']);
});

test('pv kind: exports at a sunny noon (net power negative), imports at night; the inverter counts production', () => {
  // Find a clear June noon in the default region (weather seed 0).
  const P = createProfiles({ seed: 0 });
  let day = Date.UTC(2025, 5, 1);
  while (P.weather.regime(localDay(day, P.tzH)) !== 0) day += DAY_MS;
  let now = day + 11 * HOUR_MS + 40 * MIN_MS;
  const [m0, pv] = sourcesFor('pv', 7, 10_000, () => now, ram(), { pvKWp: 8 });
  const a = read(m0);
  const pa = read(pv);
  assert.ok((val(a, 'p')?.v as number) < -1000, 'exporting ' + val(a, 'p')?.v + ' W');
  assert.ok((val(pa, 'p')?.v as number) > 3000, 'producing ' + val(pa, 'p')?.v + ' W');
  now += HOUR_MS;
  const b = read(m0);
  const pb = read(pv);
  assert.ok((val(b, 'e_exp')?.s as number) - (val(a, 'e_exp')?.s as number) > 1000, 'export total grows');
  assert.ok((val(pb, 'e')?.s as number) - (val(pa, 'e')?.s as number) > 3000, 'production total grows');
  now = day + DAY_MS + 1 * HOUR_MS; // 02:00 local
  const c = read(m0);
  assert.ok((val(c, 'p')?.v as number) > 0, 'importing at night');
  assert.equal(val(read(pv), 'p')?.v, 0);
});

test('a meter swap in the data: e continues, e_reg restarts near 0 with a new sn, ev on that read only', () => {
  const t0 = Date.UTC(2025, 2, 3, 6);
  const swapAt = t0 + 5 * MIN_MS + 7_000;
  let now = t0;
  const mem = ram();
  const s = energyMeterSource({ id: 'm0', intervalMs: 10_000, seed: 3, now: () => now, memory: mem, startWh: 4_000_000, meter: { schedule: [{ at: swapAt, kind: 'swap' }] } });
  const first = read(s);
  assert.equal(val(first, 'e')?.s, 4_000_000, 'the first total is the register (startWh at the source epoch)');
  const sn0 = val(first, 'sn')?.vs;
  let prevE = 4_000_000;
  let pSum = 0;
  let events = 0;
  let after: SourceValue[] | undefined;
  for (now = t0 + 10_000; now <= t0 + 2 * HOUR_MS; now += 10_000) {
    const v = read(s);
    const e = val(v, 'e')?.s as number;
    assert.ok(e >= prevE, 'e never goes back');
    pSum += ((val(v, 'p')?.v as number) * 10_000) / HOUR_MS;
    prevE = e;
    if (val(v, 'ev')) {
      events++;
      after = v;
      assert.equal(val(v, 'ev')?.vs, 'swap');
      assert.ok(now >= swapAt && now < swapAt + 10_000, 'reported on the first read after the swap');
    }
  }
  assert.equal(events, 1);
  assert.notEqual(val(after!, 'sn')?.vs, sn0);
  assert.ok((val(after!, 'e_reg')?.v as number) < 100, 'the new register starts near 0');
  // Reported power integrates to the reported energy (left Riemann sum of 10 s samples; the swap loses < 1 read interval).
  const dE = prevE - 4_000_000;
  assert.ok(Math.abs(pSum - dE) < 0.03 * dE + 5, `sum p dt ${pSum.toFixed(1)} Wh vs e ${dE} Wh`);
});

test('a rollover in the data: e keeps counting across 999999.999 kWh', () => {
  let now = Date.UTC(2025, 0, 10, 17);
  const s = energyMeterSource({ id: 'm0', intervalMs: 60_000, seed: 8, now: () => now, startWh: 1e9 - 300 });
  let prev = read(s);
  let rolled = false;
  for (let i = 0; i < 6 * 60; i++) {
    now += 60_000;
    const v = read(s);
    assert.ok((val(v, 'e')?.s as number) >= (val(prev, 'e')?.s as number));
    if (val(v, 'ev')) {
      assert.equal(val(v, 'ev')?.vs, 'rollover');
      assert.ok((val(v, 'e_reg')?.v as number) < (val(prev, 'e')?.s as number) % 1e9 + 1000);
      assert.ok((val(v, 'e')?.s as number) > 1e9);
      rolled = true;
    }
    prev = v;
  }
  assert.ok(rolled, 'the register wrapped within 6 hours');
});

test('a restarted source continues from its memory: same epoch, totals and meter', () => {
  const t0 = Date.UTC(2025, 3, 1, 8);
  let now = t0;
  const mem = ram();
  const opts = { intervalMs: 10_000, seed: 12, now: () => now, memory: mem, pvKWp: 6, meter: { swapsPerYear: 24 } };
  const a = netMeterSource({ id: 'm0', ...opts });
  read(a);
  now += 3 * DAY_MS;
  const beforeRestart = read(a);
  now += 60_000;
  const b = netMeterSource({ id: 'm0', ...opts });
  const afterRestart = read(b);
  assert.equal(val(afterRestart, 'sn'), undefined, 'not a first reading');
  for (const n of ['e', 'e_exp']) assert.ok((val(afterRestart, n)?.s as number) >= (val(beforeRestart, n)?.s as number));
  // A source without memory in the same situation starts over (the epoch is its first read).
  const c = netMeterSource({ id: 'm0', ...opts, memory: undefined });
  assert.ok(val(read(c), 'sn'));
});

test('memory from before the models ({wh, at}; {rxok, txnb}) continues', () => {
  const now = Date.UTC(2025, 3, 1, 8);
  const e = read(energyMeterSource({ id: 'm0', intervalMs: 10_000, seed: 1, now: () => now, memory: ram({ wh: 3_210_000, at: now - 60_000 }) }));
  assert.equal(val(e, 'e')?.s, 3_210_000);
  const h = read(hotspotSource({ id: 'hs', intervalMs: 10_000, seed: 1, now: () => now, memory: ram({ rxok: 123_456, txnb: 789 }) }));
  assert.equal(val(h, 'rxok')?.s, 123_456);
  assert.equal(val(h, 'txnb')?.s, 789);
});

test('hotspot counters never go back and grow with time', () => {
  let now = Date.UTC(2025, 6, 1);
  const s = hotspotSource({ id: 'hs', intervalMs: 60_000, seed: 4, now: () => now, memory: ram() });
  let prev = read(s);
  for (let i = 0; i < 300; i++) {
    now += 60_000;
    const v = read(s);
    for (const n of ['rxok', 'rxnb', 'txnb']) assert.ok((val(v, n)?.s as number) >= (val(prev, n)?.s as number), n);
    assert.ok((val(v, 'rxnb')?.s as number) >= (val(v, 'rxok')?.s as number));
    prev = v;
  }
});

test('createProfiles and the models check their inputs at the boundary', () => {
  assert.throws(() => createProfiles({ seed: 1.5 }), { name: 'TypeError', message: '"seed" expected an integer, got 1.5' });
  assert.throws(() => createProfiles({ seed: '1' as unknown as number }), { name: 'TypeError', message: '"seed" expected an integer, got string' });
  assert.throws(() => createProfiles({ seed: 1, lat: 91 }), { name: 'RangeError', message: '"lat" expected -90..90, got 91' });
  assert.throws(() => createProfiles({ seed: 1, lon: -181 }), { name: 'RangeError', message: '"lon" expected -180..180, got -181' });
  assert.throws(() => createProfiles({ seed: 1, region: '' }), { name: 'TypeError', message: '"region" expected a non-empty string, got ""' });
  assert.throws(() => createProfiles(null as unknown as { seed: number }), { name: 'TypeError', message: '"options" expected an object, got null' });
  const P = createProfiles({ seed: 1 });
  assert.throws(() => P.pv(1, 0), { name: 'RangeError', message: '"kWp" expected 0.01..10000, got 0' });
  assert.throws(() => P.household(0.5), { name: 'TypeError', message: '"dev" expected an integer, got 0.5' });
  assert.throws(() => P.hotspot(NaN), { name: 'TypeError', message: '"dev" expected an integer, got NaN' });
});
