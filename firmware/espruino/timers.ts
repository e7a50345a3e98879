// Host Timers over Espruino's setTimeout/clearTimeout (src/jswrap_interactive.c), guarding two
// behaviours that would break core silently:
// - timer ids are reused: a new timer gets the last live id + 1 (jsiTimerAdd ->
//   jsvArrayAddToEnd), so once a timer has fired its id can belong to the next one, and a late
//   clearTimeout(oldId) cancels an unrelated timer (pinned by test/device/platform-espruino.test.ts on the
//   real interpreter). Handles here remember whether their timer is still pending;
// - clearTimeout(undefined) throws and clearTimeout() clears EVERY timer: clearing an absent
//   handle is a no-op here, as core expects.
// `onFire` runs before every callback: main.ts kicks the watchdog there, so the dog is fed by
// the agent's own timers (its age tick runs at least every second) and a wedged loop resets.
import type { Timers, TimerHandle } from '../core/host.js';
import { err } from '../core/util/errors.js';

declare function setTimeout(fn: () => void, ms: number): number;
declare function clearTimeout(id: number): void;

interface Handle {
  id: number;
  live: boolean;
}

export interface EspruinoTimers extends Timers {
  /** Timers pending now. */
  pending(): number;
}

export function espruinoTimers(onFire?: () => void): EspruinoTimers {
  let pending = 0;
  return {
    setTimeout: function (fn: () => void, ms: number): TimerHandle {
      if (typeof fn !== 'function') throw err('E_TYPE', '"fn" expected a function, got ' + typeof fn, TypeError);
      const h: Handle = { id: 0, live: true };
      pending++;
      h.id = setTimeout(function () {
        if (!h.live) return;
        h.live = false;
        pending--;
        if (onFire) onFire();
        fn();
      }, ms > 0 ? ms : 0);
      return h;
    },
    clearTimeout: function (x: TimerHandle): void {
      const h = x as Handle | undefined;
      if (!h || !h.live) return;
      h.live = false;
      pending--;
      clearTimeout(h.id);
    },
    pending: function (): number {
      return pending;
    },
  };
}
