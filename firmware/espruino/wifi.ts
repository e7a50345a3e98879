// Wi-Fi station join and re-join over require("Wifi") (libs/network/jswrap_wifi.c, ESP32 port
// libs/network/esp32/jswrap_esp32_network.c). Keeping the link up is the application's job on
// ESP32: the driver retries 3 times after a disconnect (s_retry_num) and then stays down. So:
// - join: Wifi.connect with a join timeout (connect's callback reports only "bad password";
//   a missing AP or DHCP failure just never calls back);
// - any failure or "disconnected" event schedules the next join with exponential backoff
//   between minBackoffMs and maxBackoffMs (bounded, named; it never stops trying: a meter in a
//   cellar may see its AP come back after hours);
// - `net` is what the device source reads: rssi() from Wifi.getDetails() while connected, and
//   reconnects(), the associations after the first one.
// The radio counts as on (for the hardware RNG, see entropy.ts) from the first connect call
// until stop(): ESP32 keeps the station started while it retries.
// The Linux build has no Wifi module: wifiModule() returns undefined and main.ts skips all this.
import type { Log, Timers } from '../core/host.js';
import { err, aint } from '../core/util/errors.js';
import type { WifiModule, WifiDetails } from './espruino.js';
import { builtinModule } from './modules.js';

export const WIFI_DEFAULTS = {
  /** A join that has not called back by then counts as failed (and is retried). */
  joinTimeoutMs: 20000,
  minBackoffMs: 1000,
  maxBackoffMs: 120000,
  factor: 2,
  /** ESP32 power save: "none" keeps the radio (and so the RNG) on; "ps-poll" saves power. */
  powersave: 'none',
};

export interface WifiConfig {
  ssid: string;
  password?: string;
  joinTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  factor?: number;
  powersave?: string;
}

export interface DeviceNet {
  rssi(): number | undefined;
  reconnects(): number;
}

export interface WifiStats {
  joins: number;
  failures: number;
  disconnects: number;
  reconnects: number;
  lastError: string;
}

export interface WifiLink {
  start(): void;
  stop(): void;
  connected(): boolean;
  radioOn(): boolean;
  /** Called with true/false on every change of connected(). */
  onChange?: (up: boolean) => void;
  net: DeviceNet;
  stats(): WifiStats;
}

/** require("Wifi"), or undefined where the build has none (Linux). */
export function wifiModule(): WifiModule | undefined {
  return builtinModule('Wifi') as WifiModule | undefined;
}

export function espruinoWifi(W: WifiModule, cfg: WifiConfig, timers: Timers, log: Log): WifiLink {
  if (!cfg || typeof cfg.ssid !== 'string' || cfg.ssid.length === 0 || cfg.ssid.length > 32)
    throw err('E_CONFIG', 'wifi.ssid expected 1..32 characters, got ' + JSON.stringify(cfg && cfg.ssid));
  if (cfg.password !== undefined && (typeof cfg.password !== 'string' || cfg.password.length > 64))
    throw err('E_CONFIG', 'wifi.password expected a string of at most 64 characters');
  const d = WIFI_DEFAULTS;
  const joinTimeoutMs = aint('wifi.joinTimeoutMs', cfg.joinTimeoutMs === undefined ? d.joinTimeoutMs : cfg.joinTimeoutMs, 1000, 600000);
  const minMs = aint('wifi.minBackoffMs', cfg.minBackoffMs === undefined ? d.minBackoffMs : cfg.minBackoffMs, 10, 3600000);
  const maxMs = aint('wifi.maxBackoffMs', cfg.maxBackoffMs === undefined ? d.maxBackoffMs : cfg.maxBackoffMs, minMs, 3600000);
  const factor = aint('wifi.factor', cfg.factor === undefined ? d.factor : cfg.factor, 1, 16);
  const powersave = cfg.powersave === undefined ? d.powersave : cfg.powersave;
  let running = false;
  let up = false;
  let radio = false;
  let attempt = 0; // consecutive failures, for the backoff
  let token = 0; // the join in flight; stale callbacks are ignored
  let everUp = false;
  let joinTimer: unknown;
  let retryTimer: unknown;
  const s: WifiStats = { joins: 0, failures: 0, disconnects: 0, reconnects: 0, lastError: '' };
  let link: WifiLink;

  function setUp(v: boolean): void {
    if (up === v) return;
    up = v;
    if (link.onChange) link.onChange(v);
  }

  function schedule(): void {
    if (!running) return;
    timers.clearTimeout(retryTimer);
    let ms = minMs;
    for (let i = 1; i < attempt && ms < maxMs; i++) ms *= factor;
    if (ms > maxMs) ms = maxMs;
    retryTimer = timers.setTimeout(join, ms);
  }

  function failed(why: string): void {
    s.failures++;
    s.lastError = why;
    attempt++;
    log('warn', 'wifi: join ' + s.joins + ' failed (' + why + '); retry ' + attempt);
    schedule();
  }

  function join(): void {
    if (!running) return;
    const my = ++token;
    s.joins++;
    radio = true;
    timers.clearTimeout(joinTimer);
    joinTimer = timers.setTimeout(function () {
      if (my !== token || !running) return;
      token++;
      try {
        W.disconnect();
      } catch (e) {
        /* not connecting any more */
      }
      failed('no answer within ' + joinTimeoutMs + ' ms');
    }, joinTimeoutMs);
    try {
      W.connect(cfg.ssid, { password: cfg.password }, function (e: string | null) {
        if (my !== token || !running) return;
        timers.clearTimeout(joinTimer);
        if (e) {
          token++;
          failed(String(e));
          return;
        }
        if (everUp) s.reconnects++;
        everUp = true;
        attempt = 0;
        log('info', 'wifi: connected to ' + cfg.ssid + (s.reconnects ? ' (reconnect ' + s.reconnects + ')' : ''));
        setUp(true);
      });
    } catch (e) {
      timers.clearTimeout(joinTimer);
      token++;
      failed((e as Error).message || String(e));
    }
  }

  link = {
    start: function (): void {
      if (running) return;
      running = true;
      try {
        W.setConfig({ powersave: powersave });
      } catch (e) {
        log('warn', 'wifi: setConfig powersave ' + powersave + ': ' + ((e as Error).message || e));
      }
      join();
    },
    stop: function (): void {
      running = false;
      token++;
      radio = false;
      timers.clearTimeout(joinTimer);
      timers.clearTimeout(retryTimer);
      setUp(false);
      try {
        W.disconnect();
      } catch (e) {
        /* already down */
      }
    },
    connected: function (): boolean {
      return up;
    },
    radioOn: function (): boolean {
      return radio;
    },
    net: {
      rssi: function (): number | undefined {
        if (!up) return undefined;
        let det: WifiDetails | undefined;
        try {
          det = W.getDetails();
        } catch (e) {
          return undefined;
        }
        return det && typeof det.rssi === 'number' && det.status === 'connected' ? det.rssi : undefined;
      },
      reconnects: function (): number {
        return s.reconnects;
      },
    },
    stats: function (): WifiStats {
      return { joins: s.joins, failures: s.failures, disconnects: s.disconnects, reconnects: s.reconnects, lastError: s.lastError };
    },
  };

  W.on('disconnected', function (details?: unknown) {
    if (!running) return;
    if (!up) return; // a failing join reports through its callback or its timeout
    s.disconnects++;
    const reason = details && (details as { msg?: string }).msg;
    log('warn', 'wifi: disconnected' + (reason ? ' (' + reason + ')' : '') + '; re-joining');
    setUp(false);
    token++;
    attempt = 1;
    schedule();
  });
  return link;
}
