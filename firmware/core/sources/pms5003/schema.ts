// Config of a Plantower PMS5003 particulate sensor on a UART (9600 8N1).
import type { Schema } from '../../config/schema.js';

export const PMS5003_MAX_WARMUP_MS = 300000;
export const PMS5003_MIN_TIMEOUT_MS = 100;
export const PMS5003_MAX_TIMEOUT_MS = 60000;
export const PMS5003_MAX_RETRIES = 5;
export const PMS5003_MAX_STUCK_READS = 1000;

export const PMS5003_SCHEMA: Schema = {
  port: { type: 'string', maxLength: 16, required: true, doc: 'board UART, e.g. "Serial2"' },
  rx: { type: 'pin', doc: 'ESP32 RX pin, wired to the sensor\'s TX (pin 5)' },
  tx: { type: 'pin', doc: 'ESP32 TX pin, wired to the sensor\'s RX (pin 4)' },
  mode: {
    type: 'string',
    maxLength: 7,
    oneOf: ['passive', 'active'],
    default: 'passive',
    doc: 'passive: the driver asks for each frame (0xE2); active: the sensor streams frames and the driver takes the next one',
  },
  sleep: {
    type: 'bool',
    default: true,
    doc: 'stop the fan between reads (its life is ~8000 h running) and wake it warmUpMs before the next read; used only when intervalMs > warmUpMs + 2 * timeoutMs',
  },
  warmUpMs: {
    type: 'int',
    min: 0,
    max: PMS5003_MAX_WARMUP_MS,
    default: 30000,
    doc: 'time after wake-up (and after start) before values are trusted; the data manual says 30 s',
  },
  timeoutMs: {
    type: 'int',
    min: PMS5003_MIN_TIMEOUT_MS,
    max: PMS5003_MAX_TIMEOUT_MS,
    default: 3000,
    doc: 'wait for a command reply or a data frame (active frames come every 0.2-2.3 s)',
  },
  retries: { type: 'int', min: 0, max: PMS5003_MAX_RETRIES, default: 1, doc: 'passive mode: repeat the read request this many times after a timeout' },
  stuckReads: {
    type: 'int',
    min: 0,
    max: PMS5003_MAX_STUCK_READS,
    default: 0,
    doc: 'reject readings once this many consecutive frames carry identical data words (0 = off; clean air can repeat, so use a large N)',
  },
};
