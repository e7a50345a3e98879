// Time bases for the fleet simulator: real time (demos, `agent-sim demo/run`) and a
// discrete-event scheduler (virtual time) that runs a simulated day in minutes. Both hand the
// device code the platform interfaces it already uses (firmware/core/host.ts Clock and Timers):
// the agent, its MQTT client, its sources and the fault injectors run the same code paths.
//
// THE VIRTUAL TIME MODEL
//
// 1. One virtual clock (`now()`, ms since the Unix epoch, starting at `startMs`). It moves only
//    when the scheduler moves it: to the due time of the next timer, never past `runUntil(t)`.
//    Timers run in (due time, creation order); a timer set for 0 ms runs at the same instant.
// 2. Real socket I/O (broker round trips) happens on Node's event loop. The scheduler yields to
//    it between timers (at the latest every YIELD_EVERY_MS of real time) and before every move
//    of the clock. Socket callbacks run at the current virtual instant.
// 3. Virtual time NEVER ADVANCES WHILE A DEVICE HAS A REQUEST IN FLIGHT: a socket still
//    connecting, or an MQTT packet that expects an answer (CONNECT, QoS 1 PUBLISH, SUBSCRIBE,
//    UNSUBSCRIBE, PINGREQ) not yet answered (CONNACK, PUBACK, SUBACK, UNSUBACK, PINGRESP). So a
//    broker round trip takes zero virtual time, and every keep-alive, ping and connect timeout
//    the device measures in virtual time sees the broker answer in time. Exceptions, so that a
//    dead link cannot stop time:
//      - a link the fault layer declares cut (`stalled()` of the device's link: a black-holed
//        proxy) never holds time: its requests are lost in the network, and the device's
//        keep-alive (virtual) notices, as on a real cut link;
//      - a request unanswered for more than `ioGraceMs` REAL ms (default 500) stops holding time
//        (a broker that hangs, a link nobody declared): counted in stats().stalls.
//    Consequence: real latency added by a link proxy holds virtual time (it must stay below
//    ioGraceMs; the scenario runner raises the grace to 4x the largest latency); it costs real
//    time and exercises real socket timing, but it is zero in virtual time.
//    Slack (`ioSlackMs`, default 0): the clock may run ahead of a request in flight by at most
//    ioSlackMs virtual ms, so requests of devices that act a few virtual ms apart overlap in real
//    time instead of queueing one round trip each. An answer then arrives at most ioSlackMs
//    late in virtual time: a network latency of 0..ioSlackMs. It must stay below every ping and
//    connect timeout of the fleet (the runner checks), or a slow answer could time out.
// 4. The broker measures ITS keep-alive in real time. A device pings after keepAlive VIRTUAL
//    seconds of silence, which is sooner in real time as long as virtual time runs at least as
//    fast as real time (it does whenever the clock jumps). Only a saturated CPU can make virtual
//    time slower than real time; then a broker may drop a quiet device after 1.5 x keepAlive real
//    seconds and the device reconnects (counted in its MQTT stats, no data lost). Scenarios use
//    keep-alives of minutes so this stays rare.
// 5. hold(promise) stops time until the promise settles (a broker being restarted), and
//    holdWhile(pred, maxRealMs) while pred() is true, for at most maxRealMs real ms at a stretch
//    (the runner uses it to keep the verifier no further behind than a bounded backlog).
// 6. Deterministic: with seeded entropy and sources, timers fire in the same virtual order on
//    every run. What is not deterministic is I/O timing (which PUBACKs share a TCP segment) and
//    the effect of a real-time broker; readings, seals and the fault schedule are.
//
// Real time (createRealTime) implements the same interface on setTimeout and Date.now, with no
// in-flight tracking: the demo and `run` keep their behaviour.

import type { Clock, SocketFactory, Timers, TimerHandle } from '../../firmware/core/host.js';
import { err } from '../../firmware/core/util/errors.js';

// ---------------------------------------------------------------------------------------------
// Constants

export const VIRTUAL_TIME_DEFAULTS = {
  /** Real ms a request may stay unanswered before it stops holding virtual time (rule 3). */
  ioGraceMs: 500,
  /** Virtual ms the clock may run ahead of a request in flight (rule 3, slack). */
  ioSlackMs: 0,
  /** Longest stretch of real time the scheduler runs timers without yielding to the event loop. */
  yieldEveryMs: 5,
  /** Longest real wait between checks of what holds time (an I/O event usually ends it sooner). */
  pollMs: 20,
  /** Virtual start: 2024-06-01T00:00:00Z (a fixed date keeps seeded runs identical). */
  startMs: Date.parse('2024-06-01T00:00:00Z'),
};

/**
 * MQTT 3.1.1 control packet types (§2.2.1) a device sends that expect an answer, and the
 * answers. QoS 0 PUBLISH, PUBACK and DISCONNECT expect nothing.
 */
const MQTT_CONNECT = 1;
const MQTT_CONNACK = 2;
const MQTT_PUBLISH = 3;
const MQTT_PUBACK = 4;
const MQTT_SUBSCRIBE = 8;
const MQTT_SUBACK = 9;
const MQTT_UNSUBSCRIBE = 10;
const MQTT_UNSUBACK = 11;
const MQTT_PINGREQ = 12;
const MQTT_PINGRESP = 13;

// ---------------------------------------------------------------------------------------------
// Interfaces

/** A device's view of wall time: its own error against true time, and whether it is synced. */
export interface ClockState {
  /** Device wall clock minus true time, ms (clock jumps change it). */
  offsetMs: number;
  synced: boolean;
}

/** A link's state as the fault layer knows it. */
export interface LinkState {
  /** True while the link is known cut (black hole): its requests never hold virtual time. */
  stalled(): boolean;
}

export interface TrackedSockets {
  socket: SocketFactory;
  /** Forget this factory's sockets (a power cut: nothing will ever read their answers). */
  release(): void;
}

export interface TimeStats {
  kind: 'virtual' | 'real';
  /** Virtual (or real) ms since the time base was made. */
  elapsedMs: number;
  /** Real ms since the time base was made. */
  realMs: number;
  timersRun: number;
  /** Moves of the virtual clock. */
  advances: number;
  /** Waits for I/O in flight or holds, and the real ms they took (rules 3 and 5). */
  waits: number;
  ioWaitMs: number;
  holdWaitMs: number;
  /** Requests that stopped holding time after ioGraceMs real ms without an answer. */
  stalls: number;
  /** holdWhile predicates that ran past their real-time bound. */
  holdTimeouts: number;
  /** Exceptions out of timers that were not the devices' (those have their own guard). */
  errors: number;
  /** Sockets tracked now and those holding time now. */
  sockets: number;
  holding: number;
}

export interface TimeBase {
  readonly kind: 'virtual' | 'real';
  /** True simulation time, ms since the Unix epoch (sources read the world at this time). */
  now(): number;
  readonly timers: Timers;
  /** A device clock for one boot: uptime from now, wall time = true time + state.offsetMs. */
  deviceClock(state: ClockState): Clock;
  /** Sockets whose requests hold virtual time (rule 3); real time returns the factory as is. */
  trackSockets(factory: SocketFactory, link?: LinkState): TrackedSockets;
  /** Time does not advance until `p` settles (virtual); real time just returns p. */
  hold<T>(p: Promise<T>): Promise<T>;
  /** Time does not advance while pred() is true, for at most maxRealMs real ms at a stretch. */
  holdWhile(pred: () => boolean, maxRealMs: number): () => void;
  /** Runs (virtual) or waits (real) until now() >= t; `stop()` ends it early. */
  runUntil(t: number): Promise<void>;
  /** Makes a running runUntil return at the next step. */
  stop(): void;
  stats(): TimeStats;
  /** Exceptions caught out of timers (also counted in stats().errors). */
  readonly errors: Error[];
}

// ---------------------------------------------------------------------------------------------
// Real time

export function createRealTime(): TimeBase {
  const t0 = Date.now();
  const p0 = performance.now();
  const errors: Error[] = [];
  let timersRun = 0;
  let stopped = false;
  const timers: Timers = {
    setTimeout(fn, ms) {
      return setTimeout(() => {
        timersRun++;
        fn();
      }, ms);
    },
    clearTimeout(h) {
      clearTimeout(h as NodeJS.Timeout);
    },
  };
  return {
    kind: 'real',
    now: () => Date.now(),
    timers,
    deviceClock(state) {
      const b = performance.now();
      return { now: () => Date.now() + state.offsetMs, uptime: () => performance.now() - b, synced: () => state.synced };
    },
    trackSockets: (factory) => ({ socket: factory, release() {} }),
    hold: (p) => p,
    holdWhile: () => () => undefined,
    async runUntil(t) {
      stopped = false;
      while (Date.now() < t && !stopped) await new Promise((r) => setTimeout(r, Math.min(100, t - Date.now())));
    },
    stop() {
      stopped = true;
    },
    stats: () => ({
      kind: 'real',
      elapsedMs: Date.now() - t0,
      realMs: performance.now() - p0,
      timersRun,
      advances: 0,
      ioWaitMs: 0,
      waits: 0,
      holdWaitMs: 0,
      stalls: 0,
      holdTimeouts: 0,
      errors: errors.length,
      sockets: 0,
      holding: 0,
    }),
    errors,
  };
}

// ---------------------------------------------------------------------------------------------
// Virtual time

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  dead: boolean;
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Binary min-heap of timer entries; cancelled entries are skipped when they surface. */
class TimerHeap {
  private a: Entry[] = [];
  dead = 0;
  get size(): number {
    return this.a.length;
  }
  push(e: Entry): void {
    const a = this.a;
    let i = a.length;
    a.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, a[p])) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = e;
  }
  /** The earliest live entry, cancelled ones popped on the way. */
  peek(): Entry | undefined {
    while (this.a.length && this.a[0].dead) {
      this.pop();
      this.dead--;
    }
    return this.a[0];
  }
  pop(): Entry | undefined {
    const a = this.a;
    if (!a.length) return undefined;
    const top = a[0];
    const last = a.pop() as Entry;
    if (a.length) {
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(a[r], a[l]) ? r : l;
        if (!before(a[c], last)) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
  /** Rebuild without cancelled entries (when they are the majority). */
  compact(): void {
    const live = this.a.filter((e) => !e.dead);
    this.a = [];
    this.dead = 0;
    for (const e of live) this.push(e);
  }
}

/** Resumable scanner of MQTT fixed headers (type nibble + remaining length varint, §2.2.3). */
class MqttFramer {
  private state = 0; // 0: expect first byte, 1: in length varint, 2: in body
  private type = 0;
  private flags = 0;
  private len = 0;
  private mul = 1;
  private left = 0;
  /** Calls `on(type, flags)` for every packet whose fixed header is complete. */
  push(b: Uint8Array, on: (type: number, flags: number) => void): void {
    let i = 0;
    while (i < b.length) {
      if (this.state === 0) {
        this.type = b[i] >> 4;
        this.flags = b[i] & 15;
        this.len = 0;
        this.mul = 1;
        this.state = 1;
        i++;
      } else if (this.state === 1) {
        const x = b[i++];
        this.len += (x & 127) * this.mul;
        this.mul *= 128;
        if (x & 128) continue;
        on(this.type, this.flags);
        this.left = this.len;
        this.state = this.left ? 2 : 0;
      } else {
        const n = Math.min(this.left, b.length - i);
        this.left -= n;
        i += n;
        if (!this.left) this.state = 0;
      }
    }
  }
}

interface Tracked {
  connecting: boolean;
  /** Requests sent and not answered. */
  outstanding: number;
  /** Real time (performance.now) since this socket last made progress while holding. */
  since: number;
  /** Virtual time of the same moment (slack is counted from it). */
  vSince: number;
  link: LinkState | undefined;
  /** `since` of the stretch already counted as a stall. */
  stallCounted: number;
  out: MqttFramer;
  in: MqttFramer;
}

export interface VirtualTimeOptions {
  startMs?: number;
  ioGraceMs?: number;
  ioSlackMs?: number;
  yieldEveryMs?: number;
  pollMs?: number;
  /** Called with exceptions out of timers (default: kept in `errors`, printed to stderr). */
  onError?(e: Error): void;
}

export class VirtualTime implements TimeBase {
  readonly kind = 'virtual' as const;
  readonly timers: Timers;
  readonly errors: Error[] = [];
  readonly ioGraceMs: number;
  readonly ioSlackMs: number;
  private t: number;
  private readonly t0: number;
  private readonly p0 = performance.now();
  private seq = 0;
  private readonly heap = new TimerHeap();
  private readonly yieldEveryMs: number;
  private readonly pollMs: number;
  private readonly onError: (e: Error) => void;
  private readonly tracked = new Set<Tracked>();
  /** Sockets with a connect or a request in flight (a subset of `tracked`). */
  private readonly holding = new Set<Tracked>();
  private holds = 0;
  private readonly preds = new Set<{ pred: () => boolean; max: number; since: number; timedOut: boolean }>();
  private waiter: (() => void) | undefined;
  private running = false;
  private stopped = false;
  private lastYield = performance.now();
  private sinceCheck = 0;
  private st = { timersRun: 0, advances: 0, waits: 0, ioWaitMs: 0, holdWaitMs: 0, stalls: 0, holdTimeouts: 0 };

  constructor(o: VirtualTimeOptions = {}) {
    const D = VIRTUAL_TIME_DEFAULTS;
    this.t = this.t0 = num('startMs', o.startMs ?? D.startMs, 0, 8.64e15);
    this.ioGraceMs = num('ioGraceMs', o.ioGraceMs ?? D.ioGraceMs, 1, 3600000);
    this.ioSlackMs = num('ioSlackMs', o.ioSlackMs ?? D.ioSlackMs, 0, 3600000);
    this.yieldEveryMs = num('yieldEveryMs', o.yieldEveryMs ?? D.yieldEveryMs, 0, 60000);
    this.pollMs = num('pollMs', o.pollMs ?? D.pollMs, 1, 60000);
    this.onError =
      o.onError ??
      ((e) => {
        process.stderr.write('virtual-time: timer threw: ' + (e.stack ?? e) + '\n');
      });
    const self = this;
    this.timers = {
      setTimeout(fn: () => void, ms: number): TimerHandle {
        if (typeof fn !== 'function') throw err('E_TYPE', '"fn" expected a function, got ' + typeof fn, TypeError);
        const d = typeof ms === 'number' && ms > 0 ? ms : 0;
        const e: Entry = { at: self.t + d, seq: self.seq++, fn, dead: false };
        self.heap.push(e);
        return e;
      },
      clearTimeout(h: TimerHandle): void {
        const e = h as Entry | undefined;
        if (!e || e.dead || typeof e !== 'object') return;
        e.dead = true;
        self.heap.dead++;
        if (self.heap.dead > 4096 && self.heap.dead > self.heap.size / 2) self.heap.compact();
      },
    };
  }

  now(): number {
    return this.t;
  }

  deviceClock(state: ClockState): Clock {
    const boot = this.t;
    return { now: () => this.t + state.offsetMs, uptime: () => this.t - boot, synced: () => state.synced };
  }

  trackSockets(factory: SocketFactory, link?: LinkState): TrackedSockets {
    const mine = new Set<Tracked>();
    const self = this;
    const drop = (k: Tracked) => {
      self.tracked.delete(k);
      self.holding.delete(k);
      mine.delete(k);
      self.wake();
    };
    const update = (k: Tracked) => {
      if (k.connecting || k.outstanding > 0) self.holding.add(k);
      else self.holding.delete(k);
    };
    const socket: SocketFactory = (o) => {
      const k: Tracked = { connecting: true, outstanding: 0, since: performance.now(), vSince: self.t, link, stallCounted: -1, out: new MqttFramer(), in: new MqttFramer() };
      self.tracked.add(k);
      mine.add(k);
      update(k);
      const s = factory({
        ...o,
        onConnect() {
          k.connecting = false;
          k.since = performance.now();
          k.vSince = self.t;
          update(k);
          o.onConnect?.();
          self.wake();
        },
        onReadable(n) {
          o.onReadable?.(n);
          self.wake();
        },
        onError(e) {
          drop(k);
          o.onError?.(e);
        },
        onClose() {
          drop(k);
          o.onClose?.();
        },
      });
      return {
        read() {
          const b = s.read();
          if (b && mine.has(k)) {
            k.in.push(b, (type) => {
              if (type === MQTT_CONNACK || type === MQTT_PUBACK || type === MQTT_SUBACK || type === MQTT_UNSUBACK || type === MQTT_PINGRESP) {
                if (k.outstanding > 0) k.outstanding--;
                k.since = performance.now();
                k.vSince = self.t;
              }
            });
            update(k);
          }
          return b;
        },
        write(d) {
          s.write(d);
          if (!mine.has(k)) return;
          k.out.push(d, (type, flags) => {
            const asks =
              type === MQTT_CONNECT || type === MQTT_SUBSCRIBE || type === MQTT_UNSUBSCRIBE || type === MQTT_PINGREQ || (type === MQTT_PUBLISH && (flags & 6) !== 0);
            if (!asks) return;
            if (k.outstanding === 0) {
              k.since = performance.now();
              k.vSince = self.t;
            }
            k.outstanding++;
          });
          update(k);
        },
        close() {
          drop(k);
          s.close();
        },
      };
    };
    return {
      socket,
      release() {
        for (const k of [...mine]) drop(k);
      },
    };
  }

  hold<T>(p: Promise<T>): Promise<T> {
    this.holds++;
    const done = () => {
      this.holds--;
      this.wake();
    };
    p.then(done, done);
    return p;
  }

  holdWhile(pred: () => boolean, maxRealMs: number): () => void {
    const h = { pred, max: maxRealMs, since: 0, timedOut: false };
    this.preds.add(h);
    return () => {
      this.preds.delete(h);
      this.wake();
    };
  }

  stop(): void {
    this.stopped = true;
    this.wake();
  }

  stats(): TimeStats {
    return {
      kind: 'virtual',
      elapsedMs: this.t - this.t0,
      realMs: performance.now() - this.p0,
      ...this.st,
      errors: this.errors.length,
      sockets: this.tracked.size,
      holding: this.holding.size,
    };
  }

  async runUntil(end: number): Promise<void> {
    if (this.running) throw err('E_STATE', 'VirtualTime.runUntil: already running (one driver at a time)');
    if (typeof end !== 'number' || end !== end) throw err('E_TYPE', '"end" expected a number, got ' + String(end), TypeError);
    this.running = true;
    this.stopped = false;
    try {
      for (;;) {
        if (this.stopped) return;
        const e = this.heap.peek();
        if (e && e.at <= this.t) {
          this.heap.pop();
          this.runTimer(e);
          if ((++this.sinceCheck & 63) === 0 && performance.now() - this.lastYield >= this.yieldEveryMs) await this.yieldTurn();
          continue;
        }
        if (this.t >= end) return;
        // Nothing is due now: let the I/O of this instant finish before the clock moves.
        const next = e && e.at < end ? e.at : end;
        // Fast path (most moves of a big fleet): nothing in flight, nothing held.
        if (this.holding.size || this.holds || (this.preds.size && this.anyPred())) await this.settle(next);
        else if ((++this.sinceCheck & 63) === 0 && performance.now() - this.lastYield >= this.yieldEveryMs) await this.yieldTurn();
        if (this.stopped) return;
        const n = this.heap.peek();
        if (n && n.at <= this.t) continue;
        const to = n && n.at < end ? n.at : end;
        // Within the slack of a request still in flight, the clock moves no further than that.
        this.t = Math.min(to, this.limit());
        this.st.advances++;
      }
    } finally {
      this.running = false;
    }
  }

  // ---- internals ----

  private runTimer(e: Entry): void {
    this.st.timersRun++;
    try {
      e.fn();
    } catch (x) {
      const ex = x instanceof Error ? x : new Error(String(x));
      this.errors.push(ex);
      this.onError(ex);
    }
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    // After the rest of this poll phase: many sockets answering at once cost one check.
    setImmediate(w);
  }

  private yieldTurn(): Promise<void> {
    return new Promise<void>((r) =>
      setImmediate(() => {
        this.lastYield = performance.now();
        r();
      }),
    );
  }

  /** How far the clock may move now: the slack of the oldest request still holding it. */
  private limit(): number {
    if (!this.ioSlackMs || !this.holding.size) return Infinity;
    const now = performance.now();
    let lim = Infinity;
    for (const k of this.holding) {
      if (k.link && k.link.stalled()) continue;
      if (k.since + this.ioGraceMs - now <= 0) continue;
      lim = Math.min(lim, k.vSince + this.ioSlackMs);
    }
    return Math.max(lim, this.t);
  }

  private anyPred(): boolean {
    for (const h of this.preds) if (h.pred() || h.since) return true;
    return false;
  }

  /** Real ms until what holds the move to `target` stops holding it; 0 when nothing holds. */
  private blocked(target: number): { io: number; hold: number } {
    const now = performance.now();
    let io = 0;
    for (const k of this.holding) {
      if (k.link && k.link.stalled()) continue;
      if (k.vSince + this.ioSlackMs >= target && this.ioSlackMs > 0) continue;
      const left = k.since + this.ioGraceMs - now;
      if (left > 0) {
        if (left > io) io = left;
      } else if (k.stallCounted !== k.since) {
        k.stallCounted = k.since;
        this.st.stalls++;
      }
    }
    let hold = this.holds > 0 ? this.pollMs : 0;
    for (const h of this.preds) {
      if (!h.pred()) {
        h.since = 0;
        h.timedOut = false;
        continue;
      }
      if (h.timedOut) continue; // holds nothing until pred() is false again
      if (!h.since) h.since = now;
      const left = h.since + h.max - now;
      if (left > 0) hold = Math.max(hold, Math.min(left, this.pollMs));
      else {
        h.timedOut = true;
        this.st.holdTimeouts++;
      }
    }
    return { io, hold };
  }

  private async settle(target: number): Promise<void> {
    let b = this.blocked(target);
    const mustYield = performance.now() - this.lastYield >= this.yieldEveryMs;
    if (!b.io && !b.hold) {
      if (mustYield) await this.yieldTurn();
      return;
    }
    this.st.waits++;
    for (;;) {
      const t0 = performance.now();
      const wait = Math.max(1, Math.min(this.pollMs, b.io || this.pollMs, b.hold || this.pollMs));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          if (this.waiter === go) this.waiter = undefined;
          resolve();
        }, wait);
        const go = () => {
          clearTimeout(timer);
          resolve();
        };
        this.waiter = go;
      });
      this.lastYield = performance.now();
      const dt = performance.now() - t0;
      if (b.io) this.st.ioWaitMs += dt;
      else this.st.holdWaitMs += dt;
      if (this.stopped) return;
      b = this.blocked(target);
      if (!b.io && !b.hold) return;
    }
  }
}

function num(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !(v >= min && v <= max)) throw err('E_RANGE', 'virtual time: "' + name + '" expected a number in ' + min + '..' + max + ', got ' + String(v), RangeError);
  return v;
}
