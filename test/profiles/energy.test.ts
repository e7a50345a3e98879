// Energy: every running total is the integral of the power the model reports (to float
// rounding); import - export = consumption - production; totals never decrease. Meters: raw
// registers go down only at the swaps, resets and rollovers that events() lists, and the
// reader's rule (vectors) turns them into totals that never go backwards, losing at most one
// read interval's energy per swap or reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createProfiles, accountReading, localDay, dayStart, DAY_MS, HOUR_MS, MIN_MS, METER, type AccountState, type MeterModel } from '../../agent-sim/profiles/index.js';

const P = createProfiles({ seed: 3, region: 'gelderland' });
const T0 = Date.UTC(2024, 5, 14, 17, 23, 11);

/** Midpoint-rule integral of f over [a, b] in steps of `step` ms, Wh. With 10 s steps it is exact for the models (1-minute slots, one ripple period per slot). */
function integrate(f: (t: number) => number, a: number, b: number, step = 10_000): number {
  let e = 0;
  for (let t = a; t < b; t += step) {
    const dt = Math.min(step, b - t);
    e += (f(t + dt / 2) * dt) / HOUR_MS;
  }
  return e;
}

test('household, PV, import and export: energy is the integral of power', () => {
  const a = Date.UTC(2024, 5, 14, 0, 0, 0);
  const b = a + 2 * DAY_MS;
  const h = P.household(1);
  const pv = P.pv(1, 5);
  const net = P.netMetering(1, 5);
  for (const [name, p, e] of [
    ['household', h.powerW, h.energyWh],
    ['pv', pv.powerW, pv.energyWh],
    ['import', net.importW, net.importWh],
    ['export', net.exportW, net.exportWh],
  ] as const) {
    const I = integrate(p, a, b);
    const E = e(b) - e(a);
    assert.ok(E > 0, name);
    assert.ok(Math.abs(I - E) < 1e-6 * E, `${name}: integral ${I} vs total ${E}`);
  }
  // Over an interval that starts and ends mid-minute (the ripple's partial integrals).
  const c = T0 + 17_500;
  const d = c + 5 * HOUR_MS + 33_333;
  assert.ok(Math.abs(integrate(h.powerW, c, d, 500) - (h.energyWh(d) - h.energyWh(c))) < 1e-3);
  // The ripple is there: a reading within a minute is not constant.
  const t = dayStart(localDay(T0, P.tzH), P.tzH) + 19 * HOUR_MS;
  assert.notEqual(h.powerW(t + 5_000), h.powerW(t + 35_000));
  // Day totals are the running total's daily steps.
  const D = localDay(T0, P.tzH);
  assert.ok(Math.abs(h.dayWh(D) - (h.energyWh(dayStart(D + 1, P.tzH)) - h.energyWh(dayStart(D, P.tzH)))) < 1e-6);
});

test('net metering: import - export = consumption - production, at every instant and over any interval', () => {
  const net = P.netMetering(2, 7);
  let sawExport = false;
  let sawImport = false;
  for (let t = Date.UTC(2024, 5, 1); t < Date.UTC(2024, 5, 8); t += 7 * MIN_MS + 1234) {
    const n = net.netW(t);
    assert.ok(Math.abs(net.importW(t) - net.exportW(t) - n) < 1e-9);
    assert.ok(net.importW(t) === 0 || net.exportW(t) === 0, 'never both at once');
    if (n < 0) sawExport = true;
    if (n > 0) sawImport = true;
  }
  assert.ok(sawExport && sawImport);
  const a = Date.UTC(2024, 4, 20, 3, 17);
  const b = Date.UTC(2024, 5, 19, 22, 41);
  const lhs = net.importWh(b) - net.importWh(a) - (net.exportWh(b) - net.exportWh(a));
  const rhs = net.household.energyWh(b) - net.household.energyWh(a) - (net.pv.energyWh(b) - net.pv.energyWh(a));
  assert.ok(Math.abs(lhs - rhs) < 1e-6 * Math.abs(rhs) + 1e-6, `${lhs} vs ${rhs}`);
});

test('totals never decrease (10-minute steps over a year)', () => {
  const h = P.household(3);
  const net = P.netMetering(3, 5);
  let prev = [-Infinity, -Infinity, -Infinity, -Infinity];
  for (let t = Date.UTC(2024, 0, 1); t < Date.UTC(2025, 0, 1); t += 10 * MIN_MS) {
    const now = [h.energyWh(t), net.importWh(t), net.exportWh(t), net.pv.energyWh(t)];
    for (let i = 0; i < 4; i++) assert.ok(now[i] >= prev[i] - 1e-9, `total ${i} went back at ${new Date(t).toISOString()}`);
    prev = now;
  }
});

/** Samples registers every `step`; every decrease must come with an event in that step, every event with its effect. */
function checkMeter(m: MeterModel, from: number, to: number, step: number): { swaps: number; resets: number; rollovers: number } {
  const events = m.events(from, to);
  let k = 0;
  let prev = m.registers(from);
  let prevSn = m.serial(from);
  for (let t = from + step; t <= to; t += step) {
    const r = m.registers(t);
    const sn = m.serial(t);
    const inStep = [];
    while (k < events.length && events[k].at <= t) inStep.push(events[k++]);
    const down = r.some((x, i) => x < prev[i]);
    if (down) assert.ok(inStep.length > 0, `registers went down without an event at ${new Date(t).toISOString()}`);
    if (sn !== prevSn) assert.ok(inStep.some((e) => e.kind === 'swap'), 'serial changes only at a swap');
    for (const e of inStep) {
      assert.ok(e.at > t - step && e.at <= t);
      if (e.kind === 'swap') {
        assert.notEqual(e.serial, prevSn, 'a swap brings a new serial');
        for (const x of e.after) assert.ok(x >= 0 && x < METER.NEW_METER_MAX_WH);
      } else if (e.kind === 'reset') {
        assert.equal(e.serial, prevSn);
        assert.deepEqual(e.after, e.after.map(() => 0));
      } else {
        const i = e.register as number;
        assert.ok(e.before[i] > m.wrapWh - 1000 && e.after[i] < 1000, `rollover ${e.before[i]} -> ${e.after[i]}`);
      }
    }
    prev = r;
    prevSn = sn;
  }
  assert.equal(k, events.length);
  const n = (kind: string) => events.filter((e) => e.kind === kind).length;
  return { swaps: n('swap'), resets: n('reset'), rollovers: n('rollover') };
}

test('meter registers: down only at listed swaps, resets and rollovers', () => {
  const from = P.epoch;
  const to = P.epoch + 400 * DAY_MS;
  const sched = [
    { at: P.epoch + 50 * DAY_MS + 123_456, kind: 'swap' as const },
    { at: P.epoch + 90 * DAY_MS + 7_000, kind: 'reset' as const },
  ];
  // A 5-digit register (1e8 Wh) starting 5 kWh below its wrap rolls over within days (and not again: the next wrap is 100 MWh away).
  const h = P.household(4, { meter: { wrapWh: 1e8, startWh: [1e8 - 5000], schedule: sched, swapsPerYear: 3, resetsPerYear: 2 } });
  const c = checkMeter(h.meter, from, to, 10 * MIN_MS);
  assert.ok(c.swaps >= 1 && c.resets >= 1 && c.rollovers === 1, JSON.stringify(c));
  // Scheduled events are where they were put.
  const ev = h.meter.events(from, to);
  for (const s of sched) assert.ok(ev.some((e) => e.at === s.at && e.kind === s.kind));
  // The rollover: the register was 5 kWh short of the wrap; it wraps when 5 kWh have been drawn.
  const roll = ev.find((e) => e.kind === 'rollover')!;
  assert.ok(Math.abs(h.energyWh(roll.at) - 5000) < 1, `rolled over after ${h.energyWh(roll.at)} Wh`);
  // Net meter, two registers; export register wraps too.
  const net = P.netMetering(4, 8, { meter: { startWh: [1_000_000, 1e9 - 20_000], swapsPerYear: 2 } });
  const cn = checkMeter(net.meter, P.epoch, P.epoch + 150 * DAY_MS, 15 * MIN_MS);
  assert.ok(cn.rollovers === 1, JSON.stringify(cn));
  // Without events the registers simply count: start + energy.
  const plain = P.household(5, { meter: { startWh: [777_000] } });
  const t = Date.UTC(2024, 7, 1, 12);
  assert.ok(Math.abs(plain.meter.registers(t)[0] - (777_000 + plain.energyWh(t))) < 1e-6);
  assert.deepEqual(plain.meter.events(P.epoch, t), []);
});

const vectors = JSON.parse(readFileSync(new URL('../vectors/profiles/meter-account.json', import.meta.url), 'utf8'));

test('reader rule: vectors', () => {
  for (const c of vectors.cases) {
    const r = accountReading(c.prev ?? undefined, c.t, c.serial, c.readings, c.rules);
    assert.deepEqual(r.state.totals, c.expect.totals, c.description);
    assert.deepEqual(r.credited, c.expect.credited, c.description);
    assert.equal(r.event ?? null, c.expect.event, c.description);
    assert.deepEqual(r.state.last, c.readings, c.description);
    assert.equal(r.state.serial, c.serial);
    assert.equal(r.state.at, c.t);
  }
  // The previous state is not modified.
  const prev: AccountState = { serial: 'A', last: [1], totals: [1], at: 0 };
  accountReading(prev, 1000, 'A', [2], { wrapWh: 1e9 });
  assert.deepEqual(prev, { serial: 'A', last: [1], totals: [1], at: 0 });
});

test('reader over 60 days of swaps, resets and a rollover: never backwards, loss <= one read interval per break', () => {
  const every = 60_000;
  const sched = [
    { at: P.epoch + 20 * DAY_MS + 999, kind: 'swap' as const },
    { at: P.epoch + 21 * DAY_MS + 30_001, kind: 'reset' as const },
  ];
  const h = P.household(6, { meter: { startWh: [1e9 - 3000], schedule: sched, swapsPerYear: 4, resetsPerYear: 3 } });
  const m = h.meter;
  const from = P.epoch;
  const to = P.epoch + 60 * DAY_MS;
  let st: AccountState | undefined;
  let prevTotal = -Infinity;
  const seen: Record<string, number> = {};
  for (let t = from; t <= to; t += every) {
    const r = accountReading(st, t, m.serial(t), m.registers(t).map(Math.floor), { wrapWh: m.wrapWh });
    st = r.state;
    if (r.event) seen[r.event] = (seen[r.event] ?? 0) + 1;
    assert.ok(st.totals[0] >= prevTotal, 'total went back');
    prevTotal = st.totals[0];
  }
  const ev = m.events(from, to);
  const breaks = ev.filter((e) => e.kind !== 'rollover');
  assert.equal(seen.swap ?? 0, breaks.filter((e) => e.kind === 'swap').length);
  assert.equal(seen.reset ?? 0, breaks.filter((e) => e.kind === 'reset').length);
  assert.equal(seen.rollover ?? 0, ev.filter((e) => e.kind === 'rollover').length);
  assert.equal(seen.jump, undefined);
  assert.ok((seen.swap ?? 0) >= 1 && (seen.reset ?? 0) >= 1 && seen.rollover === 1, JSON.stringify(seen));
  // Loss: what the site drew minus what the reader counted, against the energy of the read interval around each break.
  const drawn = Math.floor(m.registers(from)[0]) + h.energyWh(to) - h.energyWh(from);
  const counted = (st as AccountState).totals[0];
  let bound = 2; // display rounding at the ends
  for (const b of breaks) {
    const a = from + Math.floor((b.at - from) / every) * every;
    bound += h.energyWh(a + every) - h.energyWh(a) + 2;
  }
  const loss = drawn - counted;
  assert.ok(loss >= -2 && loss <= bound, `lost ${loss.toFixed(1)} Wh, bound ${bound.toFixed(1)} Wh over ${breaks.length} breaks`);
});
