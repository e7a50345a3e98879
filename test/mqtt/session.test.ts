// The session state machine against a scripted broker on virtual time: every transition,
// bound and failure path, deterministic and fast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MqttClient } from '../../firmware/core/session/mqtt-client.js';
import type { MqttClientOptions, MqttState } from '../../firmware/core/session/mqtt-client.js';
import type { Packet, PublishPacket } from '../../firmware/core/codec/mqtt.js';
import { fakeHost } from './fake-host.js';

const BASE: MqttClientOptions = {
  host: 'broker.test',
  port: 1883,
  clientId: 'dev-1',
  keepAliveS: 10,
  pingTimeoutMs: 2000,
  connectTimeoutMs: 5000,
  maxInflight: 3,
  maxQueued: 4,
  reconnect: { minMs: 100, maxMs: 1000, factor: 2 },
};

function setup(extra: Partial<MqttClientOptions> = {}, hostOpts = {}) {
  const env = fakeHost(hostOpts);
  const states: string[] = [];
  const acks: number[] = [];
  const messages: PublishPacket[] = [];
  const client = new MqttClient(env.host, {
    ...BASE,
    onState: (s: MqttState, why: string) => void states.push(s + ':' + why),
    onAck: (h) => void acks.push(h),
    onMessage: (_t, _p, pkt) => void messages.push(pkt),
    ...extra,
  });
  /** start() or a retry opened a socket: accept it with CONNACK. */
  const accept = (sessionPresent = false) => {
    const s = env.last();
    s.open();
    s.feed({ type: 'connack', sessionPresent, returnCode: 0 });
    return s;
  };
  return { env, client, states, acks, messages, accept };
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const pubs = (ps: Packet[]) => ps.filter((p): p is PublishPacket => p.type === 'publish');

test('start → CONNECTING → CONNECT on open → CONNECTED on CONNACK 0', () => {
  const { env, client, states, accept } = setup({ username: 'u', password: bytes(2), will: { topic: 'd/dev-1/status', payload: bytes(3), qos: 1, retain: true } });
  assert.equal(client.state, 'DISCONNECTED');
  client.start();
  assert.equal(client.state, 'CONNECTING');
  assert.equal(env.sockets.length, 1);
  assert.equal(env.last().opts.host, 'broker.test');
  assert.deepEqual(env.last().packets(), [], 'nothing written before the socket opens');
  const s = accept();
  assert.deepEqual(s.packets()[0], {
    type: 'connect', clientId: 'dev-1', keepAlive: 10, clean: false, username: 'u', password: bytes(2),
    will: { topic: 'd/dev-1/status', payload: bytes(3), qos: 1, retain: true },
  });
  assert.equal(client.state, 'CONNECTED');
  assert.deepEqual(states, ['CONNECTING:attempt 1', 'CONNECTED:new session']);
  assert.equal(client.stats.connects, 1);
  assert.equal(client.stats.attempts, 1);
});

test('QoS 1 window: at most maxInflight unacknowledged, the rest queued, PUBACK releases the next', () => {
  const { env, client, acks, accept } = setup();
  client.start();
  const s = accept();
  const done: number[] = [];
  const handles = [0, 1, 2, 3, 4].map((i) => client.publish('t/' + i, bytes(4, i), { qos: 1 }, (h) => done.push(h)));
  assert.deepEqual(handles, [1, 2, 3, 4, 5]);
  let sent = pubs(s.packets());
  assert.equal(sent.length, 3, 'window of 3');
  assert.equal(client.stats.inflight, 3);
  assert.equal(client.stats.queued, 2);
  s.feed({ type: 'puback', packetId: sent[1].packetId as number }); // out of order is fine
  assert.deepEqual(done, [2]);
  assert.deepEqual(acks, [2]);
  sent = pubs(s.packets());
  assert.equal(sent.length, 4);
  assert.equal(sent[3].topic, 't/3');
  for (const p of sent) s.feed({ type: 'puback', packetId: p.packetId as number });
  sent = pubs(s.packets());
  s.feed({ type: 'puback', packetId: sent[4].packetId as number });
  assert.deepEqual(done.sort(), [1, 2, 3, 4, 5]);
  assert.equal(client.stats.inflight, 0);
  assert.equal(client.stats.queued, 0);
  assert.equal(new Set(sent.map((p) => p.packetId)).size, 5, 'distinct packet ids');
  void env;
});

test('maxQueued is a hard bound: canPublish() false, publish throws E_MQTT_QUEUE_FULL', () => {
  const { client } = setup();
  // Not connected: everything waits in the queue.
  for (let i = 0; i < 4; i++) client.publish('t', bytes(1), { qos: 1 });
  assert.equal(client.canPublish(), false);
  assert.throws(() => client.publish('t', bytes(1), { qos: 1 }), (e: any) => e.code === 'E_MQTT_QUEUE_FULL' && /maxQueued 4/.test(e.message));
  assert.equal(client.stats.queued, 4);
});

test('maxPacketSize bounds outgoing publishes too', () => {
  const { client } = setup({ maxPacketSize: 100 });
  client.publish('t', bytes(100 - 5), { qos: 0 });
  assert.throws(() => client.publish('t', bytes(100 - 4), { qos: 0 }), (e: any) => e.code === 'E_MQTT_TOO_LARGE');
});

test('reconnect resends unacknowledged QoS 1 with DUP=1 and the same ids, in order, then the queue', () => {
  const { env, client, accept } = setup();
  client.start();
  const s1 = accept();
  for (let i = 0; i < 5; i++) client.publish('t/' + i, bytes(2, i), { qos: 1 });
  const first = pubs(s1.packets());
  assert.equal(first.length, 3);
  assert.ok(first.every((p) => !p.dup));
  s1.feed({ type: 'puback', packetId: first[0].packetId as number }); // t/0 done → t/3 sent
  s1.opts.onClose?.(); // link lost with t/1, t/2, t/3 in flight and t/4 queued
  assert.equal(client.state, 'BACKOFF');
  assert.equal(client.stats.disconnects.socket_closed, 1);
  env.advance(1000);
  assert.equal(env.sockets.length, 2);
  const s2 = accept(true);
  const again = pubs(s2.packets());
  assert.deepEqual(again.slice(0, 3).map((p) => [p.topic, p.dup]), [['t/1', true], ['t/2', true], ['t/3', true]]);
  assert.deepEqual(again.slice(0, 3).map((p) => p.packetId), pubs(s1.packets()).slice(1).map((p) => p.packetId));
  assert.equal(again.length, 3, 't/4 waits: the window is full');
  s2.feed({ type: 'puback', packetId: again[0].packetId as number });
  const last = pubs(s2.packets())[3];
  assert.deepEqual([last.topic, last.dup], ['t/4', false]);
  assert.equal(client.stats.reconnects, 1);
});

test('backoff: full jitter under min(maxMs, minMs*factor^n), reset by CONNACK 0', () => {
  const { env, client, accept } = setup({}, { randomByte: 0xff }); // u just below 1: delay = ceiling - 1
  client.start();
  const delays: number[] = [];
  for (let i = 0; i < 6; i++) {
    env.last().opts.onError?.(new Error('ECONNREFUSED'));
    delays.push(client.stats.backoffMs);
    assert.equal(client.state, 'BACKOFF');
    env.advance(client.stats.backoffMs - 1);
    assert.equal(client.state, 'BACKOFF', 'not before its time');
    env.advance(1);
    assert.equal(client.state, 'CONNECTING');
  }
  assert.deepEqual(delays, [99, 199, 399, 799, 999, 999]);
  accept();
  env.last().opts.onClose?.();
  assert.equal(client.stats.backoffMs, 99, 'a successful connect resets the ceiling');
  env.randomByte = 0;
  env.advance(99);
  env.last().opts.onClose?.();
  assert.equal(client.stats.backoffMs, 0, 'full jitter reaches down to 0');
  env.randomByte = 0x80; // u = 0x80808080 / 2^32
  env.advance(0);
  env.last().opts.onClose?.();
  assert.equal(client.stats.backoffMs, Math.floor((0x80808080 / 2 ** 32) * 400));
});

test('CONNACK refusals: reported with their meaning; unfixable ones back off at maxMs, 3 at the normal pace', () => {
  const { env, client } = setup({}, { randomByte: 0 });
  client.start();
  for (const code of [1, 2, 4, 5]) {
    env.last().open();
    env.last().feed({ type: 'connack', sessionPresent: false, returnCode: code });
    assert.equal(client.state, 'BACKOFF');
    assert.equal(client.stats.backoffMs, 1000, 'code ' + code + ' waits maxMs');
    assert.equal(client.stats.lastRefusal, code);
    env.advance(1000);
  }
  assert.ok(env.logs.some((l) => l.level === 'error' && l.msg.includes('CONNACK 5 (not authorized)')));
  assert.ok(client.stats.lastReason.includes('not authorized'));
  env.last().open();
  env.last().feed({ type: 'connack', sessionPresent: false, returnCode: 3 });
  assert.equal(client.stats.backoffMs, 0, 'server unavailable: jittered');
  assert.equal(client.stats.refused, 5);
  assert.equal(client.stats.disconnects.refused, 5);
  assert.equal(client.stats.connects, 0);
});

test('connect timeout covers socket open and CONNACK', () => {
  const { env, client } = setup();
  client.start();
  env.last().open();
  env.advance(4999);
  assert.equal(client.state, 'CONNECTING');
  env.advance(1);
  assert.equal(client.state, 'BACKOFF');
  assert.equal(client.stats.disconnects.connect_timeout, 1);
  assert.ok(env.sockets[0].closed);
});

test('keep-alive: PINGREQ after keepAliveS idle; an answer keeps the link, silence kills it', () => {
  const { env, client, accept } = setup();
  client.start();
  const s = accept();
  env.advance(9999);
  assert.deepEqual(s.types(), ['connect']);
  env.advance(1);
  assert.deepEqual(s.types(), ['connect', 'pingreq']);
  env.advance(1000);
  s.feed({ type: 'pingresp' });
  env.advance(9000);
  assert.deepEqual(s.types(), ['connect', 'pingreq', 'pingreq'], 'next ping 10 s after the last traffic');
  env.advance(1999);
  assert.equal(client.state, 'CONNECTED');
  env.advance(1);
  assert.equal(client.state, 'BACKOFF');
  assert.equal(client.stats.disconnects.keepalive_timeout, 1);
  assert.ok(s.closed);
});

test('keep-alive: steady outgoing traffic with a silent broker still gets pinged and declared dead', () => {
  const { env, client, accept } = setup();
  client.start();
  accept();
  const s = env.last();
  for (let t = 0; t < 12; t++) {
    client.publish('t', bytes(1), { qos: 0 });
    env.advance(1000);
    if (t < 11) assert.equal(client.state, 'CONNECTED', 'at ' + env.now());
  }
  assert.equal(s.types().filter((x) => x === 'pingreq').length, 1, 'receive side idle 10 s → PINGREQ');
  assert.equal(client.state, 'BACKOFF', 'and 2 s without an answer → dead');
  assert.equal(client.stats.disconnects.keepalive_timeout, 1);
});

test('malformed bytes from the broker: counted, connection closed, reconnect; nothing thrown', () => {
  const { env, client, accept } = setup();
  client.start();
  const s = accept();
  assert.doesNotThrow(() => s.feed(Uint8Array.of(0x41, 0x02, 0x00, 0x01))); // PUBACK with flags 0001
  assert.equal(client.state, 'BACKOFF');
  assert.equal(client.stats.malformed, 1);
  assert.equal(client.stats.disconnects.malformed, 1);
  assert.ok(client.stats.lastReason.includes('[MQTT-2.2.2-1]'), client.stats.lastReason);
  assert.ok(s.closed);
  env.advance(1000);
  accept();
  assert.equal(client.state, 'CONNECTED');
});

test('an incoming packet over maxPacketSize closes the link before it is buffered', () => {
  const { client, accept } = setup({ maxPacketSize: 64 });
  client.start();
  const s = accept();
  s.feed(Uint8Array.of(0x30, 0xff, 0xff, 0x03)); // claims ~64 KB
  assert.equal(client.state, 'BACKOFF');
  assert.equal(client.stats.disconnects.too_large, 1);
});

test('protocol errors: a packet before CONNACK, a server-only packet, QoS 2 delivery', () => {
  for (const bad of [
    { pre: true, p: { type: 'pingresp' } as Packet },
    { pre: false, p: { type: 'pingreq' } as Packet },
    { pre: false, p: { type: 'connack', sessionPresent: false, returnCode: 0 } as Packet },
    { pre: false, p: { type: 'publish', topic: 'x', payload: bytes(1), qos: 2, retain: false, dup: false, packetId: 5 } as Packet },
  ]) {
    const { env, client, accept } = setup();
    client.start();
    if (bad.pre) env.last().open(), env.last().feed(bad.p);
    else accept().feed(bad.p);
    assert.equal(client.state, 'BACKOFF', bad.p.type);
    assert.equal(client.stats.disconnects.protocol, 1);
  }
});

test('incoming PUBLISH: delivered, QoS 1 acknowledged; a throwing handler is logged, not fatal', () => {
  let calls = 0;
  const { env, client, accept } = setup({
    onMessage: () => {
      calls++;
      throw new Error('handler bug');
    },
  });
  client.start();
  const s = accept();
  s.feed({ type: 'publish', topic: 'cmd/x', payload: bytes(3, 9), qos: 1, retain: false, dup: false, packetId: 77 });
  s.feed({ type: 'publish', topic: 'cmd/y', payload: bytes(1), qos: 0, retain: false, dup: false });
  assert.equal(calls, 2);
  assert.deepEqual(s.packets().slice(1), [{ type: 'puback', packetId: 77 }]);
  assert.equal(client.state, 'CONNECTED');
  assert.ok(env.logs.some((l) => l.msg.includes('handler bug')));
});

test('two packets in one chunk and a packet split across chunks are both handled', () => {
  const { client, messages, accept } = setup();
  client.start();
  const s = accept();
  // "a" complete plus the first 3 bytes of "b", then the rest of "b".
  s.feed(Uint8Array.of(0x30, 0x05, 0x00, 0x01, 0x61, 0x01, 0x01, 0x30, 0x05, 0x00));
  s.feed(Uint8Array.of(0x01, 0x62, 0x02, 0x02));
  assert.deepEqual(messages.map((m) => [m.topic, Array.from(m.payload)]), [['a', [1, 1]], ['b', [2, 2]]]);
});

test('subscriptions: SUBACK grants, 0x80 refusal reported, re-sent only when the broker lost the session', () => {
  const { env, client, accept } = setup();
  client.start();
  const s1 = accept();
  const got: [string, number, string | undefined][] = [];
  client.subscribe('cmd/dev-1/#', 1, (e, g) => got.push(['cmd', g, e && (e as any).code]));
  client.subscribe('admin/#', 1, (e, g) => got.push(['admin', g, e && (e as any).code]));
  const subs = s1.packets().filter((p) => p.type === 'subscribe') as any[];
  assert.deepEqual(subs.map((p) => p.subscriptions), [[{ topic: 'cmd/dev-1/#', qos: 1 }], [{ topic: 'admin/#', qos: 1 }]]);
  s1.feed({ type: 'suback', packetId: subs[0].packetId, granted: [1] });
  s1.feed({ type: 'suback', packetId: subs[1].packetId, granted: [0x80] });
  assert.deepEqual(got, [['cmd', 1, undefined], ['admin', 128, 'E_MQTT_SUB_REFUSED']]);
  s1.opts.onClose?.();
  env.advance(1000);
  const s2 = accept(true);
  assert.deepEqual(s2.types(), ['connect'], 'session present: nothing to resubscribe');
  s2.opts.onClose?.();
  env.advance(1000);
  const s3 = accept(false);
  assert.deepEqual(s3.packets().slice(1).map((p: any) => p.subscriptions), [[{ topic: 'cmd/dev-1/#', qos: 1 }]]);
  client.unsubscribe('cmd/dev-1/#', (e) => got.push(['unsub', 0, e && (e as any).code]));
  const u = s3.packets().find((p) => p.type === 'unsubscribe') as any;
  assert.deepEqual(u.topics, ['cmd/dev-1/#']);
  s3.feed({ type: 'unsuback', packetId: u.packetId });
  assert.deepEqual(got[2], ['unsub', 0, undefined]);
});

test('maxSubscriptions bound', () => {
  const { client } = setup({ maxSubscriptions: 2 });
  client.subscribe('a', 0);
  client.subscribe('b', 0);
  client.subscribe('a', 1); // same filter: replaced, not added
  assert.throws(() => client.subscribe('c', 0), (e: any) => e.code === 'E_MQTT_TOO_MANY_SUBS' && /maxSubscriptions 2/.test(e.message));
});

test('stop(): DISCONNECT, socket closed, DISCONNECTED, no retries; start() resumes with the queue kept', () => {
  const { env, client, accept } = setup();
  client.start();
  const s = accept();
  client.publish('t', bytes(1), { qos: 1 });
  client.stop();
  assert.equal(client.state, 'DISCONNECTED');
  assert.deepEqual(s.types(), ['connect', 'publish', 'disconnect']);
  assert.ok(s.closed);
  env.advance(100000);
  assert.equal(env.sockets.length, 1, 'no reconnect after stop');
  client.start();
  const s2 = accept(true);
  assert.deepEqual(pubs(s2.packets()).map((p) => p.dup), [true]);
  // stop() while waiting to retry also lands in DISCONNECTED.
  s2.opts.onClose?.();
  assert.equal(client.state, 'BACKOFF');
  client.stop();
  assert.equal(client.state, 'DISCONNECTED');
  env.advance(100000);
  assert.equal(env.sockets.length, 2);
});

test('a socket factory that throws, and a write that throws, become reconnects', () => {
  const { env, client } = setup();
  const real = env.host.socket;
  let fail = true;
  (env.host as any).socket = (o: any) => {
    if (fail) throw new Error('no route');
    return real(o);
  };
  const c2 = new MqttClient(env.host, BASE);
  c2.start();
  assert.equal(c2.state, 'BACKOFF');
  assert.equal(c2.stats.disconnects.socket_error, 1);
  fail = false;
  env.advance(1000);
  const s = env.last();
  s.open();
  s.feed({ type: 'connack', sessionPresent: false, returnCode: 0 });
  s.closed = true; // writes now throw
  c2.publish('t', bytes(1), { qos: 1 });
  assert.equal(c2.state, 'BACKOFF');
  assert.equal(c2.stats.inflight, 1, 'the publish stays in flight for the resend');
  void client;
});

test('wrong options are refused at construction, naming the field', () => {
  const env = fakeHost();
  const bad: [Partial<MqttClientOptions> | any, RegExp][] = [
    [{ port: 0 }, /"port"/],
    [{ host: 5 }, /"host"/],
    [{ clientId: undefined }, /"clientId"/],
    [{ keepAliveS: 1.5 }, /"keepAliveS"/],
    [{ maxInflight: 0 }, /"maxInflight"/],
    [{ reconnect: { minMs: 500, maxMs: 100 } }, /"reconnect.maxMs"/],
    [{ reconnect: { factor: 0.5 } }, /"reconnect.factor"/],
    [{ will: { topic: 'a/#', payload: bytes(1) } }, /MQTT-3.3.2-2/],
    [{ will: { topic: 'a', payload: bytes(1), qos: 2 } }, /"will.qos"/],
    [{ password: 'x' }, /"password"/],
    [{ clientId: '', cleanSession: false }, /MQTT-3.1.3-7/],
  ];
  for (const [o, re] of bad) assert.throws(() => new MqttClient(env.host, { ...BASE, ...o }), re, JSON.stringify(o));
  assert.throws(() => new MqttClient(null as any, BASE), /"host" expected object/);
  const c = new MqttClient(env.host, BASE);
  assert.throws(() => c.publish('a/+', bytes(1)), /MQTT-3.3.2-2/);
  assert.throws(() => c.publish('a', 'x' as any), /"payload" expected Uint8Array/);
  assert.throws(() => c.publish('a', bytes(1), { qos: 2 as any }), /"qos"/);
  assert.throws(() => c.subscribe('a/#/b'), /MQTT-4.7.1-2/);
});
