// CBOR (RFC 8949) with core deterministic encoding (§4.2.1), for Espruino and Node.
//
// Value model (no Map, BigInt or Symbol on Espruino):
//   integer        JS number, integral and within ±(2^53 − 1). Larger integers on the wire are
//                  rejected by the decoder (E_CBOR_INT_RANGE), never rounded.
//   float          JS number. JS has one number type, so the encoder writes every integral
//                  value in the safe range as an integer and everything else (fractions, NaN,
//                  ±Infinity, −0, integral values beyond 2^53) as the shortest exact float.
//                  A decoded float 1.0 is the number 1 and re-encodes as the integer 1.
//                  (Espruino has no integer −0, so −0.0 is decoded from its float bits.)
//   byte string    Uint8Array (decoded ones are copies, never views into the input)
//   text string    string, UTF-8 on the wire; each JS char (charCodeAt) is a code point, with
//                  surrogate pairs joined; lone surrogates cannot be encoded. Espruino's
//                  String.fromCharCode is 8-bit, so there decoded text is limited to U+0000-00FF
//                  (beyond: E_CBOR_UNSUPPORTED), and device strings should be ASCII (a UTF-8
//                  literal in device source reaches Espruino as its raw bytes, one char each).
//   array          JS array
//   map            CborMap: ordered [key, value] entries, keys of any type. Plain objects are
//                  accepted by encode() as maps with text keys; decode() always gives CborMap.
//   tag            CborTag { tag, value }; no tag is interpreted (bignums stay tag 2/3 + bytes)
//   simple         false, true, null, and undefined = simple 23. Other simple values have no
//                  JS form: the decoder rejects them (E_CBOR_UNSUPPORTED).
//
// Keys that are equal JS values are the same key (integer 1 and float 1.0 both become 1), so
// a map holding both is rejected as having duplicate keys, by the decoder as by the encoder.
//
// Decoder errors carry `code` and `offset` (the byte where the offending item starts):
//   E_CBOR_TRUNCATED        input ends inside an item
//   E_CBOR_TRAILING         bytes left after the item (decode() only; decodeFirst allows them)
//   E_CBOR_MALFORMED        reserved additional info 28-30, misplaced break, bad chunk, etc.
//   E_CBOR_INDEFINITE       indefinite length while allowIndefinite is false
//   E_CBOR_NOT_DETERMINISTIC  requireDeterministic and the bytes are not what encode() writes
//   E_CBOR_DUPLICATE_KEY    a map repeats a key
//   E_CBOR_DEPTH, E_CBOR_LENGTH  a configured limit was exceeded
//   E_CBOR_INT_RANGE        an integer or tag number beyond 2^53 − 1
//   E_CBOR_UTF8             a text string is not valid UTF-8
//   E_CBOR_UNSUPPORTED      a simple value other than false/true/null/undefined, or (Espruino)
//                           a text code point above U+00FF
// encode() throws E_TYPE (TypeError) for values outside the model, E_CBOR_UTF8 (lone
// surrogate), E_CBOR_DUPLICATE_KEY, E_CBOR_DEPTH (also catches cycles); messages give the path.

import { abytes, aint, err, describe, type CodedError } from '../util/errors.js';

// ---------------------------------------------------------------------------------------------
// Constants (RFC 8949)

/** §3.1 major types. */
const MT_UINT = 0;
const MT_NEGINT = 1;
const MT_BYTES = 2;
const MT_TEXT = 3;
const MT_ARRAY = 4;
const MT_MAP = 5;
const MT_TAG = 6;
const MT_SIMPLE = 7;

/** §3 additional information: 0-23 literal; 24-27 argument in 1, 2, 4, 8 bytes; 28-30 reserved (not well-formed); 31 indefinite length / break. */
const AI_1 = 24;
const AI_2 = 25;
const AI_4 = 26;
const AI_8 = 27;
const AI_INDEF = 31;

/** §3.3 simple values and floats (major type 7). Two-byte simple values below 32 are not well-formed. */
const SIMPLE_FALSE = 20;
const SIMPLE_TRUE = 21;
const SIMPLE_NULL = 22;
const SIMPLE_UNDEFINED = 23;
const SIMPLE_MIN_2BYTE = 32;
const BREAK = 0xff;

/** §4.2.1 / §3.3: canonical NaN is the half-precision quiet NaN f9 7e00. */
const NAN_HALF = 0x7e00;

/** 2^32 and 2^53 − 1, built from exact parts (Espruino parses long decimal literals inexactly). */
const TWO_32 = 0x100000000;
const MAX_SAFE = 0x1fffff * TWO_32 + 0xffffffff;

/** JS strings hold 16-bit units (Node). Espruino's String.fromCharCode keeps only the low byte. */
const WIDE_CHARS = String.fromCharCode(0x100).charCodeAt(0) === 0x100;

/** Espruino (2v29) has no RangeError global, and naming it there throws: fall back to Error. */
const RANGE_ERROR: ErrorConstructor = typeof RangeError !== 'undefined' ? RangeError : Error;

/** Decoder limits by default; every one is configurable through DecodeOptions. */
export const CBOR_DEFAULT_MAX_DEPTH = 16;
export const CBOR_DEFAULT_MAX_LENGTH = 65536;
export const CBOR_DEFAULT_MAX_INPUT_LENGTH = 1048576;

// ---------------------------------------------------------------------------------------------
// Value model

export type CborValue =
  | number
  | string
  | boolean
  | null
  | undefined
  | Uint8Array
  | CborValue[]
  | CborMap
  | CborTag
  | CborObject;

/** A plain object: accepted by encode() as a map with text keys. */
export interface CborObject {
  [key: string]: CborValue;
}

/** A tagged item (§3.4). The tag number is an integer 0 .. 2^53 − 1. */
export class CborTag {
  tag: number;
  value: CborValue;
  constructor(tag: number, value: CborValue) {
    this.tag = aint('tag', tag, 0, MAX_SAFE);
    this.value = value;
  }
}

const KEY_DEPTH = { maxDepth: 1024 };

/** Equal keys: same JS value (−0 apart from 0, NaN equal to NaN), byte-equal strings, or equal encodings. */
function sameKey(a: CborValue, b: CborValue): boolean {
  const ta = typeof a;
  if (ta !== typeof b) return false;
  if (ta === 'number') {
    const x = a as number;
    const y = b as number;
    return x === y ? x !== 0 || 1 / x === 1 / y : x !== x && y !== y;
  }
  if (ta !== 'object' || a === null || b === null) return a === b;
  // Any depth the decoder may have accepted (its maxDepth is at most 1024).
  return compareBytes(encode(a, KEY_DEPTH), encode(b, KEY_DEPTH)) === 0;
}

/** A CBOR map: entries in insertion (or wire) order. Keys may be any CborValue. */
export class CborMap {
  entries: [CborValue, CborValue][];
  constructor(entries?: [CborValue, CborValue][]) {
    this.entries = entries || [];
  }
  private find(key: CborValue): number {
    const e = this.entries;
    for (let i = 0; i < e.length; i++) if (sameKey(e[i][0], key)) return i;
    return -1;
  }
  /** The value for `key`, or undefined when absent. */
  get(key: CborValue): CborValue | undefined {
    const i = this.find(key);
    return i < 0 ? undefined : this.entries[i][1];
  }
  has(key: CborValue): boolean {
    return this.find(key) >= 0;
  }
  /** Replaces the value of an existing key in place, or appends a new entry. */
  set(key: CborValue, value: CborValue): this {
    const i = this.find(key);
    if (i < 0) this.entries.push([key, value]);
    else this.entries[i][1] = value;
    return this;
  }
}

// ---------------------------------------------------------------------------------------------
// Floats: half precision (IEEE 754 binary16) without Math.fround / Math.pow

const F = new DataView(new ArrayBuffer(8));
const EMPTY = new Uint8Array(0);

/** binary16 bits of `x` if it is exactly representable (x not NaN), else −1. */
function toHalf(x: number): number {
  F.setFloat32(0, x);
  if (F.getFloat32(0) !== x) return -1; // not even a float32
  const bits = F.getUint32(0);
  const s = (bits >>> 16) & 0x8000;
  const e = (bits >>> 23) & 0xff;
  const m = bits & 0x7fffff;
  if (e === 0xff) return s | 0x7c00; // ±Infinity
  if (e === 0) return m === 0 ? s : -1; // ±0; float32 subnormals are below binary16's range
  const E = e - 127;
  if (E >= -14 && E <= 15) return m & 0x1fff ? -1 : s | ((E + 15) << 10) | (m >>> 13);
  if (E >= -24 && E < -14) {
    // binary16 subnormal k * 2^-24: k = (2^23 + m) * 2^(E + 1), exact only if no bits drop.
    const full = m | 0x800000;
    const shift = -E - 1;
    return full & ((1 << shift) - 1) ? -1 : s | (full >>> shift);
  }
  return -1;
}

function fromHalf(h: number): number {
  const e = (h >>> 10) & 31;
  const m = h & 0x3ff;
  let v: number;
  if (e === 0 && m === 0) {
    // Espruino has no integer -0 (negating 0 gives 0); a float32 with only the sign bit set
    // is -0 there too.
    F.setUint32(0, (h & 0x8000) << 16);
    return F.getFloat32(0);
  }
  if (e === 0) v = m / 16777216; // m * 2^-24
  else if (e === 31) v = m ? NaN : Infinity;
  else {
    F.setUint32(0, ((e + 112) << 23) | (m << 13)); // rebias 15 -> 127
    v = F.getFloat32(0);
  }
  return h & 0x8000 ? -v : v;
}

/** Size in bytes (head included) of the shortest exact float encoding of `x`: 3, 5 or 9. */
function floatSize(x: number): number {
  if (x !== x || toHalf(x) >= 0) return 3;
  F.setFloat32(0, x);
  return F.getFloat32(0) === x ? 5 : 9;
}

/** Integral, within ±(2^53 − 1), and not −0: written as a CBOR integer. */
function isCborInt(x: number): boolean {
  return x === Math.floor(x) && x <= MAX_SAFE && x >= -MAX_SAFE && (x !== 0 || 1 / x > 0);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------
// Encoder

export interface EncodeOptions {
  /** Maximum nesting of arrays, maps and tags, 0..1024 (default 16, as the decoder). Stops cycles. */
  maxDepth?: number;
}

// Writer state for the one encode() running (encoding is synchronous and calls no user code).
let out = EMPTY;
let pos = 0;
let encMaxDepth = CBOR_DEFAULT_MAX_DEPTH;

/** Make room for `n` more bytes, doubling the buffer. */
function grow(n: number): void {
  let size = out.length * 2 || 64;
  while (size < pos + n) size *= 2;
  const grown = new Uint8Array(size);
  grown.set(out.subarray(0, pos), 0);
  out = grown;
}

/** §3: initial byte and the shortest argument (§4.2.1: "preferred serialization" of ints). */
function head(major: number, n: number): void {
  if (pos + 9 > out.length) grow(9);
  const m = major << 5;
  if (n < 24) out[pos++] = m | n;
  else if (n < 0x100) {
    out[pos++] = m | AI_1;
    out[pos++] = n;
  } else if (n < 0x10000) {
    out[pos++] = m | AI_2;
    out[pos++] = n >>> 8;
    out[pos++] = n;
  } else if (n < TWO_32) {
    out[pos++] = m | AI_4;
    out[pos++] = n >>> 24;
    out[pos++] = n >>> 16;
    out[pos++] = n >>> 8;
    out[pos++] = n;
  } else {
    const hi = Math.floor(n / TWO_32);
    const lo = n >>> 0;
    out[pos++] = m | AI_8;
    out[pos++] = hi >>> 24;
    out[pos++] = hi >>> 16;
    out[pos++] = hi >>> 8;
    out[pos++] = hi;
    out[pos++] = lo >>> 24;
    out[pos++] = lo >>> 16;
    out[pos++] = lo >>> 8;
    out[pos++] = lo;
  }
}

function writeNumber(x: number): void {
  // (x | 0) === x is the cheap test for the usual small integers; isCborInt covers the rest.
  if (((x | 0) === x && (x !== 0 || 1 / x > 0)) || isCborInt(x)) {
    if (x >= 0) head(MT_UINT, x);
    else head(MT_NEGINT, -1 - x);
    return;
  }
  const size = floatSize(x);
  if (pos + size > out.length) grow(size);
  if (size === 3) {
    const h = x !== x ? NAN_HALF : toHalf(x);
    out[pos++] = (MT_SIMPLE << 5) | AI_2;
    out[pos++] = h >>> 8;
    out[pos++] = h;
  } else if (size === 5) {
    F.setFloat32(0, x);
    out[pos++] = (MT_SIMPLE << 5) | AI_4;
    for (let i = 0; i < 4; i++) out[pos++] = F.getUint8(i);
  } else {
    F.setFloat64(0, x);
    out[pos++] = (MT_SIMPLE << 5) | AI_8;
    for (let i = 0; i < 8; i++) out[pos++] = F.getUint8(i);
  }
}

/** Byte length of `s` in UTF-8; throws for a lone surrogate. Chars above U+FFFF occur on Espruino's Unicode builds. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c > 0xffff) n += 4;
    else if (c >= 0xd800 && c <= 0xdfff) {
      const d = c <= 0xdbff && i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) throw encErr('E_CBOR_UTF8', 'lone surrogate at index ' + i + ' of a string', RANGE_ERROR);
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function writeText(s: string): void {
  // Optimistic single pass for ASCII (the usual case): byte length = char count.
  const n = s.length;
  const start = pos;
  head(MT_TEXT, n);
  if (pos + n > out.length) grow(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      pos = start;
      writeTextUtf8(s);
      return;
    }
    out[pos++] = c;
  }
}

function writeTextUtf8(s: string): void {
  const n = utf8Length(s);
  head(MT_TEXT, n);
  if (pos + n > out.length) grow(n);
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) out[pos++] = c;
    else if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6);
      out[pos++] = 0x80 | (c & 63);
    } else if (c > 0xffff || (c >= 0xd800 && c <= 0xdbff)) {
      if (c <= 0xffff) c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      out[pos++] = 0xf0 | (c >> 18);
      out[pos++] = 0x80 | ((c >> 12) & 63);
      out[pos++] = 0x80 | ((c >> 6) & 63);
      out[pos++] = 0x80 | (c & 63);
    } else {
      out[pos++] = 0xe0 | (c >> 12);
      out[pos++] = 0x80 | ((c >> 6) & 63);
      out[pos++] = 0x80 | (c & 63);
    }
  }
}

// Encoder errors name the path of the offending value ("$[3]["a"]<tag 18>"). Containers do not
// track it as they go (that costs on Espruino); they add their step while the error passes.
interface EncodeError extends CodedError {
  cborWhat?: string;
  cborPath?: string;
}

function encErr(code: string, what: string, ctor?: ErrorConstructor): EncodeError {
  const e = err(code, 'CBOR encode: ' + what + ' at $', ctor) as EncodeError;
  e.cborWhat = what;
  e.cborPath = '';
  return e;
}

function withStep(e: unknown, step: string): unknown {
  const x = e as EncodeError;
  if (x && x.cborWhat !== undefined) {
    x.cborPath = step + x.cborPath;
    x.message = 'CBOR encode: ' + x.cborWhat + ' at $' + x.cborPath;
  }
  return e;
}

function keyStep(k: CborValue): string {
  return '[' + (typeof k === 'string' ? JSON.stringify(k) : typeof k === 'number' ? String(k) : describe(k)) + ']';
}

function enter(depth: number): void {
  if (depth >= encMaxDepth) throw encErr('E_CBOR_DEPTH', 'nesting deeper than maxDepth ' + encMaxDepth + ' (or a cycle)', RANGE_ERROR);
}

function writeArray(v: CborValue[], depth: number): void {
  enter(depth);
  head(MT_ARRAY, v.length);
  let i = 0;
  try {
    for (; i < v.length; i++) enc(v[i], depth + 1);
  } catch (e) {
    throw withStep(e, '[' + i + ']');
  }
}

/** Compares the encoded keys of entries i and j; `at` holds [key start, key end, value end] per entry. */
function keyCmp(at: Uint32Array, i: number, j: number): number {
  const a = at[3 * i];
  const b = at[3 * j];
  const la = at[3 * i + 1] - a;
  const lb = at[3 * j + 1] - b;
  const n = la < lb ? la : lb;
  for (let x = 0; x < n; x++) if (out[a + x] !== out[b + x]) return out[a + x] - out[b + x];
  return la - lb;
}

/**
 * §4.2.1: map keys sorted bytewise by their deterministic encodings. Each key and value is
 * written in place with its offsets noted; sortMap() then puts the pairs in order.
 */
function writeMap(v: CborMap | CborObject, depth: number): void {
  enter(depth);
  const ents = v instanceof CborMap ? v.entries : undefined;
  const keys = ents ? undefined : Object.keys(v);
  const n = ents ? ents.length : (keys as string[]).length;
  head(MT_MAP, n);
  const base = pos;
  const at = new Uint32Array(3 * n);
  let i = 0;
  let k: CborValue;
  let inKey = true;
  try {
    for (; i < n; i++) {
      k = ents ? ents[i][0] : (keys as string[])[i];
      inKey = true;
      at[3 * i] = pos;
      enc(k, depth + 1);
      at[3 * i + 1] = pos;
      inKey = false;
      enc(ents ? ents[i][1] : (v as CborObject)[k as string], depth + 1);
      at[3 * i + 2] = pos;
    }
  } catch (e) {
    throw withStep(e, inKey ? '<key ' + i + '>' : keyStep(k));
  }
  if (n > 1) sortMap(at, base, n, ents, keys);
}

/** Puts the n pairs written from `base` in key order (copying only when out of order); equal encoded keys are duplicates. */
function sortMap(at: Uint32Array, base: number, n: number, ents: [CborValue, CborValue][] | undefined, keys: string[] | undefined): void {
  const keyOf = (i: number): CborValue => (ents ? ents[i][0] : (keys as string[])[i]);
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) {
    const c = keyCmp(at, i - 1, i);
    if (c === 0) throw duplicate(keyOf(i));
    if (c > 0) sorted = false;
  }
  if (sorted) return;
  const order: number[] = [];
  for (let i = 0; i < n; i++) order.push(i);
  order.sort(function (x, y) {
    return keyCmp(at, x, y);
  });
  for (let i = 1; i < n; i++) if (keyCmp(at, order[i - 1], order[i]) === 0) throw duplicate(keyOf(order[i]));
  const copy = new Uint8Array(pos - base);
  copy.set(out.subarray(base, pos), 0);
  let p = base;
  for (let i = 0; i < n; i++) {
    const j = order[i];
    const len = at[3 * j + 2] - at[3 * j];
    out.set(copy.subarray(at[3 * j] - base, at[3 * j] - base + len), p);
    p += len;
  }
}

function duplicate(k: CborValue): EncodeError {
  return encErr('E_CBOR_DUPLICATE_KEY', 'duplicate map key ' + keyStep(k));
}

function writeTag(v: CborTag, depth: number): void {
  enter(depth);
  head(MT_TAG, aint('tag', v.tag, 0, MAX_SAFE));
  try {
    enc(v.value, depth + 1);
  } catch (e) {
    throw withStep(e, '<tag ' + v.tag + '>');
  }
}

function enc(v: CborValue, depth: number): void {
  const t = typeof v;
  if (t === 'number') writeNumber(v as number);
  else if (t === 'string') writeText(v as string);
  else if (t === 'boolean' || v === null || v === undefined) {
    if (pos + 1 > out.length) grow(1);
    out[pos++] = (MT_SIMPLE << 5) | (v === null ? SIMPLE_NULL : v === undefined ? SIMPLE_UNDEFINED : v ? SIMPLE_TRUE : SIMPLE_FALSE);
  } else if (v instanceof Uint8Array) {
    head(MT_BYTES, v.length);
    if (pos + v.length > out.length) grow(v.length);
    out.set(v, pos);
    pos += v.length;
  } else if (Array.isArray(v)) writeArray(v, depth);
  else if (v instanceof CborMap) writeMap(v, depth);
  else if (v instanceof CborTag) writeTag(v, depth);
  else if (t === 'object' && isPlainObject(v)) writeMap(v as CborObject, depth);
  else throw encErr('E_TYPE', 'cannot encode ' + kindOf(v), TypeError);
}

function isPlainObject(v: unknown): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function kindOf(v: unknown): string {
  const t = typeof v;
  if (t !== 'object') return t;
  const c = (v as { constructor?: { name?: string } }).constructor;
  return c && c.name ? c.name : describe(v);
}

/** Deterministic CBOR encoding of `v` (RFC 8949 §4.2.1). */
export function encode(v: CborValue, opts?: EncodeOptions): Uint8Array {
  const maxDepth = opts && opts.maxDepth !== undefined ? aint('maxDepth', opts.maxDepth, 0, 1024) : CBOR_DEFAULT_MAX_DEPTH;
  // Restoring the previous writer afterwards releases this call's buffer, and keeps an
  // encode() nested in another one (sameKey() from a decode) correct.
  const saved = out;
  const savedPos = pos;
  const savedDepth = encMaxDepth;
  out = new Uint8Array(64);
  pos = 0;
  encMaxDepth = maxDepth;
  try {
    enc(v, 0);
    const r = new Uint8Array(pos);
    r.set(out.subarray(0, pos), 0);
    return r;
  } finally {
    out = saved;
    pos = savedPos;
    encMaxDepth = savedDepth;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoder

export interface DecodeOptions {
  /** Maximum nesting of arrays, maps and tags, 0..1024 (default 16). 0 allows only scalars. */
  maxDepth?: number;
  /** Maximum bytes of a string, items of an array, or pairs of a map (default 65536). */
  maxLength?: number;
  /** Maximum input size in bytes (default 1 MiB). */
  maxInputLength?: number;
  /** Accept indefinite-length strings, arrays and maps (default false). */
  allowIndefinite?: boolean;
  /**
   * Accept only what encode() would write (default false): shortest arguments and floats,
   * integral numbers as integers, NaN as f97e00, definite lengths, keys in bytewise order.
   */
  requireDeterministic?: boolean;
}

export interface CborError extends CodedError {
  /** Byte offset of the item where decoding failed. */
  offset: number;
}

// Reader state for the one decode running (synchronous; no user code is called).
let b: Uint8Array = EMPTY;
let o = 0;
let maxDepth = CBOR_DEFAULT_MAX_DEPTH;
let maxLength = CBOR_DEFAULT_MAX_LENGTH;
let indefOk = false;
let det = false;

function fail(code: string, what: string, at: number): never {
  const e = err(code, 'CBOR: ' + what + ' at byte ' + at) as CborError;
  e.offset = at;
  throw e;
}

function need(n: number, start: number): void {
  if (o + n > b.length) fail('E_CBOR_TRUNCATED', 'input ends (' + b.length + ' bytes) inside the item', start);
}

function notDet(what: string, start: number): never {
  return fail('E_CBOR_NOT_DETERMINISTIC', what + ' (requireDeterministic)', start);
}

/** The argument for additional information `ai` < 28; −1 when it exceeds 2^53 − 1. */
function arg(ai: number, start: number): number {
  if (ai < AI_1) return ai;
  let n: number;
  if (ai === AI_1) {
    need(1, start);
    n = b[o++];
    if (det && n < 24) notDet('argument ' + n + ' not in its shortest form', start);
  } else if (ai === AI_2) {
    need(2, start);
    n = (b[o] << 8) | b[o + 1];
    o += 2;
    if (det && n < 0x100) notDet('argument ' + n + ' not in its shortest form', start);
  } else if (ai === AI_4) {
    need(4, start);
    n = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
    o += 4;
    if (det && n < 0x10000) notDet('argument ' + n + ' not in its shortest form', start);
  } else if (ai === AI_8) {
    need(8, start);
    const hi = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
    const lo = ((b[o + 4] << 24) | (b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]) >>> 0;
    o += 8;
    if (det && hi === 0) notDet('argument ' + lo + ' not in its shortest form', start);
    if (hi > 0x1fffff) return -1;
    n = hi * TWO_32 + lo;
  } else return fail('E_CBOR_MALFORMED', 'reserved additional information ' + ai, start);
  return n;
}

function checkLength(n: number, start: number): number {
  if (n < 0 || n > maxLength)
    fail('E_CBOR_LENGTH', 'length ' + (n < 0 ? 'above 2^53' : n) + ' exceeds maxLength ' + maxLength, start);
  return n;
}

function enterDecode(depth: number, start: number): void {
  if (depth >= maxDepth) fail('E_CBOR_DEPTH', 'nesting deeper than maxDepth ' + maxDepth, start);
}

function readBytes(n: number, start: number): Uint8Array {
  need(n, start);
  const r = new Uint8Array(n);
  r.set(b.subarray(o, o + n), 0);
  o += n;
  return r;
}

/**
 * Strict UTF-8 (RFC 3629: no overlongs, surrogates or code points above U+10FFFF) to a JS
 * string. Espruino's String.fromCharCode keeps only the low byte, so there a code point above
 * U+00FF has no string form and is refused rather than silently mangled.
 */
function readText(n: number, start: number): string {
  need(n, start);
  const end = o + n;
  let s = '';
  while (o < end) {
    const c = b[o++];
    if (c < 0x80) {
      s += String.fromCharCode(c);
      continue;
    }
    let cp: number;
    let more: number;
    let min: number;
    if ((c & 0xe0) === 0xc0) (cp = c & 31), (more = 1), (min = 0x80);
    else if ((c & 0xf0) === 0xe0) (cp = c & 15), (more = 2), (min = 0x800);
    else if ((c & 0xf8) === 0xf0) (cp = c & 7), (more = 3), (min = 0x10000);
    else return fail('E_CBOR_UTF8', 'invalid UTF-8 lead byte in text string', start);
    if (o + more > end) fail('E_CBOR_UTF8', 'UTF-8 sequence cut by the end of the text string', start);
    for (let k = 0; k < more; k++) {
      const d = b[o++];
      if ((d & 0xc0) !== 0x80) fail('E_CBOR_UTF8', 'invalid UTF-8 continuation byte in text string', start);
      cp = (cp << 6) | (d & 63);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      fail('E_CBOR_UTF8', 'overlong, surrogate or out-of-range code point in text string', start);
    if (cp > 0xff && !WIDE_CHARS)
      fail('E_CBOR_UNSUPPORTED', 'code point U+' + cp.toString(16) + ' has no string form on this platform', start);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      s += String.fromCharCode(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023));
    } else s += String.fromCharCode(cp);
  }
  return s;
}

function readFloat(size: number, start: number): number {
  need(size, start);
  let v: number;
  if (size === 2) v = fromHalf((b[o] << 8) | b[o + 1]);
  else {
    for (let i = 0; i < size; i++) F.setUint8(i, b[o + i]);
    v = size === 4 ? F.getFloat32(0) : F.getFloat64(0);
  }
  if (det) {
    if (isCborInt(v)) notDet('integral float ' + v + ' (encode() writes an integer)', start);
    if (v !== v && !(size === 2 && b[o] === NAN_HALF >> 8 && b[o + 1] === 0)) notDet('NaN other than f97e00', start);
    if (floatSize(v) !== size + 1) notDet('float ' + v + ' not in its shortest form', start);
  }
  o += size;
  return v;
}

/** Major type 7 (§3.3). */
function simple(ai: number, start: number): CborValue {
  if (ai === SIMPLE_FALSE) return false;
  if (ai === SIMPLE_TRUE) return true;
  if (ai === SIMPLE_NULL) return null;
  if (ai === SIMPLE_UNDEFINED) return undefined;
  if (ai === AI_2) return readFloat(2, start);
  if (ai === AI_4) return readFloat(4, start);
  if (ai === AI_8) return readFloat(8, start);
  if (ai === AI_1) {
    need(1, start);
    const v = b[o++];
    if (v < SIMPLE_MIN_2BYTE) fail('E_CBOR_MALFORMED', 'two-byte simple value ' + v + ' (below 32)', start);
    return fail('E_CBOR_UNSUPPORTED', 'simple value ' + v + ' has no JS form', start);
  }
  if (ai === AI_INDEF) return fail('E_CBOR_MALFORMED', 'unexpected break', start);
  if (ai > AI_8) return fail('E_CBOR_MALFORMED', 'reserved additional information ' + ai, start);
  return fail('E_CBOR_UNSUPPORTED', 'simple value ' + ai + ' has no JS form', start);
}

/** Up to this many pairs, duplicate keys are looked for pairwise; beyond, by sorting encodings. */
const DUP_PAIRWISE_MAX = 16;

/**
 * Reject duplicate keys in a map decoded without requireDeterministic. Keys are the same when
 * sameKey() says so, which is when their canonical encodings are equal. (Deterministic input
 * is checked in passing, by its strictly increasing key bytes.)
 */
function checkDuplicates(m: CborMap, start: number): void {
  const e = m.entries;
  if (e.length < 2) return;
  if (e.length <= DUP_PAIRWISE_MAX) {
    // Small maps: pairwise, cheap for the usual number and string keys.
    for (let i = 1; i < e.length; i++)
      for (let j = 0; j < i; j++) if (sameKey(e[i][0], e[j][0])) fail('E_CBOR_DUPLICATE_KEY', 'duplicate key in the map', start);
    return;
  }
  const enc: Uint8Array[] = [];
  for (let i = 0; i < e.length; i++) enc.push(encode(e[i][0], { maxDepth: maxDepth }));
  enc.sort(compareBytes);
  for (let i = 1; i < enc.length; i++)
    if (compareBytes(enc[i - 1], enc[i]) === 0) fail('E_CBOR_DUPLICATE_KEY', 'duplicate key in the map', start);
}

function isBreak(start: number): boolean {
  need(1, start);
  if (b[o] !== BREAK) return false;
  o++;
  return true;
}

/** Length standing for "until the break" (§3.2.2); arg() uses −1 for "beyond 2^53". */
const INDEFINITE = -2;

/** §3.2.3: an indefinite-length string: definite chunks of the same major type, whole UTF-8 for text. */
function readChunks(major: number, start: number): CborValue {
  const chunks: Uint8Array[] = [];
  let s = '';
  let total = 0;
  while (!isBreak(start)) {
    const cs = o;
    const ib = b[o++];
    if (ib >> 5 !== major || (ib & 31) === AI_INDEF)
      fail('E_CBOR_MALFORMED', 'chunk of an indefinite-length string is not a definite string of the same type', cs);
    const n = checkLength(arg(ib & 31, cs), cs);
    total = checkLength(total + n, cs);
    if (major === MT_BYTES) chunks.push(readBytes(n, cs));
    else s += readText(n, cs);
  }
  if (major === MT_TEXT) return s;
  const r = new Uint8Array(total);
  let p = 0;
  for (let i = 0; i < chunks.length; i++) {
    r.set(chunks[i], p);
    p += chunks[i].length;
  }
  return r;
}

// Arrays and maps grow by push, never pre-sized from the declared count: a huge count in a
// short input costs nothing before the input runs out. (Locals are declared before the first
// recursive item() call, which the Espruino gate in scripts/espruino-check.mjs insists on.)

/** An array of n items, or up to a break when n is INDEFINITE. */
function readArray(n: number, depth: number, start: number): CborValue[] {
  const a: CborValue[] = [];
  enterDecode(depth, start);
  for (let i = 0; n === INDEFINITE ? !isBreak(start) : i < n; i++) {
    if (n === INDEFINITE) checkLength(i + 1, start);
    a.push(item(depth + 1));
  }
  return a;
}

/** A map of n pairs, or up to a break when n is INDEFINITE. */
function readMap(n: number, depth: number, start: number): CborMap {
  const m = new CborMap();
  let pks = 0;
  let pke = 0;
  let ks = 0;
  let c = 0;
  let k: CborValue;
  enterDecode(depth, start);
  for (let i = 0; n === INDEFINITE ? !isBreak(start) : i < n; i++) {
    if (n === INDEFINITE) checkLength(i + 1, start);
    ks = o;
    k = item(depth + 1);
    if (det && i > 0) {
      // Canonical keys: strictly increasing bytes means sorted and unique (§4.2.1).
      c = compareBytes(b.subarray(pks, pke), b.subarray(ks, o));
      if (c === 0) fail('E_CBOR_DUPLICATE_KEY', 'duplicate key in the map', ks);
      if (c > 0) notDet('map keys not in bytewise order', ks);
    }
    pks = ks;
    pke = o;
    if (n === INDEFINITE && b[o] === BREAK) fail('E_CBOR_MALFORMED', 'break after a map key without its value', o);
    m.entries.push([k, item(depth + 1)]);
  }
  if (!det) checkDuplicates(m, start);
  return m;
}

/** §3.2: ai 31 is an indefinite length, for strings, arrays and maps only, when allowed. */
function indefinite(major: number, start: number): number {
  if (major !== MT_BYTES && major !== MT_TEXT && major !== MT_ARRAY && major !== MT_MAP)
    fail('E_CBOR_MALFORMED', 'additional information 31 with major type ' + major, start);
  if (det) notDet('indefinite length', start);
  if (!indefOk) fail('E_CBOR_INDEFINITE', 'indefinite length not allowed (allowIndefinite)', start);
  return INDEFINITE;
}

function item(depth: number): CborValue {
  const start = o;
  need(1, start);
  const ib = b[o++];
  const major = ib >> 5;
  const ai = ib & 31;
  if (major === MT_SIMPLE) return simple(ai, start);
  const n = ai === AI_INDEF ? indefinite(major, start) : arg(ai, start);
  if (major === MT_UINT) {
    if (n < 0) fail('E_CBOR_INT_RANGE', 'integer above 2^53 - 1', start);
    return n;
  }
  if (major === MT_NEGINT) {
    if (n < 0 || n >= MAX_SAFE) fail('E_CBOR_INT_RANGE', 'integer below -(2^53 - 1)', start);
    return -1 - n;
  }
  if (n === INDEFINITE) {
    if (major === MT_ARRAY) return readArray(n, depth, start);
    if (major === MT_MAP) return readMap(n, depth, start);
    return readChunks(major, start);
  }
  if (major === MT_TAG) {
    if (n < 0) fail('E_CBOR_INT_RANGE', 'tag number above 2^53 - 1', start);
    enterDecode(depth, start);
    return new CborTag(n, item(depth + 1));
  }
  checkLength(n, start);
  if (major === MT_BYTES) return readBytes(n, start);
  if (major === MT_TEXT) return readText(n, start);
  return major === MT_ARRAY ? readArray(n, depth, start) : readMap(n, depth, start);
}

function setup(bytes: Uint8Array, opts: DecodeOptions | undefined): void {
  abytes('bytes', bytes);
  const g = opts || {};
  if (typeof g !== 'object') throw err('E_TYPE', '"opts" expected an object, got ' + describe(g), TypeError);
  maxDepth = g.maxDepth !== undefined ? aint('maxDepth', g.maxDepth, 0, 1024) : CBOR_DEFAULT_MAX_DEPTH;
  maxLength = g.maxLength !== undefined ? aint('maxLength', g.maxLength, 0, MAX_SAFE) : CBOR_DEFAULT_MAX_LENGTH;
  const maxInput = g.maxInputLength !== undefined ? aint('maxInputLength', g.maxInputLength, 0, MAX_SAFE) : CBOR_DEFAULT_MAX_INPUT_LENGTH;
  indefOk = flag('allowIndefinite', g.allowIndefinite);
  det = flag('requireDeterministic', g.requireDeterministic);
  b = bytes;
  o = 0;
  if (bytes.length > maxInput) fail('E_CBOR_LENGTH', 'input of ' + bytes.length + ' bytes exceeds maxInputLength ' + maxInput, 0);
}

function flag(name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw err('E_TYPE', '"' + name + '" expected a boolean, got ' + describe(v), TypeError);
  return v;
}

/** Decodes the first item of `bytes`; `offset` is where it ends (for CBOR sequences, RFC 8742). */
export function decodeFirst(bytes: Uint8Array, opts?: DecodeOptions): { value: CborValue; offset: number } {
  setup(bytes, opts);
  try {
    const value = item(0);
    return { value: value, offset: o };
  } finally {
    b = EMPTY; // do not keep the caller's buffer alive
  }
}

/** Decodes exactly one item filling all of `bytes`. */
export function decode(bytes: Uint8Array, opts?: DecodeOptions): CborValue {
  const r = decodeFirst(bytes, opts);
  if (r.offset !== bytes.length) fail('E_CBOR_TRAILING', (bytes.length - r.offset) + ' bytes after the item', r.offset);
  return r.value;
}
