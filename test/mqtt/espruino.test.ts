// The MQTT codec and session client of the shipped bundle (dist/core.js) on the real Espruino
// interpreter (Linux build named by ESPRUINO): the vectors decode and encode there, split at
// every byte, and the client talks to an aedes broker in this process through Espruino's own
// `net` sockets (binary strings, E.toString on write). Byte-for-byte agreement of the codec
// with Node is also part of test/bundle/conformance.test.ts; the live session is only here.
// Skips with the harness's reason when ESPRUINO is unset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Aedes } from 'aedes';
import { runEspruino, skipReason } from '../harness/espruino-real.js';
import { shippedBundle } from '../bundle/hosts.js';
import { startAedes } from '../harness/brokers.js';
import { toHex } from '../../firmware/core/util/bytes.js';
import { VALID, INVALID } from './vectors.js';

const skip = skipReason();

/** dist/core.js (built when stale; CORE_BUNDLE names another), with `M` naming the parts of its DepinCore used below. */
async function bundle(): Promise<string> {
  return (
    readFileSync((await shippedBundle()).path, 'utf8') +
    '\nvar M = { encode: DepinCore.mqttEncode, decode: DepinCore.mqttDecode, createParser: DepinCore.createMqttParser,' +
    ' MqttClient: DepinCore.MqttClient, fromHex: DepinCore.fromHex, toHex: DepinCore.toHex, bytesFromBinaryString: DepinCore.bytesFromBinaryString };\n'
  );
}

const SCRIPT = (port: number) => `
var out = { vectors: 0, splits: 0, invalid: 0, errors: [] };
// Not util/bytes fromHex: its /^[0-9a-fA-F]{2}$/ check rejects every pair on Espruino 2v29.
function unhex(h) { var b = new Uint8Array(h.length / 2); for (var i = 0; i < b.length; i++) b[i] = parseInt(h.substr(2 * i, 2), 16); return b; }
out.fromHexWorks = (function () { try { M.fromHex('0a'); return true; } catch (e) { return false; } })();
function fail(what) { out.errors.push(what); }
VALID.forEach(function (v) {
  try {
    var bytes = unhex(v.hex);
    var p = M.decode(bytes);
    if (M.toHex(M.encode(p)) !== v.hex) fail('re-encode ' + v.name);
    var want = JSON.stringify(p, function (k, x) { return x instanceof Uint8Array ? M.toHex(x) : x; });
    for (var i = 0; i <= bytes.length; i++) {
      var got = [];
      var parser = M.createParser({ maxPacketSize: 4096, onPacket: function (q) { got.push(q); } });
      parser.push(bytes.subarray(0, i));
      parser.push(bytes.subarray(i));
      if (got.length !== 1 || JSON.stringify(got[0], function (k, x) { return x instanceof Uint8Array ? M.toHex(x) : x; }) !== want) fail('split ' + i + ' ' + v.name);
      out.splits++;
    }
    out.vectors++;
  } catch (e) { fail(v.name + ': ' + e.message); }
});
INVALID.forEach(function (v) {
  try { M.decode(unhex(v.hex)); fail('accepted ' + v.name); }
  catch (e) { if (e.code !== 'E_MQTT_MALFORMED' || e.message.indexOf('[' + v.clause + ']') !== 0) fail(v.name + ': ' + e.code + ' ' + e.message); else out.invalid++; }
});
out.wideTopic = M.decode(unhex(VALID.filter(function (v) { return v.name === '${UTF8_VECTOR}'; })[0].hex)).topic;
// Timing: encode + decode of a 256-byte QoS 1 PUBLISH.
var payload = new Uint8Array(256);
for (var i = 0; i < 256; i++) payload[i] = i;
var t0 = getTime();
for (var i = 0; i < 20; i++) M.decode(M.encode({ type: 'publish', topic: 'd/meter-7/batch', payload: payload, qos: 1, retain: false, dup: false, packetId: 1 + i }));
out.roundTripMs = (getTime() - t0) * 1000 / 20;

// An ECMA-419-shaped socket over Espruino's net module.
function espSocket(o) {
  var closed = false, chunks = [], n = 0;
  var c = require('net').connect({ host: o.host, port: o.port }, function () { if (!closed && o.onConnect) o.onConnect(); });
  c.on('data', function (d) {
    if (closed) return;
    chunks.push(M.bytesFromBinaryString(d));
    n += d.length;
    if (o.onReadable) o.onReadable(n);
  });
  c.on('close', function () { if (!closed) { closed = true; if (o.onClose) o.onClose(); } });
  c.on('error', function (e) { if (!closed && o.onError) o.onError(new Error(String(e && e.message || e))); });
  return {
    read: function () {
      if (!n) return undefined;
      var all = new Uint8Array(n), at = 0;
      for (var i = 0; i < chunks.length; i++) { all.set(chunks[i], at); at += chunks[i].length; }
      chunks = []; n = 0;
      return all;
    },
    write: function (u8) { if (closed) throw new Error('closed'); c.write(E.toString(u8)); },
    close: function () { if (!closed) { closed = true; c.end(); } }
  };
}
var host = {
  socket: espSocket,
  timers: { setTimeout: function (f, ms) { return setTimeout(f, ms); }, clearTimeout: function (h) { clearTimeout(h); } },
  clock: { now: function () { return Date.now(); }, uptime: function () { return getTime() * 1000; }, synced: function () { return true; } },
  entropy: { randomBytes: function (k) { var b = new Uint8Array(k); for (var i = 0; i < k; i++) b[i] = (Math.random() * 256) | 0; return b; } },
  log: function (level, msg) { if (level !== 'debug') print('LOG ' + level + ' ' + msg); }
};
var echoed = [];
var acks = [];
var client = new M.MqttClient(host, {
  host: '127.0.0.1', port: ${port}, clientId: 'espruino-1', keepAliveS: 1, pingTimeoutMs: 800,
  maxInflight: 2, maxQueued: 8, maxPacketSize: 2048,
  reconnect: { minMs: 50, maxMs: 500, factor: 2 },
  will: { topic: 'esp/will', payload: new Uint8Array([0, 255]), qos: 1 },
  onMessage: function (topic, p) { echoed.push({ topic: topic, hex: M.toHex(p) }); },
  onAck: function (h) { acks.push(h); }
});
client.subscribe('esp/echo/#', 1);
client.start();
var sent = false;
var poll = setInterval(function () {
  if (client.state === 'CONNECTED' && !sent) {
    sent = true;
    var big = new Uint8Array(1200);
    for (var i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
    client.publish('esp/echo/q1', payload, { qos: 1 });
    client.publish('esp/echo/q0', payload, { qos: 0 });
    client.publish('esp/echo/big', big, { qos: 1 });
    client.publish('esp/other', payload, { qos: 1 });
  }
}, 20);
setTimeout(function () {
  clearInterval(poll);
  out.state = client.state;
  out.stats = JSON.parse(JSON.stringify(client.stats));
  out.acks = acks;
  out.echoed = echoed;
  client.stop();
  print('RESULT ' + JSON.stringify(out));
}, 2600);
`;

const UTF8_VECTOR = 'PUBLISH with a multi-byte UTF-8 topic';
let run: Promise<{ out: any; stdout: string; code: string }> | undefined;

/** One interpreter run shared by the tests below. */
function espruinoRun(): Promise<{ out: any; stdout: string; code: string }> {
  run ??= (async () => {
    const code = await bundle();
    const accepted: string[] = [];
    const b = await startAedes({
      setup: (broker: Aedes) => {
        broker.authorizePublish = (_c, p, cb) => {
          accepted.push(p.topic + ':' + p.dup);
          cb(null);
        };
      },
    });
    try {
      const valid = VALID.map((v) => ({ name: v.name, hex: toHex(v.bytes) }));
      const invalid = INVALID.map((v) => ({ name: v.name, hex: toHex(v.bytes), clause: v.clause }));
      const script = code + '\nvar VALID = ' + JSON.stringify(valid) + ';\nvar INVALID = ' + JSON.stringify(invalid) + ';\n' + SCRIPT(b.port);
      const r = await runEspruino(script, { timeoutMs: 30000 });
      const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
      assert.ok(line, 'no RESULT line; stdout:\n' + r.stdout + '\nstderr:\n' + r.stderr);
      const out = JSON.parse(line.slice(7));
      out.accepted = accepted;
      return { out, stdout: r.stdout, code };
    } finally {
      await b.close();
    }
  })();
  return run;
}

test('on Espruino: vectors, every split, invalid inputs, and a live session against aedes', { timeout: 60000 }, async (t) => {
  if (skip) return t.skip(skip);
  const { out, stdout, code } = await espruinoRun();
  t.diagnostic('Espruino: encode+decode of a 256-byte PUBLISH ' + out.roundTripMs.toFixed(2) + ' ms; dist/core.js ' + code.length + ' chars');
  assert.deepEqual(out.errors.filter((e: string) => !e.includes(UTF8_VECTOR)), []);
  assert.equal(out.vectors, VALID.length);
  assert.equal(out.splits, VALID.reduce((n, v) => n + v.bytes.length + 1, 0));
  assert.equal(out.invalid, INVALID.length);
  assert.equal(out.wideTopic, '\u00fc/?', 'a topic beyond U+00FF decodes lossily there instead of killing the link');
  assert.equal(out.state, 'CONNECTED', stdout);
  assert.equal(out.stats.connects, 1);
  assert.equal(out.stats.malformed, 0);
  assert.equal(Object.values(out.stats.disconnects).reduce((a: number, x) => a + (x as number), 0), 0, 'keep-alive held the 1 s link for 2.6 s: ' + JSON.stringify(out.stats));
  assert.deepEqual(out.acks.sort(), [1, 2, 3, 4], 'QoS 1 PUBACKs and the QoS 0 write');
  const all = new Uint8Array(256).map((_, i) => i);
  const big = new Uint8Array(1200).map((_, i) => (i * 7) & 255);
  const echoed = Object.fromEntries(out.echoed.map((e: { topic: string; hex: string }) => [e.topic, e.hex]));
  assert.equal(echoed['esp/echo/q1'], toHex(all));
  assert.equal(echoed['esp/echo/q0'], toHex(all));
  assert.equal(echoed['esp/echo/big'], toHex(big), '1.2 KB payload arrives over Espruino sockets intact');
  assert.equal(echoed['esp/other'], undefined);
  assert.ok(out.accepted.includes('esp/echo/big:false'), JSON.stringify(out.accepted));
});

test('on Espruino: a non-ASCII topic round-trips', {
  timeout: 60000,
  todo: "String.fromCharCode keeps only the low byte on Espruino 2v29: characters above U+00FF in topics decode as '?'",
}, async (t) => {
  if (skip) return t.skip(skip);
  const { out } = await espruinoRun();
  assert.deepEqual(out.errors, []);
});
