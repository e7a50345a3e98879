// Ingest: MQTT subscriber -> verify -> sequence/chain -> store. Messages are processed one at a
// time in arrival order (the chain state depends on it). By default a QoS 1 message is
// acknowledged only after its transaction committed, so a crash never loses an acked batch;
// 'batched' mode acknowledges on receipt and commits in groups for throughput, at the risk of
// losing the last group on a crash (the chain would later report those as gaps).
//
// Scale-out (`share`, docs/scaling.md): several processes subscribe to
// $share/<group>/<prefix>/+/tele and the broker deals each message to one of them. The chain is
// then decided by the database (chainState 'database', chain-db.ts) instead of this process's
// memory, since each process sees only part of every device's stream.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createVerifier, REJECT_REASONS, type RejectReason, type Verifier, type VerifierOptions, type VerifyResult, type Verified } from './verify.js';
import { createChainTracker, CHAIN_DEFAULTS, type ChainOptions, type ChainTracker, type GapEvent } from './chain.js';
import type { Verdict } from './chain-db.js';
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
  /**
   * share: MQTT 5 session expiry of the persistent session (s). Never (2^32 - 1), as a 3.1.1
   * persistent session: messages dealt to a member that is down wait for it, never discarded.
   */
  sessionExpiryS: 0xffffffff,
  /**
   * Database mode: each gap sweep looks this far behind the previous sweep's watermark, for
   * batches committed after it (group commits, a slow transaction, clocks of other hosts).
   */
  sweepOverlapMs: 60000,
  /** share: how long stop() waits for the broker to confirm leaving the group. */
  leaveTimeoutMs: 5000,
};

/** MQTT 5 §4.8.2: a ShareName is at least one character, without "/", "+" or "#". */
const SHARE_NAME = /^[^/+#]+$/;

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
  /**
   * Shared subscription group: subscribe to $share/<share>/<prefix>/+/tele over MQTT 5 (Mosquitto
   * >= 1.6, EMQX, HiveMQ, VerneMQ; not aedes) so the processes of a group share the messages.
   * Implies chainState 'database'. Give each member its own stable clientId.
   */
  share?: string;
  /**
   * 'memory' (default without share): chain.ts in this process, which must see every message.
   * 'database': every decision read from the store inside a locked transaction (chain-db.ts);
   * the store must implement writeChecked/declareGaps (SQLite, PostgreSQL).
   */
  chainState?: 'memory' | 'database';
  sessionExpiryS?: number;
  sweepOverlapMs?: number;
  leaveTimeoutMs?: number;
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
  const share = opts.share;
  if (share !== undefined && (typeof share !== 'string' || !SHARE_NAME.test(share)))
    throw new TypeError('ingest: "share" expected a group name without "/", "+" or "#" (MQTT 5 4.8.2), got ' + JSON.stringify(share));
  if (opts.chainState !== undefined && opts.chainState !== 'memory' && opts.chainState !== 'database')
    throw new TypeError('ingest: "chainState" expected "memory" or "database", got ' + JSON.stringify(opts.chainState));
  if (share !== undefined && opts.chainState === 'memory')
    throw new Error('ingest: "share" needs chainState "database": each process sees only part of a device\'s stream');
  const dbMode = (opts.chainState ?? (share !== undefined ? 'database' : 'memory')) === 'database';
  if (dbMode && !(store.writeChecked && store.declareGaps))
    throw new Error('ingest: chainState "database"' + (share !== undefined ? ' (needed by "share")' : '') + ' needs a store that decides chain links (SQLite, PostgreSQL), got ' + store.kind);
  const gapGraceMs = opts.chain?.gapGraceMs ?? CHAIN_DEFAULTS.gapGraceMs;
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
  /** Database mode, batched: who waits for the verdict of each buffered unit (undefined for rejects). */
  let waiters: (Waiter | undefined)[] = [];
  /** Database mode: what this process decided, and what the last sweep found in the database. */
  const db = { links: 0, gaps: { explained: 0, unexplained: 0, filledLate: 0 }, pending: 0, lastSeq: new Map<string, number>() };
  const maxDevices = opts.chain?.maxDevices ?? CHAIN_DEFAULTS.maxDevices;

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
    if (dbMode) {
      if (o.writeMode === 'batched') {
        buffered.push(unit);
        waiters.push(undefined);
        if (buffered.length >= o.batchSize) await flushBuffer();
        return;
      }
      await commitChecked([unit]);
      return;
    }
    if (o.writeMode === 'batched') {
      buffered.push(unit);
      if (device) bufferedDevices.add(device);
      if (buffered.length >= o.batchSize) await flushBuffer();
      return;
    }
    await commit([unit], device ? [device] : []);
  }

  async function flushBuffer(): Promise<void> {
    if (dbMode) {
      const units = buffered;
      const ws = waiters;
      buffered = [];
      waiters = [];
      if (!units.length) return;
      let verdicts: (Verdict | undefined)[];
      try {
        verdicts = await commitChecked(units);
      } catch (e) {
        for (const w of ws) if (w) w.fail(e as Error);
        throw e;
      }
      for (let i = 0; i < ws.length; i++) if (ws[i]) ws[i]!.settle(verdicts[i] as Verdict);
      return;
    }
    const units = buffered;
    const devs = bufferedDevices;
    buffered = [];
    bufferedDevices = new Set();
    await commit(units, devs);
  }

  // ---- database mode (chain-db.ts) --------------------------------------------------------------

  /** Writes units through the store's checked path and accounts for every verdict. */
  async function commitChecked(units: WriteUnit[]): Promise<(Verdict | undefined)[]> {
    let verdicts: (Verdict | undefined)[];
    try {
      const r = store.writeChecked!(units);
      verdicts = isPromise(r) ? await r : r;
    } catch (e) {
      counts.storeErrors++;
      log('error', 'store write of ' + units.length + ' unit(s) failed: ' + (e as Error).message);
      throw e;
    }
    for (let i = 0; i < units.length; i++) {
      const v = units[i].batch;
      const d = verdicts[i];
      if (!v || !d) continue;
      if (d.status === 'accepted') {
        counts.accepted++;
        db.links += d.links;
        const last = db.lastSeq.get(v.kid);
        if (last === undefined && db.lastSeq.size >= maxDevices) db.lastSeq.delete(db.lastSeq.keys().next().value as string);
        if (last === undefined || v.batch.seq > last) db.lastSeq.set(v.kid, v.batch.seq);
        for (const e of d.events) logGap(e);
      } else if (d.status === 'duplicate') counts.duplicates++;
      else noteReject({ reason: d.status, detail: d.detail, kid: v.kid, seq: v.batch.seq }, v.topic);
    }
    return verdicts;
  }

  function outcomeOf(v: Verified, d: Verdict): Outcome {
    const seq = v.batch.seq;
    if (d.status === 'accepted') return { status: 'accepted', kid: v.kid, seq, events: d.events };
    if (d.status === 'duplicate') return { status: 'duplicate', kid: v.kid, seq };
    return { status: 'rejected', reason: d.status, detail: d.detail, kid: v.kid, seq };
  }

  async function handleDb(topic: string | undefined, bytes: Uint8Array, at: number): Promise<Handled> {
    counts.received++;
    const v: VerifyResult = verifier.verifyMessage(topic, bytes, at);
    if (!v.ok) return { outcome: await rejectUnsigned(v, topic, at) };
    const unit: WriteUnit = { batch: v };
    if (o.writeMode === 'batched') {
      let w: Waiter | undefined;
      const verdict = new Promise<Verdict>((settle, fail) => (w = { settle, fail }));
      const later = verdict.then((d) => outcomeOf(v, d));
      later.catch(() => undefined); // the commit's failure is counted and logged; callers may not wait
      buffered.push(unit);
      waiters.push(w);
      if (buffered.length >= o.batchSize) await flushBuffer();
      return { later };
    }
    const [d] = await commitChecked([unit]);
    return { outcome: outcomeOf(v, d as Verdict) };
  }

  async function rejectUnsigned(v: Exclude<VerifyResult, Verified>, topic: string | undefined, at: number): Promise<Outcome> {
    noteReject(v, topic);
    if (storeAllow(v.reason).ok) {
      const row: RejectRow = { at: at, reason: v.reason, detail: v.detail, topic: topic, device: v.kid, seq: v.seq };
      await persist({ rejects: [row] }, undefined);
    }
    return { status: 'rejected', reason: v.reason, detail: v.detail, kid: v.kid, seq: v.seq };
  }

  // ---- memory mode (chain.ts) ------------------------------------------------------------------

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

  /**
   * `queued`: the message is handled up to its write (committed, or buffered in batched mode);
   * `outcome`: the verdict (in database mode with batched writes, after the group commit).
   */
  function receive(topic: string | undefined, bytes: Uint8Array, receivedAtMs?: number): { queued: Promise<Handled>; outcome: Promise<Outcome> } {
    const at = receivedAtMs === undefined ? now() : receivedAtMs;
    const queued = enqueue(() => (dbMode ? handleDb(topic, bytes, at) : handle(topic, bytes, at).then((x): Handled => ({ outcome: x }))));
    const p = queued.then((h) => ('later' in h ? h.later : h.outcome));
    const hook = opts.onOutcome;
    return { queued, outcome: hook ? p.then((x) => (hook(x, topic), x)) : p };
  }

  function process(topic: string | undefined, bytes: Uint8Array, receivedAtMs?: number): Promise<Outcome> {
    return receive(topic, bytes, receivedAtMs).outcome;
  }

  function sweep(): Promise<void> {
    return enqueue(async () => {
      if (dbMode) {
        // Buffered batches first: the sweep sees only committed rows, and would take a buffered
        // predecessor for missing.
        await flushBuffer();
        let r = store.declareGaps!(now(), gapGraceMs, o.sweepOverlapMs);
        if (isPromise(r)) r = await r;
        for (const e of r.events) logGap(e);
        db.gaps = { explained: r.open.explained, unexplained: r.open.unexplained, filledLate: r.filledLate };
        db.pending = r.pending;
        return;
      }
      const events = chain.sweep(now());
      for (const e of events) logGap(e);
      if (events.length) await persist({ gaps: events }, undefined);
    });
  }

  function flush(): Promise<void> {
    // Database mode: the sweep commits the buffer first.
    return dbMode ? sweep() : sweep().then(() => enqueue(flushBuffer));
  }

  function stats(): IngestStats {
    // Database mode: gaps and pending links are the database's, as of the last sweep.
    const c = dbMode ? { gaps: { ...db.gaps }, pendingLinks: db.pending, linksVerified: db.links } : chain.stats();
    const lastSeq: Record<string, number> = {};
    if (dbMode) for (const [k, v] of db.lastSeq) lastSeq[k] = v;
    else for (const d of chain.perDevice()) lastSeq[d.device] = d.lastSeq;
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
    timers.push(
      setInterval(
        () =>
          sweep().catch((e) => {
            if (logAllow('sweep').ok) log('error', 'gap sweep failed: ' + (e as Error).message);
          }),
        o.sweepMs,
      ),
    );
    if (o.writeMode === 'batched') timers.push(setInterval(() => enqueue(flushBuffer).catch(() => undefined), o.batchMs));
    const filter = subscription();
    const c = mqtt.connect(o.brokerUrl, {
      clientId: o.clientId,
      clean: o.cleanSession,
      reconnectPeriod: 1000,
      // $share is MQTT 5 (§4.8.2); a broker without MQTT 5 is refused here instead of granting
      // the filter as a plain topic and delivering nothing (aedes 1.x does that over 3.1.1).
      ...(share !== undefined ? { protocolVersion: 5 as const, properties: { sessionExpiryInterval: o.cleanSession ? 0 : o.sessionExpiryS } } : {}),
      ...opts.mqtt,
    });
    client = c;
    // QoS 1 acknowledgement happens when the callback runs: after the commit in 'commit' mode,
    // once buffered in 'batched' mode.
    c.handleMessage = (packet, cb) => {
      const bytes = packet.payload as Uint8Array;
      const r = receive(packet.topic, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
      if (dbMode && o.writeMode === 'batched') {
        r.outcome.catch(() => undefined); // a failed group commit is counted and logged
        r.queued.then(
          () => cb(),
          (e) => cb(e as Error),
        );
      } else
        r.outcome.then(
          () => cb(),
          (e) => cb(e as Error),
        );
    };
    c.on('connect', (connack) => {
      connected = true;
      log('info', 'connected to ' + o.brokerUrl);
      if (share !== undefined && connack.properties && connack.properties.sharedSubscriptionAvailable === false && abortStart)
        abortStart(new Error('ingest: the broker at ' + o.brokerUrl + ' announces no shared subscriptions (CONNACK), "share" needs them'));
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
        abortStart = undefined;
        reject(e);
      };
      if (share !== undefined)
        c.on('error', (e) => {
          // CONNACK 0x01 (3.1.1) or 0x84 (5): the broker does not speak MQTT 5.
          const code = (e as { code?: number }).code;
          if ((code === 1 || code === 0x84) && abortStart)
            abortStart(new Error('ingest: the broker at ' + o.brokerUrl + ' refused MQTT 5, which shared subscriptions ("share") need (aedes has neither: use Mosquitto >= 1.6, EMQX, HiveMQ or VerneMQ)'));
        });
      const sub = () => {
        c.subscribe(filter, { qos: 1 }, (e, granted) => {
          if (e) {
            clearTimeout(t);
            return reject(e);
          }
          // 0x80 and up are failures (3.1.1: 0x80; 5: e.g. 0x9E shared subscriptions not supported).
          if (granted && granted[0] && granted[0].qos >= 0x80) {
            clearTimeout(t);
            return reject(new Error('ingest: broker refused the subscription to ' + filter + ' (reason code 0x' + granted[0].qos.toString(16) + ')'));
          }
          clearTimeout(t);
          abortStart = undefined;
          log('info', 'subscribed to ' + filter + ' (QoS 1), backend ' + verifier.backend.name + ', store ' + store.kind + (dbMode ? ', chain in the database' : ''));
          resolve();
        });
      };
      if (c.connected) sub();
      else c.once('connect', sub);
    });
  }

  function subscription(): string {
    return (share !== undefined ? '$share/' + share + '/' : '') + o.prefix + '/+/tele';
  }

  /**
   * A clean stop of a group member leaves the group first: the broker stops dealing its session
   * messages, and the ones already dealt are handled and acknowledged before the link closes,
   * so a member that never comes back strands nothing in its session (only a crash does).
   */
  async function leave(c: MqttClient): Promise<void> {
    if (!c.connected) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const left = await Promise.race([
      new Promise<boolean>((res) => c.unsubscribe(subscription(), (e) => res(!e))),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(false), o.leaveTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (!left) log('warn', 'leaving the group ' + share + ' was not confirmed within ' + o.leaveTimeoutMs + ' ms');
    await enqueue(async () => undefined);
    await new Promise((r) => setImmediate(r)); // acknowledgements of the last messages go out
  }

  async function stop(): Promise<void> {
    if (abortStart) abortStart(new Error('ingest: stopped before the subscription was made'));
    abortStart = undefined;
    for (const t of timers) clearInterval(t);
    timers.length = 0;
    const c = client;
    client = undefined;
    if (c && share !== undefined) await leave(c);
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

type Handled = { outcome: Outcome } | { later: Promise<Outcome> };
interface Waiter {
  settle(v: Verdict): void;
  fail(e: Error): void;
}

function stripUndefined<T extends object>(x: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(x) as (keyof T)[]) if (x[k] !== undefined) out[k] = x[k];
  return out;
}
