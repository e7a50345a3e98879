// Per-message verification (docs/wire-format.md, "How a verifier checks a message", steps 1-3):
// strict COSE_Sign1 decode, topic/kid binding, registry, ES256K signature, payload decode.
// No IO: the caller passes the receive time; sequence and chain state live in chain.ts.
import { createHash } from 'node:crypto';
import { decodeSign1, COSE, PROTECTED_ES256K } from '../../firmware/core/codec/cose.js';
import { decode, CborMap } from '../../firmware/core/codec/cbor.js';
import { decodePayload, DEFAULT_PAYLOAD_LIMITS, type Batch, type PayloadLimits } from '../../firmware/core/telemetry/batch.js';
import { addressFromPublicKey } from '../../firmware/core/telemetry/envelope.js';
import { decodePayloadFast } from './payload-fast.js';
import { checkSignatureRange, selectBackend, type BackendChoice, type SignatureBackend } from './sigbackend.js';
import { indexRegistry, type DeviceIndex, type Registry } from './registry.js';

/**
 * Why a message was refused. Every rejection carries exactly one of these; counters and the
 * rejects table are keyed by them.
 */
export const REJECT_REASONS = [
  'oversize', // message larger than maxMessageBytes (checked before any parsing)
  'malformed', // not exactly the COSE_Sign1 shape, or a payload that is not valid version 1
  'wrong-alg', // well-formed protected header naming an algorithm other than ES256K (-47)
  'topic-mismatch', // topic is not <prefix>/<kid as lowercase hex>/tele
  'unknown-device', // registry given and kid not in it
  'revoked-device', // registry marks kid revoked
  'bad-signature', // r/s out of range, high-S, or ECDSA fails for the key of kid
  'conflict', // (kid, seq) already stored with a different payload (chain.ts)
  'chain-break', // prev hash does not match the stored neighbour, or a fork (chain.ts)
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Defaults of the verifier's bounds. */
export const VERIFIER_DEFAULTS = {
  prefix: 'depin',
  /** COSE overhead is 102-106 bytes over the payload limit; a little slack on top. */
  maxMessageBytes: DEFAULT_PAYLOAD_LIMITS.maxBytes + 256,
  /** Keys recovered without a registry, remembered per kid so later messages cost a verify. */
  maxLearnedKeys: 100000,
};

/** One resolved SenML record as stored: time in Unix seconds, estimated when the clock was not synced. */
export interface RecordRow {
  idx: number;
  name: string;
  unit?: string;
  value?: number;
  sum?: number;
  vs?: string;
  vb?: boolean;
  time: number;
  timeEstimated: boolean;
}

export interface Verified {
  ok: true;
  /** Device address, 40 lowercase hex digits. */
  kid: string;
  publicKey: Uint8Array;
  batch: Batch;
  payload: Uint8Array;
  /** SHA-256 of the payload bytes: the value the next batch's `prev` must carry. */
  payloadHash: Uint8Array;
  message: Uint8Array;
  topic: string | undefined;
  receivedAt: number;
  /**
   * Wall time (ms) that relative times were anchored to: the receive time for unsynced batches
   * (docs/wire-format.md: "when it arrived"), undefined for synced ones.
   */
  timeBaseMs: number | undefined;
  records: RecordRow[];
}

export interface Rejected {
  ok: false;
  reason: RejectReason;
  detail: string;
  /** Claimed device address when the message got far enough to name one (not proof of origin). */
  kid?: string;
  seq?: number;
  topic?: string;
}

export type VerifyResult = Verified | Rejected;

export interface VerifierOptions {
  /** Registry of devices; without one, keys are recovered and must hash to kid. */
  registry?: Registry | DeviceIndex;
  /** Signature backend or its name; default 'auto' (libsecp256k1, else noble with a warning). */
  backend?: SignatureBackend | BackendChoice;
  /** Topic prefix; messages must arrive on `<prefix>/<kid hex>/tele`. */
  prefix?: string;
  maxMessageBytes?: number;
  limits?: PayloadLimits;
  maxLearnedKeys?: number;
  warn?: (msg: string) => void;
  /**
   * 'fast' (default) parses the fixed COSE_Sign1 layout directly; 'core' uses decodeSign1.
   * Both accept exactly the same inputs (test/middleware/verify.test.ts checks it).
   */
  coseParser?: 'fast' | 'core';
  /**
   * 'fast' (default) tries payload-fast.ts first and falls back to the core's decodePayload for
   * anything it does not take; 'core' always uses decodePayload.
   */
  payloadDecoder?: 'fast' | 'core';
}

export interface Verifier {
  verifyMessage(topic: string | undefined, bytes: Uint8Array, receivedAtMs: number): VerifyResult;
  /** Swap the registry (reload); undefined switches to recovery mode. */
  setRegistry(registry: Registry | DeviceIndex | undefined): void;
  readonly backend: SignatureBackend;
}

// ---------------------------------------------------------------------------------------------
// The fixed layout. With deterministic encoding and exactly {1: -47} / {4: kid}, every byte of a
// valid message except the payload length is known in advance (RFC 8949 §3, §4.2.1):
//   d2           tag 18 (COSE_Sign1)
//   84           array(4)
//   44 a1 01 38 2e   bstr(4) { 1: -47 }
//   a1 04 54 <20>    { 4: bstr(20) kid }
//   4x|58 xx|59 xxxx|5a xxxxxxxx <payload>   bstr, shortest length argument
//   58 40 <64>   bstr(64) signature, end of input

const HEAD = new Uint8Array([0xd2, 0x84, 0x44, 0xa1, 0x01, 0x38, 0x2e, 0xa1, 0x04, 0x54]);
const KID_AT = HEAD.length;
const PAYLOAD_AT = KID_AT + COSE.KID_BYTES;

/**
 * RFC 9052 §4.4 Sig_structure up to the payload: array(4), "Signature1", the protected bstr,
 * empty external_aad. The payload bstr (header and bytes) is taken verbatim from the message,
 * so no re-encoding is needed; tests check it equals the core's sigStructure().
 */
const SIG_PREFIX = new Uint8Array([
  0x84, 0x6a, 0x53, 0x69, 0x67, 0x6e, 0x61, 0x74, 0x75, 0x72, 0x65, 0x31, 0x44, ...PROTECTED_ES256K, 0x40,
]);

interface Parsed {
  kid: Uint8Array;
  /** Start of the payload bstr header (for the Sig_structure) and of the payload bytes. */
  bstrAt: number;
  payloadAt: number;
  payloadEnd: number;
}

/** Strict fast parse; undefined when the bytes are not exactly the layout above. */
export function parseSign1Fast(m: Uint8Array): Parsed | undefined {
  const n = m.length;
  if (n < PAYLOAD_AT + 1 + 66) return undefined;
  for (let i = 0; i < KID_AT; i++) if (m[i] !== HEAD[i]) return undefined;
  const h = m[PAYLOAD_AT];
  let len: number;
  let at = PAYLOAD_AT + 1;
  if (h >= 0x40 && h < 0x58) len = h - 0x40;
  else if (h === 0x58) {
    len = m[at];
    at += 1;
    if (len < 24) return undefined;
  } else if (h === 0x59) {
    len = (m[at] << 8) | m[at + 1];
    at += 2;
    if (len < 0x100) return undefined;
  } else if (h === 0x5a) {
    len = ((m[at] << 24) | (m[at + 1] << 16) | (m[at + 2] << 8) | m[at + 3]) >>> 0;
    at += 4;
    if (len < 0x10000) return undefined;
  } else return undefined;
  const end = at + len;
  if (end + 66 !== n || m[end] !== 0x58 || m[end + 1] !== 0x40) return undefined;
  return { kid: m.subarray(KID_AT, PAYLOAD_AT), bstrAt: PAYLOAD_AT, payloadAt: at, payloadEnd: end };
}

/** Full parse with the core codec, mapped to the same shape (the reference for parseSign1Fast). */
function parseSign1Core(m: Uint8Array, maxBytes: number): Parsed {
  const s = decodeSign1(m, maxBytes);
  // decodeSign1 returns copies; locate the payload inside `m` for the Sig_structure slice.
  const end = m.length - 66;
  const at = end - s.payload.length;
  return { kid: s.kid, bstrAt: PAYLOAD_AT, payloadAt: at, payloadEnd: end };
}

/** Why the bytes are not a valid COSE_Sign1: 'wrong-alg' when only the algorithm is off. */
function classifyCose(m: Uint8Array, maxBytes: number): { reason: RejectReason; detail: string } {
  try {
    decodeSign1(m, maxBytes);
  } catch (e) {
    const detail = errText(e);
    try {
      const v = decode(m, { maxDepth: 4 }) as any;
      const p = v && v.value instanceof Array ? v.value[0] : undefined;
      if (p instanceof Uint8Array) {
        const ph = decode(p, { maxDepth: 2 });
        const alg = ph instanceof CborMap ? ph.get(COSE.HDR_ALG) : undefined;
        if (alg !== undefined && alg !== COSE.ALG_ES256K)
          return { reason: 'wrong-alg', detail: 'protected header alg ' + String(alg) + ', expected ' + COSE.ALG_ES256K + ' (ES256K)' };
      }
    } catch {
      // not even loosely decodable: plain malformed
    }
    return { reason: 'malformed', detail: detail };
  }
  // The core accepted what the fast path refused: a bug in one of them. Refuse, loudly.
  return { reason: 'malformed', detail: 'internal: fast COSE parser refused a message the core accepts' };
}

function errText(e: unknown): string {
  const x = e as { code?: string; message?: string };
  return (x && x.code ? x.code + ': ' : '') + (x && x.message ? x.message : String(e));
}

const HEXCH: string[] = [];
for (let i = 0; i < 256; i++) HEXCH.push((i < 16 ? '0' : '') + i.toString(16));

export function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEXCH[b[i]];
  return s;
}

function sha256Node(parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (let i = 0; i < parts.length; i++) h.update(parts[i]);
  return new Uint8Array(h.digest());
}

/** Resolved readings to rows: unsynced relative times (<= 0 s before sealing) anchored at receipt. */
export function recordRows(batch: Batch, timeBaseMs: number | undefined): RecordRow[] {
  const out: RecordRow[] = [];
  const rs = batch.readings;
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i];
    const row: RecordRow = {
      idx: i,
      name: r.n,
      time: timeBaseMs === undefined ? r.t : timeBaseMs / 1000 + r.t,
      timeEstimated: timeBaseMs !== undefined,
    };
    if (r.u !== undefined) row.unit = r.u;
    if (r.v !== undefined) row.value = r.v;
    if (r.s !== undefined) row.sum = r.s;
    if (r.vs !== undefined) row.vs = r.vs;
    if (r.vb !== undefined) row.vb = r.vb;
    out.push(row);
  }
  return out;
}

export function createVerifier(opts: VerifierOptions = {}): Verifier {
  const prefix = opts.prefix === undefined ? VERIFIER_DEFAULTS.prefix : opts.prefix;
  const maxBytes = opts.maxMessageBytes || VERIFIER_DEFAULTS.maxMessageBytes;
  const limits = opts.limits || DEFAULT_PAYLOAD_LIMITS;
  const maxLearned = opts.maxLearnedKeys === undefined ? VERIFIER_DEFAULTS.maxLearnedKeys : opts.maxLearnedKeys;
  const backend: SignatureBackend =
    typeof opts.backend === 'object' && opts.backend ? opts.backend : selectBackend(opts.backend as BackendChoice | undefined, opts.warn);
  const fast = opts.coseParser !== 'core';
  const fastPayload = opts.payloadDecoder !== 'core';
  let devices: DeviceIndex | undefined = toIndex(opts.registry);
  /** Recovery mode: kid hex -> key proven to hash to kid. Insertion-ordered for eviction. */
  const learned = new Map<string, Uint8Array>();

  function toIndex(r: Registry | DeviceIndex | undefined): DeviceIndex | undefined {
    if (r === undefined) return undefined;
    return r instanceof Map ? r : indexRegistry(r);
  }

  function reject(reason: RejectReason, detail: string, topic: string | undefined, kid?: string, seq?: number): Rejected {
    const r: Rejected = { ok: false, reason: reason, detail: detail };
    if (topic !== undefined) r.topic = topic;
    if (kid !== undefined) r.kid = kid;
    if (seq !== undefined) r.seq = seq;
    return r;
  }

  function recoverKey(kid: Uint8Array, kidHex: string, sig: Uint8Array, h: Uint8Array): Uint8Array | undefined {
    // docs/wire-format.md: try recovery ids 0 and 1; keep the key whose address equals kid.
    for (let rec = 0; rec < 2; rec++) {
      const pub = backend.recover(sig, rec, h);
      if (!pub) continue;
      const a = addressFromPublicKey(pub);
      let same = a.length === kid.length;
      for (let i = 0; same && i < a.length; i++) if (a[i] !== kid[i]) same = false;
      if (same) {
        if (maxLearned > 0) {
          if (learned.size >= maxLearned) learned.delete(learned.keys().next().value as string);
          learned.set(kidHex, pub);
        }
        return pub;
      }
    }
    return undefined;
  }

  function verifyMessage(topic: string | undefined, bytes: Uint8Array, receivedAtMs: number): VerifyResult {
    if (!(bytes instanceof Uint8Array)) return reject('malformed', 'message expected bytes', topic);
    if (bytes.length > maxBytes) return reject('oversize', 'message of ' + bytes.length + ' bytes exceeds ' + maxBytes, topic);
    // Step 1: structure.
    let p: Parsed | undefined;
    if (fast) p = parseSign1Fast(bytes);
    else {
      try {
        p = parseSign1Core(bytes, maxBytes);
      } catch {
        p = undefined;
      }
    }
    if (!p) {
      const c = classifyCose(bytes, maxBytes);
      return reject(c.reason, c.detail, topic);
    }
    const kidHex = hex(p.kid);
    // The topic names the device; a message published under another device's topic is refused
    // even when its signature is fine, so per-device ACLs on the broker mean something.
    if (topic !== undefined && topic !== prefix + '/' + kidHex + '/tele')
      return reject('topic-mismatch', 'topic "' + topic + '" does not match kid ' + kidHex, topic, kidHex);
    let pub: Uint8Array | undefined;
    if (devices) {
      const d = devices.get(kidHex);
      if (!d) return reject('unknown-device', 'kid ' + kidHex + ' is not in the registry', topic, kidHex);
      if (d.revoked) return reject('revoked-device', 'kid ' + kidHex + ' is revoked in the registry', topic, kidHex);
      pub = d.publicKey;
    } else pub = learned.get(kidHex);
    // Step 2: signature.
    const sig = bytes.subarray(p.payloadEnd + 2);
    const range = checkSignatureRange(sig);
    if (range) return reject('bad-signature', range, topic, kidHex);
    const h = sha256Node([SIG_PREFIX, bytes.subarray(p.bstrAt, p.payloadEnd)]);
    if (pub) {
      if (!backend.verify(sig, h, pub)) return reject('bad-signature', 'signature does not verify for kid ' + kidHex, topic, kidHex);
    } else {
      pub = recoverKey(p.kid, kidHex, sig, h);
      if (!pub) return reject('bad-signature', 'no key recovered from the signature hashes to kid ' + kidHex, topic, kidHex);
    }
    // Step 3: payload.
    const payload = bytes.slice(p.payloadAt, p.payloadEnd);
    let batch: Batch | undefined = fastPayload ? decodePayloadFast(payload, limits) : undefined;
    if (!batch) {
      try {
        batch = decodePayload(payload, limits);
      } catch (e) {
        return reject('malformed', 'payload: ' + errText(e), topic, kidHex);
      }
    }
    const timeBaseMs = batch.synced ? undefined : receivedAtMs;
    return {
      ok: true,
      kid: kidHex,
      publicKey: pub,
      batch: batch,
      payload: payload,
      payloadHash: sha256Node([payload]),
      message: bytes,
      topic: topic,
      receivedAt: receivedAtMs,
      timeBaseMs: timeBaseMs,
      records: recordRows(batch, timeBaseMs),
    };
  }

  return {
    verifyMessage,
    setRegistry(r) {
      devices = toIndex(r);
      learned.clear();
    },
    backend,
  };
}
