// MQTT brokers for tests, always private and on loopback: an in-process aedes 1.x, and a
// Mosquitto child process with its own config (plain and TLS listeners) in a temp dir. The
// system broker on :1883 is never used. Both can be restarted on the same ports.

import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';

/** A port the OS reports free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((ok, fail) => srv.once('error', fail).listen(0, '127.0.0.1', ok));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

/** Resolves once something accepts TCP connections on the port, or rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), res(true)));
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error('nothing accepted connections on 127.0.0.1:' + port + ' within ' + timeoutMs + ' ms');
    await new Promise((r) => setTimeout(r, 30));
  }
}

// ---------------------------------------------------------------------------------------------
// aedes, in process

// The in-process broker is product code (agent-sim's default broker); tests use the same one.
export { startEmbeddedBroker as startAedes, type EmbeddedBroker as AedesHandle } from '../../agent-sim/embedded-broker.js';

// ---------------------------------------------------------------------------------------------
// Mosquitto, as a child process

export interface MosquittoHandle {
  port: number;
  tlsPort?: number;
  /** PEM of the test CA that signed the TLS listener's certificate (CN=localhost, IP 127.0.0.1). */
  caPem?: string;
  /** Kill the broker and remove its temp dir. */
  stop(): Promise<void>;
  /** Kill it (SIGKILL: no clean shutdown), wait downMs, start it again on the same ports. */
  restart(opts?: { downMs?: number }): Promise<void>;
}

const MOSQUITTO_MISSING = 'mosquitto not found on PATH: install it (Debian: apt-get install mosquitto) to run the Mosquitto tests';

/** An executable by name on PATH, or in the sbin dirs where Debian puts daemons. */
export function findBinary(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/usr/local/sbin', '/sbin']);
  for (const d of dirs) if (d && existsSync(join(d, name))) return join(d, name);
  return undefined;
}

/**
 * A CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI in `dir`.
 * Returns the file paths, or a skip reason when openssl is missing.
 */
export function makeTestCerts(dir: string): { ca: string; cert: string; key: string } | { skip: string } {
  const openssl = findBinary('openssl');
  if (!openssl) return { skip: 'openssl not found on PATH: install it (Debian: apt-get install openssl) to run the TLS tests' };
  const run = (args: string[]) => {
    const r = spawnSync(openssl, args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error('openssl ' + args.join(' ') + ' failed: ' + r.stderr);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=depin-test-ca']);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf']);
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

export async function startMosquitto(opts: { tls?: boolean } = {}): Promise<MosquittoHandle | { skip: string }> {
  const bin = findBinary('mosquitto');
  if (!bin) return { skip: MOSQUITTO_MISSING };
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-test-'));
  const port = await freePort();
  const lines = [
    'per_listener_settings false',
    'allow_anonymous true',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    // Run as root, Mosquitto would switch to its own user and lose access to this temp dir.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    'listener ' + port + ' 127.0.0.1',
  ];
  let tlsPort: number | undefined;
  let caPem: string | undefined;
  if (opts.tls) {
    const certs = makeTestCerts(dir);
    if ('skip' in certs) {
      rmSync(dir, { recursive: true, force: true });
      return certs;
    }
    tlsPort = await freePort();
    caPem = readFileSync(certs.ca, 'utf8');
    lines.push('listener ' + tlsPort + ' 127.0.0.1', 'cafile ' + certs.ca, 'certfile ' + certs.cert, 'keyfile ' + certs.key);
  }
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n') + '\n');

  let child: ChildProcess | undefined;
  let stderr = '';
  async function up(): Promise<void> {
    stderr = '';
    const c = spawn(bin as string, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d) => (stderr += d));
    child = c;
    const exited = new Promise<never>((_, fail) =>
      c.once('exit', (code) => fail(new Error('mosquitto exited with ' + code + ' before listening: ' + stderr))),
    );
    exited.catch(() => {});
    await Promise.race([Promise.all([waitForPort(port), tlsPort ? waitForPort(tlsPort) : undefined]), exited]);
  }
  async function down(signal: NodeJS.Signals): Promise<void> {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((ok) => c.once('exit', () => ok()));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(t);
  }

  await up();
  return {
    port,
    tlsPort,
    caPem,
    async stop() {
      await down('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    async restart(r = {}) {
      await down('SIGKILL');
      await new Promise((ok) => setTimeout(ok, r.downMs ?? 0));
      await up();
    },
  };
}
