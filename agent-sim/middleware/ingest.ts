// Ingest: MQTT subscriber -> verify -> sequence/chain -> store. Messages are processed one at a
// time in arrival order (the chain state depends on it). By default a QoS 1 message is
// acknowledged only after its transaction committed, so a crash never loses an acked batch;
// 'batched' mode acknowledges on receipt and commits in groups for throughput, at the risk of
// losing the last group on a crash (the chain would later report those as gaps).
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createVerifier, REJECT_REASONS, type RejectReason, type Verifier, type VerifierOptions, type VerifyResult } from './verify.js';
import { createChainTracker, type ChainOptions, type ChainTracker, type GapEvent } from './chain.js';
import { readRegistry, type Registry } from './registry.js';
import type { Store, WriteUnit, RejectRow, MaybePromise } from './store.js';
import type { LogLevel } from '../../firmware/core/host.js';

export const INGEST_DEFAULTS = {
  prefix: 'depin',
  clientId: 'depin-verifier',
  /** Persistent session: the broker keeps QoS 1 messages for us while we are down. */
  cleanSession: false,
  writeMode: 'commit' as 'commit' | 'batched',
  /** batched mode: commit when this many units are buffered, or after batchMs. */
  batchSize: 256,
  batchMs: 200,
  /** How often pending links are checked against the gap grace period. */
  sweepMs: 5000,
  /** Log lines per reject reason per minute; the rest are counted and summarised. */
  logPerReasonPerMin: 20,
  /** Unsigned reject rows stored per reason per minute (a flood must not fill the disk). */
  storeRejectsPerReasonPerMin: 600,
  /** Newest batches loaded per device when first seen after a start. */
  loadRecent: 256,
  loadDrops: 64,
  connectTimeoutMs: 30000,
};

export interface IngestOptions {
  brokerUrl?: string;
  prefix?: string;
  store: Store;
  /** Registry object, or a path read at start and on reloadRegistry(). Neither: recovery mode. */
  registry?: Registry;
  registryPath?: string;
  verifier?: Omit<VerifierOptions, 'registry' | 'prefix'>;
  chain?: ChainOptions;
  clientId?: string;
  cleanSession?: boolean;
  /** Extra options for mqtt.connect (username, password, TLS...). */
  mqtt?: IClientOptions;
  writeMode?: 'commit' | 'batched';
  batchSize?: number;
  batchMs?: number;
  sweepMs?: number;
  logPerReasonPerMin?: number;
  storeRejectsPerReasonPerMin?: number;
  loadRecent?: number;
  loadDrops?: number;
  connectTimeoutMs?: number;
  log?: (level: LogLevel, msg: string) => void;
  now?: () => number;
  /** Called with every message's outcome (per-device accounting in the simulator and tests). */
  onOutcome?: (o: Outcome, topic: string | undefined) => void;
}

export type Outcome =
  | { status: 'accepted'; kid: string; seq: number; events: GapEvent[] }
  | { status: 'duplicate'; kid: string; seq: number }
  | { status: 'rejected'; reason: RejectReason; detail: string; kid?: string; seq?: number };

export interface IngestStats {
  received: number;
  accepted: number;
  duplicates: number;
  rejected: Record<RejectReason, number>;
  rejectedTotal: number;
  storeErrors: number;
  gaps: { explained: number; unexplained: number; filledLate: number };
  pendingLinks: number;
  linksVerified: number;
  /** Device address -> highest accepted seq. */
  lastSeq: Record<string, number>;
  backend: string;
  connected: boolean;
}

export interface Ingest {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): IngestStats;
  /** Verify and store one message as if it came from the broker (tests, files, benchmarks). */
  process(topic: string | undefined, bytes: Uint8Array, receivedAtMs?: number): Promise<Outcome>;
  /** Commit buffered units (batched mode) and declare overdue gaps now. */
  flush(): Promise<void>;
  reloadRegistry(registry?: Registry): void;
  readonly verifier: Verifier;
  readonly chain: ChainTracker;
}

function isPromise<T>(x: MaybePromise<T>): x is Promise<T> {
  return !!x && typeof (x as Promise<T>).then === 'function';
}

/** Fixed one-minute windows per key. */
function windowLimiter(perMin: number, now: () => number) {
  const seen = new Map<string, { start: number; n: number; dropped: number }>();
  return function allow(key: string): { ok: boolean; dropped: number } {
    const t = now();
    let w = seen.get(key);
    if (!w || t - w.start >= 60000) {
      const dropped = w ? w.dropped : 0;
      w = { start: t, n: 0, dropped: 0 };
      seen.set(key, w);
      w.n++;
      return { ok: w.n <= perMin, dropped: dropped };
    }
    w.n++;
    if (w.n <= perMin) return { ok: true, dropped: 0 };
    w.dropped++;
    return { ok: false, dropped: 0 };
  };
}

export function createIngest(opts: IngestOptions): Ingest {
  const o = { ...INGEST_DEFAULTS, ...stripUndefined(opts) };
  const store = opts.store;
  const now = opts.now || Date.now;
  const log = opts.log || ((level: LogLevel, msg: string) => console.error('[verifier] ' + level + ': ' + msg));
  let registry = opts.registry || (opts.registryPath ? readRegistry(opts.registryPath) : undefined);
  const verifier = createVerifier({ ...opts.verifier, prefix: o.prefix, registry: registry, warn: (m) => log('warn', m) });
  const chain = createChainTracker(opts.chain);
  const logAllow = windowLimiter(o.logPerReasonPerMin, now);
  const storeAllow = windowLimiter(o.storeRejectsPerReasonPerMin, now);

  const counts = {
    received: 0,
    accepted: 0,
    duplicates: 0,
    storeErrors: 0,
    rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
  };
  let client: MqttClient | undefined;
  let connected = false;
  /** Rejects a start() still waiting for its subscription when stop() comes first. */
  let abortStart: ((e: Error) => void) | undefined;
  let tail: Promise<unknown> = Promise.resolve();
  let buffered: WriteUnit[] = [];
  /** Devices with units in `buffered`, to forget if the commit fails. */
  let bufferedDevices = new Set<string>();
  const timers: ReturnType<typeof setInterval>[] = [];

  if (registry) syncRegistry(registry);

  function syncRegistry(reg: Registry): void {
    const r = store.syncDevices(reg.devices.map((d) => ({ address: d.address, publicKey: d.publicKey, label: d.label, revoked: d.revoked })));
    if (isPromise(r)) r.catch((e) => log('error', 'store: syncing the registry failed: ' + (e as Error).message));
  }

  function noteReject(r: { reason: RejectReason; detail: string; kid?: string; seq?: number }, topic: string | undefined): void {
    counts.rejected[r.reason]++;
    const a = logAllow(r.reason);
    if (a.dropped) log('warn', 'reject ' + r.reason + ': ' + a.dropped + ' more in the last minute not logged');
    if (a.ok)
      log('warn', 'reject ' + r.reason + (r.kid ? ' device ' + r.kid : '') + (r.seq !== undefined ? ' seq ' + r.seq : '') + (topic ? ' topic ' + topic : '') + ': ' + r.detail);
  }

  async function commit(units: WriteUnit[], devices: Iterable<string>): Promise<void> {
    if (!units.length) return;
    try {
      const r = store.write(units);
      if (isPromise(r)) await r;
    } catch (e) {
      counts.storeErrors++;
      // The chain tracker already counted these batches as held; make it ask the store again.
      for (const d of devices) chain.forget(d);
      log('error', 'store write of ' + units.length + ' unit(s) failed: ' + (e as Error).message);
      throw e;
    }
  }

  async function persist(unit: WriteUnit, device: string | undefined): Promise<void> {
    if (o.writeMode === 'batched') {
      buffered.push(unit);
      if (device) bufferedDevices.add(device);
      if (buffered.length >= o.batchSize) await flushBuffer();
      return;
    }
    await commit([unit], device ? [device] : []);
  }

  async function flushBuffer(): Promise<void> {
    const units = buffered;
    const devs = bufferedDevices;
    buffered = [];
    bufferedDevices = new Set();
    await commit(units, devs);
  }

  async function handle(topic: string | undefined, bytes: Uint8Array, at: number): Promise<Outcome> {
    counts.received++;
    const v: VerifyResult = verifier.verifyMessage(topic, bytes, at);
    if (!v.ok) {
      noteReject(v, topic);
      if (storeAllow(v.reason).ok) {
        const row: RejectRow = { at: at, reason: v.reason, detail: v.detail, topic: topic, device: v.kid, seq: v.seq };
        await persist({ rejects: [row] }, undefined);
      }
      return { status: 'rejected', reason: v.reason, detail: v.detail, kid: v.kid, seq: v.seq };
    }
    const dev = v.kid;
    const b = v.batch;
    if (!chain.loaded(dev)) {
      let snap = store.loadDevice(dev, { recent: o.loadRecent, drops: o.loadDrops });
      if (isPromise(snap)) snap = await snap;
      chain.load(dev, snap);
    }
    for (const seq of chain.missing(dev, b.seq, b.pseq)) {
      let ref = store.lookupBatch(dev, seq);
      if (isPromise(ref)) ref = await ref;
      chain.prime(dev, seq, ref);
    }
    const r = chain.admit(dev, { seq: b.seq, pseq: b.pseq, prev: b.prev, payloadHash: v.payloadHash, drop: b.drop, receivedAt: at });
    if (r.status === 'duplicate') {
      counts.duplicates++;
      return { status: 'duplicate', kid: dev, seq: b.seq };
    }
    if (r.status !== 'accepted') {
      noteReject({ reason: r.status, detail: r.detail, kid: dev, seq: b.seq }, topic);
      // Signed by the device key: always kept, with the message, as evidence.
      await persist({ rejects: [{ at: at, reason: r.status, detail: r.detail, topic: topic, device: dev, seq: b.seq, raw: v.message }] }, undefined);
      return { status: 'rejected', reason: r.status, detail: r.detail, kid: dev, seq: b.seq };
    }
    counts.accepted++;
    for (const e of r.events) logGap(e);
    await persist({ batch: v, gaps: r.events.length ? r.events : undefined }, dev);
    return { status: 'accepted', kid: dev, seq: b.seq, events: r.events };
  }

  function logGap(e: GapEvent): void {
    const what =
      e.kind === 'filled'
        ? 'filled late'
        : e.kind === 'explained'
          ? 'now explained by the drop report in seq ' + e.dropReportSeq
          : e.explained
            ? 'explained by the drop report in seq ' + e.dropReportSeq
            : 'UNEXPLAINED';
    log(e.kind === 'declared' && !e.explained ? 'warn' : 'info', 'gap device ' + e.device + ' seq ' + e.seq + ' (before seq ' + e.nextSeq + '): ' + what);
  }

  function enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = tail.then(fn);
    tail = p.catch(() => undefined);
    return p;
  }

  function process(topic: string | undefined, bytes: Uint8Array, receivedAtMs?: number): Promise<Outcome> {
    const at = receivedAtMs === undefined ? now() : receivedAtMs;
    const p = enqueue(() => handle(topic, bytes, at));
    const hook = opts.onOutcome;
    return hook ? p.then((o) => (hook(o, topic), o)) : p;
  }

  function sweep(): Promise<void> {
    return enqueue(async () => {
      const events = chain.sweep(now());
      for (const e of events) logGap(e);
      if (events.length) await persist({ gaps: events }, undefined);
    });
  }

  function flush(): Promise<void> {
    return sweep().then(() => enqueue(flushBuffer));
  }

  function stats(): IngestStats {
    const c = chain.stats();
    const lastSeq: Record<string, number> = {};
    for (const d of chain.perDevice()) lastSeq[d.device] = d.lastSeq;
    let total = 0;
    for (const r of REJECT_REASONS) total += counts.rejected[r];
    return {
      received: counts.received,
      accepted: counts.accepted,
      duplicates: counts.duplicates,
      rejected: { ...counts.rejected },
      rejectedTotal: total,
      storeErrors: counts.storeErrors,
      gaps: c.gaps,
      pendingLinks: c.pendingLinks,
      linksVerified: c.linksVerified,
      lastSeq: lastSeq,
      backend: verifier.backend.name,
      connected: connected,
    };
  }

  function start(): Promise<void> {
    if (!o.brokerUrl) return Promise.reject(new Error('ingest: "brokerUrl" is required to start'));
    if (client) return Promise.reject(new Error('ingest: already started'));
    timers.push(setInterval(() => sweep().catch(() => undefined), o.sweepMs));
    if (o.writeMode === 'batched') timers.push(setInterval(() => enqueue(flushBuffer).catch(() => undefined), o.batchMs));
    const filter = o.prefix + '/+/tele';
    const c = mqtt.connect(o.brokerUrl, {
      clientId: o.clientId,
      clean: o.cleanSession,
      reconnectPeriod: 1000,
      ...opts.mqtt,
    });
    client = c;
    // QoS 1 acknowledgement happens when the callback runs: after the commit in 'commit' mode.
    c.handleMessage = (packet, cb) => {
      const bytes = packet.payload as Uint8Array;
      process(packet.topic, typeof bytes === 'string' ? Buffer.from(bytes) : bytes).then(
        () => cb(),
        (e) => cb(e as Error),
      );
    };
    c.on('connect', () => {
      connected = true;
      log('info', 'connected to ' + o.brokerUrl);
    });
    c.on('close', () => {
      if (connected) log('warn', 'disconnected from ' + o.brokerUrl);
      connected = false;
    });
    c.on('error', (e) => {
      // Reconnecting every second to a dead broker must not flood the log either.
      const a = logAllow('mqtt-error');
      if (a.dropped) log('error', 'mqtt: ' + a.dropped + ' more errors in the last minute not logged');
      if (a.ok) log('error', 'mqtt: ' + e.message);
    });
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('ingest: no subscription to ' + filter + ' within ' + o.connectTimeoutMs + ' ms')), o.connectTimeoutMs);
      abortStart = (e) => {
        clearTimeout(t);
        reject(e);
      };
      const sub = () => {
        c.subscribe(filter, { qos: 1 }, (e, granted) => {
          if (e) {
            clearTimeout(t);
            return reject(e);
          }
          if (granted && granted[0] && granted[0].qos === 128) {
            clearTimeout(t);
            return reject(new Error('ingest: broker refused the subscription to ' + filter));
          }
          clearTimeout(t);
          log('info', 'subscribed to ' + filter + ' (QoS 1), backend ' + verifier.backend.name + ', store ' + store.kind);
          resolve();
        });
      };
      if (c.connected) sub();
      else c.once('connect', sub);
    });
  }

  async function stop(): Promise<void> {
    if (abortStart) abortStart(new Error('ingest: stopped before the subscription was made'));
    abortStart = undefined;
    for (const t of timers) clearInterval(t);
    timers.length = 0;
    const c = client;
    client = undefined;
    if (c) await new Promise<void>((res) => c.end(false, {}, () => res()));
    connected = false;
    await enqueue(flushBuffer);
  }

  return {
    start,
    stop,
    stats,
    process,
    flush,
    reloadRegistry(reg?: Registry) {
      const next = reg || (opts.registryPath ? readRegistry(opts.registryPath) : registry);
      registry = next;
      verifier.setRegistry(next);
      if (next) syncRegistry(next);
      log('info', 'registry ' + (next ? 'loaded: ' + next.devices.length + ' device(s)' : 'none: recovery mode'));
    },
    verifier,
    chain,
  };
}

function stripUndefined<T extends object>(x: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(x) as (keyof T)[]) if (x[k] !== undefined) out[k] = x[k];
  return out;
}
