// The virtual time model (agent-sim/platform/virtual-time.ts, rules 1-5): timer order and clock
// jumps, requests in flight hold the clock (a broker round trip takes zero virtual time), a link
// declared cut does not, an unanswered request stops holding after ioGraceMs real ms, holds.
// Then the real MQTT client against a real broker: an hour of keep-alive in virtual time with no
// false timeout, and a black-holed link detected by keep-alive in virtual time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualTime, createRealTime } from '../../agent-sim/platform/virtual-time.js';
import type { Socket, SocketFactory, SocketOptions } from '../../firmware/core/host.js';
import { MqttClient } from '../../firmware/core/session/mqtt-client.js';
import { createNodeSocketFactory } from '../../agent-sim/platform/node-socket.js';
import { seededEntropy } from '../../agent-sim/platform/host.js';
import { startEmbeddedBroker } from '../../agent-sim/embedded-broker.js';
import { startLinkProxy } from '../../agent-sim/link-proxy.js';

const T0 = Date.parse('2024-06-01T00:00:00Z');

test('timers run in (due time, creation) order; the clock jumps to each; 0 ms runs at the same instant; cleared timers never run', async () => {
  const vt = new VirtualTime({ startMs: T0 });
  const seen: string[] = [];
  const at = (name: string) => () => seen.push(name + '@' + (vt.now() - T0));
  vt.timers.setTimeout(at('c'), 3000);
  vt.timers.setTimeout(at('a'), 1000);
  vt.timers.setTimeout(at('b'), 1000);
  const h = vt.timers.setTimeout(at('never'), 2000);
  vt.timers.setTimeout(() => {
    seen.push('x@' + (vt.now() - T0));
    vt.timers.setTimeout(at('zero'), 0);
    vt.timers.clearTimeout(h);
  }, 1500);
  const r0 = performance.now();
  await vt.runUntil(T0 + 86_400_000);
  assert.deepEqual(seen, ['a@1000', 'b@1000', 'x@1500', 'zero@1500', 'c@3000']);
  assert.equal(vt.now(), T0 + 86_400_000, 'the clock ends at the target');
  assert.ok(performance.now() - r0 < 1000, 'a virtual day with nothing in flight takes no real time');
  assert.equal(vt.stats().timersRun, 5);
});

test('runUntil stops at its target and resumes; a timer due exactly at the target runs', async () => {
  const vt = new VirtualTime({ startMs: 0 });
  const seen: number[] = [];
  for (const ms of [10, 20, 30]) vt.timers.setTimeout(() => seen.push(vt.now()), ms);
  await vt.runUntil(20);
  assert.deepEqual(seen, [10, 20]);
  assert.equal(vt.now(), 20);
  await vt.runUntil(100);
  assert.deepEqual(seen, [10, 20, 30]);
  // A second driver while the first waits (here for a held promise) is refused.
  vt.hold(new Promise((r) => setTimeout(r, 20)));
  const first = vt.runUntil(200);
  await assert.rejects(vt.runUntil(300), /already running/);
  await first;
  assert.equal(vt.now(), 200);
});

test('a timer that throws is counted and reported; the others still run', async () => {
  const errors: Error[] = [];
  const vt = new VirtualTime({ startMs: 0, onError: (e) => errors.push(e) });
  let ran = false;
  vt.timers.setTimeout(() => {
    throw new Error('boom');
  }, 5);
  vt.timers.setTimeout(() => (ran = true), 6);
  await vt.runUntil(10);
  assert.equal(ran, true);
  assert.deepEqual(errors.map((e) => e.message), ['boom']);
  assert.equal(vt.stats().errors, 1);
});

/**
 * A socket to a fake broker that answers every packet that asks for an answer after `delayMs`
 * real ms (or never), with the answer type. Bytes are single MQTT packets.
 */
function fakeBroker(delayMs: number | undefined): { factory: SocketFactory; answered: number[] } {
  const answered: number[] = [];
  const factory: SocketFactory = (o: SocketOptions): Socket => {
    let buf: Uint8Array[] = [];
    let closed = false;
    setTimeout(() => !closed && o.onConnect?.(), 1);
    return {
      read: () => {
        const b = buf.shift();
        return b;
      },
      write(d) {
        const type = d[0] >> 4;
        const answer = type === 1 ? [0x20, 2, 0, 0] : type === 3 ? [0x40, 2, 0, 1] : type === 12 ? [0xd0, 0] : undefined;
        if (!answer || delayMs === undefined) return;
        setTimeout(() => {
          if (closed) return;
          answered.push(answer[0] >> 4);
          buf.push(new Uint8Array(answer));
          o.onReadable?.(answer.length);
        }, delayMs);
      },
      close() {
        closed = true;
      },
    };
  };
  return { factory, answered };
}

/** Opens a tracked socket, waits for onConnect, then at virtual instant `sendAt` writes a packet. */
async function requestAt(vt: VirtualTime, factory: SocketFactory, packet: number[], link?: { stalled(): boolean }) {
  const log: string[] = [];
  const tr = vt.trackSockets(factory, link);
  let sock: Socket | undefined;
  sock = tr.socket({
    host: 'x',
    port: 1,
    onConnect: () => log.push('connect@' + vt.now()),
    onReadable: () => {
      const b = sock!.read();
      log.push('answer ' + (b![0] >> 4) + '@' + vt.now());
    },
  });
  vt.timers.setTimeout(() => {
    log.push('send@' + vt.now());
    sock!.write(new Uint8Array(packet));
  }, 1000);
  vt.timers.setTimeout(() => log.push('later@' + vt.now()), 1001);
  return { log, tr };
}

test('a request in flight holds the clock: its answer arrives at the same virtual instant, after real time passed', async () => {
  const vt = new VirtualTime({ startMs: 0, ioGraceMs: 2000 });
  const b = fakeBroker(80);
  const { log } = await requestAt(vt, b.factory, [0x32, 2, 0, 1]); // PUBLISH QoS 1
  const r0 = performance.now();
  await vt.runUntil(5000);
  assert.deepEqual(log, ['connect@0', 'send@1000', 'answer 4@1000', 'later@1001']);
  assert.ok(performance.now() - r0 >= 75, 'the clock waited for the real answer');
  assert.ok(vt.stats().ioWaitMs >= 70);
  assert.equal(vt.stats().stalls, 0);
});

test('slack: the clock runs ahead of a request by at most ioSlackMs; beyond, it waits for the answer', async () => {
  const vt = new VirtualTime({ startMs: 0, ioGraceMs: 2000, ioSlackMs: 500 });
  const b = fakeBroker(80);
  const { log } = await requestAt(vt, b.factory, [0x32, 2, 0, 1]);
  vt.timers.setTimeout(() => log.push('beyond@' + vt.now()), 3000);
  await vt.runUntil(5000);
  // 1001 is inside the slack: it runs while the PUBACK is on its way; the answer then arrives at
  // the latest at 1500 (1000 + slack), never after 'beyond' at 3000.
  assert.deepEqual(log.slice(0, 3), ['connect@0', 'send@1000', 'later@1001']);
  const answer = log.find((l) => l.startsWith('answer'))!;
  const at = Number(answer.split('@')[1]);
  assert.ok(at >= 1001 && at <= 1500, 'answer within the slack: ' + answer);
  assert.equal(log[log.length - 1], 'beyond@3000');
});

test('a QoS 0 publish expects nothing and holds nothing', async () => {
  const vt = new VirtualTime({ startMs: 0, ioGraceMs: 2000 });
  const b = fakeBroker(200);
  const { log } = await requestAt(vt, b.factory, [0x30, 2, 0, 1]);
  const r0 = performance.now();
  await vt.runUntil(5000);
  assert.deepEqual(log, ['connect@0', 'send@1000', 'later@1001']);
  assert.ok(performance.now() - r0 < 150);
});

test('a request on a link declared cut holds nothing; an unanswered one stops holding after ioGraceMs real ms (a stall)', async () => {
  {
    const vt = new VirtualTime({ startMs: 0, ioGraceMs: 3000 });
    const { log } = await requestAt(vt, fakeBroker(undefined).factory, [0xc0, 0], { stalled: () => true });
    const r0 = performance.now();
    await vt.runUntil(5000);
    assert.deepEqual(log, ['send@1000', 'later@1001'], 'even the connect does not hold time on a cut link');
    assert.ok(performance.now() - r0 < 1000);
  }
  {
    const vt = new VirtualTime({ startMs: 0, ioGraceMs: 150 });
    const { log } = await requestAt(vt, fakeBroker(undefined).factory, [0xc0, 0]);
    const r0 = performance.now();
    await vt.runUntil(5000);
    assert.deepEqual(log, ['connect@0', 'send@1000', 'later@1001']);
    const dt = performance.now() - r0;
    assert.ok(dt >= 140 && dt < 1500, 'held for the grace, then moved on: ' + dt.toFixed(0) + ' ms');
    assert.equal(vt.stats().stalls, 1);
  }
});

test('release() (a power cut) stops a device\'s sockets from holding time', async () => {
  const vt = new VirtualTime({ startMs: 0, ioGraceMs: 5000 });
  const { log, tr } = await requestAt(vt, fakeBroker(undefined).factory, [0x82, 2, 0, 1]); // SUBSCRIBE
  vt.timers.setTimeout(() => tr.release(), 1000);
  const r0 = performance.now();
  await vt.runUntil(5000);
  assert.deepEqual(log, ['connect@0', 'send@1000', 'later@1001']);
  assert.ok(performance.now() - r0 < 1000);
});

test('hold(promise) stops the clock until it settles; holdWhile is bounded in real time', async () => {
  const vt = new VirtualTime({ startMs: 0 });
  const seen: number[] = [];
  vt.timers.setTimeout(() => {
    vt.hold(new Promise((r) => setTimeout(r, 60)));
  }, 10);
  vt.timers.setTimeout(() => seen.push(vt.now()), 20);
  let r0 = performance.now();
  await vt.runUntil(100);
  assert.deepEqual(seen, [20]);
  assert.ok(performance.now() - r0 >= 55, 'the clock waited for the held promise');

  let busy = true;
  const remove = vt.holdWhile(() => busy, 10_000);
  setTimeout(() => (busy = false), 50);
  r0 = performance.now();
  await vt.runUntil(200);
  assert.ok(performance.now() - r0 >= 45);
  remove();
  busy = true;
  vt.holdWhile(() => busy, 80);
  r0 = performance.now();
  await vt.runUntil(300);
  const dt = performance.now() - r0;
  assert.ok(dt >= 75 && dt < 1000, 'a predicate that stays true holds at most its bound: ' + dt.toFixed(0));
  assert.equal(vt.stats().holdTimeouts, 1);
});

test('real time has the same interface: timers, device clock with offset, runUntil waits', async () => {
  const rt = createRealTime();
  const state = { offsetMs: -5000, synced: false };
  const c = rt.deviceClock(state);
  assert.ok(Math.abs(c.now() - (Date.now() - 5000)) < 50);
  assert.equal(c.synced(), false);
  let fired = false;
  rt.timers.setTimeout(() => (fired = true), 20);
  const r0 = Date.now();
  await rt.runUntil(Date.now() + 60);
  assert.ok(fired && Date.now() - r0 >= 50);
  assert.ok(c.uptime() >= 50);
});

test('MQTT client on a real broker: an hour of 1 s keep-alive in virtual time, no false timeout; then a black-holed link is detected by keep-alive in virtual time', async (t) => {
  const broker = await startEmbeddedBroker();
  const proxy = await startLinkProxy({ targetPort: broker.port });
  t.after(async () => {
    await proxy.close();
    await broker.close();
  });
  const vt = new VirtualTime({ startMs: T0, ioGraceMs: 2000 });
  let cut = false;
  const tr = vt.trackSockets(createNodeSocketFactory(), { stalled: () => cut });
  const states: string[] = [];
  const client = new MqttClient(
    { socket: tr.socket, timers: vt.timers, clock: vt.deviceClock({ offsetMs: 0, synced: true }), entropy: seededEntropy('vt'), log: () => undefined },
    {
      host: '127.0.0.1',
      port: proxy.port,
      clientId: 'vt-client',
      keepAliveS: 1,
      pingTimeoutMs: 500,
      connectTimeoutMs: 1000,
      reconnect: { minMs: 100, maxMs: 1000, factor: 2 },
      onState: (s, why) => states.push(s + ' ' + why + ' @' + (vt.now() - T0)),
    },
  );
  client.start();
  const r0 = performance.now();
  await vt.runUntil(T0 + 3_600_000);
  const real = performance.now() - r0;
  const st = client.stats;
  assert.equal(client.state, 'CONNECTED');
  assert.equal(st.disconnects.keepalive_timeout, 0, 'no ping timed out although the clock ran far ahead of real time');
  assert.equal(st.connects, 1);
  assert.ok(st.packetsOut >= 3000, 'about one PINGREQ per virtual second: ' + st.packetsOut);
  t.diagnostic('1 h virtual with ' + st.packetsOut + ' packets out in ' + real.toFixed(0) + ' ms real; ' + JSON.stringify(vt.stats()));

  // The link goes silent (a black hole) and the fault layer says so: the next ping is never
  // answered, and the client notices within keepAlive + pingTimeout of virtual time.
  const cutAt = vt.now();
  proxy.blackhole();
  cut = true;
  await vt.runUntil(cutAt + 3000);
  assert.equal(st.disconnects.keepalive_timeout, 1, 'dead link detected by keep-alive: ' + states.slice(-3).join(', '));
  const detected = states.find((s) => s.startsWith('BACKOFF keepalive_timeout'));
  assert.ok(detected);
  const at = Number(detected!.split('@')[1]) - (cutAt - T0);
  assert.ok(at <= 1600, 'within keepAlive (1 s) + pingTimeout (0.5 s) of the cut: ' + at + ' ms');
  proxy.restore();
  cut = false;
  await vt.runUntil(vt.now() + 10_000);
  assert.equal(client.state, 'CONNECTED', 'reconnected once the link is back');
  client.stop();
  await vt.runUntil(vt.now() + 10);
});
