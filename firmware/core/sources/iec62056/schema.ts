// Config of an IEC 62056-21 mode C optical readout. Timings default to the standard's
// (IEC 62056-21:2002 clause 6: tr 200..1500 ms, ta 1500 ms) with margins for transmission time
// at 300 baud (one 7E1 character = 10 bits = 33 ms).
import type { Schema } from '../../config/schema.js';
import { IEC } from './decoder.js';

export const IEC62056_SCHEMA: Schema = {
  port: { type: 'string', maxLength: 16, required: true, doc: 'Serial port of the optical head, e.g. "Serial2"' },
  rx: { type: 'pin', doc: 'RX pin (phototransistor side of the head)' },
  tx: { type: 'pin', doc: 'TX pin (IR LED side of the head)' },
  address: {
    type: 'string',
    maxLength: IEC.MAX_ADDRESS_CHARS,
    pattern: /^[0-9A-Za-z ]*$/,
    patternDoc: 'digits, letters and spaces only (IEC 62056-21 clause 6.3.1)',
    default: '',
    doc: 'Device address sent in the request "/?address!"; empty asks whichever meter is there',
  },
  identTimeoutMs: { type: 'int', min: 500, max: 10000, default: 3000, doc: 'Wait for the identification after the request (tr <= 1500 ms plus up to 48 characters at 300 baud)' },
  ackDelayMs: { type: 'int', min: 0, max: IEC.TR_MAX_MS, default: 300, doc: 'Pause after the identification before sending the acknowledgement (tr >= 200 ms)' },
  switchDelayMs: { type: 'int', min: 0, max: 2000, default: 250, doc: 'Pause after writing the acknowledgement before switching baud: it must have left the UART (6 characters at 300 baud = 200 ms)' },
  charTimeoutMs: { type: 'int', min: 100, max: 10000, default: IEC.TA_MS, doc: 'Longest silence inside the data message (ta)' },
  dataTimeoutMs: { type: 'int', min: 1000, max: 600000, default: 60000, doc: 'Longest whole data message' },
  retries: { type: 'int', min: 0, max: 5, default: 2, doc: 'Further attempts after a failed exchange' },
  retryDelayMs: { type: 'int', min: 0, max: 10000, default: 1500, doc: 'Pause before a retry, so the meter falls back to 300 baud and its idle state' },
  maxReadoutBytes: { type: 'int', min: IEC.MIN_READOUT_BYTES, max: 32768, default: IEC.MAX_READOUT_BYTES, doc: 'Hard bound on one data message' },
};
