// Scenario files: every shipped one validates; a table of broken ones, each error naming the
// field and the rule (and the nearest valid name on a typo); durations; device selectors
// (seeded random picks identical on every run); shard ranges covering a fleet exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateScenario, selectDevices, parseDuration, formatDuration, ScenarioError } from '../../agent-sim/scenario/schema.js';
import { FAULTS } from '../../agent-sim/faults/index.js';
import { shardRange, parseShard } from '../../agent-sim/fleet.js';
import { prng } from '../../agent-sim/sources/profiles.js';

const DIR = new URL('.', import.meta.url).pathname;
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

test('every scenario in test/scenarios validates, and each fault type is used by one of them', () => {
  assert.ok(files.length >= 8, 'the suite has its scenarios');
  const used = new Set<string>();
  for (const f of files) {
    const sc = validateScenario(JSON.parse(readFileSync(join(DIR, f), 'utf8')), f);
    assert.equal(sc.name + '.json', f, 'file named after its scenario');
    for (const x of sc.faults) used.add(x.type);
  }
  assert.deepEqual([...used].sort(), Object.keys(FAULTS).sort());
});

test('the 10k-device bench scenario validates', () => {
  const sc = validateScenario(JSON.parse(readFileSync(join(DIR, 'bench', 'fleet-10k.json'), 'utf8')));
  assert.equal(sc.devices, 10_000);
});

const base = { name: 'x', duration: '1h', fleet: [{ count: 3 }] };

/** [what, scenario, errors expected (each a substring of one error line)] */
const BAD: [string, unknown, string[]][] = [
  ['not an object', 5, ['scenario: expected an object, got 5']],
  ['name and duration missing', { fleet: [{ count: 1 }] }, ['scenario.name: is required', 'scenario.duration: is required']],
  ['bad name', { ...base, name: 'two words' }, ['scenario.name: expected 1..64 of A-Z a-z 0-9 _ . -, got "two words"']],
  ['duration text', { ...base, duration: '5 minutes' }, ['scenario.duration: expected a duration (ms as a number, or "250ms"']],
  ['duration too short', { ...base, duration: 10 }, ['scenario.duration: expected a duration in 1s..30d, got 10']],
  ['unknown top-level field with a suggestion', { ...base, faultz: [] }, ['scenario.faultz: unknown field (did you mean "faults"?)']],
  ['empty fleet', { ...base, fleet: [] }, ['scenario.fleet: expected 1..100 items, got 0']],
  ['group count', { ...base, fleet: [{ count: 0 }] }, ['scenario.fleet[0].count: expected an integer in 1..1000000, got 0']],
  ['group typo', { ...base, fleet: [{ count: 1, intervall: '5m' }] }, ['scenario.fleet[0].intervall: unknown field (did you mean "interval"?)']],
  ['kind', { ...base, fleet: [{ count: 1, kinds: ['enrgy'] }] }, ['scenario.fleet[0].kinds[0]: expected one of', '(did you mean "energy"?)']],
  ['profile missing', { ...base, fleet: [{ count: 1, profile: 'fast' }] }, ['scenario.fleet[0].profile: no profile "fast" (profiles: default)']],
  ['profile field', { ...base, profiles: { p: { batch: 0 } } }, ['scenario.profiles.p.batch: expected an integer in 1..1024, got 0']],
  ['nested profile field', { ...base, profiles: { p: { reconnect: { max: 'soon' } } } }, ['scenario.profiles.p.reconnect.max: expected a duration']],
  ['broker kind', { ...base, broker: { kind: 'mosquito' } }, ['scenario.broker.kind: expected one of "aedes", "mosquitto", got "mosquito" (did you mean "mosquitto"?)']],
  ['fault without type', { ...base, faults: [{ at: '1m' }] }, ['scenario.faults[0].type: is required']],
  ['unknown fault', { ...base, faults: [{ type: 'partiton' }] }, ['scenario.faults[0].type: unknown fault "partiton" (did you mean "partition"?)']],
  ['fault field', { ...base, faults: [{ type: 'partition', link: 'a', for: 'ever' }], links: { a: { devices: 'all' } } }, ['scenario.faults[0].for: expected a duration']],
  ['fault unknown field', { ...base, faults: [{ type: 'replay', count: 3, cuont: 4 }] }, ['scenario.faults[0].cuont: unknown field (did you mean "count"?)']],
  ['fault required field', { ...base, faults: [{ type: 'replay' }] }, ['scenario.faults[0].count: is required']],
  ['fault link undeclared', { ...base, faults: [{ type: 'partition', link: 'cell', for: '1m' }] }, ['scenario.faults[0].link: no link "cell" (declare it under "links")']],
  ['fault link typo', { ...base, links: { cell: { devices: '0-1' } }, faults: [{ type: 'partition', link: 'cel', for: '1m' }] }, ['scenario.faults[0].link: no link "cel" (did you mean "cell"?)']],
  ['fault after the end', { ...base, faults: [{ type: 'replay', count: 1, at: '2h' }] }, ['scenario.faults[0].at: 7200000 ms is after the end of the scenario']],
  ['device out of range', { ...base, faults: [{ type: 'key-revoked', device: 3 }] }, ['scenario.faults[0].device: device 3 does not exist (the fleet has 3)']],
  ['selector out of range', { ...base, faults: [{ type: 'clock-jump', devices: '1-7', by: '1h' }] }, ['scenario.faults[0].devices: device 7 does not exist (the fleet has 3: 0-2)']],
  ['selector syntax', { ...base, faults: [{ type: 'clock-jump', devices: '7..9', by: '1h' }] }, ['scenario.faults[0].devices: expected "all", an index "7" or a range "0-49" (low-high), got "7..9"']],
  ['selector object', { ...base, faults: [{ type: 'clock-jump', devices: { randon: 2 }, by: '1h' }] }, ['scenario.faults[0].devices.randon: unknown field (did you mean "random"?)']],
  ['device on two links', { ...base, links: { a: { devices: '0-1' }, b: { devices: [1, 2] } } }, ['scenario.links.b.devices: device 1 is on link "a" already (one link per device)']],
  ['link name', { ...base, links: { 'a b': { devices: '0' } } }, ['scenario.links.a b: name expected letters, digits, _ or -']],
  ['expectation typo', { ...base, expect: { minBatchVerified: 3 } }, ['scenario.expect.minBatchVerified: unknown field (did you mean "minBatchesVerified"?)']],
  ['forged may not be allowed', { ...base, expect: { maxForgedAccepted: 1 } }, ['scenario.expect.maxForgedAccepted: expected an integer in 0..0, got 1']],
  ['slack above a timeout', { ...base, ioSlackMs: 40_000, profiles: { default: { pingTimeout: '30s' } } }, ['scenario.ioSlackMs: 40000 ms must stay below the ping and connect timeouts of fleet[0] (30000 ms)']],
  ['start in real time', { ...base, time: 'real', start: '2024-01-01T00:00:00Z' }, ['scenario.start: only for virtual time']],
  ['start format', { ...base, start: '2024-01-01' }, ['scenario.start: expected an ISO 8601 date-time with a zone']],
];

for (const [what, obj, want] of BAD) {
  test('invalid: ' + what, () => {
    let e: ScenarioError | undefined;
    try {
      validateScenario(obj, 'f.json');
    } catch (x) {
      e = x as ScenarioError;
    }
    assert.ok(e instanceof ScenarioError, 'refused');
    assert.equal(e!.code, 'E_SCENARIO');
    for (const w of want) assert.ok(e!.errors.some((line) => line.includes(w)), 'an error says ' + JSON.stringify(w) + '; got:\n' + e!.errors.join('\n'));
    assert.match(e!.message, /^f\.json: \d+ errors? in the scenario:/);
  });
}

test('all errors of a file are reported at once', () => {
  try {
    validateScenario({ name: 'a b', duration: 'x', fleet: [{ count: 1, batch: 0 }], expect: { nope: 1 } });
    assert.fail('refused');
  } catch (e) {
    assert.equal((e as ScenarioError).errors.length, 4, (e as ScenarioError).errors.join('\n'));
  }
});

test('defaults: a minimal scenario gets the default profile, broker, verifier and expectations', () => {
  const sc = validateScenario(base);
  assert.equal(sc.time, 'virtual');
  assert.equal(sc.devices, 3);
  assert.equal(sc.fleet[0].interval, 60_000);
  assert.equal(sc.fleet[0].stagger, 60_000, 'stagger defaults to the interval');
  assert.deepEqual(sc.fleet[0].reconnect, { min: 1000, max: 120_000, factor: 2 });
  assert.deepEqual(sc.broker, { kind: 'aedes', persistence: true });
  assert.equal(sc.expect.readingsAccounted, true);
  assert.equal(sc.expect.maxUnexplainedGaps, 0);
  assert.equal(sc.start, Date.parse('2024-06-01T00:00:00Z'));
});

test('a group overrides its profile field by field (nested objects merged)', () => {
  const sc = validateScenario({
    ...base,
    profiles: { p: { interval: '10m', clock: { offset: '1h', synced: false } } },
    fleet: [{ count: 2, profile: 'p', batch: 5, clock: { spread: '5m' } }, { count: 1 }],
  });
  const g = sc.fleet[0];
  assert.equal(g.interval, 600_000);
  assert.equal(g.batch, 5);
  assert.deepEqual(g.clock, { offset: 3_600_000, spread: 300_000, synced: false });
  assert.equal(sc.fleet[1].first, 2);
  assert.equal(sc.fleet[1].interval, 60_000);
});

test('durations', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('-3h'), -10_800_000);
  assert.equal(parseDuration(42), 42);
  for (const bad of ['', '5', '5 m', 'm5', '1h 2m', '1w', null, NaN]) assert.equal(parseDuration(bad), undefined, String(bad));
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(86_400_000 + 1500), '1d1s500ms');
});

test('device selectors: literals, ranges, lists; random picks seeded and within their pool', () => {
  const r = () => prng(7);
  assert.deepEqual(selectDevices('all', 4, r()), [0, 1, 2, 3]);
  assert.deepEqual(selectDevices('2-5', 10, r()), [2, 3, 4, 5]);
  assert.deepEqual(selectDevices([9, '0-1', 1], 10, r()), [0, 1, 9]);
  const a = selectDevices({ random: 5, from: '10-29' }, 100, r());
  assert.deepEqual(a, selectDevices({ random: 5, from: '10-29' }, 100, r()), 'same seed, same picks');
  assert.equal(a.length, 5);
  assert.ok(a.every((i) => i >= 10 && i <= 29));
  assert.notDeepEqual(a, selectDevices({ random: 5, from: '10-29' }, 100, prng(8)));
  assert.equal(selectDevices({ random: 50 }, 3, r()).length, 3, 'at most the pool');
});

test('shards cover a fleet exactly once, whatever the split', () => {
  for (const total of [1, 7, 200, 10_000])
    for (const n of [1, 2, 3, 7, 16]) {
      const seen = new Array(total).fill(0);
      for (let i = 0; i < n; i++) {
        const [lo, hi] = shardRange(total, i, n);
        for (let k = lo; k < hi; k++) seen[k]++;
      }
      assert.ok(seen.every((x) => x === 1), total + '/' + n);
    }
  assert.deepEqual(shardRange(10_000, 1, 4), [2500, 5000]);
  assert.deepEqual(parseShard('3/8'), { i: 3, n: 8 });
  for (const bad of ['3', '4/4', '-1/2', 'a/b', '1/0']) assert.throws(() => parseShard(bad), RangeError, bad);
});
