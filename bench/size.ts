// Section 3: bytes on the wire for a signed batch of energy-meter samples (3 values each), against
// the same data as JSON with a hex signature. Sizes are exact, so this section takes no time.
//
// The JSON reference, defined to be fair to JSON: compact JSON.stringify of the fields the signed
// payload carries — device address (40 hex; the COSE kid), boot, seq, prev hash (64 hex), pseq
// only where the CBOR carries it (not seq - 1), synced, up, readings as {n, u, s|v, t} objects
// (the Batch's own reading objects), health — plus "sig": 128 hex chars (r || s). The format
// version and the COSE protected header are left out of the JSON (they favour JSON). A second
// reference packs the readings as RFC 8428 SenML JSON with the same base-name/base-time/base-sum
// compression the CBOR uses, to show what the binary encoding alone buys. Neither counts MQTT
// framing (the topic carries the address for both).
import { encodePayload, seal, deviceAddress, fromHex, toHex, decodeSign1, type CborMap } from '../firmware/core/index.js';
import type { CborValue } from '../firmware/core/codec/cbor.js';
import { encodePack, SENML } from '../firmware/core/telemetry/senml.js';
import type { Batch } from '../firmware/core/telemetry/batch.js';
import { energyBatch } from '../test/telemetry/envelope-cases.js';
import { target, okCell, type Section, type Table, type TargetResult } from './table.js';

export const SIZE_TARGETS = {
  /** Signed message of one sample, bytes. */
  oneSampleBytes: 220,
  /** Signed message of 16 samples, bytes per sample. */
  sixteenPerSample: 48,
  /** Signed message / JSON reference, for 1 and 16 samples. */
  vsJson: 1 / 3,
};

/** Fixed test key of the published envelope vectors (never a device key). */
const TEST_KEY = 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721';
const SAMPLE_COUNTS = [1, 4, 16];

/** The JSON reference of one signed batch (see the header). */
export function jsonReference(b: Batch, address: Uint8Array, sig: Uint8Array): string {
  return JSON.stringify({
    device: toHex(address),
    boot: b.boot,
    seq: b.seq,
    prev: toHex(b.prev),
    pseq: b.pseq === b.seq - 1 ? undefined : b.pseq,
    synced: b.synced,
    up: b.up,
    readings: b.readings,
    health: b.health,
    sig: toHex(sig),
  });
}

/** RFC 8428 §5 JSON labels for the CBOR labels of SENML. */
const JSON_LABEL: Record<number, string> = {
  [SENML.BVER]: 'bver', [SENML.BN]: 'bn', [SENML.BT]: 'bt', [SENML.BU]: 'bu', [SENML.BV]: 'bv', [SENML.BS]: 'bs',
  [SENML.N]: 'n', [SENML.U]: 'u', [SENML.V]: 'v', [SENML.VS]: 'vs', [SENML.VB]: 'vb', [SENML.S]: 's', [SENML.T]: 't', [SENML.UT]: 'ut',
};

/** The same reference with the readings as the SenML JSON pack the CBOR payload carries. */
export function senmlJsonReference(b: Batch, address: Uint8Array, sig: Uint8Array): string {
  const pack = encodePack(b.readings).map((m: CborValue) => {
    const o: Record<string, CborValue> = {};
    for (const [k, v] of (m as CborMap).entries) o[JSON_LABEL[k as number]] = v;
    return o;
  });
  return JSON.stringify({
    device: toHex(address), boot: b.boot, seq: b.seq, prev: toHex(b.prev), pseq: b.pseq === b.seq - 1 ? undefined : b.pseq, synced: b.synced, up: b.up,
    readings: pack, health: b.health, sig: toHex(sig),
  });
}

export const sizeSection: Section = {
  name: 'size',
  title: '3. Signed batch size',
  async run() {
    const priv = fromHex(TEST_KEY);
    const kid = deviceAddress(priv);
    const rows: Table['rows'] = [];
    const targets: TargetResult[] = [];
    for (const n of SAMPLE_COUNTS) {
      const b = energyBatch(n, 42);
      const payload = encodePayload(b);
      const msg = seal(payload, priv, kid);
      const sig = decodeSign1(msg).signature;
      const json = Buffer.byteLength(jsonReference(b, kid, sig));
      const senml = Buffer.byteLength(senmlJsonReference(b, kid, sig));
      const ratio = msg.length / json;
      const perSample = msg.length / n;
      let tgt = '';
      let ok: boolean | null = null;
      if (n === 1) {
        tgt = '<= ' + SIZE_TARGETS.oneSampleBytes + ' B; ratio <= 1/3';
        ok = msg.length <= SIZE_TARGETS.oneSampleBytes && ratio <= SIZE_TARGETS.vsJson;
        targets.push(target('size', '1 sample: signed bytes', msg.length, '<=', SIZE_TARGETS.oneSampleBytes, '<= ' + SIZE_TARGETS.oneSampleBytes + ' B'));
        targets.push(target('size', '1 sample: signed / JSON', ratio, '<=', SIZE_TARGETS.vsJson, '<= 1/3'));
      } else if (n === 16) {
        tgt = '<= ' + SIZE_TARGETS.sixteenPerSample + ' B/sample; ratio <= 1/3';
        ok = perSample <= SIZE_TARGETS.sixteenPerSample && ratio <= SIZE_TARGETS.vsJson;
        targets.push(target('size', '16 samples: signed bytes per sample', perSample, '<=', SIZE_TARGETS.sixteenPerSample, '<= ' + SIZE_TARGETS.sixteenPerSample + ' B'));
        targets.push(target('size', '16 samples: signed / JSON', ratio, '<=', SIZE_TARGETS.vsJson, '<= 1/3'));
      }
      rows.push({
        samples: n,
        readings: b.readings.length,
        payload: payload.length,
        signed: msg.length,
        perSample,
        json,
        ratio,
        senml,
        ratioSenml: msg.length / senml,
        target: tgt,
        ok: okCell(ok),
      });
    }
    return {
      tables: [
        {
          title: 'Signed batch size (COSE_Sign1, ES256K) vs JSON with a hex signature (ratio: signed / JSON)',
          columns: [
            { key: 'samples', header: 'samples' },
            { key: 'readings', header: 'values' },
            { key: 'payload', header: 'CBOR payload B' },
            { key: 'signed', header: 'signed B' },
            { key: 'perSample', header: 'signed B/sample', digits: 1 },
            { key: 'json', header: 'JSON B' },
            { key: 'ratio', header: 'ratio vs JSON', digits: 3 },
            { key: 'senml', header: 'SenML-JSON B' },
            { key: 'ratioSenml', header: 'ratio vs SenML-JSON', digits: 3 },
            { key: 'target', header: 'target' },
            { key: 'ok', header: 'ok' },
          ],
          rows,
          notes: [
            'Batches: test/telemetry/envelope-cases.ts energyBatch(n, 42) (energy Wh sum, power W, voltage V per sample; health with 5 fields).',
            'JSON: compact JSON.stringify of device (40 hex), boot, seq, prev (64 hex), synced, up, readings [{n,u,s|v,t}], health, sig (128 hex); pseq only when the CBOR has it; no version.',
            'SenML-JSON: the same with the readings packed as RFC 8428 JSON using the CBOR payload\'s base fields (bn/bt/bu/bs).',
          ],
        },
      ],
      targets,
    };
  },
};
