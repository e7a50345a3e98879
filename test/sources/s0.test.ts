// S0 pulse meter: pulse filter vectors, bounce vs debounce, meter constant, power and its
// timeout, flash persistence with a bounded write rate, and never-backwards totals across
// reboots with power cuts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PulseFilter, powerFromInterval, s0Power, whPerPulse } from '../../firmware/core/sources/s0/decoder.js';
import { s0Source, type S0Source } from '../../firmware/core/sources/s0/driver.js';
import { S0_SCHEMA } from '../../firmware/core/sources/s0/schema.js';
import { PersistentTotals, TOTALS_KIND_S0, TOTALS_KIND_SEMTECH, encodeTotals, decodeTotals, totalsRecordSpan } from '../../firmware/core/sources/s0/totals.js';
import { createSources, checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import type { SourceValue } from '../../firmware/core/sources/source.js';
import { createSimIO } from '../../agent-sim/io/index.js';
import { S0Meter } from '../../agent-sim/peripherals/s0-meter.js';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { VirtualClock, virtualHost, rng } from './virtual-clock.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/s0.json', import.meta.url), 'utf8'));

function readNow(src: { read: S0Source['read'] }): SourceValue[] {
  let out: SourceValue[] | undefined;
  src.read((e, v) => {
    assert.equal(e, undefined);
    out = v;
  });
  assert.ok(out, 's0 answers synchronously');
  return out!;
}
function val(vs: SourceValue[], n: string): SourceValue | undefined {
  return vs.find((x) => x.n === n);
}

/** A device with one S0 input on D25 and a meter on it, on virtual time. */
function rig(o: { imp?: number; load?: (t: number) => number; bounce?: { pairs: number; withinMs: number }; cfg?: Record<string, unknown>; flash?: FlashStorage; vc?: VirtualClock; seed?: number; pulseMs?: number } = {}) {
  const vc = o.vc ?? new VirtualClock().install();
  const sim = createSimIO(vc.now);
  const pin = sim.pin('D25');
  const imp = o.imp ?? 1000;
  const meter = new S0Meter({ pin, impPerKWh: imp, load: o.load ?? (() => 3000), now: vc.now, timers: vc.timers, bounce: o.bounce, seed: o.seed ?? 1, pulseMs: o.pulseMs });
  const flash = o.flash ?? new FlashStorage({ capacity: 64 * 1024, seed: o.seed ?? 1 });
  const boot = () => {
    const { host } = virtualHost(vc, sim.io, flash);
    const [src] = createSources(host, [s0Source], [{ id: 'm1', type: 's0', pin: 'D25', impPerKWh: imp, debounceMs: 0, ...o.cfg }]);
    return src as S0Source;
  };
  return { vc, sim, pin, meter, flash, boot };
}

// ---------------------------------------------------------------------------------------------
// Decoder

test('filter vectors (IEC 62053-31 timing, ESPHome pulse filter cases): counts and pulse starts', () => {
  for (const v of V.filter) {
    const f = new PulseFilter(v.options, 0);
    const starts: number[] = [];
    let n = 0;
    for (const [level, t] of v.edges) if (f.edge(level === 1, t)) (n++, starts.push(f.last));
    assert.equal(n, v.pulses, v.description);
    assert.deepEqual(starts, v.starts, v.description);
    assert.equal(f.s.pulses, v.pulses);
  }
});

test('filter counters: short segments, unarmed segments, ghosts and disorder are each counted', () => {
  const o = { activeLow: true, minPulseMs: 20, minGapMs: 20 };
  const f = new PulseFilter(o, 0);
  f.edge(false, 1000); // active
  f.edge(true, 1005); // 5 ms: short
  f.edge(false, 1100);
  f.edge(true, 1140); // pulse
  f.edge(false, 1145); // gap 5 ms: not armed
  f.edge(true, 1185); // 40 ms active but unarmed
  f.edge(true, 1300); // ghost (already inactive)
  f.edge(false, 1200); // disorder: clamped to 1300
  // The ghost is a zero-length active segment: short as well.
  assert.deepEqual(f.s, { pulses: 1, short: 2, unarmed: 1, ghosts: 1, disorder: 1 });
});

test('power vectors: P = 3.6e9 / (imp * dt_ms); Wh per pulse for 1000, 2000, 800 imp/kWh', () => {
  for (const v of V.power) assert.ok(Math.abs(powerFromInterval(v.impPerKWh, v.dtMs) - v.watts) < 1e-9 * v.watts, v.description);
  assert.equal(whPerPulse(1000), 1);
  assert.equal(whPerPulse(2000), 0.5);
  assert.equal(whPerPulse(800), 1.25);
});

test('s0Power: unknown before two pulses, decays once the gap exceeds the last interval, 0 after the timeout', () => {
  const T = 300000;
  assert.equal(s0Power(1000, -1, -1, 0, 1000, T), undefined);
  assert.equal(s0Power(1000, 5000, -1, 0, 6000, T), undefined);
  assert.equal(s0Power(1000, -1, -1, 0, T + 1, T), 0, 'no pulse since boot for longer than the timeout');
  assert.equal(s0Power(1000, 7200, 3600, 0, 8000, T), 1000);
  // 7.2 s after the last pulse (interval was 3.6 s): at most one pulse in 7.2 s -> 500 W.
  assert.equal(s0Power(1000, 7200, 3600, 0, 14400, T), 500);
  assert.equal(s0Power(1000, 7200, 3600, 0, 7200 + T, T), 3600000 / (1000 * T / 1000));
  assert.equal(s0Power(1000, 7200, 3600, 0, 7200 + T + 1, T), 0);
});

// ---------------------------------------------------------------------------------------------
// Round trips over the simulated pin

test('round trip: 1 h at 3 kW with contact bounce; energy equals the meter register, power within 0.5%', () => {
  const r = rig({ bounce: { pairs: 2, withinMs: 4 } });
  try {
    r.meter.start();
    const src = r.boot();
    let last: SourceValue[] = [];
    for (let i = 0; i < 60; i++) {
      r.vc.advance(60000);
      last = readNow(src);
      assert.equal(val(last, 'e')!.s, r.meter.registerWh, 'after ' + (i + 1) + ' min');
    }
    assert.ok(Math.abs(r.meter.registerWh - 3000) <= 1, 'meter emitted ' + r.meter.registerWh);
    assert.ok(Math.abs((val(last, 'p')!.v as number) - 3000) <= 15, 'p ' + val(last, 'p')!.v);
    assert.equal(val(last, 'p')!.u, 'W');
    assert.equal(val(last, 'e')!.u, 'Wh');
    const st = src.stats();
    assert.equal(st.pulses, r.meter.emitted);
    assert.ok(st.short >= r.meter.emitted, 'bounce reached the filter and was rejected (' + st.short + ' short segments)');
    src.stop!();
  } finally {
    r.vc.uninstall();
  }
});

test('impulses per kWh: 2000 and 800 imp/kWh give the same energy for the same load', () => {
  for (const imp of [2000, 800, 1000]) {
    const r = rig({ imp, load: () => 1500 });
    try {
      r.meter.start();
      const src = r.boot();
      r.vc.advance(1200000);
      const vs = readNow(src);
      assert.equal(val(vs, 'e')!.s, r.meter.emitted * (1000 / imp));
      assert.ok(Math.abs((val(vs, 'e')!.s as number) - 500) <= 1000 / imp, imp + ' imp/kWh: ' + val(vs, 'e')!.s);
      assert.ok(Math.abs((val(vs, 'p')!.v as number) - 1500) <= 8, imp + ': p ' + val(vs, 'p')!.v);
      src.stop!();
    } finally {
      r.vc.uninstall();
    }
  }
});

test('bounce vs debounce: raw edges overcount; the watch debounce alone, or minPulseMs alone, count exactly', () => {
  const cases = [
    { cfg: { debounceMs: 0, minPulseMs: 1, minGapMs: 1 }, exact: false },
    { cfg: { debounceMs: 10, minPulseMs: 1, minGapMs: 1 }, exact: true },
    { cfg: { debounceMs: 0, minPulseMs: 20, minGapMs: 20 }, exact: true },
  ];
  for (const c of cases) {
    const r = rig({ load: () => 2000, bounce: { pairs: 3, withinMs: 4.5 }, cfg: c.cfg, seed: 5 });
    try {
      r.meter.start();
      const src = r.boot();
      r.vc.advance(600000);
      const n = src.stats().pulses;
      if (c.exact) assert.equal(n, r.meter.emitted, JSON.stringify(c.cfg));
      else assert.ok(n > r.meter.emitted * 1.1, 'bounce is real: ' + n + ' counted for ' + r.meter.emitted);
      src.stop!();
    } finally {
      r.vc.uninstall();
    }
  }
});

test('stale timeout: power 0 after timeoutMs without pulses, absent before two pulses, back when pulses resume', () => {
  // 1 kW until 61 s (last pulse at 57.6 s), nothing until 130 s, then 1 kW again.
  const r = rig({ load: (t) => (t < 61000 || t >= 130000 ? 1000 : 0), cfg: { timeoutMs: 60000 } });
  try {
    const src = r.boot();
    assert.equal(val(readNow(src), 'p'), undefined, 'no pulse yet, timeout not reached');
    r.meter.start();
    r.vc.advance(5000);
    assert.equal(src.stats().pulses, 1);
    assert.equal(val(readNow(src), 'p'), undefined, 'one pulse is not an interval');
    r.vc.advance(55000);
    assert.equal(val(readNow(src), 'p')!.v, 1000);
    r.vc.advance(6000);
    assert.equal(val(readNow(src), 'p')!.v, Math.round(3.6e9 / (1000 * (66000 - 57600))), 'decays: at most one pulse in the time since the last');
    r.vc.advance(51000); // 117 s: 59.4 s since the last pulse
    assert.ok((val(readNow(src), 'p')!.v as number) > 0);
    r.vc.advance(1000); // 118 s: 60.4 s
    assert.equal(val(readNow(src), 'p')!.v, 0);
    r.vc.advance(22000); // 140 s: pulses at 130.2 and 133.8 s
    assert.equal(val(readNow(src), 'p')!.v, 1000);
    src.stop!();
  } finally {
    r.vc.uninstall();
  }
});

test('a stuck line (shorted output) counts nothing and does not invent power', () => {
  const r = rig({ load: () => 3000, cfg: { timeoutMs: 60000 } });
  try {
    r.meter.start();
    const src = r.boot();
    r.vc.advance(30000);
    const before = src.stats().pulses;
    r.meter.setStuck(true);
    r.vc.advance(120000);
    assert.ok(src.stats().pulses - before <= 1, 'at most the pulse under way when it stuck');
    assert.equal(val(readNow(src), 'p')!.v, 0);
    src.stop!();
  } finally {
    r.vc.uninstall();
  }
});

test('EMI spikes shorter than minPulseMs are rejected and counted', () => {
  const r = rig({ load: () => 0 });
  try {
    r.meter.start();
    const src = r.boot();
    for (let i = 0; i < 50; i++) {
      r.vc.advance(1000);
      r.meter.spike(1 + (i % 15));
    }
    r.vc.advance(1000);
    assert.equal(src.stats().pulses, 0);
    assert.equal(src.stats().short, 50);
    assert.equal(val(readNow(src), 'e')!.s, 0);
    src.stop!();
  } finally {
    r.vc.uninstall();
  }
});

// ---------------------------------------------------------------------------------------------
// Persistence

test('write rate: 1 h at 3 kW writes at most once per saveMinIntervalMs; reads report what was persisted', () => {
  const r = rig({ load: () => 3000, cfg: { saveMinIntervalMs: 60000, saveMaxIntervalMs: 900000, saveDeltaWh: 10 } });
  try {
    r.meter.start();
    const src = r.boot();
    const w0 = r.flash.stats().writeCalls;
    let prev = -1;
    for (let i = 0; i < 120; i++) {
      r.vc.advance(30000); // reads every 30 s: half of them may write
      const e = val(readNow(src), 'e')!.s as number;
      assert.ok(e >= prev, 'never backwards');
      assert.ok(e <= src.liveWh());
      prev = e;
    }
    const writes = r.flash.stats().writeCalls - w0;
    assert.ok(writes <= 61 && writes >= 59, 'writes in 1 h: ' + writes);
    assert.ok(src.liveWh() - prev <= 3000 / 60 + 1, 'reported value lags the live one by at most one minute of energy');
    src.stop!();
  } finally {
    r.vc.uninstall();
  }
});

test('write rate without reads: the max interval still persists a slow change; the delta bound a fast one', () => {
  // 100 W at 1000 imp/kWh: one pulse per 36 s; delta never reached within 15 min.
  const r = rig({ load: () => 100, cfg: { saveMinIntervalMs: 60000, saveMaxIntervalMs: 300000, saveDeltaWh: 1000 } });
  try {
    r.meter.start();
    const src = r.boot();
    const w0 = r.flash.stats().writeCalls;
    r.vc.advance(3600000);
    const writes = r.flash.stats().writeCalls - w0;
    assert.ok(writes >= 11 && writes <= 13, 'one write per 5 min: ' + writes);
    assert.ok(src.stats().lagWh <= 100 * (300 / 3600) + 1, 'lag within the max interval: ' + src.stats().lagWh);
    src.stop!();
  } finally {
    r.vc.uninstall();
  }
  const r2 = rig({ load: () => 6000, cfg: { saveMinIntervalMs: 10000, saveMaxIntervalMs: 3600000, saveDeltaWh: 50 } });
  try {
    r2.meter.start();
    const src = r2.boot();
    const w0 = r2.flash.stats().writeCalls;
    r2.vc.advance(600000);
    // 6 kW: 50 Wh in 30 s -> a write each 30 s (the delta), never faster than each 10 s.
    const writes = r2.flash.stats().writeCalls - w0;
    assert.ok(writes >= 19 && writes <= 21, 'writes: ' + writes);
    src.stop!();
  } finally {
    r2.vc.uninstall();
  }
});

test('reboot: the total is restored and continues; stop() flushes; a planned restart loses nothing', () => {
  const r = rig({ load: () => 2000 });
  try {
    r.meter.start();
    let src = r.boot();
    r.vc.advance(200000);
    const live = src.liveWh();
    src.stop!();
    src = r.boot();
    assert.equal(src.stats().restored, 1);
    assert.equal(val(readNow(src), 'e')!.s, live);
    r.vc.advance(100000);
    src.stop!();
    src = r.boot();
    // Reboots take no virtual time here, so no pulse went unseen.
    assert.equal(val(readNow(src), 'e')!.s, r.meter.registerWh);
    src.stop!();
  } finally {
    r.vc.uninstall();
  }
});

test('power cuts at random write steps: reported energy never goes backwards, never exceeds the meter, loss within the stated bound', () => {
  const P = 3000;
  const cfg = { saveMinIntervalMs: 20000, saveMaxIntervalMs: 120000, saveDeltaWh: 5, fileBytes: 128 };
  const bound = (P * cfg.saveMinIntervalMs) / 3600000 + cfg.saveDeltaWh + 2; // + 2 pulses of timing slack
  const flash = new FlashStorage({ capacity: 8 * 1024, seed: 42 });
  const r = rig({ load: () => P, cfg, flash, seed: 42 });
  const rand = rng(7);
  let maxReported = 0;
  let cuts = 0;
  let worstLoss = 0;
  let offWh = 0;
  try {
    r.meter.start();
    for (let boot = 0; boot < 40; boot++) {
      const src = r.boot();
      const first = val(readNow(src), 'e')!.s as number;
      assert.ok(first >= maxReported, 'boot ' + boot + ': restored ' + first + ' < reported earlier ' + maxReported);
      maxReported = first;
      flash.cutPowerAfter(1 + Math.floor(rand() * 6));
      let live = src.liveWh();
      for (let k = 0; k < 400 && !flash.poweredOff; k++) {
        live = src.liveWh();
        r.vc.advance(5000);
        const e = val(readNow(src), 'e')!.s as number;
        assert.ok(e >= maxReported, 'never backwards within a boot');
        maxReported = e;
        assert.ok(e <= r.meter.registerWh - offWh + 1e-9, 'never more than the meter emitted while watched');
      }
      assert.ok(flash.poweredOff, 'the cut happened');
      cuts++;
      live = Math.max(live, src.liveWh());
      // The device is dead: its watch goes, nothing more is written; the meter keeps going.
      src.stop!();
      flash.reboot();
      const off = r.meter.registerWh;
      r.vc.advance(1000 + Math.floor(rand() * 3000)); // pulses while off are never seen
      offWh += r.meter.registerWh - off;
      const check = new PersistentTotals(flash, { file: 's0_m1', kind: TOTALS_KIND_S0, count: 2, fileBytes: cfg.fileBytes, minIntervalMs: 0, maxIntervalMs: 0, delta: 0 }, 0);
      const restored = check.live(0);
      assert.ok(restored >= maxReported, 'restored ' + restored + ' >= reported ' + maxReported);
      worstLoss = Math.max(worstLoss, live - restored);
      assert.ok(live - restored <= bound, 'loss ' + (live - restored) + ' Wh > bound ' + bound);
    }
  } finally {
    r.vc.uninstall();
  }
  assert.equal(cuts, 40);
  assert.ok(worstLoss > 0, 'some cut did lose counted energy (the bound is not vacuous): ' + worstLoss);
});

test('totals record: encode/decode, kind and version checked, corrupt values refused', () => {
  const t = new Float64Array([1234.5, 98765]);
  const b = encodeTotals(TOTALS_KIND_S0, t);
  assert.deepEqual(Array.from(decodeTotals(TOTALS_KIND_S0, b)!), [1234.5, 98765]);
  assert.equal(decodeTotals(TOTALS_KIND_SEMTECH, b), undefined);
  const bad = b.slice();
  bad[0] = 9;
  assert.equal(decodeTotals(TOTALS_KIND_S0, bad), undefined);
  assert.equal(decodeTotals(TOTALS_KIND_S0, encodeTotals(TOTALS_KIND_S0, new Float64Array([-1]))), undefined);
  assert.equal(decodeTotals(TOTALS_KIND_S0, encodeTotals(TOTALS_KIND_S0, new Float64Array([NaN]))), undefined);
  assert.equal(decodeTotals(TOTALS_KIND_S0, b.subarray(0, 10)), undefined);
  assert.equal(totalsRecordSpan(2), 32);
  const fs = new FlashStorage({ capacity: 8192 });
  const p = new PersistentTotals(fs, { file: 'x', kind: 1, count: 2, fileBytes: 64, minIntervalMs: 0, maxIntervalMs: 0, delta: 0 }, 0);
  assert.throws(() => p.raise(0, -1), /"value" expected a finite number >= 0/);
  p.raise(0, 5);
  assert.throws(() => p.raise(0, 4), /"value" expected a finite number >= 5, got 4/);
  assert.throws(() => p.add(2, 1), /"index" expected 0..1, got 2/);
  assert.throws(() => new PersistentTotals(fs, { file: 'x', kind: 1, count: 2, fileBytes: 63, minIntervalMs: 0, maxIntervalMs: 0, delta: 0 }, 0), /"fileBytes" expected 64..65535, got 63/);
  assert.throws(() => new PersistentTotals(fs, { file: 'a'.repeat(28), kind: 1, count: 1, fileBytes: 64, minIntervalMs: 0, maxIntervalMs: 0, delta: 0 }, 0), /"file" expected a Storage file name/);
  assert.throws(() => new PersistentTotals(fs, { file: 'x', kind: 1, count: 17, fileBytes: 4096, minIntervalMs: 0, maxIntervalMs: 0, delta: 0 }, 0), /"count" expected 1..16, got 17/);
  assert.throws(() => new PersistentTotals(fs, { file: 'x', kind: 1, count: 1, fileBytes: 64, minIntervalMs: 10, maxIntervalMs: 5, delta: 0 }, 0), /"maxIntervalMs" expected a finite number >= 10, got 5/);
});

test('totals: many writes rotate the two files; a full flash is counted, not thrown, and retried later', () => {
  const fs = new FlashStorage({ capacity: 8192 });
  const cfg = { file: 'rot', kind: 1, count: 2, fileBytes: 64, minIntervalMs: 0, maxIntervalMs: 0, delta: 0 };
  const p = new PersistentTotals(fs, cfg, 0);
  for (let i = 1; i <= 50; i++) {
    p.raise(0, i);
    assert.equal(p.tick(i), true);
  }
  assert.equal(new PersistentTotals(fs, cfg, 0).live(0), 50);
  const tiny = new FlashStorage({ capacity: 96 });
  const q = new PersistentTotals(tiny, { ...cfg, file: 'q' }, 0);
  q.raise(0, 1);
  assert.equal(q.tick(1), true);
  q.raise(0, 2);
  q.tick(2);
  q.raise(0, 3);
  q.tick(3); // the second file does not fit: counted
  assert.ok(q.stats().writeErrors >= 1);
  assert.ok(q.persisted(0) >= 1 && q.persisted(0) <= 3);
});

// ---------------------------------------------------------------------------------------------
// Config

test('schema: errors name the field; every bound at its limit', () => {
  const errs = checkSourceConfigs([s0Source], [
    { id: 'a', type: 's0' },
    { id: 'b', type: 's0', pin: 'D1', impPerKWh: 0, minPulseMs: 1001, pul: 'up' },
    { id: 'c', type: 's0', pin: 'D1', timeoutMs: 4200001, debounceMs: 26, pull: 'upp' },
  ]);
  assert.deepEqual(errs, [
    'sources[0].pin: required option missing [s0]',
    'sources[1].pul: unknown option; did you mean "pull"? [s0]',
    'sources[1].impPerKWh: expected an integer in 1..100000, got 0 [s0]',
    'sources[1].minPulseMs: expected an integer in 1..1000, got 1001 [s0]',
    'sources[2].pull: expected one of up, down, none, got "upp"; did you mean "up"? [s0]',
    'sources[2].debounceMs: expected an integer in 0..25, got 26 [s0]',
    'sources[2].timeoutMs: expected an integer in 1000..4200000, got 4200001 [s0]',
  ]);
  const limits = { id: 'L', type: 's0', pin: 'D1', impPerKWh: 100000, debounceMs: 25, minPulseMs: 1000, minGapMs: 1000, timeoutMs: 4200000, saveMinIntervalMs: 86400000, saveMaxIntervalMs: 86400000, saveDeltaWh: 1000000, fileBytes: 16384 };
  assert.deepEqual(checkSourceConfigs([s0Source], [limits, { id: 'l', type: 's0', pin: 'D1', impPerKWh: 1, debounceMs: 0, minPulseMs: 1, minGapMs: 1, timeoutMs: 1000, saveMinIntervalMs: 1000, saveMaxIntervalMs: 1000, saveDeltaWh: 0, fileBytes: 128 }]), []);
  const vc = new VirtualClock();
  const sim = createSimIO(vc.now);
  const { host } = virtualHost(vc, sim.io);
  const s = createSources(host, [s0Source], [limits, { id: 'l', type: 's0', pin: 'D2', fileBytes: 128 }]);
  assert.equal(s.length, 2);
  for (const x of s) x.stop!();
  assert.throws(() => createSources(host, [s0Source], [{ id: 'x', type: 's0', pin: 'D3', saveMinIntervalMs: 5000, saveMaxIntervalMs: 4000 }]), /saveMaxIntervalMs \(4000\) must not be below saveMinIntervalMs \(5000\)/);
  const { host: noIo } = virtualHost(vc, {});
  assert.throws(() => createSources(noIo, [s0Source], [{ id: 'x', type: 's0', pin: 'D3' }]), (e: Error & { code?: string }) => e.code === 'E_NO_IO' && /io\.watch/.test(e.message));
  assert.equal(S0_SCHEMA.impPerKWh.type, 'int');
});
