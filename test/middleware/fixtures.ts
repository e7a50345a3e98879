// Test devices for the middleware tests: fixed test keys (never device keys), batches chained
// the way a device chains them, sealed with the core's encodePayload + seal.
import { encodePayload, type Batch } from '../../firmware/core/telemetry/batch.js';
import { seal, createSealJob, deviceAddress, payloadHash } from '../../firmware/core/telemetry/envelope.js';
import { getPublicKey } from '../../firmware/core/crypto/secp256k1/index.js';
import { fromHex, toHex } from '../../firmware/core/util/bytes.js';
import type { Reading } from '../../firmware/core/telemetry/senml.js';
import type { Registry } from '../../agent-sim/middleware/registry.js';

export const TEST_KEYS = {
  alice: 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721',
  bob: '0000000000000000000000000000000000000000000000000000000000000002',
  carol: 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140',
  mallory: '1111111111111111111111111111111111111111111111111111111111111111',
};

export interface Sealed {
  batch: Batch;
  payload: Uint8Array;
  hash: Uint8Array;
  message: Uint8Array;
}

export interface TestDevice {
  priv: Uint8Array;
  publicKey: Uint8Array;
  kid: Uint8Array;
  address: string;
  topic(prefix?: string): string;
  /**
   * The next batch in this device's chain (seq = last + 1 unless given, pseq/prev = the last
   * sealed batch). `over` replaces fields; the chain state follows what was sealed.
   */
  next(over?: Partial<Batch>): Sealed;
  /** Seal an arbitrary payload with this key (and this kid unless given). */
  sealPayload(payload: Uint8Array, kid?: Uint8Array): Uint8Array;
}

export function reading(seq: number, synced = true): Reading[] {
  const t = synced ? 1764080000 + seq * 10 : -5;
  return [
    { n: 'm0/e', u: 'Wh', s: 1234567 + seq, t },
    { n: 'm0/p', u: 'W', v: 1234.5, t },
  ];
}

export function testDevice(privHex: string): TestDevice {
  const priv = fromHex(privHex);
  const kid = deviceAddress(priv);
  let lastSeq = 0;
  let lastHash: Uint8Array = new Uint8Array(32);
  const dev: TestDevice = {
    priv,
    publicKey: getPublicKey(priv, false),
    kid,
    address: toHex(kid),
    topic: (prefix = 'depin') => prefix + '/' + toHex(kid) + '/tele',
    next(over = {}) {
      const seq = over.seq ?? lastSeq + 1;
      const batch: Batch = {
        boot: 1,
        seq,
        prev: lastHash,
        pseq: lastSeq,
        synced: true,
        up: 100 + seq,
        readings: reading(seq, over.synced ?? true),
        health: { queue: 0, dropped: 0 },
        ...over,
      };
      const payload = encodePayload(batch);
      const message = seal(payload, priv, kid);
      lastSeq = seq;
      lastHash = payloadHash(payload);
      return { batch, payload, hash: lastHash, message };
    },
    sealPayload(payload, k) {
      const job = createSealJob(payload, priv, k || kid);
      while (!job.step()) {
        /* run to completion */
      }
      return job.result();
    },
  };
  return dev;
}

export function registryOf(devs: TestDevice[], revoked: TestDevice[] = []): Registry {
  return {
    devices: devs.map((d, i) => ({
      address: d.address,
      publicKey: toHex(d.publicKey),
      label: 'dev' + i,
      revoked: revoked.includes(d),
    })),
  };
}

/** Deterministic PRNG (mulberry32) for reproducible fuzzing. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
