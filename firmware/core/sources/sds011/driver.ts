// SDS011 driver over a UART. At first use (and after the sensor stopped answering) it wakes the
// sensor (command 6, answered), reads its reporting mode and working period (commands 2 and 8)
// and writes them only when they differ from what the driver needs (the sensor keeps both in
// flash across power cycles). Query mode (default): one query (command 4) per reading. Active
// mode: the next good data frame after read() started. Values are trusted only `warmUpMs` after
// the sensor woke; with `sleep` the laser and fan stop after each reading (command 6, sleep)
// and are woken `warmUpMs` before the next read is due.
import type { Host, Serial, TimerHandle } from '../../host.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { err } from '../../util/errors.js';
import { SDS011_SCHEMA } from './schema.js';
import {
  SDS_BAUD,
  SDS_ANY_ID,
  SDS_CMD_PERIOD,
  SDS_CMD_QUERY_DATA,
  SDS_CMD_REPORT_MODE,
  SDS_CMD_SLEEP_WORK,
  SDS_GET,
  SDS_MODE_ACTIVE,
  SDS_MODE_QUERY,
  SDS_PERIOD_CONTINUOUS,
  SDS_SET,
  SDS_SLEEP,
  SDS_WORK,
  createSdsParser,
  sdsCommand,
  sdsData,
  sdsImplausible,
  sdsReply,
  type SdsData,
  type SdsReply,
} from './decoder.js';

/** Wake the sensor this long before warm-up must be complete, so timer jitter does not delay a read. */
const WAKE_LEAD_MS = 1000;
/** Tenths of ug/m3 to ug/m3. */
const RAW_PER_UNIT = 10;

export interface Sds011Stats {
  [name: string]: number;
  reads: number;
  ok: number;
  /** A command or query without its answer after the retries. */
  timeouts: number;
  /** Good checksum, value beyond the 999.9 ug/m3 range. */
  implausible: number;
  /** Frames from another device id (when deviceId is set). */
  otherId: number;
  replies: number;
  /** Data frames nobody asked for (active mode between reads, warm-up). */
  ignored: number;
  warmups: number;
  /** Reporting mode or working period found different and written. */
  settingsWritten: number;
  stuck: number;
  wakes: number;
  sleeps: number;
}

interface Waiter {
  /** Command code of the reply wanted, or -1 for a data frame. */
  cmd: number;
  d2: number;
  cb: (ok: boolean, reply?: SdsReply, data?: SdsData) => void;
  timer: TimerHandle;
}

function createSds011(host: Host, id: string, intervalMs: number, c: { [k: string]: unknown }): Source {
  if (!host.io || !host.io.serial) throw err('E_NO_IO', 'sds011 "' + id + '": this host has no serial ports');
  const query = c.mode === 'query';
  const deviceId = c.deviceId as number;
  const warmUpMs = c.warmUpMs as number;
  const timeoutMs = c.timeoutMs as number;
  const retries = c.retries as number;
  const stuckReads = c.stuckReads as number;
  const sleepOn = (c.sleep as boolean) && intervalMs > warmUpMs + 2 * timeoutMs;
  const wantMode = query ? SDS_MODE_QUERY : SDS_MODE_ACTIVE;
  const where = 'sds011 "' + id + '" on ' + (c.port as string);
  const stats: Sds011Stats = {
    reads: 0, ok: 0, timeouts: 0, implausible: 0, otherId: 0, replies: 0, ignored: 0, warmups: 0, settingsWritten: 0, stuck: 0, wakes: 0, sleeps: 0,
  };
  let busy = false;
  let stopped = false;
  /** true awake, false asleep, undefined unknown (start, after a timeout). */
  let awake: boolean | undefined;
  let awakeSince = 0;
  let wakeSentAt = 0;
  let configured = false;
  let timer: TimerHandle | undefined;
  let wakeTimer: TimerHandle | undefined;
  let waiter: Waiter | undefined;
  let lastProblem = '';
  let last25 = -1;
  let last10 = -1;
  let same = 0;

  function onFrame(f: Uint8Array): void {
    const rep = sdsReply(f);
    const data = rep ? undefined : sdsData(f);
    const from = rep ? rep.id : (data as SdsData).id;
    if (deviceId !== SDS_ANY_ID && from !== deviceId) {
      stats.otherId++;
      return;
    }
    if (rep) {
      stats.replies++;
      if (waiter && waiter.cmd === rep.cmd && waiter.d2 === rep.d2) return resolve(true, rep);
      // The answer to a wake-up sent ahead of a read, with no read waiting for it.
      if (rep.cmd === SDS_CMD_SLEEP_WORK && rep.d2 === SDS_SET && rep.d3 === SDS_WORK && awake !== true) {
        awake = true;
        awakeSince = wakeSentAt;
      }
      return;
    }
    const d = data as SdsData;
    if (!waiter || waiter.cmd !== -1) {
      stats.ignored++;
      return;
    }
    const why = sdsImplausible(d);
    if (why) {
      stats.implausible++;
      lastProblem = why;
      return;
    }
    resolve(true, undefined, d);
  }

  const parser = createSdsParser(onFrame);

  function pump(): void {
    if (stopped) return;
    for (let d = serial.read(); d !== undefined; d = serial.read()) parser.push(d);
  }

  const serial: Serial = host.io.serial({
    port: c.port as string,
    baud: SDS_BAUD,
    bits: 8,
    parity: 'none',
    stopBits: 1,
    rx: c.rx as string | undefined,
    tx: c.tx as string | undefined,
    onReadable: pump,
  });

  function resolve(ok: boolean, reply?: SdsReply, data?: SdsData): void {
    const w = waiter;
    if (!w) return;
    waiter = undefined;
    host.timers.clearTimeout(w.timer);
    w.cb(ok, reply, data);
  }

  function expect(cmd: number, d2: number, cb: (ok: boolean, reply?: SdsReply, data?: SdsData) => void): void {
    waiter = {
      cmd: cmd,
      d2: d2,
      cb: cb,
      timer: host.timers.setTimeout(function () {
        if (!stopped) resolve(false);
      }, timeoutMs),
    };
  }

  function send(cmd: number, d2: number, d3: number): void {
    serial.write(sdsCommand(cmd, d2, d3, deviceId));
  }

  function sendWake(): void {
    wakeSentAt = host.clock.uptime();
    send(SDS_CMD_SLEEP_WORK, SDS_SET, SDS_WORK);
    stats.wakes++;
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
    function timedOut(what: string): void {
      stats.timeouts++;
      awake = undefined;
      configured = false;
      finish(err('E_TIMEOUT', where + ': no ' + what + ' within ' + timeoutMs + ' ms, ' + (retries + 1) + ' attempts' + (lastProblem ? ' (last rejected: ' + lastProblem + ')' : '')));
    }
    /** Sends a command and waits for its reply (same command and data byte 2), retrying. */
    function exchange(what: string, cmd: number, d2: number, d3: number, left: number, then: (r: SdsReply) => void): void {
      try {
        if (cmd === SDS_CMD_SLEEP_WORK && d3 === SDS_WORK) sendWake();
        else send(cmd, d2, d3);
      } catch (e) {
        return finish(err('E_SERIAL', where + ': ' + ((e as Error).message || String(e))));
      }
      expect(cmd, d2, function (ok, r) {
        if (ok) return then(r as SdsReply);
        if (left > 0) return exchange(what, cmd, d2, d3, left - 1, then);
        timedOut(what);
      });
    }
    function wakeUp(): void {
      if (awake === true) return configure();
      exchange('reply to wake-up', SDS_CMD_SLEEP_WORK, SDS_SET, SDS_WORK, retries, function () {
        awake = true;
        awakeSince = wakeSentAt;
        configure();
      });
    }
    // Reporting mode, then working period: read first, write only what differs (flash wear).
    function configure(): void {
      if (configured) return warmUp();
      exchange('reporting mode', SDS_CMD_REPORT_MODE, SDS_GET, 0, retries, function (r) {
        const modeDone = function (): void {
          exchange('working period', SDS_CMD_PERIOD, SDS_GET, 0, retries, function (p) {
            if (p.d3 === SDS_PERIOD_CONTINUOUS) {
              configured = true;
              return warmUp();
            }
            stats.settingsWritten++;
            exchange('working period reply', SDS_CMD_PERIOD, SDS_SET, SDS_PERIOD_CONTINUOUS, retries, function () {
              configured = true;
              warmUp();
            });
          });
        };
        if (r.d3 === wantMode) return modeDone();
        stats.settingsWritten++;
        exchange('reporting mode reply', SDS_CMD_REPORT_MODE, SDS_SET, wantMode, retries, modeDone);
      });
    }
    function warmUp(): void {
      const left = warmUpMs - (host.clock.uptime() - awakeSince);
      if (left <= 0) return acquire(retries);
      stats.warmups++;
      timer = host.timers.setTimeout(function () {
        timer = undefined;
        if (!stopped) acquire(retries);
      }, left);
    }
    function acquire(left: number): void {
      if (query) {
        parser.reset(); // a half-received frame is older than the query
        try {
          send(SDS_CMD_QUERY_DATA, 0, 0);
        } catch (e) {
          return finish(err('E_SERIAL', where + ': ' + ((e as Error).message || String(e))));
        }
      }
      expect(-1, -1, function (ok, _r, d) {
        if (ok) return deliver(d as SdsData);
        if (query && left > 0) return acquire(left - 1);
        timedOut('valid data frame');
      });
    }
    function deliver(d: SdsData): void {
      if (d.pm25 === last25 && d.pm10 === last10) same++;
      else {
        same = 1;
        last25 = d.pm25;
        last10 = d.pm10;
      }
      const sleepMs = started + intervalMs - warmUpMs - WAKE_LEAD_MS - host.clock.uptime();
      if (sleepOn && sleepMs > 0) {
        try {
          send(SDS_CMD_SLEEP_WORK, SDS_SET, SDS_SLEEP);
          stats.sleeps++;
          awake = false;
        } catch (e) {
          awake = undefined;
        }
        wakeTimer = host.timers.setTimeout(function () {
          wakeTimer = undefined;
          if (stopped || busy) return;
          try {
            sendWake(); // awake is set when the sensor answers (onFrame)
          } catch (e) {
            awake = undefined;
          }
        }, sleepMs);
      }
      if (stuckReads > 0 && same >= stuckReads) {
        stats.stuck++;
        return finish(err('E_STUCK', where + ': the same values ' + same + ' times in a row'));
      }
      stats.ok++;
      finish(undefined, [
        { n: 'pm25', u: 'ug/m3', v: d.pm25 / RAW_PER_UNIT },
        { n: 'pm10', u: 'ug/m3', v: d.pm10 / RAW_PER_UNIT },
      ]);
    }
    wakeUp();
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

export const sds011Source: SourceComponent = {
  type: 'sds011',
  doc: 'Nova Fitness SDS011 particulate matter sensor (UART 9600 8N1): PM2.5 and PM10, query or active mode, sleep between reads',
  schema: SDS011_SCHEMA,
  defaultIntervalMs: 60000,
  create: createSds011,
};
