// Each platform module of the built app (DepinApp.<name>, dist/esp32-devkitc/app.js) on the
// emulated ESP32, against the Espruino behaviour it exists to handle. Where a quirk is the
// point, a negative control shows that the emulator really has it (the raw Espruino API gets
// it wrong the way the device would), so a passing test is not the harness being lenient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { SerialLink } from '../../agent-sim/io/serial-link.js';
import { I2CBus } from '../../agent-sim/io/i2c-bus.js';
import { OneWireBus } from '../../agent-sim/io/onewire-bus.js';
import { bootEspruinoVm, ESP32_CHUNK, type EmuDevice, type EmuOptions } from './espruino-emu.js';
import { ensureApp, until, sleep, ESP32_RNG } from './rig.js';

const code = readFileSync(await ensureApp(), 'utf8');

/** The app on a flash without config: it stops in "unprovisioned" and the modules are ours to drive. */
function bare(o: Partial<EmuOptions> = {}): EmuDevice {
  const d = bootEspruinoVm(code, { flash: new FlashStorage(), rngRegister: ESP32_RNG, seed: 7, ...o });
  assert.equal(d.json('DepinApp.app().state'), 'unprovisioned');
  return d;
}

test('shims: 2v29 returns an Array from Uint8Array.slice (emulated); the app repairs it at boot', () => {
  const d = bare();
  assert.equal(d.json('new Uint16Array(2).slice(0, 1) instanceof Uint16Array'), false, 'the emulator has the quirk');
  assert.equal(d.json('DepinApp.app().shims.uint8Slice'), true);
  assert.deepEqual(d.json('[new Uint8Array([1,2,3,4]).slice(1, 3) instanceof Uint8Array, Array.prototype.slice.call(new Uint8Array([1,2,3,4]).slice(-2))]'), [true, [3, 4]]);
  d.powerOff();
});

test('timers: a handle of a fired timer cannot cancel the timer that reused its id; clearTimeout(undefined) is a no-op', async () => {
  const d = bare();
  d.eval(`var L = []; var T = DepinApp.espruinoTimers();
    var keep = setInterval(function () {}, 1000); // a live timer below, as in a running device
    var a = T.setTimeout(function () { L.push('a'); }, 5);
    var raw = setTimeout(function () { L.push('raw-a'); }, 5);`);
  await sleep(40);
  d.eval(`var b = T.setTimeout(function () { L.push('b'); }, 20); T.clearTimeout(a); T.clearTimeout(undefined);
    var rawB = setTimeout(function () { L.push('raw-b'); }, 20); clearTimeout(raw);`);
  await sleep(80);
  assert.deepEqual(d.json('L'), ['a', 'raw-a', 'b'], 'the raw API lost raw-b to a stale id (the quirk); the adapter kept b');
  assert.throws(() => d.eval('clearTimeout(undefined)'), /clearTimeout\(undefined\) not allowed/);
  assert.equal(d.json('T.pending()'), 0);
  d.powerOff();
});

test('storage: long names refused (Espruino truncates), write failures coded, literal prefixes, ranges, mapped views', () => {
  const flash = new FlashStorage();
  const d = bare({ flash });
  d.eval('var S = DepinApp.espruinoStorage(); var R = require("Storage");');
  const long = 'a'.repeat(28);
  // Raw Storage: two 29-char names that share 28 chars are one file on the device.
  d.eval(`R.write(${JSON.stringify(long + 'X')}, 'first'); R.write(${JSON.stringify(long + 'Y')}, 'second');`);
  assert.equal(d.json(`R.read(${JSON.stringify(long + 'X')})`), 'second', 'the emulator truncates as Espruino does');
  assert.throws(() => d.eval(`S.write(${JSON.stringify(long + 'Z')}, new Uint8Array(1))`), /"name" expected 1\.\.28 chars/);
  d.eval('S.write("f1", new Uint8Array([1,2,3,4,5]), 0, 8)');
  assert.deepEqual(d.json('Array.prototype.slice.call(S.read("f1"))'), [1, 2, 3, 4, 5, 255, 255, 255]);
  assert.deepEqual(d.json('Array.prototype.slice.call(S.read("f1", 2, 3))'), [3, 4, 5]);
  d.eval('S.write("f1", new Uint8Array([9]).subarray(0), 5)'); // into erased bytes
  assert.deepEqual([...flash.read('f1')!], [1, 2, 3, 4, 5, 9, 255, 255]);
  assert.throws(() => d.eval('S.write("f1", new Uint8Array([7]), 0 + 1)'), (e: Error & { code?: string }) => {
    assert.match(e.message, /Storage\.write\("f1", 1 bytes at offset 1\) failed: File already written with different data/);
    return true;
  });
  d.eval('S.write("a.b", new Uint8Array([1])); S.write("axb", new Uint8Array([1]));');
  assert.deepEqual(d.json('S.list("a.")'), ['a.b'], 'a prefix is literal (a RegExp "a." would match axb)');
  assert.deepEqual(d.json<string[]>('R.list(/a./)').sort(), ['a.b', 'axb', long].sort());
  assert.equal(d.json('S.read("nope")'), undefined);
  assert.equal(d.json('S.mapped("f1") instanceof Uint8Array && S.mapped("f1").length'), 8);
  d.powerOff();
});

test('sockets: binary bytes both ways in 536-byte chunks, E.toString on write, refusal, close semantics, the receive bound', async () => {
  const got: Buffer[] = [];
  // Per connection: 256 bytes received -> 2000 bytes back; a single byte -> 3000 bytes back.
  const srv = net.createServer((s) => {
    let n = 0;
    s.on('data', (b) => {
      got.push(b);
      const was = n;
      n += b.length;
      if (was < 256 && n >= 256) s.write(Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 7) & 255)));
      if (n === 1) s.write(Buffer.alloc(3000, 1));
    });
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const port = (srv.address() as net.AddressInfo).port;
  const d = bare();
  try {
    d.eval(`var T = DepinApp.espruinoTimers(); var F = DepinApp.espruinoSocketFactory({ timers: T, maxBuffered: 2500 });
      var E1 = { ev: [], bytes: [], reads: 0 };
      var s = F({ host: '127.0.0.1', port: ${port},
        onConnect: function () { E1.ev.push('connect'); var b = new Uint8Array(256); for (var i = 0; i < 256; i++) b[i] = i; s.write(b); },
        onReadable: function () { var r = s.read(); E1.reads++; for (var i = 0; i < r.length; i++) E1.bytes.push(r[i]); },
        onError: function (e) { E1.ev.push('error ' + e.message); }, onClose: function () { E1.ev.push('close'); } });`);
    await until('2000 bytes back', () => d.json<number>('E1.bytes.length') >= 2000);
    const sent = Buffer.concat(got);
    assert.equal(sent.length, 256, 'the device sent 256 bytes, not their text');
    assert.deepEqual([...sent.subarray(0, 4)], [0, 1, 2, 3]);
    const back = d.json<number[]>('E1.bytes');
    assert.deepEqual(back, Array.from({ length: 2000 }, (_, i) => (i * 7) & 255));
    assert.ok(d.json<number>('E1.reads') >= Math.ceil(2000 / ESP32_CHUNK), 'arrived in 536-byte chunks');
    // Negative control: Espruino's own socket sends a typed array as text.
    got.length = 0;
    d.eval(`var raw = require('net').connect({ host: '127.0.0.1', port: ${port} }, function () { raw.write(new Uint8Array([1, 2, 3, 4, 5])); });`);
    await until('raw bytes', () => got.length > 0);
    await sleep(30);
    assert.equal(Buffer.concat(got).toString(), '1,2,3,4,5', 'a Uint8Array written without E.toString goes out as "1,2,3,4,5"');
    // The receive bound: 3000 unread bytes against maxBuffered 2500 close the socket with E_SOCKET_OVERFLOW.
    d.eval(`var E2 = []; var s2 = F({ host: '127.0.0.1', port: ${port}, onConnect: function () { s2.write(new Uint8Array([0xfd])); },
      onError: function (e) { E2.push(e.code); }, onClose: function () { E2.push('close'); } });`);
    await until('overflow', () => d.json<string[]>('E2').length >= 2);
    assert.deepEqual(d.json('E2'), ['E_SOCKET_OVERFLOW', 'close']);
    // close(): idempotent, silent; write after close throws.
    d.eval('s.close(); s.close();');
    await sleep(50);
    assert.deepEqual(d.json('E1.ev'), ['connect'], 'no callback after close()');
    assert.throws(() => d.eval('s.write(new Uint8Array(1))'), /closed socket/);
    // A refused connection: onError, then onClose once.
    const dead = await new Promise<number>((ok) => {
      const t = net.createServer();
      t.listen(0, '127.0.0.1', () => {
        const p = (t.address() as net.AddressInfo).port;
        t.close(() => ok(p));
      });
    });
    d.eval(`var E3 = []; F({ host: '127.0.0.1', port: ${dead}, onError: function (e) { E3.push('error'); }, onClose: function () { E3.push('close'); } });`);
    await until('refusal', () => d.json<string[]>('E3').length >= 2);
    await sleep(50);
    assert.deepEqual(d.json('E3'), ['error', 'close']);
  } finally {
    d.powerOff();
    srv.close();
  }
});

test('entropy: hardware words only with the radio on, a stuck register fails loudly, no output before collection', async () => {
  const d = bare({ seed: 11 });
  d.eval(`var T = DepinApp.espruinoTimers(); var up = function () { return getTime() * 1000; };
    var H = DepinApp.hardwareEntropy('esp32', { timers: T, now: up, collectMs: 200, minWords: 128, maxWaitMs: 400 });
    var R = {};
    try { H.randomBytes(32); } catch (e) { R.early = e.code; }
    H.collect(function () { return true; }, function (e) { R.stuck = e ? e.code : 'ok'; });`);
  await until('stuck', () => d.json('R.stuck') !== undefined);
  assert.equal(d.json('R.early'), 'E_ENTROPY_NOT_READY');
  assert.equal(d.json('R.stuck'), 'E_ENTROPY_STUCK', 'radio off (Wi-Fi not started): the register repeats and the test trips');
  d.eval(`var H2 = DepinApp.hardwareEntropy('esp32', { timers: T, now: up, collectMs: 200, minWords: 128, maxWaitMs: 300 });
    H2.collect(function () { return false; }, function (e) { R.off = e ? e.code + ' ' + e.message : 'ok'; });`);
  await until('radio never on', () => d.json('R.off') !== undefined);
  assert.match(d.json<string>('R.off'), /^E_ENTROPY radio on for only 0 ms/);
  // With Wi-Fi started the register is random: a key, and a different one on another device.
  d.eval(`require('Wifi').connect('ap', {}, function () {});
    var H3 = DepinApp.hardwareEntropy('esp32', { timers: T, now: up, collectMs: 200, minWords: 128 });
    H3.collect(function () { return true; }, function (e) { R.ok = e ? e.message : 'ok'; R.key = Array.prototype.slice.call(H3.randomBytes(32)); R.src = H3.source(); R.math = Math.random(); });`);
  await until('collected', () => d.json('R.ok') !== undefined);
  assert.equal(d.json('R.ok'), 'ok');
  assert.equal(d.json('R.src'), 'hw-rng@0x60035144');
  assert.ok(d.rngReads.on >= 128);
  const d2 = bare({ seed: 12 });
  d2.eval(`var T = DepinApp.espruinoTimers(); var R = {}; require('Wifi').connect('ap', {}, function () {});
    var H = DepinApp.hardwareEntropy('esp32', { timers: T, now: function () { return getTime() * 1000; }, collectMs: 200, minWords: 128 });
    H.collect(function () { return true; }, function () { R.key = Array.prototype.slice.call(H.randomBytes(32)); R.math = Math.random(); });`);
  await until('collected 2', () => d2.json('R.key') !== undefined);
  assert.notDeepEqual(d2.json('R.key'), d.json('R.key'), 'two devices, two keys');
  assert.equal(d2.json('R.math'), d.json('R.math'), "Math.random is the same on every device (Espruino's fixed seed): never for keys");
  assert.throws(() => d.eval('DepinApp.hardwareEntropy("esp8266", { timers: T })'), /no hardware RNG known for chip "esp8266"/);
  d.powerOff();
  d2.powerOff();
});

test('wifi: joins, re-joins after a drop with backoff through silent failures, counts reconnects, RSSI only while up', async () => {
  const d = bare({ wifi: { connectDelayMs: 20, rssi: -67 } });
  d.eval(`var T = DepinApp.espruinoTimers(); var logs = [];
    var Wl = DepinApp.espruinoWifi(require('Wifi'), { ssid: 'ap', password: 'pw', joinTimeoutMs: 1000, minBackoffMs: 50, maxBackoffMs: 200 }, T,
      function (l, m) { logs.push(m); });
    Wl.start();`);
  await until('up', () => d.json('Wl.connected()') === true);
  assert.equal(d.json('Wl.net.rssi()'), -67);
  assert.equal(d.json('Wl.net.reconnects()'), 0);
  d.wifi.drop(2); // the next two joins never answer (ESP32: no callback for a missing AP)
  await sleep(10);
  assert.equal(d.json('Wl.net.rssi()'), undefined);
  await until('re-joined', () => d.json('Wl.connected()') === true, 6000);
  const st = d.json<{ joins: number; failures: number; disconnects: number; reconnects: number }>('Wl.stats()');
  assert.deepEqual({ joins: st.joins, failures: st.failures, disconnects: st.disconnects, reconnects: st.reconnects }, { joins: 4, failures: 2, disconnects: 1, reconnects: 1 });
  assert.equal(d.wifi.joins, 4);
  assert.ok(d.json<string[]>('logs').some((l) => /no answer within 1000 ms/.test(l)));
  d.powerOff();
});

test('io: serial with RS485 direction, I2C with NACK, 1-Wire ROM ids, watches with debounce and edge time', async () => {
  const link = new SerialLink('Serial3', { baud: 9600 }, { latencyMs: 1, maxChunk: 8 });
  const heard: number[] = [];
  link.peripheral.onData = (b) => {
    heard.push(...b);
    if (heard.length === 8) link.peripheral.write(new Uint8Array([0x01, 0x03, 0x02, 0x00, 0x2a]));
  };
  const bus = new I2CBus('I2C1');
  bus.attach(0x44, { write: () => {}, read: (n) => new Uint8Array(n).fill(0x5a) });
  const ow = new OneWireBus('D23');
  ow.attach({ rom: new Uint8Array([0x28, 1, 2, 3, 4, 5, 6, 0x99]), write: () => {}, read: (n) => new Uint8Array(n).fill(0x11) });
  const d = bare({ serial: { Serial3: link }, i2c: { I2C1: bus }, onewire: { D23: ow } });
  try {
    d.eval(`var T = DepinApp.espruinoTimers(); var C = DepinApp.espruinoClock(); var IO = DepinApp.espruinoIO({ clock: C, timers: T });
      var rx = [];
      var ser = IO.serial({ port: 'Serial3', baud: 9600, rx: 'D16', tx: 'D17', de: 'D18', onReadable: function () { var r = ser.read(); for (var i = 0; i < r.length; i++) rx.push(r[i]); } });
      ser.write(new Uint8Array([1, 3, 0, 0, 0, 1, 0x84, 0x0a]));`);
    await until('answer', () => d.json<number[]>('rx').length >= 5);
    assert.deepEqual(heard, [1, 3, 0, 0, 0, 1, 0x84, 0x0a]);
    assert.deepEqual(d.json('rx'), [1, 3, 2, 0, 0x2a]);
    const de = d.pins.D18.history.map((h) => h.level);
    assert.deepEqual(de, [0, 1, 0], 'DE low at open, high for the frame, low after');
    const held = (d.pins.D18.history[2].t - d.pins.D18.history[1].t) * 1000;
    assert.ok(held >= 8 * 10 * 1000 / 9600, 'DE held ' + held.toFixed(2) + ' ms for 8 bytes at 9600 baud (8.3 ms on the wire)');
    assert.throws(() => d.eval("IO.serial({ port: 'Serial3', baud: 9600 })"), /already open/);
    assert.throws(() => d.eval("IO.serial({ port: 'Serial9', baud: 9600 })"), /serial port "Serial9" does not exist/);
    d.eval("var dev = IO.i2c({ bus: 'I2C1', address: 0x44 }); dev.write(new Uint8Array([0x24, 0x00])); var got = dev.read(6);");
    assert.deepEqual(d.json('[got instanceof Uint8Array, Array.prototype.slice.call(got)]'), [true, [0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a]]);
    assert.throws(() => d.eval("IO.i2c({ bus: 'I2C1', address: 0x45 }).write(new Uint8Array([1]))"), (e: Error & { code?: string }) => e.code === 'E_I2C_NACK');
    d.eval("var w = IO.onewire({ pin: 'D23' }); var roms = w.search(); w.select(roms[0]); var owr = w.read(2);");
    assert.deepEqual(d.json('Array.prototype.slice.call(roms[0])'), [0x28, 1, 2, 3, 4, 5, 6, 0x99]);
    assert.deepEqual(d.json('Array.prototype.slice.call(owr)'), [0x11, 0x11]);
    // A debounced watch: a 5 ms glitch is ignored, a held level reports the edge's own time.
    d.eval(`var edges = []; IO.watch({ pin: 'D32', edge: 'falling', debounceMs: 20, pull: 'up', onEdge: function (e) { edges.push([e.rising, e.time, C.uptime()]); } });`);
    d.setPin('D32', 0);
    await sleep(5);
    d.setPin('D32', 1);
    await sleep(40);
    assert.deepEqual(d.json('edges'), [], 'a 5 ms glitch under a 20 ms debounce');
    d.setPin('D32', 0);
    await until('edge', () => d.json<unknown[]>('edges').length === 1);
    const [rising, at, seen] = d.json<[boolean, number, number]>('edges[0]');
    assert.equal(rising, false);
    assert.ok(seen - at >= 15, 'edge time ' + at.toFixed(1) + ' is the interrupt time, before the debounced callback at ' + seen.toFixed(1));
    d.eval('ser.close(); ser.close();');
    assert.equal(d.pins.D18.level, 0);
  } finally {
    d.powerOff();
  }
});

test('status: LED polarity, watchdog fed by host timers only, long press erases config, a second one the key too', async () => {
  const d = bare();
  d.eval(`var T = DepinApp.espruinoTimers(); var led = DepinApp.statusLed({ pin: 'D2', activeLow: true }, T); led.set('error');`);
  await sleep(350);
  const levels = d.pins.D2.history.map((h) => h.level);
  assert.ok(levels.length >= 4 && levels[0] === 0 && levels[1] === 1, 'active-low: on is 0, off is 1: ' + levels.join(''));
  // Button: long press arms, second long press within the window resets identity.
  d.eval(`var acts = []; var C = DepinApp.espruinoClock(); var IO = DepinApp.espruinoIO({ clock: C, timers: T });
    DepinApp.factoryButton({ pin: 'D0', activeLow: true }, IO.watch, T, { resetConfig: function () { acts.push('config'); }, resetIdentity: function () { acts.push('identity'); } }, 150, 1000);`);
  const press = async (ms: number) => {
    d.setPin('D0', 0);
    await sleep(ms);
    d.setPin('D0', 1);
    await sleep(80);
  };
  await press(60); // short: nothing
  await press(220); // long: armed
  assert.deepEqual(d.json('acts'), []);
  await press(220); // second long press inside the window
  assert.deepEqual(d.json('acts'), ['identity']);
  await press(220); // arms again; the window runs out: config only
  await sleep(1100);
  assert.deepEqual(d.json('acts'), ['identity', 'config']);
  // Watchdog: fed while host timers run; a loop without them lets it bite.
  d.eval(`var dog = DepinApp.watchdog(1); var T2 = DepinApp.espruinoTimers(function () { dog.kick(); });
    var n = 0; function tick() { if (++n < 8) T2.setTimeout(tick, 100); } tick();`);
  await sleep(700);
  assert.equal(d.watchdog.fired, false);
  assert.ok(d.watchdog.kicks >= 6);
  await sleep(1500);
  assert.equal(d.watchdog.fired, true, 'no timer ran for > 1 s: reset');
});

test('config: unknown options named with a suggestion, missing broker, console lock needs a password', () => {
  const d = bare();
  const check = (c: unknown) => {
    try {
      d.eval('DepinApp.checkConfig(' + JSON.stringify(c) + ')');
      return '';
    } catch (e) {
      return (e as Error).message;
    }
  };
  const msg = check({ v: 1, agent: {}, wfi: { ssid: 'x' }, console: { lock: true }, sntp: { servers: ['a'], port: 0 } });
  assert.match(msg, /wfi: unknown option; did you mean "wifi"\?/);
  assert.match(msg, /agent\.broker: required option missing/);
  assert.match(msg, /console\.password: required when console\.lock is true/);
  assert.match(msg, /sntp\.port: expected an integer in 1\.\.65535, got 0/);
  assert.equal(check({ v: 1, agent: { broker: { host: 'h', port: 1 } }, sources: [] }), '');
  d.powerOff();
});

test('boot: a bad config fails loudly (state and errors); console lock after a good one; no G table is survivable; only the agent feeds the watchdog', async () => {
  const bad = new FlashStorage();
  bad.write('depin.cfg', new Uint8Array(Buffer.from(JSON.stringify({ v: 1, agent: { broker: { host: 'h', port: 1 } }, wifi: { ssid: 'x', pasword: 'y' } }))));
  const d = bootEspruinoVm(code, { flash: bad, rngRegister: ESP32_RNG, seed: 3 });
  const st = d.json<{ state: string; errors: string[] }>('{ state: DepinApp.app().state, errors: DepinApp.app().errors }');
  assert.equal(st.state, 'failed');
  assert.match(st.errors[0], /^config: invalid config:\n {2}wifi\.pasword: unknown option; did you mean "password"\?/);
  d.powerOff();
  const good = new FlashStorage();
  const cfg = { v: 1, agent: { prefix: 'depin', broker: { host: '127.0.0.1', port: 9, reconnect: { minMs: 1000, maxMs: 2000, factor: 2 } }, operators: [],
    batchMaxReadings: 4, batchMaxAgeMs: 60000, maxPendingReadings: 16, publishWindow: 2 }, sources: [], console: { lock: true, password: 'letmein' }, wifi: { ssid: 'ap' }, watchdogS: 2 };
  good.write('depin.cfg', new Uint8Array(Buffer.from(JSON.stringify(cfg))));
  const d2 = bootEspruinoVm(code, { flash: good, rngRegister: ESP32_RNG, seed: 4 });
  try {
    await until('running', () => d2.json('DepinApp.app().state') === 'running', 10000);
    assert.deepEqual(d2.console, { password: 'letmein', locked: true });
    assert.ok(good.read('key'), 'the key was made');
    assert.equal(d2.json('DepinApp.app().accel.gtable'), 'none', 'no G table provisioned: built in RAM at the first signature');
    // The agent's loop feeds the watchdog; stop it and the LED and Wi-Fi timers alone do not.
    await sleep(2500);
    assert.equal(d2.watchdog.fired, false);
    d2.eval('DepinApp.app().agent.stop()');
    await until('watchdog reset', () => d2.watchdog.fired, 5000);
  } finally {
    d2.powerOff();
  }
});
