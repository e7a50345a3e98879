// Client scenarios run against any real broker (aedes, Mosquitto plain and TLS): our client on
// one side, the `mqtt` npm client on the other.
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import type { MqttClient as MqttJsClient } from 'mqtt';
import { MqttClient } from '../../firmware/core/session/mqtt-client.js';
import type { MqttClientOptions } from '../../firmware/core/session/mqtt-client.js';
import type { Socket, SocketFactory } from '../../firmware/core/host.js';
import { createNodeSocketFactory } from '../../agent-sim/platform/node-socket.js';
import { nodeHost, waitFor, sleep, allBytes } from './helpers.js';

export interface Target {
  port: number;
  tls?: boolean;
  ca?: string;
}

let ids = 0;
export const uniq = (p: string) => p + '-' + process.pid + '-' + ++ids;

export function ours(t: Target, extra: Partial<MqttClientOptions> = {}, socket?: SocketFactory) {
  const host = nodeHost({ socket });
  const client = new MqttClient(host, {
    host: '127.0.0.1',
    port: t.port,
    tls: t.tls,
    ca: t.ca,
    clientId: uniq('ours'),
    keepAliveS: 5,
    pingTimeoutMs: 1000,
    connectTimeoutMs: 2000,
    reconnect: { minMs: 50, maxMs: 400, factor: 2 },
    ...extra,
  });
  return { client, host };
}

export async function theirs(t: Target, opts: mqtt.IClientOptions = {}): Promise<MqttJsClient> {
  const url = (t.tls ? 'mqtts' : 'mqtt') + '://127.0.0.1:' + t.port;
  return mqtt.connectAsync(url, { clientId: uniq('theirs'), reconnectPeriod: 100, connectTimeout: 2000, ...(t.tls ? { ca: t.ca, servername: 'localhost' } : {}), ...opts });
}

/** A socket factory that remembers every socket it made, so a test can cut one. */
export function tappedFactory() {
  const made: Socket[] = [];
  const inner = createNodeSocketFactory();
  const factory: SocketFactory = (o) => {
    const s = inner(o);
    made.push(s);
    return s;
  };
  return { factory, made };
}

interface Got {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: number;
}

function collect(sub: MqttJsClient): Got[] {
  const got: Got[] = [];
  sub.on('message', (topic, payload, packet) => got.push({ topic, payload, retain: packet.retain, qos: packet.qos }));
  return got;
}

export async function publishByteExact(t: Target): Promise<void> {
  const topic = uniq('bytes');
  const sub = await theirs(t);
  await sub.subscribeAsync(topic + '/#', { qos: 1 });
  const got = collect(sub);
  const { client } = ours(t);
  client.start();
  await waitFor('CONNECTED', () => client.state === 'CONNECTED');
  const small = allBytes();
  const big = allBytes(9000); // spans several TCP reads and needs a 2-byte remaining length
  const acked: number[] = [];
  const h0 = client.publish(topic + '/q0', small, { qos: 0 }, (h) => acked.push(h));
  const h1 = client.publish(topic + '/q1', small, { qos: 1 }, (h) => acked.push(h));
  const h2 = client.publish(topic + '/q1big', big, { qos: 1 }, (h) => acked.push(h));
  await waitFor('3 messages', () => got.length === 3);
  await waitFor('acks', () => acked.length === 3);
  assert.deepEqual(acked.sort(), [h0, h1, h2].sort());
  const by = (s: string) => got.find((g) => g.topic === topic + s) as Got;
  assert.deepEqual(new Uint8Array(by('/q0').payload), small);
  assert.deepEqual(new Uint8Array(by('/q1').payload), small);
  assert.deepEqual(new Uint8Array(by('/q1big').payload), big);
  assert.equal(by('/q1').qos, 1);
  assert.equal(client.stats.inflight, 0);
  client.stop();
  await sub.endAsync();
}

export async function retainedAndWill(t: Target): Promise<void> {
  const base = uniq('status');
  const tap = tappedFactory();
  const will = { topic: base + '/will', payload: Uint8Array.of(0, 0xff, 1), qos: 1 as const, retain: false };
  // A short keep-alive so the client notices the cut below and reconnects quickly.
  const { client } = ours(t, { will, keepAliveS: 1, pingTimeoutMs: 300 }, tap.factory);
  client.start();
  await waitFor('CONNECTED', () => client.state === 'CONNECTED');
  let acked = false;
  client.publish(base + '/retained', Uint8Array.of(0xca, 0xfe), { qos: 1, retain: true }, () => (acked = true));
  await waitFor('retained ack', () => acked);
  // A subscriber arriving later gets the retained message, flagged as such.
  const sub = await theirs(t);
  const got = collect(sub);
  await sub.subscribeAsync(base + '/#', { qos: 1 });
  await waitFor('retained', () => got.some((g) => g.topic === base + '/retained'));
  const r = got.find((g) => g.topic === base + '/retained') as Got;
  assert.deepEqual([...r.payload], [0xca, 0xfe]);
  assert.equal(r.retain, true);
  // Cutting our socket without DISCONNECT makes the broker publish the Will.
  tap.made[tap.made.length - 1].close();
  await waitFor('Will', () => got.some((g) => g.topic === will.topic), 4000);
  assert.deepEqual([...(got.find((g) => g.topic === will.topic) as Got).payload], [0, 0xff, 1]);
  // A clean stop() sends DISCONNECT: no Will this time.
  await waitFor('reconnected', () => client.stats.connects === 2 && client.state === 'CONNECTED', 5000);
  const before = got.filter((g) => g.topic === will.topic).length;
  client.stop();
  await sleep(300);
  assert.equal(got.filter((g) => g.topic === will.topic).length, before, 'no Will after DISCONNECT');
  // Clear the retained message so reruns start clean.
  await sub.publishAsync(base + '/retained', Buffer.alloc(0), { retain: true, qos: 1 });
  await sub.endAsync();
}

export async function subscribeAndReceive(t: Target): Promise<void> {
  const base = uniq('cmd');
  const msgs: { topic: string; payload: Uint8Array; qos: number; dup: boolean }[] = [];
  const { client } = ours(t, { onMessage: (topic, payload, p) => msgs.push({ topic, payload: payload.slice(), qos: p.qos, dup: p.dup }) });
  let granted = -1;
  client.subscribe(base + '/+/x', 1, (e, g) => {
    assert.equal(e, undefined);
    granted = g;
  });
  client.start(); // subscribed on connect
  await waitFor('SUBACK', () => granted === 1);
  const pub = await theirs(t);
  const payload = allBytes(100);
  await pub.publishAsync(base + '/a/x', Buffer.from(payload), { qos: 1 }); // resolves on our PUBACK via the broker
  await pub.publishAsync(base + '/b/x', Buffer.from([1]), { qos: 0 });
  await pub.publishAsync(base + '/b/y', Buffer.from([2]), { qos: 0 }); // not matching
  await waitFor('2 messages', () => msgs.length === 2);
  await sleep(100);
  assert.equal(msgs.length, 2);
  assert.deepEqual(msgs[0].payload, payload);
  assert.equal(msgs[0].qos, 1);
  assert.equal(msgs[1].topic, base + '/b/x');
  let unsubbed = false;
  client.unsubscribe(base + '/+/x', () => (unsubbed = true));
  await waitFor('UNSUBACK', () => unsubbed);
  await pub.publishAsync(base + '/c/x', Buffer.from([3]), { qos: 1 });
  await sleep(100);
  assert.equal(msgs.length, 2, 'nothing after UNSUBACK');
  assert.equal(client.stats.malformed, 0);
  client.stop();
  await pub.endAsync();
}
