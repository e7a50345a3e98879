// The signed payload: one batch of readings with the header that lets a verifier prove that
// nothing was replayed, reordered or dropped. Field table and rationale: docs/wire-format.md.
import { CborMap, encode, decode, type CborValue } from '../codec/cbor.js';
import { err } from '../util/errors.js';
import { encodePack, decodePack, type Reading } from './senml.js';

export const FORMAT_VERSION = 1;

/** Payload map keys (docs/wire-format.md, "The payload"). */
export const KEY = {
  V: 0,
  BOOT: 1,
  SEQ: 2,
  PREV: 3,
  PSEQ: 4,
  CLK: 5,
  UP: 6,
  RECORDS: 7,
  HEALTH: 8,
  DROP: 9,
};

/** Health map keys (docs/wire-format.md, "Health"). */
export const HEALTH_KEY = {
  QUEUE: 0,
  DROPPED: 1,
  OLDEST_S: 2,
  FREE_MEM: 3,
  RECONNECTS: 4,
};

export const CLK_SYNCED = 1;

export interface Health {
  queue?: number;
  dropped?: number;
  oldestS?: number;
  freeMem?: number;
  reconnects?: number;
}

export interface DropReport {
  count: number;
  firstSeq: number;
  lastSeq: number;
}

export interface Batch {
  boot: number;
  seq: number;
  /** SHA-256 of the previous batch's payload bytes; 32 zero bytes for the first. */
  prev: Uint8Array;
  /** seq of the previous batch (0 for none). */
  pseq: number;
  /** True when every reading's `t` is Unix seconds; false: seconds before sealing (<= 0). */
  synced: boolean;
  /** Uptime in seconds at sealing. */
  up: number;
  readings: Reading[];
  health: Health;
  drop?: DropReport;
}

/** Bounds a verifier applies to untrusted payloads. */
export interface PayloadLimits {
  maxRecords: number;
  maxBytes: number;
}
export const DEFAULT_PAYLOAD_LIMITS: PayloadLimits = { maxRecords: 1024, maxBytes: 65536 };

// 2^53 - 1 written out: Espruino lacks Number.MAX_SAFE_INTEGER and Math.pow is inexact there.
const MAX_UINT = 9007199254740991;

function uint(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || Math.floor(v) !== v || v < min || v > MAX_UINT)
    throw err('E_BATCH', '"' + name + '" expected an integer >= ' + min + ', got ' + String(v));
  return v;
}

const HEALTH_FIELDS: [string, number][] = [
  ['queue', HEALTH_KEY.QUEUE],
  ['dropped', HEALTH_KEY.DROPPED],
  ['oldestS', HEALTH_KEY.OLDEST_S],
  ['freeMem', HEALTH_KEY.FREE_MEM],
  ['reconnects', HEALTH_KEY.RECONNECTS],
];

export function encodePayload(b: Batch): Uint8Array {
  if (b === null || typeof b !== 'object') throw err('E_BATCH', '"batch" expected an object', TypeError);
  const seq = uint('seq', b.seq, 1);
  const pseq = uint('pseq', b.pseq, 0);
  if (pseq >= seq) throw err('E_BATCH', '"pseq" must be below "seq" (' + pseq + ' >= ' + seq + ')');
  if (!(b.prev instanceof Uint8Array) || b.prev.length !== 32)
    throw err('E_BATCH', '"prev" expected 32 bytes, got ' + (b.prev instanceof Uint8Array ? b.prev.length : typeof b.prev));
  if (!(b.readings instanceof Array)) throw err('E_BATCH', '"readings" expected an array', TypeError);
  checkTimes(b.readings, !!b.synced);
  const m = new CborMap();
  m.set(KEY.V, FORMAT_VERSION);
  m.set(KEY.BOOT, uint('boot', b.boot, 0));
  m.set(KEY.SEQ, seq);
  m.set(KEY.PREV, b.prev);
  if (pseq !== seq - 1) m.set(KEY.PSEQ, pseq);
  m.set(KEY.CLK, b.synced ? CLK_SYNCED : 0);
  m.set(KEY.UP, uint('up', b.up, 0));
  m.set(KEY.RECORDS, encodePack(b.readings));
  const h = new CborMap();
  const health = b.health || {};
  for (let i = 0; i < HEALTH_FIELDS.length; i++) {
    const v = (health as any)[HEALTH_FIELDS[i][0]];
    if (v !== undefined) h.set(HEALTH_FIELDS[i][1], uint('health.' + HEALTH_FIELDS[i][0], v, 0));
  }
  m.set(KEY.HEALTH, h);
  if (b.drop) {
    const d = b.drop;
    const first = uint('drop.firstSeq', d.firstSeq, 1);
    const last = uint('drop.lastSeq', d.lastSeq, first);
    if (last >= seq) throw err('E_BATCH', '"drop.lastSeq" must be below "seq"');
    m.set(KEY.DROP, [uint('drop.count', d.count, 1), first, last]);
  }
  return encode(m);
}

/** Unsynced batches carry times relative to sealing: never after it (docs/wire-format.md). */
function checkTimes(readings: Reading[], synced: boolean): void {
  if (synced) return;
  for (let i = 0; i < readings.length; i++)
    if (readings[i] && readings[i].t > 0)
      throw err('E_BATCH', 'readings[' + i + '].t is ' + readings[i].t + ' but an unsynced batch needs times <= 0 (seconds before sealing)');
}

function need(m: CborMap, key: number, name: string): CborValue {
  const v = m.get(key);
  if (v === undefined) throw err('E_BATCH', 'payload lacks "' + name + '" (key ' + key + ')');
  return v;
}

/** Decodes and validates an untrusted payload. Requires deterministic encoding. */
export function decodePayload(bytes: Uint8Array, limits?: PayloadLimits): Batch {
  const lim = limits || DEFAULT_PAYLOAD_LIMITS;
  if (bytes.length > lim.maxBytes) throw err('E_BATCH', 'payload of ' + bytes.length + ' bytes exceeds ' + lim.maxBytes);
  const m = decode(bytes, { requireDeterministic: true, maxDepth: 6 });
  if (!(m instanceof CborMap)) throw err('E_BATCH', 'payload expected a CBOR map');
  const ents = m.entries;
  for (let i = 0; i < ents.length; i++) {
    const k = ents[i][0];
    if (typeof k !== 'number' || k < KEY.V || k > KEY.DROP) throw err('E_BATCH', 'payload has unknown key ' + String(k));
  }
  const v = need(m, KEY.V, 'v');
  if (v !== FORMAT_VERSION) throw err('E_BATCH', 'unsupported format version ' + String(v));
  const seq = uint('seq', need(m, KEY.SEQ, 'seq'), 1);
  const prev = need(m, KEY.PREV, 'prev');
  if (!(prev instanceof Uint8Array) || prev.length !== 32) throw err('E_BATCH', '"prev" expected 32 bytes');
  const pseqRaw = m.get(KEY.PSEQ);
  const pseq = pseqRaw === undefined ? seq - 1 : uint('pseq', pseqRaw, 0);
  if (pseq >= seq) throw err('E_BATCH', '"pseq" must be below "seq"');
  // The encoder omits pseq exactly when it is seq - 1; an explicit seq - 1 is non-canonical.
  if (pseqRaw !== undefined && pseq === seq - 1) throw err('E_BATCH', '"pseq" present although it equals seq - 1');
  const clk = uint('clk', need(m, KEY.CLK, 'clk'), 0);
  if (clk > CLK_SYNCED) throw err('E_BATCH', '"clk" has unknown flag bits: ' + clk);
  const hm = need(m, KEY.HEALTH, 'h');
  if (!(hm instanceof CborMap)) throw err('E_BATCH', '"h" expected a map');
  const health: Health = {};
  for (let i = 0; i < hm.entries.length; i++) {
    const k = hm.entries[i][0];
    let name: string | undefined;
    for (let j = 0; j < HEALTH_FIELDS.length; j++) if (HEALTH_FIELDS[j][1] === k) name = HEALTH_FIELDS[j][0];
    if (name === undefined) throw err('E_BATCH', '"h" has unknown key ' + String(k));
    (health as any)[name] = uint('health.' + name, hm.entries[i][1], 0);
  }
  const batch: Batch = {
    boot: uint('boot', need(m, KEY.BOOT, 'boot'), 0),
    seq: seq,
    prev: prev,
    pseq: pseq,
    synced: clk === CLK_SYNCED,
    up: uint('up', need(m, KEY.UP, 'up'), 0),
    readings: decodePack(need(m, KEY.RECORDS, 'r'), lim.maxRecords),
    health: health,
  };
  checkTimes(batch.readings, batch.synced);
  const d = m.get(KEY.DROP);
  if (d !== undefined) {
    if (!(d instanceof Array) || d.length !== 3) throw err('E_BATCH', '"drop" expected [count, firstSeq, lastSeq]');
    const first = uint('drop.firstSeq', d[1], 1);
    const last = uint('drop.lastSeq', d[2], first);
    if (last >= seq) throw err('E_BATCH', '"drop.lastSeq" must be below "seq"');
    batch.drop = { count: uint('drop.count', d[0], 1), firstSeq: first, lastSeq: last };
  }
  return batch;
}
