// The Node host: the same interfaces the device's Espruino platform provides, backed by real
// sockets, a file-backed flash with the device's write rules, the system clock and entropy.
import { createHash, randomBytes } from 'node:crypto';
import type { Host, Clock, Timers, Entropy, Log, LogLevel } from '../../firmware/core/host.js';
import { FlashStorage } from './flash-storage.js';
import { createNodeSocketFactory } from './node-socket.js';

export interface NodeHostOptions {
  /** Directory of this device's flash; in-memory when omitted. */
  dir?: string;
  /** Use an existing storage (a reboot keeps the flash). */
  storage?: FlashStorage;
  clock?: Clock;
  timers?: Timers;
  entropy?: Entropy;
  log?: Log;
  /** Wall clock synchronised from the start (default true; false simulates a device before SNTP). */
  synced?: boolean;
  /** Free memory reported in health, bytes (a simulated device's budget). */
  freeMemory?: number;
}

export function nodeSha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** Real time: monotonic uptime from process.hrtime, wall time from Date.now(). */
export function systemClock(synced = true): Clock & { setSynced(v: boolean): void } {
  const t0 = performance.now();
  let isSynced = synced;
  return {
    now: () => Date.now(),
    uptime: () => performance.now() - t0,
    synced: () => isSynced,
    setSynced(v: boolean) {
      isSynced = v;
    },
  };
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export const systemEntropy: Entropy = { randomBytes: (n) => new Uint8Array(randomBytes(n)) };

/** Deterministic entropy for reproducible simulations only: SHA-256(seed || counter). */
export function seededEntropy(seed: string): Entropy {
  let ctr = 0;
  return {
    randomBytes(n: number) {
      const out = new Uint8Array(n);
      for (let o = 0; o < n; o += 32) {
        const h = createHash('sha256').update(seed).update(String(ctr++)).digest();
        out.set(h.subarray(0, Math.min(32, n - o)), o);
      }
      return out;
    },
  };
}

export function quietLog(min: LogLevel = 'warn', prefix = ''): Log {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return (level, msg) => {
    if (order[level] >= order[min]) process.stderr.write(prefix + level + ': ' + msg + '\n');
  };
}

export function createNodeHost(o: NodeHostOptions = {}): Host & { storage: FlashStorage } {
  const storage = o.storage ?? new FlashStorage({ dir: o.dir });
  return {
    clock: o.clock ?? systemClock(o.synced ?? true),
    timers: o.timers ?? systemTimers,
    entropy: o.entropy ?? systemEntropy,
    storage,
    socket: createNodeSocketFactory(),
    log: o.log ?? quietLog('warn'),
    accel: { sha256: nodeSha256 },
    freeMemory: o.freeMemory === undefined ? undefined : () => o.freeMemory as number,
  };
}
