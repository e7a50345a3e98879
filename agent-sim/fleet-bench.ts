// Bench hooks for the fleet simulator (numbers, not pass/fail):
//   measureDeviceMemory(n, kinds)  memory one more simulated device costs (heap, array buffers),
//                                  by kind, the code, G table and time base being shared
//   benchFleet(opts)               devices on virtual time against a private broker, no verifier:
//                                  batches signed and published per CPU second (devices per core),
//                                  and where this process's CPU goes: signing, payload encoding,
//                                  MQTT, flash, sources, the rest (scheduler, timers, Node I/O,
//                                  GC, and aedes when it runs in process); Mosquitto's own CPU
//                                  apart; peak RSS per device
//   benchTenThousand()             test/scenarios/bench/fleet-10k.json: 10,000 devices in one
//                                  process with the verifier, the exact accounting and Mosquitto;
//                                  the report has the peak RSS
// Run: node --import tsx agent-sim/fleet-bench.ts memory|fleet|10k [--devices N] [--hours H]
import v8 from 'node:v8';
import vm from 'node:vm';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { SimDevice, deviceSpec, type DeviceObserver, type FleetConfig } from './fleet.js';
import { VirtualTime } from './platform/virtual-time.js';
import { seededEntropy } from './platform/host.js';
import { startScenarioBroker } from './scenario/brokers.js';
import { runScenarioFile, type ScenarioReport } from './scenario/runner.js';
import { DEVICE_KINDS, type DeviceKind } from './sources/profiles.js';
import { Agent, type AgentConfig } from '../firmware/core/session/agent.js';

// ---------------------------------------------------------------------------------------------
// Exclusive-time profiler: wraps methods; time inside a nested wrapped call counts for the inner
// label only.

/**
 * sign: the signature steps (and what the last step does after it: COSE encoding, chain head);
 * encode: stamping and CBOR-encoding the payload, the signing hash; mqtt: publish and the
 * client's handling of what arrives; flash: outbox push/ack; sources: reads; tick: the agent's
 * age check (a timer every second per device, whatever the batch age: see the report).
 */
export type Share = 'sign' | 'encode' | 'mqtt' | 'flash' | 'sources' | 'tick';

export class Profiler {
  readonly ms: Record<Share, number> = { sign: 0, encode: 0, mqtt: 0, flash: 0, sources: 0, tick: 0 };
  readonly calls: Record<Share, number> = { sign: 0, encode: 0, mqtt: 0, flash: 0, sources: 0, tick: 0 };
  private readonly stack: number[] = [];

  run<T>(label: Share, fn: () => T): T {
    const t0 = performance.now();
    this.stack.push(0);
    try {
      return fn();
    } finally {
      const dt = performance.now() - t0;
      const inner = this.stack.pop() as number;
      this.ms[label] += dt - inner;
      this.calls[label]++;
      if (this.stack.length) this.stack[this.stack.length - 1] += dt;
    }
  }

  wrap(obj: object, method: string, label: Share): void {
    const o = obj as Record<string, (...a: unknown[]) => unknown>;
    const f = o[method];
    if (typeof f !== 'function') throw new Error('profiler: no method "' + method + '" to wrap');
    const self = this;
    o[method] = function (this: unknown, ...a: unknown[]) {
      return self.run(label, () => f.apply(this, a));
    };
  }

  /** The observer that instruments every boot of a device. */
  observer(): DeviceObserver {
    const self = this;
    return {
      wrapSources: (_d, sources) =>
        sources.map((s) => {
          const w = Object.create(s);
          w.intervalMs = s.intervalMs;
          w.read = (done: Parameters<typeof s.read>[0]) => self.run('sources', () => s.read(done));
          return w;
        }),
      onBoot(d) {
        const a = d.agent as unknown as object;
        // Agent internals by name: startSeal stamps and encodes the payload and starts the
        // signature (signing hash); step runs the signature, then pushes and publishes.
        self.wrap(a, 'startSeal', 'encode');
        self.wrap(a, 'step', 'sign');
        self.wrap(a, 'onAgeTick', 'tick');
        self.wrap(d.agent.outbox, 'push', 'flash');
        self.wrap(d.agent.outbox, 'ack', 'flash');
        self.wrap(d.agent.client, 'publish', 'mqtt');
        self.wrap(d.agent.client as unknown as object, 'onReadable', 'mqtt');
      },
    };
  }
}

function gcNow(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

/** CPU seconds (user + system) of another process, from /proc (Linux); undefined elsewhere. */
function processCpuS(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const f = readFileSync('/proc/' + pid + '/stat', 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

export interface DeviceMemory {
  kinds: DeviceKind[];
  devices: number;
  /** Per device, KiB: JS heap, array buffers (flash files, buffers), resident set. */
  heapKb: number;
  arrayBuffersKb: number;
  rssKb: number;
}

/**
 * Memory of `n` more devices (made and booted, not started) beyond the first, per device. Run
 * it in a fresh process for clean numbers (the GC is forced before each reading).
 */
export async function measureDeviceMemory(n = 1000, kinds: DeviceKind[] = DEVICE_KINDS, agent?: Partial<AgentConfig>): Promise<DeviceMemory> {
  const gc = gcNow();
  const vt = new VirtualTime({});
  const fleet: FleetConfig = { brokerHost: '127.0.0.1', brokerPort: await deadPort(), prefix: 'depin', intervalMs: 60_000, batchMaxReadings: 12, batchMaxAgeMs: 3_600_000, time: vt, agent };
  const mk = (i: number) => new SimDevice(fleet, deviceSpec(i, 1, kinds), { entropy: seededEntropy('mem/' + i), log: () => undefined });
  mk(0);
  gc();
  gc();
  const m0 = process.memoryUsage();
  const keep: SimDevice[] = [];
  for (let i = 1; i <= n; i++) keep.push(mk(i));
  gc();
  gc();
  const m1 = process.memoryUsage();
  const per = (k: 'heapUsed' | 'arrayBuffers' | 'rss') => Math.round(((m1[k] - m0[k]) / n / 1024) * 10) / 10;
  const out = { kinds, devices: n, heapKb: per('heapUsed'), arrayBuffersKb: per('arrayBuffers'), rssKb: per('rss') };
  for (const d of keep) d.powerCut();
  return out;
}

export interface FleetBenchOptions {
  devices: number;
  /** Virtual hours of sampling. */
  hours: number;
  kinds?: DeviceKind[];
  broker?: 'aedes' | 'mosquitto';
  intervalMs?: number;
  batch?: number;
  /** Virtual ms the clock may run ahead of a request (virtual-time.ts); default 20 s. */
  ioSlackMs?: number;
  agent?: Partial<AgentConfig>;
  /** Measure the shares (default true; the wrappers cost a little: turn off for raw throughput). */
  profile?: boolean;
  /**
   * What-if for a proposed core change: the agent checks batch age every `ageCheckMs` (capped by
   * batchMaxAgeMs) instead of every second. Patches Agent.prototype in this process only.
   */
  ageCheckMs?: number;
  progress?: (line: string) => void;
}

export interface FleetBenchResult {
  devices: number;
  simulatedHours: number;
  realS: number;
  /** CPU of this process (devices, scheduler; aedes too when in process) and of Mosquitto. */
  cpuS: number;
  brokerCpuS: number | undefined;
  batchesSealed: number;
  batchesAcked: number;
  batchesPerRealS: number;
  /** Batches signed and published per CPU second of this process: the simulator's throughput per core. */
  batchesPerCpuS: number;
  /** Simulated device-days one core runs per real hour at this load. */
  deviceDaysPerCoreHour: number;
  /** Fractions of this process's CPU. */
  shares: Record<Share | 'other', number>;
  /** ms per batch of signing and encoding (for comparison with the device). */
  signMsPerBatch: number;
  encodeMsPerBatch: number;
  peakRssMb: number;
  rssPerDeviceKb: number;
  timers: number;
  waits: number;
}

export async function benchFleet(o: FleetBenchOptions): Promise<FleetBenchResult> {
  const progress = o.progress ?? (() => undefined);
  const rss0 = process.memoryUsage().rss;
  const b = await startScenarioBroker(o.broker ?? 'aedes', { persistence: false });
  if ('skip' in b) throw new Error(b.skip);
  let peak = rss0;
  const rssTimer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 200);
  const prof = new Profiler();
  const proto = Agent.prototype as unknown as { ageCheckMs(): number };
  const ageCheck = proto.ageCheckMs;
  if (o.ageCheckMs !== undefined) {
    const every = o.ageCheckMs;
    proto.ageCheckMs = function (this: { cfg: { batchMaxAgeMs: number } }) {
      return Math.min(this.cfg.batchMaxAgeMs, every);
    };
  }
  const vt = new VirtualTime({ ioSlackMs: o.ioSlackMs ?? 20_000, ioGraceMs: 2000 });
  const interval = o.intervalMs ?? 15 * 60_000;
  const fleet: FleetConfig = {
    brokerHost: '127.0.0.1',
    brokerPort: b.port,
    prefix: 'bench',
    intervalMs: interval,
    batchMaxReadings: o.batch ?? 16,
    batchMaxAgeMs: 3_600_000,
    time: vt,
    agent: {
      broker: { host: '127.0.0.1', port: b.port, keepAliveS: 3600, pingTimeoutMs: 60_000, connectTimeoutMs: 60_000, reconnect: { minMs: 5000, maxMs: 300_000, factor: 2 } },
      outbox: { segmentBytes: 4096, segmentSlots: 16, maxEntries: 64, maxBytes: 20480 },
      ...o.agent,
    },
  };
  const observer = o.profile === false ? undefined : prof.observer();
  const devices: SimDevice[] = [];
  try {
    for (let i = 0; i < o.devices; i++)
      devices.push(new SimDevice(fleet, deviceSpec(i, 1, o.kinds ?? DEVICE_KINDS), { entropy: seededEntropy('bench/' + i), log: () => undefined, observer, intervalMs: interval }));
    // Staggered over one interval, as real fleets are.
    for (const [i, d] of devices.entries()) vt.timers.setTimeout(() => d.start(), Math.floor((i / devices.length) * interval));
    progress('bench: ' + devices.length + ' devices made, RSS ' + Math.round(process.memoryUsage().rss / 1048576) + ' MB');
    const cpu0 = process.cpuUsage();
    const bcpu0 = processCpuS(b.pid());
    const r0 = performance.now();
    const end = vt.now() + o.hours * 3_600_000;
    let last = performance.now();
    while (vt.now() < end) {
      await vt.runUntil(Math.min(end, vt.now() + 60_000));
      if (performance.now() - last > 5000) {
        last = performance.now();
        progress('bench: +' + ((o.hours * 3_600_000 - (end - vt.now())) / 3_600_000).toFixed(2) + ' h, RSS ' + Math.round(process.memoryUsage().rss / 1048576) + ' MB');
      }
    }
    const realS = (performance.now() - r0) / 1000;
    const c = process.cpuUsage(cpu0);
    const cpuS = (c.user + c.system) / 1e6;
    const bcpu1 = processCpuS(b.pid());
    let sealed = 0;
    let acked = 0;
    for (const d of devices) {
      const t = d.totals();
      sealed += t.batches;
      acked += t.acked;
    }
    const st = vt.stats();
    const shares = {} as Record<Share | 'other', number>;
    let known = 0;
    for (const k of Object.keys(prof.ms) as Share[]) {
      shares[k] = prof.ms[k] / 1000 / cpuS;
      known += shares[k];
    }
    shares.other = Math.max(0, 1 - known);
    peak = Math.max(peak, process.memoryUsage().rss);
    return {
      devices: devices.length,
      simulatedHours: o.hours,
      realS,
      cpuS,
      brokerCpuS: bcpu0 !== undefined && bcpu1 !== undefined ? bcpu1 - bcpu0 : undefined,
      batchesSealed: sealed,
      batchesAcked: acked,
      batchesPerRealS: acked / realS,
      batchesPerCpuS: acked / cpuS,
      deviceDaysPerCoreHour: ((devices.length * o.hours) / 24 / cpuS) * 3600,
      shares,
      signMsPerBatch: prof.ms.sign / Math.max(1, sealed),
      encodeMsPerBatch: prof.ms.encode / Math.max(1, sealed),
      peakRssMb: Math.round(peak / 1048576),
      rssPerDeviceKb: Math.round((peak - rss0) / devices.length / 1024),
      timers: st.timersRun,
      waits: st.waits,
    };
  } finally {
    clearInterval(rssTimer);
    proto.ageCheckMs = ageCheck;
    for (const d of devices) if (!d.poweredOff) d.powerCut();
    await b.close();
  }
}

/** Heap bound for the 10k run (MB): live data is ~1.2 GB, the bound keeps garbage from growing RSS past 2 GB. */
export const TEN_K_HEAP_MB = 1536;

/**
 * The 10,000-device scenario (Mosquitto; skipped when it is missing), with its report. Run it in
 * a process started with --max-old-space-size=TEN_K_HEAP_MB (the command line does).
 */
export function benchTenThousand(progress?: (line: string) => void): Promise<ScenarioReport> {
  return runScenarioFile(new URL('../test/scenarios/bench/fleet-10k.json', import.meta.url).pathname, { progress });
}

// ---------------------------------------------------------------------------------------------
// Command line

async function main(argv: string[]): Promise<void> {
  const what = argv[0] ?? 'fleet';
  const opt = (name: string, d: number) => {
    const i = argv.indexOf('--' + name);
    return i >= 0 ? Number(argv[i + 1]) : d;
  };
  const log = (l: string) => process.stderr.write(l + '\n');
  if (what === 'memory') {
    const n = opt('devices', 1000);
    const out: DeviceMemory[] = [];
    for (const k of DEVICE_KINDS) out.push(await measureDeviceMemory(n, [k]));
    out.push(await measureDeviceMemory(n));
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else if (what === 'fleet') {
    const r = await benchFleet({
      devices: opt('devices', 1000),
      hours: opt('hours', 6),
      broker: argv.includes('--mosquitto') ? 'mosquitto' : 'aedes',
      profile: !argv.includes('--no-profile'),
      ageCheckMs: argv.includes('--age-check-ms') ? opt('age-check-ms', 1000) : undefined,
      progress: log,
    });
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  } else if (what === '10k') {
    // V8 sizes its heap from the machine's memory (about 4 GB here) and lets garbage grow
    // towards it; a bound makes it collect instead, and the run fits its 2 GB.
    const flag = '--max-old-space-size=' + TEN_K_HEAP_MB;
    if (!process.execArgv.concat((process.env.NODE_OPTIONS ?? '').split(' ')).some((a) => a.startsWith('--max-old-space-size'))) {
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync(process.execPath, [flag, ...process.execArgv, process.argv[1], ...argv], { stdio: 'inherit' });
      process.exit(r.status ?? 1);
    }
    const { formatReport } = await import('./scenario/runner.js');
    const r = await benchTenThousand(log);
    process.stdout.write(formatReport(r) + '\n');
  } else throw new Error('fleet-bench: expected memory, fleet or 10k, got ' + what);
}

if (import.meta.url === 'file://' + process.argv[1]) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e) => {
      process.stderr.write('fleet-bench: ' + ((e as Error).stack ?? e) + '\n');
      process.exit(1);
    },
  );
}
