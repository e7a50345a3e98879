// scripts/flash.mjs against the fake device (agent-sim/fake-espruino.ts) over tcp://: the real
// app (dist/<board>/app.js, built when stale) and the G table go through the espruino CLI, land
// in the device's Storage byte for byte, and the app boots from it. Then the failures: a port
// that never answers, a refused port, a missing serial device, another Espruino build, a stale
// build, and the CLI trying to download anything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { flash } from '../../scripts/flash.mjs';
import { makeManifest, JSVARS_MODEL } from '../../scripts/manifest.mjs';
import { runEspruinoCli, DeviceError } from '../../scripts/espruino-tools.mjs';
import { startFakeEspruino } from '../../agent-sim/fake-espruino.js';
import { ensureApp, gTable, TEST_BOARD } from '../device/rig.js';

let dist = '';
let app: Buffer;

before(async () => {
  // A dist directory of our own: the real app and G table, and their manifest.
  dist = mkdtempSync(join(tmpdir(), 'flash-dist-'));
  copyFileSync(await ensureApp(TEST_BOARD), join(dist, 'app.js'));
  writeFileSync(join(dist, 'secp256k1-gtable.bin'), gTable());
  app = readFileSync(join(dist, 'app.js'));
  await makeManifest({ board: TEST_BOARD, dir: dist, measure: false, bench: JSVARS_MODEL.benchFallback });
});
after(() => rmSync(dist, { recursive: true, force: true }));

test('flash: the app and the G table reach Storage byte for byte through the espruino CLI, and the app boots from flash', { timeout: 60000 }, async () => {
  const f = await startFakeEspruino({ board: TEST_BOARD });
  const log: string[] = [];
  try {
    const r = await flash({ board: TEST_BOARD, port: f.url, dist, uploadTimeoutMs: 30000, log: (s) => log.push(s) });
    assert.ok(Buffer.from(f.flash.read('.bootcde')!).equals(app), '.bootcde equals dist app.js');
    assert.ok(Buffer.from(f.flash.read('gtab')!).equals(Buffer.from(gTable())), 'gtab equals the G table');
    assert.deepEqual(r.files.map((x) => [x.storage, x.checked]), [['.bootcde', 'crc32'], ['gtab', 'crc32']]);
    // EspruinoTools' way: a creating write of the full size, then 1024-byte chunks at their offsets.
    const boot = f.writes.filter((w) => w.name === '.bootcde');
    assert.equal(boot[0].offset, 0);
    assert.equal(boot[0].size, app.length);
    boot.forEach((w, i) => {
      assert.equal(w.offset, i * 1024);
      assert.ok(w.ok);
    });
    assert.equal(boot.length, Math.ceil(app.length / 1024));
    // reset() before, load() after: the app ran from Storage and, with no config, says so.
    assert.ok(f.counts.resets >= 1 && f.counts.loads >= 1);
    assert.ok(f.printed.some((l) => /no config in Storage "depin\.cfg": provision this device/.test(l)), f.printed.slice(-5).join('\n'));
    assert.equal(f.eval('DepinApp.app().state'), 'unprovisioned');
    // Nothing resolved or downloaded as a module, nothing minified or pretokenised.
    assert.doesNotMatch(f.received(), /Modules\.addCached/);
    assert.ok(r.fast, 'tcp:// uploads unthrottled');
    assert.ok(log.some((l) => /^verified \.bootcde \d+ B crc32, gtab 16384 B crc32/.test(l)), log.join('\n'));
  } finally {
    await f.close();
  }
});

test('a second flash over a running app stops it first and replaces the files', { timeout: 60000 }, async () => {
  const f = await startFakeEspruino({ board: TEST_BOARD });
  try {
    await flash({ board: TEST_BOARD, port: f.url, dist, uploadTimeoutMs: 30000 });
    const trash = f.flash.stats().garbage;
    await flash({ board: TEST_BOARD, port: f.url, dist, uploadTimeoutMs: 30000 });
    assert.ok(Buffer.from(f.flash.read('.bootcde')!).equals(app));
    assert.ok(f.flash.stats().garbage > trash, 'the old copies became trash (Espruino compacts them when space runs out)');
    assert.match(f.received(), /if\(typeof DepinApp!=="undefined"&&DepinApp\.app&&DepinApp\.app\(\)\)/, 'the probe stops a running agent');
  } finally {
    await f.close();
  }
});

test('the espruino CLI runs offline: asked to download a board file, it fails instead', { timeout: 30000 }, async () => {
  const f = await startFakeEspruino({ board: TEST_BOARD });
  try {
    const r = await runEspruinoCli(['--board', 'ESP32', '-p', f.url, '--no-ble', '-e', '1'], { timeoutMs: 15000 });
    assert.match(r.stderr, /offline: the espruino CLI tried to fetch [^\n]*espruino\.com\/json\/ESP32\.json/);
  } finally {
    await f.close();
  }
});

test('a port that never answers fails with a clear message within the timeout', { timeout: 30000 }, async () => {
  const f = await startFakeEspruino({ board: TEST_BOARD, silent: true });
  const t0 = Date.now();
  try {
    await assert.rejects(flash({ board: TEST_BOARD, port: f.url, dist, timeoutMs: 4000 }), (e: DeviceError) => {
      assert.equal(e.code, 'E_NO_ANSWER');
      assert.match(e.message, /^tcp:\/\/127\.0\.0\.1:\d+: no Espruino console answered while probing within 4 s/);
      return true;
    });
    assert.ok(Date.now() - t0 < 8000, 'took ' + (Date.now() - t0) + ' ms');
    assert.equal(f.writes.length, 0);
  } finally {
    await f.close();
  }
});

test('a refused TCP port and a missing serial device fail before the CLI runs', async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  await assert.rejects(flash({ board: TEST_BOARD, port: 'tcp://127.0.0.1:' + port, dist }), (e: DeviceError) => e.code === 'E_PORT' && /connection refused/.test(e.message));
  await assert.rejects(flash({ board: TEST_BOARD, port: '/dev/ttyNOPE9', dist }), (e: DeviceError) => e.code === 'E_PORT' && /\/dev\/ttyNOPE9 does not exist/.test(e.message));
  await assert.rejects(flash({ board: TEST_BOARD, port: 'http://x', dist }), (e: DeviceError) => e.code === 'E_PORT');
});

test('a device running another Espruino build is refused before anything is written', { timeout: 30000 }, async () => {
  const f = await startFakeEspruino({ board: 'esp32-c3-supermini' });
  try {
    await assert.rejects(flash({ board: TEST_BOARD, port: f.url, dist }), (e: DeviceError) => {
      assert.equal(e.code, 'E_DEVICE');
      assert.match(e.message, /runs Espruino for ESP32C3_IDF4, but this firmware is for ESP32/);
      return true;
    });
    assert.equal(f.writes.length, 0);
  } finally {
    await f.close();
  }
});

test('a build changed after its manifest is refused without connecting', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flash-stale-'));
  const f = await startFakeEspruino({ board: TEST_BOARD });
  try {
    for (const n of ['app.js', 'secp256k1-gtable.bin', 'manifest.json', 'espruino-board.json']) copyFileSync(join(dist, n), join(dir, n));
    writeFileSync(join(dir, 'app.js'), Buffer.concat([app, Buffer.from(';')]));
    await assert.rejects(flash({ board: TEST_BOARD, port: f.url, dist: dir }), (e: { code: string; message: string }) => e.code === 'E_STALE' && /changed after its manifest/.test(e.message));
    await assert.rejects(flash({ board: 'esp32-s3-devkitc-1', port: f.url, dist: dir }), /holds firmware for esp32-devkitc, not esp32-s3-devkitc-1/);
    assert.equal(f.counts.connections, 0);
  } finally {
    await f.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
