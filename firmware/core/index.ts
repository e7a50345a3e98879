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

// MQTT 3.1.1: pure codec and the session client
export { encode as mqttEncode, decode as mqttDecode, createParser as createMqttParser, CONNACK_CODES } from './codec/mqtt.js';
export { MqttClient, MQTT_CLIENT_DEFAULTS } from './session/mqtt-client.js';

// Persistent state on flash
export { Outbox, OUTBOX_DEFAULTS } from './session/outbox.js';
export { Counters, COUNTERS_DEFAULTS } from './session/counters.js';
export { StateLog, crc32, installCrc32 } from './session/flash-log.js';

// The agent loop
export { Agent, AGENT_DEFAULTS, encodeCommand, loadOrCreateKey } from './session/agent.js';

// Config schemas and sources
export { validate as validateConfig, parseConfig } from './config/schema.js';
export { COMMON_SCHEMA, checkSourceConfigs, createSources } from './sources/registry.js';
export { ALL_SOURCES } from './sources/index.js';
