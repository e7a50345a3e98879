// Sealing a batch payload into a signed COSE_Sign1 and opening one again. Sealing runs as a
// resumable job so the device's event loop keeps running during the ~0.3 s signature.
import { sha256 } from '../crypto/sha256.js';
import { keccak256 } from '../crypto/keccak.js';
import { getPublicKey, createSignJob, verify, recoverPublicKey, type SignJob } from '../crypto/secp256k1/index.js';
import { PROTECTED_ES256K, sigStructure, encodeSign1, decodeSign1, type Sign1 } from '../codec/cose.js';
import { abytes, err, RANGE_ERROR } from '../util/errors.js';
import { equalBytes } from '../util/bytes.js';

/** Device address: last 20 bytes of keccak-256 of the uncompressed public key without 0x04. */
export function addressFromPublicKey(pub: Uint8Array): Uint8Array {
  abytes('publicKey', pub, 65);
  if (pub[0] !== 4) throw err('E_KEY', '"publicKey" expected uncompressed (0x04 prefix)', RANGE_ERROR);
  return keccak256(pub.subarray(1)).subarray(12);
}

export function deviceAddress(priv: Uint8Array): Uint8Array {
  return addressFromPublicKey(getPublicKey(priv, false));
}

/** SHA-256 of the Sig_structure: the 32 bytes the ECDSA signature covers. */
export function signingHash(payload: Uint8Array): Uint8Array {
  return sha256(sigStructure(PROTECTED_ES256K, payload));
}

/** The chain link value for the next batch's `prev`. */
export function payloadHash(payload: Uint8Array): Uint8Array {
  return sha256(payload);
}

export interface SealJob {
  /** Does a bounded amount of work; true when the message is ready. */
  step(): boolean;
  /** The COSE_Sign1 bytes; throws before step() returned true. */
  result(): Uint8Array;
  progress(): number;
}

/** `kid` is the device address; pass it in so the device does not re-derive it per batch. */
export function createSealJob(payload: Uint8Array, priv: Uint8Array, kid: Uint8Array, budget?: number): SealJob {
  abytes('payload', payload);
  abytes('kid', kid, 20);
  const job: SignJob = createSignJob(signingHash(payload), priv, budget === undefined ? undefined : { budget: budget });
  let out: Uint8Array | undefined;
  return {
    step: function () {
      if (out) return true;
      if (!job.step()) return false;
      out = encodeSign1(kid, payload, job.result().compact);
      return true;
    },
    result: function () {
      if (!out) throw err('E_STATE', 'seal job not finished: call step() until it returns true');
      return out;
    },
    progress: function () {
      return out ? 1 : job.progress;
    },
  };
}

export function seal(payload: Uint8Array, priv: Uint8Array, kid?: Uint8Array): Uint8Array {
  const job = createSealJob(payload, priv, kid || deviceAddress(priv));
  while (!job.step()) {
    /* run to completion */
  }
  return job.result();
}

export interface Opened extends Sign1 {
  /** Uncompressed public key that verified the signature. */
  publicKey: Uint8Array;
}

/**
 * Decode and verify. With `publicKey` (from a registry) the key must hash to kid and verify;
 * without, the key is recovered (ids 0 and 1) and must hash to kid.
 */
export function openEnvelope(bytes: Uint8Array, publicKey?: Uint8Array): Opened {
  const m = decodeSign1(bytes);
  const h = signingHash(m.payload);
  if (publicKey) {
    if (!equalBytes(addressFromPublicKey(publicKey), m.kid)) throw err('E_KID', 'kid does not match the registered public key');
    if (!verify(m.signature, h, publicKey)) throw err('E_SIGNATURE', 'signature does not verify');
    return { protectedBytes: m.protectedBytes, kid: m.kid, payload: m.payload, signature: m.signature, publicKey: publicKey };
  }
  for (let rec = 0; rec < 2; rec++) {
    let pub: Uint8Array;
    try {
      pub = recoverPublicKey(m.signature, rec, h, false);
    } catch (e) {
      continue;
    }
    if (equalBytes(addressFromPublicKey(pub), m.kid) && verify(m.signature, h, pub))
      return { protectedBytes: m.protectedBytes, kid: m.kid, payload: m.payload, signature: m.signature, publicKey: pub };
  }
  throw err('E_SIGNATURE', 'signature does not verify for kid');
}
