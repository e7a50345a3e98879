// The Espruino behaviours the platform layer is built around, pinned on the REAL interpreter
// (Linux build, ESPRUINO) with the built app loaded from Storage (.bootcde) but unprovisioned:
// timer ids reused (a stale clearTimeout cancels another timer) and the adapter's guard;
// Uint8Array.slice returning an Array (the shim found it and repaired it); Storage truncating
// long names and the adapter refusing them; a socket's typed-array write going out as text and
// the adapter's binary round trip; no exception when a module is absent; and what an Error
// costs deep inside a large Storage file. Skips with the harness's reason when ESPRUINO is unset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipReason, espruinoPath, cleanOutput, runEspruino } from '../harness/espruino-real.js';
import { ROOT, TEST_BOARD } from './rig.js';

const skip = skipReason();

const PROBE = (port: number) => `
var R = {}, P = DepinApp;
R.state = P.app().state;
R.shim = P.app().shims.uint8Slice;
R.sliceU8 = new Uint8Array([1, 2, 3]).slice(1) instanceof Uint8Array;
// Storage
var S = P.espruinoStorage(), St = require('Storage'), long = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbb';
St.write(long + 'X', 'first'); St.write(long + 'Y', 'second');
R.truncated = St.read(long + 'X');
try { S.write(long + 'Z', new Uint8Array(1)); R.longName = 'accepted'; } catch (e) { R.longName = e.code; }
S.write('f', new Uint8Array([1, 2, 3]), 0, 8);
try { S.write('f', new Uint8Array([9]), 1); R.notErased = 'accepted'; } catch (e) { R.notErased = e.code; }
// Modules
var t0 = getTime(); R.wifi = typeof P.builtinModule('Wifi'); R.crypto = typeof P.builtinModule('crypto'); R.moduleMs = (getTime() - t0) * 1000;
// Error cost: an Error made inside the bundle vs one made here (top of the -e script)
t0 = getTime(); try { S.write(long + 'Q', new Uint8Array(1)); } catch (e) {} R.errDeepMs = (getTime() - t0) * 1000;
t0 = getTime(); try { throw new Error('x'); } catch (e) {} R.errTopMs = (getTime() - t0) * 1000;
// Sockets first (no JS timers): the adapter's binary round trip.
var T = P.espruinoTimers(), F = P.espruinoSocketFactory({ timers: T }), back = [];
var s = F({ host: '127.0.0.1', port: ${port},
  onConnect: function () { var u = new Uint8Array(256); for (var i = 0; i < 256; i++) u[i] = i; s.write(u); },
  onReadable: function () { var r = s.read(); for (var i = 0; i < r.length; i++) back.push(r[i]); } });
// Timers: id reuse on the raw API, and the adapter's guard. The ticker is created first, so
// once a and raw fired it is the last live timer and the next timer gets raw's id again.
var L = [], n = 0, a, raw;
var ticker = setInterval(function () {
  n++;
  if (n === 2) {
    var b = T.setTimeout(function () { L.push('b'); }, 20); T.clearTimeout(a); T.clearTimeout(undefined);
    var rawB = setTimeout(function () { L.push('raw-b'); }, 20); R.rawBid = rawB; R.rawAid = raw; clearTimeout(raw);
  }
  if (n === 4) { var raw2 = require('net').connect({ host: '127.0.0.1', port: ${port} }, function () { raw2.write(new Uint8Array([1, 2, 3])); }); }
  if (n === 12) {
    clearInterval(ticker);
    R.timers = L; R.back = back.length; R.backOk = back.length === 256 && back[0] === 0 && back[255] === 255;
    print('PROBE ' + JSON.stringify(R));
    quit();
  }
}, 50);
a = T.setTimeout(function () { L.push('a'); }, 5);
raw = setTimeout(function () { L.push('raw-a'); }, 5);
`;

test('on Espruino: the quirks the platform layer handles, and its handling, in the real interpreter', { skip, timeout: 120000 }, async (t) => {
  const { buildApp } = (await import('../../scripts/build-firmware.mjs')) as unknown as { buildApp(o: object): Promise<{ out: string }> };
  const app = await buildApp({ board: TEST_BOARD, components: ['device'], out: join(ROOT, 'build', 'device-test', 'app-device.js') });
  const received: Buffer[] = [];
  const srv = net.createServer((s) => {
    s.on('data', (b) => {
      received.push(b);
      if (b.length === 256) s.write(b); // the adapter's 256 bytes: echo them
    });
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const port = (srv.address() as net.AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'espruino-platform-'));
  try {
    await runEspruino(`require('Storage').write('.bootcde', require('fs').readFileSync(${JSON.stringify(app.out)}));`, { cwd: dir });
    const out = await new Promise<string>((ok) => {
      const c = spawn(espruinoPath()!, ['-e', PROBE(port)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let o = '';
      c.stdout.on('data', (d) => (o += d.toString('latin1')));
      const kill = setTimeout(() => c.kill('SIGKILL'), 30000);
      c.on('close', () => {
        clearTimeout(kill);
        ok(cleanOutput(o));
      });
    });
    const line = out.split('\n').find((l) => l.startsWith('PROBE '));
    assert.ok(line, out);
    const R = JSON.parse(line.slice(6));
    assert.equal(R.state, 'unprovisioned');
    assert.equal(R.shim, true, 'the interpreter returns an Array from Uint8Array.slice: the shim was needed');
    assert.equal(R.sliceU8, true);
    assert.equal(R.truncated, 'second', 'Espruino truncates names to 28 chars: X and Y are one file');
    assert.equal(R.longName, 'E_NAME');
    assert.equal(R.notErased, 'E_STORAGE_WRITE');
    assert.equal(R.wifi, 'undefined', 'no Wifi module on the Linux build');
    assert.notEqual(R.crypto, 'undefined', 'crypto is built in');
    assert.equal(R.rawBid, R.rawAid, 'the raw API gave the new timer the fired one\'s id');
    assert.deepEqual(R.timers, ['a', 'raw-a', 'b'], 'raw-b was cancelled by the stale id; the adapter kept b');
    assert.equal(R.backOk, true, 'binary round trip through E.toString / E.toUint8Array (' + R.back + ' bytes)');
    const all = Buffer.concat(received).toString('latin1');
    assert.ok(all.endsWith('1,2,3'), "Espruino's own Socket.write sends a Uint8Array as text");
    t.diagnostic('Espruino: module lookups ' + R.moduleMs.toFixed(2) + ' ms; an Error made inside the bundle ' + R.errDeepMs.toFixed(1) +
      ' ms vs ' + R.errTopMs.toFixed(2) + ' ms at the top of a short script (the stack trace scans the Storage file up to each frame)');
  } finally {
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
