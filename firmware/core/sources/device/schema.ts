// Config of the device's own counters (docs/sources/device.md): nothing beyond the common
// options (id, type, intervalMs); what is reported depends on what the platform can tell.
import type { Schema } from '../../config/schema.js';

export const DEVICE_SCHEMA: Schema = {
  wifi: { type: 'bool', default: true, doc: 'report Wi-Fi RSSI and reconnects when the platform provides host.net' },
};
