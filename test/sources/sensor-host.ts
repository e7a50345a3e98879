// Test scaffolding shared by the sensor components (pms5003, sds011, bme280, sht31, ds18b20):
// virtual time, a Host over a SimIO, a one-shot read that runs virtual time until done, and a
// seeded PRNG. Virtual time keeps 30 s warm-ups and 750 ms conversions instant and reproducible.
import type { Host } from '../../firmware/core/host.js';
import type { Source, SourceValue } from '../../firmware/core/sources/source.js';
import { createSimIO, type SimIO } from '../../agent-sim/io/index.js';

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A scheduler with its own clock. install() makes the global setTimeout follow it, so the
 * simulator's SerialLink (which calls the global) runs on the same virtual time as the host.
 */
export class VirtualTime {
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

  /** Timers still pending. */
  pending(): number {
    return this.queue.length;
  }

  /** Runs every timer due up to now + ms, in time order (then creation order); ends at now + ms. */
  advance(ms: number): void {
    const end = this.t + ms;
    this.runUntil(() => false, end);
    this.t = end;
  }

  /** Runs timers in order until cond() holds or the next timer is after `end`. Returns cond(). */
  runUntil(cond: () => boolean, end: number): boolean {
    while (!cond()) {
      let best = -1;
      for (let i = 0; i < this.queue.length; i++) {
        const p = this.queue[i];
        if (best < 0 || p.at < this.queue[best].at || (p.at === this.queue[best].at && p.id < this.queue[best].id)) best = i;
      }
      if (best < 0 || this.queue[best].at > end) return cond();
      const p = this.queue.splice(best, 1)[0];
      if (p.at > this.t) this.t = p.at;
      p.fn();
    }
    return true;
  }

  install(): void {
    if (this.saved) return;
    this.saved = { st: globalThis.setTimeout, ct: globalThis.clearTimeout };
    (globalThis as any).setTimeout = this.setTimeout;
    (globalThis as any).clearTimeout = this.clearTimeout;
  }

  uninstall(): void {
    if (!this.saved) return;
    globalThis.setTimeout = this.saved.st;
    globalThis.clearTimeout = this.saved.ct;
    this.saved = undefined;
  }
}

export interface TestRig {
  vt: VirtualTime;
  sim: SimIO;
  host: Host;
  logs: string[];
  /** Restores the global timers. */
  done(): void;
}

/** A host whose clock, timers and IO are virtual; storage/sockets are absent (sources need none). */
export function rig(): TestRig {
  const vt = new VirtualTime();
  vt.install();
  const sim = createSimIO(vt.now);
  const logs: string[] = [];
  const host: Host = {
    clock: { now: () => 1_700_000_000_000 + vt.now(), uptime: vt.now, synced: () => false },
    timers: { setTimeout: vt.setTimeout, clearTimeout: vt.clearTimeout },
    entropy: { randomBytes: (n) => new Uint8Array(n) },
    storage: undefined as any,
    socket: () => {
      throw new Error('no sockets in source tests');
    },
    log: (level, msg) => logs.push(level + ' ' + msg),
    io: sim.io,
  };
  return { vt, sim, host, logs, done: () => vt.uninstall() };
}

export interface ReadResult {
  err?: Error & { code?: string };
  values?: SourceValue[];
  /** Virtual ms the read took. */
  ms: number;
  /** How many times done() was called (must be exactly 1). */
  calls: number;
}

/** Calls source.read() and runs virtual time until it answers (or `maxMs` pass). */
export function readOnce(vt: VirtualTime, src: Source, maxMs = 120_000): ReadResult {
  const start = vt.now();
  const r: ReadResult = { ms: 0, calls: 0 };
  src.read((e, v) => {
    r.calls++;
    r.err = e as ReadResult['err'];
    r.values = v;
    r.ms = vt.now() - start;
  });
  vt.runUntil(() => r.calls > 0, start + maxMs);
  if (r.calls === 0) r.ms = vt.now() - start;
  return r;
}

/** The value named `n`, or undefined. */
export function val(values: SourceValue[] | undefined, n: string): number | undefined {
  const v = values?.find((x) => x.n === n);
  return v?.v;
}

/** mulberry32: seeded, reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

/** Random chunking of `bytes` (1..maxChunk each), seeded. */
export function chunks(bytes: Uint8Array, rnd: () => number, maxChunk: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < bytes.length; ) {
    const n = Math.min(bytes.length - o, 1 + Math.floor(rnd() * maxChunk));
    out.push(bytes.subarray(o, o + n));
    o += n;
  }
  return out;
}
