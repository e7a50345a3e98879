// Section 2: CBOR encode/decode, the core codec against cbor-x (configured as a plain RFC 8949
// codec: no tag 64 for byte arrays, maps decoded as Map, no record extension), on a telemetry
// payload and on a generic mixed document. Both decoders read the same bytes (the core's
// deterministic encoding, which is valid CBOR for cbor-x); each encoder encodes the value in its
// own model of the same document (the core: CborMap or plain objects; cbor-x: Map or plain objects).
import { Encoder } from 'cbor-x';
import { cborEncode, cborDecode, encodePayload, type CborMap } from '../firmware/core/index.js';
import { energyBatch } from '../test/telemetry/envelope-cases.js';
import { rates, type Section, type Table } from './table.js';

/** cbor-x as a plain codec (STYLE.md: its defaults tag byte arrays and use records). */
export const CBORX_OPTIONS = { tagUint8Array: false, mapsAsObjects: false, useRecords: false };

/** Samples in the telemetry payload of this section. */
const PAYLOAD_SAMPLES = 16;

/** A document of the kinds of value a config or status record holds; deterministic. */
export function mixedDocument(): Record<string, unknown> {
  const items = [];
  for (let i = 0; i < 20; i++)
    items.push({ id: i, name: 'sensor-' + i, kind: i % 3 === 0 ? 'energy' : 'air', on: i % 2 === 0, gain: 1 + i / 8, offset: -i * 3, last: 1764080000 + i * 60 });
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = (i * 37 + 11) & 255;
  return {
    v: 1,
    device: 'dev-017',
    firmware: 'depin-agent/0.1.0',
    enabled: true,
    disabledReason: null,
    bootCount: 4711,
    uptimeMs: 86400123,
    counter64: 4294967296 * 1000 + 7,
    negative: -123456789,
    ratio: 0.1,
    scale: 1.5,
    location: { lat: 52.520008, lon: 13.404954, alt: 34.5, label: 'Zürich ☂ north roof' },
    tags: ['roof', 'grid-tied', 'phase-3', 'v2'],
    key: bytes,
    history: [230.25, 229.75, 231, 230.5, 229.25, 228.75, 230, 231.25],
    items,
  };
}

export const cborSection: Section = {
  name: 'cbor',
  title: '2. CBOR',
  async run(opts) {
    const cx = new Encoder(CBORX_OPTIONS);
    const batch = energyBatch(PAYLOAD_SAMPLES, 43);
    const payload = encodePayload(batch);
    const coreTree = cborDecode(payload) as CborMap;
    const cxTree = cx.decode(payload);
    const mixed = mixedDocument();
    const mixedBytes = cborEncode(mixed as never);

    const docs = [
      {
        doc: 'telemetry payload (' + PAYLOAD_SAMPLES + ' samples, ' + batch.readings.length + ' readings)',
        bytes: payload,
        enc: [
          { impl: 'core encode(CborMap tree)', fn: () => cborEncode(coreTree), out: () => cborEncode(coreTree) },
          { impl: 'core encodePayload(Batch)', fn: () => encodePayload(batch), out: () => encodePayload(batch) },
          { impl: 'cbor-x encode(Map tree)', fn: () => cx.encode(cxTree), out: () => cx.encode(cxTree) },
        ],
      },
      {
        doc: 'mixed document (' + mixedBytes.length + ' B, 20 records)',
        bytes: mixedBytes,
        enc: [
          { impl: 'core encode(object)', fn: () => cborEncode(mixed as never), out: () => cborEncode(mixed as never) },
          { impl: 'cbor-x encode(object)', fn: () => cx.encode(mixed), out: () => cx.encode(mixed) },
        ],
      },
    ];

    const rows: Table['rows'] = [];
    for (const d of docs) {
      const bytes = d.bytes;
      // Encode
      const er = rates(opts, d.enc.map((e) => e.fn));
      const eref = er[d.enc.length - 1].opsPerSec;
      d.enc.forEach((e, k) => {
        const out = e.out();
        rows.push({
          doc: d.doc,
          op: 'encode',
          impl: e.impl,
          rate: er[k].opsPerSec,
          mbs: (er[k].opsPerSec * out.length) / 1e6,
          outBytes: out.length,
          same: Buffer.from(out).equals(Buffer.from(bytes)) ? 'yes' : 'no',
          ratio: er[k].opsPerSec / eref,
        });
      });
      // Decode the same bytes
      const dec = [
        { impl: 'core decode', fn: () => cborDecode(bytes) },
        { impl: 'cbor-x decode', fn: () => cx.decode(bytes) },
      ];
      const dr = rates(opts, dec.map((x) => x.fn));
      const dref = dr[1].opsPerSec;
      dec.forEach((x, k) =>
        rows.push({ doc: d.doc, op: 'decode', impl: x.impl, rate: dr[k].opsPerSec, mbs: (dr[k].opsPerSec * bytes.length) / 1e6, outBytes: bytes.length, same: '', ratio: dr[k].opsPerSec / dref }),
      );
    }
    return {
      tables: [
        {
          title: 'CBOR on Node (ratio: against cbor-x for the same document and operation, same run)',
          columns: [
            { key: 'doc', header: 'document' },
            { key: 'op', header: 'op' },
            { key: 'impl', header: 'implementation' },
            { key: 'rate', header: 'ops/s (median)' },
            { key: 'mbs', header: 'MB/s', digits: 1 },
            { key: 'outBytes', header: 'bytes' },
            { key: 'same', header: 'same bytes as core' },
            { key: 'ratio', header: 'ratio vs cbor-x', digits: 2 },
          ],
          rows,
          notes: [
            'cbor-x ' + JSON.stringify(CBORX_OPTIONS) + '; both decoders read the core\'s deterministic bytes.',
            'The core sorts map keys and picks the shortest exact float (RFC 8949 §4.2.1); cbor-x keeps insertion order and writes float64.',
          ],
        },
      ],
      targets: [],
    };
  },
};
