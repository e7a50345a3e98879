// Config of a Modbus RTU energy meter source (docs/sources/modbus.md). Line settings, the meter's
// address, its register map (a built-in profile by name, or a full map embedded by provisioning)
// and the bounds of every exchange: timeout, retries, registers per read. The receive buffer is
// one maximum RTU frame (256 bytes, [SL] §2.5.1.1) and needs no option (decoder.ts).
import type { Schema } from '../../config/schema.js';
import { MODBUS } from './decoder.js';
import { PROFILE_SCHEMA, PROFILE_LIMITS } from './profile.js';
import { BUILTIN_PROFILES } from './profiles/builtin.js';

export const MODBUS_LIMITS = {
  /** Response timeout beyond the frames' own wire time, ms. Meters answer in 10..300 ms. */
  MIN_TIMEOUT_MS: 20,
  MAX_TIMEOUT_MS: 5000,
  DEFAULT_TIMEOUT_MS: 300,
  /** Extra attempts after a timeout or a busy answer (ESPHome's modbus_controller: 0..n). */
  MAX_RETRIES: 5,
  DEFAULT_RETRIES: 2,
};

export const MODBUS_SCHEMA: Schema = {
  port: { type: 'string', maxLength: 16, required: true, doc: 'board UART the RS485 transceiver is on, e.g. "Serial2"' },
  baud: { type: 'int', min: 1200, max: 115200, default: 9600, doc: 'line speed, as set on the meter' },
  parity: { type: 'string', maxLength: 4, oneOf: ['none', 'even', 'odd'], default: 'none', doc: 'Modbus default is even; most meters ship with none' },
  stopBits: { type: 'int', min: 1, max: 2, default: 1 },
  rx: { type: 'pin', doc: 'UART RX pin (board default when omitted)' },
  tx: { type: 'pin', doc: 'UART TX pin (board default when omitted)' },
  de: { type: 'pin', doc: 'RS485 driver enable (DE and /RE tied): high while transmitting; omit for auto-direction transceivers' },
  address: { type: 'int', min: MODBUS.MIN_SLAVE, max: MODBUS.MAX_SLAVE, default: 1, doc: 'the meter\'s slave address' },
  profile: { type: 'string', maxLength: 16, oneOf: BUILTIN_PROFILES, doc: 'built-in register map; exactly one of profile and map' },
  map: { type: 'object', fields: PROFILE_SCHEMA, doc: 'a full register map (the format of profiles/*.json), embedded by provisioning' },
  only: { type: 'array', maxItems: PROFILE_LIMITS.MAX_QUANTITIES, items: { type: 'string', maxLength: PROFILE_LIMITS.MAX_NAME }, doc: 'read only these quantities (names)' },
  timeoutMs: { type: 'int', min: MODBUS_LIMITS.MIN_TIMEOUT_MS, max: MODBUS_LIMITS.MAX_TIMEOUT_MS, default: MODBUS_LIMITS.DEFAULT_TIMEOUT_MS, doc: 'wait for an answer beyond the frames\' wire time, ms' },
  retries: { type: 'int', min: 0, max: MODBUS_LIMITS.MAX_RETRIES, default: MODBUS_LIMITS.DEFAULT_RETRIES, doc: 'extra attempts after a timeout or a busy answer' },
  maxRegs: { type: 'int', min: 1, max: MODBUS.MAX_READ_REGISTERS, default: MODBUS.MAX_READ_REGISTERS, doc: 'registers per read (the profile\'s own limit applies too)' },
};
