// Brokers that keep their state across a restart, for the restart scenarios that claim "nothing
// lost": aedes whose sessions, subscriptions and QoS 1 queues live in one persistence object that
// every new broker instance reuses (a broker process restarted over durable storage), and
// Mosquitto with persistence on, restarted with SIGTERM (it saves its database on the way down).
// The non-durable brokers are test/harness/brokers.ts (startAedes, startMosquitto).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { Aedes } from 'aedes';
import { startEmbeddedBroker } from '../../agent-sim/embedded-broker.js';
import { findBinary, freePort, waitForPort } from '../harness/brokers.js';

export interface RestartableBroker {
  kind: string;
  port: number;
  url: string;
  /** Down for downMs, then up again on the same port. */
  restart(opts?: { downMs?: number }): Promise<void>;
  close(): Promise<void>;
}

// aedes-persistence is CommonJS whose module.exports is the factory (its typings say default).
const memory = createRequire(import.meta.url)('aedes-persistence') as () => unknown;

export async function startDurableAedes(): Promise<RestartableBroker & { broker: () => Aedes }> {
  const b = await startEmbeddedBroker({ persistence: memory() });
  return {
    kind: 'aedes (durable)',
    port: b.port,
    url: b.url,
    broker: () => b.broker,
    restart: (r) => b.restart(r),
    close: () => b.close(),
  };
}

/** Mosquitto with persistence; restart() is a graceful SIGTERM (the database is saved). */
export async function startDurableMosquitto(): Promise<RestartableBroker | { skip: string }> {
  const bin = findBinary('mosquitto');
  if (!bin) return { skip: 'mosquitto not found on PATH: install it (Debian: apt-get install mosquitto) to run the Mosquitto tests' };
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-durable-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'allow_anonymous true',
      'persistence true',
      'persistence_location ' + dir + '/',
      // Saved at shutdown; the periodic save is not what this test relies on.
      'autosave_interval 3600',
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'listener ' + port + ' 127.0.0.1',
    ].join('\n') + '\n',
  );
  let child: ChildProcess | undefined;
  let stderr = '';
  async function up(): Promise<void> {
    const c = spawn(bin as string, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d) => (stderr += d));
    child = c;
    const exited = new Promise<never>((_, fail) => c.once('exit', (code) => fail(new Error('mosquitto exited with ' + code + ': ' + stderr))));
    exited.catch(() => undefined);
    await Promise.race([waitForPort(port), exited]);
  }
  async function down(): Promise<void> {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((ok) => c.once('exit', () => ok()));
    c.kill('SIGTERM');
    await gone;
  }
  await up();
  return {
    kind: 'mosquitto (persistence, SIGTERM)',
    port,
    url: 'mqtt://127.0.0.1:' + port,
    async restart(r = {}) {
      await down();
      await new Promise((ok) => setTimeout(ok, r.downMs ?? 0));
      await up();
    },
    async close() {
      await down();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
