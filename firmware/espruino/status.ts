// What a person sees and presses: the status LED, the watchdog, the factory-reset button.
// - LED patterns (on/off ms, repeated): connecting = slow blink, online = a short blink every
//   2 s, error = fast blink, confirm = double blink while the button waits for a second long
//   press. Polarity comes from the board (roles.statusLed.activeLow); an addressable LED gets
//   colours through require("neopixel").
// - Watchdog: E.enableWatchdog(timeoutS, false) means "kick me yourself"; main.ts enables it
//   once the agent runs and kicks from every callback of the agent's timers (host.timers,
//   timers.ts onFire), so the dog is fed while the agent's own loop runs (its age tick fires at
//   least every second) and bites when that loop wedges. The LED, Wi-Fi and SNTP timers do not
//   feed it: a free-running interval would keep a stuck device alive.
// - Button: a press held for longPressMs erases the config (the device reboots unprovisioned,
//   keeping its identity). A second long press within confirmWindowMs of the first erases the
//   key too: the key IS the device identity (its address is registered with the verifier), so
//   losing it takes two deliberate acts.
import type { Timers, Watch, WatchOptions, Log } from '../core/host.js';
import { aint } from '../core/util/errors.js';
import type { EspruinoE } from './espruino.js';

declare const E: EspruinoE;
declare function digitalWrite(pin: string, level: number): void;
declare function require(name: string): unknown;

export type LedState = 'off' | 'connecting' | 'online' | 'error' | 'confirm';

/** Pattern per state: alternating on/off durations in ms ([] = off, one entry = steady). */
export const LED_PATTERNS: { [state: string]: number[] } = {
  off: [],
  connecting: [500, 500],
  online: [60, 1940],
  error: [100, 100],
  confirm: [80, 120, 80, 720],
};

/** Colours of an addressable LED per state, [r, g, b]. */
export const LED_COLOURS: { [state: string]: number[] } = {
  off: [0, 0, 0],
  connecting: [24, 16, 0],
  online: [0, 24, 0],
  error: [32, 0, 0],
  confirm: [0, 0, 32],
};

export interface LedRole {
  pin: string;
  kind?: string;
  activeLow?: boolean;
  driver?: string;
  colorOrder?: string;
}

export interface StatusLed {
  set(state: LedState): void;
  state(): LedState;
}

export function statusLed(role: LedRole | null | undefined, timers: Timers): StatusLed {
  let current: LedState = 'off';
  let timer: unknown;
  let step = 0;
  if (!role) return { set: function (s: LedState) { current = s; }, state: function () { return current; } };
  const r = role;
  const pixel = r.driver === 'neopixel';
  function show(on: boolean): void {
    if (pixel) {
      const c = on ? LED_COLOURS[current] : LED_COLOURS.off;
      const np = require('neopixel') as { write(pin: string, data: number[]): void };
      np.write(r.pin, r.colorOrder === 'RGB' ? [c[0], c[1], c[2]] : [c[1], c[0], c[2]]);
    } else digitalWrite(r.pin, on !== !!r.activeLow ? 1 : 0);
  }
  function tick(): void {
    const p = LED_PATTERNS[current];
    timer = undefined;
    if (p.length === 0) return show(false);
    const on = step % 2 === 0;
    show(on);
    if (p.length === 1) return;
    const ms = p[step % p.length];
    step++;
    timer = timers.setTimeout(tick, ms);
  }
  return {
    set: function (s: LedState): void {
      if (s === current) return;
      current = s;
      step = 0;
      timers.clearTimeout(timer);
      tick();
    },
    state: function (): LedState {
      return current;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Watchdog

export const WATCHDOG_DEFAULTS = {
  /** Seconds without a kick before the chip resets. The agent's age tick runs every <= 1 s. */
  timeoutS: 30,
};

export interface Watchdog {
  kick(): void;
  kicks(): number;
}

/** Enables the hardware watchdog in manual mode (timeoutS 0: no watchdog, kick() does nothing). */
export function watchdog(timeoutS: number): Watchdog {
  const t = aint('watchdogS', timeoutS, 0, 3600);
  let n = 0;
  if (t > 0) E.enableWatchdog(t, false);
  return {
    kick: function (): void {
      if (t === 0) return;
      n++;
      E.kickWatchdog();
    },
    kicks: function (): number {
      return n;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Factory-reset button

export const BUTTON_DEFAULTS = {
  longPressMs: 5000,
  confirmWindowMs: 10000,
  debounceMs: 50,
};

export interface ButtonActions {
  /** Erase the config (keep the key); the caller reboots. */
  resetConfig(): void;
  /** Erase config and key; the caller reboots. */
  resetIdentity(): void;
  led?: StatusLed;
  log?: Log;
}

export interface ButtonRole {
  pin: string;
  activeLow: boolean;
}

/**
 * Watches the button through host.io.watch. The first long press arms; a second long press
 * within the window resets the identity, otherwise the window's end resets the config.
 */
export function factoryButton(
  role: ButtonRole,
  openWatch: (o: WatchOptions) => Watch,
  timers: Timers,
  actions: ButtonActions,
  longPressMs?: number,
  confirmWindowMs?: number,
): Watch {
  const longMs = longPressMs === undefined ? BUTTON_DEFAULTS.longPressMs : aint('longPressMs', longPressMs, 100, 60000);
  const windowMs = confirmWindowMs === undefined ? BUTTON_DEFAULTS.confirmWindowMs : aint('confirmWindowMs', confirmWindowMs, 1000, 120000);
  let pressedAt = -1;
  let armed = false;
  let windowTimer: unknown;
  let before: string | undefined;
  function log(m: string): void {
    if (actions.log) actions.log('warn', 'button: ' + m);
  }
  return openWatch({
    pin: role.pin,
    edge: 'both',
    debounceMs: BUTTON_DEFAULTS.debounceMs,
    pull: role.activeLow ? 'up' : 'down',
    onEdge: function (e) {
      const pressed = e.rising !== role.activeLow;
      if (pressed) {
        pressedAt = e.time;
        return;
      }
      if (pressedAt < 0) return;
      const held = e.time - pressedAt;
      pressedAt = -1;
      if (held < longMs) return;
      if (!armed) {
        armed = true;
        log('long press: config will be erased in ' + windowMs + ' ms; long-press again to erase the device key too');
        if (actions.led) {
          before = actions.led.state();
          actions.led.set('confirm');
        }
        windowTimer = timers.setTimeout(function () {
          armed = false;
          log('erasing the config (key kept)');
          actions.resetConfig();
        }, windowMs);
        return;
      }
      timers.clearTimeout(windowTimer);
      armed = false;
      if (actions.led && before) actions.led.set(before as LedState);
      log('second long press: erasing config AND device key (new identity at next boot)');
      actions.resetIdentity();
    },
  });
}
