// Config of a Nova Fitness SDS011 particulate sensor on a UART (9600 8N1).
import type { Schema } from '../../config/schema.js';

export const SDS011_MAX_WARMUP_MS = 300000;
export const SDS011_MIN_TIMEOUT_MS = 100;
export const SDS011_MAX_TIMEOUT_MS = 60000;
export const SDS011_MAX_RETRIES = 5;
export const SDS011_MAX_STUCK_READS = 1000;

export const SDS011_SCHEMA: Schema = {
  port: { type: 'string', maxLength: 16, required: true, doc: 'board UART, e.g. "Serial2"' },
  rx: { type: 'pin', doc: 'ESP32 RX pin, wired to the sensor\'s TXD' },
  tx: { type: 'pin', doc: 'ESP32 TX pin, wired to the sensor\'s RXD' },
  mode: {
    type: 'string',
    maxLength: 6,
    oneOf: ['query', 'active'],
    default: 'query',
    doc: 'query: the driver asks for each reading (command 4); active: the sensor reports every second and the driver takes the next frame',
  },
  deviceId: {
    type: 'int',
    min: 0,
    max: 0xffff,
    default: 0xffff,
    doc: 'the sensor\'s 16-bit id (printed in its frames); 65535 addresses any sensor and accepts any id',
  },
  sleep: {
    type: 'bool',
    default: true,
    doc: 'laser and fan off between reads (the laser is rated ~8000 h), woken warmUpMs before the next read; used only when intervalMs > warmUpMs + 2 * timeoutMs',
  },
  warmUpMs: { type: 'int', min: 0, max: SDS011_MAX_WARMUP_MS, default: 30000, doc: 'time after wake-up (and after start) before values are trusted' },
  timeoutMs: {
    type: 'int',
    min: SDS011_MIN_TIMEOUT_MS,
    max: SDS011_MAX_TIMEOUT_MS,
    default: 3000,
    doc: 'wait for a command reply or a data frame (active frames come every second)',
  },
  retries: { type: 'int', min: 0, max: SDS011_MAX_RETRIES, default: 2, doc: 'repeat a command (or a query) this many times after a timeout' },
  stuckReads: {
    type: 'int',
    min: 0,
    max: SDS011_MAX_STUCK_READS,
    default: 0,
    doc: 'reject readings once this many consecutive frames carry identical values (0 = off)',
  },
};
