// A simulated energy meter's S0 pulse output (IEC/EN 62053-31) driving a SimPin: one pulse per
// 1000/impPerKWh Wh of the integrated load profile, pulse duration 30..90 ms as the standard
// allows (t_ON >= 30 ms, t_OFF >= 30 ms, clause 4.1.3.3), and contact bounce: extra short
// edges within the transition time at both ends of every pulse (clause 4.1.3.4: < 5 ms).
//
// The meter schedules itself on the timers it is given: one timer for the next edge, whose
// time it computes by integrating the load ahead (steps of stepMs, capped at horizonMs when the
// load is ~0). With real timers it runs in real time (agent-sim); with a virtual clock in tests
// an hour of pulses takes milliseconds. Edges reach the pin with their exact time, as
// setWatch's interrupt timestamps do. The meter keeps its own register across agent reboots.
import type { SimPin } from '../io/pins.js';
import { prng } from '../sources/profiles.js';

export interface S0MeterOptions {
  pin: SimPin;
  /** Meter constant, impulses per kWh. */
  impPerKWh: number;
  /** Load in W at uptime t (ms). */
  load: (t: number) => number;
  now: () => number;
  timers: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void };
  /** Pulse duration (ms), 30..90 typical (default 50). */
  pulseMs?: number;
  /** Minimum time between pulses (ms, default 30). */
  offMs?: number;
  /** A pulse pulls the line low (default true, open collector to GND with a pull-up). */
  activeLow?: boolean;
  /** Contact bounce: extra edge pairs per transition, spread over `withinMs` after it. */
  bounce?: { pairs: number; withinMs: number };
  /** Integration step (default 20 ms) and the longest look-ahead per timer (default 60 s). */
  stepMs?: number;
  horizonMs?: number;
  seed?: number;
}

interface Edge {
  at: number;
  active: boolean;
  /** The pulse's own transition (not a bounce toggle). */
  main: boolean;
}

export class S0Meter {
  readonly o: S0MeterOptions;
  /** Energy the load really drew since start (Wh). */
  energyWh = 0;
  /** Pulses fully emitted (trailing edge done): the meter's S0 register. */
  emitted = 0;
  /** Pulses started (leading edge done). */
  started = 0;
  /** Edges driven onto the pin, bounce included. */
  edges = 0;
  /** Line held at the active level (a shorted output): no pulses leave the meter. */
  stuck = false;
  private readonly whPerPulse: number;
  private readonly rnd: () => number;
  private acc = 0;
  private t: number;
  /** Earliest start of the next pulse (end of the last one + offMs). */
  private free: number;
  private queue: Edge[] = [];
  private timer: unknown;
  private running = false;

  constructor(o: S0MeterOptions) {
    this.o = o;
    this.whPerPulse = 1000 / o.impPerKWh;
    this.rnd = prng(o.seed ?? 1);
    this.t = o.now();
    this.free = this.t;
    this.setActive(false, this.t);
  }

  get pulseMs(): number {
    return this.o.pulseMs ?? 50;
  }

  /** The S0 register in Wh (what the meter counted out through its pulse output). */
  get registerWh(): number {
    return this.emitted * this.whPerPulse;
  }

  start(): this {
    if (!this.running) {
      this.running = true;
      this.schedule();
    }
    return this;
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.o.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A short spike to the active level now (EMI, a loose wire), `widthMs` long. */
  spike(widthMs: number): void {
    const at = this.o.now();
    this.insert({ at, active: true, main: false });
    this.insert({ at: at + widthMs, active: false, main: false });
    this.reschedule();
  }

  /** Hold the line active (true) or release it. */
  setStuck(on: boolean): void {
    this.stuck = on;
    this.setActive(on, this.o.now());
  }

  private setActive(active: boolean, at: number): void {
    const low = this.o.activeLow ?? true;
    this.o.pin.set(active === low ? 0 : 1, at);
  }

  private insert(e: Edge): void {
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1].at > e.at) i--;
    this.queue.splice(i, 0, e);
  }

  /** Integrates the load up to `until`; returns the start time of the next pulse, or -1. */
  private integrate(until: number): number {
    const step = this.o.stepMs ?? 20;
    while (this.t < until) {
      const dt = Math.min(step, until - this.t);
      const w = Math.max(0, this.o.load(this.t + dt / 2));
      const e = (w * dt) / 3600000;
      if (this.acc + e >= this.whPerPulse) {
        // Crossing inside this step: interpolate the moment, keep the remainder.
        const frac = w > 0 ? (this.whPerPulse - this.acc) / e : 0;
        const at = this.t + dt * frac;
        this.energyWh += this.whPerPulse - this.acc;
        this.acc = 0;
        this.t = at;
        return at;
      }
      this.acc += e;
      this.energyWh += e;
      this.t += dt;
    }
    return -1;
  }

  private transition(at: number, active: boolean): void {
    this.insert({ at, active, main: true });
    const b = this.o.bounce;
    if (!b || b.pairs <= 0) return;
    // Bounce: the contact opens and closes again `pairs` times within withinMs after the edge.
    const offs: number[] = [];
    for (let i = 0; i < 2 * b.pairs; i++) offs.push(0.05 + this.rnd() * (b.withinMs - 0.05));
    offs.sort((x, y) => x - y);
    for (let i = 0; i < offs.length; i++) this.insert({ at: at + offs[i], active: i % 2 === 0 ? !active : active, main: false });
  }

  private plan(): void {
    const horizon = this.o.now() + (this.o.horizonMs ?? 60000);
    // The load keeps drawing while a pulse is out; a pulse owed before `free` waits for it.
    const start = this.integrate(horizon);
    if (start < 0) return;
    const at = Math.max(start, this.free);
    const end = at + this.pulseMs;
    this.free = end + (this.o.offMs ?? 30);
    this.transition(at, true);
    this.transition(end, false);
  }

  private reschedule(): void {
    if (!this.running) return;
    if (this.timer !== undefined) this.o.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule();
  }

  private schedule(): void {
    if (!this.running) return;
    if (!this.queue.length) this.plan();
    const now = this.o.now();
    const next = this.queue.length ? this.queue[0].at : this.t;
    this.timer = this.o.timers.setTimeout(() => this.fire(), Math.max(0, next - now));
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.o.now();
    while (this.queue.length && this.queue[0].at <= now) {
      const e = this.queue.shift()!;
      this.edges++;
      if (!this.stuck) this.setActive(e.active, e.at);
      if (e.main) {
        if (e.active) this.started++;
        else this.emitted++;
      }
    }
    this.schedule();
  }
}
