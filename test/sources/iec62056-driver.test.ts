// The iec62056 source end to end with the simulated meter on a SerialLink: the mode C handshake
// (request, identification, acknowledgement, baud switch, data message) round trip, every timeout,
// retries, and a missed baud switch showing up as garbage on the wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { iec62056Source } from '../../firmware/core/sources/iec62056/driver.js';
import { checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import { IecMeter, type IecMeterOptions, type IecFault } from '../../agent-sim/peripherals/iec62056-meter.js';
import type { Source } from '../../firmware/core/sources/source.js';
import { meterRig, type MeterRig } from './meter-host.js';

function setup(meterOpts: IecMeterOptions, cfg: { [k: string]: unknown } = {}) {
  const rig = meterRig('Serial1', 9);
  const meter = new IecMeter(rig.link.peripheral, { timers: rig.clock, ...meterOpts });
  const src = rig.create(iec62056Source, { port: 'Serial1', ...cfg });
  return { rig, meter, src };
}
const stats = (src: Source) => src.stats!();
const code = (e: Error | undefined) => (e as Error & { code?: string } | undefined)?.code;

function withRig(rig: MeterRig, fn: () => void): void {
  try {
    fn();
  } finally {
    rig.done();
  }
}

test('mode C round trip: 300 baud handshake, switch to 9600, readout values equal the meter\'s', () => {
  const { rig, meter, src } = setup({ z: '5' });
  withRig(rig, () => {
    for (let i = 0; i < 5; i++) {
      const t0 = rig.clock.t;
      const r = rig.read(src);
      assert.equal(r.e, undefined);
      assert.deepEqual(r.values, meter.intact()[i].values);
      // request -> ident after tr 250 -> ACK after 300 -> meter answers tr 250 after the ACK
      assert.ok(rig.clock.t - t0 >= 800 && rig.clock.t - t0 < 900, 'took ' + (rig.clock.t - t0) + ' ms');
      rig.clock.advance(60_000);
    }
    assert.equal(rig.link.garbled, 0, 'both ends switched together, there and back');
    assert.deepEqual(meter.counts, { requests: 5, acks: 5, ignored: 0 });
    const s = stats(src);
    assert.equal(s.readouts, 5);
    assert.equal(s.attempts, 5);
    assert.equal(s.failures + s.retries + s.bccErrors + s.dataTimeouts + s.identTimeouts, 0);
  });
});

for (const z of ['0', '3', '6']) {
  test('mode C baud character ' + z + ' is honoured by both ends', () => {
    const { rig, meter, src } = setup({ z });
    withRig(rig, () => {
      const r = rig.read(src);
      assert.equal(r.e, undefined);
      assert.deepEqual(r.values, meter.intact()[0].values);
      assert.equal(rig.link.garbled, 0);
    });
  });
}

test('a missed baud switch shows up: the meter sends at 9600 while the reader still listens at 300', () => {
  // The reader waits 1000 ms before switching; the meter answers 250 ms after the acknowledgement.
  const { rig, meter, src } = setup({ z: '5' }, { switchDelayMs: 1000, retries: 0 });
  withRig(rig, () => {
    const r = rig.read(src);
    assert.equal(code(r.e), 'E_IEC_TIMEOUT');
    assert.match(r.e!.message, /data message stalled/);
    assert.ok(rig.link.garbled > 300, 'garbled ' + rig.link.garbled);
    assert.equal(meter.sent.length, 1);
    assert.equal(stats(src).dataTimeouts, 1);
  });
});

test('faults: bad BCC, no baud switch, truncated message, mode B identification, silence -> retried, then read', () => {
  const cases: [IecFault, string][] = [
    ['bcc', 'bccErrors'],
    ['noSwitch', 'dataTimeouts'],
    ['truncate', 'dataTimeouts'],
    ['modeB', 'modeErrors'],
    ['silent', 'identTimeouts'],
  ];
  for (const [fault, counter] of cases) {
    const { rig, meter, src } = setup({});
    withRig(rig, () => {
      meter.forced.push(fault);
      const r = rig.read(src);
      assert.equal(r.e, undefined, fault);
      assert.deepEqual(r.values, meter.intact()[0].values, fault);
      const s = stats(src);
      if (fault === 'noSwitch') assert.ok(s.bccErrors + s.dataTimeouts === 1 && rig.link.garbled > 0, fault + ' ' + JSON.stringify(s));
      else assert.equal(s[counter], 1, fault + ' -> ' + counter + ' ' + JSON.stringify(s));
      assert.equal(s.retries, 1, fault);
      assert.equal(s.attempts, 2, fault);
      assert.equal(s.readouts, 1);
    });
  }
});

test('retries are bounded: every attempt failing answers one error after 1 + retries attempts', () => {
  const { rig, meter, src } = setup({}, { retries: 2, retryDelayMs: 1500, identTimeoutMs: 3000 });
  withRig(rig, () => {
    meter.forced.push('silent', 'silent', 'silent', 'silent');
    const t0 = rig.clock.t;
    const r = rig.read(src);
    assert.equal(code(r.e), 'E_IEC_TIMEOUT');
    assert.match(r.e!.message, /no identification within 3000 ms/);
    assert.equal(rig.clock.t - t0, 3 * 3000 + 2 * 1500);
    const s = stats(src);
    assert.deepEqual([s.attempts, s.retries, s.identTimeouts, s.failures, s.readouts], [3, 2, 3, 1, 0]);
    // The next read starts afresh and works.
    const ok = rig.read(src);
    assert.equal(ok.e, undefined);
  });
});

test('a slow data message: each pause within charTimeoutMs keeps it going; the whole one is bounded by dataTimeoutMs', () => {
  let x = setup({ pieces: 8, pieceGapMs: 1000 }, { charTimeoutMs: 1500, dataTimeoutMs: 10000, retries: 0 });
  withRig(x.rig, () => {
    const r = x.rig.read(x.src);
    assert.equal(r.e, undefined);
    assert.deepEqual(r.values, x.meter.intact()[0].values);
  });
  x = setup({ pieces: 8, pieceGapMs: 1000 }, { charTimeoutMs: 1500, dataTimeoutMs: 5000, retries: 0 });
  withRig(x.rig, () => {
    const r = x.rig.read(x.src);
    assert.equal(code(r.e), 'E_IEC_TIMEOUT');
    assert.match(r.e!.message, /data message not complete within 5000 ms/);
    assert.equal(stats(x.src).dataTimeouts, 1);
  });
  x = setup({ pieces: 4, pieceGapMs: 2000 }, { charTimeoutMs: 1500, dataTimeoutMs: 60000, retries: 0 });
  withRig(x.rig, () => {
    const r = x.rig.read(x.src);
    assert.equal(code(r.e), 'E_IEC_TIMEOUT');
    assert.match(r.e!.message, /stalled for 1500 ms/);
  });
});

test('device address: a meter answers only its own address', () => {
  let x = setup({ address: '71234567' }, { address: '71234567' });
  withRig(x.rig, () => {
    assert.equal(x.rig.read(x.src).e, undefined);
  });
  x = setup({ address: '71234567' }, { address: '99', retries: 0 });
  withRig(x.rig, () => {
    const r = x.rig.read(x.src);
    assert.equal(code(r.e), 'E_IEC_TIMEOUT');
    assert.equal(x.meter.counts.ignored, 1);
  });
});

test('random faults over 60 reads: each reading is one intact readout, never a damaged one', () => {
  const { rig, meter, src } = setup({ seed: 21, faults: { bcc: 0.1, noSwitch: 0.1, truncate: 0.1, modeB: 0.05, silent: 0.05 } }, { retries: 3 });
  withRig(rig, () => {
    let ok = 0;
    for (let i = 0; i < 60; i++) {
      const r = rig.read(src);
      if (r.e) {
        assert.match(code(r.e)!, /^E_IEC_(TIMEOUT|BCC|MODE|DECODE)$/);
        continue;
      }
      ok++;
      const j = JSON.stringify(r.values);
      assert.ok(meter.intact().some((m) => JSON.stringify(m.values) === j), 'reading from an intact readout');
      assert.ok(!meter.sent.some((m) => !m.intact && m.values.length && JSON.stringify(m.values) === j));
      rig.clock.advance(30_000);
    }
    const s = stats(src);
    assert.ok(ok >= 55, 'ok ' + ok);
    assert.equal(s.readouts, ok);
    assert.equal(s.readouts, meter.intact().length);
    assert.ok(s.retries > 5);
  });
});

test('one read at a time; stop() answers a running read and closes', () => {
  const { rig, src } = setup({});
  withRig(rig, () => {
    let first: Error | undefined | null = null;
    src.read((e) => (first = e));
    const second = rig.read(src, 0);
    assert.equal(code(second.e), 'E_BUSY');
    rig.clock.advance(100);
    src.stop!();
    assert.equal(code(first as unknown as Error), 'E_STOPPED');
    assert.equal(code(rig.read(src, 0).e), 'E_STOPPED');
    rig.clock.advance(5000);
  });
});

test('config: errors name the field; bounds at their limits', () => {
  const chk = (c: object) => checkSourceConfigs([iec62056Source], [{ id: 'd0', type: 'iec62056', port: 'Serial1', ...c }]);
  assert.deepEqual(chk({}), []);
  assert.deepEqual(chk({ address: '1'.repeat(32), retries: 5, maxReadoutBytes: 64, ackDelayMs: 1500, switchDelayMs: 0 }), []);
  assert.deepEqual(chk({ maxReadoutBytes: 32768, identTimeoutMs: 500, charTimeoutMs: 100 }), []);
  assert.deepEqual(chk({ address: 'meter_1' }), ['sources[0].address: digits, letters and spaces only (IEC 62056-21 clause 6.3.1), got "meter_1" [iec62056]']);
  assert.deepEqual(chk({ address: '1'.repeat(33) }), ['sources[0].address: at most 32 characters, got 33 [iec62056]']);
  assert.deepEqual(chk({ retries: 6 }), ['sources[0].retries: expected an integer in 0..5, got 6 [iec62056]']);
  assert.deepEqual(chk({ maxReadoutBytes: 63 }), ['sources[0].maxReadoutBytes: expected an integer in 64..32768, got 63 [iec62056]']);
  assert.deepEqual(chk({ ackDelayMs: 1501 }), ['sources[0].ackDelayMs: expected an integer in 0..1500, got 1501 [iec62056]']);
  assert.deepEqual(chk({ identTimoutMs: 10 }), ['sources[0].identTimoutMs: unknown option; did you mean "identTimeoutMs"? [iec62056]']);
  // The readout bound reaches the parser: a bound below the message size fails every attempt.
  const { rig, src } = setup({}, { maxReadoutBytes: 64, retries: 1 });
  withRig(rig, () => {
    const r = rig.read(src);
    assert.equal(code(r.e), 'E_IEC_OVERFLOW');
    assert.equal(stats(src).overflows, 2);
  });
  const rig2 = meterRig('Serial1');
  withRig(rig2, () => {
    assert.throws(() => iec62056Source.create({ ...rig2.host, io: {} }, 'd0', 1000, { port: 'Serial1', address: '' }), /source "d0" \(iec62056\): this host has no serial ports/);
  });
});
