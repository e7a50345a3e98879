// The agent loop: sources on their own schedules -> readings -> batches (by count or age) ->
// sealed (signed over many ticks) -> persistent outbox -> MQTT publish -> removed on PUBACK.
//
// Durable order of a batch (each step survives a power cut):
//   1. seq from Counters (reserved in blocks, never reused);
//   2. sealed in RAM (resumable job; the event loop keeps running);
//   3. pushed into the outbox (flash);
//   4. chain head {seq, payload hash} saved.
// A cut between 3 and 4 is healed at boot: the head is the newer of the saved head and the
// newest batch in the outbox, so the next batch always links to the last one sealed and pushed.
// A cut before 3 loses only readings still in RAM (at most one batch) and a sequence number,
// which the verifier does not count as a gap (nothing links to it).
//
// Topics (prefix configurable): <prefix>/<address>/tele (signed batches, QoS 1),
// .../status (retained "online"; the Will sets "offline"), .../meta (retained birth record),
// .../cmd (operator commands, COSE_Sign1 signed by a configured operator key), .../cmdack.
import type { Host } from '../host.js';
import { err, aint } from '../util/errors.js';
import { toHex, utf8Encode, equalBytes, copyBytes } from '../util/bytes.js';
import { CborMap, encode, decode } from '../codec/cbor.js';
import { decodeSign1 } from '../codec/cose.js';
import { getPublicKey, isValidPrivateKey, recoverPublicKey, verify } from '../crypto/secp256k1/index.js';
import { encodePayload, type Batch, type DropReport } from '../telemetry/batch.js';
import { checkReading, type Reading } from '../telemetry/senml.js';
import { addressFromPublicKey, createSealJob, payloadHash, signingHash, type SealJob } from '../telemetry/envelope.js';
import { MqttClient, type MqttClientOptions } from './mqtt-client.js';
import { Outbox, type OutboxConfig } from './outbox.js';
import { Counters, type CountersConfig } from './counters.js';
import { StateLog } from './flash-log.js';

import type { Source, SourceValue } from '../sources/source.js';
export type { Source, SourceValue } from '../sources/source.js';

// ---------------------------------------------------------------------------------------------
// Configuration

export interface AgentConfig {
  /** Topic prefix: topics are <prefix>/<address>/... */
  prefix: string;
  broker: Pick<MqttClientOptions, 'host' | 'port' | 'tls' | 'ca' | 'username' | 'password' | 'keepAliveS' | 'pingTimeoutMs' | 'connectTimeoutMs' | 'maxInflight' | 'maxPacketSize' | 'reconnect'>;
  /** Seal a batch once this many readings wait ... */
  batchMaxReadings: number;
  /** ... or once the oldest waiting reading is this old. */
  batchMaxAgeMs: number;
  /** Readings kept in RAM waiting for a batch; beyond it the oldest are dropped and counted. */
  maxPendingReadings: number;
  /** Signing work per tick (units of the sign job; undefined: its default). */
  signBudget?: number;
  /** Batches handed to the MQTT client at once (its queue holds encoded copies in RAM). */
  publishWindow: number;
  /** Addresses (hex, 20 bytes) whose signed commands are accepted on .../cmd. */
  operators: string[];
  firmware: string;
  board: string;
  outbox?: Partial<OutboxConfig>;
  counters?: Partial<CountersConfig>;
  /** Storage file names of the agent's own state (<= 27 chars). */
  files?: { key?: string; chain?: string; cmd?: string };
}

export const AGENT_DEFAULTS = {
  prefix: 'depin',
  batchMaxReadings: 48,
  batchMaxAgeMs: 5 * 60 * 1000,
  maxPendingReadings: 512,
  publishWindow: 4,
  files: { key: 'key', chain: 'chn', cmd: 'cmd' },
};

/** Command settings an operator may change, with their bounds. */
const SETTABLE: { [k: string]: [number, number] } = {
  batchMaxReadings: [1, 1024],
  batchMaxAgeMs: [1000, 86400000],
};
const SOURCE_INTERVAL: [number, number] = [100, 86400000];

// ---------------------------------------------------------------------------------------------
// Stats

export interface AgentStats {
  boot: number;
  address: string;
  readings: number;
  /** Readings dropped because maxPendingReadings was reached (before signing). */
  readingsDropped: number;
  sourceErrors: number;
  /** Reads not started because the source's previous read had not answered yet. */
  readsSkipped: number;
  batches: number;
  /** Batches acknowledged by the broker (removed from the outbox). */
  acked: number;
  /** Payload bytes of sealed messages. */
  bytesSealed: number;
  signMsTotal: number;
  signSteps: number;
  /** Longest single signing step, in ms of the platform clock. */
  signMaxStepMs: number;
  queue: number;
  dropped: number;
  commandsApplied: number;
  commandsRejected: number;
  mqtt: MqttClient['stats'];
  lastSeq: number;
  state: string;
}

// ---------------------------------------------------------------------------------------------
// Persistent state of the agent itself

const CHAIN_TAG = 0xc7;
const CMD_TAG = 0xcd;
const STATE_FILE_BYTES = 512;

interface ChainHead {
  seq: number;
  hash: Uint8Array;
}

function loadChain(log: StateLog): ChainHead {
  const b = log.load();
  if (!b || b.length !== 36) return { seq: 0, hash: new Uint8Array(32) };
  const seq = ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
  return { seq: seq, hash: copyBytes(b, 4, 36) };
}

function saveChain(log: StateLog, h: ChainHead): void {
  const b = new Uint8Array(36);
  b[0] = (h.seq >>> 24) & 255;
  b[1] = (h.seq >>> 16) & 255;
  b[2] = (h.seq >>> 8) & 255;
  b[3] = h.seq & 255;
  b.set(h.hash, 4);
  log.save(b);
}

/** The device key: generated on the device from host entropy, kept in Storage, never sent. */
export function loadOrCreateKey(host: Host, file: string): Uint8Array {
  const k = host.storage.read(file);
  if (k && k.length === 32 && isValidPrivateKey(k)) return copyBytes(k);
  if (k) throw err('E_KEY', 'Storage file "' + file + '" holds no valid key; refusing to replace it (erase it to make a new identity)');
  for (let i = 0; i < 8; i++) {
    const c = host.entropy.randomBytes(32);
    if (c.length === 32 && isValidPrivateKey(c)) {
      host.storage.write(file, c);
      return c;
    }
  }
  throw err('E_ENTROPY', 'entropy source gave no valid private key in 8 tries');
}

function cfgInt(name: string, v: unknown, d: number, min: number, max: number): number {
  return aint(name, v === undefined ? d : v, min, max);
}

// ---------------------------------------------------------------------------------------------
// The agent

export class Agent {
  readonly address: Uint8Array;
  readonly addressHex: string;
  readonly publicKey: Uint8Array;
  readonly topics: { tele: string; status: string; meta: string; cmd: string; cmdack: string };
  readonly client: MqttClient;
  readonly outbox: Outbox;
  readonly counters: Counters;
  private readonly host: Host;
  private readonly cfg: AgentConfig;
  private readonly key: Uint8Array;
  private readonly chainLog: StateLog;
  private readonly cmdLog: StateLog;
  private readonly sources: Source[];
  private readonly sourceTimers: unknown[] = [];
  private readonly busy: boolean[] = [];
  private pending: { r: SourceValue; sid: string; up: number }[] = [];
  private head: ChainHead;
  private job: SealJob | undefined;
  private jobDrop: DropReport | undefined;
  private jobMeta: { seq: number; payload: Uint8Array; started: number } | undefined;
  private stepTimer: unknown;
  private ageTimer: unknown;
  private inflight: { [id: string]: DropReport | true } = {};
  private inflightCount = 0;
  private running = false;
  private cmdSeq = 0;
  /** Every setting operator commands applied so far (persisted with the last command seq). */
  private settings = new CborMap();
  private s: AgentStats;

  constructor(host: Host, config: AgentConfig, sources: Source[]) {
    if (!host || typeof host !== 'object') throw err('E_TYPE', '"host" expected an object', TypeError);
    if (!config || typeof config !== 'object') throw err('E_TYPE', '"config" expected an object', TypeError);
    this.host = host;
    // A copy with the defaults filled in: the agent reads only checked values, and operator
    // commands change this copy, never the caller's object.
    const c = {} as AgentConfig;
    for (const k in config) if (config.hasOwnProperty(k)) (c as any)[k] = (config as any)[k];
    c.batchMaxReadings = cfgInt('batchMaxReadings', c.batchMaxReadings, AGENT_DEFAULTS.batchMaxReadings, 1, 1024);
    c.batchMaxAgeMs = cfgInt('batchMaxAgeMs', c.batchMaxAgeMs, AGENT_DEFAULTS.batchMaxAgeMs, 1, 86400000);
    c.maxPendingReadings = cfgInt('maxPendingReadings', c.maxPendingReadings, AGENT_DEFAULTS.maxPendingReadings, 1, 65536);
    c.publishWindow = cfgInt('publishWindow', c.publishWindow, AGENT_DEFAULTS.publishWindow, 1, 64);
    if (typeof c.prefix !== 'string' || !/^[A-Za-z0-9_\-\/]+$/.test(c.prefix) || c.prefix.charAt(c.prefix.length - 1) === '/')
      throw err('E_CONFIG', '"prefix" expected topic levels of A-Z a-z 0-9 _ - separated by /, got ' + JSON.stringify(c.prefix));
    if (!(c.operators instanceof Array)) throw err('E_CONFIG', '"operators" expected an array of 40-hex-digit addresses');
    for (let i = 0; i < c.operators.length; i++)
      if (typeof c.operators[i] !== 'string' || !/^[0-9a-f]+$/.test(c.operators[i]) || c.operators[i].length !== 40)
        throw err('E_CONFIG', '"operators[' + i + ']" expected 40 lowercase hex digits, got ' + JSON.stringify(c.operators[i]));
    if (!(sources instanceof Array)) throw err('E_CONFIG', '"sources" expected an array');
    const ids: { [id: string]: boolean } = {};
    for (let i = 0; i < sources.length; i++) {
      const src = sources[i];
      if (!src || typeof src.id !== 'string' || !/^[A-Za-z0-9_\-]+$/.test(src.id))
        throw err('E_CONFIG', 'sources[' + i + '].id expected letters, digits, _ or -');
      if (ids[src.id]) throw err('E_CONFIG', 'sources[' + i + '].id "' + src.id + '" is used twice');
      ids[src.id] = true;
      aint('sources[' + i + '].intervalMs', src.intervalMs, SOURCE_INTERVAL[0], SOURCE_INTERVAL[1]);
      this.busy.push(false);
    }
    this.cfg = c;
    this.sources = sources;
    const files = c.files || {};
    const now = host.clock.uptime();
    // Boot: counters first (the boot counter is persisted before anything of this boot is signed).
    this.counters = new Counters(host.storage, c.counters, now);
    this.outbox = new Outbox(host.storage, c.outbox);
    this.chainLog = new StateLog(host.storage, files.chain || AGENT_DEFAULTS.files.chain, STATE_FILE_BYTES, CHAIN_TAG);
    this.cmdLog = new StateLog(host.storage, files.cmd || AGENT_DEFAULTS.files.cmd, STATE_FILE_BYTES, CMD_TAG);
    this.head = this.recoverHead();
    this.key = loadOrCreateKey(host, files.key || AGENT_DEFAULTS.files.key);
    this.publicKey = getPublicKey(this.key, false);
    this.address = addressFromPublicKey(this.publicKey);
    this.addressHex = toHex(this.address);
    const base = c.prefix + '/' + this.addressHex + '/';
    this.topics = { tele: base + 'tele', status: base + 'status', meta: base + 'meta', cmd: base + 'cmd', cmdack: base + 'cmdack' };
    this.loadCommands();
    const self = this;
    const b = c.broker;
    this.client = new MqttClient(host, {
      host: b.host,
      port: b.port,
      tls: b.tls,
      ca: b.ca,
      username: b.username,
      password: b.password,
      keepAliveS: b.keepAliveS,
      pingTimeoutMs: b.pingTimeoutMs,
      connectTimeoutMs: b.connectTimeoutMs,
      maxInflight: b.maxInflight,
      maxPacketSize: b.maxPacketSize,
      reconnect: b.reconnect,
      // Stable per device: the broker keeps its QoS 1 session across links.
      clientId: 'd-' + this.addressHex,
      cleanSession: false,
      maxQueued: c.publishWindow + 4,
      will: { topic: this.topics.status, payload: utf8Encode('offline'), qos: 1, retain: true },
      onState: function (state) {
        // The client announces CONNECTED after re-sending its unacknowledged publishes, so
        // what onConnected() publishes goes out once.
        if (state === 'CONNECTED' && self.running) self.onConnected();
      },
      onMessage: function (topic, payload) {
        if (topic === self.topics.cmd) self.onCommand(payload);
      },
    });
    this.s = {
      boot: this.counters.boot(),
      address: this.addressHex,
      readings: 0,
      readingsDropped: 0,
      sourceErrors: 0,
      readsSkipped: 0,
      batches: 0,
      acked: 0,
      bytesSealed: 0,
      signMsTotal: 0,
      signSteps: 0,
      signMaxStepMs: 0,
      queue: 0,
      dropped: 0,
      commandsApplied: 0,
      commandsRejected: 0,
      mqtt: this.client.stats,
      lastSeq: this.head.seq,
      state: 'DISCONNECTED',
    };
  }

  /** The newer of the saved chain head and the newest batch still in the outbox. */
  private recoverHead(): ChainHead {
    const h = loadChain(this.chainLog);
    const all = this.outbox.peek(this.outbox.depth());
    for (let i = 0; i < all.length; i++) {
      if (all[i].seq > h.seq) {
        h.seq = all[i].seq;
        h.hash = payloadHash(decodeSign1(all[i].bytes).payload);
      }
    }
    return h;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const self = this;
    for (let i = 0; i < this.sources.length; i++) this.scheduleSource(i, 0);
    this.ageTimer = this.host.timers.setTimeout(function () {
      self.onAgeTick();
    }, this.ageCheckMs());
    this.client.subscribe(this.topics.cmd, 1);
    this.client.start();
  }

  /** Stops timers and the connection; pending readings stay in RAM, batches on flash. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    const t = this.host.timers;
    for (let i = 0; i < this.sourceTimers.length; i++) t.clearTimeout(this.sourceTimers[i]);
    for (let i = 0; i < this.sources.length; i++) if (this.sources[i].stop) (this.sources[i].stop as () => void)();
    t.clearTimeout(this.ageTimer);
    t.clearTimeout(this.stepTimer);
    this.client.stop();
    this.counters.flush(this.host.clock.uptime());
  }

  stats(): AgentStats {
    this.s.queue = this.outbox.depth();
    this.s.dropped = this.outbox.dropped();
    this.s.state = this.client.state;
    return this.s;
  }

  /** Seals whatever readings wait now (e.g. before a planned restart). */
  flush(): void {
    if (this.pending.length > 0 && !this.job) this.startSeal();
  }

  /** Stops sampling and seals what waits; the connection stays up so the outbox drains. */
  quiesce(): void {
    for (let i = 0; i < this.sourceTimers.length; i++) this.host.timers.clearTimeout(this.sourceTimers[i]);
    this.sourceTimers.length = 0;
    for (let i = 0; i < this.busy.length; i++) this.busy[i] = true; // no new reads start; a late answer is sealed by the age tick
    this.flush();
  }

  /** Nothing waits: no readings, no signature in progress, no batch unacknowledged. */
  idle(): boolean {
    return this.pending.length === 0 && !this.job && this.outbox.depth() === 0;
  }

  /** Birth record for .../meta: public data only. */
  meta(): Uint8Array {
    const srcs: string[] = [];
    for (let i = 0; i < this.sources.length; i++) srcs.push(this.sources[i].id);
    return utf8Encode(
      JSON.stringify({
        v: 1,
        address: this.addressHex,
        publicKey: toHex(this.publicKey),
        firmware: this.cfg.firmware,
        board: this.cfg.board,
        boot: this.counters.boot(),
        sources: srcs,
        format: 'cose-sign1-es256k/v1',
      })
    );
  }

  // ---- sampling ----

  private scheduleSource(i: number, delay: number): void {
    const self = this;
    this.sourceTimers[i] = this.host.timers.setTimeout(function () {
      if (!self.running) return;
      self.scheduleSource(i, self.sources[i].intervalMs);
      self.readSource(i);
    }, delay);
  }

  private readSource(i: number): void {
    if (this.busy[i]) {
      this.s.readsSkipped++; // a source that never answers shows here instead of silently
      return;
    }
    this.busy[i] = true;
    const self = this;
    const src = this.sources[i];
    const up = this.host.clock.uptime();
    let answered = false;
    try {
      src.read(function (e, values) {
        if (answered) return;
        answered = true;
        self.busy[i] = false;
        if (e || !values) {
          self.s.sourceErrors++;
          if (e) self.host.log('warn', 'source ' + src.id + ': ' + e.message);
          return;
        }
        self.accept(src.id, values, up);
      });
    } catch (e) {
      answered = true;
      this.busy[i] = false;
      this.s.sourceErrors++;
      this.host.log('warn', 'source ' + src.id + ' threw: ' + (e as Error).message);
    }
  }

  private accept(sid: string, values: SourceValue[], up: number): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      // Checked one by one here: a value the format refuses (NaN from a flaky sensor) would
      // otherwise fail the whole batch at sealing, and every other source's readings with it.
      try {
        checkReading({ n: sid + '/' + v.n, u: v.u, v: v.v, s: v.s, vs: v.vs, vb: v.vb, t: 0 }, 'source ' + sid + ' value');
      } catch (e) {
        this.s.readingsDropped++;
        this.host.log('warn', (e as Error).message);
        continue;
      }
      if (this.pending.length >= this.cfg.maxPendingReadings) {
        this.pending.shift();
        this.s.readingsDropped++;
      }
      this.pending.push({ r: v, sid: sid, up: up });
      this.s.readings++;
    }
    if (this.pending.length >= this.cfg.batchMaxReadings && !this.job) this.startSeal();
  }

  private ageCheckMs(): number {
    const a = this.cfg.batchMaxAgeMs;
    return a < 1000 ? a : 1000;
  }

  private onAgeTick(): void {
    if (!this.running) return;
    const self = this;
    if (this.pending.length > 0 && !this.job && this.host.clock.uptime() - this.pending[0].up >= this.cfg.batchMaxAgeMs) this.startSeal();
    this.counters.tick(this.host.clock.uptime());
    this.ageTimer = this.host.timers.setTimeout(function () {
      self.onAgeTick();
    }, this.ageCheckMs());
  }

  // ---- sealing ----

  /** Readings with times on the batch's base: Unix seconds if synced, else seconds before sealing. */
  private stamp(take: { r: SourceValue; sid: string; up: number }[], upNow: number, synced: boolean, wallNow: number): Reading[] {
    const out: Reading[] = [];
    for (let i = 0; i < take.length; i++) {
      const p = take[i];
      const age = upNow - p.up;
      const t = synced ? Math.round((wallNow - age) / 1000) : -Math.round(age / 1000);
      const r: Reading = { n: p.sid + '/' + p.r.n, t: t };
      if (p.r.u !== undefined) r.u = p.r.u;
      if (p.r.v !== undefined) r.v = p.r.v;
      if (p.r.s !== undefined) r.s = p.r.s;
      if (p.r.vs !== undefined) r.vs = p.r.vs;
      if (p.r.vb !== undefined) r.vb = p.r.vb;
      out.push(r);
    }
    return out;
  }

  private startSeal(): void {
    const n = this.pending.length < this.cfg.batchMaxReadings ? this.pending.length : this.cfg.batchMaxReadings;
    const take = this.pending.splice(0, n);
    const clock = this.host.clock;
    const up = clock.uptime();
    const synced = clock.synced();
    let seq = this.counters.nextSeq();
    // The wire format reserves seq 0 for "no predecessor" (pseq of a device's first batch).
    if (seq === 0) seq = this.counters.nextSeq();
    const drop = this.outbox.dropReport();
    const health: Batch['health'] = {
      queue: this.outbox.depth(),
      dropped: this.outbox.dropped(),
      reconnects: this.client.stats.reconnects,
    };
    // Oldest unsent batch by wall time. A batch made before the clock was synced carries t = 0,
    // so its age would read as the whole Unix epoch: unknown, and omitted like anything the
    // platform cannot fill (docs/wire-format.md, Health). Same while the clock is unsynced.
    if (health.queue === 0) health.oldestS = 0;
    else if (synced) {
      const wall = clock.now();
      const age = this.outbox.oldestAge(wall);
      if (age < wall) health.oldestS = Math.floor(age / 1000);
    }
    if (this.host.freeMemory) health.freeMem = Math.floor(this.host.freeMemory());
    const batch: Batch = {
      boot: this.counters.boot(),
      seq: seq,
      prev: this.head.hash,
      pseq: this.head.seq,
      synced: synced,
      up: Math.floor(up / 1000),
      readings: [],
      health: health,
    };
    if (drop && drop.lastSeq < seq) batch.drop = drop;
    let payload: Uint8Array;
    try {
      batch.readings = this.stamp(take, up, synced, clock.now());
      payload = encodePayload(batch);
    } catch (e) {
      // A source produced something the format refuses: drop those readings, loudly, and keep going.
      this.s.readingsDropped += take.length;
      this.host.log('error', 'batch ' + seq + ' not sealed: ' + (e as Error).message);
      return;
    }
    this.job = createSealJob(payload, this.key, this.address, this.cfg.signBudget);
    this.jobDrop = batch.drop;
    this.jobMeta = { seq: seq, payload: payload, started: clock.uptime() };
    this.scheduleStep();
  }

  private scheduleStep(): void {
    const self = this;
    this.stepTimer = this.host.timers.setTimeout(function () {
      self.step();
    }, 0);
  }

  private step(): void {
    const job = this.job;
    const meta = this.jobMeta;
    if (!job || !meta) return;
    const t0 = this.host.clock.uptime();
    const done = job.step();
    const dt = this.host.clock.uptime() - t0;
    this.s.signSteps++;
    if (dt > this.s.signMaxStepMs) this.s.signMaxStepMs = dt;
    if (!done) {
      this.scheduleStep();
      return;
    }
    const msg = job.result();
    this.job = undefined;
    this.s.signMsTotal += this.host.clock.uptime() - meta.started;
    const wall = this.host.clock.synced() ? this.host.clock.now() : 0;
    const droppedBefore = this.outbox.dropped();
    const id = this.outbox.push(msg, { boot: this.counters.boot(), seq: meta.seq, t: wall });
    this.head = { seq: meta.seq, hash: payloadHash(meta.payload) };
    saveChain(this.chainLog, this.head);
    if (this.jobDrop) this.inflight['d' + id] = this.jobDrop;
    if (this.outbox.dropped() !== droppedBefore) this.forgetDropped();
    this.s.batches++;
    this.s.bytesSealed += msg.length;
    this.s.lastSeq = meta.seq;
    this.pump();
    if (this.pending.length >= this.cfg.batchMaxReadings || (this.pending.length > 0 && this.sourceTimers.length === 0)) this.startSeal();
  }

  // ---- publishing ----

  private onConnected(): void {
    this.client.publish(this.topics.status, utf8Encode('online'), { qos: 1, retain: true });
    this.client.publish(this.topics.meta, this.meta(), { qos: 1, retain: true });
    this.pump();
  }

  /** Hands the oldest unsent batches to the client, at most publishWindow at a time. */
  private pump(): void {
    if (this.inflightCount >= this.cfg.publishWindow) return;
    const self = this;
    const entries = this.outbox.peek(this.cfg.publishWindow + this.inflightCount);
    for (let i = 0; i < entries.length && this.inflightCount < this.cfg.publishWindow; i++) {
      const e = entries[i];
      if (this.inflight['i' + e.id]) continue;
      if (!this.client.canPublish()) return;
      this.inflight['i' + e.id] = true;
      this.inflightCount++;
      this.client.publish(this.topics.tele, e.bytes, { qos: 1 }, function () {
        self.onAck(e.id);
      });
    }
  }

  private onAck(id: number): void {
    if (this.inflight['i' + id]) {
      delete this.inflight['i' + id];
      this.inflightCount--;
    }
    this.outbox.ack(id);
    this.s.acked++;
    const d = this.inflight['d' + id];
    delete this.inflight['d' + id];
    // The drop report is settled only once a batch carrying it reached the broker.
    if (d && d !== true) {
      try {
        this.settleDropReport(d);
      } catch (e) {
        this.host.log('error', 'drop report not settled: ' + (e as Error).message);
      }
    }
    this.pump();
  }

  /**
   * The outbox dropped its oldest batches: forget the drop report copies they carried, or a long
   * outage (every batch sealed meanwhile carries one) grows RAM without bound. Batches still in
   * the MQTT client's window keep theirs; their PUBACK may still come.
   */
  private forgetDropped(): void {
    const oldest = this.outbox.peek(1);
    const first = oldest.length ? oldest[0].id : 0xffffffff;
    const gone: string[] = [];
    for (const k in this.inflight) {
      const id = parseInt(k.substr(1), 10);
      if (k.charAt(0) === 'd' && id < first && !this.inflight['i' + id]) gone.push(k);
    }
    // Deleted after the loop: Espruino walks an object's properties as a linked list.
    for (let i = 0; i < gone.length; i++) delete this.inflight[gone[i]];
  }

  /**
   * Every batch sealed while a drop report is pending carries it, grown by the drops since; the
   * first of them to be acknowledged settles its copy, so a later copy may overlap what is already
   * settled. Confirm only what this copy still covers exactly; a copy that overlaps a partly
   * settled report confirms nothing, and the rest goes out again in the next batch (a drop
   * reported twice costs nothing; one never reported is an unexplained gap).
   */
  private settleDropReport(d: DropReport): void {
    const cur = this.outbox.dropReport();
    if (!cur || d.lastSeq < cur.firstSeq) return; // settled already by an earlier copy
    // Later drops have higher seqs (oldest first), so this copy holds every drop still pending.
    if (d.lastSeq >= cur.lastSeq) this.outbox.confirmDropReport(cur);
    // Nothing settled since this copy was made: the pending report starts with it.
    else if (d.firstSeq === cur.firstSeq) this.outbox.confirmDropReport(d);
  }

  // ---- operator commands ----

  private loadCommands(): void {
    const b = this.cmdLog.load();
    if (!b) return;
    try {
      const m = decode(b) as CborMap;
      this.cmdSeq = m.get(1) as number;
      const set = m.get(2) as CborMap;
      // One by one: a setting this firmware no longer knows (a source removed) costs only itself.
      for (let i = 0; i < set.entries.length; i++) {
        try {
          this.applySettings(new CborMap([set.entries[i]]), false);
          this.settings.set(set.entries[i][0], set.entries[i][1]);
        } catch (e) {
          this.host.log('warn', 'stored operator setting ignored: ' + (e as Error).message);
        }
      }
    } catch (e) {
      this.host.log('warn', 'stored operator settings unreadable, ignored: ' + (e as Error).message);
    }
  }

  /**
   * A command is a COSE_Sign1 (same envelope as telemetry) signed by an operator key, whose
   * payload is {0: target device address, 1: command seq (> the last applied), 2: {setting:
   * value}}. Settings: batchMaxReadings, batchMaxAgeMs, "<source id>.intervalMs".
   */
  private onCommand(bytes: Uint8Array): void {
    const self = this;
    let seq = 0;
    try {
      const m = decodeSign1(bytes);
      const kid = toHex(m.kid);
      let known = false;
      for (let i = 0; i < this.cfg.operators.length; i++) if (this.cfg.operators[i] === kid) known = true;
      if (!known) throw err('E_CMD', 'command not signed by a configured operator');
      const h = signingHash(m.payload);
      let ok = false;
      for (let rec = 0; rec < 2 && !ok; rec++) {
        try {
          const pub = recoverPublicKey(m.signature, rec, h, false);
          ok = equalBytes(addressFromPublicKey(pub), m.kid) && verify(m.signature, h, pub);
        } catch (e) {
          /* try the other id */
        }
      }
      if (!ok) throw err('E_CMD', 'command signature does not verify');
      const p = decode(m.payload, { requireDeterministic: true, maxDepth: 3 });
      if (!(p instanceof CborMap)) throw err('E_CMD', 'command payload expected a map');
      const target = p.get(0);
      if (!(target instanceof Uint8Array) || !equalBytes(target, this.address)) throw err('E_CMD', 'command is for another device');
      seq = aint('command seq', p.get(1), 1, 0xffffffff);
      if (seq <= this.cmdSeq) throw err('E_CMD', 'command seq ' + seq + ' not above the last applied ' + this.cmdSeq + ' (replay)');
      const set = p.get(2);
      if (!(set instanceof CborMap)) throw err('E_CMD', 'command settings expected a map');
      this.applySettings(set, true); // validates everything before changing anything
      this.applySettings(set, false);
      this.cmdSeq = seq;
      // Persist every setting applied so far, not just this command's: the log keeps one record.
      for (let i = 0; i < set.entries.length; i++) this.settings.set(set.entries[i][0], set.entries[i][1]);
      const store = new CborMap();
      store.set(1, seq);
      store.set(2, this.settings);
      this.cmdLog.save(encode(store));
      this.s.commandsApplied++;
      this.ackCommand(seq, '');
    } catch (e) {
      this.s.commandsRejected++;
      this.host.log('warn', 'command rejected: ' + (e as Error).message);
      self.ackCommand(seq, (e as Error).message || 'rejected');
    }
  }

  private ackCommand(seq: number, error: string): void {
    try {
      this.client.publish(this.topics.cmdack, utf8Encode(JSON.stringify({ seq: seq, ok: error === '', error: error })), { qos: 1 });
    } catch (e) {
      /* queue full: the operator sees no ack and may resend with a new seq */
    }
  }

  private applySettings(set: CborMap, dryRun: boolean): void {
    for (let i = 0; i < set.entries.length; i++) {
      const k = set.entries[i][0];
      const v = set.entries[i][1];
      if (typeof k !== 'string') throw err('E_CMD', 'setting names are strings');
      const b = SETTABLE[k];
      if (b) {
        aint(k, v, b[0], b[1]);
        if (!dryRun) (this.cfg as any)[k] = v;
        continue;
      }
      const dot = k.lastIndexOf('.');
      let src = -1;
      if (dot > 0 && k.substr(dot + 1) === 'intervalMs')
        for (let j = 0; j < this.sources.length; j++) if (this.sources[j].id === k.substr(0, dot)) src = j;
      if (src < 0) throw err('E_CMD', 'unknown setting "' + k + '"');
      aint(k, v, SOURCE_INTERVAL[0], SOURCE_INTERVAL[1]);
      if (!dryRun) {
        this.sources[src].intervalMs = v as number;
        // The timer still pending runs on the old interval: from a day to a minute, the change
        // would wait up to a day. Start the new interval now.
        if (this.running && this.sourceTimers[src] !== undefined) {
          this.host.timers.clearTimeout(this.sourceTimers[src]);
          this.scheduleSource(src, v as number);
        }
      }
    }
  }
}

/** Builds the operator command message payload (tools and tests; see Agent.onCommand). */
export function encodeCommand(target: Uint8Array, seq: number, settings: { [k: string]: number }): Uint8Array {
  const set = new CborMap();
  const keys: string[] = [];
  for (const k in settings) if (settings.hasOwnProperty(k)) keys.push(k);
  for (let i = 0; i < keys.length; i++) set.set(keys[i], settings[keys[i]]);
  const m = new CborMap();
  m.set(0, target);
  m.set(1, seq);
  m.set(2, set);
  return encode(m);
}

