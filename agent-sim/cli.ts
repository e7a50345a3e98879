#!/usr/bin/env node
// agent-sim: run simulated DePIN devices (the real core agent on Node) against an MQTT broker,
// with the verifying middleware in the same process, and print what happened to every batch.
import { parseArgs } from 'node:util';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
import { SimDevice, fleetSpecs, provision, Tally, deviceRows, formatTable, parseShard, shardRange, type FleetConfig } from './fleet.js';
import { createIngest, type Ingest } from './middleware/ingest.js';
import { openSqliteStore } from './middleware/store-sqlite.js';
import { startDashboard, takeDashboardArg, type Dashboard } from './middleware/dashboard/server.js';
import { openSqliteSource } from './middleware/dashboard/source.js';
import { DEVICE_KINDS, type DeviceKind } from './sources/profiles.js';
import { runScenarioFile, formatReport } from './scenario/runner.js';
import { ScenarioError } from './scenario/check.js';

const HELP = `agent-sim: simulated DePIN devices publishing signed telemetry, verified end to end

Usage:
  agent-sim demo                 5 devices of 3 kinds, embedded broker, verifier, ~30 s, then a table
  agent-sim run [options]        a fleet for a given time
  agent-sim scenario FILE [opts] a scenario file (fleet, faults, expectations; virtual time by
                                 default): exits 1 when an expectation fails, with a report
                                 (agent-sim scenario --help)

Options (run; demo takes them too):
  --devices N        number of devices (default 5)
  --kinds LIST       device kinds, comma separated: ${DEVICE_KINDS.join(',')}
                     (default energy,air,hotspot, round robin)
  --duration S       seconds of sampling (default 30)
  --broker URL       mqtt://host:port or mqtts://host:port of an existing broker (default: an
                     embedded broker on a free loopback port)
  --ca FILE          PEM CA that signed an mqtts broker's certificate
  --prefix P         topic prefix (default depin)
  --interval-ms MS   sampling interval of every source (default 1000)
  --batch N          readings per batch (default 24)
  --batch-age-ms MS  seal a batch once its oldest reading is this old (default 10000)
  --seed N           seed of the simulated readings (default 1)
  --data-dir DIR     keys, flash and counters of the devices, registry and database
                     (default .data/sim; devices keep their keys and counters between runs)
  --db FILE          verifier database (default <data-dir>/verifier.sqlite)
  --no-verifier      do not run the verifier in this process
  --drain-s S        seconds to wait for queued batches after sampling stops (default 15)
  --shard I/N        run only devices [floor(I*devices/N), floor((I+1)*devices/N)) of the fleet
                     (same labels, keys and readings as in the whole fleet)
  --dashboard [[HOST:]PORT]  serve the verifier's dashboard while the fleet runs (default
                     127.0.0.1:8080; port 0: any free port); prints its URL
  -h, --help         this text

Exit code: 0 when every sealed batch was verified exactly once (or is reported dropped by its
device) and nothing was rejected; 1 otherwise; 2 for bad usage.`;

const SCENARIO_HELP = `agent-sim scenario FILE [options]: run a scenario file and check its expectations

The file (JSON) describes the fleet, device profiles, links, faults with their times and the
expectations; agent-sim/scenario/README.md documents the format, test/scenarios/*.json are
examples. The run is private: its own broker (aedes in process, or Mosquitto when the scenario
asks for it: skipped with a message when the binary is missing), verifier and temp dir.

Options:
  --shard I/N        run devices [floor(I*N_devices/N), floor((I+1)*N_devices/N)) only, against
                     their own broker and verifier (shard reports add up to the fleet's)
  --json FILE        also write the report as JSON
  --data-dir DIR     keep registry and database of the run in DIR
  --verbose          device and verifier warnings and the fault timeline as they happen
  --quiet            no progress lines
  -h, --help         this text

Exit code: 0 when every expectation held (or the scenario was skipped), 1 when one failed (the
report names it and the devices and sequence numbers concerned), 2 for bad usage or a scenario
file that does not validate (every bad field is named).`;

async function scenarioMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        shard: { type: 'string' },
        json: { type: 'string' },
        'data-dir': { type: 'string' },
        verbose: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(SCENARIO_HELP + '\n');
    return 0;
  }
  if (positionals.length !== 1) fail('scenario: expected one scenario file, got ' + (positionals.length ? positionals.join(' ') : 'none'));
  let shard: { i: number; n: number } | undefined;
  if (v.shard) {
    try {
      shard = parseShard(v.shard);
    } catch (e) {
      fail('--shard: ' + (e as Error).message.replace(/^shard: /, ''));
    }
  }
  let report;
  try {
    report = await runScenarioFile(positionals[0], {
      shard,
      dir: v['data-dir'] ? resolve(v['data-dir']) : undefined,
      verbose: v.verbose,
      progress: v.quiet ? undefined : (line) => process.stderr.write(line + '\n'),
    });
  } catch (e) {
    if (e instanceof ScenarioError) {
      process.stderr.write('agent-sim: ' + e.message + '\n');
      return 2;
    }
    if (/ENOENT|not valid JSON|Unexpected token|JSON/.test((e as Error).message)) {
      process.stderr.write('agent-sim: ' + (e as Error).message + '\n');
      return 2;
    }
    throw e;
  }
  process.stdout.write(formatReport(report) + '\n');
  if (v.json) writeFileSync(v.json, JSON.stringify(report, null, 2) + '\n');
  return report.ok ? 0 : 1;
}

function fail(msg: string): never {
  process.stderr.write('agent-sim: ' + msg + '\nTry agent-sim --help\n');
  process.exit(2);
}

function intOpt(v: string | undefined, name: string, d: number, min: number, max: number): number {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} expects an integer in ${min}..${max}, got "${v}"`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'scenario') return scenarioMain(argv.slice(1));
  let dashArg: { host: string; port: number } | undefined;
  try {
    ({ argv, listen: dashArg } = takeDashboardArg(argv));
  } catch (e) {
    fail((e as Error).message);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        devices: { type: 'string' },
        kinds: { type: 'string' },
        duration: { type: 'string' },
        broker: { type: 'string' },
        ca: { type: 'string' },
        prefix: { type: 'string' },
        'interval-ms': { type: 'string' },
        batch: { type: 'string' },
        'batch-age-ms': { type: 'string' },
        seed: { type: 'string' },
        'data-dir': { type: 'string' },
        db: { type: 'string' },
        'no-verifier': { type: 'boolean' },
        'drain-s': { type: 'string' },
        shard: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const cmd = positionals[0] ?? 'demo';
  if (cmd !== 'demo' && cmd !== 'run') fail(`unknown command "${cmd}"`);
  if (positionals.length > 1) fail('unexpected argument "' + positionals[1] + '"');
  if (dashArg && v['no-verifier']) fail("--dashboard shows the verifier's database: it cannot go with --no-verifier");
  const kinds = (v.kinds ?? 'energy,air,hotspot').split(',') as DeviceKind[];
  for (const k of kinds) if (!DEVICE_KINDS.includes(k)) fail(`--kinds: unknown kind "${k}" (${DEVICE_KINDS.join(', ')})`);
  const n = intOpt(v.devices, 'devices', 5, 1, 100000);
  const durationS = intOpt(v.duration, 'duration', 30, 1, 7 * 86400);
  const dataDir = resolve(v['data-dir'] ?? join('.data', cmd === 'demo' ? 'demo' : 'sim'));
  mkdirSync(dataDir, { recursive: true });
  const prefix = v.prefix ?? 'depin';
  if (!/^[A-Za-z0-9_\-/]+$/.test(prefix) || prefix.endsWith('/')) fail('--prefix: topic levels of A-Z a-z 0-9 _ - separated by /');

  let broker: EmbeddedBroker | undefined;
  let url = v.broker;
  if (!url) {
    broker = await startEmbeddedBroker();
    url = broker.url;
  }
  const u = new URL(url);
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') fail('--broker: mqtt:// or mqtts:// URLs only (got ' + u.protocol + ')');
  const tls = u.protocol === 'mqtts:';
  let ca: string | undefined;
  if (v.ca) {
    try {
      ca = readFileSync(v.ca, 'utf8');
    } catch (e) {
      fail('--ca: cannot read ' + v.ca + ': ' + (e as Error).message);
    }
  }
  const fleet: FleetConfig = {
    dataDir,
    brokerHost: u.hostname,
    brokerPort: Number(u.port || (tls ? 8883 : 1883)),
    brokerTls: tls,
    brokerCa: ca,
    prefix,
    intervalMs: intOpt(v['interval-ms'], 'interval-ms', 1000, 100, 86400000),
    batchMaxReadings: intOpt(v.batch, 'batch', 24, 1, 1024),
    batchMaxAgeMs: intOpt(v['batch-age-ms'], 'batch-age-ms', 10000, 1000, 86400000),
  };
  const seed = intOpt(v.seed, 'seed', 1, 0, 2 ** 31);
  let specs = fleetSpecs(n, seed, kinds);
  if (v.shard) {
    let sh: { i: number; n: number } | undefined;
    try {
      sh = parseShard(v.shard);
    } catch (e) {
      fail('--shard: ' + (e as Error).message.replace(/^shard: /, ''));
    }
    const [lo, hi] = shardRange(n, sh.i, sh.n);
    if (lo === hi) fail('--shard ' + v.shard + ': no device of ' + n + ' falls in this shard');
    specs = specs.slice(lo, hi);
  }
  const devices = specs.map((s) => new SimDevice(fleet, s));
  const registryPath = join(dataDir, 'registry.json');
  provision(registryPath, devices);

  const tally = new Tally();
  let ingest: Ingest | undefined;
  let dashboard: Dashboard | undefined;
  if (!v['no-verifier']) {
    const dbPath = v.db ?? join(dataDir, 'verifier.sqlite');
    ingest = createIngest({
      brokerUrl: url,
      prefix,
      store: openSqliteStore(dbPath),
      registryPath,
      clientId: 'agent-sim-verifier',
      mqtt: ca ? { ca } : undefined,
      onOutcome: tally.onOutcome,
      log: (level, msg) => {
        if (level === 'warn' || level === 'error') process.stderr.write('\n[verifier] ' + level + ': ' + msg + '\n');
      },
    });
    await ingest.start();
    if (dashArg) {
      const ing = ingest;
      dashboard = await startDashboard({
        source: openSqliteSource(dbPath),
        host: dashArg.host,
        port: dashArg.port,
        broker: { url, prefix, mqtt: ca ? { ca } : undefined },
        ingestStats: () => ing.stats(),
        log: (level, msg) => {
          if (level !== 'info') process.stderr.write('\n[dashboard] ' + level + ': ' + msg + '\n');
        },
      });
    }
  }
  process.stdout.write(
    `agent-sim ${cmd}: ${devices.length}${v.shard ? ' of ' + n + ' (shard ' + v.shard + ')' : ''} devices (${kinds.join(', ')}), broker ${url}${broker ? ' (embedded)' : ''}, ` +
      `${durationS} s, data in ${dataDir}\n`,
  );
  if (dashboard) process.stdout.write(`dashboard: ${dashboard.url}\n`);
  for (const d of devices) d.start();

  const t0 = Date.now();
  const tty = process.stdout.isTTY;
  let lastPrint = 0;
  const progress = () => {
    const rows = deviceRows(devices, tally);
    const sum = (k: keyof (typeof rows)[0]) => rows.reduce((a, r) => a + (r[k] as number), 0);
    const line =
      `t=${Math.round((Date.now() - t0) / 1000)}s sealed=${sum('sealed')} acked=${sum('acked')} ` +
      `verified=${sum('verified')} rejected=${sum('rejected')} queued=${sum('queued')} bytes=${sum('bytes')}`;
    if (tty) process.stdout.write('\r' + line + '   ');
    else if (Date.now() - lastPrint >= 5000) {
      process.stdout.write(line + '\n');
      lastPrint = Date.now();
    }
  };
  const ticker = setInterval(progress, 1000);
  let interrupted = false;
  const onSig = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  const deadline = t0 + durationS * 1000;
  while (Date.now() < deadline && !interrupted) await sleep(100);
  // Stop sampling, seal what waits, let the outboxes drain.
  for (const d of devices) d.agent.quiesce();
  const drainUntil = Date.now() + intOpt(v['drain-s'], 'drain-s', 15, 0, 3600) * 1000;
  const verifiedAll = () => devices.every((d) => d.agent.idle() && (!ingest || tally.entry(d.agent.addressHex).accepted.size >= d.totals().batches));
  while (Date.now() < drainUntil && !verifiedAll()) await sleep(100);
  clearInterval(ticker);
  progress();
  if (ingest) await ingest.flush();
  for (const d of devices) d.stop();
  if (dashboard) await dashboard.close();
  if (ingest) await ingest.stop();
  if (broker) await broker.close();

  const rows = deviceRows(devices, tally);
  process.stdout.write('\n\n' + formatTable(rows as unknown as Record<string, string | number>[]) + '\n');
  const st = ingest?.stats();
  if (st) {
    process.stdout.write(
      `\nverifier: received ${st.received}, accepted ${st.accepted}, duplicates ${st.duplicates}, rejected ${st.rejectedTotal}, ` +
        `chain links verified ${st.linksVerified}, gaps unexplained ${st.gaps.unexplained}, backend ${st.backend}\n`,
    );
  }
  const lost = rows.reduce((a, r) => a + r.lost, 0);
  const rejected = rows.reduce((a, r) => a + r.rejected, 0) + tally.rejectedUnknown;
  if (!ingest) return 0;
  if (lost || rejected) {
    process.stdout.write(`FAIL: ${lost} batches unaccounted for, ${rejected} rejected\n`);
    return 1;
  }
  process.stdout.write(`OK: every sealed batch verified exactly once (${rows.reduce((a, r) => a + r.verified, 0)} batches)\n`);
  return 0;
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write('agent-sim: ' + ((e as Error).stack ?? e) + '\n');
    process.exit(1);
  },
);
