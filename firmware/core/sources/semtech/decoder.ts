// Semtech UDP packet forwarder protocol, version 2 (Lora-net/packet_forwarder PROTOCOL.TXT,
// "Basic communication protocol between Lora gateway and server"): datagram header, ACKs, a
// strict bounded JSON reader over the datagram's bytes, and the upstream JSON objects (`stat`,
// `rxpk`) checked field by field. Pure: no IO, no timers.
//
// Why an own JSON reader instead of JSON.parse: Espruino's JSON.parse (src/jswrap_json.c) runs
// the JavaScript lexer, so it accepts what JSON does not (single quotes, hex numbers, trailing
// commas, trailing garbage) and recurses in C without a depth limit; the datagram is bytes and
// Espruino has no TextDecoder. The reader below accepts exactly RFC 8259 JSON in ASCII, on
// Node and on the device alike, with a depth bound, and never builds a string longer than the
// datagram.
//
// What guards the data: the UDP checksum on the wire, then JSON syntax, then every field's type
// and range. A datagram whose JSON or any field is wrong is rejected whole (counted), never
// half applied.

// ---------------------------------------------------------------------------------------------
// Constants (PROTOCOL.TXT sections 3 and 5; lora_pkt_fwd.c)

/** Byte 0 of every datagram: protocol version 2 (PROTOCOL.TXT 3.2; lora_pkt_fwd.c PROTOCOL_VERSION). */
export const SEMTECH_VERSION = 2;
/** Byte 3: identifiers (PROTOCOL.TXT 3.2, 3.3, 5.2-5.5). */
export const PUSH_DATA = 0x00;
export const PUSH_ACK = 0x01;
export const PULL_DATA = 0x02;
export const PULL_RESP = 0x03;
export const PULL_ACK = 0x04;
export const TX_ACK = 0x05;
/** version (1) + token (2) + identifier (1). */
export const SEMTECH_HEADER = 4;
/** Gateway unique identifier (MAC/EUI), bytes 4-11 of PUSH_DATA, PULL_DATA and TX_ACK. */
export const SEMTECH_EUI_LEN = 8;
/** Header plus EUI: where the JSON object of a PUSH_DATA / TX_ACK starts. */
export const SEMTECH_JSON_AT = 12;
/**
 * Default bound on a datagram: the reference forwarder's largest PUSH_DATA is TX_BUFF_SIZE =
 * 540 * NB_PKT_MAX (8) + 30 + STATUS_SIZE (200) = 4550 bytes (lora_pkt_fwd.c).
 */
export const SEMTECH_MAX_DATAGRAM = 4608;
/** Default JSON nesting bound: root, rxpk array, packet object, and room for extensions. */
export const SEMTECH_MAX_DEPTH = 8;
/** Default bound on rxpk entries per datagram (the reference sends at most NB_PKT_MAX = 8). */
export const SEMTECH_MAX_RXPK = 64;
/** Longest number token accepted (a double needs at most ~25 characters). */
export const JSON_MAX_NUMBER_CHARS = 32;
/** Range checks for fields (PROTOCOL.TXT section 4 tables; units as stated there). */
const U32_MAX = 0xffffffff;
const RSSI_MIN = -200;
const RSSI_MAX = 20;
const LSNR_MIN = -50;
const LSNR_MAX = 50;
const FREQ_MIN_MHZ = 100;
const FREQ_MAX_MHZ = 3000;
/** LoRa spreading factors a concentrator reports: SX1301 SF7-12, SX1302 also SF5 and SF6. */
export const SF_MIN = 5;
export const SF_MAX = 12;

// ---------------------------------------------------------------------------------------------
// Header

export interface SemtechHeader {
  version: number;
  token: number;
  type: number;
  /** Gateway EUI as 16 lowercase hex digits, for the types that carry one. */
  eui?: string;
}

/** Reasons a datagram is rejected (the driver counts each). */
export const R_SHORT = 'short';
export const R_LONG = 'long';
export const R_VERSION = 'version';
export const R_TYPE = 'type';
export const R_JSON = 'json';
export const R_PAYLOAD = 'payload';

const HEX = '0123456789abcdef';

/**
 * Header of a datagram the server may receive (PUSH_DATA, PULL_DATA, TX_ACK) with its length
 * rules, or a rejection reason. Types the server sends itself (ACKs, PULL_RESP) are rejected.
 */
export function parseHeader(b: Uint8Array, maxDatagram: number): SemtechHeader | string {
  if (b.length > maxDatagram) return R_LONG;
  if (b.length < SEMTECH_HEADER) return R_SHORT;
  if (b[0] !== SEMTECH_VERSION) return R_VERSION;
  const type = b[3];
  if (type !== PUSH_DATA && type !== PULL_DATA && type !== TX_ACK) return R_TYPE;
  if (b.length < SEMTECH_JSON_AT) return R_SHORT;
  // PULL_DATA is exactly header + EUI (PROTOCOL.TXT 5.2).
  if (type === PULL_DATA && b.length !== SEMTECH_JSON_AT) return R_LONG;
  let eui = '';
  for (let i = SEMTECH_HEADER; i < SEMTECH_JSON_AT; i++) eui += HEX.charAt(b[i] >> 4) + HEX.charAt(b[i] & 15);
  return { version: b[0], token: (b[1] << 8) | b[2], type: type, eui: eui };
}

/** The server's answer to a datagram: PUSH_ACK for PUSH_DATA, PULL_ACK for PULL_DATA (3.3, 5.3). */
export function ackFor(h: SemtechHeader): Uint8Array | undefined {
  const id = h.type === PUSH_DATA ? PUSH_ACK : h.type === PULL_DATA ? PULL_ACK : -1;
  if (id < 0) return undefined;
  return new Uint8Array([h.version, (h.token >> 8) & 255, h.token & 255, id]);
}

// ---------------------------------------------------------------------------------------------
// Strict JSON reader (RFC 8259, ASCII only)

/** Thrown inside the reader only; caught by parseJson. */
const BAD = { bad: true };

interface Cursor {
  b: Uint8Array;
  i: number;
  end: number;
  maxDepth: number;
  /** Members whose string value is checked but not built (see parseJsonObject). */
  skip: { [k: string]: boolean } | undefined;
}

// The per-byte loops work on locals and store the position back once: on an interpreter a
// property read per byte (c.b[c.i]) costs as much as the comparison itself.
function ws(c: Cursor): void {
  const b = c.b;
  const end = c.end;
  let i = c.i;
  while (i < end) {
    const x = b[i];
    if (x !== 0x20 && x !== 0x09 && x !== 0x0a && x !== 0x0d) break;
    i++;
  }
  c.i = i;
}

function expectLit(c: Cursor, lit: string): void {
  for (let k = 0; k < lit.length; k++) if (c.i >= c.end || c.b[c.i++] !== lit.charCodeAt(k)) throw BAD;
}

function hexVal(x: number): number {
  if (x >= 0x30 && x <= 0x39) return x - 0x30;
  if (x >= 0x61 && x <= 0x66) return x - 0x57;
  if (x >= 0x41 && x <= 0x46) return x - 0x37;
  throw BAD;
}

function readString(c: Cursor): string {
  // c.b[c.i] is the opening quote.
  const b = c.b;
  const end = c.end;
  let i = c.i + 1;
  let s = '';
  let run = i;
  for (;;) {
    if (i >= end) throw BAD;
    const x = b[i];
    if (x === 0x22) {
      c.i = i + 1;
      return s + chars(b, run, i);
    }
    // Control characters must be escaped; bytes >= 0x80 are not ASCII.
    if (x < 0x20 || x >= 0x80) throw BAD;
    if (x !== 0x5c) {
      i++;
      continue;
    }
    s += chars(b, run, i);
    c.i = i + 1;
    s += readEscape(c);
    i = c.i;
    run = i;
  }
}

/** The escape after a backslash at c.i (RFC 8259 7), ASCII only; advances c.i past it. */
function readEscape(c: Cursor): string {
  if (c.i >= c.end) throw BAD;
  const e = c.b[c.i++];
  if (e === 0x22) return '"';
  if (e === 0x5c) return '\\';
  if (e === 0x2f) return '/';
  if (e === 0x62) return '\b';
  if (e === 0x66) return '\f';
  if (e === 0x6e) return '\n';
  if (e === 0x72) return '\r';
  if (e === 0x74) return '\t';
  if (e !== 0x75 || c.i + 4 > c.end) throw BAD;
  const u = (hexVal(c.b[c.i]) << 12) | (hexVal(c.b[c.i + 1]) << 8) | (hexVal(c.b[c.i + 2]) << 4) | hexVal(c.b[c.i + 3]);
  c.i += 4;
  // ASCII only: Espruino's ESP32 builds keep one byte per character.
  if (u >= 0x80) throw BAD;
  return String.fromCharCode(u);
}

/**
 * Checks a string exactly as readString does, without building it: a packet's base64 `data` is
 * most of a PUSH_DATA (8 x 340 characters in a full one) and string building is the costly part
 * on an interpreter.
 */
function skipString(c: Cursor): void {
  const b = c.b;
  const end = c.end;
  let i = c.i + 1;
  for (;;) {
    if (i >= end) throw BAD;
    const x = b[i++];
    if (x === 0x22) break;
    if (x < 0x20 || x >= 0x80) throw BAD;
    if (x === 0x5c) {
      c.i = i;
      readEscape(c);
      i = c.i;
    }
  }
  c.i = i;
}

/** ASCII bytes b[a, z) as a string, in pieces (String.fromCharCode.apply takes <= 256 args on Espruino). */
function chars(b: Uint8Array, a: number, z: number): string {
  let s = '';
  for (let i = a; i < z; i++) s += String.fromCharCode(b[i]);
  return s;
}

function isDigit(x: number): boolean {
  return x >= 0x30 && x <= 0x39;
}

function readNumber(c: Cursor): number {
  const a = c.i;
  const b = c.b;
  if (b[c.i] === 0x2d) c.i++;
  if (c.i >= c.end) throw BAD;
  if (b[c.i] === 0x30) c.i++;
  else if (b[c.i] >= 0x31 && b[c.i] <= 0x39) while (c.i < c.end && isDigit(b[c.i])) c.i++;
  else throw BAD;
  if (c.i < c.end && b[c.i] === 0x2e) {
    c.i++;
    if (c.i >= c.end || !isDigit(b[c.i])) throw BAD;
    while (c.i < c.end && isDigit(b[c.i])) c.i++;
  }
  if (c.i < c.end && (b[c.i] === 0x65 || b[c.i] === 0x45)) {
    c.i++;
    if (c.i < c.end && (b[c.i] === 0x2b || b[c.i] === 0x2d)) c.i++;
    if (c.i >= c.end || !isDigit(b[c.i])) throw BAD;
    while (c.i < c.end && isDigit(b[c.i])) c.i++;
  }
  if (c.i - a > JSON_MAX_NUMBER_CHARS) throw BAD;
  const v = parseFloat(chars(b, a, c.i));
  if (v !== v || v === Infinity || v === -Infinity) throw BAD;
  return v;
}

function readValue(c: Cursor, depth: number): unknown {
  ws(c);
  if (c.i >= c.end) throw BAD;
  const x = c.b[c.i];
  if (x === 0x7b) {
    if (depth >= c.maxDepth) throw BAD;
    c.i++;
    const o: { [k: string]: unknown } = {};
    ws(c);
    if (c.i < c.end && c.b[c.i] === 0x7d) {
      c.i++;
      return o;
    }
    for (;;) {
      ws(c);
      if (c.i >= c.end || c.b[c.i] !== 0x22) throw BAD;
      const k = readString(c);
      // A "__proto__" member would replace the object's prototype; no forwarder sends one.
      if (k === '__proto__') throw BAD;
      ws(c);
      if (c.i >= c.end || c.b[c.i] !== 0x3a) throw BAD;
      c.i++;
      ws(c);
      if (c.skip !== undefined && c.skip[k] === true && c.i < c.end && c.b[c.i] === 0x22) {
        skipString(c);
        o[k] = '';
      } else o[k] = readValue(c, depth + 1);
      ws(c);
      if (c.i >= c.end) throw BAD;
      if (c.b[c.i] === 0x2c) {
        c.i++;
        continue;
      }
      if (c.b[c.i] === 0x7d) {
        c.i++;
        return o;
      }
      throw BAD;
    }
  }
  if (x === 0x5b) {
    if (depth >= c.maxDepth) throw BAD;
    c.i++;
    const a: unknown[] = [];
    ws(c);
    if (c.i < c.end && c.b[c.i] === 0x5d) {
      c.i++;
      return a;
    }
    for (;;) {
      a.push(readValue(c, depth + 1));
      ws(c);
      if (c.i >= c.end) throw BAD;
      if (c.b[c.i] === 0x2c) {
        c.i++;
        continue;
      }
      if (c.b[c.i] === 0x5d) {
        c.i++;
        return a;
      }
      throw BAD;
    }
  }
  if (x === 0x22) return readString(c);
  if (x === 0x74) {
    expectLit(c, 'true');
    return true;
  }
  if (x === 0x66) {
    expectLit(c, 'false');
    return false;
  }
  if (x === 0x6e) {
    expectLit(c, 'null');
    return null;
  }
  if (x === 0x2d || isDigit(x)) return readNumber(c);
  throw BAD;
}

/**
 * Parses b[start, end) as one JSON object (RFC 8259), ASCII only, nesting at most maxDepth.
 * Trailing whitespace and NUL bytes (a C string terminator some forwarders send) are allowed.
 * Returns undefined for anything else. Members named in `skip` whose value is a string are
 * checked like any string but come out as '' (their text is not needed).
 */
export function parseJsonObject(b: Uint8Array, start: number, end: number, maxDepth: number, skip?: { [k: string]: boolean }): { [k: string]: unknown } | undefined {
  const c: Cursor = { b: b, i: start, end: end, maxDepth: maxDepth, skip: skip };
  let v: unknown;
  try {
    ws(c);
    if (c.i >= c.end || c.b[c.i] !== 0x7b) return undefined;
    v = readValue(c, 0);
    ws(c);
    while (c.i < c.end && c.b[c.i] === 0) c.i++;
  } catch (e) {
    if (e === BAD) return undefined;
    throw e;
  }
  return c.i === c.end ? (v as { [k: string]: unknown }) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Upstream JSON (PROTOCOL.TXT section 4)

/** A `stat` object: per-interval counts and the gateway's status (fields absent stay undefined). */
export interface StatReport {
  rxnb?: number;
  rxok?: number;
  rxfw?: number;
  dwnb?: number;
  txnb?: number;
  /** Percentage of upstream datagrams acknowledged in the interval. */
  ackr?: number;
  /** Concentrator temperature (sx1302_hal lora_pkt_fwd adds it), Cel. */
  temp?: number;
  lati?: number;
  long?: number;
  alti?: number;
}

/** One received packet's metadata. */
export interface RxPacket {
  rssi: number;
  /** LoRa SNR in dB; undefined for FSK. */
  lsnr?: number;
  /** LoRa spreading factor 5..12, or 0 for FSK. */
  sf: number;
  /** Bandwidth in kHz for LoRa, 0 for FSK. */
  bw: number;
  /** Centre frequency in kHz (integer: the MHz value has Hz precision, kHz names channels). */
  khz: number;
  /** CRC status: 1 OK, -1 failed, 0 no CRC. */
  crc: number;
}

export interface PushPayload {
  stat?: StatReport;
  rxpk: RxPacket[];
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && v === v && v !== Infinity && v !== -Infinity;
}
function isInt(v: unknown, min: number, max: number): v is number {
  return isNum(v) && Math.floor(v) === v && v >= min && v <= max;
}
function inRange(v: unknown, min: number, max: number): v is number {
  return isNum(v) && v >= min && v <= max;
}

const STAT_COUNTS = ['rxnb', 'rxok', 'rxfw', 'dwnb', 'txnb'];

/**
 * x rounded to 1/k (k = 10 or 100000: the precision the forwarder prints, "%.1f" / "%.5f").
 * Espruino's parseFloat sums decimal digits in doubles (src/jsutils.c stringToFloatWithRadix),
 * so "5.1" may come out one bit off there; rounding gives Node's value on both.
 */
function dec(x: number, k: number): number {
  return Math.round(x * k) / k;
}

function decodeStat(o: unknown): StatReport | undefined {
  if (o === null || typeof o !== 'object' || o instanceof Array) return undefined;
  const s = o as { [k: string]: unknown };
  const r: StatReport = {};
  const rr = r as { [k: string]: number };
  for (let i = 0; i < STAT_COUNTS.length; i++) {
    const k = STAT_COUNTS[i];
    if (s[k] === undefined) continue;
    if (!isInt(s[k], 0, U32_MAX)) return undefined;
    rr[k] = s[k] as number;
  }
  // Packets with a valid CRC and packets forwarded are among the packets received.
  if (r.rxnb !== undefined && ((r.rxok !== undefined && r.rxok > r.rxnb) || (r.rxfw !== undefined && r.rxfw > r.rxnb))) return undefined;
  if (s.ackr !== undefined) {
    if (!inRange(s.ackr, 0, 100)) return undefined;
    r.ackr = dec(s.ackr, 10);
  }
  if (s.temp !== undefined) {
    if (!inRange(s.temp, -100, 200)) return undefined;
    r.temp = dec(s.temp, 10);
  }
  if (s.lati !== undefined || s.long !== undefined) {
    if (!inRange(s.lati, -90, 90) || !inRange(s.long, -180, 180)) return undefined;
    r.lati = dec(s.lati, 100000);
    r.long = dec(s.long, 100000);
  }
  if (s.alti !== undefined) {
    if (!isInt(s.alti, -20000, 100000)) return undefined;
    r.alti = s.alti;
  }
  if (s.time !== undefined && typeof s.time !== 'string') return undefined;
  return r;
}

/** "SF<n>BW<khz>" -> [sf, bw], or undefined. Spelled out: Espruino regexes have no {n}. */
export function parseLoraDatr(d: string): number[] | undefined {
  if (d.length < 7 || d.length > 10 || d.substr(0, 2) !== 'SF') return undefined;
  const bwAt = d.indexOf('BW');
  if (bwAt < 3) return undefined;
  const sfs = d.substring(2, bwAt);
  const bws = d.substring(bwAt + 2);
  if (!digitsOnly(sfs) || !digitsOnly(bws)) return undefined;
  const sf = parseInt(sfs, 10);
  const bw = parseInt(bws, 10);
  if (sf < SF_MIN || sf > SF_MAX || (bw !== 125 && bw !== 250 && bw !== 500)) return undefined;
  return [sf, bw];
}

/** 1..3 decimal digits without a leading zero (the forwarder prints "SF%uBW%u"). */
function digitsOnly(s: string): boolean {
  if (s.length === 0 || s.length > 3 || s.charAt(0) === '0') return false;
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

function decodeRxpk(o: unknown): RxPacket | undefined {
  if (o === null || typeof o !== 'object' || o instanceof Array) return undefined;
  const p = o as { [k: string]: unknown };
  if (!isInt(p.rssi, RSSI_MIN, RSSI_MAX)) return undefined;
  if (!inRange(p.freq, FREQ_MIN_MHZ, FREQ_MAX_MHZ)) return undefined;
  const crc = p.stat === undefined ? 1 : p.stat;
  if (crc !== 1 && crc !== -1 && crc !== 0) return undefined;
  const modu = p.modu;
  if (modu !== undefined && modu !== 'LORA' && modu !== 'FSK') return undefined;
  let sf = 0;
  let bw = 0;
  if (typeof p.datr === 'string') {
    if (modu === 'FSK') return undefined;
    const d = parseLoraDatr(p.datr);
    if (!d) return undefined;
    sf = d[0];
    bw = d[1];
  } else if (isInt(p.datr, 1, 1000000)) {
    if (modu === 'LORA') return undefined;
  } else return undefined;
  let lsnr: number | undefined;
  if (p.lsnr !== undefined) {
    if (!inRange(p.lsnr, LSNR_MIN, LSNR_MAX)) return undefined;
    lsnr = dec(p.lsnr, 10);
  }
  // LoRa packets carry an SNR (PROTOCOL.TXT 4: "lsnr ... Lora SNR ratio").
  if (sf > 0 && lsnr === undefined) return undefined;
  return { rssi: p.rssi, lsnr: lsnr, sf: sf, bw: bw, khz: Math.round((p.freq as number) * 1000), crc: crc as number };
}

/** Checks a PUSH_DATA JSON object; undefined when any part is malformed (the whole datagram is rejected). */
export function decodePush(root: { [k: string]: unknown }, maxRxpk: number): PushPayload | undefined {
  const out: PushPayload = { rxpk: [] };
  if (root.stat !== undefined) {
    const st = decodeStat(root.stat);
    if (!st) return undefined;
    out.stat = st;
  }
  if (root.rxpk !== undefined) {
    const a = root.rxpk;
    if (!(a instanceof Array) || a.length > maxRxpk) return undefined;
    for (let i = 0; i < a.length; i++) {
      const p = decodeRxpk(a[i]);
      if (!p) return undefined;
      out.rxpk.push(p);
    }
  }
  return out;
}

/** rxpk `data` (the packet payload, base64) is checked but never built: nothing here uses it. */
const SKIP_MEMBERS: { [k: string]: boolean } = { data: true };

/** One datagram as the server sees it. */
export interface Decoded {
  header?: SemtechHeader;
  /** For PUSH_DATA whose JSON and fields are valid. */
  push?: PushPayload;
  /** Rejection reason (R_*), when rejected; a PUSH_DATA rejected for its JSON still has a header. */
  reject?: string;
}

export interface DecodeLimits {
  maxDatagram: number;
  maxDepth: number;
  maxRxpk: number;
}

/** Header, then (PUSH_DATA) JSON and fields; TX_ACK's optional JSON is only checked for syntax. */
export function decodeDatagram(b: Uint8Array, lim: DecodeLimits): Decoded {
  const h = parseHeader(b, lim.maxDatagram);
  if (typeof h === 'string') return { reject: h };
  if (h.type === PULL_DATA) return { header: h };
  if (h.type === TX_ACK) {
    // "If no JSON is present (empty string), this means than no error occured" (5.5).
    if (b.length === SEMTECH_JSON_AT || parseJsonObject(b, SEMTECH_JSON_AT, b.length, lim.maxDepth)) return { header: h };
    return { header: h, reject: R_JSON };
  }
  const root = parseJsonObject(b, SEMTECH_JSON_AT, b.length, lim.maxDepth, SKIP_MEMBERS);
  if (!root) return { header: h, reject: R_JSON };
  const push = decodePush(root, lim.maxRxpk);
  if (!push) return { header: h, reject: R_PAYLOAD };
  return { header: h, push: push };
}
