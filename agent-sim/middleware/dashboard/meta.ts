// Board, firmware and online status from the devices' retained .../meta and .../status topics
// (firmware/core/session/agent.ts). These are NOT signed: anyone allowed to publish there can
// claim anything, so the page shows them as claims next to what the verifier proved. Kept only
// when the birth record's address is the topic's, bounded in size and in number of devices.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export const META_DEFAULTS = {
  /** A birth record is ~300 bytes; anything much larger is not one. */
  maxMetaBytes: 2048,
  /** Devices remembered; later ones are ignored (and counted) until restart. */
  maxDevices: 10000,
  /** Length each text field is cut to. */
  maxFieldChars: 64,
  /** Source ids kept per device. */
  maxSources: 16,
};

export interface DeviceMeta {
  board?: string;
  firmware?: string;
  sources?: string[];
  boot?: number;
  /** 'online' / 'offline' from the retained status topic (the broker sets 'offline' by the Will). */
  status?: string;
  statusAtMs?: number;
  metaAtMs?: number;
}

export interface MetaFeed {
  get(address: string): DeviceMeta | undefined;
  stats(): { devices: number; ignored: number; connected: boolean };
  close(): Promise<void>;
}

export interface MetaFeedOptions {
  brokerUrl: string;
  prefix: string;
  mqtt?: IClientOptions;
  maxMetaBytes?: number;
  maxDevices?: number;
  maxFieldChars?: number;
  maxSources?: number;
  now?: () => number;
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

const ADDRESS = /^[0-9a-f]{40}$/;

/** Subscribes to <prefix>/+/meta and <prefix>/+/status (clean session: retained copies arrive on subscribe). */
export function createMetaFeed(opts: MetaFeedOptions): MetaFeed {
  const o = { ...META_DEFAULTS, ...opts };
  const now = opts.now || Date.now;
  const byDevice = new Map<string, DeviceMeta>();
  let ignored = 0;
  let errorLogged = false;
  const levels = o.prefix.split('/').length;

  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v.slice(0, o.maxFieldChars) : undefined);

  function entry(addr: string): DeviceMeta | undefined {
    let e = byDevice.get(addr);
    if (!e) {
      if (byDevice.size >= o.maxDevices) {
        ignored++;
        return undefined;
      }
      e = {};
      byDevice.set(addr, e);
    }
    return e;
  }

  function onMessage(topic: string, payload: Buffer): void {
    const parts = topic.split('/');
    if (parts.length !== levels + 2) return void ignored++;
    const addr = parts[levels];
    const kind = parts[levels + 1];
    if (!ADDRESS.test(addr) || payload.length > o.maxMetaBytes) return void ignored++;
    if (payload.length === 0) return; // a retained message being cleared
    if (kind === 'status') {
      const s = payload.toString('utf8');
      if (s !== 'online' && s !== 'offline') return void ignored++;
      const e = entry(addr);
      if (e) {
        e.status = s;
        e.statusAtMs = now();
      }
      return;
    }
    let m: any;
    try {
      m = JSON.parse(payload.toString('utf8'));
    } catch {
      return void ignored++;
    }
    if (!m || typeof m !== 'object' || m.address !== addr) return void ignored++;
    const e = entry(addr);
    if (!e) return;
    e.board = text(m.board);
    e.firmware = text(m.firmware);
    e.sources = Array.isArray(m.sources) ? m.sources.slice(0, o.maxSources).map(text).filter((x: unknown): x is string => !!x) : undefined;
    e.boot = typeof m.boot === 'number' && Number.isFinite(m.boot) ? m.boot : undefined;
    e.metaAtMs = now();
  }

  const client: MqttClient = mqtt.connect(opts.brokerUrl, {
    clientId: 'depin-dashboard-' + Math.random().toString(16).slice(2, 10),
    clean: true,
    reconnectPeriod: 2000,
    ...opts.mqtt,
  });
  client.on('connect', () => {
    errorLogged = false;
    client.subscribe([o.prefix + '/+/meta', o.prefix + '/+/status'], { qos: 0 }, (e) => {
      if (e && opts.log) opts.log('warn', 'dashboard: subscribing to device meta failed: ' + e.message);
    });
  });
  client.on('message', onMessage);
  client.on('error', (e) => {
    // Reconnects to a dead broker repeat every 2 s: say it once per outage.
    if (!errorLogged && opts.log) opts.log('warn', 'dashboard: device meta feed: ' + e.message);
    errorLogged = true;
  });

  return {
    get: (a) => byDevice.get(a),
    stats: () => ({ devices: byDevice.size, ignored, connected: client.connected }),
    close: () => new Promise<void>((res) => client.end(true, {}, () => res())),
  };
}
