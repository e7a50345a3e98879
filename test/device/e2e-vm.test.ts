// The built device app (dist/esp32-devkitc/app.js) on an emulated ESP32 (espruino-emu.ts: an
// Espruino-shaped vm with its device APIs and their quirks), against a real broker (aedes), a
// real SNTP server and the verifying middleware (ingest + SQLite). The device boots from its
// provisioned flash, joins Wi-Fi, gathers entropy from the (emulated) hardware RNG with the
// radio on, seeds E.srand before any connection, sets its clock by SNTP, makes its key,
// publishes status/meta and signed batches; every batch verifies. Then the power is cut and a
// new boot over the same flash continues the chain (same identity, next boot counter, the
// first batch links to the last one of the previous boot).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { bootEspruinoVm, type EmuDevice } from './espruino-emu.js';
import { ensureApp, deviceConfig, provisionFlash, startVerifier, until, ESP32_RNG, identity, type Verifier } from './rig.js';

interface Stats {
  boot: number;
  batches: number;
  acked: number;
  lastSeq: number;
  signMsTotal: number;
  state: string;
  address: string;
}

function appState(d: EmuDevice): { state: string; boot: Record<string, number>; errors: string[]; accel: Record<string, unknown> } | undefined {
  return d.json('DepinApp.app() && { state: DepinApp.app().state, boot: DepinApp.app().boot, errors: DepinApp.app().errors, accel: DepinApp.app().accel }');
}

function stats(d: EmuDevice): Stats {
  return d.json<Stats>('DepinApp.app().agent.stats()');
}

test('the device app boots on an emulated ESP32, publishes signed batches that verify, and keeps its chain across a power cut', { timeout: 60000 }, async (t) => {
  const code = readFileSync(await ensureApp(), 'utf8');
  const v: Verifier = await startVerifier('vm');
  const flash = new FlashStorage();
  let dev: EmuDevice | undefined;
  try {
    v.sntp.skewMs = 0;
    provisionFlash(flash, deviceConfig({ brokerPort: v.broker.port, sntpPort: v.sntp.port }));
    let address = '';
    const lines: string[] = [];
    const boot = (seed: number) =>
      bootEspruinoVm(code, {
        flash,
        rngRegister: ESP32_RNG,
        seed,
        onPrint: (l) => lines.push(l),
        // Provisioning reads the public key once the device made it, and registers it.
        onStorageWrite: (name, file) => {
          if (name === 'key') address = v.register(file);
        },
      });

    // ---- first boot ----
    const t0 = performance.now();
    dev = boot(1);
    await until('boot 1 running', () => appState(dev!)?.state === 'running' || appState(dev!)?.state === 'failed', 15000);
    const bootMs = performance.now() - t0;
    const s0 = appState(dev)!;
    assert.equal(s0.state, 'running', lines.join('\n'));
    assert.deepEqual(s0.errors, []);
    assert.deepEqual(s0.accel, { sha256: true, convolve: true, crc32: true, gtable: 'storage' });
    assert.ok(address, 'the key was written to Storage');
    const key = flash.read('key')!;
    assert.equal(identity(key).address, address);
    // Entropy: the register was read with the radio on (>= 1 s, >= 1024 words), never with it off.
    assert.ok(dev.rngReads.on >= 1024, 'RNG words read with the radio on: ' + dev.rngReads.on);
    assert.equal(dev.rngReads.off, 0, 'RNG read while the radio was off');
    assert.ok(s0.boot.entropy >= 1000, 'entropy took ' + s0.boot.entropy + ' ms (>= 1 s with the radio on)');
    // E.srand from the hardware before the first socket (TLS seeds its DRBG from that generator).
    assert.equal(dev.srand.length, 1);
    assert.equal(dev.srand[0].connectsBefore, 0);
    assert.notEqual(dev.srand[0].seed, 0);
    // SNTP set the clock: getTime() went from ~0 (an ESP32 at boot) to now.
    assert.ok(Math.abs(dev.getTime() * 1000 - Date.now()) < 2000, 'device time ' + dev.getTime());
    assert.ok(dev.events.some((e) => e.what === 'setTime'));
    assert.ok(dev.watchdog.enabled && !dev.watchdog.fired);

    await until('3 verified batches from boot 1', () => v.accepted(address).length >= 3, 20000);
    const st1 = stats(dev);
    assert.equal(st1.boot, 1);
    assert.equal(st1.address, address);
    await until('status online and meta', () => v.status.get(address) === 'online' && v.meta.has(address), 5000);
    const meta = v.meta.get(address)!;
    assert.equal(meta.publicKey, identity(key).publicKey, 'meta carries the registered key');
    assert.equal(meta.board, 'esp32-devkitc');
    assert.match(meta.firmware, /^depin-agent\/\d+\.\d+\.\d+ \(espruino 2v29\)$/);
    assert.deepEqual(meta.sources, ['dev']);
    assert.ok(dev.watchdog.kicks > 10, 'the agent loop kicks the watchdog: ' + dev.watchdog.kicks);
    const lastBoot1 = stats(dev);

    // ---- power cut, second boot over the same flash ----
    dev.powerOff();
    flash.reboot();
    const before = v.accepted(address).length;
    dev = boot(2);
    await until('boot 2 running', () => appState(dev!)?.state === 'running' || appState(dev!)?.state === 'failed', 15000);
    assert.equal(appState(dev)!.state, 'running', lines.slice(-20).join('\n'));
    assert.equal(stats(dev).address, address, 'same identity after the power cut');
    assert.equal(stats(dev).boot, 2);
    await until('3 more verified batches from boot 2', () => v.accepted(address).length >= before + 3, 20000);
    // Everything sealed before the cut was either delivered or is still queued and goes out now.
    await until('boot 1 batches all accepted', () => {
      const got = new Set(v.accepted(address));
      for (let s = 1; s <= lastBoot1.lastSeq; s++) if (!got.has(s) && s !== 0) return false;
      return true;
    }, 10000);
    await v.ingest.flush();
    const st = v.ingest.stats();
    assert.deepEqual(v.rejected(), [], 'nothing rejected');
    assert.equal(st.gaps.unexplained, 0, 'no unexplained gap');
    // The chain: every stored batch after the first names its stored predecessor's hash.
    const rows = v.store.db
      .prepare('SELECT seq, boot, pseq, payload_hash, prev_hash FROM batches WHERE device = ? ORDER BY seq')
      .all(address) as { seq: number; boot: number; pseq: number; payload_hash: Buffer; prev_hash: Buffer }[];
    const bySeq = new Map(rows.map((r) => [r.seq, r]));
    let links = 0;
    let bootLinks = 0;
    for (const r of rows) {
      if (r.pseq === 0) continue;
      const p = bySeq.get(r.pseq);
      assert.ok(p, 'predecessor ' + r.pseq + ' of ' + r.seq + ' is stored');
      assert.deepEqual(r.prev_hash, p.payload_hash, 'batch ' + r.seq + ' links to ' + r.pseq);
      links++;
      if (p.boot !== r.boot) bootLinks++;
    }
    assert.equal(rows[0].pseq, 0, 'the first batch has no predecessor');
    assert.ok(bootLinks >= 1, 'a batch of boot 2 links to one of boot 1');
    assert.equal(links, rows.length - 1);
    assert.deepEqual(dev.uncaught, []);
    const st2 = stats(dev);
    t.diagnostic(
      'vm: boot ' + Math.round(bootMs) + ' ms to running (entropy ' + s0.boot.entropy + ' ms, agent ' + s0.boot.agent + ' ms); ' +
        rows.length + ' batches verified over 2 boots, ' + bootLinks + ' link(s) across the cut; sealing ' +
        (st2.signMsTotal / Math.max(1, st2.batches)).toFixed(1) + ' ms per batch in the vm; RNG words ' + dev.rngReads.on,
    );
  } finally {
    dev?.powerOff();
    await v.close();
  }
});
