// Runs a scenario (schema.ts) end to end in one process and reports whether its expectations
// held: a private broker (aedes in process, or a Mosquitto child), link proxies for the links the
// scenario declares, the fleet (in-memory flash, seeded keys and readings) on a virtual or real
// time base, the verifying ingest over SQLite, the faults on their schedule, then a drain (sampling
// stops, outboxes empty, the verifier catches up), a last gap sweep, and the exact accounting of
// ledger.ts. One call per CI job: runScenarioFile(path) or `agent-sim scenario <file>`.
//
// Shards: { i, n } runs devices [floor(i*N/n), floor((i+1)*N/n)) of the scenario's N, each shard
// against its own private broker and verifier, with the same seeds, random picks and fault
// schedule as the whole fleet (a fault naming a device of another shard is skipped). The reports
// of the shards add up to the report of the whole fleet.
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { SimDevice, deviceSpec, provision, shardRange, type DeviceObserver, type FleetConfig } from '../fleet.js';
import { VirtualTime, createRealTime, type TimeBase } from '../platform/virtual-time.js';
import { seededEntropy } from '../platform/host.js';
import { startLinkProxy, type LinkProxy } from '../link-proxy.js';
import { createIngest, type Ingest } from '../middleware/ingest.js';
import { openSqliteStore, type SqliteStore } from '../middleware/store-sqlite.js';
import { readRegistry, revokeDevice, writeRegistry } from '../middleware/registry.js';
import { prng } from '../sources/profiles.js';
import { FAULTS, type Attacker, type FaultContext, type PrepareContext } from '../faults/index.js';
import { startScenarioBroker, type ScenarioBroker } from './brokers.js';
import { FleetLedger, type Accounting, type BatchCounts, type Failure, type ReadingCounts } from './ledger.js';
import { validateScenario, selectDevices, formatDuration, type Scenario, type DeviceSelector, type Group } from './schema.js';
import type { AgentConfig } from '../../firmware/core/session/agent.js';
import type { Log } from '../../firmware/core/host.js';
import { createSealJob, deviceAddress } from '../../firmware/core/telemetry/envelope.js';
import { isValidPrivateKey } from '../../firmware/core/crypto/secp256k1/index.js';

export const RUNNER_DEFAULTS = {
  /** Virtual time: real ms a request may hold the clock (rule 3 of virtual-time.ts). */
  ioGraceMs: 500,
  /** Real ms the verifier may stay more than maxLag batches behind before time moves anyway. */
  lagHoldRealMs: 10_000,
  /** Drain: stop once every device is idle and the verifier received nothing new for this long. */
  quietRealMs: 3000,
  /** Progress lines at most this often (real ms). */
  progressEveryMs: 5000,
  /** Device log lines kept for the report. */
  logLines: 40,
  /** Attacker publishes give up after this long (real ms). */
  attackerPublishMs: 15_000,
};

export interface RunOptions {
  shard?: { i: number; n: number };
  /** Registry, database and flash of the run; default a temp dir, removed afterwards. */
  dir?: string;
  /** Keep `dir` (or the temp dir) after the run. */
  keep?: boolean;
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
  /** Device and verifier warnings to stderr as they happen. */
  verbose?: boolean;
}

export interface Expectation {
  name: string;
  want: string;
  got: string;
  ok: boolean;
}

export interface ScenarioReport {
  scenario: string;
  description: string;
  seed: number;
  shard?: string;
  ok: boolean;
  /** Set when the run could not start (e.g. Mosquitto missing); ok is true then. */
  skipped?: string;
  devices: number;
  totalDevices: number;
  time: { kind: 'virtual' | 'real'; simulatedMs: number; realMs: number; speedup: number; timersRun: number; waits: number; ioWaitMs: number; stalls: number; holdTimeouts: number };
  readings: ReadingCounts;
  batches: BatchCounts;
  /** SHA-256 over every sealed batch's device, seq and readings (same seed, same digest). */
  sealedDigest: string;
  verifier: { received: number; accepted: number; duplicates: number; rejected: Record<string, number>; gapsUnexplained: number; gapsExplained: number; gapsFilledLate: number; linksVerified: number };
  attacks: { acceptedTwice: number; forgedAccepted: Record<string, number>; foreignAccepted: number; foreignRejected: Record<string, number>; genuineRejected: Record<string, number> };
  fleet: { boots: number; powerCuts: number; reconnects: number; uncaught: number; deviceWarnings: number; deviceErrors: number };
  broker: { kind: string; restarts: number };
  links: Record<string, { accepted: number; dropped: number; resets: number; bytesUp: number; bytesDown: number }>;
  timeline: string[];
  expectations: Expectation[];
  failures: Failure[];
  failureCount: number;
  peakRssMb: number;
  deviceLog: string[];
}

/** Reads, validates and runs a scenario file. Throws ScenarioError for a bad file. */
export async function runScenarioFile(path: string, o: RunOptions = {}): Promise<ScenarioReport> {
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(path + ': ' + (e as Error).message);
  }
  return runScenario(validateScenario(obj, path), o);
}

/** A seeded PRNG per purpose: the same sequence whatever else the run does. */
function rngFor(seed: number, label: string): () => number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
  return prng(h >>> 0);
}

function deepMerge<T extends Record<string, any>>(a: T, b: Partial<T>): T {
  const out: Record<string, any> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? deepMerge(out[k] ?? {}, v) : v;
  return out as T;
}

/** The agent config of a group's devices. */
function groupAgent(g: Group, host: string, port: number): Partial<AgentConfig> {
  const outbox: Record<string, number> = {};
  for (const [k, v] of Object.entries(g.outbox)) if (v !== undefined) outbox[k] = v;
  return {
    batchMaxReadings: g.batch,
    batchMaxAgeMs: g.batchAge,
    maxPendingReadings: g.maxPendingReadings,
    publishWindow: g.publishWindow,
    outbox,
    counters: g.seqBlock !== undefined ? { seqBlock: g.seqBlock } : undefined,
    broker: {
      host,
      port,
      keepAliveS: Math.round(g.keepAlive / 1000),
      pingTimeoutMs: g.pingTimeout,
      connectTimeoutMs: g.connectTimeout,
      reconnect: { minMs: g.reconnect.min, maxMs: g.reconnect.max, factor: g.reconnect.factor },
    },
  };
}

function skippedReport(sc: Scenario, why: string, o: RunOptions): ScenarioReport {
  const zeroR: ReadingCounts = { produced: 0, verified: 0, droppedReported: 0, queuedOnDevice: 0, lostAtPowerCut: 0, droppedInRam: 0, rejectedRevoked: 0, lostAtBroker: 0, unaccounted: 0 };
  const zeroB: BatchCounts = { sealed: 0, acked: 0, verified: 0, droppedReported: 0, queuedOutbox: 0, dropReportPending: 0, lostAtPowerCut: 0, rejectedRevoked: 0, lostAtBroker: 0, unaccounted: 0 };
  return {
    scenario: sc.name,
    description: sc.description,
    seed: sc.seed,
    shard: o.shard ? o.shard.i + '/' + o.shard.n : undefined,
    ok: true,
    skipped: why,
    devices: 0,
    totalDevices: sc.devices,
    time: { kind: sc.time, simulatedMs: 0, realMs: 0, speedup: 0, timersRun: 0, waits: 0, ioWaitMs: 0, stalls: 0, holdTimeouts: 0 },
    readings: zeroR,
    batches: zeroB,
    sealedDigest: '',
    verifier: { received: 0, accepted: 0, duplicates: 0, rejected: {}, gapsUnexplained: 0, gapsExplained: 0, gapsFilledLate: 0, linksVerified: 0 },
    attacks: { acceptedTwice: 0, forgedAccepted: {}, foreignAccepted: 0, foreignRejected: {}, genuineRejected: {} },
    fleet: { boots: 0, powerCuts: 0, reconnects: 0, uncaught: 0, deviceWarnings: 0, deviceErrors: 0 },
    broker: { kind: sc.broker.kind, restarts: 0 },
    links: {},
    timeline: [],
    expectations: [],
    failures: [],
    failureCount: 0,
    peakRssMb: Math.round(process.memoryUsage().rss / 1048576),
    deviceLog: [],
  };
}

export async function runScenario(sc: Scenario, o: RunOptions = {}): Promise<ScenarioReport> {
  const real0 = performance.now();
  const progress = o.progress ?? (() => undefined);
  let broker0 = await startScenarioBroker(sc.broker.kind, { persistence: sc.broker.persistence });
  let fellBack: string | undefined;
  if ('skip' in broker0 && sc.broker.fallback) {
    fellBack = broker0.skip + '; running on ' + sc.broker.fallback + ' instead';
    progress(sc.name + ': ' + fellBack);
    broker0 = await startScenarioBroker(sc.broker.fallback, { persistence: sc.broker.persistence });
  }
  if ('skip' in broker0) {
    progress('SKIP ' + sc.name + ': ' + broker0.skip);
    return skippedReport(sc, broker0.skip, o);
  }
  const broker: ScenarioBroker = broker0;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'scenario-' + sc.name + '-'));
  mkdirSync(dir, { recursive: true });
  const cleanups: (() => Promise<void> | void)[] = [];
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250);
  try {
    return await run();
  } finally {
    clearInterval(rssTimer);
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        /* best effort */
      }
    }
    await broker.close().catch(() => undefined);
    if (!o.keep && !o.dir) rmSync(dir, { recursive: true, force: true });
  }

  async function run(): Promise<ScenarioReport> {
    const [lo, hi] = o.shard ? shardRange(sc.devices, o.shard.i, o.shard.n) : [0, sc.devices];
    const inShard = (i: number) => i >= lo && i < hi;
    const timeline: string[] = fellBack ? ['+0s ' + fellBack] : [];

    // ---- links: device -> link (random selectors drawn once, seeded) ----
    const linkOf = new Map<number, string>();
    const linkMembers = new Map<string, number[]>();
    for (const [name, l] of Object.entries(sc.links)) {
      const idx = selectDevices(l.devices, sc.devices, rngFor(sc.seed, 'link:' + name));
      linkMembers.set(name, idx);
      for (const i of idx) if (!linkOf.has(i)) linkOf.set(i, name);
    }

    // ---- prepare faults (per-device overrides, needs) ----
    const overrides = new Map<number, Partial<AgentConfig>>();
    let needGrace = 0;
    let keepMessages = false;
    const pctx = (k: number): PrepareContext => ({
      select: (sel) => selectDevices(sel, sc.devices, rngFor(sc.seed, 'fault:' + k)),
      linkDevices: (name) => linkMembers.get(name) ?? [],
      agentOverride(i, x) {
        overrides.set(i, deepMerge(overrides.get(i) ?? {}, x));
      },
      needIoGrace(ms) {
        needGrace = Math.max(needGrace, ms);
      },
      keepMessages() {
        keepMessages = true;
      },
    });
    sc.faults.forEach((f, k) => FAULTS[f.type].prepare?.(f as never, pctx(k)));
    // Real time: a proxy's latency is real; virtual time: it is a virtual delay (link-delay.ts).
    if (sc.time === 'real') for (const l of Object.values(sc.links)) needGrace = Math.max(needGrace, 4 * l.latencyMs + 200);

    // ---- time ----
    const ioGraceMs = Math.max(sc.ioGraceMs ?? RUNNER_DEFAULTS.ioGraceMs, needGrace);
    const time: TimeBase =
      sc.time === 'virtual'
        ? new VirtualTime({ startMs: sc.start, ioGraceMs, ioSlackMs: sc.ioSlackMs, onError: (e) => timeline.push('timer error: ' + (e.stack ?? e.message)) })
        : createRealTime();
    const startMs = time.now();
    const endMs = startMs + sc.duration;
    const stamp = () => '+' + formatDuration(Math.round(time.now() - startMs));
    const note = (m: string) => {
      timeline.push(stamp() + ' ' + m);
      if (o.verbose) process.stderr.write('[scenario] ' + stamp() + ' ' + m + '\n');
    };

    // ---- link proxies ----
    const proxies = new Map<string, LinkProxy>();
    const delays = new Map<string, { ms: number }>();
    for (const [name, l] of Object.entries(sc.links)) {
      if (!(linkMembers.get(name) ?? []).some(inShard)) continue;
      const p = await startLinkProxy({ targetPort: broker.port, latencyMs: sc.time === 'real' ? l.latencyMs : 0 });
      proxies.set(name, p);
      delays.set(name, { ms: sc.time === 'real' ? 0 : l.latencyMs });
      cleanups.push(() => p.close());
    }
    const setLatency = (name: string, ms: number) => {
      if (sc.time === 'real') proxies.get(name)?.setLatency(ms);
      else (delays.get(name) as { ms: number }).ms = ms;
    };

    // ---- devices ----
    const logTail: string[] = [];
    let warnings = 0;
    let errors = 0;
    const deviceLog =
      (label: string): Log =>
      (level, msg) => {
        if (level === 'debug' || level === 'info') return;
        if (level === 'warn') warnings++;
        else errors++;
        const line = stamp() + ' ' + label + ' ' + level + ': ' + msg;
        logTail.push(line);
        if (logTail.length > RUNNER_DEFAULTS.logLines) logTail.shift();
        if (o.verbose) process.stderr.write(line + '\n');
      };
    const fleet: FleetConfig = {
      brokerHost: '127.0.0.1',
      brokerPort: broker.port,
      prefix: sc.prefix,
      intervalMs: 60_000,
      batchMaxReadings: 12,
      batchMaxAgeMs: 3_600_000,
      time,
    };
    const indexOfDev = new Map<SimDevice, number>();
    // By label: the ledger meets a device inside its constructor, before indexOfDev has it.
    const indexOfLabel = new Map<string, number>();
    const ledger = new FleetLedger({ indexOf: (d) => indexOfLabel.get(d.spec.label) ?? -1, now: () => time.now(), prefix: sc.prefix });
    ledger.keepMessages = keepMessages;
    const cutListeners: ((d: SimDevice) => void)[] = [];
    let reconnectsPast = 0;
    const observer: DeviceObserver = {
      wrapSources: (d, s) => ledger.wrapSources(d, s),
      onBoot: (d) => ledger.onBoot(d),
      onPowerCut(d) {
        ledger.onPowerCut(d);
        reconnectsPast += d.agent.stats().mqtt.reconnects;
        for (const fn of cutListeners) fn(d);
      },
    };
    const devices: SimDevice[] = [];
    const byIndex = new Map<number, SimDevice>();
    const startAt = new Map<SimDevice, number>();
    for (const g of sc.fleet) {
      const gr = rngFor(sc.seed, 'group:' + g.first);
      for (let i = g.first; i < g.first + g.count; i++) {
        // Drawn for every device, in or out of the shard: the same values whichever shard runs.
        const stagger = Math.floor(gr() * g.stagger);
        const clockOffset = g.clock.offset + (g.clock.spread ? Math.round((2 * gr() - 1) * g.clock.spread) : 0);
        if (!inShard(i)) continue;
        const link = linkOf.get(i);
        const proxy = link ? proxies.get(link) : undefined;
        const spec = deviceSpec(i, sc.seed, g.kinds);
        indexOfLabel.set(spec.label, i);
        const agent = deepMerge(groupAgent(g, '127.0.0.1', proxy ? proxy.port : broker.port), overrides.get(i) ?? {});
        const d = new SimDevice(fleet, spec, {
          broker: { host: '127.0.0.1', port: proxy ? proxy.port : broker.port },
          link: proxy ? { stalled: () => proxy.mode() === 'blackhole' } : undefined,
          delay: link && sc.time === 'virtual' ? ((d) => () => d.ms)(delays.get(link) as { ms: number }) : undefined,
          clock: { offsetMs: clockOffset, synced: g.clock.synced },
          entropy: seededEntropy('scenario/' + sc.seed + '/device/' + i),
          agent,
          intervalMs: g.interval,
          log: deviceLog(spec.label),
          observer,
          flashSeed: spec.seed,
        });
        indexOfDev.set(d, i);
        devices.push(d);
        byIndex.set(i, d);
        startAt.set(d, stagger);
      }
    }
    cleanups.push(() => {
      for (const d of devices) if (!d.poweredOff) d.powerCut();
    });
    const registryPath = join(dir, 'registry.json');
    provision(registryPath, devices);

    // ---- verifier ----
    const store: SqliteStore = openSqliteStore(sc.verifier.store === 'memory' ? ':memory:' : join(dir, 'verifier.sqlite'));
    cleanups.push(() => store.close());
    let nowShift = 0;
    const ingest: Ingest = createIngest({
      brokerUrl: broker.url,
      prefix: sc.prefix,
      store: ledger.observeStore(store),
      registryPath,
      clientId: 'scenario-verifier-' + sc.seed,
      sweepMs: 1000,
      chain: { gapGraceMs: sc.verifier.gapGrace, maxDevices: Math.max(10_000, devices.length + 16) },
      writeMode: sc.verifier.writeMode,
      mqtt: { reconnectPeriod: 200 },
      now: () => time.now() + nowShift,
      log: (level, msg) => {
        if (o.verbose && level !== 'info') process.stderr.write('[verifier] ' + level + ': ' + msg + '\n');
      },
    });
    ledger.tapVerifier(ingest.verifier);
    await ingest.start();
    cleanups.push(() => ingest.stop());
    time.holdWhile(() => ledger.ackedTotal - ledger.verifierReceived > sc.verifier.maxLag, RUNNER_DEFAULTS.lagHoldRealMs);

    // ---- attacker (made on first use) ----
    let attacker: Promise<Attacker> | undefined;
    const makeAttacker = async (): Promise<Attacker> => {
      const ent = seededEntropy('scenario/' + sc.seed + '/attacker');
      let key = ent.randomBytes(32);
      while (!isValidPrivateKey(key)) key = ent.randomBytes(32);
      const address = deviceAddress(key);
      const c = await mqtt.connectAsync(broker.url, { clientId: 'scenario-attacker-' + sc.seed, reconnectPeriod: 200, clean: true });
      cleanups.push(() => c.endAsync());
      let published = 0;
      return {
        address,
        sign(payload, kid) {
          const job = createSealJob(payload, key, kid);
          while (!job.step());
          return job.result();
        },
        async publish(topic, bytes) {
          await Promise.race([
            c.publishAsync(topic, Buffer.from(bytes), { qos: 1 }),
            new Promise((_, fail) => setTimeout(() => fail(new Error('attacker publish to ' + topic + ' not acknowledged in ' + RUNNER_DEFAULTS.attackerPublishMs + ' ms')), RUNNER_DEFAULTS.attackerPublishMs).unref()),
          ]);
          published++;
        },
        published: () => published,
      };
    };

    // ---- faults ----
    const finalChecks: { name: string; fn: () => { ok: boolean; want: string; got: string } }[] = [];
    const fctx = (k: number, type: string): FaultContext => ({
      time,
      startMs,
      endMs,
      prefix: sc.prefix,
      at(offset, fn) {
        time.timers.setTimeout(() => {
          let r: void | Promise<unknown>;
          try {
            r = fn();
          } catch (e) {
            note(type + ' failed: ' + (e as Error).message);
            ledger.fail('consistency', 'fault ' + type + ' failed: ' + (e as Error).message);
            return;
          }
          if (r && typeof (r as Promise<unknown>).then === 'function')
            time.hold(
              (r as Promise<unknown>).catch((e) => {
                note(type + ' failed: ' + (e as Error).message);
                ledger.fail('consistency', 'fault ' + type + ' failed: ' + (e as Error).message);
              }),
            );
        }, Math.max(0, startMs + offset - time.now()));
      },
      rng: () => rngFor(sc.seed, 'fault-run:' + k),
      select: (sel: DeviceSelector) =>
        selectDevices(sel, sc.devices, rngFor(sc.seed, 'fault:' + k))
          .map((i) => byIndex.get(i))
          .filter((d): d is SimDevice => !!d),
      device: (i) => byIndex.get(i),
      indexOf: (d) => indexOfDev.get(d) ?? -1,
      link(name) {
        const proxy = proxies.get(name);
        if (!proxy) {
          // No device of this shard is on the link: a proxy nobody uses.
          throw new Error('link "' + name + '" has no device in this shard');
        }
        return {
          proxy,
          devices: (linkMembers.get(name) ?? []).map((i) => byIndex.get(i)).filter((d): d is SimDevice => !!d),
          setLatency: (ms: number) => setLatency(name, ms),
        };
      },
      broker,
      bootDevice(d) {
        d.boot();
        d.start();
      },
      onPowerCut(fn) {
        cutListeners.push(fn);
      },
      revoke(d) {
        const reg = readRegistry(registryPath);
        revokeDevice(reg, d.agent.addressHex);
        writeRegistry(registryPath, reg);
        ingest.reloadRegistry();
        ledger.revoked(d);
      },
      attacker: () => (attacker ??= makeAttacker()),
      ledger,
      note: (m) => note(m),
      finalCheck(name, fn) {
        finalChecks.push({ name, fn });
      },
    });
    const faultCtx: FaultContext[] = [];
    sc.faults.forEach((f, k) => {
      const usesLink = typeof f.link === 'string';
      const ctx = fctx(k, f.type);
      faultCtx.push(ctx);
      if (usesLink && !proxies.has(f.link as string)) return; // this shard has none of the link's devices
      FAULTS[f.type].install(f as never, ctx);
    });

    // ---- sampling ----
    for (const d of devices) time.timers.setTimeout(() => !d.poweredOff && d.start(), startAt.get(d) ?? 0);
    progress(
      `scenario ${sc.name}: ${devices.length} devices${o.shard ? ' (shard ' + o.shard.i + '/' + o.shard.n + ' of ' + sc.devices + ')' : ''}, ${sc.time} time, ` +
        `${formatDuration(sc.duration)}, broker ${broker.kind}, ${sc.faults.length} fault(s)`,
    );
    let lastProgress = performance.now();
    const tick = (phase: string) => {
      if (performance.now() - lastProgress < RUNNER_DEFAULTS.progressEveryMs) return;
      lastProgress = performance.now();
      let sealed = 0;
      for (const L of ledger.devices.values()) sealed += L.seqs.size;
      const st = ingest.stats();
      progress(`  ${phase} ${stamp()} (${Math.round(((time.now() - startMs) / sc.duration) * 100)}%) sealed ${sealed} verified ${st.accepted} real ${((performance.now() - real0) / 1000).toFixed(0)} s`);
    };
    const ticker = setInterval(() => tick('t'), 1000);
    cleanups.push(() => clearInterval(ticker));
    const step = sc.time === 'virtual' ? Math.max(1000, Math.floor(sc.duration / 200)) : 200;
    while (time.now() < endMs) await time.runUntil(Math.min(endMs, time.now() + step));

    // ---- end of sampling: undo what is still in effect, power everything on, seal what waits ----
    note('sampling ends');
    for (let k = 0; k < sc.faults.length; k++) {
      const f = sc.faults[k];
      if (typeof f.link === 'string' && !proxies.has(f.link)) continue;
      await FAULTS[f.type].end?.(f as never, faultCtx[k]);
    }
    for (const [name, p] of proxies) {
      if (p.mode() !== 'pass') p.restore();
      setLatency(name, 0);
    }
    for (const d of devices) {
      d.storage.disarm();
      if (d.poweredOff) {
        d.boot();
        d.start();
      }
      d.agent.quiesce();
    }

    // ---- drain ----
    const drainEnd = time.now() + sc.drain;
    const realEnd = performance.now() + sc.drainRealS * 1000;
    let lastReceived = -1;
    let quietSince = performance.now();
    for (;;) {
      const idle = devices.every((d) => d.poweredOff || d.agent.idle());
      const rec = ledger.verifierReceived;
      if (rec !== lastReceived) {
        lastReceived = rec;
        quietSince = performance.now();
      }
      if (idle && ledger.unsettled() === 0) break;
      if (idle && performance.now() - quietSince > RUNNER_DEFAULTS.quietRealMs) break;
      if (time.now() >= drainEnd || performance.now() >= realEnd) {
        note('drain stopped by its ' + (time.now() >= drainEnd ? 'time limit' : 'real-time limit'));
        break;
      }
      tick('drain');
      if (idle) await new Promise((r) => setTimeout(r, 20));
      else await time.runUntil(Math.min(drainEnd, time.now() + (sc.time === 'virtual' ? 5000 : 100)));
    }
    await ingest.flush();
    // The last sweep: every link still waiting for its predecessor is now a gap (explained or not).
    nowShift = sc.verifier.gapGrace + 1;
    await ingest.flush();
    note('drained');

    // ---- accounting ----
    const acc: Accounting = ledger.account();
    const failures = acc.failures.slice();
    let failureCount = acc.failureCount;
    // The database holds exactly what the ledger saw accepted.
    const totals = ledger.acceptedTotals();
    const rows = store.db.prepare('SELECT device, COUNT(*) AS n, SUM(record_count) AS r FROM batches GROUP BY device').all() as { device: string; n: number; r: number }[];
    const recs = new Map((store.db.prepare('SELECT device, COUNT(*) AS n FROM records GROUP BY device').all() as { device: string; n: number }[]).map((r) => [r.device, r.n]));
    const seenDb = new Set<string>();
    for (const r of rows) {
      seenDb.add(r.device);
      const t = totals.get(r.device);
      if (!t || t.batches !== r.n || t.records !== r.r || recs.get(r.device) !== r.r) {
        failureCount++;
        failures.push({ kind: 'consistency', text: 'database: device ' + r.device + ' has ' + r.n + ' batches / ' + r.r + ' records (' + (recs.get(r.device) ?? 0) + ' record rows), the verifier accepted ' + (t ? t.batches + ' / ' + t.records : 'none') });
      }
    }
    for (const [dev, t] of totals)
      if (!seenDb.has(dev) && t.batches) {
        failureCount++;
        failures.push({ kind: 'consistency', text: 'database: device ' + dev + ' has no rows, the verifier accepted ' + t.batches });
      }

    const st = ingest.stats();
    let boots = 0;
    let cuts = 0;
    let reconnects = reconnectsPast;
    let uncaught = 0;
    for (const d of devices) {
      boots += d.boots;
      cuts += d.cuts;
      reconnects += d.agent.stats().mqtt.reconnects;
      uncaught += d.uncaught.length;
      for (const e of d.uncaught.slice(0, 3)) failures.push({ kind: 'consistency', text: d.spec.label + ': uncaught exception in a device callback: ' + e.message });
    }
    const ts = time.stats();

    // ---- expectations ----
    const E = sc.expect;
    const exps: Expectation[] = [];
    const want = (name: string, ok: boolean, wantS: string, got: string) => exps.push({ name, want: wantS, got, ok });
    const kinds = acc.failuresByKind;
    if (E.readingsAccounted) {
      const bad = (kinds.unaccounted ?? 0) + (kinds.content ?? 0) + (kinds.consistency ?? 0) + (kinds['genuine-rejected'] ?? 0) + (failureCount - acc.failureCount);
      want('every reading accounted for', bad === 0, '0 unaccounted, 0 mismatches', acc.readings.unaccounted + ' readings (' + acc.batches.unaccounted + ' batches) unaccounted, ' + bad + ' failure line(s)');
    }
    want('batches lost at the broker', acc.batches.lostAtBroker <= E.maxLostAtBroker, '<= ' + E.maxLostAtBroker, String(acc.batches.lostAtBroker));
    // Whatever a broker loses, the verifier must see: a gap at that seq, declared as unexplained
    // (unless nothing later of that device arrived yet to reveal it).
    if (acc.lostAtBroker.length) {
      const gaps = new Set((store.db.prepare('SELECT device, seq FROM gaps WHERE explained = 0').all() as { device: string; seq: number }[]).map((g) => g.device + ':' + g.seq));
      const silent = acc.lostAtBroker.filter((x) => x.laterAccepted && !gaps.has(x.address + ':' + x.seq));
      for (const x of silent.slice(0, 20)) failures.push({ kind: 'unaccounted', text: x.label + ' seq ' + x.seq + ': lost at the broker and NOT reported as a gap by the verifier' });
      want('batches lost at the broker detected as gaps', silent.length === 0, 'all', acc.lostAtBroker.length - silent.length + ' of ' + acc.lostAtBroker.length);
    }
    const forged = acc.foreignAccepted + Object.values(acc.forgedAccepted).reduce((a, b) => a + b, 0);
    want('forged or tampered messages accepted', forged <= E.maxForgedAccepted, '<= ' + E.maxForgedAccepted, String(forged));
    want('replayed batches accepted', acc.acceptedTwice <= E.maxReplayedAccepted, '<= ' + E.maxReplayedAccepted, String(acc.acceptedTwice));
    want('unexplained gaps', st.gaps.unexplained <= E.maxUnexplainedGaps, '<= ' + E.maxUnexplainedGaps, String(st.gaps.unexplained));
    want('batches still queued after the drain', acc.batches.queuedOutbox <= E.maxQueuedAtEnd, '<= ' + E.maxQueuedAtEnd, String(acc.batches.queuedOutbox));
    want('uncaught exceptions in devices', uncaught === 0, '0', String(uncaught));
    want('errors out of scheduled timers', ts.errors === 0, '0', String(ts.errors));
    const dropped = acc.batches.droppedReported + acc.batches.dropReportPending;
    if (E.minBatchesVerified !== undefined) want('batches verified', acc.batches.verified >= E.minBatchesVerified, '>= ' + E.minBatchesVerified, String(acc.batches.verified));
    if (E.minReadingsVerified !== undefined) want('readings verified', acc.readings.verified >= E.minReadingsVerified, '>= ' + E.minReadingsVerified, String(acc.readings.verified));
    if (E.maxDroppedBatches !== undefined) want('batches dropped by devices', dropped <= E.maxDroppedBatches, '<= ' + E.maxDroppedBatches, String(dropped));
    if (E.minDroppedBatches !== undefined) want('batches dropped by devices', dropped >= E.minDroppedBatches, '>= ' + E.minDroppedBatches, String(dropped));
    if (E.maxReadingsLostAtPowerCut !== undefined)
      want('readings lost in RAM at power cuts', acc.readings.lostAtPowerCut <= E.maxReadingsLostAtPowerCut, '<= ' + E.maxReadingsLostAtPowerCut, String(acc.readings.lostAtPowerCut));
    for (const [reason, n] of Object.entries(E.minRejected ?? {})) want('rejected: ' + reason, (st.rejected[reason as keyof typeof st.rejected] ?? 0) >= n, '>= ' + n, String(st.rejected[reason as keyof typeof st.rejected] ?? 0));
    if (E.minPowerCuts !== undefined) want('power cuts', cuts >= E.minPowerCuts, '>= ' + E.minPowerCuts, String(cuts));
    if (E.minReconnects !== undefined) want('device reconnects', reconnects >= E.minReconnects, '>= ' + E.minReconnects, String(reconnects));
    if (E.minDuplicates !== undefined) want('duplicates seen by the verifier', st.duplicates >= E.minDuplicates, '>= ' + E.minDuplicates, String(st.duplicates));
    const realS = (performance.now() - real0) / 1000;
    if (E.maxRealSeconds !== undefined) want('real seconds', realS <= E.maxRealSeconds, '<= ' + E.maxRealSeconds, realS.toFixed(1));
    for (const c of finalChecks) {
      const r = c.fn();
      want(c.name, r.ok, r.want, r.got);
    }

    const linkStats: ScenarioReport['links'] = {};
    for (const [name, p] of proxies) {
      const s = p.stats();
      linkStats[name] = { accepted: s.accepted, dropped: s.dropped, resets: s.resets, bytesUp: s.bytesUp, bytesDown: s.bytesDown };
    }
    const simulated = time.now() - startMs;
    const realMs = performance.now() - real0;
    return {
      scenario: sc.name,
      description: sc.description,
      seed: sc.seed,
      shard: o.shard ? o.shard.i + '/' + o.shard.n : undefined,
      ok: exps.every((e) => e.ok),
      devices: devices.length,
      totalDevices: sc.devices,
      time: { kind: sc.time, simulatedMs: simulated, realMs, speedup: simulated / realMs, timersRun: ts.timersRun, waits: ts.waits, ioWaitMs: Math.round(ts.ioWaitMs), stalls: ts.stalls, holdTimeouts: ts.holdTimeouts },
      readings: acc.readings,
      batches: acc.batches,
      sealedDigest: ledger.sealedDigest(),
      verifier: {
        received: st.received,
        accepted: st.accepted,
        duplicates: st.duplicates,
        rejected: Object.fromEntries(Object.entries(st.rejected).filter(([, n]) => n > 0)),
        gapsUnexplained: st.gaps.unexplained,
        gapsExplained: st.gaps.explained,
        gapsFilledLate: st.gaps.filledLate,
        linksVerified: st.linksVerified,
      },
      attacks: { acceptedTwice: acc.acceptedTwice, forgedAccepted: acc.forgedAccepted, foreignAccepted: acc.foreignAccepted, foreignRejected: acc.foreignRejected, genuineRejected: acc.genuineRejected },
      fleet: { boots, powerCuts: cuts, reconnects, uncaught, deviceWarnings: warnings, deviceErrors: errors },
      broker: { kind: broker.kind, restarts: broker.restarts() },
      links: linkStats,
      timeline,
      expectations: exps,
      failures,
      failureCount,
      peakRssMb: Math.round(Math.max(peakRss, process.memoryUsage().rss) / 1048576),
      deviceLog: logTail,
    };
  }
}

/** The report as text: expectations first, then the numbers, the failures and the timeline. */
export function formatReport(r: ScenarioReport): string {
  const L: string[] = [];
  const head = r.skipped ? 'SKIP' : r.ok ? 'PASS' : 'FAIL';
  L.push(`${head} ${r.scenario}${r.shard ? ' shard ' + r.shard : ''}${r.skipped ? ': ' + r.skipped : ''}`);
  if (r.skipped) return L.join('\n');
  if (r.description) L.push('  ' + r.description);
  L.push(
    `  ${r.devices} devices, ${r.time.kind} time ${formatDuration(Math.round(r.time.simulatedMs))} in ${(r.time.realMs / 1000).toFixed(1)} s real` +
      (r.time.kind === 'virtual' ? ` (x${Math.round(r.time.speedup)}; ${r.time.timersRun} timers, ${r.time.waits} waits for I/O ${(r.time.ioWaitMs / 1000).toFixed(1)} s, ${r.time.stalls} stalls)` : '') +
      `, peak RSS ${r.peakRssMb} MB`,
  );
  L.push('  expectations:');
  for (const e of r.expectations) L.push(`    ${e.ok ? 'ok  ' : 'FAIL'} ${e.name}: want ${e.want}, got ${e.got}`);
  const R = r.readings;
  L.push(
    `  readings: produced ${R.produced} = verified ${R.verified} + dropped (signed reports) ${R.droppedReported} + queued on devices ${R.queuedOnDevice} + ` +
      `lost in RAM at power cuts ${R.lostAtPowerCut} + dropped in RAM ${R.droppedInRam} + refused (key revoked) ${R.rejectedRevoked} + lost at broker ${R.lostAtBroker} + unaccounted ${R.unaccounted}`,
  );
  const B = r.batches;
  L.push(
    `  batches: sealed ${B.sealed} (acked by broker ${B.acked}): verified ${B.verified}, dropped+reported ${B.droppedReported}, queued ${B.queuedOutbox}, ` +
      `drop report pending ${B.dropReportPending}, lost at power cut ${B.lostAtPowerCut}, refused (revoked) ${B.rejectedRevoked}, lost at broker ${B.lostAtBroker}, unaccounted ${B.unaccounted}`,
  );
  const V = r.verifier;
  L.push(
    `  verifier: received ${V.received}, accepted ${V.accepted}, duplicates ${V.duplicates}, rejected ${JSON.stringify(V.rejected)}, ` +
      `gaps unexplained ${V.gapsUnexplained} explained ${V.gapsExplained} filled late ${V.gapsFilledLate}, links verified ${V.linksVerified}`,
  );
  L.push(
    `  fleet: boots ${r.fleet.boots}, power cuts ${r.fleet.powerCuts}, reconnects ${r.fleet.reconnects}, device warnings ${r.fleet.deviceWarnings}, errors ${r.fleet.deviceErrors}; ` +
      `broker ${r.broker.kind} restarts ${r.broker.restarts}`,
  );
  if (Object.keys(r.attacks.foreignRejected).length) L.push(`  attacker messages refused: ${JSON.stringify(r.attacks.foreignRejected)}`);
  if (r.failures.length) {
    L.push(`  failures (${r.failureCount}):`);
    for (const f of r.failures.slice(0, 50)) L.push(`    [${f.kind}] ${f.text}`);
    if (r.failureCount > 50) L.push(`    ... ${r.failureCount - 50} more`);
  }
  if (r.timeline.length) {
    L.push('  timeline:');
    for (const t of r.timeline.slice(0, 60)) L.push('    ' + t);
    if (r.timeline.length > 60) L.push('    ... ' + (r.timeline.length - 60) + ' more');
  }
  if (!r.ok && r.deviceLog.length) {
    L.push('  last device log lines:');
    for (const t of r.deviceLog.slice(-15)) L.push('    ' + t);
  }
  return L.join('\n');
}
