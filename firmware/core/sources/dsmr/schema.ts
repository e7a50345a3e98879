// Config of a DSMR P1 source. Serial settings follow from the meter's DSMR version (DSMR 5.0.2
// §5.3: 115200 8N1; DSMR 2.2/3.0: 9600 7E1) unless overridden.
import type { Schema } from '../../config/schema.js';
import { DSMR } from './decoder.js';

/** Line settings per DSMR version, and whether telegrams without CRC are acceptable. */
export const DSMR_VERSIONS: { [v: string]: { baud: number; bits: 7 | 8; parity: 'none' | 'even'; noCrc: boolean; periodMs: number } } = {
  '2.2': { baud: 9600, bits: 7, parity: 'even', noCrc: true, periodMs: 10000 },
  '3': { baud: 9600, bits: 7, parity: 'even', noCrc: true, periodMs: 10000 },
  '4': { baud: 115200, bits: 8, parity: 'none', noCrc: false, periodMs: 10000 },
  '5': { baud: 115200, bits: 8, parity: 'none', noCrc: false, periodMs: 1000 },
};

export const DSMR_SCHEMA: Schema = {
  port: { type: 'string', maxLength: 16, required: true, doc: 'Serial port the P1 data line reaches through an inverter, e.g. "Serial2"' },
  rx: { type: 'pin', doc: 'RX pin of that port, e.g. "D16" (Espruino: Serial2.setup rx)' },
  requestPin: { type: 'pin', doc: 'GPIO driving P1 "Data Request" (RJ12 pin 2) high; leave out when the line is tied to +5 V' },
  requestMode: {
    type: 'string',
    maxLength: 10,
    oneOf: ['continuous', 'perRead'],
    default: 'continuous',
    doc: 'continuous: request held high, every telegram parsed; perRead: raised at each read until one new telegram arrives (saves CPU on DSMR 5 meters that send every second)',
  },
  version: { type: 'string', maxLength: 3, oneOf: ['2.2', '3', '4', '5'], default: '5', doc: 'DSMR version: picks 115200 8N1 (4, 5) or 9600 7E1 (2.2, 3); only 2.2 and 3 accept telegrams without CRC' },
  baud: { type: 'int', min: 300, max: 921600, doc: 'Override the version default baud rate' },
  framing: { type: 'string', maxLength: 3, oneOf: ['8N1', '7E1'], doc: 'Override the version default character format' },
  maxTelegramBytes: {
    type: 'int',
    min: DSMR.MIN_TELEGRAM_BYTES,
    max: 8192,
    default: DSMR.MAX_TELEGRAM_BYTES,
    doc: 'Hard bound on one telegram; longer ones are dropped and counted (overflows)',
  },
  verify: {
    type: 'string',
    maxLength: 6,
    oneOf: ['onRead', 'each'],
    default: 'onRead',
    doc: 'onRead: keep the two newest telegrams as bytes and check/decode only what a read needs (3 x maxTelegramBytes of RAM; saves the CPU of decoding a telegram every second); each: check and decode every telegram (counters cover all). DSMR 2.2/3 always use each',
  },
  maxAgeMs: { type: 'int', min: 500, max: 3600000, default: 30000, doc: 'A read answers with the newest valid telegram only if it is at most this old' },
  readTimeoutMs: { type: 'int', min: 500, max: 120000, default: 12000, doc: 'perRead: how long to wait for a fresh telegram (a DSMR 4 meter sends every 10 s)' },
  peaks: { type: 'bool', default: false, doc: 'Report the e-MUCS (Belgium) history of monthly peaks 0-0:98.1.0 as pk<i>, pk<i>_m, pk<i>_ts' },
};
