// S0 pulse output (EN 62053-31): pulse qualification and power from pulse intervals. Pure: edges
// come in with their interrupt time, nothing here touches IO or timers.
//
// An S0 output is a passive opto-coupler/transistor switch between S0+ and S0-. Wired to a GPIO
// with a pull-up, the line idles high and a pulse pulls it low (activeLow, the default); a relay
// or reed contact bounces at both transitions. The model is ESPHome's pulse_meter "PULSE"
// filter (esphome/components/pulse_meter/pulse_filter.md): a pulse counts once the line was
// active for at least minPulseMs, and the next one only after the line was inactive for at
// least minGapMs. Unlike ESPHome, which counts a pulse when the next one starts, a pulse is
// counted at its own trailing edge, so the count is never one pulse behind.
//
// Edge rules, with `dur` the time the line spent at the level this edge ends:
//   active segment ends:   counted if armed and dur >= minPulseMs (then disarmed);
//                          shorter: rejected (bounce, glitch), counted in `short`
//   inactive segment ends: arms the filter if dur >= minGapMs
// An edge to the level the line is already at ("ghost": the line went and came back faster
// than the interrupt was serviced) is a zero-length excursion to the other level: it can end a
// qualifying pulse early (which then cannot count twice: the filter is disarmed until a real
// gap), and never counts a pulse of its own.
// Start: the level is assumed idle (inactive) and armed, so a pulse already under way at boot
// is either seen whole (it counts once) or as a ghost-rising trailing edge (zero length: not
// counted). At most that one pulse is lost at boot.

// ---------------------------------------------------------------------------------------------
// Constants (IEC/EN 62053-31:1998, pulse output devices, clause 4.1.3)

/** 4.1.3.3: pulse duration t_ON >= 30 ms. */
export const S0_STD_MIN_ON_MS = 30;
/** 4.1.3.3: time between two pulses t_OFF >= 30 ms. */
export const S0_STD_MIN_OFF_MS = 30;
/** 4.1.3.4: transition time, contact bounce included, < 5 ms. */
export const S0_STD_MAX_TRANSITION_MS = 5;
/** Wh per kWh, and ms per hour: P[W] = 3 600 000 / (imp_per_kWh * dt_s) = 3.6e9 / (imp * dt_ms). */
const WH_PER_KWH = 1000;
const MS_W_PER_IMP = 3600000000;

export interface PulseFilterOptions {
  /** Pulse is the low level (S0 with a pull-up). */
  activeLow: boolean;
  /** Active time a pulse needs to count (ms). */
  minPulseMs: number;
  /** Inactive time needed before the next pulse can count (ms). */
  minGapMs: number;
}

export interface PulseFilterStats {
  pulses: number;
  /** Active segments shorter than minPulseMs (bounce, glitches). */
  short: number;
  /** Active segments long enough that came before a long-enough gap (split pulses, bounce). */
  unarmed: number;
  /** Edges to the level the line was already at. */
  ghosts: number;
  /** Edges whose time was before the previous edge (treated as simultaneous). */
  disorder: number;
}

export class PulseFilter {
  readonly o: PulseFilterOptions;
  /** Current level is the active one. */
  private active = false;
  private since: number;
  private armed = true;
  /** Start time of the last counted pulse, and of the one before; -1 when none. */
  last = -1;
  prev = -1;
  readonly s: PulseFilterStats = { pulses: 0, short: 0, unarmed: 0, ghosts: 0, disorder: 0 };

  constructor(o: PulseFilterOptions, start: number) {
    this.o = o;
    this.since = start;
  }

  /**
   * One edge: `rising` is the level after it (host.io.watch's EdgeEvent), `time` its uptime in
   * ms. Returns 1 when this edge completed a counted pulse, else 0.
   */
  edge(rising: boolean, time: number): number {
    const toActive = rising !== this.o.activeLow;
    let t = time;
    if (t < this.since) {
      this.s.disorder++;
      t = this.since;
    }
    if (toActive === this.active) {
      // Ghost: a zero-length excursion to the other level at t.
      this.s.ghosts++;
      const n = this.end(t);
      this.active = !this.active;
      this.since = t;
      this.end(t);
      this.active = toActive;
      this.since = t;
      return n;
    }
    const n = this.end(t);
    this.active = toActive;
    this.since = t;
    return n;
  }

  /** The segment at the current level ends at t. */
  private end(t: number): number {
    const dur = t - this.since;
    if (!this.active) {
      if (dur >= this.o.minGapMs) this.armed = true;
      return 0;
    }
    if (dur < this.o.minPulseMs) {
      this.s.short++;
      return 0;
    }
    if (!this.armed) {
      this.s.unarmed++;
      return 0;
    }
    this.armed = false;
    this.prev = this.last;
    this.last = this.since;
    this.s.pulses++;
    return 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Energy and power

/** Wh per pulse for a meter constant in impulses per kWh. */
export function whPerPulse(impPerKWh: number): number {
  return WH_PER_KWH / impPerKWh;
}

/** Power in W from the interval between two pulse starts (ms): 3.6e9 / (imp * dt_ms). */
export function powerFromInterval(impPerKWh: number, dtMs: number): number {
  return MS_W_PER_IMP / (impPerKWh * dtMs);
}

/**
 * Power at `now` from the last two pulse starts, as ESPHome's pulse_meter reports it, with two
 * refinements that keep it honest when pulses stop:
 *   - once the time since the last pulse exceeds the last interval, the load cannot be higher
 *     than one pulse in that time: the power decays as 3.6e9 / (imp * (now - last));
 *   - after timeoutMs without a pulse it is 0 (ESPHome: "assuming 0 pulses/min").
 * Returns undefined while it is unknown (fewer than two pulses and no timeout yet).
 * `since` is when counting started (boot), for the timeout before any pulse.
 */
export function s0Power(impPerKWh: number, last: number, prev: number, since: number, now: number, timeoutMs: number): number | undefined {
  const quiet = now - (last >= 0 ? last : since);
  if (quiet > timeoutMs) return 0;
  if (last < 0 || prev < 0 || last <= prev) return undefined;
  const dt = quiet > last - prev ? quiet : last - prev;
  return powerFromInterval(impPerKWh, dt);
}
