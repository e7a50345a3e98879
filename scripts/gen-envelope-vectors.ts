// Writes test/vectors/envelope/batches.json: published vectors for the signed batch format
// (docs/wire-format.md). The bytes come from the core; test/telemetry/vectors-independent.test.ts
// checks every one with @noble/secp256k1, @noble/hashes and cbor-x only, so a second
// implementation can rely on them. Run: node --import tsx scripts/gen-envelope-vectors.ts
import { writeFileSync } from 'node:fs';
import { encodePayload, type Batch } from '../firmware/core/telemetry/batch.js';
import { createSealJob, deviceAddress, signingHash, payloadHash } from '../firmware/core/telemetry/envelope.js';
import { getPublicKey } from '../firmware/core/crypto/secp256k1/index.js';
import { toHex, fromHex } from '../firmware/core/util/bytes.js';
import { envelopeCases } from '../test/telemetry/envelope-cases.js';

const out = envelopeCases().map((c) => {
  const priv = fromHex(c.privateKey);
  const payload = encodePayload(c.batch);
  const kid = deviceAddress(priv);
  const job = createSealJob(payload, priv, kid);
  while (!job.step()) {}
  const message = job.result();
  return {
    description: c.description,
    privateKey: c.privateKey,
    publicKey: toHex(getPublicKey(priv, false)),
    address: toHex(kid),
    batch: batchToJson(c.batch),
    payloadHex: toHex(payload),
    payloadHash: toHex(payloadHash(payload)),
    signingHash: toHex(signingHash(payload)),
    signature: toHex(message.subarray(message.length - 64)),
    messageHex: toHex(message),
  };
});

function batchToJson(b: Batch) {
  return { ...b, prev: toHex(b.prev) };
}

const doc = {
  _about:
    'Signed telemetry batches, format version 1 (docs/wire-format.md). batch: the input (prev as hex, times in seconds); ' +
    'payloadHex: the deterministic CBOR payload; signingHash: SHA-256 of the COSE Sig_structure; signature: r||s, RFC 6979, low-S; ' +
    'messageHex: the whole COSE_Sign1 (tag 18). address = keccak-256(publicKey without 0x04)[12:] = kid.',
  valid: out,
};
writeFileSync('test/vectors/envelope/batches.json', JSON.stringify(doc, null, 1) + '\n');
console.log('wrote ' + out.length + ' vectors to test/vectors/envelope/batches.json');
