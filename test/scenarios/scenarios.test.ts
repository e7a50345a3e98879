// The scenario suite: every test/scenarios/*.json is run as CI would run it (`agent-sim scenario
// <file>`) and must pass its expectations; a scenario whose broker is missing (Mosquitto) is
// skipped with the reason. Then what the runner promises beyond one run: the same seed gives the
// same readings, batches and fault schedule; another seed does not; shards of a fleet add up to
// the whole fleet; a failed expectation fails the run and names what failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario, runScenarioFile, formatReport, type ScenarioReport } from '../../agent-sim/scenario/runner.js';
import { validateScenario } from '../../agent-sim/scenario/schema.js';

const DIR = new URL('.', import.meta.url).pathname;
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

function summary(r: ScenarioReport): string {
  return (
    `${r.devices} devices, ${(r.time.simulatedMs / 3_600_000).toFixed(1)} h ${r.time.kind} in ${(r.time.realMs / 1000).toFixed(1)} s; ` +
    `readings ${r.readings.produced} (verified ${r.readings.verified}, reported dropped ${r.readings.droppedReported}, lost at cuts ${r.readings.lostAtPowerCut}, refused revoked ${r.readings.rejectedRevoked}); ` +
    `batches verified ${r.batches.verified}, duplicates ${r.verifier.duplicates}, rejected ${JSON.stringify(r.verifier.rejected)}, reconnects ${r.fleet.reconnects}, cuts ${r.fleet.powerCuts}; peak RSS ${r.peakRssMb} MB`
  );
}

for (const f of files) {
  test('scenario ' + f, async (t) => {
    const r = await runScenarioFile(join(DIR, f));
    if (r.skipped) return t.skip(r.skipped);
    t.diagnostic(summary(r));
    assert.ok(r.ok, formatReport(r));
    assert.equal(r.readings.unaccounted, 0);
    assert.equal(r.failures.filter((x) => x.kind === 'unaccounted' || x.kind === 'content').length, 0);
  });
}

/** Small enough to run several times: faults whose effect does not depend on I/O timing. */
const SMALL = {
  name: 'small',
  duration: '3h',
  profiles: { default: { interval: '5m', batch: 8, batchAge: '30m', keepAlive: '10m' } },
  fleet: [{ count: 6 }],
  faults: [
    { type: 'clock-jump', devices: { random: 2 }, at: '1h', by: '-1h' },
    { type: 'power-loss', devices: { random: 2 }, at: '30m', for: '2h', count: 2, off: '1m', torn: false },
  ],
  expect: { minPowerCuts: 4 },
};

test('same seed, same readings, batches and fault schedule; another seed, other readings', async () => {
  const a = await runScenario(validateScenario(SMALL));
  const b = await runScenario(validateScenario(SMALL));
  const c = await runScenario(validateScenario({ ...SMALL, seed: 99 }));
  for (const r of [a, b, c]) assert.ok(r.ok, formatReport(r));
  assert.equal(a.sealedDigest, b.sealedDigest, 'every sealed batch identical');
  assert.deepEqual(a.timeline, b.timeline, 'the same faults at the same times');
  assert.deepEqual(a.readings, b.readings);
  assert.notEqual(a.sealedDigest, c.sealedDigest);
  assert.ok(a.readings.lostAtPowerCut > 0, 'the cuts lost readings in RAM, the same ones in both runs');
});

test('shards add up to the whole fleet: same devices, same readings, same batches', async () => {
  const sc = validateScenario({ ...SMALL, fleet: [{ count: 5 }], faults: [], expect: {} });
  const whole = await runScenario(sc);
  const parts = [await runScenario(sc, { shard: { i: 0, n: 2 } }), await runScenario(sc, { shard: { i: 1, n: 2 } })];
  assert.deepEqual(parts.map((p) => p.devices), [2, 3]);
  for (const r of [whole, ...parts]) assert.ok(r.ok, formatReport(r));
  for (const k of ['produced', 'verified'] as const) assert.equal(parts[0].readings[k] + parts[1].readings[k], whole.readings[k], k);
  assert.equal(parts[0].batches.sealed + parts[1].batches.sealed, whole.batches.sealed);
});

test('Mosquitto missing: a scenario that asks for it is skipped with the reason, or runs on aedes with a fallback', async () => {
  const saved = process.env.MOSQUITTO_BIN;
  process.env.MOSQUITTO_BIN = '';
  try {
    const sc = { ...SMALL, duration: '30m', faults: [], expect: {}, broker: { kind: 'mosquitto' } };
    const skipped = await runScenario(validateScenario(sc));
    assert.equal(skipped.ok, true);
    assert.match(skipped.skipped ?? '', /^mosquitto not found/);
    assert.equal(formatReport(skipped).split('\n')[0], 'SKIP small: ' + skipped.skipped);
    const fell = await runScenario(validateScenario({ ...sc, broker: { kind: 'mosquitto', fallback: 'aedes' } }));
    assert.equal(fell.skipped, undefined);
    assert.ok(fell.ok, formatReport(fell));
    assert.equal(fell.broker.kind, 'aedes');
    assert.match(fell.timeline[0], /mosquitto not found.*running on aedes instead/);
  } finally {
    if (saved === undefined) delete process.env.MOSQUITTO_BIN;
    else process.env.MOSQUITTO_BIN = saved;
  }
});

test('a failed expectation fails the run and says which, with the numbers', async () => {
  const r = await runScenario(validateScenario({ ...SMALL, faults: [], expect: { minBatchesVerified: 1_000_000, minRejected: { 'bad-signature': 1 } } }));
  assert.equal(r.ok, false);
  const failed = r.expectations.filter((e) => !e.ok).map((e) => e.name + ': want ' + e.want + ', got ' + e.got);
  assert.equal(failed.length, 2, failed.join('\n'));
  assert.match(failed[0], /^batches verified: want >= 1000000, got \d+$/);
  assert.equal(failed[1], 'rejected: bad-signature: want >= 1, got 0');
  assert.match(formatReport(r), /^FAIL small\n[\s\S]*FAIL batches verified: want >= 1000000/);
});
