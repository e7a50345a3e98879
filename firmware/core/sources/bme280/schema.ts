// Config of a BME280 / BMP280 on an I2C bus (forced mode: one measurement per read).
import type { Schema } from '../../config/schema.js';

export const BME280_MAX_POLLS = 50;
export const BME280_MAX_POLL_MS = 50;
export const BME280_MAX_STUCK_READS = 1000;

const OVERSAMPLING = ['1x', '2x', '4x', '8x', '16x'];

export const BME280_SCHEMA: Schema = {
  bus: { type: 'string', maxLength: 16, default: 'I2C1', doc: 'board I2C bus name ("I2C1"); the board file sets its pins unless sda/scl are given' },
  sda: { type: 'pin', doc: 'SDA pin, e.g. "D21"' },
  scl: { type: 'pin', doc: 'SCL pin, e.g. "D22"' },
  hz: { type: 'int', min: 10000, max: 1000000, default: 100000, doc: 'I2C clock in Hz' },
  address: { type: 'int', min: 0x76, max: 0x77, default: 0x76, doc: '7-bit address: 118 (0x76, SDO to GND) or 119 (0x77, SDO to VDDIO)' },
  temperatureOversampling: { type: 'string', maxLength: 3, oneOf: OVERSAMPLING, default: '1x', doc: 'osrs_t; 1x is Bosch\'s weather-monitoring setting (datasheet 3.5.1)' },
  pressureOversampling: { type: 'string', maxLength: 3, oneOf: OVERSAMPLING, default: '1x', doc: 'osrs_p; each step doubles resolution (16 bit at 1x, 20 bit at 16x) and time' },
  humidityOversampling: { type: 'string', maxLength: 3, oneOf: OVERSAMPLING, default: '1x', doc: 'osrs_h (ignored on a BMP280)' },
  iirFilter: { type: 'string', maxLength: 3, oneOf: ['off', '2x', '4x', '8x', '16x'], default: 'off', doc: 'IIR filter coefficient for temperature and pressure (datasheet 3.4.4)' },
  pollMs: {
    type: 'int',
    min: 1,
    max: BME280_MAX_POLL_MS,
    default: 2,
    doc: 'when the status register still says "measuring" after the datasheet maximum time, wait this long between polls',
  },
  maxPolls: { type: 'int', min: 0, max: BME280_MAX_POLLS, default: 10, doc: 'status polls before the read fails with E_NOT_READY' },
  stuckReads: {
    type: 'int',
    min: 0,
    max: BME280_MAX_STUCK_READS,
    default: 0,
    doc: 'reject readings once this many consecutive bursts carry identical raw ADC words (0 = off; 5 is safe: 16..20-bit ADCs never repeat exactly)',
  },
};
