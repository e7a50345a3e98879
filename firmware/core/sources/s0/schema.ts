// Config of an S0 pulse input (docs/sources/s0.md). Defaults fit a DIN-rail meter with a
// 1000 imp/kWh S0 output wired between a GPIO (internal pull-up) and GND.
import type { Schema } from '../../config/schema.js';

export const S0_SCHEMA: Schema = {
  pin: { type: 'pin', required: true, doc: 'GPIO the S0+ terminal is wired to (S0- to GND), e.g. "D25"' },
  impPerKWh: { type: 'int', min: 1, max: 100000, default: 1000, doc: 'meter constant printed on the meter: impulses per kWh (typical 1000, 2000, 800)' },
  activeLow: { type: 'bool', default: true, doc: 'a pulse pulls the line low (S0 switch to GND with a pull-up); false for an inverting input stage' },
  pull: { type: 'string', maxLength: 4, oneOf: ['up', 'down', 'none'], default: 'up', doc: 'internal pull resistor' },
  debounceMs: { type: 'int', min: 0, max: 25, default: 10, doc: 'watch debounce (Espruino setWatch): a level must hold this long to be reported; EN 62053-31 allows 5 ms of bounce' },
  minPulseMs: { type: 'int', min: 1, max: 1000, default: 20, doc: 'a pulse counts once the line was active this long (EN 62053-31: pulses last >= 30 ms)' },
  minGapMs: { type: 'int', min: 1, max: 1000, default: 20, doc: 'inactive time needed before the next pulse can count (EN 62053-31: >= 30 ms between pulses)' },
  timeoutMs: { type: 'int', min: 1000, max: 4200000, default: 300000, doc: 'power reads 0 after this long without a pulse (ESPHome pulse_meter: 5 min, at most 70 min)' },
  saveMinIntervalMs: { type: 'int', min: 1000, max: 86400000, default: 60000, doc: 'energy is written to flash at most this often' },
  saveMaxIntervalMs: { type: 'int', min: 1000, max: 86400000, default: 900000, doc: 'changed energy is written at least this often (what a power cut can lose)' },
  saveDeltaWh: { type: 'number', min: 0, max: 1000000, default: 10, doc: 'write as soon as saveMinIntervalMs allows once energy grew by this much (Wh)' },
  fileBytes: { type: 'int', min: 128, max: 16384, default: 1024, doc: 'size of each of the two flash files holding the energy total' },
};
