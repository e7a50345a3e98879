// The device app in the REAL Espruino interpreter (its Linux build, named by ESPRUINO): the
// app built for esp32-devkitc with only the "device" source (the Linux build's Storage is
// 256 KB; the full app is ~250 KB), written to Storage as .bootcde with the config and the G
// table by a provisioning run, then booted by `espruino -e <monitor>` (which autoloads
// .bootcde, as a device does at power-on: the code runs from Storage). The Linux build has no
// Wifi module (the platform skips joining), no radio (entropy uses the explicit TEST-ONLY
// /dev/urandom source), and setTime() is a no-op there (SNTP still runs against the test
// server). It publishes to aedes in this process and every batch verifies; SIGKILL is the
// power cut, and a second boot on the same espruino.flash continues the chain.
// Skips with the harness's reason when ESPRUINO is unset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipReason, espruinoPath, cleanOutput, runEspruino } from '../harness/espruino-real.js';
import { deviceConfig, gTable, startVerifier, until, ROOT, TEST_BOARD, type Verifier } from './rig.js';

const skip = skipReason();

/** Batches acknowledged per boot before the power is cut. */
const BATCHES_PER_BOOT = 3;

// Runs inside the interpreter after .bootcde: reports the boot, then the agent's stats.
const MONITOR = `
var DEBUG = ${!!process.env.DEVICE_DEBUG};
var reported = false, keyShown = false;
function hex(b) { var s = ''; for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16); return s; }
setInterval(function () {
  var a = DepinApp.app();
  if (!a) return;
  if (a.agent && !keyShown) { keyShown = true; print('KEY ' + hex(a.agent.publicKey)); }
  if (!reported && (a.state === 'running' || a.state === 'failed' || a.state === 'unprovisioned')) {
    reported = true;
    var m = process.memory();
    print('BOOTED ' + JSON.stringify({ state: a.state, boot: a.boot, errors: a.errors, accel: a.accel, usage: m.usage, total: m.total,
      source: a.entropy ? a.entropy.source() : '', synced: a.clock.synced() }));
  }
  if (a.agent) {
    var s = a.agent.stats();
    print('STATS ' + JSON.stringify({ boot: s.boot, batches: s.batches, acked: s.acked, lastSeq: s.lastSeq, signMsTotal: s.signMsTotal,
      signMaxStepMs: s.signMaxStepMs, state: s.state, usage: process.memory(false).usage }));
    if (DEBUG) print('DBG ' + JSON.stringify(s.mqtt) + ' queue ' + s.queue + ' dropped ' + s.dropped);
  }
}, 500);
`;

interface Run {
  lines: string[];
  done: Promise<void>;
  kill(): void;
}

/** espruino -e MONITOR in `dir` (autoloads .bootcde from dir/espruino.flash). */
function boot(dir: string): Run {
  const child = spawn(espruinoPath()!, ['-e', MONITOR], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    const cut = buf.lastIndexOf('\n');
    if (cut < 0) return;
    for (const l of cleanOutput(buf.slice(0, cut + 1)).split('\n')) if (l.trim()) lines.push(l.trim());
    buf = buf.slice(cut + 1);
  });
  child.stderr.on('data', (d: Buffer) => lines.push('stderr: ' + d.toString()));
  const done = new Promise<void>((ok) => child.on('close', () => ok()));
  return { lines, done, kill: () => child.kill('SIGKILL') };
}

/** until(), with the interpreter's output tail in the failure. */
async function waitFor(r: Run, what: string, cond: () => boolean, ms: number): Promise<void> {
  try {
    await until(what, cond, ms);
  } catch (e) {
    throw new Error((e as Error).message + '; interpreter output:\n' + r.lines.slice(-40).join('\n'));
  }
}

function last<T>(r: Run, tag: string): T | undefined {
  for (let i = r.lines.length - 1; i >= 0; i--) if (r.lines[i].startsWith(tag + ' ')) return JSON.parse(r.lines[i].slice(tag.length + 1));
  return undefined;
}

test('on Espruino: the app runs from Storage, publishes batches that verify, and continues its chain after a power cut', { skip, timeout: 120000 }, async (t) => {
  const { buildApp } = (await import('../../scripts/build-firmware.mjs')) as unknown as {
    buildApp(o: object): Promise<{ out: string; sizes: { minified: number } }>;
  };
  const dir = mkdtempSync(join(tmpdir(), 'espruino-device-'));
  const v: Verifier = await startVerifier('espruino');
  const runs: Run[] = [];
  try {
    const app = await buildApp({ board: TEST_BOARD, components: ['device'], out: join(ROOT, 'build', 'device-test', 'app-device.js') });
    const cfg = deviceConfig({ brokerPort: v.broker.port, sntpPort: v.sntp.port, wifi: false, batchMaxReadings: 4, intervalMs: 1000 });
    // Storage is 256 KB here: a smaller outbox than the ESP32 default (96 KB).
    (cfg.agent as Record<string, unknown>).outbox = { segmentBytes: 4096, segmentSlots: 16, maxEntries: 32, maxBytes: 16 * 1024, maxBatchBytes: 1024 };
    writeFileSync(join(dir, 'app.js'), await import('node:fs').then((fs) => fs.readFileSync(app.out)));
    writeFileSync(join(dir, 'gtab.bin'), gTable());
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify(cfg));
    // Provisioning: what the flashing tool will write (files read with the Linux build's fs).
    const prov = await runEspruino(
      `var S = require('Storage'), fs = require('fs');
function put(name, file) { var d = fs.readFileSync(${JSON.stringify(dir)} + '/' + file); print('PUT ' + name + ' ' + d.length + ' ' + S.write(name, d)); }
put('gtab', 'gtab.bin'); put('depin.cfg', 'cfg.json'); put('.bootcde', 'app.js');
print('FREE ' + S.getFree());`,
      { cwd: dir },
    );
    assert.match(prov.stdout, /PUT gtab 16384 true/, prov.stdout);
    assert.match(prov.stdout, new RegExp('PUT \\.bootcde ' + app.sizes.minified + ' true'), prov.stdout);

    let address = '';
    const startBoot = async (n: number) => {
      const r = boot(dir);
      runs.push(r);
      const t0 = performance.now();
      await waitFor(r, 'boot ' + n + ' reports', () => !!last(r, 'BOOTED') || r.lines.some((l) => l.startsWith('Uncaught')), 60000);
      const b = last<{ state: string; boot: Record<string, number>; errors: string[]; accel: Record<string, unknown>; usage: number; total: number; source: string; synced: boolean }>(r, 'BOOTED');
      assert.ok(b, r.lines.join('\n'));
      assert.equal(b.state, 'running', r.lines.join('\n'));
      const keyLine = r.lines.find((l) => l.startsWith('KEY '))!;
      const pub = keyLine.slice(4);
      // Provisioning registers the key it read (the device made it on its first boot).
      if (!address) {
        const { addressFromPublicKey } = await import('../../firmware/core/telemetry/envelope.js');
        const { fromHex, toHex } = await import('../../firmware/core/util/bytes.js');
        address = toHex(addressFromPublicKey(fromHex(pub)));
        v.registry.devices.push({ address, publicKey: pub, label: 'espruino' });
        v.ingest.reloadRegistry(v.registry);
      }
      return { r, b, wallMs: performance.now() - t0 };
    };

    // ---- boot 1 ----
    const b1 = await startBoot(1);
    assert.deepEqual(b1.b.accel, { sha256: true, convolve: true, crc32: true, gtable: 'storage' });
    assert.equal(b1.b.source, 'TEST-ONLY /dev/urandom', 'the Linux build uses the explicit test-only entropy');
    assert.ok(b1.r.lines.some((l) => l.includes('no Wifi module on this build (LINUX)')), 'Wifi absent: not joined');
    assert.ok(b1.r.lines.some((l) => /sntp: clock set from 127\.0\.0\.1/.test(l)), 'SNTP answered: ' + b1.r.lines.join('\n'));
    assert.equal(b1.b.synced, true);
    await waitFor(b1.r, 'boot 1: ' + BATCHES_PER_BOOT + ' verified', () => v.accepted(address).length >= BATCHES_PER_BOOT, 60000);
    const s1 = last<{ batches: number; acked: number; lastSeq: number; signMsTotal: number; signMaxStepMs: number; usage: number }>(b1.r, 'STATS')!;
    b1.r.kill(); // power cut
    await b1.r.done;

    // ---- boot 2, same flash ----
    const before = v.accepted(address).length;
    const b2 = await startBoot(2);
    await waitFor(b2.r, 'boot 2: ' + BATCHES_PER_BOOT + ' more verified', () => v.accepted(address).length >= before + BATCHES_PER_BOOT, 60000);
    const s2 = last<{ boot: number; batches: number; signMsTotal: number; signMaxStepMs: number; usage: number }>(b2.r, 'STATS')!;
    assert.equal(s2.boot, 2);
    b2.r.kill();
    await b2.r.done;
    await v.ingest.flush();

    assert.deepEqual(v.rejected(), [], 'nothing rejected');
    assert.equal(v.ingest.stats().gaps.unexplained, 0);
    const rows = v.store.db.prepare('SELECT seq, boot, pseq, payload_hash, prev_hash FROM batches WHERE device = ? ORDER BY seq').all(address) as {
      seq: number; boot: number; pseq: number; payload_hash: Buffer; prev_hash: Buffer;
    }[];
    const bySeq = new Map(rows.map((r) => [r.seq, r]));
    let bootLinks = 0;
    for (const r of rows) {
      if (r.pseq === 0) continue;
      const p = bySeq.get(r.pseq);
      assert.ok(p, 'predecessor ' + r.pseq + ' of ' + r.seq + ' stored');
      assert.deepEqual(r.prev_hash, p.payload_hash);
      if (p.boot !== r.boot) bootLinks++;
    }
    assert.ok(bootLinks >= 1, 'the chain crosses the power cut');
    assert.ok(v.meta.get(address)?.publicKey, 'meta published');

    // Baseline: the same .bootcde on a flash without config (start() returns at once). The
    // Linux build copies Storage code into RAM strings (src/jsflash.c jsvAddressToVar, LINUX
    // branch), so its JsVars include the code; the difference is the running device's state,
    // which is what an ESP32 (code memory-mapped from flash) spends.
    const dir0 = mkdtempSync(join(tmpdir(), 'espruino-device-base-'));
    let base: { state: string; usage: number } | undefined;
    try {
      await runEspruino(`var S = require('Storage'); S.write('.bootcde', require('fs').readFileSync(${JSON.stringify(join(dir, 'app.js'))}));`, { cwd: dir0 });
      const r0 = boot(dir0);
      runs.push(r0);
      await waitFor(r0, 'baseline boot', () => !!last(r0, 'BOOTED'), 30000);
      base = last<{ state: string; usage: number }>(r0, 'BOOTED')!;
      r0.kill();
      await r0.done;
    } finally {
      rmSync(dir0, { recursive: true, force: true });
    }
    assert.equal(base.state, 'unprovisioned');
    assert.ok(b1.b.usage > base.usage);
    t.diagnostic(
      'Espruino (Linux build): app ' + app.sizes.minified + ' B in Storage; boot to running ' + b1.b.boot.agent + ' ms (config ' + b1.b.boot.config +
        ', accel ' + b1.b.boot.accel + ', entropy ' + b1.b.boot.entropy + ', sntp ' + b1.b.boot.sntp + '), second boot ' + b2.b.boot.agent +
        ' ms; JsVars after boot ' + b1.b.usage + ' of which the code (unprovisioned baseline) ' + base.usage + ', so the device state ' + (b1.b.usage - base.usage) +
        ' (agent running: ' + (s1.usage - base.usage) + '); sealing ' + (s1.signMsTotal / Math.max(1, s1.batches)).toFixed(0) +
        ' ms per batch (longest step ' + s1.signMaxStepMs.toFixed(0) + ' ms); ' + rows.length + ' batches verified, ' + bootLinks + ' link(s) across the cut',
    );
  } finally {
    for (const r of runs) r.kill();
    await v.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
