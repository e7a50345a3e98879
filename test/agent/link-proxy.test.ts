// The link proxy (agent-sim/link-proxy.ts) against a plain TCP echo server: each fault does
// what its comment promises, seen from both ends of the link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startLinkProxy } from '../../agent-sim/link-proxy.js';
import { sleep, until } from './helpers.js';

/** A TCP server that records what each connection sent and whether it saw a FIN or a reset. */
async function startRecorder(echo: boolean) {
  const conns: { sock: net.Socket; got: Buffer[]; ended: boolean; closed: boolean; error: string }[] = [];
  const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
    const c = { sock, got: [] as Buffer[], ended: false, closed: false, error: '' };
    conns.push(c);
    sock.on('data', (b) => {
      c.got.push(b);
      if (echo) sock.write(b);
    });
    sock.on('end', () => (c.ended = true));
    sock.on('error', (e: NodeJS.ErrnoException) => (c.error = e.code ?? e.message));
    sock.on('close', () => (c.closed = true));
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  return {
    port: (srv.address() as net.AddressInfo).port,
    conns,
    text: (i: number) => Buffer.concat(conns[i]?.got ?? []).toString(),
    close: () => new Promise<void>((ok) => (conns.forEach((c) => c.sock.destroy()), srv.close(() => ok()))),
  };
}

function client(port: number) {
  const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const c = { s, got: [] as Buffer[], ended: false, closed: false, error: '', text: () => Buffer.concat(c.got).toString() };
  s.on('data', (b) => c.got.push(b));
  s.on('end', () => (c.ended = true));
  s.on('error', (e: NodeJS.ErrnoException) => (c.error = e.code ?? e.message));
  s.on('close', () => (c.closed = true));
  return c;
}

test('pass, latency, black hole (no FIN, no RST, bytes held and delivered in order on restore)', async () => {
  const srv = await startRecorder(true);
  const p = await startLinkProxy({ targetPort: srv.port });
  try {
    const c = client(p.port);
    c.s.write('hello');
    await until('echo', () => c.text() === 'hello');
    assert.equal(srv.text(0), 'hello');

    p.setLatency(150);
    const t0 = Date.now();
    c.s.write('+slow');
    await until('delayed echo', () => c.text() === 'hello+slow');
    const rtt = Date.now() - t0;
    assert.ok(rtt >= 290 && rtt < 1500, 'two one-way delays of 150 ms, got ' + rtt);
    p.setLatency(0);

    p.blackhole();
    c.s.write('+held1');
    c.s.write('+held2');
    // A device that connects during the outage is accepted but never reaches the target.
    const late = client(p.port);
    late.s.write('late');
    await sleep(400);
    assert.equal(srv.text(0), 'hello+slow', 'nothing crossed the black hole');
    assert.equal(srv.conns.length, 1, 'no upstream connection opened during the outage');
    assert.deepEqual([c.ended, c.closed, c.error, srv.conns[0].ended, srv.conns[0].closed], [false, false, '', false, false]);
    assert.ok(p.stats().held >= 16, 'held ' + p.stats().held);

    p.restore();
    await until('held bytes delivered', () => srv.text(0) === 'hello+slow+held1+held2' && c.text() === 'hello+slow+held1+held2');
    await until('late connection made', () => srv.text(1) === 'late' && late.text() === 'late');
    const s = p.stats();
    assert.equal(s.accepted, 2);
    assert.equal(s.open, 2);
    assert.equal(s.held, 0);
    assert.equal(s.bytesUp, 'hello+slow+held1+held2late'.length);
    c.s.destroy();
    late.s.destroy();
  } finally {
    await p.close();
    await srv.close();
  }
});

test('a FIN sent into the black hole arrives after its data; a reset discards what was held', async () => {
  const srv = await startRecorder(false);
  const p = await startLinkProxy({ targetPort: srv.port });
  try {
    const a = client(p.port);
    const b = client(p.port);
    await until('two upstream links', () => srv.conns.length === 2);
    p.blackhole();
    a.s.end('bye'); // data then FIN
    b.s.write('lost');
    await sleep(50);
    b.s.resetAndDestroy(); // RST
    await sleep(200);
    assert.deepEqual([srv.conns[0].ended, srv.conns[1].closed], [false, false]);
    p.restore();
    await until('FIN after data', () => srv.conns[0].ended && srv.text(0) === 'bye');
    await until('reset reaches the target', () => srv.conns[1].closed);
    assert.equal(srv.text(1), '', 'bytes sent before a reset into the hole never arrive');
    assert.equal(p.stats().resets, 1);
  } finally {
    await p.close();
    await srv.close();
  }
});

test('refuse resets new connections and keeps open links; drop resets every link on both sides', async () => {
  const srv = await startRecorder(true);
  const p = await startLinkProxy({ targetPort: srv.port });
  try {
    const a = client(p.port);
    a.s.write('x');
    await until('echo', () => a.text() === 'x');
    p.refuse();
    const r = client(p.port);
    await until('refused connection closed', () => r.closed);
    assert.equal(r.ended, false, 'a reset, not a FIN');
    a.s.write('y');
    await until('open link still works', () => a.text() === 'xy');
    assert.equal(p.stats().refused, 1);
    p.restore();
    const b = client(p.port);
    b.s.write('z');
    await until('new link works after restore', () => b.text() === 'z');
    assert.equal(p.drop(), 2);
    await until('both sides of both links closed', () => a.closed && b.closed && srv.conns.every((c) => c.closed));
    assert.equal(a.ended || b.ended, false, 'devices see a reset, not a FIN');
    assert.deepEqual([p.stats().open, p.stats().dropped], [0, 2]);
  } finally {
    await p.close();
    await srv.close();
  }
});

test('maxHeldBytes bounds a black-holed link; bad options are refused naming the field', async () => {
  const srv = await startRecorder(false);
  const p = await startLinkProxy({ targetPort: srv.port, maxHeldBytes: 1000 });
  try {
    const a = client(p.port);
    await until('upstream link', () => srv.conns.length === 1);
    p.blackhole();
    a.s.write(Buffer.alloc(999));
    await sleep(50);
    assert.equal(a.closed, false, 'at the bound: kept');
    a.s.write(Buffer.alloc(2));
    await until('link reset past the bound', () => a.closed);
    assert.deepEqual([p.stats().resets, p.stats().held], [1, 0]);
  } finally {
    await p.close();
    await srv.close();
  }
  await assert.rejects(startLinkProxy({ targetPort: 0 }), /"targetPort" expected an integer in 1\.\.65535, got 0/);
  await assert.rejects(startLinkProxy({ targetPort: 1, latencyMs: -1 }), /"latencyMs"/);
});
