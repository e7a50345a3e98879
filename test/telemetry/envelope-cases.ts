// Inputs of the published envelope vectors. Keys are fixed test keys, never device keys.
import type { Batch } from '../../firmware/core/telemetry/batch.js';

const Z32 = new Uint8Array(32);
function h32(fill: number) {
  const b = new Uint8Array(32);
  for (let i = 0; i < 32; i++) b[i] = (fill + i * 29) & 255;
  return b;
}

export interface EnvelopeCase {
  description: string;
  privateKey: string;
  batch: Batch;
}

/** One energy-meter sample: import total (Wh), active power (W, float32 from a Modbus register), voltage (V). */
export function energySample(t: number, i: number) {
  return [
    { n: 'm0/e', u: 'Wh', s: 1234567 + i * 21, t },
    { n: 'm0/p', u: 'W', v: 1234.5 + (i % 7) * 0.25, t },
    { n: 'm0/u', u: 'V', v: 230.25 - (i % 3) * 0.5, t },
  ];
}

export function energyBatch(samples: number, seq: number): Batch {
  const readings = [];
  for (let i = 0; i < samples; i++) readings.push(...energySample(1764080000 + i * 10, i));
  return {
    boot: 7,
    seq,
    prev: h32(seq),
    pseq: seq - 1,
    synced: true,
    up: 86400,
    readings,
    health: { queue: 0, dropped: 0, oldestS: 0, freeMem: 61234, reconnects: 1 },
  };
}

export function envelopeCases(): EnvelopeCase[] {
  return [
    {
      description: 'first batch of a device: seq 1, all-zero prev, one energy sample',
      privateKey: '0000000000000000000000000000000000000000000000000000000000000001',
      batch: { ...energyBatch(1, 1), boot: 1, prev: Z32, pseq: 0, up: 12 },
    },
    {
      description: 'one 3-value energy sample, synced clock',
      privateKey: 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721',
      batch: energyBatch(1, 42),
    },
    {
      description: '16 energy samples in one batch',
      privateKey: 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721',
      batch: energyBatch(16, 43),
    },
    {
      description: 'after a reboot: pseq skips unused reserved numbers; unsynced clock (times relative to sealing, <= 0)',
      privateKey: 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140',
      batch: {
        boot: 8,
        seq: 129,
        prev: h32(3),
        pseq: 77,
        synced: false,
        up: 35,
        readings: [
          { n: 'aq/pm25', u: 'ug/m3', v: 8, t: -30 },
          { n: 'aq/pm10', u: 'ug/m3', v: 11, t: -30 },
          { n: 'aq/temp', u: 'Cel', v: 21.5, t: -30 },
          { n: 'aq/pm25', u: 'ug/m3', v: 9, t: 0 },
        ],
        health: { queue: 3, dropped: 0, oldestS: 40, reconnects: 0 },
      },
    },
    {
      description: 'outbox overflow reported: signed drop range, string and boolean values',
      privateKey: '0000000000000000000000000000000000000000000000000000000000000002',
      batch: {
        boot: 2,
        seq: 500,
        prev: h32(9),
        pseq: 499,
        synced: true,
        up: 3600,
        readings: [
          { n: 'hs/state', vs: 'online', t: 1764080000 },
          { n: 'hs/tx', vb: true, t: 1764080000 },
          { n: 'hs/rxok', s: 1234, t: 1764080000 },
        ],
        health: { queue: 100, dropped: 17, oldestS: 7200, freeMem: 1000, reconnects: 12 },
        drop: { count: 17, firstSeq: 400, lastSeq: 416 },
      },
    },
  ];
}
