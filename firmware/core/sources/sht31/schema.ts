// Config of an SHT3x-DIS temperature/humidity sensor on an I2C bus.
import type { Schema } from '../../config/schema.js';

/** Bounds of the options below, named so tests can hit them. */
export const SHT31_MAX_READ_RETRIES = 10;
export const SHT31_MAX_RETRY_MS = 100;
export const SHT31_MAX_STUCK_READS = 1000;

export const SHT31_SCHEMA: Schema = {
  bus: { type: 'string', maxLength: 16, default: 'I2C1', doc: 'board I2C bus name ("I2C1"); the board file sets its pins unless sda/scl are given' },
  sda: { type: 'pin', doc: 'SDA pin, e.g. "D21" (needs a pull-up; most breakout boards carry 10k)' },
  scl: { type: 'pin', doc: 'SCL pin, e.g. "D22"' },
  hz: { type: 'int', min: 10000, max: 1000000, default: 100000, doc: 'I2C clock in Hz (the SHT3x allows up to 1 MHz)' },
  address: { type: 'int', min: 0x44, max: 0x45, default: 0x44, doc: '7-bit address: 68 (0x44, ADDR to GND) or 69 (0x45, ADDR to VDD)' },
  repeatability: {
    type: 'string',
    maxLength: 6,
    oneOf: ['high', 'medium', 'low'],
    default: 'high',
    doc: 'single-shot repeatability: high (0.04 Cel noise, 15.5 ms), medium (6.5 ms), low (4.5 ms)',
  },
  readRetries: {
    type: 'int',
    min: 0,
    max: SHT31_MAX_READ_RETRIES,
    default: 2,
    doc: 'extra read attempts when the sensor still NACKs the read-out after the maximum measurement time',
  },
  retryMs: { type: 'int', min: 1, max: SHT31_MAX_RETRY_MS, default: 5, doc: 'wait between those read attempts, ms' },
  stuckReads: {
    type: 'int',
    min: 0,
    max: SHT31_MAX_STUCK_READS,
    default: 0,
    doc: 'reject readings once this many consecutive read-outs carry identical raw words (0 = off; 10 is a safe choice: the 16-bit signals are noisy)',
  },
};
