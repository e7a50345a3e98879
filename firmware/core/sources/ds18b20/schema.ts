// Config of DS18B20 thermometers on one 1-Wire bus (one source per bus, one reading per sensor).
import type { Schema } from '../../config/schema.js';

export const DS18B20_MAX_SENSORS = 16;
export const DS18B20_MAX_MARGIN_MS = 1000;
export const DS18B20_MAX_STUCK_READS = 1000;
export const DS18B20_MAX_CONVERT_POLLS = 40;

// Espruino's regex engine has no {n} quantifier: spell the 16 digits out.
let romPattern = '^';
for (let i = 0; i < 16; i++) romPattern += '[0-9a-fA-F]';
const ROM_RE = new RegExp(romPattern + '$');

export const DS18B20_SCHEMA: Schema = {
  pin: { type: 'pin', required: true, doc: '1-Wire data pin (DQ), e.g. "D4", with a 4.7 kOhm pull-up to 3.3 V' },
  resolution: {
    type: 'int',
    min: 9,
    max: 12,
    default: 12,
    doc: 'bits: 9 (0.5 Cel, 94 ms), 10 (0.25 Cel, 188 ms), 11 (0.125 Cel, 375 ms), 12 (0.0625 Cel, 750 ms); written to each sensor\'s scratchpad (not its EEPROM)',
  },
  parasite: { type: 'bool', default: false, doc: 'sensors powered from DQ (VDD tied to GND): hold the bus high during conversion' },
  sensors: {
    type: 'array',
    maxItems: DS18B20_MAX_SENSORS,
    doc: 'fixed list of sensors (omit to find them by a ROM search): a listed sensor that does not answer is counted as missing',
    items: {
      type: 'object',
      fields: {
        rom: { type: 'string', maxLength: 16, pattern: ROM_RE, patternDoc: '16 hex digits in bus order, family first ("28...", CRC last), as a 1-Wire search prints it', required: true },
        name: { type: 'string', maxLength: 14, pattern: /^[A-Za-z0-9_]+$/, patternDoc: 'letters, digits and _ only', doc: 'reading name instead of t_<serial>' },
      },
    },
  },
  maxSensors: { type: 'int', min: 1, max: DS18B20_MAX_SENSORS, default: 8, doc: 'most sensors a ROM search keeps (lowest serial numbers first); more are counted and ignored' },
  convertMarginMs: {
    type: 'int',
    min: 0,
    max: DS18B20_MAX_MARGIN_MS,
    default: 10,
    doc: 'extra wait after the datasheet\'s maximum conversion time (some clones are slower)',
  },
  convertPolls: {
    type: 'int',
    min: 0,
    max: DS18B20_MAX_CONVERT_POLLS,
    default: 8,
    doc: 'externally powered sensors: after the wait, poll for the end of the conversion this many times, 25 ms apart, before giving up',
  },
  stuckReads: {
    type: 'int',
    min: 0,
    max: DS18B20_MAX_STUCK_READS,
    default: 0,
    doc: 'reject a sensor\'s reading once N consecutive scratchpads carry the same temperature word (0 = off; steady temperatures repeat legitimately, so use large N)',
  },
};
