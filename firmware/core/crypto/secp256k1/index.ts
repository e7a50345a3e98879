// secp256k1 ECDSA without BigInt: keys, RFC 6979 signing as a steppable job, verification and
// public-key recovery, byte-identical to @noble/secp256k1 v3 (prehash: false, lowS: true).
// Modules: field.ts (mod p), scalar.ts (mod n), modinv.ts (divsteps inversion), point.ts
// (Jacobian arithmetic, SEC 1 encoding), gtable.ts (fixed-base comb and its 16 KB table),
// ecdsa.ts (keys, verify, recover), sign-job.ts (signing).
//
// Platform slots: installConvolve(E.convolve) for native field products; installGTable(bytes)
// for the precomputed table (else built on first use); SHA-256 through ../sha256.ts.

export { getPublicKey, isValidPrivateKey, verify, recoverPublicKey, type VerifyOptions } from './ecdsa.js';
export {
  createSignJob, sign, DEFAULT_SIGN_BUDGET, MAX_SIGN_BUDGET, MAX_DRBG_ITERATIONS, WORK_COSTS,
  type Signature, type SignJob, type SignOptions,
} from './sign-job.js';
export { buildGTable, installGTable, gTableInstalled, GTABLE_BYTES } from './gtable.js';
export { installConvolve, convolveInstalled, fieldOpCounts, resetFieldOpCounts, type ConvolveFn } from './field.js';
