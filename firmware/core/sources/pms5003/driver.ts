// PMS5003 driver over a UART. Passive mode (default): set the mode once (0xE1 00 00, waiting
// for the sensor's reply), then one read request (0xE2) per reading. Active mode: the sensor
// streams frames and a read takes the next good one that arrives after read() was called, so a
// value is never older than the read. Values are trusted only `warmUpMs` after the fan started
// (wake-up or first use); with `sleep` the fan stops after each reading (0xE4 00 00) and is
// woken `warmUpMs` before the next one is due. Frames are framed and checksummed by the
// parser; data frames must also pass the plausibility rules (decoder.ts).
import type { Host, Serial, TimerHandle } from '../../host.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { err } from '../../util/errors.js';
import { PMS5003_SCHEMA } from './schema.js';
import {
  PMS_BAUD,
  PMS_CMD_MODE,
  PMS_CMD_READ,
  PMS_CMD_SLEEP,
  PMS_MODE_ACTIVE,
  PMS_MODE_PASSIVE,
  PMS_SLEEP,
  PMS_WAKE,
  PMS_W_PM1,
  PMS_W_N03,
  createPmsParser,
  pmsCommand,
  pmsImplausible,
  pmsReply,
  pmsWords,
} from './decoder.js';

/** Reading names: atmospheric-environment mass concentrations, then counts per 0.1 L beyond a size. */
const NAMES = ['pm1', 'pm25', 'pm10', 'n03', 'n05', 'n1', 'n25', 'n5', 'n10'];
/** Wake the fan this long before warm-up must be complete, so timer jitter does not delay a read. */
const WAKE_LEAD_MS = 1000;

export interface Pms5003Stats {
  [name: string]: number;
  reads: number;
  ok: number;
  /** No reply / no good frame within timeoutMs (after the retries). */
  timeouts: number;
  /** Good checksum, but the data break the plausibility rules. */
  implausible: number;
  /** Mode command without its reply (the read goes on; the command is repeated next time). */
  noAck: number;
  /** Command replies received. */
  acks: number;
  /** Data frames arriving while no read wanted one (active mode between reads, warm-up). */
  ignored: number;
  /** Reads that waited for the fan's warm-up. */
  warmups: number;
  stuck: number;
  wakes: number;
  sleeps: number;
}

function createPms5003(host: Host, id: string, intervalMs: number, c: { [k: string]: unknown }): Source {
  if (!host.io || !host.io.serial) throw err('E_NO_IO', 'pms5003 "' + id + '": this host has no serial ports');
  const passive = c.mode === 'passive';
  const warmUpMs = c.warmUpMs as number;
  const timeoutMs = c.timeoutMs as number;
  const retries = c.retries as number;
  const stuckReads = c.stuckReads as number;
  const sleepOn = (c.sleep as boolean) && intervalMs > warmUpMs + 2 * timeoutMs;
  const modeByte = passive ? PMS_MODE_PASSIVE : PMS_MODE_ACTIVE;
  const where = 'pms5003 "' + id + '" on ' + (c.port as string);
  const stats: Pms5003Stats = { reads: 0, ok: 0, timeouts: 0, implausible: 0, noAck: 0, acks: 0, ignored: 0, warmups: 0, stuck: 0, wakes: 0, sleeps: 0 };
  let busy = false;
  let stopped = false;
  /** true awake, false asleep (we sent sleep), undefined: unknown (start, after a timeout). */
  let awake: boolean | undefined;
  let awakeSince = 0;
  let modeOk = false;
  let timer: TimerHandle | undefined;
  let wakeTimer: TimerHandle | undefined;
  let waiter: { reply: number; cb: (ok: boolean, w?: Uint16Array) => void; timer: TimerHandle } | undefined;
  let lastProblem = '';
  const last = new Uint16Array(12);
  let same = 0;

  function onFrame(f: Uint8Array): void {
    const reply = pmsReply(f);
    if (reply >= 0) {
      stats.acks++;
      if (waiter && waiter.reply === reply) resolve(true);
      return;
    }
    const w = pmsWords(f) as Uint16Array;
    if (!waiter || waiter.reply !== -1) {
      stats.ignored++;
      return;
    }
    const why = pmsImplausible(w);
    if (why) {
      stats.implausible++;
      lastProblem = why;
      return;
    }
    resolve(true, w);
  }

  const parser = createPmsParser(onFrame);

  function pump(): void {
    if (stopped) return;
    for (let d = serial.read(); d !== undefined; d = serial.read()) parser.push(d);
  }

  const serial: Serial = host.io.serial({
    port: c.port as string,
    baud: PMS_BAUD,
    bits: 8,
    parity: 'none',
    stopBits: 1,
    rx: c.rx as string | undefined,
    tx: c.tx as string | undefined,
    onReadable: pump,
  });

  function resolve(ok: boolean, w?: Uint16Array): void {
    const wt = waiter;
    if (!wt) return;
    waiter = undefined;
    host.timers.clearTimeout(wt.timer);
    wt.cb(ok, w);
  }

  /** Waits for a reply (command << 8 | data) or, with -1, a plausible data frame. */
  function expect(reply: number, cb: (ok: boolean, w?: Uint16Array) => void): void {
    waiter = {
      reply: reply,
      cb: cb,
      timer: host.timers.setTimeout(function () {
        if (!stopped) resolve(false);
      }, timeoutMs),
    };
  }

  function later(ms: number, fn: () => void): void {
    timer = host.timers.setTimeout(function () {
      timer = undefined;
      if (!stopped) fn();
    }, ms);
  }

  function send(cmd: number, data: number): void {
    serial.write(pmsCommand(cmd, data));
  }

  function wake(): void {
    send(PMS_CMD_SLEEP, PMS_WAKE);
    stats.wakes++;
    awake = true;
    awakeSince = host.clock.uptime();
  }

  function read(done: (e: Error | undefined, values?: SourceValue[]) => void): void {
    if (busy) {
      done(err('E_BUSY', where + ': a read is still running'));
      return;
    }
    busy = true;
    stats.reads++;
    lastProblem = '';
    const started = host.clock.uptime();
    if (wakeTimer !== undefined) {
      host.timers.clearTimeout(wakeTimer);
      wakeTimer = undefined;
    }
    function finish(e: Error | undefined, values?: SourceValue[]): void {
      busy = false;
      if (!stopped) done(e, values);
    }
    function fail(e: unknown): void {
      finish(err('E_SERIAL', where + ': ' + ((e as Error).message || String(e))));
    }
    function setMode(): void {
      if (modeOk) return warmUp();
      try {
        send(PMS_CMD_MODE, modeByte);
      } catch (e) {
        return fail(e);
      }
      expect((PMS_CMD_MODE << 8) | modeByte, function (ok) {
        if (ok) modeOk = true;
        else stats.noAck++;
        warmUp();
      });
    }
    function warmUp(): void {
      const left = warmUpMs - (host.clock.uptime() - awakeSince);
      if (left <= 0) return acquire(retries);
      stats.warmups++;
      later(left, function () {
        acquire(retries);
      });
    }
    function acquire(left: number): void {
      if (passive) {
        parser.reset(); // whatever is half-received now is older than the request
        try {
          send(PMS_CMD_READ, 0);
        } catch (e) {
          return fail(e);
        }
      }
      expect(-1, function (ok, w) {
        if (ok) return deliver(w as Uint16Array);
        if (passive && left > 0) return acquire(left - 1);
        stats.timeouts++;
        // Perhaps it was power-cycled (active again) or asleep: start over next time.
        modeOk = false;
        awake = undefined;
        finish(err('E_TIMEOUT', where + ': no valid frame within ' + timeoutMs + ' ms' + (lastProblem ? ' (last rejected: ' + lastProblem + ')' : '')));
      });
    }
    function deliver(w: Uint16Array): void {
      let equal = true;
      for (let i = 0; i < 12; i++) if (last[i] !== w[i]) equal = false;
      if (equal) same++;
      else {
        same = 1;
        last.set(w.subarray(0, 12));
      }
      // Sleep until warmUpMs (+ a lead) before the next read is due; not at all when that moment
      // has passed already (e.g. after a first read that waited for the warm-up itself).
      const sleepMs = started + intervalMs - warmUpMs - WAKE_LEAD_MS - host.clock.uptime();
      if (sleepOn && sleepMs > 0) {
        try {
          send(PMS_CMD_SLEEP, PMS_SLEEP);
          stats.sleeps++;
          awake = false;
        } catch (e) {
          awake = undefined;
        }
        wakeTimer = host.timers.setTimeout(function () {
          wakeTimer = undefined;
          if (stopped || busy) return;
          try {
            wake();
          } catch (e) {
            awake = undefined;
          }
        }, sleepMs);
      }
      if (stuckReads > 0 && same >= stuckReads) {
        stats.stuck++;
        return finish(err('E_STUCK', where + ': the same data words ' + same + ' times in a row'));
      }
      const values: SourceValue[] = [];
      for (let i = 0; i < NAMES.length; i++) {
        const v = w[i < 3 ? PMS_W_PM1 + i : PMS_W_N03 + i - 3];
        values.push(i < 3 ? { n: NAMES[i], u: 'ug/m3', v: v } : { n: NAMES[i], v: v });
      }
      stats.ok++;
      finish(undefined, values);
    }
    try {
      if (awake !== true) wake();
    } catch (e) {
      return fail(e);
    }
    setMode();
  }

  return {
    id: id,
    intervalMs: intervalMs,
    read: read,
    stats: function () {
      const out: { [k: string]: number } = {};
      for (const k in stats) if (stats.hasOwnProperty(k)) out[k] = stats[k];
      for (const k in parser.stats) if (parser.stats.hasOwnProperty(k)) out[k] = parser.stats[k];
      return out;
    },
    stop: function () {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) host.timers.clearTimeout(timer);
      if (wakeTimer !== undefined) host.timers.clearTimeout(wakeTimer);
      if (waiter) host.timers.clearTimeout(waiter.timer);
      waiter = undefined;
      serial.close();
    },
  };
}

export const pms5003Source: SourceComponent = {
  type: 'pms5003',
  doc: 'Plantower PMS5003 particulate matter sensor (UART 9600 8N1): PM1.0/2.5/10 and particle counts, passive or active mode, fan sleep between reads',
  schema: PMS5003_SCHEMA,
  defaultIntervalMs: 60000,
  create: createPms5003,
};
