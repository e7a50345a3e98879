// The SNTP client (firmware/espruino/sntp.ts): packets against RFC 4330's rules, worked
// numbers for the offset and delay (§5), the era rule (§3), every rejection, and queries
// over real UDP against a server that misbehaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sntpRequest, sntpParse, sntpQuery, readTimestamp, SNTP } from '../../firmware/espruino/sntp.js';
import { openUdp } from '../../agent-sim/io/udp.js';
import type { Timers } from '../../firmware/core/host.js';
import { startSntpServer } from './sntp-server.js';

const timers: Timers = { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/** An NTP timestamp for Unix seconds s (64-bit, big-endian). */
function ts(s: number): number[] {
  const t = s + SNTP.unixOffsetS;
  const sec = Math.floor(t);
  const frac = Math.round((t - sec) * 2 ** 32);
  const b = Buffer.alloc(8);
  b.writeUInt32BE(sec % 2 ** 32, 0);
  b.writeUInt32BE(frac >>> 0, 4);
  return [...b];
}

function answer(req: Uint8Array, o: { t2: number; t3: number; li?: number; vn?: number; mode?: number; stratum?: number; originate?: number[] }): Uint8Array {
  const b = new Uint8Array(48);
  b[0] = ((o.li ?? 0) << 6) | ((o.vn ?? 4) << 3) | (o.mode ?? 4);
  b[1] = o.stratum ?? 1;
  b.set(o.originate ?? [...req.subarray(40, 48)], 24);
  b.set(ts(o.t2), 32);
  b.set(ts(o.t3), 40);
  return b;
}

test('request: 48 bytes, LI 0 / VN 4 / mode 3, our time as the transmit timestamp, nonce in the low fraction bits', () => {
  const r = sntpRequest(1_700_000_000_500);
  assert.equal(r.length, 48);
  assert.equal(r[0], 0x23);
  assert.deepEqual([...r.subarray(1, 40)], new Array(39).fill(0));
  assert.ok(Math.abs(readTimestamp(r, 40) - 1_700_000_000.5) < 1e-6);
  const n = sntpRequest(1_700_000_000_500, 0xbeef);
  assert.deepEqual([n[46], n[47]], [0xbe, 0xef]);
});

test('offset and delay: RFC 4330 §5 on worked numbers (local clock 5 s after boot, 90 ms round trip, 10 ms inside the server)', () => {
  // Local clock (an ESP32 after boot) says 5.000 s; Unix time is 1_800_000_000.000 at that moment.
  const t1 = 5_000;
  const req = sntpRequest(t1);
  const t2 = 1_800_000_000.04; // server receive
  const t3 = 1_800_000_000.05; // server transmit
  const t4 = 5_090; // local receive: 90 ms round trip
  const r = sntpParse(answer(req, { t2, t3 }), req, t1, t4);
  assert.ok(Math.abs(r.delayMs - 80) < 0.01, 'delay = (T4 - T1) - (T3 - T2) = 90 - 10: ' + r.delayMs);
  assert.ok(Math.abs(r.offsetMs - (1_800_000_000_000 - 5_000)) < 0.01);
  assert.ok(Math.abs(r.unixMs - 1_800_000_000_090) < 0.01, 'Unix time at T4');
  assert.equal(r.stratum, 1);
});

test('era rule (§3): a timestamp with the top bit clear is after 2036-02-07', () => {
  const b = new Uint8Array(8);
  b.set([0x00, 0x00, 0x00, 0x10]); // 16 s into era 1
  const u = readTimestamp(b, 0);
  assert.equal(u, 2 ** 32 + 16 - SNTP.unixOffsetS);
  assert.equal(new Date(u * 1000).toISOString(), '2036-02-07T06:28:32.000Z');
});

test('every check of §5 rejects, naming what failed', () => {
  const t1 = 1000;
  const req = sntpRequest(t1);
  const now = 1_800_000_000;
  const ok = { t2: now, t3: now };
  const cases: [string, Uint8Array, RegExp][] = [
    ['short', answer(req, ok).subarray(0, 47), /answer of 47 bytes/],
    ['client mode', answer(req, { ...ok, mode: 3 }), /mode 3, expected 4/],
    ['version 2', answer(req, { ...ok, vn: 2 }), /version 2/],
    ['kiss-o-death', answer(req, { ...ok, stratum: 0 }), /kiss-o'-death/],
    ['stratum 16', answer(req, { ...ok, stratum: 16 }), /stratum 16/],
    ['leap alarm', answer(req, { ...ok, li: 3 }), /not synchronized/],
    ['originate', answer(req, { ...ok, originate: [1, 2, 3, 4, 5, 6, 7, 8] }), /originate timestamp does not echo/],
    ['delay', answer(req, { t2: now, t3: now }), /round trip 3000 ms/],
    ['too old', answer(req, { t2: 1_600_000_000, t3: 1_600_000_000 }), /before 1735689600/],
  ];
  for (const [name, resp, re] of cases) {
    const t4 = name === 'delay' ? t1 + 3000 : t1 + 20;
    assert.throws(() => sntpParse(resp, req, t1, t4), re, name);
  }
  const zeroTx = answer(req, ok);
  zeroTx.fill(0, 40, 48);
  assert.throws(() => sntpParse(zeroTx, req, t1, t1 + 20), /transmit timestamp is zero/);
  assert.doesNotThrow(() => sntpParse(answer(req, ok), req, t1, t1 + 20));
  assert.throws(() => sntpParse('x' as unknown as Uint8Array, req, 0, 0), /"resp" expected Uint8Array/);
});

test('query over UDP: a good server sets the time; a silent or lying one is retried, then reported after the attempts bound', async () => {
  const srv = await startSntpServer({ skewMs: 60_000 });
  try {
    const local = () => Date.now() - 1_000_000; // a local clock far off
    const q = (o: { attempts?: number; servers?: string[] } = {}) =>
      new Promise<{ e?: Error; r?: { offsetMs: number; server?: string } }>((ok) =>
        sntpQuery({ servers: o.servers ?? ['127.0.0.1'], port: srv.port, udp: (u) => openUdp(u), timers, localMs: local, timeoutMs: 300, attempts: o.attempts ?? 3 }, (e, r) => ok({ e, r })),
      );
    const good = await q();
    assert.equal(good.e, undefined);
    assert.ok(Math.abs(good.r!.offsetMs - (1_000_000 + 60_000)) < 100, 'offset ' + good.r!.offsetMs);
    for (const fault of ['silent', 'kod', 'bad-originate', 'leap-alarm'] as const) {
      srv.fault = fault;
      const before = srv.requests;
      const t0 = Date.now();
      const bad = await q({ attempts: 2 });
      assert.ok(bad.e, fault + ' rejected');
      assert.match(bad.e!.message, /no usable answer after 2 attempts/);
      assert.equal(srv.requests - before, 2, fault + ': exactly the attempts bound');
      assert.ok(Date.now() - t0 >= 550, fault + ': each attempt waited its timeout');
    }
    // First server silent (a dead address), the second answers: round robin.
    srv.fault = 'none';
    const rr = await q({ servers: ['127.0.0.2', '127.0.0.1'] });
    assert.equal(rr.r?.server, '127.0.0.1');
  } finally {
    await srv.close();
  }
});
