// Section 5: end to end on one core. N core Agents (Node host, in-memory flash, the simulator's
// native SHA-256 slot) sample a source that always has readings waiting, seal one energy sample
// (3 values) per batch with the default signing budget, publish over MQTT (QoS 1) to the embedded
// aedes broker, and the in-process ingest (default commit mode: SQLite file, one transaction per
// message) verifies each one against the registry. Everything shares this Node process, so the
// rate is what one core does with signing, MQTT both ways, verifying and storing.
//
// Counted over a window after a warm-up: batches sealed (Agent stats), acknowledged by the broker
// (PUBACK; removed from the outbox) and accepted by the verifier.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type AgentConfig, type Source, type SourceValue } from '../firmware/core/session/agent.js';
import { installSha256, sha256IsNative } from '../firmware/core/crypto/sha256.js';
import { toHex } from '../firmware/core/util/bytes.js';
import { DEFAULT_SIGN_BUDGET, MAX_SIGN_BUDGET } from '../firmware/core/crypto/secp256k1/sign-job.js';
import { createNodeHost, nodeSha256, seededEntropy } from '../agent-sim/platform/host.js';
import { startEmbeddedBroker } from '../agent-sim/embedded-broker.js';
import { createIngest } from '../agent-sim/middleware/ingest.js';
import { openSqliteStore } from '../agent-sim/middleware/store-sqlite.js';
import { addDevice, type Registry } from '../agent-sim/middleware/registry.js';
import type { Section, Table, RunOptions } from './table.js';

/** Fleet sizes measured. */
export const FLEETS = [10, 50];
/**
 * Signing budgets: the device default (a signature over ~20 steps, each a setTimeout(0), which
 * Node clamps to 1 ms, so one device seals at most ~40 batches/s), and the whole signature in
 * one step (what one core can do when nothing waits on timers).
 */
export const BUDGETS: { label: string; budget: number | undefined }[] = [
  { label: 'default (' + DEFAULT_SIGN_BUDGET + ')', budget: undefined },
  { label: 'one step', budget: MAX_SIGN_BUDGET },
];
const PREFIX = 'bench';
/** Readings per batch: one energy sample. */
const BATCH_READINGS = 3;
/** Samples a read returns: more than a device can seal between reads, so signing never waits. */
const SAMPLES_PER_READ = 10;
/** Source interval: the agent's lower bound. */
const INTERVAL_MS = 100;
/** Bound on waiting for every device to connect. */
const CONNECT_TIMEOUT_MS = 15_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An energy meter that always has SAMPLES_PER_READ samples ready (e: Wh sum, p: W, u: V). */
function backloggedMeter(seed: number): Source {
  let wh = 1_000_000 + seed * 1000;
  let k = 0;
  return {
    id: 'm0',
    intervalMs: INTERVAL_MS,
    read(done) {
      const out: SourceValue[] = [];
      for (let i = 0; i < SAMPLES_PER_READ; i++) {
        wh += 3;
        k++;
        out.push({ n: 'e', u: 'Wh', s: wh }, { n: 'p', u: 'W', v: 1200 + (k % 16) * 0.25 }, { n: 'u', u: 'V', v: 230 + (k % 8) * 0.5 });
      }
      done(undefined, out);
    },
  };
}

interface FleetNumbers {
  devices: number;
  windowS: number;
  sealedPerSec: number;
  ackedPerSec: number;
  verifiedPerSec: number;
  sealMsMean: number;
  signMaxStepMs: number;
  cpuPct: number;
  rejected: number;
  lagAtEnd: number;
}

async function measureFleet(n: number, budget: number | undefined, warmMs: number, windowMs: number): Promise<FleetNumbers> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-e2e-'));
  const broker = await startEmbeddedBroker();
  const agents: Agent[] = [];
  let accepted = 0;
  let rejected = 0;
  const store = openSqliteStore(join(dir, 'verifier.sqlite'));
  try {
    for (let i = 0; i < n; i++) {
      const host = createNodeHost({ entropy: seededEntropy('bench-e2e-' + i), log: () => undefined, freeMemory: 120_000 });
      const cfg: AgentConfig = {
        prefix: PREFIX,
        broker: { host: '127.0.0.1', port: broker.port, keepAliveS: 60, reconnect: { minMs: 200, maxMs: 3000, factor: 2 } },
        batchMaxReadings: BATCH_READINGS,
        batchMaxAgeMs: 1000,
        maxPendingReadings: 512,
        publishWindow: 4,
        operators: [],
        firmware: 'bench',
        board: 'bench',
      };
      if (budget !== undefined) cfg.signBudget = budget;
      agents.push(new Agent(host, cfg, [backloggedMeter(i)]));
    }
    const registry: Registry = { devices: [] };
    agents.forEach((a, i) => addDevice(registry, { publicKey: toHex(a.publicKey), label: 'bench-' + i }));
    const ingest = createIngest({
      brokerUrl: broker.url,
      prefix: PREFIX,
      store,
      registry,
      clientId: 'bench-verifier',
      log: () => undefined,
      onOutcome: (o) => {
        if (o.status === 'accepted') accepted++;
        else if (o.status === 'rejected') rejected++;
      },
    });
    await ingest.start();
    for (const a of agents) a.start();
    const t0 = Date.now();
    while (agents.some((a) => a.stats().state !== 'CONNECTED')) {
      if (Date.now() - t0 > CONNECT_TIMEOUT_MS) throw new Error('bench: devices did not connect within ' + CONNECT_TIMEOUT_MS + ' ms');
      await sleep(20);
    }
    await sleep(warmMs);
    const snap = () => {
      let sealed = 0;
      let acked = 0;
      let signMs = 0;
      let maxStep = 0;
      for (const a of agents) {
        const s = a.stats();
        sealed += s.batches;
        acked += s.acked;
        signMs += s.signMsTotal;
        if (s.signMaxStepMs > maxStep) maxStep = s.signMaxStepMs;
      }
      return { sealed, acked, signMs, maxStep, verified: accepted, t: performance.now(), cpu: process.cpuUsage() };
    };
    const a0 = snap();
    await sleep(windowMs);
    const a1 = snap();
    const dt = (a1.t - a0.t) / 1000;
    const cpu = process.cpuUsage(a0.cpu);
    for (const a of agents) a.stop();
    await ingest.stop();
    return {
      devices: n,
      windowS: dt,
      sealedPerSec: (a1.sealed - a0.sealed) / dt,
      ackedPerSec: (a1.acked - a0.acked) / dt,
      verifiedPerSec: (a1.verified - a0.verified) / dt,
      sealMsMean: (a1.signMs - a0.signMs) / Math.max(1, a1.sealed - a0.sealed),
      signMaxStepMs: a1.maxStep,
      cpuPct: ((cpu.user + cpu.system) / 1e6 / dt) * 100,
      rejected,
      lagAtEnd: a1.sealed - a1.verified,
    };
  } finally {
    for (const a of agents) a.stop();
    await broker.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const e2eSection: Section = {
  name: 'e2e',
  title: '5. End to end (devices -> embedded broker -> verifier, one process)',
  async run(opts: RunOptions) {
    const hadSlot = sha256IsNative();
    installSha256(nodeSha256); // as agent-sim does: the device uses its native SHA-256 too
    const rows: Table['rows'] = [];
    try {
      for (const b of BUDGETS) {
        for (const n of FLEETS) {
          const r = await measureFleet(n, b.budget, opts.quick ? 300 : 800, opts.quick ? 700 : 3000);
          if (r.rejected) throw new Error('bench: the verifier rejected ' + r.rejected + ' message(s) with ' + n + ' devices');
          rows.push({
            budget: b.label,
            devices: r.devices,
            window: r.windowS,
            sealed: r.sealedPerSec,
            acked: r.ackedPerSec,
            verified: r.verifiedPerSec,
            ratio: r.verifiedPerSec / r.sealedPerSec,
            sealMs: r.sealMsMean,
            maxStep: r.signMaxStepMs,
            cpu: r.cpuPct,
            lag: r.lagAtEnd,
          });
        }
      }
    } finally {
      if (!hadSlot) installSha256();
    }
    return {
      tables: [
        {
          title: 'End to end, one Node process: batches of 1 energy sample (3 values), QoS 1, verified into SQLite (ratio: verified / sealed)',
          columns: [
            { key: 'budget', header: 'sign budget' },
            { key: 'devices', header: 'devices' },
            { key: 'window', header: 'window s', digits: 1 },
            { key: 'sealed', header: 'sealed batch/s', digits: 0 },
            { key: 'acked', header: 'acked batch/s', digits: 0 },
            { key: 'verified', header: 'verified batch/s', digits: 0 },
            { key: 'ratio', header: 'ratio verified/sealed', digits: 2 },
            { key: 'sealMs', header: 'seal latency ms (mean)', digits: 1 },
            { key: 'maxStep', header: 'longest sign step ms', digits: 2 },
            { key: 'cpu', header: 'process CPU %' },
            { key: 'lag', header: 'sealed-not-verified at end' },
          ],
          rows,
          notes: [
            'Each device: core Agent, publishWindow 4, source always backlogged (' + SAMPLES_PER_READ + ' samples per ' + INTERVAL_MS + ' ms read). Sign job stepped on setTimeout(0):',
            '  with the default budget a device waits >= 1 ms (Node\'s timer clamp) per step, so below ~100% CPU the rate is timer-bound, not CPU-bound.',
            'Verifier: createIngest default commit mode (one SQLite transaction per message, acked after commit), libsecp256k1 backend when available.',
            'Seal latency: from taking the readings to the signed message, including waits for the event loop shared with every other device.',
          ],
        },
      ],
      targets: [],
    };
  },
};
