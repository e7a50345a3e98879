// S0 pulse meter source: edges from host.io.watch -> PulseFilter -> energy total on flash
// (PersistentTotals, rate-bounded) and power from the last pulse interval. The model is
// ESPHome's pulse_meter (esphome/components/pulse_meter/): interrupt-time edges, a pulse-width
// filter, a timeout after which power reads 0.
//
// Readings (docs/sources/s0.md):
//   e  Wh  s  energy total: persisted value, never goes backwards, across reboots too
//   p  W   v  power from the last pulse interval, integer W; 0 after timeoutMs without pulses;
//             absent until two pulses were seen (unless the timeout already passed)
// Loss after a power cut: pulses counted after the last flash record, i.e. at most the energy
// of saveMaxIntervalMs, and at most saveDeltaWh plus the energy of saveMinIntervalMs while
// energy grows fast (see totals.ts); plus pulses while the device is off or booting, which it
// never sees, and at most one pulse under way at boot (decoder.ts).
import type { Host, Watch, TimerHandle } from '../../host.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { err } from '../../util/errors.js';
import { S0_SCHEMA } from './schema.js';
import { PulseFilter, whPerPulse, s0Power } from './decoder.js';
import { PersistentTotals, TOTALS_KIND_S0 } from './totals.js';

/** Flash file prefix: files are `s0_<id>0` and `s0_<id>1` (id <= 16 chars: 20 chars). */
export const S0_FILE_PREFIX = 's0_';
/** Totals kept on flash: energy (Wh) and pulses, both since the device first counted. */
const T_WH = 0;
const T_PULSES = 1;

export interface S0Config {
  pin: string;
  impPerKWh: number;
  activeLow: boolean;
  pull: 'up' | 'down' | 'none';
  debounceMs: number;
  minPulseMs: number;
  minGapMs: number;
  timeoutMs: number;
  saveMinIntervalMs: number;
  saveMaxIntervalMs: number;
  saveDeltaWh: number;
  fileBytes: number;
}

export interface S0Stats {
  [name: string]: number;
  /** Pulses counted this boot. */
  pulses: number;
  /** Active segments too short to be pulses (contact bounce, glitches). */
  short: number;
  /** Long-enough active segments without a long-enough gap before them. */
  unarmed: number;
  ghosts: number;
  disorder: number;
  /** Flash records written this boot, failed writes. */
  saves: number;
  saveErrors: number;
  /** Energy a power cut now would lose (Wh). */
  lagWh: number;
  /** 1 when this boot restored a total from flash. */
  restored: number;
}

export interface S0Source extends Source {
  stats(): S0Stats;
  /** Live energy total (Wh) including what is not yet on flash. */
  liveWh(): number;
}

export function createS0(host: Host, id: string, intervalMs: number, c: S0Config): S0Source {
  const io = host.io;
  if (!io || !io.watch) throw err('E_NO_IO', 's0 "' + id + '": this host has no io.watch (GPIO edge watch)');
  if (c.saveMaxIntervalMs < c.saveMinIntervalMs)
    throw err('E_CONFIG', 's0 "' + id + '": saveMaxIntervalMs (' + c.saveMaxIntervalMs + ') must not be below saveMinIntervalMs (' + c.saveMinIntervalMs + ')');
  const clock = host.clock;
  const timers = host.timers;
  const start = clock.uptime();
  const totals = new PersistentTotals(
    host.storage,
    { file: S0_FILE_PREFIX + id, kind: TOTALS_KIND_S0, count: 2, fileBytes: c.fileBytes, minIntervalMs: c.saveMinIntervalMs, maxIntervalMs: c.saveMaxIntervalMs, delta: c.saveDeltaWh },
    start,
  );
  const whBase = totals.live(T_WH);
  const pulseBase = totals.live(T_PULSES);
  const k = whPerPulse(c.impPerKWh);
  const filter = new PulseFilter({ activeLow: c.activeLow, minPulseMs: c.minPulseMs, minGapMs: c.minGapMs }, start);
  let n = 0;
  let timer: TimerHandle | undefined;
  let timerAt = -1;
  let stopped = false;

  // One timer at most: the moment the next rate-bounded write falls due.
  function arm(now: number): void {
    const due = totals.dueIn(now);
    if (due < 0) return;
    const at = now + due;
    if (timer !== undefined && timerAt <= at) return;
    if (timer !== undefined) timers.clearTimeout(timer);
    timerAt = at;
    timer = timers.setTimeout(onTimer, due);
  }
  function onTimer(): void {
    timer = undefined;
    timerAt = -1;
    if (stopped) return;
    const now = clock.uptime();
    totals.tick(now);
    arm(now);
  }

  const watch: Watch = io.watch({
    pin: c.pin,
    edge: 'both',
    debounceMs: c.debounceMs,
    pull: c.pull,
    onEdge: function (e) {
      if (stopped || !filter.edge(e.rising, e.time)) return;
      n++;
      // Computed, not summed: base + n * k has one rounding, however many pulses.
      totals.raise(T_WH, whBase + n * k);
      totals.raise(T_PULSES, pulseBase + n);
      const now = clock.uptime();
      totals.tick(now);
      arm(now);
    },
  });

  return {
    id: id,
    intervalMs: intervalMs,
    read: function (done: (e: Error | undefined, values?: SourceValue[]) => void) {
      const now = clock.uptime();
      totals.settle(now);
      arm(now);
      const values: SourceValue[] = [{ n: 'e', u: 'Wh', s: totals.persisted(T_WH) }];
      const p = s0Power(c.impPerKWh, filter.last, filter.prev, start, now, c.timeoutMs);
      if (p !== undefined) values.push({ n: 'p', u: 'W', v: Math.round(p) });
      done(undefined, values);
    },
    stats: function (): S0Stats {
      const s = filter.s;
      const t = totals.stats();
      return {
        pulses: n,
        short: s.short,
        unarmed: s.unarmed,
        ghosts: s.ghosts,
        disorder: s.disorder,
        saves: t.writes,
        saveErrors: t.writeErrors,
        lagWh: t.lag[T_WH],
        restored: t.restored ? 1 : 0,
      };
    },
    liveWh: function () {
      return totals.live(T_WH);
    },
    stop: function () {
      if (stopped) return;
      stopped = true;
      watch.close();
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      // A planned stop keeps everything counted.
      totals.flush(clock.uptime());
    },
  };
}

export const s0Source: SourceComponent = {
  type: 's0',
  doc: 'S0 pulse output of an energy meter (EN 62053-31): energy total on flash, power from the pulse interval',
  schema: S0_SCHEMA,
  defaultIntervalMs: 60000,
  create: function (host, id, intervalMs, config) {
    return createS0(host, id, intervalMs, config as unknown as S0Config);
  },
};
