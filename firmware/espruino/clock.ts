// Host Clock over Espruino's getTime()/setTime() (src/jswrap_interactive.c).
// getTime() is the system time in seconds: on ESP32 it starts near 0 at boot and becomes Unix
// time when someone calls setTime(); the Linux build starts at Unix time. So:
// - uptime() accumulates getTime() deltas. A jump made through setWall() is taken out exactly;
//   a jump made by anyone else (Wifi.setSNTP, a console setTime) shows as a step backwards or
//   larger than maxStepS and counts as 0 ms (and in jumps()), so uptime never goes back and
//   never leaps. uptime() is read at least every second by the agent's age tick, so a real
//   gap longer than maxStepS cannot be mistaken for a jump.
// - now() is getTime() in ms; meaningless until synced() (set by SNTP through setWall()).
// setTime() also shifts every pending timer by the same amount (jstSystemTimeChanged), which is
// why the time is set here and never with Wifi.setSNTP (it jumps the clock under running timers,
// Espruino issue #1612).
import type { Clock } from '../core/host.js';
import { err } from '../core/util/errors.js';

declare function getTime(): number;
declare function setTime(t: number): void;

export const CLOCK_DEFAULTS = {
  /** A getTime() step above this many seconds between two reads is a jump, not elapsed time. */
  maxStepS: 3600,
};

export interface DeviceClock extends Clock {
  /** Sets the wall clock (Unix ms) with setTime(); uptime() does not move. */
  setWall(unixMs: number): void;
  /** Uptime (ms) of an Espruino timestamp in getTime() seconds (setWatch event times). */
  uptimeAt(espruinoTime: number): number;
  /** Clock jumps not made through setWall() (taken out of uptime). */
  jumps(): number;
}

export function espruinoClock(maxStepS?: number): DeviceClock {
  const maxStep = maxStepS === undefined ? CLOCK_DEFAULTS.maxStepS : maxStepS;
  let last = getTime();
  let up = 0; // seconds
  let synced = false;
  let jumps = 0;

  function advance(): number {
    const t = getTime();
    const d = t - last;
    last = t;
    if (d < 0 || d > maxStep) jumps++;
    else up += d;
    return t;
  }

  return {
    now: function (): number {
      return getTime() * 1000;
    },
    uptime: function (): number {
      advance();
      return up * 1000;
    },
    synced: function (): boolean {
      return synced;
    },
    setWall: function (unixMs: number): void {
      if (typeof unixMs !== 'number' || unixMs !== unixMs || unixMs <= 0)
        throw err('E_TYPE', '"unixMs" expected a positive number, got ' + String(unixMs), TypeError);
      advance();
      setTime(unixMs / 1000);
      last = getTime();
      synced = true;
    },
    uptimeAt: function (espruinoTime: number): number {
      const t = advance();
      return (up - (t - espruinoTime)) * 1000;
    },
    jumps: function (): number {
      return jumps;
    },
  };
}
