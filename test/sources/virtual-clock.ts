// Virtual time for the s0 / semtech / device / s8 source tests: one scheduler that drives the
// host's timers, the simulated peripherals' timers and (after install()) the global
// setTimeout that SimPin's debounce and SerialLink's delivery use, so hours of pulses run in
// milliseconds and every run is the same.
import type { Host, Timers, Clock } from '../../firmware/core/host.js';
import type { IO } from '../../firmware/core/host.js';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

export class VirtualClock {
  t = 0;
  private seq = 0;
  private queue: Pending[] = [];
  private saved: { st: typeof setTimeout; ct: typeof clearTimeout } | undefined;

  now = (): number => this.t;

  setTimeout = (fn: () => void, ms: number): number => {
    const id = ++this.seq;
    this.queue.push({ id, at: this.t + Math.max(0, ms || 0), fn });
    return id;
  };

  clearTimeout = (h: unknown): void => {
    const i = this.queue.findIndex((p) => p.id === h);
    if (i >= 0) this.queue.splice(i, 1);
  };

  get timers(): Timers & { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void } {
    return { setTimeout: this.setTimeout, clearTimeout: this.clearTimeout };
  }

  clock(synced = false): Clock {
    return { now: () => 1_700_000_000_000 + this.t, uptime: this.now, synced: () => synced };
  }

  pending(): number {
    return this.queue.length;
  }

  /** Runs every timer due up to now + ms in time order (then creation order); ends at now + ms. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let best = -1;
      for (let i = 0; i < this.queue.length; i++) {
        const p = this.queue[i];
        if (best < 0 || p.at < this.queue[best].at || (p.at === this.queue[best].at && p.id < this.queue[best].id)) best = i;
      }
      if (best < 0 || this.queue[best].at > end) break;
      const p = this.queue.splice(best, 1)[0];
      if (p.at > this.t) this.t = p.at;
      p.fn();
    }
    this.t = end;
  }

  /** Routes the global setTimeout/clearTimeout through this clock until uninstall(). */
  install(): this {
    if (this.saved) return this;
    this.saved = { st: globalThis.setTimeout, ct: globalThis.clearTimeout };
    (globalThis as { setTimeout: unknown }).setTimeout = (fn: () => void, ms?: number) => this.setTimeout(fn, ms ?? 0);
    (globalThis as { clearTimeout: unknown }).clearTimeout = (h: unknown) => this.clearTimeout(h);
    return this;
  }

  uninstall(): void {
    if (!this.saved) return;
    globalThis.setTimeout = this.saved.st;
    globalThis.clearTimeout = this.saved.ct;
    this.saved = undefined;
  }
}

/** A host on virtual time over the given IO and flash; logs are collected. */
export function virtualHost(vc: VirtualClock, io: IO | undefined, storage = new FlashStorage({ capacity: 64 * 1024 }), extra: Partial<Omit<Host, 'storage'>> = {}) {
  const logs: string[] = [];
  const host: Host & { storage: FlashStorage } = {
    clock: vc.clock(),
    timers: vc.timers,
    entropy: { randomBytes: (n) => new Uint8Array(n).fill(7) },
    socket: () => {
      throw new Error('no sockets in source tests');
    },
    log: (level, msg) => logs.push(level + ': ' + msg),
    io,
    ...extra,
    storage,
  };
  return { host, logs };
}

/** mulberry32 (seeded, reproducible). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
