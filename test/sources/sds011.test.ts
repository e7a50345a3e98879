import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createSdsParser, sdsCommand, sdsData, sdsReply, sdsImplausible, SDS_FRAME_LEN } from '../../firmware/core/sources/sds011/decoder.js';
import { sds011Source } from '../../firmware/core/sources/sds011/driver.js';
import { SDS011_SCHEMA, SDS011_MAX_RETRIES } from '../../firmware/core/sources/sds011/schema.js';
import { validate } from '../../firmware/core/config/schema.js';
import { SerialLink } from '../../agent-sim/io/serial-link.js';
import { Sds011Sim, sdsFrame } from '../../agent-sim/peripherals/sds011.js';
import { rig, readOnce, val, prng, hex, chunks, type TestRig } from './sensor-host.js';
import { benchFrames, decodeOnce } from './sds011-frames.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/sds011.json', import.meta.url), 'utf8'));
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

function collect(): { p: ReturnType<typeof createSdsParser>; frames: Uint8Array[] } {
  const frames: Uint8Array[] = [];
  return { p: createSdsParser((f) => frames.push(f)), frames };
}

/** Independent check of a sensor frame (the simulator's construction). */
function frameOk(f: Uint8Array): boolean {
  return f.length === 10 && hexOf(sdsFrame(f[1], f.subarray(2, 8))) === hexOf(f);
}

test('host commands are byte-exact (PyPMS table; protocol V1.3)', () => {
  for (const c of V.commands) assert.deepEqual(sdsCommand(c.cmd, c.d2, c.d3, c.id), hex(c.bytes), c.name);
});

test('data frames and replies decode exactly; invalid ones are rejected and counted', () => {
  for (const v of V.valid) {
    const c = collect();
    c.p.push(hex(v.frame));
    assert.equal(c.frames.length, 1, v.name);
    const d = sdsData(c.frames[0])!;
    assert.equal(d.pm25 / 10, v.pm25, v.name);
    assert.equal(d.pm10 / 10, v.pm10, v.name);
    assert.equal(d.id, v.id);
    assert.equal(sdsImplausible(d), '');
    assert.equal(sdsReply(c.frames[0]), undefined);
  }
  for (const v of V.replies) {
    const c = collect();
    c.p.push(hex(v.frame));
    assert.deepEqual(sdsReply(c.frames[0]), { cmd: v.cmd, d2: v.d2, d3: v.d3, id: v.id }, v.name);
    assert.equal(sdsData(c.frames[0]), undefined);
  }
  for (const v of V.invalid) {
    const c = collect();
    c.p.push(hex(v.frame));
    assert.equal(c.frames.length, 0, v.name);
    assert.ok(c.p.stats[v.error] >= 1, v.name + ' ' + JSON.stringify(c.p.stats));
  }
  for (const v of V.implausible) {
    const c = collect();
    c.p.push(hex(v.frame));
    assert.match(sdsImplausible(sdsData(c.frames[0])!), /999\.9/);
  }
});

test('every vector split at every byte (and byte by byte) gives the same frames', () => {
  for (const v of [...V.valid, ...V.replies, ...V.implausible]) {
    const f = hex(v.frame);
    for (let k = 0; k <= f.length; k++) {
      const c = collect();
      c.p.push(f.subarray(0, k));
      c.p.push(f.subarray(k));
      assert.deepEqual(c.frames.map(hexOf), [hexOf(f)], v.name + ' split ' + k);
      assert.equal(c.p.pending(), 0);
    }
    const b = collect();
    for (const x of f) b.p.push(new Uint8Array([x]));
    assert.deepEqual(b.frames.map(hexOf), [hexOf(f)]);
  }
});

test('all vectors concatenated with noise, broken frames and our own commands, in random chunks: exactly the good frames', () => {
  const rnd = prng(11);
  const good = [...V.valid, ...V.replies].map((v) => hex(v.frame));
  const broken = V.invalid.map((v: { frame: string }) => hex(v.frame));
  const echo = V.commands.map((c: { bytes: string }) => hex(c.bytes)); // a TX/RX short would echo these
  for (let trial = 0; trial < 300; trial++) {
    const parts: Uint8Array[] = [];
    const expect: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = rnd();
      if (r < 0.15) parts.push(broken[Math.floor(rnd() * broken.length)]);
      else if (r < 0.25) parts.push(echo[Math.floor(rnd() * echo.length)]);
      else if (r < 0.35) {
        const n = new Uint8Array(1 + Math.floor(rnd() * 30));
        for (let j = 0; j < n.length; j++) n[j] = Math.floor(rnd() * 0xaa);
        parts.push(n);
      } else {
        const f = good[Math.floor(rnd() * good.length)];
        parts.push(f);
        expect.push(hexOf(f));
      }
    }
    const c = collect();
    for (const ch of chunks(new Uint8Array(Buffer.concat(parts)), rnd, 23)) c.p.push(ch);
    assert.deepEqual(c.frames.map(hexOf), expect, 'trial ' + trial);
  }
});

test('bound: never more than 10 bytes held; a frame starting inside a broken one is found', () => {
  const rnd = prng(3);
  const c = collect();
  for (let i = 0; i < 20000; i++) {
    c.p.push(new Uint8Array([rnd() < 0.1 ? 0xaa : rnd() < 0.1 ? 0xc0 : Math.floor(rnd() * 256)]));
    assert.ok(c.p.pending() <= SDS_FRAME_LEN);
  }
  const good = hex(V.valid[0].frame);
  const d = collect();
  d.p.push(new Uint8Array([0xaa, 0xc0, 1, 2, ...good])); // a broken frame whose bytes 4.. hold a real one
  assert.deepEqual(d.frames.map(hexOf), [hexOf(good)]);
  assert.throws(() => d.p.push('AA' as any), { code: 'E_TYPE' });
});

test('every single-byte corruption of every frame is caught, except the command id, which the checksum does not cover (exhaustive)', (t) => {
  let n = 0;
  let kindFlips = 0;
  for (const v of [...V.valid, ...V.replies]) {
    const good = hex(v.frame);
    for (let i = 0; i < 10; i++)
      for (let x = 1; x < 256; x++) {
        const b = good.slice();
        b[i] ^= x;
        const c = collect();
        c.p.push(b);
        n++;
        if (!c.frames.length) continue;
        // Only byte 1 (C0 <-> C5) may change and still pass: the sum covers bytes 2..7 alone.
        assert.equal(c.frames.length, 1);
        assert.equal(i, 1, v.name + ' byte ' + i + ' ^ ' + x);
        assert.equal(hexOf(c.frames[0].subarray(2)), hexOf(good.subarray(2)));
        kindFlips++;
      }
  }
  assert.equal(n, (V.valid.length + V.replies.length) * 10 * 255);
  assert.equal(kindFlips, V.valid.length + V.replies.length);
  t.diagnostic(n + ' corruptions, ' + kindFlips + ' passed as the other frame kind (C0 <-> C5)');
});

test('fuzz: 20,000 random streams and multi-byte mutations; every emitted frame checks; what the 8-bit sum lets through', (t) => {
  const rnd = prng(1011);
  const base = V.valid.map((v: { frame: string }) => hex(v.frame));
  let passed = 0;
  let plausible = 0;
  for (let n = 0; n < 20000; n++) {
    let b: Uint8Array;
    if (n % 2) {
      b = new Uint8Array(1 + Math.floor(rnd() * 60));
      for (let i = 0; i < b.length; i++) b[i] = rnd() < 0.08 ? 0xaa : rnd() < 0.08 ? 0xc0 : rnd() < 0.08 ? 0xab : Math.floor(rnd() * 256);
    } else {
      b = base[n % base.length].slice();
      const k = 2 + Math.floor(rnd() * 3);
      for (let j = 0; j < k; j++) b[2 + Math.floor(rnd() * 6)] ^= 1 + Math.floor(rnd() * 255);
    }
    const c = collect();
    for (const ch of chunks(b, rnd, 7)) c.p.push(ch);
    for (const f of c.frames) {
      assert.ok(frameOk(f));
      if (n % 2 === 0 && !base.some((x: Uint8Array) => hexOf(x) === hexOf(f))) {
        passed++;
        if (sdsImplausible(sdsData(f)!) === '') plausible++;
      }
    }
  }
  t.diagnostic('multi-byte data corruptions passing the 8-bit sum: ' + passed + ' / 10000; of those inside the range: ' + plausible);
  assert.ok(passed < 10000 / 128);
});

// ---------------------------------------------------------------------------------------------
// Driver over the simulated wire

function setup(cfg: Record<string, unknown> = {}, intervalMs = 60000, simOpts: ConstructorParameters<typeof Sds011Sim>[2] = {}) {
  const r = rig();
  const link = new SerialLink('Serial2', { baud: 9600 }, { seed: 5, maxChunk: 4 });
  r.sim.serial.set('Serial2', link);
  const sim = new Sds011Sim(link, r.vt.now, simOpts);
  const v = validate(SDS011_SCHEMA, { port: 'Serial2', ...cfg }, 'sds');
  assert.deepEqual(v.errors, []);
  return { r, sim, link, src: sds011Source.create(r.host, 'pm', intervalMs, v.value) };
}

function close(x: { r: TestRig; sim: Sds011Sim; src: { stop?(): void } }): void {
  x.src.stop!();
  x.sim.stop();
  x.r.done();
}

test('query mode round trip: wake, read settings, write only what differs, warm-up, query; sleep and wake ahead', () => {
  const x = setup();
  const { r, sim, src } = x;
  try {
    sim.pm25 = 17.3;
    sim.pm10 = 25.9;
    const first = readOnce(r.vt, src);
    assert.equal(first.err, undefined, String(first.err));
    assert.deepEqual(first.values, [
      { n: 'pm25', u: 'ug/m3', v: 17.3 },
      { n: 'pm10', u: 'ug/m3', v: 25.9 },
    ]);
    assert.ok(first.ms >= 30000 && first.ms < 30100, String(first.ms));
    assert.deepEqual(
      sim.commands.slice(0, 5).map((c) => [c.cmd, c.d2, c.d3]),
      [
        [6, 1, 1],
        [2, 0, 0],
        [2, 1, 1],
        [8, 0, 0],
        [4, 0, 0],
      ],
    );
    assert.equal(sim.mode, 'query');
    assert.equal(sim.flashWrites, 1, 'only the reporting mode differed');
    r.vt.advance(60000 - first.ms);
    sim.pm25 = 3.1;
    sim.pm10 = 4;
    const second = readOnce(r.vt, src);
    assert.equal(second.err, undefined);
    assert.ok(second.ms < 100);
    assert.equal(val(second.values, 'pm25'), 3.1);
    assert.equal(val(second.values, 'pm10'), 4);
    r.vt.advance(100);
    assert.equal(sim.asleep, true);
    r.vt.advance(120000 - 31000 - r.vt.now() + 10);
    assert.equal(sim.asleep, false, 'woken 31 s before the next read');
    r.vt.advance(120000 - r.vt.now());
    const third = readOnce(r.vt, src);
    assert.equal(third.err, undefined);
    assert.ok(third.ms < 100, 'no warm-up wait: ' + third.ms);
    const st = src.stats!();
    assert.equal(st.warmups, 1);
    assert.equal(st.settingsWritten, 1);
    assert.equal(sim.commands.filter((c) => c.cmd === 2).length, 2, 'settings read once');
    // a fresh agent (reboot) on the same sensor: settings already right, nothing written
    src.stop!();
    const again = sds011Source.create(r.host, 'pm2', 60000, validate(SDS011_SCHEMA, { port: 'Serial2' }, '').value);
    assert.equal(readOnce(r.vt, again).err, undefined);
    assert.equal(sim.flashWrites, 1);
    again.stop!();
  } finally {
    close(x);
  }
});

test('a sensor left with a working period is set back to continuous; active mode takes the next frame', () => {
  const x = setup({ mode: 'active', sleep: false }, 60000, { period: 5, mode: 'query' });
  try {
    const res = readOnce(x.r.vt, x.src);
    assert.equal(res.err, undefined, String(res.err));
    assert.equal(x.sim.period, 0);
    assert.equal(x.sim.mode, 'active');
    assert.equal(x.sim.flashWrites, 2);
    x.r.vt.advance(10000);
    x.sim.pm25 = 55.5;
    const next = readOnce(x.r.vt, x.src);
    assert.equal(val(next.values, 'pm25'), 55.5);
    assert.ok(next.ms <= 1000);
    assert.equal(x.sim.commands.filter((c) => c.cmd === 4).length, 0);
  } finally {
    close(x);
  }
});

test('device id: commands carry it, frames of another id are ignored and counted', () => {
  const x = setup({ deviceId: 0xa160, sleep: false });
  try {
    assert.equal(readOnce(x.r.vt, x.src).err, undefined);
    x.sim.id = 0x1234; // another sensor answers (still addressed: its own id no longer matches, so it ignores us)
    const res = readOnce(x.r.vt, x.src);
    assert.equal(res.err?.code, 'E_TIMEOUT');
    x.sim.id = 0xa160;
    x.r.vt.advance(100);
    assert.equal(readOnce(x.r.vt, x.src).err, undefined);
  } finally {
    close(x);
  }
  const y = setup({ deviceId: 0xa161, sleep: false, retries: 0, timeoutMs: 200 }, 60000, { mode: 'active' });
  try {
    y.sim.id = 0xa160;
    (y.sim as any).command = function () {}; // a sensor that never answers commands but streams with id A160
    const res = readOnce(y.r.vt, y.src);
    assert.equal(res.err?.code, 'E_TIMEOUT');
    y.r.vt.advance(3000);
    assert.ok(y.src.stats!().otherId >= 1);
  } finally {
    close(y);
  }
});

test('faults: mute, bad checksum, bad tail, truncated, out of range, ignored commands -> E_TIMEOUT, counted, never a value', () => {
  for (const [fault, counter] of [
    [{ mute: true }, 'timeouts'],
    [{ badChecksum: true }, 'checksum'],
    [{ badTail: true }, 'tail'],
    [{ truncate: 7 }, 'timeouts'],
    [{ outOfRange: true }, 'implausible'],
    [{ ignoreCommands: true }, 'timeouts'],
  ] as const) {
    const x = setup({ sleep: false, timeoutMs: 400, retries: 1 });
    try {
      assert.equal(readOnce(x.r.vt, x.src).err, undefined);
      Object.assign(x.sim.faults, fault);
      const res = readOnce(x.r.vt, x.src);
      assert.equal(res.err?.code, 'E_TIMEOUT', JSON.stringify(fault));
      assert.equal(res.values, undefined);
      assert.ok(x.src.stats!()[counter] >= 1, JSON.stringify(fault) + ' ' + JSON.stringify(x.src.stats!()));
      x.sim.faults = {};
      x.r.vt.advance(100);
      const ok = readOnce(x.r.vt, x.src);
      assert.equal(ok.err, undefined, 'recovers after ' + JSON.stringify(fault));
      assert.equal(val(ok.values, 'pm25'), x.sim.pm25);
    } finally {
      close(x);
    }
  }
});

test('noise on the line and stuck values', () => {
  const x = setup({ sleep: false, stuckReads: 3 });
  try {
    x.sim.faults.noise = 13;
    for (let i = 0; i < 3; i++) {
      x.sim.pm25 = 10 + i;
      const res = readOnce(x.r.vt, x.src);
      assert.equal(res.err, undefined);
      assert.equal(val(res.values, 'pm25'), 10 + i);
    }
    assert.ok(x.src.stats!().skipped > 0);
    x.sim.pm25 = 50; // differs from the last reading
    x.sim.faults = { stuck: true };
    assert.equal(readOnce(x.r.vt, x.src).err, undefined);
    x.sim.pm25 = 99;
    assert.equal(readOnce(x.r.vt, x.src).err, undefined);
    assert.equal(readOnce(x.r.vt, x.src).err?.code, 'E_STUCK');
    x.sim.faults = {};
    assert.equal(val(readOnce(x.r.vt, x.src).values, 'pm25'), 99);
  } finally {
    close(x);
  }
});

test('fuzz the driver: 400 reads with noise, corruption and truncation on the wire; values only ever the truth', (t) => {
  const x = setup({ sleep: false, timeoutMs: 300, retries: 1 });
  const rnd = prng(606);
  const tally: Record<string, number> = {};
  try {
    for (let n = 0; n < 400; n++) {
      x.sim.pm25 = Math.round(rnd() * 9999) / 10;
      x.sim.pm10 = Math.round(rnd() * 9999) / 10;
      x.sim.faults = { noise: rnd() < 0.5 ? Math.floor(rnd() * 30) : 0, badChecksum: rnd() < 0.15, badTail: rnd() < 0.1, truncate: rnd() < 0.1 ? Math.floor(rnd() * 10) : undefined };
      const res = readOnce(x.r.vt, x.src);
      assert.equal(res.calls, 1);
      tally[res.err?.code ?? 'ok'] = (tally[res.err?.code ?? 'ok'] ?? 0) + 1;
      if (!res.err) {
        assert.equal(val(res.values, 'pm25'), x.sim.pm25);
        assert.equal(val(res.values, 'pm10'), x.sim.pm10);
      }
      x.r.vt.advance(50);
    }
  } finally {
    close(x);
  }
  t.diagnostic('outcomes ' + JSON.stringify(tally));
  assert.ok(tally.ok > 200 && tally.E_TIMEOUT > 10);
});

test('bounds at their limits: retries = 5 sends 6 queries', () => {
  const x = setup({ sleep: false, retries: SDS011_MAX_RETRIES, timeoutMs: 100 });
  try {
    assert.equal(readOnce(x.r.vt, x.src).err, undefined);
    x.sim.faults.mute = true;
    const before = x.sim.commands.filter((c) => c.cmd === 4).length;
    const res = readOnce(x.r.vt, x.src);
    assert.equal(res.err?.code, 'E_TIMEOUT');
    assert.equal(x.sim.commands.filter((c) => c.cmd === 4).length - before, 6);
    assert.equal(res.ms, 600);
  } finally {
    close(x);
  }
});

test('schema: errors name the field and the rule', () => {
  assert.deepEqual(validate(SDS011_SCHEMA, { port: 'Serial2', mode: 'passive', deviceId: 65536, warmUpMs: -1, timeoutMs: 60001, retries: 6, stuckReads: 1001 }, 's').errors, [
    's.mode: expected one of query, active, got "passive"',
    's.deviceId: expected an integer in 0..65535, got 65536',
    's.warmUpMs: expected an integer in 0..300000, got -1',
    's.timeoutMs: expected an integer in 100..60000, got 60001',
    's.retries: expected an integer in 0..5, got 6',
    's.stuckReads: expected an integer in 0..1000, got 1001',
  ]);
  const r = rig();
  try {
    assert.throws(() => sds011Source.create({ ...r.host, io: {} }, 'x', 1000, validate(SDS011_SCHEMA, { port: 'Serial2' }, '').value), { code: 'E_NO_IO' });
  } finally {
    r.done();
  }
});

test('stop(): no callback after it', () => {
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
