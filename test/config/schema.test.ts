import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validate, parseConfig, nearest, editDistance, type Schema } from '../../firmware/core/config/schema.js';
import { checkSourceConfigs, createSources } from '../../firmware/core/sources/registry.js';
import type { SourceComponent } from '../../firmware/core/sources/source.js';

const schema: Schema = {
  port: { type: 'string', maxLength: 16, required: true },
  baud: { type: 'int', min: 300, max: 115200, default: 9600 },
  scale: { type: 'number', min: -1e6, max: 1e6, default: 1 },
  parity: { type: 'string', maxLength: 4, oneOf: ['none', 'even', 'odd'], default: 'none' },
  de: { type: 'pin' },
  inverted: { type: 'bool', default: false },
  regs: { type: 'array', maxItems: 2, items: { type: 'object', fields: { addr: { type: 'int', min: 0, max: 65535, required: true } } } },
};

test('defaults are filled and valid input passes', () => {
  const r = validate(schema, { port: 'Serial2', de: 'D4', regs: [{ addr: 12 }] }, 'sources[0]');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.value, { port: 'Serial2', baud: 9600, scale: 1, parity: 'none', de: 'D4', inverted: false, regs: [{ addr: 12 }] });
});

test('every error names the path and the rule; typos get a suggestion', () => {
  const r = validate(schema, { buad: 9600, baud: 9601.5, parity: 'evn', de: '4x!', inverted: 'yes', regs: [{}, { addr: -1 }, { addr: 1 }] }, 'sources[1]');
  assert.deepEqual(r.errors, [
    'sources[1].buad: unknown option; did you mean "baud"?',
    'sources[1].port: required option missing',
    'sources[1].baud: expected an integer in 300..115200, got 9601.5',
    'sources[1].parity: expected one of none, even, odd, got "evn"; did you mean "even"?',
    'sources[1].de: expected a pin name such as "D22", got "4x!"',
    'sources[1].inverted: expected true or false, got "yes"',
    'sources[1].regs: at most 2 items, got 3',
  ]);
  assert.throws(() => parseConfig(schema, { port: 5 }, 'cfg'), /cfg\.port: expected a string, got 5/);
  assert.deepEqual(validate(schema, [], '').errors, ['config: expected an object, got an array']);
});

test('nearest only suggests plausible typos', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('buad', 'baud'), 1);
  assert.equal(nearest('intervalMS', ['intervalMs', 'id']), 'intervalMs');
  assert.equal(nearest('zzzzzz', ['intervalMs', 'id']), undefined);
});

const fake: SourceComponent = {
  type: 'fake',
  doc: 'a test source',
  schema: { level: { type: 'int', min: 0, max: 10, default: 3 } },
  defaultIntervalMs: 5000,
  create: (_host, id, intervalMs, config) => ({ id, intervalMs, read: (done) => done(undefined, [{ n: 'x', v: config.level as number }]) }),
};

test('source configs: unknown type with suggestion, duplicate ids, component rules tagged', () => {
  assert.deepEqual(checkSourceConfigs([fake], [{ id: 'a', type: 'fak' }, { id: 'a', type: 'fake', level: 11 }, { id: 'a', type: 'fake' }, { type: 'fake' }]), [
    'sources[0].type: unknown source type "fak"; did you mean "fake"? (known: fake)',
    'sources[1].level: expected an integer in 0..10, got 11 [fake]',
    'sources[2].id: "a" is used by another source',
    'sources[3].id: required option missing [fake]',
  ]);
  const [s] = createSources({} as any, [fake], [{ id: 'f1', type: 'fake' }]);
  assert.equal(s.intervalMs, 5000);
  s.read((e, v) => assert.deepEqual(v, [{ n: 'x', v: 3 }]));
  assert.throws(() => createSources({} as any, [fake], [{ id: 'f1', type: 'fake', intervalMs: 50 }]), /sources\[0\]\.intervalMs: expected an integer in 100\.\.86400000, got 50/);
});
