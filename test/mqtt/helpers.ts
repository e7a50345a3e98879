// Node-side pieces for the client tests against real brokers: a host built from Node, polling
// waits, a TCP proxy that can go silent (a dead link without a FIN), and a raw fake broker.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createNodeSocketFactory } from '../../agent-sim/platform/node-socket.js';
import type { SocketFactory } from '../../firmware/core/host.js';

export function nodeHost(opts: { socket?: SocketFactory; quiet?: boolean } = {}) {
  const logs: string[] = [];
  return {
    logs,
    socket: opts.socket ?? createNodeSocketFactory(),
    timers: { setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout) },
    clock: { now: () => Date.now(), uptime: () => performance.now(), synced: () => true },
    entropy: { randomBytes: (n: number) => new Uint8Array(randomBytes(n)) },
    log: (level: string, msg: string) => {
      logs.push(level + ' ' + msg);
      if (process.env.MQTT_TEST_LOG) console.log(level, msg);
    },
  };
}

export async function waitFor(what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error('timed out after ' + timeoutMs + ' ms waiting for ' + what);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 0..255 once each, then a few more, so any byte mangling shows. */
export function allBytes(extra = 0): Uint8Array {
  const b = new Uint8Array(256 + extra);
  for (let i = 0; i < b.length; i++) b[i] = (i * 167 + (i >> 8)) & 255;
  for (let i = 0; i < 256; i++) b[i] = i;
  return b;
}

/**
 * TCP proxy to 127.0.0.1:target. freeze() makes live connections silently drop data both ways
 * (a link that died without a FIN); new connections after thaw() forward normally.
 */
export async function startProxy(target: number) {
  const pairs = new Set<{ a: net.Socket; b: net.Socket; frozen: boolean }>();
  const srv = net.createServer((a) => {
    const b = net.connect({ host: '127.0.0.1', port: target });
    const pair = { a, b, frozen: false };
    pairs.add(pair);
    a.on('data', (d) => void (pair.frozen || b.write(d)));
    b.on('data', (d) => void (pair.frozen || a.write(d)));
    const end = () => {
      if (pair.frozen) return;
      a.destroy();
      b.destroy();
      pairs.delete(pair);
    };
    a.on('close', end).on('error', end);
    b.on('close', end).on('error', end);
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  return {
    port: (srv.address() as net.AddressInfo).port,
    connections: () => pairs.size,
    freeze: () => pairs.forEach((p) => (p.frozen = true)),
    async close() {
      pairs.forEach((p) => (p.a.destroy(), p.b.destroy()));
      await new Promise<void>((ok) => srv.close(() => ok()));
    },
  };
}

/** A raw TCP server; `onConnection(socket, n)` scripts what the n-th client (0-based) sees. */
export async function startFakeBroker(onConnection: (s: net.Socket, n: number) => void) {
  let n = 0;
  const socks = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    socks.add(s);
    s.on('close', () => socks.delete(s));
    s.on('error', () => {});
    onConnection(s, n++);
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  return {
    port: (srv.address() as net.AddressInfo).port,
    connections: () => n,
    async close() {
      socks.forEach((s) => s.destroy());
      await new Promise<void>((ok) => srv.close(() => ok()));
    },
  };
}
