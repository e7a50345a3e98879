// Semtech UDP packet forwarder: protocol vectors from PROTOCOL.TXT and lora_pkt_fwd.c, ACK
// bytes, a differential fuzz of the JSON reader against JSON.parse, mutated datagrams, bounds
// at their limits, and round trips with a simulated forwarder over real loopback sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  decodeDatagram, parseHeader, ackFor, parseJsonObject, parseLoraDatr, SEMTECH_MAX_DATAGRAM, SEMTECH_MAX_DEPTH, SEMTECH_MAX_RXPK,
  JSON_MAX_NUMBER_CHARS, type SemtechHeader,
} from '../../firmware/core/sources/semtech/decoder.js';
import { semtechSource, SEMTECH_TOTALS, type SemtechSource, type SemtechConfig } from '../../firmware/core/sources/semtech/driver.js';
import { SEMTECH_SCHEMA } from '../../firmware/core/sources/semtech/schema.js';
import { checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import { validate } from '../../firmware/core/config/schema.js';
import type { Host } from '../../firmware/core/host.js';
import type { SourceValue } from '../../firmware/core/sources/source.js';
import { createSimIO } from '../../agent-sim/io/index.js';
import { SemtechForwarder } from '../../agent-sim/peripherals/semtech-forwarder.js';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { systemClock, systemTimers } from '../../agent-sim/platform/host.js';
import { benchFrames, decodeOnce } from './semtech-frames.js';
import { rng } from './virtual-clock.js';
import { espruinoNumberValue } from '../../scripts/espruino-check.mjs';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/semtech.json', import.meta.url), 'utf8'));
const LIM = { maxDatagram: SEMTECH_MAX_DATAGRAM, maxDepth: SEMTECH_MAX_DEPTH, maxRxpk: SEMTECH_MAX_RXPK };

function bytes(hex: string): Uint8Array {
  return new Uint8Array(hex.split(' ').map((x) => parseInt(x, 16)));
}
function hex(b: Uint8Array | undefined): string | null {
  return b ? Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ') : null;
}
function ascii(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}
function push(json: string, token = 0x1234): Uint8Array {
  const j = ascii(json);
  const d = new Uint8Array(12 + j.length);
  d.set([2, token >> 8, token & 255, 0, 0xaa, 0x55, 0x5a, 0, 0, 0, 0, 0]);
  d.set(j, 12);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Vectors

test('valid vectors: header, ACK bytes, stat and rxpk as PROTOCOL.TXT defines them', () => {
  for (const v of V.valid) {
    const d = decodeDatagram(bytes(v.datagram), LIM);
    assert.equal(d.reject, undefined, v.description);
    const h = d.header!;
    assert.equal(h.token, v.token, v.description);
    assert.equal(h.type, v.type, v.description);
    assert.equal(h.eui, v.eui, v.description);
    assert.equal(hex(ackFor(h)), v.ack, v.description);
    if (v.rxpk) {
      assert.deepEqual(d.push!.rxpk.map((p) => ({ ...p, lsnr: p.lsnr })), v.rxpk.map((p: { lsnr?: number }) => ({ ...p, lsnr: p.lsnr })), v.description);
      assert.deepEqual(d.push!.stat, v.stat, v.description);
    } else assert.equal(d.push, undefined);
  }
});

test('invalid vectors: each rejected for its reason; a PUSH_DATA with a valid header is still acknowledged', () => {
  for (const v of V.invalid) {
    const d = decodeDatagram(bytes(v.datagram), LIM);
    assert.equal(d.reject, v.reject, v.description);
    assert.equal(d.push, undefined, v.description);
    assert.equal(hex(d.header ? ackFor(d.header) : undefined), v.ack, v.description);
  }
});

test('ACKs echo the version and token and carry 0x01 / 0x04; TX_ACK gets none', () => {
  const h: SemtechHeader = { version: 2, token: 0xabcd, type: 0 };
  assert.deepEqual(Array.from(ackFor(h)!), [2, 0xab, 0xcd, 1]);
  assert.deepEqual(Array.from(ackFor({ ...h, type: 2 })!), [2, 0xab, 0xcd, 4]);
  assert.equal(ackFor({ ...h, type: 5 }), undefined);
  for (let t = 0; t < 65536; t += 4099) assert.deepEqual(Array.from(ackFor({ ...h, token: t })!.subarray(1, 3)), [t >> 8, t & 255]);
});

test('datr: SF5..SF12 with BW125/250/500 only', () => {
  assert.deepEqual(parseLoraDatr('SF7BW125'), [7, 125]);
  assert.deepEqual(parseLoraDatr('SF12BW500'), [12, 500]);
  assert.deepEqual(parseLoraDatr('SF5BW250'), [5, 250]);
  for (const bad of ['SF4BW125', 'SF13BW125', 'SF7BW126', 'SF7BW', 'BW125SF7', 'SF07BW125x', 'SF07BW125', 'SF7BW0125', 'sf7bw125', 'SF7BW1250', 'SF-7BW125', 'SF 7BW125', ''])
    assert.equal(parseLoraDatr(bad), undefined, bad);
});

// ---------------------------------------------------------------------------------------------
// JSON reader

function randomJson(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 5 : 7));
  if (k === 0) return Math.floor((r() - 0.5) * 1e6);
  if (k === 1) return Math.round((r() - 0.5) * 1e7) / 1000;
  if (k === 2) {
    let s = '';
    const n = Math.floor(r() * 8);
    for (let i = 0; i < n; i++) s += String.fromCharCode(0x20 + Math.floor(r() * 0x5f));
    if (r() < 0.2) s += '\n\t"\\/';
    return s;
  }
  if (k === 3) return r() < 0.5;
  if (k === 4) return null;
  if (k === 5) {
    const a: unknown[] = [];
    const n = Math.floor(r() * 4);
    for (let i = 0; i < n; i++) a.push(randomJson(r, depth + 1));
    return a;
  }
  const o: Record<string, unknown> = {};
  const n = Math.floor(r() * 4);
  for (let i = 0; i < n; i++) o['k' + Math.floor(r() * 10)] = randomJson(r, depth + 1);
  return o;
}

test('JSON reader vs JSON.parse: 3000 random documents and 20000 mutations agree (ASCII, depth <= 8)', () => {
  const r = rng(1);
  let agreedBad = 0;
  for (let i = 0; i < 3000; i++) {
    const doc = { a: randomJson(r, 1), b: randomJson(r, 1) };
    const text = r() < 0.5 ? JSON.stringify(doc) : JSON.stringify(doc, null, r() < 0.5 ? 2 : '\t');
    const b = ascii(text);
    assert.deepEqual(parseJsonObject(b, 0, b.length, 8), JSON.parse(text));
    for (let m = 0; m < 7; m++) {
      const x = b.slice();
      const op = Math.floor(r() * 3);
      const at = Math.floor(r() * x.length);
      let y: Uint8Array;
      if (op === 0) {
        x[at] = Math.floor(r() * 0x80);
        y = x;
      } else if (op === 1) y = x.subarray(0, at);
      else y = new Uint8Array([...x.subarray(0, at), Math.floor(r() * 0x80), ...x.subarray(at)]);
      const s = Buffer.from(y).toString('latin1');
      let want: unknown;
      try {
        want = JSON.parse(s);
      } catch {
        want = undefined;
      }
      const got = parseJsonObject(y, 0, y.length, 8);
      const isObj = want !== null && typeof want === 'object' && !Array.isArray(want);
      // Stricter than JSON.parse on purpose: no number that overflows a double, no __proto__.
      if (!isObj || s.includes('__proto__') || /Infinity/.test(JSON.stringify(want, (_k, x) => (x === Infinity || x === -Infinity ? 'Infinity' : x))))
        assert.equal(got, undefined, s);
      else assert.deepEqual(got, want, s);
      if (got === undefined) agreedBad++;
    }
  }
  assert.ok(agreedBad > 5000, 'mutations exercised the rejection paths: ' + agreedBad);
});

test('JSON reader bounds: depth 8 accepted and 9 refused; a 32-char number accepted and 33 refused; \\u escapes ASCII only', () => {
  const nest = (n: number) => ascii('{"a":' + '['.repeat(n - 1) + ']'.repeat(n - 1) + '}');
  assert.ok(parseJsonObject(nest(8), 0, nest(8).length, 8));
  assert.equal(parseJsonObject(nest(9), 0, nest(9).length, 8), undefined);
  assert.ok(parseJsonObject(nest(9), 0, nest(9).length, 9));
  const num = (n: number) => ascii('{"x":1' + '0'.repeat(n - 1) + '}');
  assert.equal(JSON_MAX_NUMBER_CHARS, 32);
  assert.deepEqual(parseJsonObject(num(32), 0, num(32).length, 8), { x: 1e31 });
  assert.equal(parseJsonObject(num(33), 0, num(33).length, 8), undefined);
  const e = ascii('{"s":"\\u0041\\u007f\\n"}');
  assert.deepEqual(parseJsonObject(e, 0, e.length, 8), { s: 'A\x7f\n' });
  const w = ascii('{"s":"\\u00e9"}');
  assert.equal(parseJsonObject(w, 0, w.length, 8), undefined);
  const p = ascii('{"__proto__":{"x":1}}');
  assert.equal(parseJsonObject(p, 0, p.length, 8), undefined);
  const big = ascii('{"x":1e400}');
  assert.equal(parseJsonObject(big, 0, big.length, 8), undefined, 'a number that overflows a double');
  const top = ascii('[1]');
  assert.equal(parseJsonObject(top, 0, top.length, 8), undefined, 'the root must be an object');
});

test('skipped members (rxpk data) are checked like any string but not built', () => {
  const j = (d: string) => push('{"rxpk":[{"freq":868.1,"datr":"SF7BW125","rssi":-50,"lsnr":1.0,"data":' + d + '}]}');
  assert.equal(decodeDatagram(j('"QUJD\\/\\u0041"'), LIM).reject, undefined);
  assert.equal(decodeDatagram(j('"QU\x01JD"'), LIM).reject, 'json', 'control character');
  assert.equal(decodeDatagram(j('"QU\xc3\xa9"'), LIM).reject, 'json', 'not ASCII');
  assert.equal(decodeDatagram(j('"\\u00e9"'), LIM).reject, 'json', 'escape beyond ASCII');
  assert.equal(decodeDatagram(j('"\\x41"'), LIM).reject, 'json', 'no such escape');
  assert.equal(decodeDatagram(j('"QUJD'), LIM).reject, 'json', 'unterminated');
  assert.equal(decodeDatagram(j('5'), LIM).reject, undefined, 'a non-string data is read normally');
  const b = ascii('{"data":"QUJD","x":"QUJD"}');
  assert.deepEqual(parseJsonObject(b, 0, b.length, 8, { data: true }), { data: '', x: 'QUJD' });
  assert.deepEqual(parseJsonObject(b, 0, b.length, 8), { data: 'QUJD', x: 'QUJD' });
});

test('Espruino parseFloat (digits summed in doubles) gives the same decoded values as Node', () => {
  const espruinoParseFloat = (t: string): number => (t[0] === '-' ? -(espruinoNumberValue(t.slice(1)) as number) : (espruinoNumberValue(t) as number));
  const r = rng(21);
  const pk: string[] = [];
  const stats: string[] = [];
  for (let i = 0; i < 200; i++) {
    const lsnr = (-20 + i * 0.17).toFixed(1);
    pk.push('{"freq":' + (863 + r() * 7).toFixed(6) + ',"datr":"SF7BW125","rssi":-50,"lsnr":' + lsnr + '}');
    stats.push('{"stat":{"ackr":' + (r() * 100).toFixed(1) + ',"temp":' + (r() * 60 - 10).toFixed(1) + ',"lati":' + (r() * 180 - 90).toFixed(5) + ',"long":' + (r() * 360 - 180).toFixed(5) + ',"alti":' + Math.round(r() * 500) + '}}');
  }
  const grams = [push('{"rxpk":[' + pk.slice(0, 60).join(',') + ']}'), push('{"rxpk":[' + pk.slice(60, 120).join(',') + ']}'), push('{"rxpk":[' + pk.slice(120).join(',') + ']}'), ...stats.map((j) => push(j))];
  const lim = { ...LIM, maxRxpk: 255 };
  const node = grams.map((g) => decodeDatagram(g, lim));
  let differs = 0;
  for (const t of stats.map((j) => /"lati":([-0-9.]+)/.exec(j)![1])) if (espruinoParseFloat(t) !== parseFloat(t)) differs++;
  const saved = globalThis.parseFloat;
  globalThis.parseFloat = espruinoParseFloat as typeof parseFloat;
  let esp;
  try {
    esp = grams.map((g) => decodeDatagram(g, lim));
  } finally {
    globalThis.parseFloat = saved;
  }
  assert.ok(differs > 20, 'the raw parse does differ for ' + differs + ' of 200 latitudes');
  assert.deepEqual(esp, node);
  assert.equal(node[0].push!.rxpk.length, 60);
});

test('datagram bounds: maxDatagram accepted at the limit, refused one above; maxRxpk likewise', () => {
  const body = (n: number) => '{"stat":{"time":"' + 'x'.repeat(n) + '"}}';
  const exact = push(body(SEMTECH_MAX_DATAGRAM - 12 - body(0).length));
  assert.equal(exact.length, SEMTECH_MAX_DATAGRAM);
  assert.equal(decodeDatagram(exact, LIM).reject, undefined);
  const over = push(body(SEMTECH_MAX_DATAGRAM - 12 - body(0).length + 1));
  assert.equal(decodeDatagram(over, LIM).reject, 'long');
  assert.equal(parseHeader(over, SEMTECH_MAX_DATAGRAM), 'long');
  const pk = '{"freq":868.1,"datr":"SF7BW125","rssi":-50,"lsnr":1.0}';
  const n = (k: number) => push('{"rxpk":[' + Array(k).fill(pk).join(',') + ']}');
  assert.equal(decodeDatagram(n(4), { ...LIM, maxRxpk: 4 }).push!.rxpk.length, 4);
  assert.equal(decodeDatagram(n(5), { ...LIM, maxRxpk: 4 }).reject, 'payload');
});

test('fuzz: 20000 random and mutated datagrams never throw; whatever is accepted is within every range', () => {
  const r = rng(99);
  const seeds = V.valid.map((v: { datagram: string }) => bytes(v.datagram));
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < 20000; i++) {
    let d: Uint8Array;
    if (i % 4 === 0) {
      d = new Uint8Array(Math.floor(r() * 64));
      for (let k = 0; k < d.length; k++) d[k] = Math.floor(r() * 256);
      if (r() < 0.5 && d.length > 3) (d[0] = 2), (d[3] = Math.floor(r() * 3));
    } else {
      d = seeds[Math.floor(r() * seeds.length)].slice();
      const flips = 1 + Math.floor(r() * 3);
      for (let f = 0; f < flips; f++) d[Math.floor(r() * d.length)] = r() < 0.5 ? Math.floor(r() * 256) : 0x20 + Math.floor(r() * 0x5f);
      if (r() < 0.2) d = d.subarray(0, Math.floor(r() * d.length));
    }
    const x = decodeDatagram(d, LIM);
    if (!x.push) {
      rejected++;
      continue;
    }
    accepted++;
    const st = x.push.stat;
    if (st) {
      for (const k of ['rxnb', 'rxok', 'rxfw', 'dwnb', 'txnb'] as const) if (st[k] !== undefined) assert.ok(Number.isInteger(st[k]) && st[k]! >= 0 && st[k]! <= 0xffffffff);
      if (st.rxnb !== undefined && st.rxok !== undefined) assert.ok(st.rxok <= st.rxnb);
      if (st.ackr !== undefined) assert.ok(st.ackr >= 0 && st.ackr <= 100);
    }
    for (const p of x.push.rxpk) {
      assert.ok(Number.isInteger(p.rssi) && p.rssi >= -200 && p.rssi <= 20);
      assert.ok(p.sf === 0 || (p.sf >= 5 && p.sf <= 12));
      assert.ok(p.khz >= 100000 && p.khz <= 3000000);
      assert.ok(p.sf === 0 || (p.lsnr !== undefined && p.lsnr >= -50 && p.lsnr <= 50));
    }
  }
  assert.ok(accepted > 1000 && rejected > 10000, 'accepted ' + accepted + ', rejected ' + rejected);
});

test('benchFrames / decodeOnce: every bench frame decodes', () => {
  for (const f of benchFrames()) {
    const d = decodeOnce(f.bytes);
    assert.equal(d.reject, undefined, f.label);
    assert.ok(d.header);
  }
  assert.ok(benchFrames()[3].bytes.length <= 4550, 'the full PUSH_DATA fits the reference forwarder buffer');
});

// ---------------------------------------------------------------------------------------------
// Round trips over loopback

function cfg(over: Partial<SemtechConfig> = {}): SemtechConfig {
  const v = validate(SEMTECH_SCHEMA, {}, 'cfg').value as unknown as SemtechConfig;
  // saveMinIntervalMs 0 (below the schema's bound, create() does not re-check): every read persists and reports exact totals.
  return { ...v, port: 0, address: '127.0.0.1', saveMinIntervalMs: 0, saveMaxIntervalMs: 1000, ...over };
}

function host(flash: FlashStorage): Host {
  const sim = createSimIO(() => performance.now());
  return {
    clock: systemClock(),
    timers: systemTimers,
    entropy: { randomBytes: (n) => new Uint8Array(n) },
    storage: flash,
    socket: () => {
      throw new Error('no sockets');
    },
    log: () => {},
    io: sim.io,
  };
}

async function open(flash: FlashStorage, over: Partial<SemtechConfig> = {}) {
  const src = semtechSource.create(host(flash), 'gw', 60000, cfg(over) as unknown as Record<string, unknown>) as SemtechSource;
  const port = await (src.udp() as unknown as { bound: Promise<number> }).bound;
  return { src, port };
}

function readNow(src: SemtechSource): { e?: Error; v?: SourceValue[] } {
  let out: { e?: Error; v?: SourceValue[] } | undefined;
  src.read((e, v) => (out = { e, v }));
  assert.ok(out);
  return out!;
}
const get = (vs: SourceValue[], n: string) => vs.find((x) => x.n === n);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('round trip: forwarder loops for 1.2 s; totals equal the sums it sent, distributions match its packets, no ACK missing', async () => {
  const flash = new FlashStorage({ capacity: 64 * 1024 });
  const { src, port } = await open(flash);
  const fwd = new SemtechForwarder({ server: { address: '127.0.0.1', port }, statIntervalMs: 150, pullIntervalMs: 100, burstIntervalMs: 15, burstMax: 6, crcErrorRate: 0.1, downlinksPerStat: 3, temp: true, gps: { lati: 46.24, long: 3.2523, alti: 145 }, seed: 3 });
  await fwd.open();
  try {
    assert.equal(readNow(src).e!.message.includes('no valid datagram'), true);
    fwd.start();
    await sleep(1200);
    fwd.stop();
    await fwd.sendStat(); // the last interval's counts
    await sleep(50);
    const { e, v } = readNow(src);
    assert.equal(e, undefined);
    const vs = v!;
    for (const k of ["rxnb", "rxok", "rxfw", "dwnb", "txnb"] as const) assert.equal(get(vs, k)!.s, fwd.sent[k], k + " " + JSON.stringify(src.stats()));
    assert.ok(fwd.sent.rxnb > 100 && fwd.sent.rxok < fwd.sent.rxnb && fwd.sent.dwnb > 0, JSON.stringify(fwd.sent));
    assert.equal(get(vs, 'pk')!.s, fwd.packets.length);
    for (let sf = 7; sf <= 12; sf++) assert.equal(get(vs, 'sf' + sf)!.s, fwd.packets.filter((p) => p.sf === sf).length, 'sf' + sf);
    assert.equal(get(vs, 'sf5'), undefined, 'sparse totals stay out while 0');
    const rssi = fwd.packets.map((p) => p.rssi);
    assert.equal(get(vs, 'rssi_min')!.v, Math.min(...rssi));
    assert.equal(get(vs, 'rssi_max')!.v, Math.max(...rssi));
    assert.equal(get(vs, 'rssi_avg')!.v, Math.round((rssi.reduce((a, b) => a + b, 0) / rssi.length) * 10) / 10);
    const snr = fwd.packets.map((p) => p.lsnr!);
    assert.equal(get(vs, 'snr_min')!.v, Math.min(...snr));
    assert.equal(get(vs, 'snr_max')!.v, Math.max(...snr));
    for (const khz of new Set(fwd.packets.map((p) => p.khz))) assert.equal(get(vs, 'ch' + khz)!.v, fwd.packets.filter((p) => p.khz === khz).length);
    assert.equal(get(vs, 'ch868100')!.u, 'count');
    assert.equal(get(vs, 'ackr')!.v, fwd.lastAckr);
    assert.equal(get(vs, 'lat')!.v, 46.24);
    assert.equal(get(vs, 'alt')!.v, 145);
    assert.ok((get(vs, 'temp')!.v as number) >= 30);
    assert.equal(fwd.acks.missing, 0, 'every datagram acknowledged in time');
    assert.equal(fwd.acks.push, fwd.sent.push);
    assert.equal(fwd.acks.pull, fwd.sent.pull);
    assert.equal(fwd.stray.length, 0);
    const st = src.stats();
    assert.equal(st.pushData, fwd.sent.push);
    assert.equal(st.rxpk, fwd.packets.length);
    assert.ok(st.saves >= 1);
    // A second read right away: the window restarted, totals stay.
    const again = readNow(src).v!;
    assert.equal(get(again, 'rssi_min'), undefined);
    assert.equal(get(again, 'ackr'), undefined, 'stat values only when a stat came since the previous read');
    assert.equal(get(again, 'rxnb')!.s, fwd.sent.rxnb);
  } finally {
    fwd.close();
    src.stop!();
  }
});

test('faults: wrong version, "stat":?, noise, truncation, oversize, duplicates and another gateway are counted; readings unchanged', async () => {
  const flash = new FlashStorage({ capacity: 64 * 1024 });
  const { src, port } = await open(flash, { eui: 'AA555A0000000101', maxDatagram: 1024 });
  const fwd = new SemtechForwarder({ server: { address: '127.0.0.1', port }, seed: 4 });
  const other = new SemtechForwarder({ server: { address: '127.0.0.1', port }, seed: 5, eui: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) });
  await fwd.open();
  await other.open();
  try {
    assert.equal(await fwd.sendRxpk(3), true);
    assert.equal(await fwd.sendStat(), true);
    const before = readNow(src).v!;
    const r = rng(5);
    // The reference forwarder's own invalid JSON: acknowledged, then rejected.
    assert.equal(await fwd.pushJson('{"rxpk":[{"freq":868.100000,"stat":?,"datr":"SF7BW125","rssi":-50,"lsnr":1.0}]}'), true);
    const good = bytes(V.valid[1].datagram);
    const v1 = good.slice();
    v1[0] = 1;
    fwd.sendRaw(v1);
    for (let i = 0; i < 20; i++) {
      const noise = new Uint8Array(4 + Math.floor(r() * 40));
      for (let k = 0; k < noise.length; k++) noise[k] = Math.floor(r() * 256);
      noise[0] = 0x99; // never version 2
      fwd.sendRaw(noise);
    }
    fwd.sendRaw(good.subarray(0, 8));
    fwd.sendRaw(push('{"stat":{"time":"' + 'x'.repeat(1100) + '"}}'));
    const eui101 = good.slice();
    eui101.set([0xaa, 0x55, 0x5a, 0, 0, 0, 1, 1], 4);
    fwd.sendRaw(eui101);
    fwd.sendRaw(eui101); // a UDP duplicate
    assert.equal(await other.sendStat(), false, 'another gateway is not acknowledged');
    await sleep(50);
    const st = src.stats();
    assert.equal(st.badJson, 1);
    assert.equal(st.badVersion, 1 + 20);
    assert.equal(st.short, 1);
    assert.equal(st.long, 1);
    assert.equal(st.otherEui, 1);
    assert.equal(st.duplicate, 1);
    const after = readNow(src).v!;
    assert.equal(get(after, 'rxnb')!.s, (get(before, 'rxnb')!.s as number) + 2, 'only the one valid stat (the example: rxnb 2) was added');
    assert.equal(get(after, 'pk')!.s, get(before, 'pk')!.s);
    assert.equal(fwd.acks.missing, 0);
    assert.equal(other.acks.missing, 1);
  } finally {
    fwd.close();
    other.close();
    src.stop!();
  }
});

test('restart: totals come back from flash and never go backwards; maxChannels overflow is counted', async () => {
  const flash = new FlashStorage({ capacity: 64 * 1024 });
  let { src, port } = await open(flash, { maxChannels: 2 });
  let fwd = new SemtechForwarder({ server: { address: '127.0.0.1', port }, seed: 6 });
  await fwd.open();
  await fwd.sendRxpk(8);
  await fwd.sendStat();
  await sleep(20);
  const khz = new Set(fwd.packets.map((p) => p.khz));
  const first = readNow(src).v!;
  assert.equal(first.filter((x) => x.n.startsWith('ch')).length, Math.min(2, khz.size));
  assert.equal(src.stats().chanOverflow, fwd.packets.filter((p) => ![...khz].slice(0, 2).includes(p.khz)).length);
  const rx = get(first, 'rxnb')!.s as number;
  fwd.close();
  src.stop!();
  ({ src, port } = await open(flash));
  fwd = new SemtechForwarder({ server: { address: '127.0.0.1', port }, seed: 7 });
  await fwd.open();
  try {
    await fwd.sendStat(); // an empty interval: rxnb 0
    await sleep(20);
    assert.equal(get(readNow(src).v!, 'rxnb')!.s, rx, 'restored');
    assert.equal(get(readNow(src).v!, 'sf7')!.s, get(first, 'sf7')!.s);
  } finally {
    fwd.close();
    src.stop!();
  }
});

test('rate-bounded writes: reported totals are the persisted ones (never ahead of flash); stop() flushes', async () => {
  const flash = new FlashStorage({ capacity: 64 * 1024 });
  let { src, port } = await open(flash, { saveMinIntervalMs: 60000, saveMaxIntervalMs: 600000 });
  let fwd = new SemtechForwarder({ server: { address: '127.0.0.1', port }, seed: 8 });
  await fwd.open();
  await fwd.sendRxpk(5);
  await fwd.sendStat();
  await sleep(20);
  const early = readNow(src).v!;
  assert.equal(get(early, 'rxnb')!.s, 0, 'nothing on flash yet: nothing reported yet');
  assert.equal(get(early, 'rssi_min')!.v, Math.min(...fwd.packets.map((p) => p.rssi)), 'window values are not persisted, so they are reported at once');
  assert.equal(flash.list('sm_gw').length, 0);
  fwd.close();
  src.stop!();
  ({ src, port } = await open(flash));
  fwd = new SemtechForwarder({ server: { address: '127.0.0.1', port }, seed: 9 });
  await fwd.open();
  try {
    await fwd.sendPull();
    await fwd.sendStat();
    await sleep(20);
    assert.equal(get(readNow(src).v!, 'rxnb')!.s, 5);
    assert.equal(get(readNow(src).v!, 'pk')!.s, 5);
  } finally {
    fwd.close();
    src.stop!();
  }
});

test('schema: errors name the field; eui length and save intervals checked at create', () => {
  assert.deepEqual(checkSourceConfigs([semtechSource], [{ id: 'g', type: 'semtech', port: 0, eui: 'zz', maxDatagram: 11, maxDepth: 17, prot: 1 }]), [
    'sources[0].prot: unknown option; did you mean "port"? [semtech]',
    'sources[0].port: expected an integer in 1..65535, got 0 [semtech]',
    'sources[0].eui: 16 hex digits, got "zz" [semtech]',
    'sources[0].maxDatagram: expected an integer in 12..65507, got 11 [semtech]',
    'sources[0].maxDepth: expected an integer in 3..16, got 17 [semtech]',
  ]);
  assert.deepEqual(checkSourceConfigs([semtechSource], [{ id: 'g', type: 'semtech', port: 65535, maxDatagram: 65507, maxRxpk: 255, maxChannels: 64, dedupe: 64, fileBytes: 512 }]), []);
  const flash = new FlashStorage({ capacity: 64 * 1024 });
  assert.throws(() => semtechSource.create(host(flash), 'g', 1000, cfg({ eui: 'abc' }) as unknown as Record<string, unknown>), /eui expected 16 hex digits, got 3/);
  assert.throws(() => semtechSource.create(host(flash), 'g', 1000, cfg({ saveMinIntervalMs: 5000, saveMaxIntervalMs: 1000 }) as unknown as Record<string, unknown>), /saveMaxIntervalMs \(1000\) must not be below/);
  assert.throws(() => semtechSource.create({ ...host(flash), io: {} }, 'g', 1000, cfg() as unknown as Record<string, unknown>), /no io\.udp/);
  assert.equal(SEMTECH_TOTALS.length, 15);
});
