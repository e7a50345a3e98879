// A fleet of simulated devices: each is the core Agent on a Node host with its own flash (a
// directory when the fleet has a data dir, so keys and counters survive runs; in memory
// otherwise, for fleets of thousands), provisioned into the middleware's registry, plus the
// accounting a person wants at the end: what each device sealed, what the broker
// acknowledged, what the verifier accepted, rejected or saw twice, and what is unaccounted for.
//
// Time comes from a TimeBase (platform/virtual-time.ts): real time by default (demo, run), or
// virtual time for scenarios. Every timer, socket and clock a device uses goes through it.
// Shared between devices of one process: the code, the secp256k1 G table (module state of the
// core signer), the time base; per device: key, counters, flash, sources, agent and socket.
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, type AgentConfig } from '../firmware/core/session/agent.js';
import { installSha256 } from '../firmware/core/crypto/sha256.js';
import { toHex } from '../firmware/core/util/bytes.js';
import { createNodeHost, nodeSha256, quietLog } from './platform/host.js';
import { FlashStorage, isPowerCut } from './platform/flash-storage.js';
import { createRealTime, type ClockState, type LinkState, type TimeBase, type TrackedSockets } from './platform/virtual-time.js';
import { linkDelay } from './platform/link-delay.js';
import type { Entropy, Log, Socket, SocketFactory, Storage, Timers } from '../firmware/core/host.js';
import { sourcesFor, fileMemory, DEVICE_KINDS, type DeviceKind, type PeripheralMemory } from './sources/profiles.js';
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
  /** Keys, flash and peripheral memory under <dataDir>/devices/<label>; in memory when absent. */
  dataDir?: string;
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
  /** Clock and timers of every device (default: real time, one shared instance). */
  time?: TimeBase;
}

/** What a device may differ in from its fleet (scenario groups, link proxies, faults). */
export interface DeviceOptions {
  /** Where this device connects (a link proxy in front of the broker). */
  broker?: { host: string; port: number };
  /** The link's state as the fault layer knows it (virtual time: a cut link holds no time). */
  link?: LinkState;
  /** One-way network latency of the device's link now, ms of the time base (platform/link-delay.ts). */
  delay?: () => number;
  /** The device's clock error and sync state at power-on (faults may change it later). */
  clock?: Partial<ClockState>;
  /** Key and backoff randomness (default: the system's; scenarios seed it). */
  entropy?: Entropy;
  /** Agent config overrides on top of the fleet's. */
  agent?: Partial<AgentConfig>;
  /** Sampling interval of this device's sources (default: the fleet's). */
  intervalMs?: number;
  log?: Log;
  observer?: DeviceObserver;
  /** Seed of the flash's torn-write lengths (default 1, as FlashStorage). */
  flashSeed?: number;
}

/** Hooks for accounting (scenario/ledger.ts): what the sources produce, boots, power cuts. */
export interface DeviceObserver {
  /** Wraps the sources once, when the device is made (they outlive boots). */
  wrapSources?(d: SimDevice, sources: Source[]): Source[];
  /** A new agent was made over the flash (before start()). */
  onBoot?(d: SimDevice): void;
  /** Power went off: RAM is gone. */
  onPowerCut?(d: SimDevice): void;
}

let defaultTime: TimeBase | undefined;
function realTime(): TimeBase {
  return (defaultTime ??= createRealTime());
}

/**
 * The power supply of one boot: the agent's timers and sockets go through it, so a power cut
 * stops everything at once. After off(), no timer or socket callback runs, writes go nowhere and
 * nothing is closed: the broker sees a link that went silent (its keep-alive or the next boot's
 * session takeover ends it), not a DISCONNECT or a FIN.
 */
function powerDomain(base: Timers, trackPending: boolean, onThrow: (e: unknown) => void) {
  let on = true;
  // Real timers are cleared at power off (a pending Node timer would keep the old agent alive
  // and the process running); virtual ones simply find the power off when they come due.
  const pending = new Set<unknown>();
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
  // One closure per timer: the agent sets several per device and second of simulated time.
  const timers: Timers = {
    setTimeout(fn, ms) {
      const h = base.setTimeout(() => {
        if (trackPending) pending.delete(h);
        if (!on) return;
        try {
          fn();
        } catch (e) {
          onThrow(e);
        }
      }, ms);
      if (trackPending) pending.add(h);
      return h;
    },
    clearTimeout(h) {
      base.clearTimeout(h);
      if (trackPending) pending.delete(h);
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
      for (const h of pending) base.clearTimeout(h);
      pending.clear();
    },
  };
}

/** A peripheral's memory in RAM (outlives agent reboots, not the process). */
function ramMemory(): PeripheralMemory {
  let st: Record<string, number> | undefined;
  return {
    load: () => (st ? { ...st } : undefined),
    save(s) {
      st = s;
    },
  };
}

export class SimDevice {
  readonly spec: DeviceSpec;
  /** Flash directory, or undefined for an in-memory flash. */
  readonly dir: string | undefined;
  readonly storage: FlashStorage;
  /** The simulated peripherals: created once, they outlive agent reboots as real ones do. */
  readonly sources: Source[];
  readonly time: TimeBase;
  /** The device's clock error and sync state (clock faults change it; read live by its clock). */
  readonly clockState: ClockState;
  agent!: Agent;
  boots = 0;
  /** Power cuts so far (powerCut() calls and cuts injected with storage.cutPowerAfter). */
  cuts = 0;
  /** Exceptions out of the agent's callbacks other than power cuts (bugs; logged, counted). */
  readonly uncaught: Error[] = [];
  private readonly fleet: FleetConfig;
  private readonly opts: DeviceOptions;
  /** Totals over every boot of this run (an agent's own stats restart with it). */
  private past = { batches: 0, acked: 0, bytes: 0 };
  private power: ReturnType<typeof powerDomain> | undefined;
  private tracked: TrackedSockets | undefined;

  constructor(fleet: FleetConfig, spec: DeviceSpec, opts: DeviceOptions = {}) {
    this.fleet = fleet;
    this.spec = spec;
    this.opts = opts;
    this.time = fleet.time ?? realTime();
    this.clockState = { offsetMs: opts.clock?.offsetMs ?? 0, synced: opts.clock?.synced ?? true };
    const seed = opts.flashSeed ?? 1;
    let memory: PeripheralMemory;
    if (fleet.dataDir !== undefined) {
      this.dir = join(fleet.dataDir, 'devices', spec.label);
      mkdirSync(this.dir, { recursive: true });
      this.storage = new FlashStorage({ dir: this.dir, seed });
      memory = fileMemory(join(this.dir, 'peripheral.json'));
    } else {
      this.dir = undefined;
      this.storage = new FlashStorage({ seed });
      memory = ramMemory();
    }
    const time = this.time;
    const made = sourcesFor(spec.kind, spec.seed, opts.intervalMs ?? fleet.intervalMs, () => time.now(), memory);
    this.sources = opts.observer?.wrapSources ? opts.observer.wrapSources(this, made) : made;
    this.boot();
  }

  /** Power on: a new Agent over the same flash, as a reboot does. */
  boot(): Agent {
    const f = this.fleet;
    const o = this.opts;
    if (this.power?.isOn()) this.powerCut();
    this.storage.reboot();
    const out = o.log ?? quietLog('warn', this.spec.label + ' ');
    const dom = powerDomain(this.time.timers, this.time.kind === 'real', (e) => {
      if (isPowerCut(e)) return; // the domain is already off (see storage below)
      this.uncaught.push(e as Error);
      out('error', 'uncaught in a callback: ' + ((e as Error).stack ?? e));
    });
    // Code still unwinding from a torn write logs what caught the cut; a device without power
    // prints nothing.
    const log: Log = (level, msg) => {
      if (dom.isOn()) out(level, msg);
    };
    this.power = dom;
    // A write torn by an injected cut turns this boot's power off before the error unwinds, so
    // no code that catches it runs on (as on the device, where nothing runs after the cut).
    // Calls go through this.storage's methods at call time (tests wrap them).
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
    const base = createNodeHost({ storage: this.storage, log, freeMemory: 120_000, entropy: o.entropy, clock: this.time.deviceClock(this.clockState) });
    this.tracked = this.time.trackSockets(base.socket, o.link);
    const time = this.time;
    const wire = o.delay ? linkDelay(this.tracked.socket, time.timers, () => time.now(), o.delay) : this.tracked.socket;
    const host = { ...base, storage, timers: dom.timers, socket: dom.socket(wire) };
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
      ...o.agent,
    };
    if (o.agent?.broker) cfg.broker = { ...f.agent?.broker, ...o.agent.broker } as AgentConfig['broker'];
    if (o.broker) cfg.broker = { ...cfg.broker, host: o.broker.host, port: o.broker.port };
    this.agent = new Agent(host, cfg, this.sources);
    this.boots++;
    o.observer?.onBoot?.(this);
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
    this.tracked?.release();
    this.cuts++;
    this.keepTotals();
    this.opts.observer?.onPowerCut?.(this);
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
  for (let i = 0; i < n; i++) out.push(deviceSpec(i, seed, kinds));
  return out;
}

/** The spec of device `i` of a fleet: the same whichever shard or subset builds it. */
export function deviceSpec(i: number, seed: number, kinds: DeviceKind[] = DEVICE_KINDS): DeviceSpec {
  return { label: 'dev-' + String(i).padStart(3, '0'), kind: kinds[i % kinds.length], seed: seed * 100003 + i };
}

/**
 * Device range of shard `i` of `n` over a fleet of `total`: [floor(i*N/n), floor((i+1)*N/n)).
 * The shards of one fleet cover every device exactly once.
 */
export function shardRange(total: number, i: number, n: number): [number, number] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('shard: "n" expected an integer >= 1, got ' + n);
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError('shard: "i" expected an integer in 0..' + (n - 1) + ', got ' + i);
  return [Math.floor((i * total) / n), Math.floor(((i + 1) * total) / n)];
}

/** Parses "i/n" (as --shard takes it). */
export function parseShard(s: string): { i: number; n: number } {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  if (!m) throw new RangeError('shard: expected "i/n" (e.g. 0/4), got ' + JSON.stringify(s));
  const i = Number(m[1]);
  const n = Number(m[2]);
  shardRange(0, i, n);
  return { i, n };
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
