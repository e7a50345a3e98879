// The device app build (scripts/build-firmware.mjs --board, buildApp): app.js passes the Espruino gate with the platform's globals only,
// embeds the board (ASCII, without its bibliography) and ends by booting it; --components
// leaves the other sources out; bad boards and components fail before anything is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import vm from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSource } from '../../scripts/espruino-check.mjs';
import { APP_GLOBALS, buildApp } from '../../scripts/build-firmware.mjs';
import { ROOT, TEST_BOARD } from './rig.js';

const check = checkSource as (code: string, file?: string, o?: object) => { construct: string; message: string }[];
const tmp = mkdtempSync(join(tmpdir(), 'build-app-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('buildApp: app.js passes the gate with the platform globals only and boots the embedded board', async () => {
  const r = await buildApp({ board: TEST_BOARD, out: join(tmp, 'app.js') });
  const app = readFileSync(r.out, 'utf8');
  assert.equal(r.sizes.minified, Buffer.byteLength(app));
  assert.ok(r.sizes.gzip < r.sizes.minified && r.sizes.minified < r.sizes.bundle);
  assert.deepEqual(check(app, 'app.js', { allowGlobals: APP_GLOBALS }), []);
  // Without the platform's globals the same text is rejected: core alone may not use them.
  const bare = new Set(check(app, 'app.js').map((f) => f.construct));
  for (const g of ['require', 'E', 'getTime', 'peek32']) assert.ok(bare.has(g), g + ' is a platform global');
  assert.equal(/[^\x00-\x7f]/.test(app), false, 'ASCII only');
  const tail = /DepinApp\.start\((\{.*\})\);?\s*$/.exec(app);
  assert.ok(tail, 'app.js ends by booting the board');
  const board = vm.runInNewContext('(' + tail[1] + ')') as Record<string, unknown>;
  const file = JSON.parse(readFileSync(join(ROOT, 'boards', TEST_BOARD + '.json'), 'utf8'));
  assert.equal(board.id, file.id);
  assert.equal(board.rngRegister, file.rngRegister);
  assert.deepEqual(JSON.parse(JSON.stringify(board.roles)), file.roles);
  for (const k of ['sources', 'notes', '$schema']) assert.equal(board[k], undefined, k + ' left out');
});

test('--components: only the listed sources are carried; bad boards and components are refused', async () => {
  const all = readFileSync(join(tmp, 'app.js'), 'utf8');
  const r = await buildApp({ board: TEST_BOARD, components: ['device', 's0'], out: join(tmp, 'small.js') });
  const small = readFileSync(r.out, 'utf8');
  assert.ok(small.length < all.length * 0.75, small.length + ' vs ' + all.length);
  for (const t of ['"device"', '"s0"']) assert.ok(small.includes('type:' + t), t + ' carried');
  for (const t of ['"modbus"', '"dsmr"', '"sht31"']) assert.ok(all.includes('type:' + t) && !small.includes('type:' + t), t + ' left out');
  await assert.rejects(buildApp({ board: 'no-such-board', out: join(tmp, 'x.js') }), /no board file boards\/no-such-board\.json \(known: .*esp32-devkitc/);
  await assert.rejects(buildApp({ board: TEST_BOARD, components: ['device', 'nope'], out: join(tmp, 'y.js') }), /--components expected source types .*"nope"/);
  await assert.rejects(buildApp({ board: TEST_BOARD, boardData: { id: 'x' }, out: join(tmp, 'z.js') }), /board esp32-devkitc: /);
  assert.equal(existsSync(join(tmp, 'x.js')) || existsSync(join(tmp, 'y.js')) || existsSync(join(tmp, 'z.js')), false);
});

test('CLI: --components needs a list', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build-firmware.mjs'), '--board', TEST_BOARD, '--components'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--components expects a comma-separated list of source types/);
});
