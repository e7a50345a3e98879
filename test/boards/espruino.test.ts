// board.ts runs on the device (a config arriving over MQTT is checked there before any port is
// opened): its ES5 output passes the Espruino gate, and on the real interpreter (ESPRUINO set)
// it gives byte-identical answers to Node for the board files, broken boards and device configs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { checkSource, formatFinding } from '../../scripts/espruino-check.mjs';
import { checkBoard, checkDeviceConfig, resolveDeviceConfig, validateBoard } from '../../firmware/espruino/board.js';
import { runEspruino, skipReason } from '../harness/espruino-real.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** One TypeScript module as ES5 in a function scope, returning the named exports. */
function es5Module(rel: string, exportsUsed: string[]): string {
  const src = readFileSync(join(ROOT, rel), 'utf8');
  const out = ts.transpileModule(src, {
    compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.ES2015, noEmitHelpers: true, removeComments: true },
  }).outputText;
  const body = out
    .split('\n')
    .filter((l) => !/^import\s/.test(l) && !/^export \{\};?$/.test(l))
    .map((l) => l.replace(/^export (function|var) /, '$1 '))
    .join('\n');
  assert.ok(!/\bexport\b/.test(body), rel + ': an export form this harness does not strip');
  return '(function () {\n' + body + '\nreturn { ' + exportsUsed.map((n) => n + ': ' + n).join(', ') + ' };\n})()';
}

const BOARD_EXPORTS = ['validateBoard', 'checkBoard', 'checkDeviceConfig', 'resolveDeviceConfig'];
const boardCode = () => es5Module('firmware/espruino/board.ts', BOARD_EXPORTS);

test('board.ts compiled to ES5 passes the Espruino gate', () => {
  const code = 'var M = ' + boardCode() + ';';
  const findings = (checkSource as (c: string, f: string, o: object) => { construct: string }[])(code, 'board.js', { allowGlobals: ['err', 'nearest'] });
  assert.deepEqual(findings.map((f) => formatFinding(f as never)), []);
});

const IDS = ['esp32-devkitc', 'lolin-d1-mini-esp32', 'esp32-c3-supermini', 'esp32-s3-devkitc-1', 'm5stack-atom-lite'];
const boardsJson: Record<string, unknown> = {};
for (const id of IDS) boardsJson[id] = JSON.parse(readFileSync(join(ROOT, 'boards', id + '.json'), 'utf8'));

function broken(): unknown[] {
  const a = structuredClone(boardsJson['esp32-devkitc']) as any;
  a.roles.oneWire.pin = 'D6';
  a.rngRegister = '0x600260B0';
  const b = structuredClone(boardsJson['m5stack-atom-lite']) as any;
  b.roles.p1.port = 'Serial3';
  b.chip = 'esp32c3';
  const c = structuredClone(boardsJson['esp32-c3-supermini']) as any;
  c.roles.meterUart.rxd = 'D5';
  delete c.gpio;
  return [a, b, c, null, []];
}

const CONFIGS: [string, unknown][] = [
  ['esp32-devkitc', { sources: [{ id: 'a', type: 's0', pin: 'D6' }, { id: 'b', type: 's0', pin: 'D34' }, { id: 'c', type: 'modbus', port: '@meterUart' }, { id: 'd', type: 'dsmr', port: '@p1' }, { id: 'e', type: 'modbus', port: 'Serial2', tx: 'D35', rx: 'D16' }, { id: 'f', type: 's0', pin: '@s0[0]' }, { id: 'g', type: 's0', pin: 'D15' }, { id: 'h', type: 'sht31' }] }],
  ['esp32-c3-supermini', { sources: [{ id: 'x', type: 'dsmr', port: 'Serial3' }, { id: 'h', type: 'sht31' }, { id: 'm', type: 'modbus', port: '@meterUart' }, { id: 'p', type: 'dsmr', port: '@p1' }, { id: 's', type: 's0', pin: '@s0[7]' }, { id: 'q', type: 's0', pin: '@metreUart.rx' }] }],
  ['esp32-s3-devkitc-1', { sources: [{ id: 'a', type: 's0', pin: 'D7' }, { id: 'b', type: 'sht31', bus: 'I2C2' }, { id: 'c', type: 'ds18b20', pin: '@oneWire' }, { id: 'd', type: 'ds18b20', pin: 'D14' }] }],
  ['m5stack-atom-lite', [{ id: 'p', type: 'dsmr', port: 'Serial3', rx: 'D33' }, { id: 'l', type: 's0', pin: '@statusLed' }, { id: 't', type: 'sht31', bus: '@i2c' }]],
  ['lolin-d1-mini-esp32', { sources: [{ id: 'a', type: 's0', pin: '@s0[0]' }, { id: 'm', type: 'modbus', port: '@meterUart', rx: 'D36' }] }],
];

function answers(m: { validateBoard: (o: unknown) => unknown; checkBoard: (o: unknown) => string[]; checkDeviceConfig: (b: unknown, c: unknown) => string[]; resolveDeviceConfig: (b: unknown, c: unknown) => unknown }, boards: Record<string, unknown>, bad: unknown[], configs: [string, unknown][]) {
  const out: unknown[] = [];
  for (const id in boards) out.push(m.checkBoard(boards[id]));
  for (let i = 0; i < bad.length; i++) {
    out.push(m.checkBoard(bad[i]));
    try {
      m.validateBoard(bad[i]);
      out.push('no throw');
    } catch (e) {
      out.push([(e as { code: string }).code, (e as Error).message]);
    }
  }
  for (let i = 0; i < configs.length; i++) {
    const b = m.validateBoard(boards[configs[i][0]]);
    out.push(m.checkDeviceConfig(b, configs[i][1]));
    out.push(m.resolveDeviceConfig(b, configs[i][1]));
  }
  return out;
}

test('on the real Espruino interpreter: the same answers as Node', { skip: skipReason() }, async () => {
  const node = answers({ validateBoard, checkBoard, checkDeviceConfig, resolveDeviceConfig } as never, boardsJson, broken(), CONFIGS);
  assert.ok(JSON.stringify(node).includes('is reserved on esp32-devkitc'), 'the cases exercise rejections');
  const script = [
    'var __e = ' + es5Module('firmware/core/util/errors.ts', ['err']) + ';',
    'var err = __e.err;',
    'var __s = ' + es5Module('firmware/core/config/schema.ts', ['nearest']) + ';',
    'var nearest = __s.nearest;',
    'var M = ' + boardCode() + ';',
    'var answers = ' + answers.toString() + ';',
    'var out = answers(M, ' + JSON.stringify(boardsJson) + ', ' + JSON.stringify(broken()) + ', ' + JSON.stringify(CONFIGS) + ');',
    'print("RESULT " + JSON.stringify(out));',
  ].join('\n');
  const r = await runEspruino(script, { timeoutMs: 60_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, 'no result; exit ' + r.code + '\n' + r.stdout.slice(0, 2000) + r.stderr.slice(0, 2000));
  assert.deepEqual(JSON.parse(line.slice(7)), JSON.parse(JSON.stringify(node)));
});
