// The broker a scenario runs against, private to the run and on loopback, that faults can stop
// and start again on the same port:
//   aedes      in process. persistence: sessions, subscriptions and QoS 1 queues live in one
//              aedes-persistence object every new instance reuses (a broker restarted over
//              durable storage). Stopping closes every client link; 'kill' and 'graceful' are
//              the same for it.
//   mosquitto  a child process with its own config in a temp dir. persistence: its database is
//              saved on SIGTERM ('graceful') and loaded at start; 'kill' is SIGKILL (what was not
//              saved is lost, as on a crash). No per-client queue limit (max_queued_messages 0),
//              unlimited connections; the child inherits this process's open-file limit.
// Mosquitto is optional: startScenarioBroker returns { skip } when the binary is missing.
// MOSQUITTO_BIN in the environment names the binary (empty: behave as if it were missing).
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';
import { createRequire } from 'node:module';
import { Aedes } from 'aedes';

export type StopMode = 'kill' | 'graceful';

export interface ScenarioBroker {
  readonly kind: 'aedes' | 'mosquitto';
  readonly port: number;
  readonly url: string;
  up(): boolean;
  stop(mode: StopMode): Promise<void>;
  start(): Promise<void>;
  /** Stop for good and remove temp files (idempotent). */
  close(): Promise<void>;
  /** Restarts so far. */
  restarts(): number;
  /** The broker's process id when it runs as a child (Mosquitto), for CPU accounting. */
  pid(): number | undefined;
}

export const MOSQUITTO_MISSING = 'mosquitto not found on PATH or in /usr/sbin: install it (Debian: apt-get install mosquitto) to run this scenario';

/** An executable by name on PATH, or in the sbin dirs where Debian puts daemons. */
export function findBinary(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/usr/local/sbin', '/sbin']);
  for (const d of dirs) if (d && existsSync(join(d, name))) return join(d, name);
  return undefined;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((ok, fail) => srv.once('error', fail).listen(0, '127.0.0.1', ok));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), res(true)));
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error('nothing accepted connections on 127.0.0.1:' + port + ' within ' + timeoutMs + ' ms');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startScenarioBroker(kind: 'aedes' | 'mosquitto', o: { persistence: boolean }): Promise<ScenarioBroker | { skip: string }> {
  return kind === 'aedes' ? startAedesBroker(o.persistence) : startMosquittoBroker(o.persistence);
}

async function startAedesBroker(persistent: boolean): Promise<ScenarioBroker> {
  // aedes-persistence is CommonJS whose module.exports is the factory.
  const memory = createRequire(import.meta.url)('aedes-persistence') as () => unknown;
  const persistence = persistent ? memory() : undefined;
  let port = 0;
  let broker: Aedes | undefined;
  let server: net.Server | undefined;
  let sockets = new Set<net.Socket>();
  let restarts = 0;
  let closed = false;
  async function up(): Promise<void> {
    const b = await Aedes.createBroker(persistence ? { persistence: persistence as never } : {});
    const srv = net.createServer((s) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      b.handle(s);
    });
    await new Promise<void>((ok, fail) => srv.once('error', fail).listen(port, '127.0.0.1', ok));
    port = (srv.address() as net.AddressInfo).port;
    broker = b;
    server = srv;
  }
  async function down(): Promise<void> {
    const b = broker;
    const srv = server;
    broker = undefined;
    server = undefined;
    if (b) await new Promise<void>((ok) => b.close(() => ok()));
    for (const s of sockets) s.destroy();
    sockets = new Set();
    if (srv) await new Promise<void>((ok) => srv.close(() => ok()));
  }
  await up();
  return {
    kind: 'aedes',
    port,
    url: 'mqtt://127.0.0.1:' + port,
    up: () => !!broker,
    stop: () => down(),
    async start() {
      if (broker || closed) return;
      restarts++;
      await up();
    },
    async close() {
      closed = true;
      await down();
    },
    restarts: () => restarts,
    pid: () => undefined,
  };
}

async function startMosquittoBroker(persistent: boolean): Promise<ScenarioBroker | { skip: string }> {
  const env = process.env.MOSQUITTO_BIN;
  const bin = env !== undefined ? env || undefined : findBinary('mosquitto');
  if (!bin) return { skip: MOSQUITTO_MISSING };
  const dir = mkdtempSync(join(tmpdir(), 'scenario-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'allow_anonymous true',
      'persistence ' + (persistent ? 'true' : 'false'),
      'persistence_location ' + dir + '/',
      // Saved at a graceful stop; a kill loses what came since the last save, as a crash does.
      'autosave_interval 3600',
      // The verifier must never lose a batch to a queue bound while it catches up.
      'max_queued_messages 0',
      'max_inflight_messages 100',
      'max_connections -1',
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      // Run as root, Mosquitto would switch to its own user and lose access to this temp dir.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'listener ' + port + ' 127.0.0.1',
    ].join('\n') + '\n',
  );
  let child: ChildProcess | undefined;
  let stderr = '';
  let restarts = 0;
  let closed = false;
  async function up(): Promise<void> {
    stderr = '';
    const c = spawn(bin as string, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    child = c;
    const exited = new Promise<never>((_, fail) => c.once('exit', (code) => fail(new Error('mosquitto exited with ' + code + ' before listening: ' + stderr))));
    exited.catch(() => undefined);
    await Promise.race([waitForPort(port, 10_000), exited]);
  }
  async function down(mode: StopMode): Promise<void> {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((ok) => c.once('exit', () => ok()));
    c.kill(mode === 'kill' ? 'SIGKILL' : 'SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
  await up();
  return {
    kind: 'mosquitto',
    port,
    url: 'mqtt://127.0.0.1:' + port,
    up: () => !!child,
    stop: (mode) => down(mode),
    async start() {
      if (child || closed) return;
      restarts++;
      await up();
    },
    async close() {
      if (closed) return;
      closed = true;
      await down('graceful');
      rmSync(dir, { recursive: true, force: true });
    },
    restarts: () => restarts,
    pid: () => child?.pid,
  };
}
