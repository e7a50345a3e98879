// Our MQTT client against an in-process aedes broker, a TCP proxy that goes silent, and a
// raw fake broker that sends malformed bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Aedes } from 'aedes';
import { startAedes } from '../harness/brokers.js';
import { encode } from '../../firmware/core/codec/mqtt.js';
import { ours, publishByteExact, retainedAndWill, subscribeAndReceive, uniq } from './scenarios.js';
import { startProxy, startFakeBroker, waitFor, sleep } from './helpers.js';

test('aedes: QoS 0 and 1 payloads arrive byte-exactly at an mqtt.js subscriber', async (t) => {
  const b = await startAedes();
  t.after(() => b.close());
  await publishByteExact({ port: b.port });
});

test('aedes: retained message and Will on an abrupt cut (none after DISCONNECT)', async (t) => {
  const b = await startAedes();
  t.after(() => b.close());
  await retainedAndWill({ port: b.port });
});

test('aedes: subscribe, receive QoS 0/1, unsubscribe', async (t) => {
  const b = await startAedes();
  t.after(() => b.close());
  await subscribeAndReceive({ port: b.port });
});

test('aedes: the in-flight window holds while the broker withholds PUBACKs', async (t) => {
  const held: (() => void)[] = [];
  let seen = 0;
  let released = 0;
  let maxOutstanding = 0;
  const b = await startAedes({
    setup: (broker: Aedes) => {
      broker.authorizePublish = (_c, _p, cb) => {
        seen++;
        maxOutstanding = Math.max(maxOutstanding, seen - released);
        held.push(() => (released++, cb(null)));
      };
    },
  });
  t.after(() => b.close());
  const { client } = ours({ port: b.port }, { maxInflight: 4, maxQueued: 20 });
  client.start();
  await waitFor('CONNECTED', () => client.state === 'CONNECTED');
  const acked: number[] = [];
  for (let i = 0; i < 10; i++) client.publish('w/' + i, Uint8Array.of(i), { qos: 1 }, (h) => acked.push(h));
  await waitFor('4 at the broker', () => seen === 4);
  await sleep(150);
  assert.equal(seen, 4, 'no fifth publish while 4 are unacknowledged');
  assert.deepEqual([client.stats.inflight, client.stats.queued], [4, 6]);
  const out = client.stats.packetsOut;
  held.shift()!();
  await waitFor('one ack', () => acked.length === 1);
  assert.equal(client.stats.packetsOut, out + 1, 'exactly one more PUBLISH for one PUBACK');
  assert.deepEqual([client.stats.inflight, client.stats.queued], [4, 5]);
  while (acked.length < 10) {
    while (held.length) held.shift()!();
    await sleep(5);
  }
  assert.deepEqual(acked, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(seen, 10);
  assert.ok(maxOutstanding <= 4, 'the broker never had more than 4 unacknowledged: ' + maxOutstanding);
  client.stop();
});

test('aedes: broker restart mid-stream → reconnect with backoff, unacked resent with DUP, nothing lost', async (t) => {
  const accepted = new Set<number>();
  let dups = 0;
  const b = await startAedes({
    setup: (broker: Aedes) => {
      // Delay acceptance a little so a full window is in flight when the broker dies.
      broker.authorizePublish = (_c, p, cb) =>
        void setTimeout(() => {
          if (p.dup) dups++;
          accepted.add(Buffer.from(p.payload as Buffer).readUInt32BE(0));
          cb(null);
        }, 3);
    },
  });
  t.after(() => b.close());
  const { client } = ours({ port: b.port }, { maxInflight: 8, maxQueued: 16, reconnect: { minMs: 20, maxMs: 200, factor: 2 } });
  client.start();
  await waitFor('CONNECTED', () => client.state === 'CONNECTED');
  const N = 300;
  const acked = new Set<number>();
  let restarted = false;
  for (let i = 0; i < N; ) {
    if (!client.canPublish()) {
      await sleep(2);
      continue;
    }
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(i);
    client.publish('seq/' + i, new Uint8Array(payload), { qos: 1 }, () => acked.add(i));
    i++;
    if (i === 100 && !restarted) {
      restarted = true;
      await waitFor('window full', () => client.stats.inflight === 8);
      await b.restart({ downMs: 150 }); // client sees the close, backs off, retries until up again
    }
  }
  await waitFor('all acked', () => acked.size === N, 10000);
  for (let i = 0; i < N; i++) assert.ok(accepted.has(i), 'message ' + i + ' reached a broker');
  assert.ok(client.stats.reconnects >= 1, 'reconnected');
  assert.ok(client.stats.attempts >= 3, 'retried while the broker was down: ' + client.stats.attempts);
  assert.ok(dups >= 1, 'in-flight messages were resent with DUP=1');
  assert.equal(client.stats.inflight, 0);
  assert.equal(client.stats.queued, 0);
  client.stop();
});

test('aedes via a proxy that goes silent: keep-alive declares the link dead and reconnects', async (t) => {
  const b = await startAedes();
  t.after(() => b.close());
  const proxy = await startProxy(b.port);
  t.after(() => proxy.close());
  const { client } = ours({ port: proxy.port }, { keepAliveS: 1, pingTimeoutMs: 300 });
  client.start();
  await waitFor('CONNECTED', () => client.state === 'CONNECTED');
  proxy.freeze(); // no FIN, no RST: only keep-alive can notice
  const t0 = Date.now();
  await waitFor('dead link detected', () => client.stats.disconnects.keepalive_timeout === 1, 4000);
  const took = Date.now() - t0;
  // Keep-alive 1 s + ping timeout 0.3 s, with slack for a loaded machine; TCP alone would take minutes.
  assert.ok(took <= 3000, 'detected in ' + took + ' ms');
  t.diagnostic('dead link detected in ' + took + ' ms');
  await waitFor('CONNECTED again', () => client.state === 'CONNECTED', 3000);
  assert.equal(client.stats.reconnects, 1);
  let ok = false;
  client.publish('after/reconnect', Uint8Array.of(1), { qos: 1 }, () => (ok = true));
  await waitFor('publish after reconnect', () => ok);
  client.stop();
});

test('a fake broker sending malformed bytes: clean error, counted, reconnect, no crash', async (t) => {
  const connack = encode({ type: 'connack', sessionPresent: false, returnCode: 0 });
  const fake = await startFakeBroker((s, n) => {
    s.once('data', () => {
      if (n === 0) s.write(Buffer.concat([connack, Buffer.from([0x41, 0x02, 0x00, 0x01])])); // PUBACK, reserved flags
      else if (n === 1) s.write(Buffer.from([0xf0, 0x00])); // reserved type instead of CONNACK
      else {
        // CONNACK one byte at a time, then answer PINGREQs.
        connack.forEach((byte, i) => setTimeout(() => s.write(Buffer.from([byte])), 5 * i));
        s.on('data', (d) => d[0] === 0xc0 && s.write(Buffer.from([0xd0, 0x00])));
      }
    });
  });
  t.after(() => fake.close());
  const { client, host } = ours({ port: fake.port }, { keepAliveS: 1, pingTimeoutMs: 2000 });
  client.start();
  await waitFor('CONNECTED after two malformed connections', () => client.state === 'CONNECTED' && fake.connections() >= 3, 6000);
  assert.equal(client.stats.malformed, 2);
  assert.equal(client.stats.disconnects.malformed, 2);
  assert.ok(host.logs.some((l) => l.includes('[MQTT-2.2.2-1]')), host.logs.join('\n'));
  assert.ok(host.logs.some((l) => l.includes('[MQTT 2.2.1]')), host.logs.join('\n'));
  await sleep(1300); // one keep-alive round trip through the fake broker
  assert.equal(client.state, 'CONNECTED');
  client.stop();
});

test('aedes refusing credentials: CONNACK 4 reported, retried at maxMs, not hammered', async (t) => {
  const b = await startAedes({
    setup: (broker: Aedes) => {
      broker.authenticate = (_c, _u, _p, cb) => {
        const e = Object.assign(new Error('bad'), { returnCode: 4 });
        cb(e as any, false);
      };
    },
  });
  t.after(() => b.close());
  const { client, host } = ours({ port: b.port }, { clientId: uniq('refused'), username: 'x', password: Uint8Array.of(1), reconnect: { minMs: 10, maxMs: 400, factor: 2 } });
  client.start();
  await waitFor('refused', () => client.stats.refused === 1);
  assert.equal(client.stats.lastRefusal, 4);
  assert.equal(client.stats.backoffMs, 400);
  await sleep(600);
  assert.ok(client.stats.attempts <= 3, client.stats.attempts + ' attempts in ~0.6 s at maxMs 400');
  assert.ok(host.logs.some((l) => l.startsWith('error') && l.includes('bad user name or password')));
  client.stop();
});
