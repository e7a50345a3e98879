// Shared pieces of the device tests: the built app (dist/<board>/app.js, rebuilt when stale),
// the G table, a device config, provisioning of an emulated flash, and the verifier side: an
// aedes broker, an SNTP server and the middleware's ingest (SQLite in a temp dir) whose
// registry learns a device's public key when provisioning reads it.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { startAedes, type AedesHandle } from '../harness/brokers.js';
import { startSntpServer, type SntpServer } from './sntp-server.js';
import { createIngest, type Ingest, type Outcome } from '../../agent-sim/middleware/ingest.js';
import { openSqliteStore, type SqliteStore } from '../../agent-sim/middleware/store-sqlite.js';
import type { Registry } from '../../agent-sim/middleware/registry.js';
import { buildGTable } from '../../firmware/core/crypto/secp256k1/gtable.js';
import { getPublicKey } from '../../firmware/core/crypto/secp256k1/index.js';
import { addressFromPublicKey } from '../../firmware/core/telemetry/envelope.js';
import { toHex } from '../../firmware/core/util/bytes.js';
import type { FlashStorage } from '../../agent-sim/platform/flash-storage.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The board the device tests build for (boards/<name>.json). */
export const TEST_BOARD = 'esp32-devkitc';
/** Its RNG register (boards/esp32-devkitc.json rngRegister). */
export const ESP32_RNG = 0x60035144;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(what: string, cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out after ' + ms + ' ms waiting for ' + what);
    await sleep(20);
  }
}

function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const n of readdirSync(path)) t = Math.max(t, newest(join(path, n)));
  return t;
}

const built = new Map<string, Promise<string>>();

/** dist/<board>/app.js, built when missing or older than firmware/, the build scripts or the board file. */
export function ensureApp(board = TEST_BOARD): Promise<string> {
  if (!built.has(board))
    built.set(board, (async () => {
      const out = join(ROOT, 'dist', board, 'app.js');
      const inputs = Math.max(
        newest(join(ROOT, 'firmware')),
        newest(join(ROOT, 'scripts/build-firmware.mjs')),
        newest(join(ROOT, 'scripts/espruino-check.mjs')),
        newest(join(ROOT, 'boards', board + '.json')),
      );
      let fresh = false;
      try {
        fresh = statSync(out).mtimeMs >= inputs;
      } catch {
        fresh = false;
      }
      if (!fresh) {
        const { buildApp } = (await import('../../scripts/build-firmware.mjs')) as unknown as { buildApp(o: object): Promise<{ out: string }> };
        await buildApp({ board });
      }
      return out;
    })());
  return built.get(board)!;
}

let gtable: Uint8Array | undefined;
/** The 16 KB secp256k1 table provisioning stores as "gtab". */
export function gTable(): Uint8Array {
  return (gtable ??= buildGTable());
}

export interface ConfigOptions {
  brokerPort: number;
  sntpPort?: number;
  batchMaxReadings?: number;
  intervalMs?: number;
  wifi?: boolean;
  watchdogS?: number;
  extra?: Record<string, unknown>;
}

/** A device config as provisioning writes it (firmware/espruino/main.ts documents the format). */
export function deviceConfig(o: ConfigOptions): Record<string, unknown> {
  const c: Record<string, unknown> = {
    v: 1,
    agent: {
      prefix: 'depin',
      broker: { host: '127.0.0.1', port: o.brokerPort, keepAliveS: 5, reconnect: { minMs: 100, maxMs: 1000, factor: 2 } },
      batchMaxReadings: o.batchMaxReadings ?? 4,
      batchMaxAgeMs: 2000,
      maxPendingReadings: 64,
      publishWindow: 4,
      operators: [],
    },
    sources: [{ id: 'dev', type: 'device', intervalMs: o.intervalMs ?? 250 }],
    watchdogS: o.watchdogS ?? 10,
    log: 'info',
  };
  if (o.wifi !== false) c.wifi = { ssid: 'test-ap', password: 'secret', joinTimeoutMs: 2000, minBackoffMs: 100, maxBackoffMs: 800 };
  if (o.sntpPort) c.sntp = { servers: ['127.0.0.1'], port: o.sntpPort, timeoutMs: 1000, attempts: 3 };
  return { ...c, ...o.extra };
}

/** What provisioning writes before the first boot: config and G table. */
export function provisionFlash(flash: FlashStorage, cfg: Record<string, unknown>): void {
  flash.write('depin.cfg', new Uint8Array(Buffer.from(JSON.stringify(cfg), 'utf8')));
  flash.write('gtab', gTable());
}

/** Public key (uncompressed, hex) and address of a 32-byte private key. */
export function identity(key: Uint8Array): { publicKey: string; address: string } {
  const pub = getPublicKey(key, false);
  return { publicKey: toHex(pub), address: toHex(addressFromPublicKey(pub)) };
}

export interface Verifier {
  broker: AedesHandle;
  sntp: SntpServer;
  store: SqliteStore;
  ingest: Ingest;
  registry: Registry;
  outcomes: Outcome[];
  /** Retained status and meta per device address, as a subscriber sees them. */
  status: Map<string, string>;
  meta: Map<string, { publicKey: string; boot: number; board: string; firmware: string; sources: string[] }>;
  logs: string[];
  /** Provisioning: the verifier accepts this key's batches from now on. */
  register(key: Uint8Array): string;
  accepted(address: string): number[];
  rejected(): Outcome[];
  close(): Promise<void>;
}

export async function startVerifier(tag: string): Promise<Verifier> {
  const dir = mkdtempSync(join(tmpdir(), 'device-' + tag + '-'));
  const broker = await startAedes();
  const sntp = await startSntpServer();
  const store = openSqliteStore(join(dir, 'verifier.sqlite'));
  const registry: Registry = { devices: [] };
  const outcomes: Outcome[] = [];
  const logs: string[] = [];
  const ingest = createIngest({
    brokerUrl: broker.url,
    store,
    registry,
    clientId: 'verifier-' + tag,
    sweepMs: 100,
    chain: { gapGraceMs: 500 },
    mqtt: { reconnectPeriod: 100 },
    onOutcome: (x) => void outcomes.push(x),
    log: (level, msg) => void logs.push(level + ' ' + msg),
  });
  await ingest.start();
  const status = new Map<string, string>();
  const meta = new Map<string, { publicKey: string; boot: number; board: string; firmware: string; sources: string[] }>();
  const watcher = mqtt.connect(broker.url, { clientId: 'watcher-' + tag, reconnectPeriod: 100 });
  await new Promise<void>((ok, fail) => {
    watcher.once('connect', () => ok());
    watcher.once('error', fail);
  });
  await watcher.subscribeAsync(['depin/+/status', 'depin/+/meta'], { qos: 1 });
  watcher.on('message', (topic, payload) => {
    const [, addr, kind] = topic.split('/');
    if (kind === 'status') status.set(addr, payload.toString());
    if (kind === 'meta') meta.set(addr, JSON.parse(payload.toString()));
  });
  return {
    broker,
    sntp,
    store,
    ingest,
    registry,
    outcomes,
    status,
    meta,
    logs,
    register(key) {
      const id = identity(key);
      if (!registry.devices.some((d) => d.address === id.address)) {
        registry.devices.push({ address: id.address, publicKey: id.publicKey, label: tag });
        ingest.reloadRegistry(registry);
      }
      return id.address;
    },
    accepted: (address) => outcomes.filter((x) => x.status === 'accepted' && x.kid === address).map((x) => (x as { seq: number }).seq),
    rejected: () => outcomes.filter((x) => x.status === 'rejected'),
    async close() {
      await watcher.endAsync(true);
      await ingest.stop();
      store.close?.();
      await broker.close();
      await sntp.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
