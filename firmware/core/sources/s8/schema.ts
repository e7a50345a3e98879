// Config of a Senseair S8 on a UART (docs/sources/s8.md).
import type { Schema } from '../../config/schema.js';
import { S8_ANY_ADDRESS } from './decoder.js';

export const S8_SCHEMA: Schema = {
  port: { type: 'string', maxLength: 16, required: true, doc: 'UART the sensor is on, e.g. "Serial2"' },
  rx: { type: 'pin', doc: 'ESP32 RX pin (the sensor\'s UART TxD)' },
  tx: { type: 'pin', doc: 'ESP32 TX pin (the sensor\'s UART RxD)' },
  address: { type: 'int', min: 1, max: 254, default: S8_ANY_ADDRESS, doc: 'Modbus address; 254 (0xFE) reaches any single sensor' },
  timeoutMs: { type: 'int', min: 20, max: 2000, default: 200, doc: 'how long to wait for an answer (the 7 bytes take 7.3 ms at 9600 baud)' },
  retries: { type: 'int', min: 0, max: 5, default: 1, doc: 'requests repeated after a timeout or a bad answer, per read' },
};
