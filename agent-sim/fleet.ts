// A fleet of simulated devices: each is the core Agent on a Node host with its own flash
// directory (keys and counters survive runs), provisioned into the middleware's registry, plus
// the accounting a person wants at the end: what each device sealed, what the broker
// acknowledged, what the verifier accepted, rejected or saw twice, and what is unaccounted for.
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, type AgentConfig } from '../firmware/core/session/agent.js';
import { installSha256 } from '../firmware/core/crypto/sha256.js';
import { toHex } from '../firmware/core/util/bytes.js';
import { createNodeHost, nodeSha256, quietLog } from './platform/host.js';
import { FlashStorage, isPowerCut } from './platform/flash-storage.js';
import type { Socket, SocketFactory, Storage, Timers } from '../firmware/core/host.js';
import { sourcesFor, fileMemory, DEVICE_KINDS, type DeviceKind } from './sources/profiles.js';
import type { Source } from '../firmware/core/session/agent.js';
import { readRegistry, writeRegistry, addDevice, type Registry } from './middleware/registry.js';
import type { Outcome } from './middleware/ingest.js';

// The simulator runs the device's code; the native SHA-256 slot is what the device uses too.
installSha256(nodeSha256);

export interface DeviceSpec {
  label: string;
  kind: DeviceKind;
  seed: number;
}

export interface FleetConfig {
  dataDir: string;
  brokerHost: string;
  brokerPort: number;
  brokerTls?: boolean;
  /** PEM CA for TLS (Node verifies it; the device's TLS verifies nothing, see wire-format.md). */
  brokerCa?: string;
  prefix: string;
  intervalMs: number;
  batchMaxReadings: number;
  batchMaxAgeMs: number;
  /** Overrides for every device's agent config (bounds, outbox, reconnect ...). */
  agent?: Partial<AgentConfig>;
  operators?: string[];
}

/**
 * The power supply of one boot: the agent's timers and sockets go through it, so a power cut
 * stops everything at once. After off(), no timer or socket callback runs, writes go nowhere and
 * nothing is closed: the broker sees a link that went silent (its keep-alive or the next boot's
 * session takeover ends it), not a DISCONNECT or a FIN.
 */
function powerDomain(onThrow: (e: unknown) => void) {
  let on = true;
  const pending = new Set<NodeJS.Timeout>();
  // Node would crash on an exception out of a callback; Espruino prints it and keeps running.
  const guard = <A extends unknown[]>(fn: ((...a: A) => void) | undefined) =>
    fn &&
    ((...a: A) => {
      if (!on) return;
      try {
        fn(...a);
      } catch (e) {
        onThrow(e);
      }
    });
  const timers: Timers = {
    setTimeout(fn, ms) {
      const h = setTimeout(() => {
        pending.delete(h);
        (guard(fn) as () => void)();
      }, ms);
      pending.add(h);
      return h;
    },
    clearTimeout(h) {
      clearTimeout(h as NodeJS.Timeout);
      pending.delete(h as NodeJS.Timeout);
    },
  };
  const socket = (factory: SocketFactory): SocketFactory =>
    function (o) {
      const s: Socket = factory({ ...o, onConnect: guard(o.onConnect), onReadable: guard(o.onReadable), onError: guard(o.onError), onClose: guard(o.onClose) });
      return {
        read: () => (on ? s.read() : undefined),
        write: (d) => void (on && s.write(d)),
        close: () => void (on && s.close()),
      };
    };
  return {
    timers,
    socket,
    isOn: () => on,
    off() {
      on = false;
      for (const h of pending) clearTimeout(h);
      pending.clear();
    },
  };
}

export class SimDevice {
  readonly spec: DeviceSpec;
  readonly dir: string;
  readonly storage: FlashStorage;
  /** The simulated peripherals: created once, they outlive agent reboots as real ones do. */
  readonly sources: Source[];
  agent!: Agent;
  boots = 0;
  /** Power cuts so far (powerCut() calls and cuts injected with storage.cutPowerAfter). */
  cuts = 0;
  /** Exceptions out of the agent's callbacks other than power cuts (bugs; logged, counted). */
  readonly uncaught: Error[] = [];
  private readonly fleet: FleetConfig;
  /** Totals over every boot of this run (an agent's own stats restart with it). */
  private past = { batches: 0, acked: 0, bytes: 0 };
  private power: ReturnType<typeof powerDomain> | undefined;

  constructor(fleet: FleetConfig, spec: DeviceSpec) {
    this.fleet = fleet;
    this.spec = spec;
    this.dir = join(fleet.dataDir, 'devices', spec.label);
    mkdirSync(this.dir, { recursive: true });
    this.storage = new FlashStorage({ dir: this.dir });
    this.sources = sourcesFor(spec.kind, spec.seed, fleet.intervalMs, () => Date.now(), fileMemory(join(this.dir, 'peripheral.json')));
    this.boot();
  }

  /** Power on: a new Agent over the same flash, as a reboot does. */
  boot(): Agent {
    const f = this.fleet;
    if (this.power?.isOn()) this.powerCut();
    this.storage.reboot();
    const log = quietLog('warn', this.spec.label + ' ');
    const dom = powerDomain((e) => {
      if (isPowerCut(e)) return; // the domain is already off (see storage below)
      this.uncaught.push(e as Error);
      log('error', 'uncaught in a callback: ' + ((e as Error).stack ?? e));
    });
    this.power = dom;
    // A write torn by an injected cut turns this boot's power off before the error unwinds, so
    // no code that catches it runs on (as on the device, where nothing runs after the cut).
    const flash = this.storage;
    const self = this;
    const storage: Storage & { read(n: string, o?: number, l?: number): Uint8Array | undefined } = {
      read: (n, o, l) => flash.read(n, o, l), // ranges, as Espruino's Storage.read
      write(n, d, o, z) {
        try {
          flash.write(n, d, o, z);
        } catch (e) {
          if (isPowerCut(e) && dom.isOn()) self.powerCut();
          throw e;
        }
      },
      erase(n) {
        try {
          flash.erase(n);
        } catch (e) {
          if (isPowerCut(e) && dom.isOn()) self.powerCut();
          throw e;
        }
      },
      list: (p) => flash.list(p),
      getFree: () => flash.getFree(),
      compact: () => flash.compact(),
    };
    const base = createNodeHost({ storage: this.storage, log, freeMemory: 120_000 });
    const host = { ...base, storage, timers: dom.timers, socket: dom.socket(base.socket) };
    const cfg: AgentConfig = {
      prefix: f.prefix,
      broker: { host: f.brokerHost, port: f.brokerPort, tls: f.brokerTls, ca: f.brokerCa, keepAliveS: 10, reconnect: { minMs: 200, maxMs: 3000, factor: 2 } },
      batchMaxReadings: f.batchMaxReadings,
      batchMaxAgeMs: f.batchMaxAgeMs,
      maxPendingReadings: 512,
      publishWindow: 4,
      operators: f.operators ?? [],
      firmware: 'depin-agent/0.1.0 (sim)',
      board: 'sim-' + this.spec.kind,
      ...f.agent,
    };
    this.agent = new Agent(host, cfg, this.sources);
    this.boots++;
    return this.agent;
  }

  start(): void {
    this.agent.start();
  }

  /** A clean shutdown: pending readings sealed first, then the link closed. */
  stop(): void {
    this.agent.stop();
  }

  /**
   * Power cut: everything in RAM is gone; only the flash survives. Nothing more is written to
   * flash or sent (no DISCONNECT, no FIN); boot() powers on again.
   */
  powerCut(): void {
    if (!this.power?.isOn()) return;
    this.power.off();
    this.cuts++;
    this.keepTotals();
  }

  /** True between a power cut and the next boot(). */
  get poweredOff(): boolean {
    return !this.power?.isOn();
  }

  reboot(): void {
    this.powerCut();
    this.boot();
    this.start();
  }

  totals(): { batches: number; acked: number; bytes: number } {
    const s = this.agent.stats();
    return { batches: this.past.batches + s.batches, acked: this.past.acked + s.acked, bytes: this.past.bytes + s.bytesSealed };
  }

  private keepTotals(): void {
    const s = this.agent.stats();
    this.past = { batches: this.past.batches + s.batches, acked: this.past.acked + s.acked, bytes: this.past.bytes + s.bytesSealed };
  }
}

/** Devices of mixed kinds, labelled dev-000, dev-001, ... */
export function fleetSpecs(n: number, seed: number, kinds: DeviceKind[] = DEVICE_KINDS): DeviceSpec[] {
  const out: DeviceSpec[] = [];
  for (let i = 0; i < n; i++) out.push({ label: 'dev-' + String(i).padStart(3, '0'), kind: kinds[i % kinds.length], seed: seed * 100003 + i });
  return out;
}

/** Adds the devices' public keys to the registry file (provisioning), keeping existing entries. */
export function provision(registryPath: string, devices: SimDevice[]): Registry {
  const reg: Registry = existsSync(registryPath) ? readRegistry(registryPath) : { devices: [] };
  for (const d of devices) {
    const addr = d.agent.addressHex;
    if (!reg.devices.some((e) => e.address === addr)) addDevice(reg, { publicKey: toHex(d.agent.publicKey), label: d.spec.label });
  }
  writeRegistry(registryPath, reg);
  return reg;
}

/** Per-device view of the middleware's verdicts, fed by the ingest's onOutcome hook. */
export class Tally {
  readonly byDevice = new Map<string, { accepted: Set<number>; duplicates: number; rejected: number }>();
  rejectedUnknown = 0;

  onOutcome = (o: Outcome): void => {
    if (o.status === 'rejected' && !o.kid) {
      this.rejectedUnknown++;
      return;
    }
    const d = this.entry(o.kid as string);
    if (o.status === 'accepted') d.accepted.add(o.seq);
    else if (o.status === 'duplicate') d.duplicates++;
    else d.rejected++;
  };

  entry(kid: string) {
    let d = this.byDevice.get(kid);
    if (!d) this.byDevice.set(kid, (d = { accepted: new Set(), duplicates: 0, rejected: 0 }));
    return d;
  }
}

export interface DeviceRow {
  device: string;
  kind: string;
  address: string;
  boots: number;
  sealed: number;
  acked: number;
  verified: number;
  rejected: number;
  duplicates: number;
  queued: number;
  dropped: number;
  /** Sealed batches neither verified, nor still queued, nor reported dropped by the device. */
  lost: number;
  bytes: number;
}

export function deviceRows(devices: SimDevice[], tally: Tally): DeviceRow[] {
  return devices.map((d) => {
    const s = d.agent.stats();
    const t = d.totals();
    const v = tally.entry(d.agent.addressHex);
    const queued = s.queue;
    const dropped = s.dropped;
    return {
      device: d.spec.label,
      kind: d.spec.kind,
      address: d.agent.addressHex.slice(0, 10) + '..',
      boots: d.boots,
      sealed: t.batches,
      acked: t.acked,
      verified: v.accepted.size,
      rejected: v.rejected,
      duplicates: v.duplicates,
      queued,
      dropped,
      lost: Math.max(0, t.batches - v.accepted.size - queued - dropped),
      bytes: t.bytes,
    };
  });
}

/** A plain-text table with right-aligned numbers. */
export function formatTable(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = Object.keys(rows[0]);
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => (typeof rows[0][cols[i]] === 'number' ? v.padStart(w[i]) : v.padEnd(w[i]))).join('  ');
  return [line(cols), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n');
}
