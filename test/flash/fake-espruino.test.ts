// The fake device's console (agent-sim/fake-espruino.ts) against exchanges recorded from the real
// Espruino interpreter (test/vectors/flash/console.json); with ESPRUINO set the same vectors are
// replayed against the interpreter, so a vector that no longer holds there fails too. Then what
// flashing relies on beyond the vectors: Storage writes recorded with offsets and sizes,
// E.reboot() and a watchdog reset run .bootcde, Ctrl-C, a locked console, process.env.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeEspruino, countBrackets, fakeProcessEnv, type FakeBoard } from '../../agent-sim/fake-espruino.js';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { ESPRUINO_MODULES } from '../../scripts/espruino-tools.mjs';
import { runSteps, stripBanner, tcpTransport, interpreterTransport, type ConsoleStep } from './console-steps.js';
import { skipReason, espruinoPath } from '../harness/espruino-real.js';

const VECTORS = JSON.parse(readFileSync(new URL('../vectors/flash/console.json', import.meta.url), 'utf8')) as { steps: ConsoleStep[] };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function check(steps: ConsoleStep[], got: string[], who: string): void {
  steps.forEach((s, i) => {
    const g = s.match === 'banner' ? stripBanner(got[i]) : got[i];
    const msg = who + ': ' + s.description + ' (sent ' + JSON.stringify(s.send) + ')';
    if (s.match === 'prefix') assert.ok(g.startsWith(s.expect), msg + ': got ' + JSON.stringify(g));
    else assert.equal(g, s.expect, msg);
  });
}

test('the fake console answers every recorded exchange as the real interpreter did', { timeout: 30000 }, async () => {
  const f = await startFakeEspruino();
  const t = await tcpTransport(f.port);
  try {
    check(VECTORS.steps, await runSteps(t, VECTORS.steps), 'fake');
    assert.ok(f.counts.resets === 1 && f.counts.loads === 1);
  } finally {
    await t.close();
    await f.close();
  }
});

test('the recorded exchanges still hold on the real interpreter', { skip: skipReason(), timeout: 30000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'console-vectors-'));
  const t = await interpreterTransport(espruinoPath()!, dir);
  try {
    check(VECTORS.steps, await runSteps(t, VECTORS.steps), 'interpreter');
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every Storage write is recorded with name, offset and size, and lands in the flash', async () => {
  const f = await startFakeEspruino();
  const t = await tcpTransport(f.port);
  try {
    // As EspruinoTools writes a file: the first chunk creates it at its full size, the rest fill offsets.
    t.write('\x10require("Storage").write("f",atob("AAEC"),0,6)\n\x10require("Storage").write("f",atob("//79"),3)\n');
    await sleep(200);
    assert.deepEqual(f.writes.map((w) => [w.name, w.offset, w.size, w.length, w.ok]), [['f', 0, 6, 3, true], ['f', 3, undefined, 3, true]]);
    assert.deepEqual([...f.flash.read('f')!], [0, 1, 2, 255, 254, 253]);
    // Espruino refuses to write over bytes that are not erased any more.
    t.write('\x10require("Storage").write("f","x",1)\n');
    await sleep(200);
    assert.equal(f.writes[2].ok, false);
    assert.match(t.take(), /Uncaught Error: File already written with different data/);
  } finally {
    await t.close();
    await f.close();
  }
});

test('power-on and E.reboot() run .bootcde; reset() does not; load("f") runs that file', async () => {
  const flash = new FlashStorage();
  flash.write('.bootcde', new Uint8Array(Buffer.from('var booted = (global.booted|0) + 1; print("BOOT")')));
  const f = await startFakeEspruino({ flash });
  const t = await tcpTransport(f.port);
  try {
    assert.equal(f.eval('booted'), 1, 'power-on ran .bootcde');
    t.write('\x10E.reboot()\n');
    await sleep(150);
    assert.equal(f.counts.reboots, 1);
    assert.equal(f.eval('booted'), 1, 'a fresh interpreter ran .bootcde again');
    assert.match(t.take(), /BOOT/);
    t.write('\x10reset()\n');
    await sleep(100);
    assert.equal(f.eval('typeof booted'), 'undefined');
    flash.write('other', new Uint8Array(Buffer.from('var other = 42')));
    t.write('\x10load("other")\n');
    await sleep(100);
    assert.equal(f.eval('other'), 42);
    assert.equal(f.eval('typeof booted'), 'undefined');
  } finally {
    await t.close();
    await f.close();
  }
});

test('a watchdog nobody kicks resets the device, which boots .bootcde again', async () => {
  const flash = new FlashStorage();
  flash.write('.bootcde', new Uint8Array(Buffer.from('print("BOOT")')));
  const f = await startFakeEspruino({ flash });
  const t = await tcpTransport(f.port);
  try {
    t.write('\x10E.enableWatchdog(0.2, false)\n');
    await sleep(600);
    assert.ok(f.counts.reboots >= 1, 'watchdog reset');
    assert.match(t.take(), /BOOT/);
  } finally {
    await t.close();
    await f.close();
  }
});

test('a watchdog in "kick it yourself" mode survives reset() and bites; switched to automatic it does not', async () => {
  const flash = new FlashStorage();
  flash.write('.bootcde', new Uint8Array(Buffer.from('print("BOOT")')));
  const f = await startFakeEspruino({ flash });
  const t = await tcpTransport(f.port);
  try {
    t.write('\x10E.enableWatchdog(0.3, false);reset()\n');
    await sleep(700);
    assert.equal(f.counts.reboots, 1, 'nothing kicked it after reset()');
    t.write('\x10E.enableWatchdog(0.3, false);E.enableWatchdog(0.3, true);reset()\n');
    await sleep(700);
    assert.equal(f.counts.reboots, 1, 'automatic kicking after reset()');
  } finally {
    await t.close();
    await f.close();
  }
});

test('Ctrl-C clears a half-typed line; a locked console asks for the password', async () => {
  const f = await startFakeEspruino();
  const t = await tcpTransport(f.port);
  try {
    t.write('\n');
    await sleep(50);
    t.take();
    t.write('1+');
    await sleep(50);
    t.write('\x03');
    await sleep(50);
    assert.equal(t.take(), '1+\r\x1b[J>');
    t.write('2\n');
    await sleep(50);
    assert.equal(t.take(), '2\r\n=2\r\n>', 'the cleared "1+" is gone');
    t.write('\x10E.setPassword("pw");E.lockConsole()\n');
    await sleep(50);
    t.take();
    t.write('\n');
    await sleep(50);
    assert.equal(t.take(), '\r\n  Invalid password\r\npassword>');
    t.write('1+1\n');
    await sleep(50);
    assert.equal(t.take(), '\r\n  Invalid password\r\npassword>', 'no echo, nothing runs');
    t.write('pw\n');
    await sleep(50);
    assert.equal(t.take(), '\r\n  Logged in.\r\n>');
  } finally {
    await t.close();
    await f.close();
  }
});

test('process.env is an ESP32-family 2v29 build of the board; a silent fake never answers', async () => {
  const board = JSON.parse(readFileSync(new URL('../../boards/esp32-c3-supermini.json', import.meta.url), 'utf8')) as FakeBoard;
  const env = fakeProcessEnv(board);
  assert.equal(env.BOARD, 'ESP32C3_IDF4');
  assert.equal(env.VERSION, '2v29');
  assert.equal(env.STORAGE, board.firmware.storageBytes);
  assert.equal(env.MODULES, ESPRUINO_MODULES.ESP32C3_IDF4.join(','));
  const f = await startFakeEspruino({ board, silent: true });
  const t = await tcpTransport(f.port);
  try {
    assert.equal(f.eval('process.env.BOARD'), 'ESP32C3_IDF4');
    t.write('\n1+1\n');
    await sleep(100);
    assert.equal(t.take(), '');
    assert.equal(f.received(), '\n1+1\n');
  } finally {
    await t.close();
    await f.close();
  }
});

test('bracket counting skips strings, comments and regular expressions', () => {
  const cases: [string, number][] = [
    ['f(', 1],
    ['f("(")', 0],
    ["f('\\')(')", 0],
    ['f(`(`)', 0],
    ['/* ( */ f()', 0],
    ['// (\n', 0],
    ['x = /\\(/.test(s)', 0],
    ['x = a / b / (c', 1],
    ['if (a) { b = [1, 2', 2],
    ['"unfinished', 1],
  ];
  for (const [code, n] of cases) assert.equal(countBrackets(code), n, JSON.stringify(code));
});
