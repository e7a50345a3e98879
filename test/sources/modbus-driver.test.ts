// The Modbus source end to end: the core's SourceComponent on a host whose io is the simulator's
// (a SerialLink with the simulated meter on its peripheral port), and on a fake host whose clock
// and timers the test drives (exact timing: inter-frame gaps, deadlines, retries, queue bound).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Host, SerialOptions } from '../../firmware/core/host.js';
import type { Source, SourceValue } from '../../firmware/core/sources/source.js';
import { createSources, checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import { modbusSource, ModbusMaster, acquireMaster, releaseMaster, BUS_LIMITS } from '../../firmware/core/sources/modbus/driver.js';
import { builtinProfile, BUILTIN_PROFILES } from '../../firmware/core/sources/modbus/profiles/builtin.js';
import { MODBUS_LIMITS } from '../../firmware/core/sources/modbus/schema.js';
import type { ModbusProfile } from '../../firmware/core/sources/modbus/profile.js';
import { createSimIO, SerialLink } from '../../agent-sim/io/index.js';
import { createNodeHost, systemClock } from '../../agent-sim/platform/host.js';
import { ModbusMeter, withCrc, type ModbusMeterOptions } from '../../agent-sim/peripherals/modbus-meter.js';

// ---------------------------------------------------------------------------------------------
// Simulated bus

function simBus(linkOpts: { latencyMs?: number; maxChunk?: number; seed?: number } = {}) {
  const clock = systemClock();
  const sim = createSimIO(clock.uptime);
  const link = new SerialLink('Serial2', { baud: 9600 }, { latencyMs: 1, seed: 5, ...linkOpts });
  sim.serial.set('Serial2', link);
  const host: Host = { ...createNodeHost({ clock }), io: sim.io };
  const meter = (o: Partial<ModbusMeterOptions> & { profile: ModbusProfile }) => new ModbusMeter(link.peripheral, { address: 1, seed: 3, ...o });
  const source = (cfg: Record<string, unknown>): Source => createSources(host, [modbusSource], [{ id: 'm0', type: 'modbus', port: 'Serial2', ...cfg }])[0];
  return { host, link, meter, source };
}

function read(s: Source): Promise<{ e?: Error & { code?: string; exception?: number }; values?: SourceValue[]; ms: number }> {
  const t0 = performance.now();
  return new Promise((res) => s.read((e, values) => res({ e: e as any, values, ms: performance.now() - t0 })));
}

function valueOf(v: SourceValue): number | boolean {
  return v.vb !== undefined ? v.vb : v.s !== undefined ? v.s : (v.v as number);
}

/** The reading equals what the meter put in its registers (within the wire's precision), quantity by quantity. */
function assertServed(values: SourceValue[], meter: ModbusMeter, profile: ModbusProfile, names?: string[]) {
  const want = names ?? profile.quantities.map((q) => q.n);
  assert.deepEqual(values.map((v) => v.n).sort(), want.slice().sort());
  for (const v of values) {
    const q = profile.quantities.find((x) => x.n === v.n)!;
    // The SenML field: totals in s, flags in vb, the rest in v; the unit from the profile.
    assert.equal(v.s !== undefined, !!q.total, v.n);
    assert.equal(v.vb !== undefined, !!q.flag, v.n);
    assert.equal(v.u, q.unit, v.n);
    const got = valueOf(v);
    const exp = meter.served[v.n];
    if (typeof exp === 'boolean') assert.equal(got, exp, v.n);
    else assert.ok(Math.abs((got as number) - exp) <= 1e-9 * Math.max(1, Math.abs(exp)), v.n + ': read ' + got + ', meter served ' + exp);
  }
}

test('every built-in profile round-trips through the simulated meter: values equal, totals monotonic', async () => {
  for (const name of BUILTIN_PROFILES) {
    const { meter, source } = simBus();
    const profile = builtinProfile(name)!;
    const m = meter({ profile, seed: name.length });
    const s = source({ profile: name });
    let lastE = -1;
    for (let k = 0; k < 3; k++) {
      const r = await read(s);
      assert.equal(r.e, undefined, name + ': ' + r.e?.message);
      assertServed(r.values!, m, profile);
      const e = r.values!.find((v) => v.n === 'e')!.s!;
      assert.ok(e >= lastE, name + ' import energy went back');
      lastE = e;
    }
    const st = s.stats!();
    assert.equal(st.reads, 3);
    assert.equal(st.timeouts + st.retries + st.badCrc + st.wrongSlave + st.readErrors, 0, JSON.stringify(st));
    assert.equal(m.stats.requests, st.requests);
    s.stop!();
  }
});

test('latency, noise bytes before every answer and 1..3-byte chunks: still exact values, noise counted', async () => {
  const { meter, source } = simBus({ maxChunk: 3, latencyMs: 2 });
  const profile = builtinProfile('sdm630')!;
  const m = meter({ profile, latencyMs: 40, noiseBytes: 30 });
  const s = source({ profile: 'sdm630' });
  for (let k = 0; k < 2; k++) {
    const r = await read(s);
    assert.equal(r.e, undefined, r.e?.message);
    assertServed(r.values!, m, profile);
  }
  const st = s.stats!();
  assert.equal(st.requests, 6); // three reads per poll (planning test), two polls
  assert.ok(st.noise >= 6 * 30 - 6 * 3, 'noise ' + st.noise); // a noise byte may start the frame's own header
  assert.equal(st.timeouts, 0);
  s.stop!();
});

test('exceptions: 02 for a register the meter lacks, 01 for a function it lacks, named, not retried', async () => {
  const { meter, source } = simBus();
  const profile = builtinProfile('pzem004t')!;
  const m = meter({ profile });
  const map: ModbusProfile = { ...profile, quantities: [...profile.quantities, { n: 'extra', fc: 4, addr: 0x20, type: 'u16' }] };
  const s = source({ map, retries: 2 });
  const r = await read(s);
  assert.equal(r.e?.code, 'E_MODBUS_EXCEPTION');
  assert.equal(r.e?.exception, 2);
  assert.match(r.e!.message, /^Modbus source m0 \(extra\): slave 1 answered FC04 0x0020\+1 with exception 02 ILLEGAL DATA ADDRESS$/);
  assert.equal(m.stats.requests, 2); // the PZEM block, then the bad one once
  s.stop!();
  const s2 = source({ map: { name: 'holding', quantities: [{ n: 'u', fc: 3, addr: 0, type: 'u16' }] } });
  const r2 = await read(s2);
  assert.equal(r2.e?.exception, 1);
  assert.match(r2.e!.message, /exception 01 ILLEGAL FUNCTION/);
  assert.equal(s2.stats!().exceptions, 1); // a fresh bus: the first source closed the port
  s2.stop!();
});

test('busy answers (06) are retried within the bound; beyond it the exception is the error', async () => {
  const { meter, source } = simBus();
  const profile = builtinProfile('pzem004t')!;
  const m = meter({ profile, busyAnswers: 2 });
  const s = source({ profile: 'pzem004t', retries: 2 });
  const r = await read(s);
  assert.equal(r.e, undefined, r.e?.message);
  assertServed(r.values!, m, profile);
  assert.equal(s.stats!().retries, 2);
  m.faults.busyAnswers = 3;
  const r2 = await read(s);
  assert.equal(r2.e?.exception, 6);
  assert.match(r2.e!.message, /SERVER DEVICE BUSY/);
  s.stop!();
});

test('timeouts: a silent meter costs exactly retries + 1 attempts, each waiting timeoutMs beyond wire time', async () => {
  for (const retries of [0, 2, MODBUS_LIMITS.MAX_RETRIES]) {
    const { meter, source } = simBus();
    const m = meter({ profile: builtinProfile('pzem004t')!, silent: true });
    const s = source({ profile: 'pzem004t', retries, timeoutMs: MODBUS_LIMITS.MIN_TIMEOUT_MS });
    const r = await read(s);
    assert.equal(r.e?.code, 'E_TIMEOUT');
    assert.match(r.e!.message, new RegExp('did not answer FC04 0x0000\\+10 \\(' + (retries + 1) + ' attempts, 20 ms each beyond wire time\\)'));
    assert.equal(m.stats.requests, retries + 1);
    const st = s.stats!();
    assert.equal(st.timeouts, retries + 1);
    assert.equal(st.retries, retries);
    // Each attempt waits the request's and the answer's wire time (8 + 25 bytes at 9600 8N1) plus 20 ms.
    assert.ok(r.ms >= (retries + 1) * (20 + 33 * 1.0416) - 2, r.ms + ' ms');
    s.stop!();
  }
});

test('corrupt CRC, truncated answers, another address answering: rejected and counted, never a value', async () => {
  const cases: [Partial<ModbusMeterOptions>, string][] = [
    [{ corruptCrc: true }, 'badCrc'],
    [{ truncate: 1 }, 'timeouts'],
    [{ answerAs: 2 }, 'wrongSlave'],
  ];
  for (const [fault, counter] of cases) {
    const { meter, source } = simBus();
    meter({ profile: builtinProfile('sdm120')!, ...fault });
    const s = source({ profile: 'sdm120', only: ['u', 'e'], retries: 1, timeoutMs: 30 });
    const r = await read(s);
    assert.equal(r.e?.code, 'E_TIMEOUT', JSON.stringify(fault));
    assert.equal(r.values, undefined);
    assert.equal(s.stats!()[counter], 2, counter + ' ' + JSON.stringify(s.stats!()));
    s.stop!();
  }
});

test('two meters on one bus (addresses 1 and 2): each source gets its own meter, the other meter ignores it', async () => {
  const { meter, host } = simBus();
  const sdm = builtinProfile('sdm120')!;
  const pzem = builtinProfile('pzem004t')!;
  const m1 = meter({ profile: sdm, address: 1 });
  const m2 = meter({ profile: pzem, address: 2, latencyMs: 15 });
  const [a, b] = createSources(host, [modbusSource], [
    { id: 'a', type: 'modbus', port: 'Serial2', profile: 'sdm120', address: 1 },
    { id: 'b', type: 'modbus', port: 'Serial2', profile: 'pzem004t', address: 2 },
  ]);
  for (let k = 0; k < 2; k++) {
    const [ra, rb] = await Promise.all([read(a), read(b)]);
    assert.equal(ra.e, undefined, ra.e?.message);
    assert.equal(rb.e, undefined, rb.e?.message);
    assertServed(ra.values!, m1, sdm);
    assertServed(rb.values!, m2, pzem);
  }
  assert.equal(m1.stats.ignored, m2.stats.requests);
  assert.equal(m2.stats.ignored, m1.stats.requests);
  // Line settings must agree on a shared port.
  assert.throws(
    () => createSources(host, [modbusSource], [{ id: 'c', type: 'modbus', port: 'Serial2', profile: 'sdm120', baud: 19200 }]),
    (e: any) => e.code === 'E_CONFIG' && /port Serial2 is already a Modbus bus at Serial2 9600 8N1; this source asks for Serial2 19200 8N1/.test(e.message),
  );
  a.stop!();
  b.stop!();
});

test('fuzz through the driver: random corruption and noise; every value read equals what the meter served', async () => {
  const { meter, source } = simBus({ maxChunk: 8 });
  const profile = builtinProfile('dds238')!;
  const m = meter({ profile, corruptRate: 0.4, noiseBytes: 5, latencyMs: 2, seed: 77 });
  const s = source({ profile: 'dds238', retries: 1, timeoutMs: 20 });
  let ok = 0;
  let failed = 0;
  for (let k = 0; k < 30; k++) {
    m.faults.noiseBytes = k % 7;
    const r = await read(s);
    if (r.e) {
      assert.equal(r.e.code, 'E_TIMEOUT', r.e.message);
      failed++;
      continue;
    }
    assertServed(r.values!, m, profile);
    ok++;
  }
  const st = s.stats!();
  assert.ok(ok > 10 && failed > 0, ok + ' ok, ' + failed + ' failed');
  assert.equal(st.reads, ok);
  assert.equal(st.readErrors, failed);
  assert.ok(st.badCrc > 0);
  console.log('# modbus driver fuzz: ' + ok + ' reads ok, ' + failed + ' failed; ' + JSON.stringify(st));
  s.stop!();
});

test('config: schema errors name the field; profile/map rules; missing serial', () => {
  const c = (o: Record<string, unknown>) => checkSourceConfigs([modbusSource], [{ id: 'm', type: 'modbus', ...o }]);
  assert.deepEqual(c({ profile: 'sdm120' }), ['sources[0].port: required option missing [modbus]']);
  assert.deepEqual(c({ port: 'Serial2', profile: 'sdm12' }), ['sources[0].profile: expected one of ' + BUILTIN_PROFILES.join(', ') + ', got "sdm12"; did you mean "sdm120"? [modbus]']);
  assert.deepEqual(c({ port: 'Serial2', profile: 'sdm120', adress: 2 }), ['sources[0].adress: unknown option; did you mean "address"? [modbus]']);
  assert.deepEqual(c({ port: 'Serial2', profile: 'sdm120', address: 248, baud: 1199, timeoutMs: 5001, retries: 6, maxRegs: 126, parity: 'evn', de: '4' }), [
    'sources[0].baud: expected an integer in 1200..115200, got 1199 [modbus]',
    'sources[0].parity: expected one of none, even, odd, got "evn"; did you mean "even"? [modbus]',
    'sources[0].de: expected a pin name such as "D22", got "4" [modbus]',
    'sources[0].address: expected an integer in 1..247, got 248 [modbus]',
    'sources[0].timeoutMs: expected an integer in 20..5000, got 5001 [modbus]',
    'sources[0].retries: expected an integer in 0..5, got 6 [modbus]',
    'sources[0].maxRegs: expected an integer in 1..125, got 126 [modbus]',
  ]);
  assert.deepEqual(c({ port: 'Serial2', map: { name: 'x', quantities: [{ n: 'u', fc: 4, addr: 0, type: 'f32' }] } }), [
    'sources[0].map.quantities[0].type: expected one of u16, s16, u32_abcd, u32_cdab, s32_abcd, s32_cdab, f32_abcd, f32_cdab, got "f32" [modbus]',
  ]);
  // The limits themselves pass.
  assert.deepEqual(c({ port: 'Serial2', profile: 'sdm120', address: 247, baud: 115200, timeoutMs: 20, retries: 5, maxRegs: 1 }), []);

  const { host } = simBus();
  const mk = (o: Record<string, unknown>) => () => modbusSource.create(host, 'm', 1000, { port: 'Serial2', baud: 9600, parity: 'none', stopBits: 1, address: 1, timeoutMs: 300, retries: 2, maxRegs: 125, ...o });
  assert.throws(mk({}), (e: any) => e.code === 'E_CONFIG' && /source m\.profile: give exactly one of "profile" \(built-in: dds238, ddsu666, pzem004t, sdm120, sdm630\) and "map"/.test(e.message));
  assert.throws(mk({ profile: 'sdm120', map: builtinProfile('sdm120') }), (e: any) => e.code === 'E_CONFIG');
  assert.throws(mk({ profile: 'sdm120', only: ['u', 'volts'] }), (e: any) => e.code === 'E_CONFIG' && /only\[1\]: profile "sdm120" has no quantity "volts"/.test(e.message));
  assert.throws(mk({ map: { name: 'x', quantities: [{ n: 'u', fc: 4, addr: 0, type: 'u16' }, { n: 'u', fc: 4, addr: 1, type: 'u16' }] } }), (e: any) => e.code === 'E_PROFILE' && /source m\.map\.quantities\[1\]\.n: "u" is already used by quantities\[0\]/.test(e.message));
  assert.throws(mk({ profile: 'pzem004t', maxRegs: 1 }), (e: any) => e.code === 'E_CONFIG' && /maxRegs: 1 is less than the 2 registers of "i"/.test(e.message));
  assert.throws(mk({ profile: 'sdm120', port: 'Serial9' }), (e: any) => e.code === 'E_SERIAL_PORT');
  assert.throws(() => modbusSource.create({ ...host, io: undefined }, 'm', 1000, { port: 'Serial2', profile: 'sdm120', baud: 9600, parity: 'none', stopBits: 1, address: 1, timeoutMs: 300, retries: 2, maxRegs: 125 }), (e: any) => e.code === 'E_NO_SERIAL');
});

// ---------------------------------------------------------------------------------------------
// Fake host: the test owns the clock and the timers, and plays the meter by hand.

function fakeBus() {
  let now = 0;
  let seq = 0;
  const timers: { at: number; seq: number; fn: () => void }[] = [];
  const writes: { t: number; hex: string }[] = [];
  let rx: number[] = [];
  const state = { opts: undefined as SerialOptions | undefined, closed: false, opened: 0 };
  const host = {
    clock: { now: () => now, uptime: () => now, synced: () => true },
    timers: {
      setTimeout: (fn: () => void, ms: number) => {
        const t = { at: now + ms, seq: seq++, fn };
        timers.push(t);
        return t;
      },
      clearTimeout: (h: unknown) => {
        const i = timers.indexOf(h as any);
        if (i >= 0) timers.splice(i, 1);
      },
    },
    log: () => {},
    io: {
      serial(o: SerialOptions) {
        state.opts = o;
        state.opened++;
        state.closed = false;
        return {
          read() {
            if (!rx.length) return undefined;
            const out = Uint8Array.from(rx);
            rx = [];
            return out;
          },
          write(d: Uint8Array) {
            writes.push({ t: now, hex: Buffer.from(d).toString('hex') });
          },
          setBaud() {},
          close() {
            state.closed = true;
          },
        };
      },
    },
  } as unknown as Host;
  return {
    host,
    writes,
    state,
    now: () => now,
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const t = timers[0];
        if (!t || t.at > end) break;
        timers.shift();
        now = t.at;
        t.fn();
      }
      now = end;
    },
    /** Bytes arrive (onReadable fires). */
    deliver(b: Uint8Array) {
      rx.push(...b);
      state.opts!.onReadable!(rx.length);
    },
    /** Bytes arrive in the driver's buffer without a callback (read at the next send). */
    buffer(b: Uint8Array) {
      rx.push(...b);
    },
  };
}

const f32Words = (x: number) => {
  const d = new DataView(new ArrayBuffer(4));
  d.setFloat32(0, x);
  return [d.getUint16(0), d.getUint16(2)];
};

function answer(fc: number, regs: number[], slave = 1): Uint8Array {
  const body = [slave, fc, regs.length * 2];
  for (const w of regs) body.push(w >> 8, w & 0xff);
  return withCrc(body);
}

test('timing: each request waits 3.5 characters of silence after the bus last carried a byte', () => {
  const f = fakeBus();
  const s = modbusSource.create(f.host, 'm', 1000, { port: 'Serial2', baud: 9600, parity: 'none', stopBits: 1, address: 1, timeoutMs: 300, retries: 2, maxRegs: 125, profile: 'sdm120', de: 'D4', rx: 'D16', tx: 'D17' });
  // The driver passes the RS485 direction pin and line settings to the platform.
  assert.deepEqual({ ...f.state.opts, onReadable: undefined, onError: undefined }, { port: 'Serial2', baud: 9600, bits: 8, parity: 'none', stopBits: 1, rx: 'D16', tx: 'D17', de: 'D4', onReadable: undefined, onError: undefined });
  let result: { e?: Error; values?: SourceValue[] } | undefined;
  s.read((e, values) => (result = { e, values }));
  assert.equal(f.writes.length, 1);
  assert.deepEqual(f.writes[0], { t: 0, hex: '010400000020' + 'f1d2' });
  f.advance(20);
  const block = new Array(32).fill(0);
  [block[0], block[1]] = f32Words(230.2);
  f.deliver(answer(4, block));
  // 3.5 characters at 9600 8N1 = 3.65 ms: the next request goes out at t = 20 + 4.
  f.advance(3);
  assert.equal(f.writes.length, 1);
  f.advance(1);
  assert.equal(f.writes.length, 2);
  assert.equal(f.writes[1].t, 24);
  // A stray byte during the next gap pushes the request back.
  f.advance(10);
  f.deliver(answer(4, [0, 0, 0, 0, 0, 0]));
  f.advance(2);
  f.deliver(Uint8Array.of(0x00));
  f.advance(2);
  assert.equal(f.writes.length, 2);
  f.advance(2);
  assert.equal(f.writes.length, 3);
  assert.equal(f.writes[2].t, 40);
  assert.equal(s.stats!().staleBytes, 1);
  f.advance(10);
  f.deliver(answer(4, f32Words(1234.5)));
  assert.equal(result?.e, undefined);
  const byName = Object.fromEntries(result!.values!.map((v) => [v.n, valueOf(v)]));
  assert.equal(byName.u, 230.2);
  assert.equal(byName.e_tot, 1234500);
  s.stop!();
  assert.equal(f.state.closed, true);
});

test('timing: the deadline is wire time of request and answer plus timeoutMs; retries resend at once', () => {
  const f = fakeBus();
  const s = modbusSource.create(f.host, 'm', 1000, { port: 'Serial2', baud: 9600, parity: 'none', stopBits: 1, address: 1, timeoutMs: 300, retries: 2, maxRegs: 125, profile: 'pzem004t' });
  let got: any;
  const error = () => got; // read through a call: the asserts below must not narrow it
  s.read((e) => (got = e));
  // 8 request bytes + 25 answer bytes at 1.0417 ms + 300 ms = 334.4 -> 335 ms.
  f.advance(334);
  assert.equal(f.writes.length, 1);
  f.advance(1);
  assert.deepEqual(f.writes.map((w) => w.t), [0, 335]);
  // Bytes already buffered when a retry goes out are stale, not part of the answer.
  f.buffer(answer(4, new Array(10).fill(7)));
  f.advance(335);
  assert.deepEqual(f.writes.map((w) => w.t), [0, 335, 670]);
  assert.equal(s.stats!().staleBytes, 25);
  assert.equal(error(), undefined);
  f.advance(335);
  assert.equal(error().code, 'E_TIMEOUT');
  assert.equal(f.writes.length, 3);
  s.stop!();
});

test('bounds: the bus queue holds 16 reads besides the one on the wire; stop() silences a read in flight', () => {
  const f = fakeBus();
  const line = { port: 'Serial2', baud: 9600, parity: 'none' as const, stopBits: 1 as const };
  const m: ModbusMaster = acquireMaster(f.host, line);
  const results: string[] = [];
  for (let k = 0; k < BUS_LIMITS.MAX_QUEUE + 2; k++) m.read(1, 4, 0, 2, { timeoutMs: 20, retries: 0 }, (e) => results.push(e ? e.code : 'ok'));
  assert.deepEqual(results, ['E_BUSY']);
  assert.equal(m.stats.queueFull, 1);
  // A second user of the same port shares the master; the port closes with the last one.
  assert.equal(acquireMaster(f.host, line), m);
  releaseMaster(m);
  assert.equal(f.state.closed, false);
  releaseMaster(m);
  assert.equal(f.state.closed, true);
  assert.equal(results.length, 1); // nothing after close

  const f2 = fakeBus();
  const s = modbusSource.create(f2.host, 'm', 1000, { port: 'Serial2', baud: 9600, parity: 'none', stopBits: 1, address: 1, timeoutMs: 300, retries: 2, maxRegs: 125, profile: 'pzem004t' });
  let calls = 0;
  s.read(() => calls++);
  s.stop!();
  f2.advance(2000);
  assert.equal(calls, 0);
  assert.equal(f2.state.closed, true);
  s.read((e) => assert.equal((e as any).code, 'E_STOPPED'));
});
