// The device's own health as readings, for hotspots whose rewards depend on uptime and link
// quality: uptime (host.clock), free memory (host.freeMemory) and, where the platform has a
// network interface to ask, Wi-Fi RSSI and reconnects.
//
// The host does not expose Wi-Fi yet. DeviceNet below is what this source needs from it, as an
// optional member `net` of the host object (proposed for firmware/core/host.ts as
// `Host.net?: DeviceNet`; on Espruino: rssi from require("Wifi").getDetails().rssi, reconnects
// counted by the platform's reconnect loop, which is the application's job there). Until the
// host declares it, this source reads `net` structurally from the host object it is given.
//
// Readings (docs/sources/device.md):
//   up     s    v  uptime, whole seconds since boot (monotonic clock)
//   mem    B    v  free memory in bytes (when the platform can tell)
//   rssi   dBm  v  Wi-Fi RSSI (when associated; -127..0, anything else is dropped and counted)
//   recon       s  Wi-Fi reconnects since boot (never decreases within a boot)
import type { Host } from '../../host.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { DEVICE_SCHEMA } from './schema.js';

/** The network interface facts this source reads; a platform provides it as `host.net`. */
export interface DeviceNet {
  /** RSSI of the current Wi-Fi association in dBm; undefined while not associated. */
  rssi(): number | undefined;
  /** Wi-Fi (re)associations since boot after the first one, counting from 0. */
  reconnects(): number;
}

/** A host that may carry `net` (structural: works before Host declares it). */
export interface HostWithNet extends Host {
  net?: DeviceNet;
}

/** 802.11 RSSI as ESP-IDF reports it: a signed 8-bit dBm value, 0 or below. */
export const RSSI_MIN_DBM = -127;
export const RSSI_MAX_DBM = 0;

export interface DeviceStats {
  [name: string]: number;
  /** Platform answers outside their range (dropped): RSSI, free memory, reconnects. */
  badRssi: number;
  badMem: number;
  badReconnects: number;
  /** Times the platform's reconnect count went down (kept monotonic here). */
  reconnectResets: number;
}

export interface DeviceSource extends Source {
  stats(): DeviceStats;
}

export function createDevice(host: HostWithNet, id: string, intervalMs: number, c: { wifi: boolean }): DeviceSource {
  const s: DeviceStats = { badRssi: 0, badMem: 0, badReconnects: 0, reconnectResets: 0 };
  // The platform's count may restart (a driver reset); the reported one never goes backwards.
  let recBase = 0;
  let recLast = 0;

  function wifi(out: SourceValue[]): void {
    const net = host.net;
    if (!c.wifi || !net) return;
    const r = net.rssi();
    if (r !== undefined) {
      if (typeof r === 'number' && r === r && r >= RSSI_MIN_DBM && r <= RSSI_MAX_DBM) out.push({ n: 'rssi', u: 'dBm', v: Math.round(r) });
      else s.badRssi++;
    }
    const k = net.reconnects();
    if (typeof k !== 'number' || k !== k || k < 0 || Math.floor(k) !== k) {
      s.badReconnects++;
      return;
    }
    if (k < recLast) {
      s.reconnectResets++;
      recBase += recLast;
    }
    recLast = k;
    out.push({ n: 'recon', s: recBase + k });
  }

  return {
    id: id,
    intervalMs: intervalMs,
    read: function (done: (e: Error | undefined, values?: SourceValue[]) => void) {
      const out: SourceValue[] = [{ n: 'up', u: 's', v: Math.floor(host.clock.uptime() / 1000) }];
      if (host.freeMemory) {
        const m = host.freeMemory();
        if (typeof m === 'number' && m === m && m >= 0 && m !== Infinity) out.push({ n: 'mem', u: 'B', v: Math.floor(m) });
        else s.badMem++;
      }
      wifi(out);
      done(undefined, out);
    },
    stats: function (): DeviceStats {
      return { badRssi: s.badRssi, badMem: s.badMem, badReconnects: s.badReconnects, reconnectResets: s.reconnectResets };
    },
  };
}

export const deviceSource: SourceComponent = {
  type: 'device',
  doc: 'the device itself: uptime, free memory, Wi-Fi RSSI and reconnects',
  schema: DEVICE_SCHEMA,
  defaultIntervalMs: 300000,
  create: function (host, id, intervalMs, config) {
    return createDevice(host as HostWithNet, id, intervalMs, config as unknown as { wifi: boolean });
  },
};
