// The dsmr source end to end: the simulated meter writes real telegrams on a SerialLink, the
// source reads them through the host's IO, and every reading equals the values of a telegram the
// meter sent intact (never one it damaged), with every fault counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dsmrSource } from '../../firmware/core/sources/dsmr/driver.js';
import { checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import { DsmrMeter, type DsmrMeterOptions } from '../../agent-sim/peripherals/dsmr-meter.js';
import type { Source, SourceValue } from '../../firmware/core/sources/source.js';
import { meterRig, type MeterRig } from './meter-host.js';

function setup(meterOpts: DsmrMeterOptions, cfg: { [k: string]: unknown }, pin = 'D4') {
  const rig = meterRig();
  const meter = new DsmrMeter(rig.link.peripheral, { timers: rig.clock, requestPin: rig.sim.pin(pin), ...meterOpts });
  const src = rig.create(dsmrSource, { port: 'Serial2', requestPin: pin, ...cfg });
  return { rig, meter, src };
}

function stats(src: Source): Record<string, number> {
  return src.stats!();
}

/** Each reading must be exactly the values of one telegram the meter sent intact. */
function assertFromIntact(meter: DsmrMeter, values: SourceValue[] | undefined): void {
  assert.ok(values, 'a reading');
  const j = JSON.stringify(values);
  assert.ok(
    meter.intact().some((t) => JSON.stringify(t.values) === j),
    'reading matches no intact telegram',
  );
}

function withRig<T>(rig: MeterRig, fn: () => T): T {
  try {
    return fn();
  } finally {
    rig.done();
  }
}

test('DSMR 5 round trip: readings equal the newest intact telegram; totals grow; phases add up', () => {
  const { rig, meter, src } = setup({ version: '5', stepMs: 60_000, solarW: 4000, startTime: Date.UTC(2024, 5, 15, 11, 0, 0) }, { intervalMs: 1000 });
  withRig(rig, () => {
    meter.start();
    assert.equal(rig.sim.pin('D4').level, 1, 'Data Request raised');
    // Reads land 5 ms after each telegram (the link delivers 1 ms after the meter writes).
    rig.clock.advance(5);
    let prev: SourceValue[] | undefined;
    for (let i = 0; i < 30; i++) {
      rig.clock.advance(1000);
      const r = rig.read(src);
      assert.equal(r.e, undefined);
      assertFromIntact(meter, r.values);
      // The newest intact telegram (the meter sent its latest one 0..1 ms before the read).
      assert.deepEqual(r.values, meter.intact()[meter.intact().length - 1].values);
      const v = (n: string) => {
        const q = r.values!.find((x) => x.n === n)!;
        return (q.v ?? q.s) as number;
      };
      const pImp = v('p_imp') - v('p_exp');
      const perPhase = [1, 2, 3].reduce((a, k) => a + v('p_imp_l' + k) - v('p_exp_l' + k), 0);
      assert.equal(pImp, perPhase, 'net power = sum of phases');
      if (prev) {
        for (const n of ['e_t1', 'e_t2', 'e_exp_t1', 'e_exp_t2', 'gas1']) {
          const was = prev.find((x) => x.n === n)!.s!;
          assert.ok(v(n) >= was, n + ' never decreases');
        }
      }
      prev = r.values;
    }
    const last = meter.intact()[meter.intact().length - 1].values;
    assert.ok(last.find((x) => x.n === 'e_exp_t2')!.s! > 23_456 || last.find((x) => x.n === 'e_exp_t1')!.s! > 12_345, 'solar exported');
    const s = stats(src);
    assert.equal(s.telegrams, meter.sent.length);
    assert.equal(s.crcErrors + s.restarts + s.decodeErrors + s.overflows, 0);
    src.stop!();
    assert.equal(rig.sim.pin('D4').level, 0, 'Data Request released on stop');
  });
});

for (const version of ['5', '4', '2.2'] as const) {
  test('DSMR ' + version + ' with every fault: no reading from a damaged telegram, every fault counted', () => {
    const { rig, meter, src } = setup(
      { version, periodMs: version === '5' ? 1000 : 10000, stepMs: 30_000, seed: 3, faults: { crc: 0.08, bitflip: 0.08, truncate: 0.08, interleave: 0.08, noise: 0.08 } },
      { version, verify: 'each', maxAgeMs: version === '5' ? 1500 : 11000 },
    );
    withRig(rig, () => {
      meter.start();
      rig.clock.advance(5);
      let readings = 0;
      let errors = 0;
      const period = meter.periodMs;
      for (let i = 0; i < 200; i++) {
        rig.clock.advance(period);
        const r = rig.read(src);
        if (r.e) {
          errors++;
          assert.match((r.e as Error & { code: string }).code, /^E_DSMR_(STALE|NO_DATA)$/);
          continue;
        }
        readings++;
        assertFromIntact(meter, r.values);
      }
      const s = stats(src);
      const by = (f: string) => meter.sent.filter((t) => t.fault === f).length;
      assert.equal(s.telegrams, meter.intact().length, 'every intact telegram accepted, no other');
      assert.ok(readings > 120, 'readings ' + readings);
      if (version === '2.2') {
        // No CRC: a damaged end marker ('!Z') is a bad end, a 'Z' in a field fails decoding.
        assert.equal(s.badEnds, by('crc'));
        assert.equal(s.decodeErrors, by('bitflip'));
      } else {
        assert.equal(s.crcErrors, by('crc') + by('bitflip'));
      }
      assert.equal(s.restarts, by('truncate') + by('interleave'));
      assert.ok(s.skippedBytes > 0 && by('noise') > 0);
      assert.equal(s.stale + s.noData, errors);
    });
  });
}

test('verify onRead (the default): frames are kept as bytes and only what a read needs is checked', () => {
  const { rig, meter, src } = setup(
    { version: '5', stepMs: 30_000, seed: 4, faults: { crc: 0.1, bitflip: 0.1, truncate: 0.1, interleave: 0.1, noise: 0.1 } },
    { maxAgeMs: 2500 },
  );
  withRig(rig, () => {
    meter.start();
    rig.clock.advance(5);
    let readings = 0;
    for (let i = 0; i < 100; i++) {
      rig.clock.advance(5000);
      const r = rig.read(src);
      if (r.e) {
        assert.match((r.e as Error & { code: string }).code, /^E_DSMR_(INVALID|STALE|NO_DATA)$/);
        continue;
      }
      readings++;
      assertFromIntact(meter, r.values);
      // The newest intact telegram, or the one before when the newest was damaged.
      const last = meter.sent[meter.sent.length - 1];
      if (last.intact && !last.fault) assert.deepEqual(r.values, last.values);
    }
    assert.ok(readings >= 85, 'readings ' + readings); // both kept telegrams damaged: ~5% of reads at these fault rates
    const s = stats(src);
    // 5 telegrams a read, at most 2 checked: far fewer checks than telegrams.
    assert.ok(s.telegrams + s.crcErrors + s.decodeErrors <= 2 * 100, JSON.stringify(s));
    assert.ok(s.frames > 400, 'frames ' + s.frames);
  });
});

test('verify onRead: a damaged newest telegram falls back to the one before; two damaged ones fail the read', () => {
  const { rig, meter, src } = setup({ version: '5' }, {});
  withRig(rig, () => {
    meter.start();
    rig.clock.advance(3005);
    meter.forced.push('bitflip');
    rig.clock.advance(1000);
    let r = rig.read(src);
    assert.equal(r.e, undefined);
    assert.deepEqual(r.values, meter.sent[meter.sent.length - 2].values, 'the telegram before the damaged one');
    assert.equal(stats(src).crcErrors, 1);
    meter.forced.push('crc', 'bitflip');
    rig.clock.advance(2000);
    r = rig.read(src);
    assert.equal((r.e as Error & { code: string }).code, 'E_DSMR_INVALID');
    rig.clock.advance(1000);
    r = rig.read(src);
    assert.deepEqual(r.values, meter.sent[meter.sent.length - 1].values);
  });
});

test('stale data is refused: a read answers with an error once the newest telegram is older than maxAgeMs', () => {
  const { rig, meter, src } = setup({ version: '5' }, { maxAgeMs: 2500 });
  withRig(rig, () => {
    let r = rig.read(src);
    assert.equal((r.e as Error & { code: string }).code, 'E_DSMR_NO_DATA');
    meter.start();
    rig.clock.advance(1005);
    assert.equal(rig.read(src).e, undefined);
    meter.stop();
    // The telegram written at 1000 arrived at 1001: still fresh at 3501, stale after.
    rig.clock.advance(2496);
    assert.equal(rig.read(src).e, undefined, 'still within maxAgeMs');
    rig.clock.advance(10);
    r = rig.read(src);
    assert.equal((r.e as Error & { code: string }).code, 'E_DSMR_STALE');
    assert.match(r.e!.message, /maxAgeMs 2500/);
    assert.equal(stats(src).stale, 1);
    assert.equal(stats(src).noData, 1);
  });
});

test('Data Request: the meter is silent while the request line is low; perRead raises it per read and lowers it after', () => {
  const { rig, meter, src } = setup({ version: '4' }, { version: '4', requestMode: 'perRead', readTimeoutMs: 12000 });
  withRig(rig, () => {
    meter.start();
    const pin = rig.sim.pin('D4');
    assert.equal(pin.level, 0);
    rig.clock.advance(35_000);
    assert.equal(meter.sent.length, 0, 'no telegram without Data Request');
    const t0 = rig.clock.t;
    const r = rig.read(src);
    assert.equal(r.e, undefined);
    assert.ok(rig.clock.t - t0 <= 10_001, 'answered with the first telegram after the request');
    assert.deepEqual(r.values, meter.intact()[0].values);
    assert.equal(pin.level, 0, 'released after the telegram');
    const levels = pin.history.map((h) => h.level);
    assert.deepEqual(levels, [0, 1, 0]);
    // A meter that never answers: timeout, counted, request released.
    meter.stop();
    const r2 = rig.read(src);
    assert.equal((r2.e as Error & { code: string }).code, 'E_DSMR_TIMEOUT');
    assert.equal(pin.level, 0);
    assert.equal(stats(src).timeouts, 1);
    // A second read while one waits is refused, not stacked.
    meter.start();
    let first: Error | undefined | null = null;
    src.read((e) => (first = e));
    const second = rig.read(src, 0);
    assert.equal((second.e as Error & { code: string }).code, 'E_BUSY');
    rig.clock.runUntil(() => first !== null, 20_000);
    assert.equal(first, undefined);
  });
});

test('a DSMR 2.2 meter read with DSMR 5 settings (115200 8N1 vs 9600 7E1) yields garbage on the wire and no reading', () => {
  const { rig, meter, src } = setup({ version: '2.2' }, { version: '5' });
  withRig(rig, () => {
    meter.start();
    rig.clock.advance(60_000);
    const r = rig.read(src);
    assert.equal((r.e as Error & { code: string }).code, 'E_DSMR_NO_DATA');
    assert.ok(rig.link.garbled > 1000);
    assert.equal(stats(src).telegrams, 0);
  });
});

test('a DSMR 2.2 meter: no CRC accepted with version 2.2; a total that falls between two telegrams is refused', () => {
  const { rig, meter, src } = setup({ version: '2.2', stepMs: 60_000 }, { version: '2.2' });
  withRig(rig, () => {
    meter.start();
    rig.clock.advance(20_005);
    let r = rig.read(src);
    assert.equal(r.e, undefined);
    assertFromIntact(meter, r.values);
    // The meter's register goes backwards (as a digit-for-digit corruption would look).
    meter.reg.imp1 -= 5000;
    meter.reg.imp2 -= 5000;
    rig.clock.advance(10_000);
    assert.equal(stats(src).nonMonotonic, 1);
    r = rig.read(src);
    assert.notDeepEqual(r.values, meter.sent[meter.sent.length - 1].values, 'the decreasing telegram was not used');
    rig.clock.advance(10_000);
    r = rig.read(src);
    assert.deepEqual(r.values, meter.sent[meter.sent.length - 1].values, 'the next consistent one is');
  });
});

test('config: schema errors name the field; bounds at their limits', () => {
  const ok = (c: object) => checkSourceConfigs([dsmrSource], [{ id: 'p1', type: 'dsmr', port: 'Serial2', ...c }]);
  assert.deepEqual(ok({}), []);
  assert.deepEqual(ok({ maxTelegramBytes: 64, maxAgeMs: 500, readTimeoutMs: 120000 }), []);
  assert.deepEqual(ok({ maxTelegramBytes: 8192 }), []);
  assert.deepEqual(ok({ maxTelegramBytes: 63 }), ['sources[0].maxTelegramBytes: expected an integer in 64..8192, got 63 [dsmr]']);
  assert.deepEqual(ok({ version: '4.2' }), ['sources[0].version: expected one of 2.2, 3, 4, 5, got "4.2"; did you mean "2.2"? [dsmr]']);
  assert.deepEqual(ok({ requestPn: 'D4' }), ['sources[0].requestPn: unknown option; did you mean "requestPin"? [dsmr]']);
  assert.deepEqual(ok({ framing: '8E1' }), ['sources[0].framing: expected one of 8N1, 7E1, got "8E1"; did you mean "8N1"? [dsmr]']);
  assert.deepEqual(checkSourceConfigs([dsmrSource], [{ id: 'p1', type: 'dsmr' }]), ['sources[0].port: required option missing [dsmr]']);
  // The telegram bound reaches the framer: a bound below the telegram size drops every telegram.
  const { rig, meter, src } = setup({ version: '5' }, { maxTelegramBytes: 64 });
  withRig(rig, () => {
    meter.start();
    rig.clock.advance(3500);
    assert.ok(stats(src).overflows >= 3);
    assert.equal(stats(src).telegrams, 0);
  });
  // A host without serial ports cannot run the source.
  const rig2 = meterRig();
  withRig(rig2, () => {
    assert.throws(() => dsmrSource.create({ ...rig2.host, io: {} }, 'p1', 1000, { port: 'Serial2', version: '5' }), /source "p1" \(dsmr\): this host has no serial ports/);
  });
});
