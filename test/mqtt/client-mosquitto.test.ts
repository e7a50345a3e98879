// Our MQTT client against a private Mosquitto (plain and TLS listeners on free loopback
// ports; never the system broker). Skips with a reason when mosquitto or openssl is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMosquitto } from '../harness/brokers.js';
import type { MosquittoHandle } from '../harness/brokers.js';
import { ours, publishByteExact, retainedAndWill, subscribeAndReceive, uniq } from './scenarios.js';
import type { Target } from './scenarios.js';
import { waitFor, sleep } from './helpers.js';

let m: MosquittoHandle | undefined;
let skip: string | undefined;

before(async () => {
  const r = await startMosquitto({ tls: true });
  if ('skip' in r) skip = r.skip;
  else m = r;
});
after(async () => {
  await m?.stop();
});

const plain = (): Target => ({ port: m!.port });
const tls = (): Target => ({ port: m!.tlsPort!, tls: true, ca: m!.caPem });

for (const [name, target] of [['plain', plain], ['TLS', tls]] as const) {
  test('mosquitto ' + name + ': QoS 0 and 1 payloads arrive byte-exactly', async (t) => {
    if (skip) return t.skip(skip);
    await publishByteExact(target());
  });
  test('mosquitto ' + name + ': retained message and Will on an abrupt cut', async (t) => {
    if (skip) return t.skip(skip);
    await retainedAndWill(target());
  });
  test('mosquitto ' + name + ': subscribe, receive, unsubscribe', async (t) => {
    if (skip) return t.skip(skip);
    await subscribeAndReceive(target());
  });
}

test('mosquitto TLS: a client trusting another CA never connects, and says why', async (t) => {
  if (skip) return t.skip(skip);
  const { client, host } = ours({ ...tls(), ca: undefined });
  client.start();
  await waitFor('a failed attempt', () => client.stats.disconnects.socket_error >= 1);
  assert.equal(client.stats.connects, 0);
  assert.match(client.stats.lastReason, /certificate/i);
  assert.ok(host.logs.some((l) => /certificate/i.test(l)));
  client.stop();
});

test('mosquitto killed and restarted: the client reconnects, resubscribes and every publish is acknowledged', async (t) => {
  if (skip) return t.skip(skip);
  const topic = uniq('restart');
  const received = new Set<number>();
  const { client } = ours(plain(), {
    maxInflight: 8,
    maxQueued: 32,
    reconnect: { minMs: 20, maxMs: 200, factor: 2 },
    onMessage: (_t, p) => void received.add(new DataView(p.buffer, p.byteOffset).getUint32(0)),
  });
  client.subscribe(topic, 1);
  client.start();
  await waitFor('CONNECTED', () => client.state === 'CONNECTED');
  const N = 200;
  const acked = new Set<number>();
  let restarted = false;
  for (let i = 0; i < N; ) {
    if (!client.canPublish()) {
      await sleep(2);
      continue;
    }
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, i);
    const n = i;
    client.publish(topic, b, { qos: 1 }, () => acked.add(n));
    i++;
    if (i === 80 && !restarted) {
      restarted = true;
      await m!.restart({ downMs: 200 }); // SIGKILL: no goodbye to the client
    }
  }
  await waitFor('all acked', () => acked.size === N, 10000);
  assert.ok(client.stats.reconnects >= 1);
  // Our own subscription came back with the new broker: what was published after it arrived.
  const lastMissing = [...Array(N).keys()].filter((i) => !received.has(i)).pop() ?? -1;
  assert.ok(lastMissing < 80 + 32 + 8, 'messages after the restart were all delivered back (last missing ' + lastMissing + ')');
  assert.ok(received.has(N - 1));
  client.stop();
});
