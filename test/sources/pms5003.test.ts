import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  createPmsParser,
  pmsCommand,
  pmsWords,
  pmsReply,
  pmsImplausible,
  PMS_FRAME_MAX,
} from '../../firmware/core/sources/pms5003/decoder.js';
import { pms5003Source } from '../../firmware/core/sources/pms5003/driver.js';
import { PMS5003_SCHEMA, PMS5003_MAX_RETRIES } from '../../firmware/core/sources/pms5003/schema.js';
import { validate } from '../../firmware/core/config/schema.js';
import { SerialLink } from '../../agent-sim/io/serial-link.js';
import { Pms5003Sim, pmsSum, pmsDataFrame } from '../../agent-sim/peripherals/pms5003.js';
import { rig, readOnce, val, prng, hex, chunks, type TestRig } from './sensor-host.js';
import { benchFrames, decodeOnce } from './pms5003-frames.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/pms5003.json', import.meta.url), 'utf8'));
const FIELD = JSON.parse(readFileSync('/work/shared/vectors/field-vectors.json', 'utf8')).sensors.pms5003_frame;

function collect(): { p: ReturnType<typeof createPmsParser>; frames: Uint8Array[] } {
  const frames: Uint8Array[] = [];
  return { p: createPmsParser((f) => frames.push(f)), frames };
}

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('host commands are byte-exact (PyPMS table, data manual Appendix II)', () => {
  for (const c of V.commands) assert.deepEqual(pmsCommand(c.cmd, c.data), hex(c.bytes), c.name);
});

test('shared field vector and public captures decode to the expected words and values', () => {
  const { p, frames } = collect();
  p.push(hex(FIELD.frame));
  const w = pmsWords(frames[0])!;
  assert.deepEqual([w[3], w[4], w[5], w[6]], [FIELD.expect.pm1_0_atm, FIELD.expect.pm2_5_atm, FIELD.expect.pm10_atm, FIELD.expect.n0_3]);
  for (const v of V.valid) {
    const c = collect();
    c.p.push(hex(v.frame));
    assert.equal(c.frames.length, 1, v.name);
    assert.deepEqual([...pmsWords(c.frames[0])!], v.words, v.name);
    assert.equal(pmsImplausible(pmsWords(c.frames[0])!), '', v.name);
  }
  for (const v of V.replies) {
    const c = collect();
    c.p.push(hex(v.frame));
    assert.equal(pmsReply(c.frames[0]), v.reply, v.name);
    assert.equal(pmsWords(c.frames[0]), undefined);
  }
  for (const v of V.implausible) {
    const c = collect();
    c.p.push(hex(v.frame));
    assert.equal(c.frames.length, 1, 'checksum is good: ' + v.name);
    assert.match(pmsImplausible(pmsWords(c.frames[0])!), /counts must not increase/, v.name);
  }
});

test('invalid frames: nothing emitted, the right counter', () => {
  for (const v of V.invalid) {
    const c = collect();
    c.p.push(hex(v.frame));
    assert.equal(c.frames.length, 0, v.name);
    assert.equal(c.p.stats[v.error], 1, v.name + ' ' + JSON.stringify(c.p.stats));
  }
});

test('every vector split at every byte (and byte by byte) gives the same frames', () => {
  const all = [...V.valid, ...V.replies, ...V.implausible].map((v) => hex(v.frame));
  for (const f of all) {
    const whole = collect();
    whole.p.push(f);
    for (let k = 0; k <= f.length; k++) {
      const c = collect();
      c.p.push(f.subarray(0, k));
      if (k < f.length) assert.equal(c.frames.length, 0);
      c.p.push(f.subarray(k));
      assert.deepEqual(c.frames.map(hexOf), whole.frames.map(hexOf));
      assert.equal(c.p.pending(), 0);
    }
    const b = collect();
    for (const x of f) b.p.push(new Uint8Array([x]));
    assert.deepEqual(b.frames.map(hexOf), whole.frames.map(hexOf));
  }
});

test('all vectors concatenated with noise and broken frames, in random chunks: exactly the good frames, in order', () => {
  const rnd = prng(5003);
  const good = [...V.valid, ...V.replies, ...V.implausible].map((v) => hex(v.frame));
  const broken = V.invalid.map((v: { frame: string }) => hex(v.frame));
  for (let trial = 0; trial < 300; trial++) {
    const parts: Uint8Array[] = [];
    const expect: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = rnd();
      if (r < 0.2) parts.push(broken[Math.floor(rnd() * broken.length)]);
      else if (r < 0.35) {
        // noise without start bytes, so it cannot hide a frame start
        const n = new Uint8Array(1 + Math.floor(rnd() * 40));
        for (let j = 0; j < n.length; j++) n[j] = Math.floor(rnd() * 0x42);
        parts.push(n);
      } else {
        const f = good[Math.floor(rnd() * good.length)];
        parts.push(f);
        expect.push(hexOf(f));
      }
    }
    const stream = Buffer.concat(parts);
    const c = collect();
    for (const ch of chunks(new Uint8Array(stream), rnd, 40)) c.p.push(ch);
    assert.deepEqual(c.frames.map(hexOf), expect, 'trial ' + trial);
  }
});

test('the frame bound: length 28 accepted, 29 is an overflow; nothing ever buffers more than 32 bytes', () => {
  const ok = pmsDataFrame(new Array(13).fill(0));
  const c = collect();
  c.p.push(ok);
  assert.equal(c.frames.length, 1);
  const over = collect();
  over.p.push(hex('42 4D 00 1D'));
  assert.equal(over.p.stats.overflow, 1);
  assert.equal(over.p.stats.length, 0);
  over.p.push(ok);
  assert.equal(over.frames.length, 1, 'resynchronised on the next frame');
  const rnd = prng(1);
  const f = collect();
  for (let i = 0; i < 20000; i++) {
    f.p.push(new Uint8Array([rnd() < 0.1 ? 0x42 : rnd() < 0.1 ? 0x4d : rnd() < 0.2 ? 0 : Math.floor(rnd() * 256)]));
    assert.ok(f.p.pending() <= PMS_FRAME_MAX);
  }
  assert.throws(() => f.p.push([1, 2] as any), { code: 'E_TYPE' });
});

test('every single-byte corruption of every data frame is caught: no data frame other than the original is emitted (exhaustive)', () => {
  let n = 0;
  for (const v of V.valid) {
    const good = hex(v.frame);
    for (let i = 0; i < 32; i++)
      for (let x = 1; x < 256; x++) {
        const b = good.slice();
        b[i] ^= x;
        const c = collect();
        c.p.push(b);
        for (const f of c.frames) assert.ok(pmsWords(f) === undefined || hexOf(f) === hexOf(good), v.name + ' byte ' + i + ' ^ ' + x);
        n++;
      }
  }
  assert.equal(n, V.valid.length * 32 * 255);
});

test('fuzz: 20,000 random streams and multi-byte mutations; no exception, every emitted frame checksums; what the 16-bit sum lets through', (t) => {
  const rnd = prng(77);
  const base = V.valid.map((v: { frame: string }) => hex(v.frame));
  let sumPassed = 0;
  let plausibleToo = 0;
  for (let n = 0; n < 20000; n++) {
    let b: Uint8Array;
    if (n % 2) {
      b = new Uint8Array(1 + Math.floor(rnd() * 80));
      for (let i = 0; i < b.length; i++) b[i] = rnd() < 0.05 ? 0x42 : rnd() < 0.05 ? 0x4d : Math.floor(rnd() * 256);
    } else {
      b = base[n % base.length].slice();
      const k = 2 + Math.floor(rnd() * 3);
      for (let j = 0; j < k; j++) b[4 + Math.floor(rnd() * 26)] ^= 1 + Math.floor(rnd() * 255); // data words only
    }
    const c = collect();
    for (const ch of chunks(b, rnd, 16)) c.p.push(ch);
    for (const f of c.frames) {
      assert.ok(f.length === 32 || f.length === 8);
      assert.equal(pmsSum(f, f.length - 2), (f[f.length - 2] << 8) | f[f.length - 1]);
      if (n % 2 === 0 && pmsWords(f) && !base.some((x: Uint8Array) => hexOf(x) === hexOf(f))) {
        sumPassed++;
        if (pmsImplausible(pmsWords(f)!) === '') plausibleToo++;
      }
    }
  }
  t.diagnostic('multi-byte data corruptions passing the 16-bit sum: ' + sumPassed + ' / 10000; of those also plausible: ' + plausibleToo);
  assert.ok(sumPassed < 100);
});

// ---------------------------------------------------------------------------------------------
// Driver over the simulated wire

function setup(cfg: Record<string, unknown> = {}, intervalMs = 60000, seed = 1): { r: TestRig; sim: Pms5003Sim; src: ReturnType<typeof pms5003Source.create>; link: SerialLink } {
  const r = rig();
  const link = new SerialLink('Serial2', { baud: 9600 }, { seed, maxChunk: 7 });
  r.sim.serial.set('Serial2', link);
  const sim = new Pms5003Sim(link, r.vt.now);
  const v = validate(PMS5003_SCHEMA, { port: 'Serial2', ...cfg }, 'pm');
  assert.deepEqual(v.errors, []);
  const src = pms5003Source.create(r.host, 'air', intervalMs, v.value);
  return { r, sim, src, link };
}

function close(x: { r: TestRig; sim: Pms5003Sim; src: { stop?(): void } }): void {
  x.src.stop!();
  x.sim.stop();
  x.r.done();
}

function expectTruth(values: { n: string; v?: number; u?: string }[] | undefined, sim: Pms5003Sim): void {
  const t = sim.truth;
  assert.deepEqual(
    values!.map((x) => [x.n, x.u, x.v]),
    [
      ['pm1', 'ug/m3', t.pm1],
      ['pm25', 'ug/m3', t.pm25],
      ['pm10', 'ug/m3', t.pm10],
      ['n03', undefined, t.counts[0]],
      ['n05', undefined, t.counts[1]],
      ['n1', undefined, t.counts[2]],
      ['n25', undefined, t.counts[3]],
      ['n5', undefined, t.counts[4]],
      ['n10', undefined, t.counts[5]],
    ],
  );
}

test('passive mode round trip: wake, mode (acknowledged), 30 s warm-up, read request; then fan sleeps and wakes ahead of the next read', () => {
  const x = setup();
  const { r, sim, src } = x;
  try {
    sim.truth = { pm1: 12, pm25: 20, pm10: 31, counts: [2500, 700, 150, 20, 4, 1] };
    const first = readOnce(r.vt, src);
    assert.equal(first.err, undefined, String(first.err));
    expectTruth(first.values, sim);
    assert.ok(first.ms >= 30000 && first.ms < 30100, 'waited the warm-up: ' + first.ms);
    assert.deepEqual(sim.commands.slice(0, 3), [
      [0xe4, 1],
      [0xe1, 0],
      [0xe2, 0],
    ]);
    r.vt.advance(100);
    assert.equal(sim.asleep, false, 'the first read took the whole warm-up: no time left to sleep before the next');
    r.vt.advance(60000 - first.ms - 100);
    sim.truth = { pm1: 3, pm25: 4, pm10: 4, counts: [600, 170, 30, 2, 0, 0] };
    const second = readOnce(r.vt, src);
    assert.equal(second.err, undefined);
    assert.ok(second.ms < 100, 'no warm-up wait: ' + second.ms);
    expectTruth(second.values, sim);
    r.vt.advance(100);
    assert.equal(sim.asleep, true, 'fan stopped after the reading');
    // the next read is due at 120 s: the fan is woken 31 s before it
    r.vt.advance(120000 - 31000 - r.vt.now() - 10);
    assert.equal(sim.asleep, true);
    r.vt.advance(20);
    assert.equal(sim.asleep, false);
    r.vt.advance(120000 - r.vt.now());
    const third = readOnce(r.vt, src);
    assert.equal(third.err, undefined);
    assert.ok(third.ms < 100, 'no warm-up wait: ' + third.ms);
    expectTruth(third.values, sim);
    const st = src.stats!();
    assert.equal(st.warmups, 1);
    assert.equal(st.wakes, 2);
    assert.equal(st.sleeps, 2);
    assert.equal(st.noAck, 0);
    assert.ok(st.acks >= 2);
    assert.equal(st.checksum, 0);
    assert.equal(sim.commands.filter((c) => c[0] === 0xe1).length, 1, 'mode set once');
  } finally {
    close(x);
  }
});

test('warm-up matters: with warmUpMs 0 the unsettled fan gives wrong values (the simulator models it)', () => {
  const x = setup({ warmUpMs: 0, sleep: false });
  try {
    const res = readOnce(x.r.vt, x.src);
    assert.equal(res.err, undefined);
    assert.notEqual(val(res.values, 'n03'), x.sim.truth.counts[0]);
  } finally {
    close(x);
  }
});

test('active mode: no read request, the next streamed frame after read(); no sleep when the interval is short', () => {
  const x = setup({ mode: 'active' }, 10000);
  const { r, sim, src } = x;
  try {
    assert.equal(readOnce(r.vt, src).err, undefined);
    r.vt.advance(5000);
    sim.truth = { pm1: 40, pm25: 66, pm10: 80, counts: [9000, 2600, 500, 60, 10, 3] };
    const res = readOnce(r.vt, src);
    assert.equal(res.err, undefined);
    expectTruth(res.values, sim);
    assert.ok(res.ms <= 1000);
    assert.equal(sim.commands.filter((c) => c[0] === 0xe2).length, 0);
    assert.equal(sim.commands.filter((c) => c[0] === 0xe4 && c[1] === 0).length, 0, 'interval 10 s < 30 s warm-up + 2 timeouts: never sleeps');
    assert.ok(src.stats!().ignored > 5, 'frames between reads are ignored');
  } finally {
    close(x);
  }
});

test('faults: mute sensor, bad checksums, truncated frames, implausible data -> E_TIMEOUT, counted, never a value', () => {
  for (const [fault, counter] of [
    [{ mute: true }, 'noAck'],
    [{ badChecksum: true }, 'checksum'],
    [{ truncate: 20 }, 'timeouts'], // the partial frame is dropped when the next request goes out
    [{ implausible: true }, 'implausible'],
  ] as const) {
    const x = setup({ sleep: false, retries: 1, timeoutMs: 500 });
    try {
      Object.assign(x.sim.faults, fault);
      const res = readOnce(x.r.vt, x.src);
      assert.equal(res.err?.code, 'E_TIMEOUT', JSON.stringify(fault));
      assert.equal(res.values, undefined);
      assert.ok(x.src.stats!()[counter] >= 1, JSON.stringify(fault) + ' ' + JSON.stringify(x.src.stats!()));
      if ((fault as any).implausible) assert.match(res.err!.message, /counts must not increase/);
      // recovers once the fault goes away
      x.sim.faults = {};
      x.r.vt.advance(100);
      const ok = readOnce(x.r.vt, x.src);
      assert.equal(ok.err, undefined, JSON.stringify(fault));
      expectTruth(ok.values, x.sim);
    } finally {
      close(x);
    }
  }
});

test('noise between frames and a power-cycled sensor (back in active mode) are survived', () => {
  const x = setup({ sleep: false });
  try {
    x.sim.faults.noise = 17;
    for (let i = 0; i < 5; i++) {
      const res = readOnce(x.r.vt, x.src);
      assert.equal(res.err, undefined);
      expectTruth(res.values, x.sim);
    }
    assert.ok(x.src.stats!().skipped >= 5 * 17);
    x.sim.faults = {};
    x.sim.powerCycle();
    x.r.vt.advance(31000);
    const res = readOnce(x.r.vt, x.src);
    assert.equal(res.err, undefined, 'streamed frames answer the passive read');
    expectTruth(res.values, x.sim);
  } finally {
    close(x);
  }
});

test('stuck data: stuckReads = 3 rejects the third identical frame', () => {
  const x = setup({ sleep: false, stuckReads: 3 });
  try {
    x.sim.faults.stuck = true;
    assert.equal(readOnce(x.r.vt, x.src).err, undefined);
    x.sim.truth = { pm1: 1, pm25: 2, pm10: 3, counts: [10, 9, 8, 7, 6, 5] };
    assert.equal(readOnce(x.r.vt, x.src).err, undefined);
    assert.equal(readOnce(x.r.vt, x.src).err?.code, 'E_STUCK');
    x.sim.faults.stuck = false;
    const ok = readOnce(x.r.vt, x.src);
    assert.equal(ok.err, undefined);
    expectTruth(ok.values, x.sim);
  } finally {
    close(x);
  }
});

test('fuzz the driver: 400 reads over a wire with random noise, corruption and truncation; values only ever the truth', (t) => {
  const x = setup({ sleep: false, timeoutMs: 300, retries: 1 }, 60000, 9);
  const rnd = prng(4242);
  const tally: Record<string, number> = {};
  try {
    for (let n = 0; n < 400; n++) {
      x.sim.truth = { pm1: Math.floor(rnd() * 50), pm25: 50 + Math.floor(rnd() * 50), pm10: 100 + Math.floor(rnd() * 50), counts: [600, 500, 400, 300, 200, Math.floor(rnd() * 100)] };
      x.sim.faults = { noise: rnd() < 0.5 ? Math.floor(rnd() * 40) : 0, badChecksum: rnd() < 0.2, truncate: rnd() < 0.1 ? Math.floor(rnd() * 32) : undefined };
      const res = readOnce(x.r.vt, x.src);
      assert.equal(res.calls, 1);
      tally[res.err?.code ?? 'ok'] = (tally[res.err?.code ?? 'ok'] ?? 0) + 1;
      if (!res.err) expectTruth(res.values, x.sim);
      x.r.vt.advance(50);
    }
  } finally {
    close(x);
  }
  t.diagnostic('outcomes ' + JSON.stringify(tally));
  assert.ok(tally.ok > 200 && tally.E_TIMEOUT > 20);
});

test('bounds at their limits: retries = 5 sends 6 read requests, then E_TIMEOUT after 6 timeouts', () => {
  const x = setup({ sleep: false, retries: PMS5003_MAX_RETRIES, timeoutMs: 100 });
  try {
    assert.equal(readOnce(x.r.vt, x.src).err, undefined);
    x.sim.faults.mute = true;
    const before = x.sim.commands.filter((c) => c[0] === 0xe2).length;
    const res = readOnce(x.r.vt, x.src);
    assert.equal(res.err?.code, 'E_TIMEOUT');
    assert.equal(x.sim.commands.filter((c) => c[0] === 0xe2).length - before, 6);
    assert.equal(res.ms, 600);
  } finally {
    close(x);
  }
});

test('schema: errors name the field and the rule', () => {
  assert.deepEqual(validate(PMS5003_SCHEMA, { mode: 'pasive', warmUpMs: 300001, timeoutMs: 99, retries: 6, rx: 'D 16', sleep: 'yes' }, 'p').errors, [
    'p.port: required option missing',
    'p.rx: expected a pin name such as "D22", got "D 16"',
    'p.mode: expected one of passive, active, got "pasive"; did you mean "passive"?',
    'p.sleep: expected true or false, got "yes"',
    'p.warmUpMs: expected an integer in 0..300000, got 300001',
    'p.timeoutMs: expected an integer in 100..60000, got 99',
    'p.retries: expected an integer in 0..5, got 6',
  ]);
  const r = rig();
  try {
    assert.throws(() => pms5003Source.create({ ...r.host, io: {} }, 'x', 1000, validate(PMS5003_SCHEMA, { port: 'Serial2' }, '').value), { code: 'E_NO_IO' });
    assert.throws(() => pms5003Source.create(r.host, 'x', 1000, validate(PMS5003_SCHEMA, { port: 'Serial9' }, '').value), { code: 'E_SERIAL_PORT' });
  } finally {
    r.done();
  }
});

test('stop(): no callback after it, the port is closed', () => {
  const x = setup();
  try {
    let calls = 0;
    x.src.read(() => calls++);
    x.src.stop!();
    x.r.vt.advance(60000);
    assert.equal(calls, 0);
  } finally {
    x.sim.stop();
    x.r.done();
  }
});

test('bench helpers', () => {
  for (const f of benchFrames()) assert.ok(decodeOnce(f.bytes));
});
