// The conformance table: seeded inputs and the outputs they must give, from references that
// do not share code with firmware/core wherever one exists:
//   secp256k1   @noble/secp256k1 3.x (keys, signatures, recovery ids, verify, recover), the
//               RFC 6979 vectors (DER -> r || s) and edge-cases.json (generated from noble)
//   hashes      @noble/hashes (sha256, hmac, keccak_256)
//   CBOR        RFC 8949 Appendix A (encode gives hex/canonical; decode gives the listed value),
//               invalid.json (error codes); generated values: the TypeScript core's bytes,
//               each checked here to decode in cbor-x to a value that re-encodes to them
//   envelope    test/vectors/envelope/batches.json for every case of envelope-cases.ts
//   MQTT        test/vectors/mqtt/packets.json (whose bytes mqtt-packet's generate() must give
//               too) and seeded packets encoded by mqtt-packet
// Where no independent reference exists (decode of generated CBOR and payloads, errors the
// references do not name) the expected string is the TypeScript core's, marked src "ts".
//
// Each entry says where it runs in the interpreter, whose time is scarce (~0.3 s a signature
// with E.convolve, ~1.4 s without): tier 0 Node and vm only, 1 also the interpreter's device
// run, 2 also its portable run. Cases with characters above U+00FF never go to the
// interpreter (Espruino strings are 8-bit there); they are marked `wide`.
import { readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import * as noble from '@noble/secp256k1';
import { Decoder, Tag } from 'cbor-x';
import mqttPacket from 'mqtt-packet';
import * as TS from '../../firmware/core/index.js';
import { CborMap, CborTag, type CborValue } from '../../firmware/core/codec/cbor.js';
import { envelopeCases } from '../telemetry/envelope-cases.js';
import { type Case, nodeDriver } from './hosts.js';

noble.hashes.sha256 = sha256;
noble.hashes.hmacSha256 = (k, m) => hmac(sha256, k, m);

export type Tier = 0 | 1 | 2;
export type Source = 'noble' | 'noble-hashes' | 'rfc8949' | 'cbor-invalid' | 'cbor-x+ts' | 'batches.json' | 'packets.json' | 'mqtt-packet' | 'rfc6979' | 'edge-cases.json' | 'ts';

export interface Entry {
  case: Case;
  want: string;
  src: Source;
  tier: Tier;
  wide: boolean;
  /**
   * What the interpreter gives instead, where core documents that Espruino differs (see
   * ESPRUINO_DIFFERENCES); the test requires exactly this there, and reports each.
   */
  espWant?: string;
  espWhy?: string;
}

/**
 * Differences core documents for Espruino 2v29, as rules over the expected string:
 * - 8-bit strings (String.fromCharCode keeps the low byte): CBOR text above U+00FF is refused
 *   (E_CBOR_UNSUPPORTED, codec/cbor.ts header); MQTT topic characters above U+00FF decode as
 *   '?' (codec/mqtt.ts, commit 4659f47).
 * (CBOR -0.0 decodes as -0 on Espruino too: codec/cbor.ts builds it from the float bits.)
 */
export const ESPRUINO_DIFFERENCES = {
  wideText: 'Espruino strings are 8-bit: CBOR text above U+00FF is refused (E_CBOR_UNSUPPORTED)',
  wideTopic: "Espruino strings are 8-bit: MQTT topic characters above U+00FF decode as '?'",
};

const WIDE_TOKEN = /s((?:[0-9a-f]{4})*);/g;

function espruinoDifference(e: Entry): void {
  const w = e.want;
  const hasWide = [...w.matchAll(WIDE_TOKEN)].some((m) => (m[1].match(/.{4}/g) ?? []).some((q) => q >= '0100'));
  if (e.case.op === 'cbordec' && hasWide) {
    e.espWant = 'ERR E_CBOR_UNSUPPORTED';
    e.espWhy = ESPRUINO_DIFFERENCES.wideText;
  } else if ((e.case.op === 'mqttdec' || e.case.op === 'mqttparse') && hasWide) {
    e.espWant = w.replace(WIDE_TOKEN, (_m, q: string) => 's' + q.replace(/.{4}/g, (u) => (u >= '0100' ? '003f' : u)) + ';');
    e.espWhy = ESPRUINO_DIFFERENCES.wideTopic;
  }
}

/** Sizes of the generated parts. */
export const TABLE_SIZES = {
  /** Seeded key + hash pairs: public keys both ways, sign, and the stepped job. */
  keys: 100,
  /** Of those, how many the interpreter's device run signs, steps as jobs, and derives public keys for. */
  espruinoSigns: 10,
  espruinoJobs: 3,
  espruinoPubs: 4,
  /** ... and the portable run. */
  portableSigns: 2,
  extraEntropy: 5,
  verifyRecover: 8,
  /** Hash inputs: every length 0..hashLengths, plus these. */
  hashLengths: 130,
  hashExtra: [135, 136, 137, 271, 272, 273, 1000, 4096, 5000],
  cborValues: 150,
  batches: 8,
  mqttPackets: 60,
};

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const num32 = (x: bigint) => unhex(x.toString(16).padStart(64, '0'));

/** Reproducible bytes: SHA-256 in counter mode over a label. */
export function stream(label: string) {
  let ctr = 0;
  const base = new TextEncoder().encode(label);
  const bytes = (n: number) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32) {
      const c = new Uint8Array(base.length + 4);
      c.set(base);
      new DataView(c.buffer).setUint32(base.length, ctr++);
      out.set(sha256(c).subarray(0, Math.min(32, n - o)), o);
    }
    return out;
  };
  const u32 = () => new DataView(bytes(4).buffer).getUint32(0);
  return { bytes, u32, below: (n: number) => u32() % n, chance: (p: number) => u32() / 4294967296 < p };
}

// ---------------------------------------------------------------------------------------------
// Value notation (see driver.js cfValue)

const f64 = new DataView(new ArrayBuffer(8));
function floatBits(x: number): string {
  f64.setFloat64(0, x);
  return f64.getUint32(0).toString(16).padStart(8, '0') + f64.getUint32(4).toString(16).padStart(8, '0');
}

/** A value -> the driver's $-notation. Only integers below 2^31 stay JSON numbers (Espruino reads longer literals inexactly). */
export function toJ(v: unknown): unknown {
  if (v === undefined) return { $u: 1 };
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) < 2 ** 31 && !Object.is(v, -0) ? v : { $f: floatBits(v) };
  if (v instanceof Uint8Array) return { $h: hex(v) };
  if (Array.isArray(v)) return v.map(toJ);
  if (v instanceof CborMap) return { $m: v.entries.map(([k, x]) => [toJ(k), toJ(x)]) };
  if (v instanceof CborTag) return { $t: toJ(v.tag), $v: toJ(v.value) };
  if (typeof v === 'object') return { $o: Object.keys(v as object).map((k) => [k, toJ((v as Record<string, unknown>)[k])]) };
  throw new Error('toJ: ' + typeof v);
}

/** The RFC vector notation ({bytes}, {float}, {undefined}, {map}, {tag}) -> the driver's. */
function rfcToJ(j: unknown): unknown {
  if (j === null || typeof j !== 'object') return toJ(j);
  if (Array.isArray(j)) return j.map(rfcToJ);
  const o = j as Record<string, unknown>;
  if ('bytes' in o) return { $h: o.bytes };
  if ('float' in o) return toJ(({ NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 } as Record<string, number>)[o.float as string]);
  if ('undefined' in o) return { $u: 1 };
  if ('map' in o) return { $m: (o.map as [unknown, unknown][]).map(([k, v]) => [rfcToJ(k), rfcToJ(v)]) };
  if ('tag' in o) return { $t: toJ(o.tag), $v: rfcToJ(o.value) };
  throw new Error('bad RFC vector value ' + JSON.stringify(j));
}

// ---------------------------------------------------------------------------------------------
// Table building

class Builder {
  entries: Entry[] = [];
  private ids = new Set<string>();
  /** Cases whose expected string is the TypeScript core's (filled in by finish()). */
  private fromTs: Entry[] = [];

  add(c: Case, want: string | undefined, src: Source, tier: Tier): Entry {
    if (this.ids.has(c.id)) throw new Error('duplicate id ' + c.id);
    this.ids.add(c.id);
    const e: Entry = { case: c, want: want ?? '', src, tier, wide: /[\u0100-\uffff]/.test(JSON.stringify(c)) };
    if (e.wide) e.tier = 0;
    this.entries.push(e);
    if (want === undefined) this.fromTs.push(e);
    return e;
  }

  /** Expected from the references, except where the reference throws: then the TS core must throw too (its code is taken). */
  addRef(c: Case, ref: () => string, src: Source, tier: Tier): Entry {
    let want: string | undefined;
    try {
      want = ref();
    } catch {
      want = undefined;
    }
    const e = this.add(c, want, want === undefined ? 'ts' : src, tier);
    if (want === undefined) (e as Entry & { mustThrow?: boolean }).mustThrow = true;
    return e;
  }

  finish(): Entry[] {
    const got = new Map<string, string>();
    nodeDriver()(TS, this.fromTs.map((e) => e.case), (id, r) => got.set(id, r), () => 0);
    for (const e of this.fromTs) {
      e.want = got.get(e.case.id)!;
      if ((e as Entry & { mustThrow?: boolean }).mustThrow && !e.want.startsWith('ERR '))
        throw new Error(e.case.id + ': the reference throws but the TypeScript core gives ' + e.want);
    }
    for (const e of this.entries) espruinoDifference(e);
    return this.entries;
  }
}

/** The driver run in Node on the TypeScript core for one helper op (cborval, dumpval). */
function tsEval(c: Omit<Case, 'id'>): string {
  let out = '';
  nodeDriver()(TS, [{ id: 'x', ...c }], (_id, r) => (out = r), () => 0);
  return out;
}

const sigLine = (rec: number, compact: Uint8Array) => rec + ' ' + hex(compact.subarray(0, 32)) + ' ' + hex(compact.subarray(32)) + ' ' + hex(compact);
function nobleSign(h: Uint8Array, k: Uint8Array, e?: Uint8Array): string {
  const r = noble.sign(h, k, e ? { prehash: false, format: 'recovered', extraEntropy: e } : { prehash: false, format: 'recovered' });
  return sigLine(r[0], r.subarray(1));
}

/** DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs, short lengths) -> r || s, 32 bytes each. */
function derToCompact(der: Uint8Array): Uint8Array {
  if (der[0] !== 0x30 || der[1] !== der.length - 2) throw new Error('DER: expected a SEQUENCE over the whole input');
  const out = new Uint8Array(64);
  let o = 2;
  for (let part = 0; part < 2; part++) {
    if (der[o] !== 0x02) throw new Error('DER: expected INTEGER');
    let len = der[o + 1];
    let at = o + 2;
    o = at + len;
    while (len > 32 && der[at] === 0) (at++, len--);
    if (len > 32) throw new Error('DER: integer longer than 32 bytes');
    out.set(der.subarray(at, at + len), part * 32 + 32 - len);
  }
  if (o !== der.length) throw new Error('DER: trailing bytes');
  return out;
}

function secp256k1(b: Builder): void {
  const S = TABLE_SIZES;
  const rnd = stream('bundle conformance secp256k1');
  const jobBudgets = [undefined, 15, 150, 400];
  const keys: { k: Uint8Array; h: Uint8Array }[] = [];
  for (let i = 0; i < S.keys; i++) {
    let k = rnd.bytes(32);
    while (!noble.utils.isValidSecretKey(k)) k = rnd.bytes(32);
    const h = rnd.bytes(32);
    keys.push({ k, h });
    const tier: Tier = i < S.portableSigns ? 2 : i < S.espruinoSigns ? 1 : 0;
    b.add({ id: 'pub.c.' + i, op: 'pub', k: hex(k), c: true }, hex(noble.getPublicKey(k, true)), 'noble', i < S.espruinoPubs ? 1 : 0);
    b.add({ id: 'pub.u.' + i, op: 'pub', k: hex(k), c: false }, hex(noble.getPublicKey(k, false)), 'noble', i < S.espruinoPubs ? 1 : 0);
    b.add({ id: 'sign.' + i, op: 'sign', k: hex(k), h: hex(h) }, nobleSign(h, k), 'noble', tier);
    const bud = jobBudgets[i % jobBudgets.length];
    b.add({ id: 'job.' + i, op: 'job', k: hex(k), h: hex(h), ...(bud === undefined ? {} : { b: bud }) }, nobleSign(h, k), 'noble',
      i < 1 ? 2 : i < S.espruinoJobs ? 1 : 0);
  }
  for (let i = 0; i < S.extraEntropy; i++) {
    const { k, h } = keys[i];
    const e = rnd.bytes(32);
    b.add({ id: 'sign.e.' + i, op: 'sign', k: hex(k), h: hex(h), e: hex(e) }, nobleSign(h, k, e), 'noble', i < 2 ? 1 : 0);
  }
  // Edge keys: 1 and n - 1, and what is not a key.
  const edges: [string, Uint8Array][] = [['one', num32(1n)], ['n-1', num32(N - 1n)]];
  const hashes: [string, Uint8Array][] = [['0', new Uint8Array(32)], ['ff', new Uint8Array(32).fill(255)], ['n', num32(N)], ['rnd', rnd.bytes(32)]];
  for (const [name, k] of edges) {
    b.add({ id: 'pub.c.' + name, op: 'pub', k: hex(k), c: true }, hex(noble.getPublicKey(k, true)), 'noble', name === 'one' ? 2 : 1);
    b.add({ id: 'pub.u.' + name, op: 'pub', k: hex(k), c: false }, hex(noble.getPublicKey(k, false)), 'noble', 1);
    for (const [hn, h] of hashes) b.add({ id: 'sign.' + name + '.' + hn, op: 'sign', k: hex(k), h: hex(h) }, nobleSign(h, k), 'noble', hn === 'rnd' ? 1 : 0);
  }
  const notKeys: [string, Uint8Array][] = [['zero', new Uint8Array(32)], ['n', num32(N)], ['ff', new Uint8Array(32).fill(255)], ['short', new Uint8Array(31).fill(1)]];
  for (const [name, k] of [...edges, ...notKeys]) b.add({ id: 'valid.' + name, op: 'valid', k: hex(k) }, String(noble.utils.isValidSecretKey(k)), 'noble', 1);
  for (const [name, k] of notKeys) b.addRef({ id: 'pub.bad.' + name, op: 'pub', k: hex(k), c: true }, () => hex(noble.getPublicKey(k)), 'noble', 1);

  // RFC 6979 (nonce and DER from the published set; the recovery id from noble).
  const rfc = JSON.parse(readFileSync(new URL('../vectors/secp256k1/rfc6979.json', import.meta.url), 'utf8')) as { vectors: { privateKey: string; message: string; der: string }[] };
  rfc.vectors.forEach((v, i) => {
    const k = unhex(v.privateKey);
    const h = sha256(new TextEncoder().encode(v.message));
    const compact = derToCompact(unhex(v.der));
    const rec = noble.sign(h, k, { prehash: false, format: 'recovered' });
    if (hex(rec.subarray(1)) !== hex(compact)) throw new Error('noble disagrees with RFC 6979 vector ' + i);
    b.add({ id: 'rfc6979.' + i, op: 'sign', k: v.privateKey, h: hex(h) }, sigLine(rec[0], compact), 'rfc6979', i < 3 ? 1 : 0);
  });
  const edge = JSON.parse(readFileSync(new URL('../vectors/secp256k1/edge-cases.json', import.meta.url), 'utf8')) as {
    vectors: { privateKey: string; msgHash: string; signature: string; recovery: number; extraEntropy?: string; publicKeyCompressed: string; publicKeyUncompressed: string }[];
  };
  edge.vectors.forEach((v, i) => {
    const c: Case = { id: 'edge.' + i, op: 'sign', k: v.privateKey, h: v.msgHash };
    if (v.extraEntropy) c.e = v.extraEntropy;
    b.add(c, sigLine(v.recovery, unhex(v.signature)), 'edge-cases.json', i % 16 === 5 ? 1 : 0);
    if (i % 6 === 0) {
      b.add({ id: 'edge.pub.c.' + i, op: 'pub', k: v.privateKey, c: true }, v.publicKeyCompressed, 'edge-cases.json', 0);
      b.add({ id: 'edge.pub.u.' + i, op: 'pub', k: v.privateKey, c: false }, v.publicKeyUncompressed, 'edge-cases.json', 0);
    }
  });

  // verify / recover on a few seeded signatures, and on altered ones.
  for (let i = 0; i < S.verifyRecover; i++) {
    const { k, h } = keys[i];
    const sig = noble.sign(h, k, { prehash: false, format: 'recovered' });
    const compact = sig.subarray(1);
    const rec = sig[0];
    const tier: Tier = i < 1 ? 1 : 0;
    const pubC = noble.getPublicKey(k, true);
    const pubU = noble.getPublicKey(k, false);
    const ver = (s: Uint8Array, m: Uint8Array, p: Uint8Array) => String(noble.verify(s, m, p, { prehash: false }));
    b.add({ id: 'verify.ok.' + i, op: 'verify', s: hex(compact), h: hex(h), p: hex(i % 2 ? pubU : pubC) }, ver(compact, h, i % 2 ? pubU : pubC), 'noble', tier);
    const bad = compact.slice();
    bad[(i * 11) % 64] ^= 1 << (i % 8);
    b.add({ id: 'verify.badsig.' + i, op: 'verify', s: hex(bad), h: hex(h), p: hex(pubC) }, ver(bad, h, pubC), 'noble', 0);
    const h2 = h.slice();
    h2[31] ^= 1;
    b.add({ id: 'verify.badmsg.' + i, op: 'verify', s: hex(compact), h: hex(h2), p: hex(pubC) }, ver(compact, h2, pubC), 'noble', 0);
    // The high-S twin of a valid signature: rejected by default (low-S rule).
    const sHigh = num32(N - BigInt('0x' + hex(compact.subarray(32))));
    const high = new Uint8Array(64);
    high.set(compact.subarray(0, 32));
    high.set(sHigh, 32);
    b.add({ id: 'verify.highs.' + i, op: 'verify', s: hex(high), h: hex(h), p: hex(pubC) }, ver(high, h, pubC), 'noble', 0);
    const recov = (s: Uint8Array, r: number, c: boolean) => () => {
      const full = new Uint8Array(65);
      full[0] = r;
      full.set(s, 1);
      return hex(noble.recoverPublicKey(full, h, { prehash: false, isCompressed: c }));
    };
    b.addRef({ id: 'recover.' + i, op: 'recover', s: hex(compact), r: rec, h: hex(h), c: i % 2 === 0 }, recov(compact, rec, i % 2 === 0), 'noble', tier);
    b.addRef({ id: 'recover.other.' + i, op: 'recover', s: hex(compact), r: rec ^ 1, h: hex(h), c: false }, recov(compact, rec ^ 1, false), 'noble', 0);
  }
}

function hashes(b: Builder): void {
  const S = TABLE_SIZES;
  const rnd = stream('bundle conformance hashes');
  const lengths: number[] = [];
  for (let n = 0; n <= S.hashLengths; n++) lengths.push(n);
  lengths.push(...S.hashExtra);
  const keyLens = [0, 1, 31, 32, 33, 63, 64, 65, 100, 130];
  lengths.forEach((n, i) => {
    const m = rnd.bytes(n);
    const k = rnd.bytes(keyLens[i % keyLens.length]);
    const big = n > 200;
    // The portable run (JavaScript SHA-256 in the interpreter, ~4 ms a block) takes every 8th length and the large inputs.
    const tier: Tier = i % 8 === 0 || big ? 2 : 1;
    b.add({ id: 'sha256.' + n, op: 'sha256', m: hex(m) }, hex(sha256(m)), 'noble-hashes', tier);
    b.add({ id: 'sha256p.' + n, op: 'sha256p', m: hex(m) }, hex(sha256(m)), 'noble-hashes', i % 4 === 0 || big ? 1 : 0);
    b.add({ id: 'hmac.' + n, op: 'hmac', k: hex(k), m: hex(m) }, hex(hmac(sha256, k, m)), 'noble-hashes', tier);
    // keccak-f costs ~27 ms a block there: the interpreter takes every 8th length, the rate edges and 1000 bytes.
    b.add({ id: 'keccak.' + n, op: 'keccak', m: hex(m) }, hex(keccak_256(m)), 'noble-hashes', i % 8 === 0 || (big && n <= 1000) ? 1 : 0);
  });
}

// CBOR ---------------------------------------------------------------------------------------

const X_OPTS = { tagUint8Array: false, mapsAsObjects: false, useRecords: false };
const xDec = new Decoder(X_OPTS);
// Tags cbor-x leaves alone (it interprets 0-6, 14, 15, 27-29, 51, 64-87, 258, 259, ...).
const PLAIN_TAGS = [32, 33, 35, 36, 37, 100, 1000, 1001, 55800, 70000];

function fromX(v: unknown): CborValue {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(fromX);
  if (v instanceof Map) return new CborMap([...v.entries()].map(([k, x]) => [fromX(k), fromX(x)]));
  if (v instanceof Tag) return new CborTag(v.tag, fromX(v.value));
  if (v instanceof Uint8Array) return new Uint8Array(v);
  return v as CborValue;
}

type Rnd = ReturnType<typeof stream>;

function randString(r: Rnd, wide: boolean): string {
  const n = r.below(5) === 0 ? r.below(120) : r.below(12);
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = r.below(wide ? 4 : 2);
    const cp = k === 0 ? 0x20 + r.below(95) : k === 1 ? 0x80 + r.below(0x80) : k === 2 ? 0x100 + r.below(0xd700) : 0x10000 + r.below(0x100000);
    s += String.fromCodePoint(cp);
  }
  return s;
}

function randNumber(r: Rnd): number {
  const dv = new DataView(new ArrayBuffer(8));
  switch (r.below(8)) {
    case 0: return r.below(60) - 30;
    case 1: return (r.below(2) ? -1 : 1) * Math.floor(((r.u32() & 0x1fffff) * 4294967296 + r.u32()) / 2 ** r.below(54));
    case 2: dv.setUint32(0, r.u32()); dv.setUint32(4, r.u32()); return dv.getFloat64(0);
    case 3: dv.setUint32(0, r.u32()); return dv.getFloat32(0);
    case 4: dv.setUint16(0, r.below(65536)); return halfToNumber(dv.getUint16(0));
    case 5: return [NaN, Infinity, -Infinity, 0.5, -1.5, 1e300, 5e-324, -0, 2 ** 53, -(2 ** 53), 2 ** 53 - 1, 2 ** 64][r.below(12)];
    case 6: return r.below(2 ** 31) * (r.below(2) ? -1 : 1) * 4 + r.below(4); // around 2^31..2^33
    default: return (r.u32() - 2147483648) / 1000;
  }
}

function halfToNumber(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

function randValue(r: Rnd, depth: number, wide: boolean): CborValue {
  switch (r.below(depth < 3 ? 11 : 6)) {
    case 0: case 1: return randNumber(r);
    case 2: return randString(r, wide);
    case 3: return r.bytes(r.below(6) === 0 ? r.below(300) : r.below(10));
    case 4: return [true, false, null, undefined][r.below(4)];
    case 5: return r.below(1000) - 500;
    case 6: case 7: return Array.from({ length: r.below(6) === 0 ? r.below(30) : r.below(5) }, () => randValue(r, depth + 1, wide));
    case 8: {
      const m = new CborMap();
      for (let n = r.below(6); n > 0; n--) {
        const kk = r.below(4);
        const k: CborValue = kk === 0 ? r.below(50) - 25 : kk === 1 ? randNumber(r) : kk === 2 ? r.bytes(r.below(4)) : randString(r, wide);
        if (!m.has(k)) m.entries.push([k, randValue(r, depth + 1, wide)]);
      }
      return m;
    }
    case 9: {
      const o: Record<string, CborValue> = {};
      for (let n = r.below(5); n > 0; n--) o[randString(r, wide)] = randValue(r, depth + 1, wide);
      return o;
    }
    default: return new CborTag(PLAIN_TAGS[r.below(PLAIN_TAGS.length)], randValue(r, depth + 1, wide));
  }
}

function cbor(b: Builder): void {
  const doc = JSON.parse(readFileSync(new URL('../vectors/cbor/rfc8949-appendix-a.json', import.meta.url), 'utf8')) as {
    valid: { hex: string; value: unknown; canonical?: string; indefinite?: boolean }[];
    unsupported: { hex: string; error: string }[];
  };
  doc.valid.forEach((v, i) => {
    const j = rfcToJ(v.value);
    b.add({ id: 'cbor.rfc.enc.' + i, op: 'cborenc', v: j }, v.canonical ?? v.hex, 'rfc8949', 1);
    // The decoded value's dump must equal the dump of the listed value, built without the decoder.
    const c: Case = { id: 'cbor.rfc.dec.' + i, op: 'cbordec', x: v.hex };
    if (v.indefinite) c.o = toJ({ allowIndefinite: true });
    b.add(c, tsEval({ op: 'cborval', v: j }), 'rfc8949', 1);
  });
  doc.unsupported.forEach((v, i) => b.add({ id: 'cbor.rfc.unsup.' + i, op: 'cbordec', x: v.hex }, 'ERR ' + v.error, 'rfc8949', 1));
  const inv = JSON.parse(readFileSync(new URL('../vectors/cbor/invalid.json', import.meta.url), 'utf8')) as {
    invalid: { hex: string; error: string; options?: Record<string, unknown> }[];
    deterministicValid: { hex: string }[];
  };
  inv.invalid.forEach((v, i) => {
    const c: Case = { id: 'cbor.invalid.' + i, op: 'cbordec', x: v.hex };
    if (v.options) c.o = toJ(v.options);
    b.add(c, 'ERR ' + v.error, 'cbor-invalid', 1);
  });
  inv.deterministicValid.forEach((v, i) => b.add({ id: 'cbor.det.' + i, op: 'cbordec', x: v.hex, o: toJ({ requireDeterministic: true }) }, undefined, 'ts', 1));

  const r = stream('bundle conformance cbor');
  for (let i = 0; i < TABLE_SIZES.cborValues; i++) {
    const v = randValue(r, 0, i % 5 === 4);
    const bytes = TS.cborEncode(v);
    // Independent check of the expected bytes: cbor-x reads a value that encodes back to them.
    const back = TS.cborEncode(fromX(xDec.decode(bytes)));
    if (hex(back) !== hex(bytes)) throw new Error('cbor-x reads generated value ' + i + ' differently: ' + hex(bytes) + ' vs ' + hex(back));
    b.add({ id: 'cbor.gen.enc.' + i, op: 'cborenc', v: toJ(v) }, hex(bytes), 'cbor-x+ts', 1);
    b.add({ id: 'cbor.gen.dec.' + i, op: 'cbordec', x: hex(bytes) }, undefined, 'ts', 1);
  }
}

// Telemetry ----------------------------------------------------------------------------------

interface BatchVector {
  description: string;
  privateKey: string;
  publicKey: string;
  address: string;
  payloadHex: string;
  payloadHash: string;
  signingHash: string;
  signature: string;
  messageHex: string;
}

/**
 * decodePayload's batch (readings come back in the payload's canonical order, not the input's,
 * so its dump is the TypeScript core's) and the payload it re-encodes to, which must be the
 * input bytes.
 */
function unpayloadWant(payloadHex: string): string {
  const w = tsEval({ op: 'unpayload', x: payloadHex });
  if (!w.endsWith(' ' + payloadHex)) throw new Error('decodePayload + encodePayload does not give the payload back: ' + w.slice(-200));
  return w;
}

function telemetry(b: Builder): void {
  const doc = JSON.parse(readFileSync(new URL('../vectors/envelope/batches.json', import.meta.url), 'utf8')) as { valid: BatchVector[] };
  const cases = envelopeCases();
  if (cases.length !== doc.valid.length) throw new Error('envelope-cases.ts and batches.json list different numbers of cases');
  cases.forEach((ec, i) => {
    const v = doc.valid.find((x) => x.description === ec.description);
    if (!v) throw new Error('batches.json has no vector "' + ec.description + '"');
    if (v.privateKey !== ec.privateKey) throw new Error('private key differs for "' + ec.description + '"');
    const bj = toJ(ec.batch);
    const tier: Tier = i === 0 ? 2 : i < 2 ? 1 : 0;
    b.add({ id: 'env.payload.' + i, op: 'payload', b: bj }, v.payloadHex, 'batches.json', 1);
    b.add({ id: 'env.unpayload.' + i, op: 'unpayload', x: v.payloadHex }, unpayloadWant(v.payloadHex), 'ts', 1);
    b.add({ id: 'env.sighash.' + i, op: 'sighash', x: v.payloadHex }, v.signingHash, 'batches.json', 1);
    b.add({ id: 'env.phash.' + i, op: 'phash', x: v.payloadHex }, v.payloadHash, 'batches.json', 1);
    b.add({ id: 'env.addr.' + i, op: 'addr', k: v.privateKey }, v.address, 'batches.json', tier);
    b.add({ id: 'env.pub.' + i, op: 'pub', k: v.privateKey, c: false }, v.publicKey, 'batches.json', tier);
    b.add({ id: 'env.seal.' + i, op: 'seal', x: v.payloadHex, k: v.privateKey }, v.messageHex, 'batches.json', tier);
    b.add({ id: 'env.sealjob.' + i, op: 'sealjob', x: v.payloadHex, k: v.privateKey, ...(i % 2 ? { b: 100 } : {}) }, v.messageHex, 'batches.json', i === 1 ? 1 : 0);
    b.add({ id: 'env.open.' + i, op: 'open', m: v.messageHex }, v.publicKey + ' ' + v.address + ' ' + v.payloadHex + ' ' + v.signature, 'batches.json', i === 0 ? 1 : 0);
  });
  // Generated batches: the TypeScript core's payload; the decoded batch must be the input.
  const r = stream('bundle conformance batches');
  for (let i = 0; i < TABLE_SIZES.batches; i++) {
    const synced = r.chance(0.7);
    const readings = [];
    for (let n = r.below(12); n >= 0; n--) {
      const t = synced ? 1764080000 + r.below(100000) : -r.below(3600);
      const name = ['m0/e', 'm0/p', 'aq/pm25', 'hs/state', 'x'][r.below(5)];
      const kind = r.below(4);
      const rd: Record<string, unknown> = { n: name, t };
      if (kind === 0) rd.v = randNumber(r);
      else if (kind === 1) rd.s = r.below(2 ** 31);
      else if (kind === 2) rd.vs = randString(r, false).slice(0, 20);
      else rd.vb = r.chance(0.5);
      if (r.chance(0.5)) rd.u = ['Wh', 'W', 'V', 'Cel'][r.below(4)];
      readings.push(rd);
    }
    const seq = 2 + r.below(100000);
    const batch = {
      boot: r.below(1000), seq, prev: r.bytes(32), pseq: r.chance(0.8) ? seq - 1 : r.below(seq - 1), synced, up: r.below(2 ** 31),
      readings, health: { queue: r.below(100), dropped: r.below(10), oldestS: r.below(9999), reconnects: r.below(50) },
    };
    let payload: Uint8Array;
    try {
      payload = TS.encodePayload(batch as never);
    } catch {
      continue; // a reading the format refuses (NaN value, ...): not a conformance case
    }
    const bj = toJ(batch);
    b.add({ id: 'gen.payload.' + i, op: 'payload', b: bj }, hex(payload), 'ts', 1);
    b.add({ id: 'gen.unpayload.' + i, op: 'unpayload', x: hex(payload) }, unpayloadWant(hex(payload)), 'ts', 1);
  }
}

// MQTT ---------------------------------------------------------------------------------------

/** True when the TypeScript core exports the MQTT codec (index.ts). */
export const MQTT_EXPORTED = typeof (TS as Record<string, unknown>).mqttEncode === 'function';

function revive(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.hex === 'string' && Object.keys(o).length === 1) return unhex(o.hex);
    if (typeof o.utf8 === 'string' && Object.keys(o).length === 1) return new TextEncoder().encode(o.utf8);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o)) out[k] = revive(o[k]);
    return out;
  }
  return v;
}
const hexLines = (lines: string[]) => lines.map((l) => l.split('#')[0].replace(/\s+/g, '')).join('');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type P = any;
function toMP(p: P): P {
  const buf = (x: Uint8Array) => Buffer.from(x);
  switch (p.type) {
    case 'connect':
      return {
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: p.clean, clientId: p.clientId, keepalive: p.keepAlive,
        ...(p.username !== undefined ? { username: p.username } : {}),
        ...(p.password !== undefined ? { password: buf(p.password) } : {}),
        ...(p.will ? { will: { topic: p.will.topic, payload: buf(p.will.payload), qos: p.will.qos, retain: p.will.retain } } : {}),
      };
    case 'connack': return { cmd: 'connack', returnCode: p.returnCode, sessionPresent: p.sessionPresent };
    case 'publish': return { cmd: 'publish', topic: p.topic, payload: buf(p.payload), qos: p.qos, retain: p.retain, dup: p.dup, ...(p.qos ? { messageId: p.packetId } : {}) };
    case 'subscribe': return { cmd: 'subscribe', messageId: p.packetId, subscriptions: p.subscriptions.map((s: P) => ({ topic: s.topic, qos: s.qos })) };
    case 'suback': return { cmd: 'suback', messageId: p.packetId, granted: p.granted };
    case 'unsubscribe': return { cmd: 'unsubscribe', messageId: p.packetId, unsubscriptions: p.topics };
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': case 'unsuback': return { cmd: p.type, messageId: p.packetId };
    default: return { cmd: p.type };
  }
}

function randomPacket(r: Rnd): P {
  const CH = 'abcdefghijklmnopqrstuvwxyz0123456789-_.';
  const str = (min: number, max: number) => {
    let s = '';
    for (let n = min + r.below(max - min + 1); n > 0; n--) s += CH[r.below(CH.length)];
    return s;
  };
  const qos = () => r.below(3);
  const id = () => 1 + r.below(65535);
  const filter = () => {
    const lv: string[] = [];
    for (let n = 1 + r.below(4); n > 0; n--) lv.push(r.chance(0.2) ? '+' : str(1, 5));
    if (r.chance(0.3)) lv.push('#');
    return lv.join('/');
  };
  switch (r.below(8)) {
    case 0: {
      const clean = r.chance(0.5);
      const c: P = { type: 'connect', clientId: str(clean ? 0 : 1, 23), keepAlive: r.below(65536), clean };
      if (r.chance(0.5)) c.will = { topic: str(1, 20), payload: r.bytes(r.below(41)), qos: qos(), retain: r.chance(0.5) };
      if (r.chance(0.5)) {
        c.username = str(0, 10);
        if (r.chance(0.5)) c.password = r.bytes(r.below(21));
      }
      return c;
    }
    case 1: {
      const code = r.below(6);
      return { type: 'connack', sessionPresent: code === 0 && r.chance(0.5), returnCode: code };
    }
    case 2: case 3: {
      const q = qos();
      const p: P = { type: 'publish', topic: str(1, 30), payload: r.bytes(r.chance(0.1) ? 200 + r.below(1800) : r.below(300)), qos: q, retain: r.chance(0.5), dup: q > 0 && r.chance(0.5) };
      if (q) p.packetId = id();
      return p;
    }
    case 4: return { type: (['puback', 'pubrec', 'pubrel', 'pubcomp', 'unsuback'] as const)[r.below(5)], packetId: id() };
    case 5: {
      const subs = [];
      for (let n = 1 + r.below(4); n > 0; n--) subs.push({ topic: filter(), qos: qos() });
      return { type: 'subscribe', packetId: id(), subscriptions: subs };
    }
    case 6: {
      const t = [];
      for (let n = 1 + r.below(4); n > 0; n--) t.push(filter());
      return { type: 'unsubscribe', packetId: id(), topics: t };
    }
    default: return { type: (['pingreq', 'pingresp', 'disconnect'] as const)[r.below(3)] };
  }
}

function mqtt(b: Builder): void {
  const doc = JSON.parse(readFileSync(new URL('../vectors/mqtt/packets.json', import.meta.url), 'utf8')) as {
    valid: { name: string; packet: unknown; bytes: string[] }[];
    invalid: { name: string; bytes: string[]; clause: string }[];
  };
  doc.valid.forEach((v, i) => {
    const packet = revive(v.packet);
    const x = hexLines(v.bytes);
    if (hex(new Uint8Array(mqttPacket.generate(toMP(packet)))) !== x) throw new Error('mqtt-packet disagrees with vector "' + v.name + '"');
    const pj = toJ(packet);
    b.add({ id: 'mqtt.enc.' + i, op: 'mqttenc', p: pj }, x, 'packets.json', 1);
    const dump = tsEval({ op: 'dumpval', v: pj });
    b.add({ id: 'mqtt.dec.' + i, op: 'mqttdec', x }, dump, 'packets.json', 1);
    b.add({ id: 'mqtt.parse.' + i, op: 'mqttparse', x }, '[' + dump + ']', 'packets.json', 1);
  });
  doc.invalid.forEach((v, i) => b.add({ id: 'mqtt.invalid.' + i, op: 'mqttdec', x: hexLines(v.bytes) }, 'ERR E_MQTT_MALFORMED [' + v.clause + ']', 'packets.json', 1));
  const r = stream('bundle conformance mqtt');
  for (let i = 0; i < TABLE_SIZES.mqttPackets; i++) {
    const p = randomPacket(r);
    b.add({ id: 'mqtt.gen.' + i, op: 'mqttenc', p: toJ(p) }, hex(new Uint8Array(mqttPacket.generate(toMP(p)))), 'mqtt-packet', 1);
  }
}

let built: Entry[] | undefined;

/** The whole table (built once per process, ~1 s). */
export function buildTable(): Entry[] {
  if (built) return built;
  const b = new Builder();
  secp256k1(b);
  hashes(b);
  cbor(b);
  telemetry(b);
  if (MQTT_EXPORTED) mqtt(b);
  built = b.finish();
  return built;
}

/** The group of a case for reporting: its op, with sign-like ops split by where the inputs came from. */
export function groupOf(e: Entry): string {
  return e.case.op + (e.src === 'ts' ? ' (ts)' : '');
}
