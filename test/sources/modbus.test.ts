// Modbus RTU framing: CRC, requests, the response parser (split at every byte, noise, other
// frames, overflow, exceptions), register types, and fuzzing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MODBUS,
  PARSE,
  RtuResponseParser,
  buildReadRequest,
  crc16,
  charBits,
  charTimeMs,
  interFrameGapMs,
  exceptionName,
  isTransientException,
  readRegisterValue,
  typeCode,
  EXCEPTION_NAMES,
} from '../../firmware/core/sources/modbus/decoder.js';
import { decodeGroup } from '../../firmware/core/sources/modbus/profile.js';
import type { SourceValue } from '../../firmware/core/sources/source.js';
import { prng } from '../../agent-sim/sources/profiles.js';
import { withCrc } from '../../agent-sim/peripherals/modbus-meter.js';
import { VECTORS, hexBytes, vectorPlan, benchFrames, decodeOnce, type ResponseVector } from './modbus-frames.js';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');

/** The read a response vector answers: slave, fc, register count from its header. */
function expectation(v: ResponseVector) {
  const b = hexBytes(v.hex);
  return { slave: b[0], fc: b[1], count: b[2] / 2 };
}

function decodeVector(v: ResponseVector, regs: Uint16Array): Record<string, number | boolean> {
  const { profile, group } = vectorPlan(v);
  const slots: (SourceValue | undefined)[] = [];
  const bad = { n: 0 };
  decodeGroup(profile, group, regs, slots, bad);
  assert.equal(bad.n, 0);
  const out: Record<string, number | boolean> = {};
  for (const s of slots) if (s) out[s.n] = s.vb !== undefined ? s.vb : s.s !== undefined ? s.s : (s.v as number);
  return out;
}

function parseAll(v: ResponseVector, chunks: Uint8Array[], p = new RtuResponseParser()) {
  const e = expectation(v);
  p.expect(e.slave, e.fc, e.count);
  let r = PARSE.NEED_MORE;
  for (const c of chunks) {
    r = p.push(c);
    if (r !== PARSE.NEED_MORE) break;
  }
  return { r, p };
}

// ---------------------------------------------------------------------------------------------

test('CRC-16/MODBUS vectors (reveng check value, preset, field vector)', () => {
  for (const c of VECTORS.crc) assert.equal(crc16(hexBytes(c.hex)), c.crc, c.description);
  // Every frame in the vectors ends with its CRC, low byte first: the CRC over all of it is 0.
  for (const v of [...VECTORS.requests, ...VECTORS.responses, ...VECTORS.exceptions]) assert.equal(crc16(hexBytes(v.hex)), 0, v.description);
  assert.throws(() => crc16('0104' as any), (e: any) => e instanceof TypeError && /"data" expected Uint8Array, got string/.test(e.message));
});

test('every request vector is built byte-identical', () => {
  for (const r of VECTORS.requests) assert.equal(hex(buildReadRequest(r.slave, r.fc, r.address, r.count)), r.hex, r.description);
  assert.equal(VECTORS.requests.length, 6);
});

test('request arguments are checked and name the field', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => buildReadRequest(0, 4, 0, 2), /"slave" expected 1\.\.247, got 0/],
    [() => buildReadRequest(248, 4, 0, 2), /"slave" expected 1\.\.247, got 248/],
    [() => buildReadRequest(1, 6, 0, 2), /"fc" expected 3 \(read holding registers\) or 4 \(read input registers\), got 6/],
    [() => buildReadRequest(1, 4, -1, 2), /"address" expected 0\.\.65535, got -1/],
    [() => buildReadRequest(1, 4, 0, 0), /"count" expected 1\.\.125, got 0/],
    [() => buildReadRequest(1, 4, 0, 126), /"count" expected 1\.\.125, got 126/],
    [() => buildReadRequest(1, 4, 0, 1.5), /"count" expected an integer, got 1\.5/],
    [() => buildReadRequest(1, 4, 65535, 2), /"count" 2 registers from 65535 run past register 65535/],
  ];
  for (const [f, re] of cases) assert.throws(f, re);
  // The limits themselves are accepted.
  assert.equal(buildReadRequest(247, 3, 65535, 1).length, 8);
  assert.equal(buildReadRequest(1, 3, 0, MODBUS.MAX_READ_REGISTERS)[5], 125);
});

test('line timing: 3.5 characters at 9600 8N1, fixed 1.75 ms above 19200 baud', () => {
  assert.equal(charBits(8, 'none', 1), 10);
  assert.equal(charBits(8, 'even', 1), 11);
  assert.equal(charBits(8, 'none', 2), 11);
  assert.ok(Math.abs(charTimeMs(9600, 10) - 1.0416667) < 1e-6);
  assert.ok(Math.abs(interFrameGapMs(9600, 10) - 3.6458333) < 1e-6);
  assert.ok(Math.abs(interFrameGapMs(19200, 11) - (3.5 * 11000) / 19200) < 1e-9);
  assert.equal(interFrameGapMs(38400, 10), 1.75);
  assert.equal(interFrameGapMs(115200, 11), 1.75);
});

test('every response vector decodes to its values (registers and physical values)', () => {
  for (const v of VECTORS.responses) {
    const { r, p } = parseAll(v, [hexBytes(v.hex)]);
    assert.equal(r, PARSE.REGISTERS, v.description);
    if (v.registers) assert.deepEqual(Array.from(p.registers!), v.registers, v.description);
    const got = decodeVector(v, p.registers!);
    assert.deepEqual(got, v.values, v.description);
  }
  assert.equal(VECTORS.responses.length, 10);
});

test('the field vectors decode exactly: 230.2 V (float32 0x43663334, 0.1 V resolution) and 1234.5 kWh as 1234500 Wh', () => {
  const volt = VECTORS.responses.find((v) => v.source.includes('sdm_resp_voltage_230_2'))!;
  const kwh = VECTORS.responses.find((v) => v.source.includes('sdm_resp_import_1234_5'))!;
  const a = parseAll(volt, [hexBytes(volt.hex)]).p.registers!;
  const b = parseAll(kwh, [hexBytes(kwh.hex)]).p.registers!;
  // The register holds the float just above float32(230.2); the profile's 0.1 V resolution reads 230.2.
  assert.equal(readRegisterValue(typeCode('f32_abcd'), a, 0), 230.20001220703125);
  assert.equal(decodeVector(volt, a).u, 230.2);
  assert.equal(readRegisterValue(typeCode('f32_abcd'), b, 0), 1234.5);
  assert.equal(decodeVector(kwh, b).e, 1234500);
});

test('responses split at every byte, and byte by byte, give the same registers', () => {
  let runs = 0;
  for (const v of VECTORS.responses) {
    const b = hexBytes(v.hex);
    const whole = parseAll(v, [b]).p.registers!;
    for (let k = 1; k < b.length; k++) {
      const { r, p } = parseAll(v, [b.subarray(0, k), b.subarray(k)]);
      assert.equal(r, PARSE.REGISTERS, v.description + ' split at ' + k);
      assert.deepEqual(p.registers, whole);
      runs++;
    }
    const bytes = Array.from(b, (x) => Uint8Array.of(x));
    const { r, p } = parseAll(v, bytes);
    assert.equal(r, PARSE.REGISTERS);
    assert.deepEqual(p.registers, whole);
    // Incomplete: every proper prefix needs more.
    for (let k = 0; k < b.length; k++) assert.equal(parseAll(v, [b.subarray(0, k)]).r, PARSE.NEED_MORE);
  }
  assert.ok(runs > 250, String(runs));
});

test('noise before a response: random bytes, fake headers, an echo of the request; in random chunks', () => {
  const rnd = prng(42);
  let trials = 0;
  for (const v of VECTORS.responses) {
    const b = hexBytes(v.hex);
    const e = expectation(v);
    for (let t = 0; t < 60; t++) {
      const n = Math.floor(rnd() * 200);
      const noise = new Uint8Array(n);
      for (let k = 0; k < n; k++) noise[k] = Math.floor(rnd() * 256);
      // Adversarial starts: our own header claiming a longer frame, or the echo of our request.
      if (t % 3 === 0 && n >= 3) noise.set([e.slave, e.fc, 250], 0);
      if (t % 3 === 1) {
        const req = buildReadRequest(e.slave, e.fc, 0x4000, e.count);
        const withEcho = new Uint8Array(req.length + n);
        withEcho.set(req);
        withEcho.set(noise, req.length);
        const stream = new Uint8Array(withEcho.length + b.length);
        stream.set(withEcho);
        stream.set(b, withEcho.length);
        const { r, p } = parseAll(v, chunked(stream, rnd));
        assert.equal(r, PARSE.REGISTERS, v.description + ' after echo + ' + n + ' noise bytes');
        assert.equal(hex(regBytes(p.registers!)), hex(b.subarray(3, b.length - 2)));
        trials++;
        continue;
      }
      const stream = new Uint8Array(n + b.length);
      stream.set(noise);
      stream.set(b, n);
      const { r, p } = parseAll(v, chunked(stream, rnd));
      assert.equal(r, PARSE.REGISTERS, v.description + ' after ' + n + ' noise bytes (trial ' + t + ')');
      assert.equal(hex(regBytes(p.registers!)), hex(b.subarray(3, b.length - 2)));
      trials++;
    }
  }
  assert.equal(trials, 600);
});

function regBytes(r: Uint16Array): Uint8Array {
  const o = new Uint8Array(r.length * 2);
  r.forEach((w, k) => ((o[2 * k] = w >> 8), (o[2 * k + 1] = w & 0xff)));
  return o;
}

function chunked(b: Uint8Array, rnd: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < b.length; ) {
    const n = 1 + Math.floor(rnd() * 24);
    out.push(b.subarray(o, o + n));
    o += n;
  }
  return out;
}

test('all other vectors concatenated before the expected one, in random chunks: skipped and counted', () => {
  const rnd = prng(7);
  for (const v of VECTORS.responses) {
    const e = expectation(v);
    // A frame of the same shape from our slave would be a valid answer: leave those out.
    const others = VECTORS.responses.filter((o) => o !== v).map((o) => hexBytes(o.hex)).filter((o) => !(o[0] === e.slave && o[1] === e.fc && o[2] === 2 * e.count));
    const all = [...others, hexBytes(v.hex)];
    const stream = new Uint8Array(all.reduce((n, b) => n + b.length, 0));
    let off = 0;
    for (const b of all) stream.set(b, off), (off += b.length);
    const { r, p } = parseAll(v, chunked(stream, rnd));
    assert.equal(r, PARSE.REGISTERS, v.description);
    assert.equal(hex(regBytes(p.registers!)), hex(hexBytes(v.hex).subarray(3, -2)));
    // Other frames from our slave: another function or another length; never taken as the answer.
    const s = p.stats;
    assert.equal(s.wrongFunction + s.wrongLength, others.length, v.description);
    assert.equal(s.frames, 1);
  }
});

test('exceptions: the vector, every named code, unknown codes, and exceptions that are not ours', () => {
  const x = VECTORS.exceptions[0];
  const p = new RtuResponseParser();
  p.expect(x.slave, x.fc, 2);
  assert.equal(p.push(hexBytes(x.hex)), PARSE.EXCEPTION);
  assert.equal(p.exception, x.code);
  assert.equal(exceptionName(p.exception), x.name);
  const names: Record<number, string> = {
    1: 'ILLEGAL FUNCTION', 2: 'ILLEGAL DATA ADDRESS', 3: 'ILLEGAL DATA VALUE', 4: 'SERVER DEVICE FAILURE', 5: 'ACKNOWLEDGE',
    6: 'SERVER DEVICE BUSY', 8: 'MEMORY PARITY ERROR', 10: 'GATEWAY PATH UNAVAILABLE', 11: 'GATEWAY TARGET DEVICE FAILED TO RESPOND',
  };
  assert.deepEqual(EXCEPTION_NAMES, names);
  for (let code = 0; code < 256; code++) {
    p.expect(9, 3, 4);
    assert.equal(p.push(withCrc([9, 0x83, code])), PARSE.EXCEPTION);
    assert.equal(p.exception, code);
    assert.equal(exceptionName(code), names[code] ?? 'UNKNOWN EXCEPTION');
    assert.equal(isTransientException(code), code === 5 || code === 6);
  }
  // Another slave's exception, and our slave's exception to another function: skipped.
  p.expect(1, 4, 2);
  assert.equal(p.push(withCrc([2, 0x84, 2])), PARSE.NEED_MORE);
  assert.equal(p.push(withCrc([1, 0x83, 2])), PARSE.NEED_MORE);
  assert.equal(p.stats.wrongSlave, 1);
  assert.equal(p.stats.wrongFunction, 1);
  // Split at every byte.
  const b = hexBytes(x.hex);
  for (let k = 1; k < b.length; k++) {
    p.expect(1, 4, 2);
    assert.equal(p.push(b.subarray(0, k)), PARSE.NEED_MORE);
    assert.equal(p.push(b.subarray(k)), PARSE.EXCEPTION);
  }
});

test('a CRC-valid answer from the wrong slave is rejected, then the right one is taken', () => {
  const v = VECTORS.responses[0];
  const b = hexBytes(v.hex);
  const other = withCrc([7, ...b.subarray(1, b.length - 2)]);
  const { r, p } = parseAll(v, [other]);
  assert.equal(r, PARSE.NEED_MORE);
  assert.equal(p.stats.wrongSlave, 1);
  assert.equal(p.push(b), PARSE.REGISTERS);
  assert.equal(p.stats.frames, 1);
});

test('bound: the buffer holds one 256-byte RTU frame and never more; the largest answer fits', () => {
  const rnd = prng(99);
  const p = new RtuResponseParser();
  // 125 registers: a 255-byte answer, the largest a read can have.
  const regs = Array.from({ length: 125 }, (_, k) => (k * 517) & 0xffff);
  const body = [1, 4, 250];
  for (const w of regs) body.push(w >> 8, w & 0xff);
  const frame = withCrc(body);
  assert.equal(frame.length, 255);
  // Adversarial noise: fake headers (our address and function claiming a 255-byte answer, or
  // another slave's answer of our shape) keep bytes pending as long as possible.
  const noise = new Uint8Array(3000);
  for (let k = 0; k < noise.length; k++) noise[k] = Math.floor(rnd() * 256);
  for (let k = 0; k + 3 <= noise.length; k += 1 + Math.floor(rnd() * 40)) noise.set(rnd() < 0.5 ? [1, 4, 250] : [9, 4, 250], k);
  let most = 0;
  for (let trial = 0; trial < 20; trial++) {
    p.expect(1, 4, 125);
    const n = Math.floor(rnd() * noise.length);
    for (const c of chunked(noise.subarray(0, n), rnd)) {
      assert.equal(p.push(c), PARSE.NEED_MORE);
      assert.ok(p.buffered() <= MODBUS.MAX_ADU - 1, String(p.buffered()));
      most = Math.max(most, p.buffered());
    }
    let r = PARSE.NEED_MORE;
    for (const c of chunked(frame, rnd)) r = p.push(c);
    assert.equal(r, PARSE.REGISTERS, 'after ' + n + ' noise bytes');
    assert.deepEqual(Array.from(p.registers!), regs);
  }
  assert.ok(most >= 250, 'the noise kept up to ' + most + ' bytes pending'); // the bound was reached
});

test('bytes after the answer are counted as late; the next expect() starts clean', () => {
  const v = VECTORS.responses[0];
  const b = hexBytes(v.hex);
  const stream = new Uint8Array([...b, 1, 2, 3]);
  const { r, p } = parseAll(v, [stream]);
  assert.equal(r, PARSE.REGISTERS);
  assert.equal(p.stats.late, 3);
  assert.equal(p.push(Uint8Array.of(9, 9)), PARSE.NEED_MORE);
  assert.equal(p.stats.late, 5);
  assert.throws(() => p.push([1, 2] as any), /"chunk" expected Uint8Array, got array/);
  assert.throws(() => p.expect(1, 5, 2), /"fc" expected 3/);
});

test('register types: u16, s16, u32/s32 in both word orders, float32 ABCD and CDAB', () => {
  for (const t of VECTORS.types) {
    const got = readRegisterValue(typeCode(t.type), Uint16Array.from(t.registers), 0);
    assert.equal(got, t.f32 !== undefined ? Math.fround(t.f32) : t.value, t.description);
  }
  // Word-swapped types read the same value as their ABCD twins from swapped words.
  const rnd = prng(3);
  for (let k = 0; k < 2000; k++) {
    const hi = Math.floor(rnd() * 65536);
    const lo = Math.floor(rnd() * 65536);
    for (const [a, b] of [['u32_abcd', 'u32_cdab'], ['s32_abcd', 's32_cdab'], ['f32_abcd', 'f32_cdab']]) {
      const x = readRegisterValue(typeCode(a), Uint16Array.of(hi, lo), 0);
      const y = readRegisterValue(typeCode(b), Uint16Array.of(lo, hi), 0);
      assert.ok(Object.is(x, y) || (x !== x && y !== y), a + ' ' + hi + ' ' + lo);
    }
  }
});

test('fuzz: random streams and mutated responses never yield a wrong value', () => {
  const rnd = prng(2024);
  const p = new RtuResponseParser();
  // 1. Random streams against random expectations: no exception escapes, nothing is accepted.
  let accepted = 0;
  for (let t = 0; t < 3000; t++) {
    const slave = 1 + Math.floor(rnd() * 247);
    p.expect(slave, rnd() < 0.5 ? 3 : 4, 1 + Math.floor(rnd() * 125));
    const n = Math.floor(rnd() * 300);
    const b = new Uint8Array(n);
    for (let k = 0; k < n; k++) b[k] = Math.floor(rnd() * 256);
    for (const c of chunked(b, rnd)) if (p.push(c) !== PARSE.NEED_MORE) accepted++;
  }
  assert.equal(accepted, 0);

  // 2. Mutations of every response vector. A REGISTERS result must carry the original values
  // (only mutations outside the frame can leave it intact); anything else must not be accepted.
  const random = { trials: 0, passedCrc: 0, acceptedIntact: 0 };
  for (const v of VECTORS.responses) {
    const e = expectation(v);
    const orig = hexBytes(v.hex);
    const want = hex(orig.subarray(3, -2));
    for (let t = 0; t < 1500; t++) {
      const m = mutate(orig, rnd);
      p.expect(e.slave, e.fc, e.count);
      const before = p.stats.wrongSlave + p.stats.wrongFunction + p.stats.wrongLength;
      let r = PARSE.NEED_MORE;
      for (const c of chunked(m, rnd)) if ((r = p.push(c)) !== PARSE.NEED_MORE) break;
      random.trials++;
      random.passedCrc += p.stats.wrongSlave + p.stats.wrongFunction + p.stats.wrongLength - before;
      if (r === PARSE.REGISTERS) {
        assert.equal(hex(regBytes(p.registers!)), want, v.description + ': a mutated frame was accepted with other values');
        random.acceptedIntact++;
      } else if (r === PARSE.EXCEPTION) assert.fail(v.description + ': a mutation became an exception answer');
    }
  }
  // 3. Mutations that keep a valid CRC (the frame is rebuilt): the structural checks must catch
  // another address, another function, another byte count, a cut-short or padded body.
  const rebuilt = { trials: 0, rejected: { wrongSlave: 0, wrongFunction: 0, wrongLength: 0 }, accepted: 0 };
  for (const v of VECTORS.responses) {
    const e = expectation(v);
    const body = Array.from(hexBytes(v.hex).subarray(0, -2));
    const variants: number[][] = [];
    for (let a = 1; a <= 247; a += 7) if (a !== e.slave) variants.push([a, ...body.slice(1)]);
    for (const f of [1, 2, 3, 4]) if (f !== e.fc) variants.push([body[0], f, ...body.slice(2)]);
    for (const f of [5, 6, 15, 16]) variants.push([body[0], f, ...body.slice(2, 6)]);
    for (let d = 2; d <= 8; d += 2) {
      if (body[2] - d >= 0) variants.push([body[0], body[1], body[2] - d, ...body.slice(3, body.length - d)]);
      variants.push([body[0], body[1], body[2] + d, ...body.slice(3), ...new Array(d).fill(0)]);
    }
    variants.push([body[0], body[1], body[2] - 1, ...body.slice(3, body.length - 1)]); // odd byte count
    for (const vb of variants) {
      p.expect(e.slave, e.fc, e.count);
      const before = { ...p.stats };
      const r = p.push(withCrc(vb));
      rebuilt.trials++;
      if (r !== PARSE.NEED_MORE) rebuilt.accepted++;
      rebuilt.rejected.wrongSlave += p.stats.wrongSlave - before.wrongSlave;
      rebuilt.rejected.wrongFunction += p.stats.wrongFunction - before.wrongFunction;
      rebuilt.rejected.wrongLength += p.stats.wrongLength - before.wrongLength;
    }
  }
  assert.equal(rebuilt.accepted, 0);
  const rej = rebuilt.rejected;
  assert.equal(rej.wrongSlave + rej.wrongFunction + rej.wrongLength, rebuilt.trials);
  console.log('# modbus fuzz: random mutations ' + JSON.stringify(random) + '; CRC-valid rebuilt frames ' + JSON.stringify(rebuilt));
});

/** 1..4 random edits: bit flips, byte changes, insertions, deletions, truncation, noise around. */
function mutate(b: Uint8Array, rnd: () => number): Uint8Array {
  let a = Array.from(b);
  const edits = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < edits; k++) {
    const i = Math.floor(rnd() * a.length);
    const kind = Math.floor(rnd() * 6);
    if (kind === 0) a[i] ^= 1 << Math.floor(rnd() * 8);
    else if (kind === 1) a[i] = Math.floor(rnd() * 256);
    else if (kind === 2) a.splice(i, 0, Math.floor(rnd() * 256));
    else if (kind === 3 && a.length > 1) a.splice(i, 1);
    else if (kind === 4) a = a.slice(0, i);
    else a = [Math.floor(rnd() * 256), ...a, Math.floor(rnd() * 256)];
  }
  return Uint8Array.from(a);
}

test('benchFrames / decodeOnce decode every bench frame', () => {
  const frames = benchFrames();
  assert.ok(frames.length >= 5);
  for (const f of frames) {
    const r = decodeOnce(f.bytes);
    if (typeof r === 'number') assert.equal(r, 2, f.label);
    else assert.ok(r.length >= 1, f.label);
  }
});
