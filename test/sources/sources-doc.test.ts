// docs/sources.md shows a config and the errors a bad one gets: both must be what the code does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import { s0Source } from '../../firmware/core/sources/s0/driver.js';
import { s8Source } from '../../firmware/core/sources/s8/driver.js';
import { semtechSource } from '../../firmware/core/sources/semtech/driver.js';
import { deviceSource } from '../../firmware/core/sources/device/driver.js';
import type { SourceComponent } from '../../firmware/core/sources/source.js';

const DOC = readFileSync(new URL('../../docs/sources.md', import.meta.url), 'utf8');
const MINE = [s0Source, s8Source, semtechSource, deviceSource];
/** Stands in for components documented elsewhere (accepts any options). */
const other = (type: string): SourceComponent => ({ type, doc: '', schema: {}, defaultIntervalMs: 1000, create: () => ({ id: '', intervalMs: 1, read: () => {} }) });

test('the config example in docs/sources.md validates', () => {
  const block = DOC.slice(DOC.indexOf('```json', DOC.indexOf('## Configuring sources')) + 7);
  const cfg = JSON.parse(block.slice(0, block.indexOf('```')));
  const mine = cfg.sources.filter((s: { type: string }) => MINE.some((m) => m.type === s.type));
  assert.equal(mine.length, 4);
  assert.deepEqual(checkSourceConfigs(MINE, mine), []);
});

test('the validation errors shown in docs/sources.md are the ones the code writes', () => {
  const block = DOC.slice(DOC.indexOf('```text', DOC.indexOf('## Configuring sources')) + 7);
  const shown = block.slice(0, block.indexOf('```')).trim().split('\n').slice(1).map((l) => l.trim());
  const comps = [other('modbus'), other('dsmr'), ...MINE];
  const got = checkSourceConfigs(comps, [
    { id: 'm0', type: 'modbsu' },
    { id: 's0a', type: 's0', impPerKwh: 1000 },
    { id: 'co2', type: 's8', port: 'Serial2', timeoutMs: 5000 },
    { id: 's0a', type: 'device' },
  ]);
  const known = comps.map((c) => c.type).join(', ');
  assert.deepEqual(got, shown.map((l) => l.replace('(known: modbus, dsmr, ...)', '(known: ' + known + ')')));
});
