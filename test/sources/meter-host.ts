// Test scaffolding for the dsmr and iec62056 sources: one virtual clock that drives the host's
// timers, the simulated meters and (installed as the global setTimeout) SerialLink's delivery,
// so a minute of DSMR 5 telegrams or a 300-baud handshake runs in milliseconds, identically
// every run; a Host whose io is a SimIO with one serial link.
import type { Host } from '../../firmware/core/host.js';
import type { Source, SourceValue } from '../../firmware/core/sources/source.js';
import type { SourceComponent } from '../../firmware/core/sources/source.js';
import { validate } from '../../firmware/core/config/schema.js';
import { COMMON_SCHEMA } from '../../firmware/core/sources/registry.js';
import { createSimIO, SerialLink, type SimIO } from '../../agent-sim/io/index.js';

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

export class VClock {
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

  /** Runs timers in time order until cond() holds or none is due before now + ms. */
  runUntil(cond: () => boolean, ms: number): boolean {
    const end = this.t + ms;
    while (!cond()) {
      let best = -1;
      for (let i = 0; i < this.queue.length; i++) {
        const p = this.queue[i];
        if (best < 0 || p.at < this.queue[best].at || (p.at === this.queue[best].at && p.id < this.queue[best].id)) best = i;
      }
      if (best < 0 || this.queue[best].at > end) {
        this.t = end;
        return cond();
      }
      const p = this.queue.splice(best, 1)[0];
      if (p.at > this.t) this.t = p.at;
      p.fn();
    }
    return true;
  }

  advance(ms: number): void {
    this.runUntil(() => false, ms);
  }

  install(): void {
    if (this.saved) return;
    this.saved = { st: globalThis.setTimeout, ct: globalThis.clearTimeout };
    (globalThis as unknown as { setTimeout: unknown }).setTimeout = this.setTimeout;
    (globalThis as unknown as { clearTimeout: unknown }).clearTimeout = this.clearTimeout;
  }

  uninstall(): void {
    if (!this.saved) return;
    globalThis.setTimeout = this.saved.st;
    globalThis.clearTimeout = this.saved.ct;
    this.saved = undefined;
  }
}

export interface MeterRig {
  clock: VClock;
  sim: SimIO;
  link: SerialLink;
  host: Host;
  /** Validates `cfg` like the registry does and creates the source. */
  create(comp: SourceComponent, cfg: { [k: string]: unknown }): Source;
  /** One read, running virtual time until it answers (or `ms` passes). */
  read(src: Source, ms?: number): { e?: Error; values?: SourceValue[] };
  done(): void;
}

export function meterRig(port = 'Serial2', seed = 1): MeterRig {
  const clock = new VClock();
  clock.install();
  const sim = createSimIO(clock.now);
  const link = new SerialLink(port, {}, { seed, latencyMs: 1, maxChunk: 64 });
  sim.serial.set(port, link);
  const logs: string[] = [];
  const host = {
    clock: { now: () => 1_700_000_000_000 + clock.t, uptime: clock.now, synced: () => true },
    timers: { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout },
    entropy: { randomBytes: (n: number) => new Uint8Array(n) },
    storage: undefined as unknown as Host['storage'],
    socket: undefined as unknown as Host['socket'],
    log: (_l: string, m: string) => logs.push(m),
    io: sim.io,
  } as Host;
  return {
    clock,
    sim,
    link,
    host,
    create(comp, cfg) {
      const schema = { ...COMMON_SCHEMA, ...comp.schema };
      const r = validate(schema, { id: 'm', type: comp.type, ...cfg }, 'sources[0]');
      if (r.errors.length) throw new Error(r.errors.join('; '));
      return comp.create(host, 'm', (r.value.intervalMs as number) ?? comp.defaultIntervalMs, r.value);
    },
    read(src, ms = 60000) {
      let out: { e?: Error; values?: SourceValue[] } | undefined;
      src.read((e, values) => {
        out = { e, values };
      });
      clock.runUntil(() => out !== undefined, ms);
      if (!out) throw new Error('read did not answer within ' + ms + ' ms');
      return out;
    },
    done() {
      clock.uninstall();
    },
  };
}
