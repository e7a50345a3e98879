// The simulator's SocketFactory: ECMA-419 behaviour over real loopback TCP and TLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNodeSocketFactory } from '../../agent-sim/platform/node-socket.js';
import type { Socket, SocketOptions } from '../../firmware/core/host.js';
import { makeTestCerts, freePort } from '../harness/brokers.js';
import { waitFor, sleep } from './helpers.js';

function recorder() {
  const events: string[] = [];
  let got = Buffer.alloc(0);
  let sock: Socket;
  const cbs: Partial<SocketOptions> = {
    onConnect: () => events.push('connect'),
    onReadable: (n) => {
      events.push('readable');
      const b = sock.read();
      assert.ok(b instanceof Uint8Array && !Buffer.isBuffer(b), 'plain Uint8Array');
      assert.ok(b.length >= 1 && b.length <= n);
      got = Buffer.concat([got, b]);
    },
    onError: (e) => events.push('error:' + ((e as any).code ?? e.message)),
    onClose: () => events.push('close'),
  };
  return { events, cbs, got: () => got, set: (s: Socket) => (sock = s) };
}

async function echoServer() {
  const srv = net.createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  return { srv, port: (srv.address() as net.AddressInfo).port };
}

test('TCP: connect, write all, read back buffered bytes; close is idempotent and silent', async () => {
  const { srv, port } = await echoServer();
  const r = recorder();
  const s = createNodeSocketFactory()({ host: '127.0.0.1', port, ...r.cbs });
  r.set(s);
  assert.equal(s.read(), undefined, 'nothing buffered yet');
  const data = new Uint8Array(70000).map((_, i) => i & 255);
  s.write(data); // queued before connect
  await waitFor('echo', () => r.got().length === data.length);
  assert.deepEqual(new Uint8Array(r.got()), data);
  assert.equal(r.events[0], 'connect');
  s.close();
  s.close();
  assert.throws(() => s.write(new Uint8Array(1)), (e: any) => e.code === 'E_SOCKET_CLOSED');
  await sleep(50);
  assert.ok(!r.events.includes('close'), 'no callback after close()');
  srv.close();
});

test('peer close: onClose once; refused connection: onError then onClose once', async () => {
  const srv = net.createServer((s) => s.end());
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const r = recorder();
  r.set(createNodeSocketFactory()({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, ...r.cbs }));
  await waitFor('close', () => r.events.includes('close'));
  await sleep(30);
  assert.deepEqual(r.events, ['connect', 'close']);
  srv.close();

  const port = await freePort(); // nothing listens there
  const r2 = recorder();
  r2.set(createNodeSocketFactory()({ host: '127.0.0.1', port, ...r2.cbs }));
  await waitFor('close', () => r2.events.includes('close'));
  await sleep(30);
  assert.deepEqual(r2.events, ['error:ECONNREFUSED', 'close']);
});

test('reading pauses past maxBuffered and resumes on read()', async () => {
  const chunk = Buffer.alloc(64 * 1024, 7);
  const total = 40 * chunk.length;
  const srv = net.createServer((s) => {
    for (let i = 0; i < 40; i++) s.write(chunk);
    s.on('error', () => {});
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  let peak = 0;
  let readable = 0;
  const s = createNodeSocketFactory({ maxBuffered: 100000 })({
    host: '127.0.0.1',
    port: (srv.address() as net.AddressInfo).port,
    onReadable: (n) => {
      readable = n;
      peak = Math.max(peak, n);
    },
  });
  await waitFor('first data', () => readable > 0);
  await sleep(100); // unread: the socket must stop at the bound, not take all 2.5 MB
  assert.ok(peak < 100000 + 65536 + 1, 'peak ' + peak);
  let got = 0;
  await waitFor('all data', () => {
    const b = s.read();
    if (b) got += b.length;
    return got === total;
  });
  s.close();
  srv.close();
});

test('TLS: verified against the given CA; a wrong CA is an error then close', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'node-socket-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certs = makeTestCerts(dir);
  if ('skip' in certs) return t.skip(certs.skip);
  const srv = tls.createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const port = (srv.address() as net.AddressInfo).port;
  const r = recorder();
  const s = createNodeSocketFactory()({ host: '127.0.0.1', port, tls: true, ca: readFileSync(certs.ca, 'utf8'), ...r.cbs });
  r.set(s);
  await waitFor('connect', () => r.events.includes('connect'));
  s.write(Uint8Array.of(1, 2, 3));
  await waitFor('echo', () => r.got().length === 3);
  s.close();

  const other = mkdtempSync(join(tmpdir(), 'node-socket-tls-'));
  t.after(() => rmSync(other, { recursive: true, force: true }));
  const wrong = makeTestCerts(other) as { ca: string };
  const r2 = recorder();
  r2.set(createNodeSocketFactory()({ host: '127.0.0.1', port, tls: true, ca: readFileSync(wrong.ca, 'utf8'), ...r2.cbs }));
  await waitFor('close', () => r2.events.includes('close'));
  assert.equal(r2.events.length, 2);
  assert.match(r2.events[0], /^error:/);
  assert.ok(!r2.events.includes('connect'));
  srv.close();
});

test('bad arguments are refused', () => {
  const f = createNodeSocketFactory();
  assert.throws(() => f({ host: 1 as any, port: 1 }), /"host"/);
  assert.throws(() => f({ host: '127.0.0.1', port: 70000 }), /"port"/);
});
