// A fast path for decodePayload (firmware/core/telemetry/batch.ts) on the desktop verifier.
// The core decoder is generic (CborMap values, then field checks) and costs ~4 us for one
// sample and ~30 us for 16; with libsecp256k1 verifying in ~50 us that would halve the
// verifier's rate. This reads the payload layout directly.
//
// Contract: it returns a Batch only when it is certain the core accepts the same bytes and
// returns an equal Batch; on anything unusual it returns undefined and the caller runs the
// core decoder, which either accepts or produces the error. So it can only be sound or
// useless, never stricter or laxer (test/middleware/payload-fast.test.ts checks this on
// generated batches and mutations). What it takes: integer keys 0..9 in order, unsigned
// integers up to 2^32 - 1 in shortest form, ASCII strings, finite non-integral floats in the
// shortest form, SenML labels n u v vs vb s t bn bt bu bs, health keys 0..4, drop [c, f, l].
import { checkReading, type Reading } from '../../firmware/core/telemetry/senml.js';
import { DEFAULT_PAYLOAD_LIMITS, FORMAT_VERSION, type Batch, type PayloadLimits } from '../../firmware/core/telemetry/batch.js';

const F = new DataView(new ArrayBuffer(8));
let b: Uint8Array = new Uint8Array(0);
let o = 0;
/** Set when the input leaves the fast path; the caller then asks the core. */
let bail = false;

/** Unsigned argument of the head at o (major already checked), shortest form, < 2^32; -1 to bail. */
function arg(ai: number): number {
  if (ai < 24) return ai;
  let n: number;
  if (ai === 24) {
    n = b[o++];
    if (n < 24) return -1;
  } else if (ai === 25) {
    n = (b[o] << 8) | b[o + 1];
    o += 2;
    if (n < 0x100) return -1;
  } else if (ai === 26) {
    n = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
    o += 4;
    if (n < 0x10000) return -1;
  } else return -1;
  if (o > b.length) return -1;
  return n;
}

function uint(): number {
  if (o >= b.length) return fail();
  const h = b[o++];
  if (h >> 5 !== 0) {
    bail = true;
    return 0;
  }
  const n = arg(h & 31);
  if (n < 0) bail = true;
  return n;
}

/** Header of major type `major`; returns its count/length or -1 (and bails). */
function head(major: number): number {
  if (o >= b.length) {
    bail = true;
    return -1;
  }
  const h = b[o++];
  if (h >> 5 !== major) {
    bail = true;
    return -1;
  }
  const n = arg(h & 31);
  if (n < 0) bail = true;
  return n;
}

function ascii(): string {
  const n = head(3);
  if (bail || o + n > b.length) {
    bail = true;
    return '';
  }
  let s = '';
  for (let i = 0; i < n; i++) {
    const c = b[o + i];
    if (c >= 0x80) {
      bail = true;
      return '';
    }
    s += String.fromCharCode(c);
  }
  o += n;
  return s;
}

/** binary16 holds float32 value x exactly (x finite, non-zero, not integral). */
function fitsHalf(x: number): boolean {
  F.setFloat32(0, x);
  const bits = F.getUint32(0);
  const e = ((bits >>> 23) & 0xff) - 127;
  if (e > 15 || e < -24) return false;
  if (e >= -14) return (bits & 0x1fff) === 0;
  const scaled = Math.abs(x) * 16777216; // subnormal binary16: a multiple of 2^-24
  return scaled === Math.floor(scaled);
}

/** A finite number: integer (either sign) or a float that the core would accept and return. */
function num(): number {
  if (o >= b.length) {
    bail = true;
    return 0;
  }
  const h = b[o];
  const major = h >> 5;
  if (major === 0) return uint();
  if (major === 1) {
    o++;
    const n = arg(h & 31);
    if (n < 0) bail = true;
    return -1 - n;
  }
  let v: number;
  if (h === 0xf9) {
    if (o + 3 > b.length) return fail();
    const x = (b[o + 1] << 8) | b[o + 2];
    const e = (x >>> 10) & 31;
    const m = x & 0x3ff;
    if (e === 31) return fail();
    v = e === 0 ? m / 16777216 : (1 + m / 1024) * Math.pow(2, e - 15);
    if (x & 0x8000) v = -v;
    o += 3;
  } else if (h === 0xfa) {
    if (o + 5 > b.length) return fail();
    for (let i = 0; i < 4; i++) F.setUint8(i, b[o + 1 + i]);
    v = F.getFloat32(0);
    o += 5;
    if (v === v && v !== Infinity && v !== -Infinity && fitsHalf(v)) return fail();
  } else if (h === 0xfb) {
    if (o + 9 > b.length) return fail();
    for (let i = 0; i < 8; i++) F.setUint8(i, b[o + 1 + i]);
    v = F.getFloat64(0);
    o += 9;
    if (Math.fround(v) === v) return fail();
  } else return fail();
  // Integral floats (the encoder writes integers), NaN and infinities: leave them to the core.
  if (v !== v || v === Infinity || v === -Infinity || v === Math.floor(v)) return fail();
  return v;
}

function fail(): number {
  bail = true;
  return 0;
}

/** Payload keys (docs/wire-format.md): bit i set when key i is required. */
const REQUIRED = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8);

function readings(maxRecords: number): Reading[] | undefined {
  const n = head(4);
  if (bail || n > maxRecords) return undefined;
  const out: Reading[] = [];
  let bn = '';
  let bt = 0;
  let bu: string | undefined;
  let bs = 0;
  for (let i = 0; i < n; i++) {
    const k = head(5);
    if (bail) return undefined;
    // Deterministic key order is bytewise: labels 0..6 (00..06), then -2 bn (21), -3 bt (22),
    // -4 bu (23), -6 bs (25). bver and bv are never written by the encoder: left to the core.
    let last = -1;
    let name: string | undefined;
    let t = 0;
    const r: Reading = { n: '', t: 0 };
    for (let j = 0; j < k; j++) {
      if (o >= b.length) return undefined;
      const key = b[o++];
      if (key <= last) return undefined;
      last = key;
      if (key === 0x00) name = ascii();
      else if (key === 0x01) r.u = ascii();
      else if (key === 0x02) r.v = num();
      else if (key === 0x03) r.vs = ascii();
      else if (key === 0x04) {
        const x = b[o++];
        if (x === 0xf5) r.vb = true;
        else if (x === 0xf4) r.vb = false;
        else return undefined;
      } else if (key === 0x05) r.s = num();
      else if (key === 0x06) t = num();
      else if (key === 0x21) bn = ascii();
      else if (key === 0x22) bt = num();
      else if (key === 0x23) bu = ascii();
      else if (key === 0x25) bs = num();
      else return undefined;
      if (bail) return undefined;
    }
    // SenML resolution exactly as the core's decodePack does it (bv is always 0 here).
    r.n = bn + (name === undefined ? '' : name);
    r.t = bt + t;
    if (r.u === undefined && bu !== undefined) r.u = bu;
    if (r.s !== undefined) r.s += bs;
    try {
      checkReading(r, 'r');
    } catch {
      return undefined;
    }
    out.push(r);
  }
  return out;
}

/** The Batch, or undefined to say "ask the core". */
export function decodePayloadFast(bytes: Uint8Array, limits?: PayloadLimits): Batch | undefined {
  const lim = limits || DEFAULT_PAYLOAD_LIMITS;
  if (bytes.length > lim.maxBytes) return undefined;
  b = bytes;
  o = 0;
  bail = false;
  try {
    return body(lim);
  } finally {
    b = new Uint8Array(0);
  }
}

function body(lim: PayloadLimits): Batch | undefined {
  const n = head(5);
  if (bail) return undefined;
  let seen = 0;
  let last = -1;
  let v = -1;
  let boot = 0;
  let seq = 0;
  let prev: Uint8Array | undefined;
  let pseq = -1;
  let clk = 0;
  let up = 0;
  let rs: Reading[] | undefined;
  const health: Batch['health'] = {};
  let drop: Batch['drop'];
  for (let i = 0; i < n; i++) {
    if (o >= b.length) return undefined;
    const key = b[o++];
    if (key > 9 || key <= last) return undefined;
    last = key;
    seen |= 1 << key;
    if (key === 0) v = uint();
    else if (key === 1) boot = uint();
    else if (key === 2) seq = uint();
    else if (key === 3) {
      if (b[o] !== 0x58 || b[o + 1] !== 0x20 || o + 34 > b.length) return undefined;
      prev = b.slice(o + 2, o + 34);
      o += 34;
    } else if (key === 4) pseq = uint();
    else if (key === 5) clk = uint();
    else if (key === 6) up = uint();
    else if (key === 7) rs = readings(lim.maxRecords);
    else if (key === 8) {
      const m = head(5);
      if (bail) return undefined;
      let hl = -1;
      for (let j = 0; j < m; j++) {
        if (o >= b.length) return undefined;
        const hk = b[o++];
        if (hk > 4 || hk <= hl) return undefined;
        hl = hk;
        const x = uint();
        if (hk === 0) health.queue = x;
        else if (hk === 1) health.dropped = x;
        else if (hk === 2) health.oldestS = x;
        else if (hk === 3) health.freeMem = x;
        else health.reconnects = x;
      }
    } else {
      if (b[o++] !== 0x83) return undefined;
      const c = uint();
      const f = uint();
      const l = uint();
      drop = { count: c, firstSeq: f, lastSeq: l };
    }
    if (bail) return undefined;
  }
  if (o !== b.length || (seen & REQUIRED) !== REQUIRED || v !== FORMAT_VERSION || !rs || !prev) return undefined;
  if (seq < 1 || clk > 1) return undefined;
  if (pseq >= 0) {
    if (pseq >= seq || pseq === seq - 1) return undefined;
  } else pseq = seq - 1;
  // Unsynced times are seconds before sealing: never positive (core checkTimes).
  if (clk !== 1) for (let i = 0; i < rs.length; i++) if (rs[i].t > 0) return undefined;
  if (drop && (drop.count < 1 || drop.firstSeq < 1 || drop.lastSeq < drop.firstSeq || drop.lastSeq >= seq)) return undefined;
  const batch: Batch = { boot, seq, prev, pseq, synced: clk === 1, up, readings: rs, health };
  if (drop) batch.drop = drop;
  return batch;
}
