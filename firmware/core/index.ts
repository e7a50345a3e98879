// Public surface of the core, and the entry of the device bundle (global `DepinCore`).
export { err, abytes, aint, RANGE_ERROR } from './util/errors.js';
export { concatBytes, equalBytes, toHex, fromHex, utf8Encode, utf8Decode, bytesFromBinaryString } from './util/bytes.js';

// Hashes
export { sha256, sha256Portable, installSha256, sha256IsNative, SHA256_OUTPUT_LEN } from './crypto/sha256.js';
export { hmacSha256, createHmacSha256 } from './crypto/hmac.js';
export { keccak256 } from './crypto/keccak.js';

// secp256k1 (BigInt-free)
export {
  getPublicKey, isValidPrivateKey, verify, recoverPublicKey, createSignJob, sign,
  buildGTable, installGTable, gTableInstalled, GTABLE_BYTES,
  installConvolve, convolveInstalled, fieldOpCounts, resetFieldOpCounts,
} from './crypto/secp256k1/index.js';

// Codecs
export {
  encode as cborEncode, decode as cborDecode, decodeFirst as cborDecodeFirst, CborMap, CborTag,
} from './codec/cbor.js';
export { COSE, PROTECTED_ES256K, sigStructure, encodeSign1, decodeSign1 } from './codec/cose.js';

// Signed telemetry
export { encodePayload, decodePayload, FORMAT_VERSION } from './telemetry/batch.js';
export { encodePack, decodePack } from './telemetry/senml.js';
export {
  addressFromPublicKey, deviceAddress, signingHash, payloadHash, createSealJob, seal, openEnvelope,
} from './telemetry/envelope.js';
