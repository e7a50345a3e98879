// scripts/provision.mjs against the fake device holding the flashed app: the config is checked
// against the board before anything is sent, written to Storage, the app restarts and makes its
// key from the (emulated) hardware RNG, the identity read back is the key's, the registry file
// gets it, and the verifier accepts the device's signed batches with that registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provision, buildConfig, parseBroker, redact, checkProvisioningConfig, ConfigError, PROVISION_DEFAULTS } from '../../scripts/provision.mjs';
import { flash } from '../../scripts/flash.mjs';
import { makeManifest, JSVARS_MODEL } from '../../scripts/manifest.mjs';
import { DeviceError } from '../../scripts/espruino-tools.mjs';
import { startFakeEspruino, type FakeEspruino } from '../../agent-sim/fake-espruino.js';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { readRegistry } from '../../agent-sim/middleware/registry.js';
import { ensureApp, gTable, identity, startVerifier, until, TEST_BOARD } from '../device/rig.js';

const PASSWORD = 'wpa-secret-1234';

/** A device that was flashed: the app and the G table in Storage (written directly: flash.test.ts covers the upload). */
async function flashedDevice(o: { seed?: number } = {}): Promise<FakeEspruino> {
  const fl = new FlashStorage();
  fl.write('.bootcde', new Uint8Array(readFileSync(await ensureApp(TEST_BOARD))));
  fl.write('gtab', gTable());
  return startFakeEspruino({ board: TEST_BOARD, flash: fl, seed: o.seed ?? 7 });
}

function tempDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('depin-prov-'));
}

test('provision: config written, key made on the device, identity read back, registry updated, batches verify', { timeout: 90000 }, async () => {
  const v = await startVerifier('prov');
  const f = await flashedDevice();
  const dir = mkdtempSync(join(tmpdir(), 'prov-'));
  const registry = join(dir, 'registry.json');
  const sources = join(dir, 'sources.json');
  const log: string[] = [];
  const tmpBefore = tempDirs();
  try {
    writeFileSync(sources, JSON.stringify({
      sources: [{ id: 'dev', type: 'device', intervalMs: 300 }],
      agent: { batchMaxReadings: 2, batchMaxAgeMs: 2000 },
      watchdogS: 2,
    }));
    const r = await provision({
      board: TEST_BOARD, port: f.url, ssid: 'test-ap', password: PASSWORD, broker: v.broker.url, sources, registry, label: 'meter-1', sntp: null,
      log: (s) => log.push(s),
    });
    // The config on the device is the one assembled, password included (the device needs it).
    const onDevice = JSON.parse(Buffer.from(f.flash.read('depin.cfg')!).toString('utf8')) as { wifi: { password: string }; agent: { broker: { port: number } } };
    assert.deepEqual(onDevice, buildConfig({ ssid: 'test-ap', password: PASSWORD, broker: v.broker.url, sources, sntp: null }));
    assert.equal(onDevice.wifi.password, PASSWORD);
    assert.equal(onDevice.agent.broker.port, Number(new URL(v.broker.url).port));
    // The identity is the key the device made and keeps in Storage.
    const key = f.flash.read('key')!;
    assert.equal(key.length, 32);
    assert.deepEqual({ address: r.address, publicKey: r.publicKey }, identity(key));
    assert.ok(f.device().rngReads.on >= 1024, 'key from the hardware RNG read with the radio on');
    // Registry file: the device, labelled.
    const reg = readRegistry(registry);
    assert.deepEqual(reg.devices, [{ address: r.address, publicKey: r.publicKey, label: 'meter-1', revoked: false }]);
    // The verifier with that registry accepts the device's signed batches. (This device seals a
    // batch every ~0.6 s, so batches it sent before the registry was reloaded were refused as
    // unknown; with the default 48 readings / 5 min nothing is sent that early.)
    const early = v.rejected().length;
    v.ingest.reloadRegistry(reg);
    await until('a verified batch from ' + r.address, () => v.accepted(r.address).length > 0, 20000);
    assert.ok(v.rejected().slice(0, early).every((x) => (x as { reason: string }).reason === 'unknown-device'));
    assert.deepEqual(v.rejected().slice(early), [], 'nothing refused once registered');
    // The password never came back over the console, never reached the log, and no temp file stayed.
    assert.ok(!f.sent().includes(PASSWORD) && !log.join('\n').includes(PASSWORD));
    assert.equal(JSON.stringify(r.config).includes(PASSWORD), false);
    assert.deepEqual(tempDirs(), tmpBefore);

    // Provisioning again keeps the identity (the key stays) and updates the registry entry.
    const r2 = await provision({ board: TEST_BOARD, port: f.url, ssid: 'test-ap', password: PASSWORD, broker: v.broker.url, sources, registry, label: 'meter-1b', sntp: null });
    assert.equal(r2.address, r.address);
    assert.deepEqual(readRegistry(registry).devices.map((d) => d.label), ['meter-1b']);

    // Flashing an update over the running, provisioned app: the agent is stopped and its
    // "kick it yourself" watchdog (2 s) switched to automatic before reset(), so the device does
    // not reboot mid-upload; afterwards the app starts again with its key and config.
    const dist = mkdtempSync(join(dir, 'dist-'));
    writeFileSync(join(dist, 'app.js'), readFileSync(await ensureApp(TEST_BOARD)));
    writeFileSync(join(dist, 'secp256k1-gtable.bin'), gTable());
    await makeManifest({ board: TEST_BOARD, dir: dist, measure: false, bench: JSVARS_MODEL.benchFallback });
    const reboots = f.counts.reboots;
    await flash({ board: TEST_BOARD, port: f.url, dist, uploadTimeoutMs: 30000 });
    await new Promise((ok) => setTimeout(ok, 2500));
    assert.equal(f.counts.reboots, reboots, 'no watchdog reset during or after the upload');
    await until('the agent running again', () => f.eval('DepinApp.app().state') === 'running', 10000);
    assert.equal(f.eval('DepinApp.app().agent.addressHex'), r.address);
  } finally {
    await f.close();
    await v.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a config with a reserved pin is rejected before anything is sent', async () => {
  const f = await flashedDevice();
  try {
    await assert.rejects(
      provision({ board: TEST_BOARD, port: f.url, ssid: 'ap', password: PASSWORD, broker: 'mqtt://127.0.0.1:1883', sources: { sources: [{ id: 'm', type: 's0', pin: 'D6' }] } }),
      (e: ConfigError) => {
        assert.equal(e.code, 'E_CONFIG');
        assert.match(e.message, /config rejected for esp32-devkitc \(nothing was written\)/);
        assert.match(e.message, /sources\[0\]\.pin: D6 is reserved on esp32-devkitc: connected to the SPI flash/);
        return true;
      },
    );
    // Schema problems of a source and unknown types are caught here too.
    await assert.rejects(
      provision({ board: TEST_BOARD, port: f.url, ssid: 'ap', broker: 'mqtt://h', sources: [{ id: 'd', type: 'device', intervalMs: 5 }, { id: 'x', type: 'dmsr', port: '@p1' }] }),
      (e: ConfigError) => /sources\[0\]\.intervalMs/.test(e.message) && /unknown source type "dmsr"; did you mean "dsmr"\?/.test(e.message),
    );
    assert.equal(f.counts.connections, 0, 'no connection was opened');
    assert.equal(f.writes.length, 0, 'nothing written through the device');
  } finally {
    await f.close();
  }
});

test('a device without the app is told to be flashed first; nothing is written', { timeout: 30000 }, async () => {
  const f = await startFakeEspruino({ board: TEST_BOARD });
  try {
    await assert.rejects(provision({ board: TEST_BOARD, port: f.url, ssid: 'ap', password: PASSWORD, broker: 'mqtt://127.0.0.1:1', sntp: null }), (e: DeviceError) => {
      assert.equal(e.code, 'E_DEVICE');
      assert.match(e.message, /has no app in Storage \(\.bootcde\): flash it first \(make flash BOARD=esp32-devkitc PORT=tcp:/);
      return true;
    });
    assert.equal(f.writes.length, 0);
  } finally {
    await f.close();
  }
});

test('console.lock: the identity is read before the lock; the second write locks the console', { timeout: 60000 }, async () => {
  const f = await flashedDevice({ seed: 9 });
  try {
    const r = await provision({
      board: TEST_BOARD, port: f.url, ssid: 'ap', password: PASSWORD, broker: 'mqtt://127.0.0.1:1', sntp: null,
      sources: { sources: [{ id: 'dev', type: 'device', intervalMs: 1000 }], console: { lock: true, password: 'console-pw' } },
    });
    assert.equal(r.address, identity(f.flash.read('key')!).address);
    assert.equal(f.writes.filter((w) => w.name === 'depin.cfg' && w.offset === 0).length, 2);
    assert.deepEqual(JSON.parse(Buffer.from(f.flash.read('depin.cfg')!).toString()).console, { lock: true, password: 'console-pw' });
    await until('the console locked', () => f.device().console.locked, 10000);
    assert.equal(r.config.console && (r.config.console as { password: string }).password, '(set)');
  } finally {
    await f.close();
  }
});

test('broker URLs, defaults and redaction', () => {
  assert.deepEqual(parseBroker('mqtt://broker.lan'), { host: 'broker.lan', port: 1883, tls: false });
  assert.deepEqual(parseBroker('mqtts://dev-7@broker.example:8884'), { host: 'broker.example', port: 8884, tls: true, username: 'dev-7' });
  assert.deepEqual(parseBroker('mqtt://[::1]:1884'), { host: '::1', port: 1884, tls: false });
  assert.throws(() => parseBroker('mqtt://u:pw@h'), /MQTT_PASSWORD/);
  assert.throws(() => parseBroker('http://h'), /mqtt:\/\/ or mqtts:\/\//);
  assert.throws(() => parseBroker('mqtt://h/topic'), /no path/);
  assert.throws(() => parseBroker('broker:1883'), /mqtt:\/\/ or mqtts:\/\//);
  const c = buildConfig({ ssid: 'ap', password: 'p', broker: 'mqtt://h', mqttPassword: 'm' }) as {
    wifi: { password: string };
    agent: Record<string, unknown> & { broker: { password: string } };
    sources: unknown;
    sntp: unknown;
  };
  for (const k of Object.keys(PROVISION_DEFAULTS.agent)) assert.deepEqual(c.agent[k], PROVISION_DEFAULTS.agent[k], 'agent.' + k + ' written explicitly');
  assert.equal(c.agent.prefix, 'depin');
  assert.deepEqual(c.sources, PROVISION_DEFAULTS.sources);
  assert.deepEqual(c.sntp, { servers: ['pool.ntp.org'] });
  assert.equal(c.agent.broker.password, 'm');
  const r = redact(c) as typeof c;
  assert.equal(r.wifi.password, '(set)');
  assert.equal(r.agent.broker.password, '(set)');
  // Open network: no password field at all.
  assert.equal((buildConfig({ ssid: 'ap', password: '', broker: 'mqtt://h' }) as { wifi: object }).wifi.hasOwnProperty('password'), false);
  assert.throws(() => buildConfig({ ssid: '', broker: 'mqtt://h' }), /WIFI_SSID is required/);
  assert.throws(() => buildConfig({ ssid: 'ap' }), /BROKER is required/);
  const dir = mkdtempSync(join(tmpdir(), 'prov-src-'));
  try {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ sources: [], wifi: { ssid: 'x' } }));
    assert.throws(() => buildConfig({ ssid: 'ap', broker: 'mqtt://h', sources: join(dir, 'bad.json') }), /unknown section wifi/);
    assert.throws(() => buildConfig({ ssid: 'ap', broker: 'mqtt://h', sources: join(dir, 'none.json') }), /no such file/);
    assert.equal(existsSync(join(dir, 'none.json')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the sources file example in docs/flashing.md passes every provisioning check on every board', async () => {
  const doc = readFileSync(new URL('../../docs/flashing.md', import.meta.url), 'utf8');
  const block = /\*\*Sources file\*\*[\s\S]*?```json\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'the example is in the doc');
  const example = JSON.parse(block[1]);
  const { validateBoard } = await import('../../firmware/espruino/board.js');
  for (const id of ['esp32-devkitc', 'lolin-d1-mini-esp32', 'm5stack-atom-lite', 'esp32-s3-devkitc-1', 'esp32-c3-supermini']) {
    const board = validateBoard(JSON.parse(readFileSync(new URL('../../boards/' + id + '.json', import.meta.url), 'utf8')));
    const config = buildConfig({ ssid: 'ap', password: 'p', broker: 'mqtt://h', sources: example });
    assert.deepEqual(await checkProvisioningConfig(board, config), [], id);
  }
});
