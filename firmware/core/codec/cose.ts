// COSE_Sign1 (RFC 9052 §4.2) for one algorithm: ES256K (RFC 8812 §3.2). Pure encode/decode; the
// signing itself lives in telemetry/envelope.ts so this file stays a codec.
import { CborMap, CborTag, encode, decode } from './cbor.js';
import { err, RANGE_ERROR } from '../util/errors.js';

/** Constants from RFC 9052 and RFC 8812. */
export const COSE = {
  TAG_SIGN1: 18, // RFC 9052 §4.2
  HDR_ALG: 1, // RFC 9052 §3.1 Table 2
  HDR_KID: 4,
  ALG_ES256K: -47, // RFC 8812 §3.2
  CONTEXT_SIGN1: 'Signature1', // RFC 9052 §4.4
  KID_BYTES: 20,
  SIG_BYTES: 64,
};

/** The serialized protected header {1: -47}: always these four bytes. */
export const PROTECTED_ES256K = new Uint8Array([0xa1, 0x01, 0x38, 0x2e]);

/** RFC 9052 §4.4 Sig_structure for COSE_Sign1, CBOR-encoded: the bytes that get hashed. */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array, externalAad?: Uint8Array): Uint8Array {
  return encode([COSE.CONTEXT_SIGN1, protectedBytes, externalAad || new Uint8Array(0), payload]);
}

export function encodeSign1(kid: Uint8Array, payload: Uint8Array, signature: Uint8Array): Uint8Array {
  if (!(kid instanceof Uint8Array) || kid.length !== COSE.KID_BYTES) throw err('E_COSE', '"kid" expected 20 bytes', RANGE_ERROR);
  if (!(signature instanceof Uint8Array) || signature.length !== COSE.SIG_BYTES)
    throw err('E_COSE', '"signature" expected 64 bytes', RANGE_ERROR);
  const unprotected = new CborMap();
  unprotected.set(COSE.HDR_KID, kid);
  return encode(new CborTag(COSE.TAG_SIGN1, [PROTECTED_ES256K, unprotected, payload, signature]));
}

export interface Sign1 {
  protectedBytes: Uint8Array;
  kid: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
}

/** Strict decode: exactly the shape docs/wire-format.md specifies, or a coded error. */
export function decodeSign1(bytes: Uint8Array, maxBytes?: number): Sign1 {
  if (!(bytes instanceof Uint8Array)) throw err('E_COSE', '"message" expected Uint8Array', TypeError);
  const limit = maxBytes || 65536 + 256;
  if (bytes.length > limit) throw err('E_COSE', 'message of ' + bytes.length + ' bytes exceeds ' + limit);
  const v = decode(bytes, { maxDepth: 4, requireDeterministic: true });
  if (!(v instanceof CborTag) || v.tag !== COSE.TAG_SIGN1) throw err('E_COSE', 'expected CBOR tag 18 (COSE_Sign1)');
  const a = v.value;
  if (!(a instanceof Array) || a.length !== 4) throw err('E_COSE', 'COSE_Sign1 expected an array of 4 items');
  const p = a[0];
  if (!(p instanceof Uint8Array)) throw err('E_COSE', 'protected header expected a byte string');
  const ph = decode(p, { maxDepth: 2, requireDeterministic: true });
  if (!(ph instanceof CborMap) || ph.entries.length !== 1 || ph.get(COSE.HDR_ALG) !== COSE.ALG_ES256K)
    throw err('E_COSE', 'protected header must be exactly {1: -47} (ES256K)');
  const u = a[1];
  if (!(u instanceof CborMap) || u.entries.length !== 1) throw err('E_COSE', 'unprotected header must hold only kid');
  const kid = u.get(COSE.HDR_KID);
  if (!(kid instanceof Uint8Array) || kid.length !== COSE.KID_BYTES) throw err('E_COSE', 'kid expected 20 bytes');
  const payload = a[2];
  if (!(payload instanceof Uint8Array)) throw err('E_COSE', 'payload expected a byte string (detached payloads not allowed)');
  const sig = a[3];
  if (!(sig instanceof Uint8Array) || sig.length !== COSE.SIG_BYTES) throw err('E_COSE', 'signature expected 64 bytes');
  return { protectedBytes: p, kid: kid, payload: payload, signature: sig };
}
