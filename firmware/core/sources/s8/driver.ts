// Senseair S8 CO2 source: one "read CO2" request per read, an answer within timeoutMs, up to
// `retries` repeats, and nothing but a CRC-checked frame becomes a reading.
//
// Readings (docs/sources/s8.md):
//   co2  ppm  v  CO2 concentration (integer ppm)
import type { Host, Serial, TimerHandle } from '../../host.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { err } from '../../util/errors.js';
import { S8_SCHEMA } from './schema.js';
import { S8Parser, s8Request, S8_BAUD, S8_MAX_PPM, type S8Frame } from './decoder.js';

export interface S8Config {
  port: string;
  rx?: string;
  tx?: string;
  address: number;
  timeoutMs: number;
  retries: number;
}

export interface S8Stats {
  [name: string]: number;
  reads: number;
  ok: number;
  timeouts: number;
  crcErrors: number;
  exceptions: number;
  /** Frames with a value outside 1..S8_MAX_PPM (0 is the S8's "no valid reading yet"). */
  outOfRange: number;
  /** Frames that arrived with no request waiting (after a timeout). */
  late: number;
  skipped: number;
}

export interface S8Source extends Source {
  stats(): S8Stats;
}

export function createS8(host: Host, id: string, intervalMs: number, c: S8Config): S8Source {
  const io = host.io;
  if (!io || !io.serial) throw err('E_NO_IO', 's8 "' + id + '": this host has no io.serial');
  const s = { reads: 0, ok: 0, timeouts: 0, outOfRange: 0, late: 0 };
  const req = s8Request(c.address);
  let pending: ((e: Error | undefined, values?: SourceValue[]) => void) | undefined;
  let tries = 0;
  let timer: TimerHandle | undefined;
  /** Parser CRC errors when this read started: the ones it met go into its error message. */
  let crcAtStart = 0;

  function finish(e: Error | undefined, values?: SourceValue[]): void {
    const done = pending;
    pending = undefined;
    if (timer !== undefined) host.timers.clearTimeout(timer);
    timer = undefined;
    if (done) done(e, values);
  }

  function attempt(): void {
    tries++;
    // A partial answer to an earlier request is never completed by this one's bytes.
    parser.reset();
    try {
      serial.write(req);
    } catch (e) {
      finish(e as Error);
      return;
    }
    timer = host.timers.setTimeout(onTimeout, c.timeoutMs);
  }

  function retryOr(message: string, code: string): void {
    if (timer !== undefined) host.timers.clearTimeout(timer);
    timer = undefined;
    if (tries <= c.retries) attempt();
    else finish(err(code, 's8 "' + id + '": ' + message + ' after ' + tries + ' request' + (tries > 1 ? 's' : '')));
  }

  function onTimeout(): void {
    timer = undefined;
    s.timeouts++;
    const bad = parser.s.crcErrors - crcAtStart;
    retryOr('no valid answer within ' + c.timeoutMs + ' ms' + (bad ? ' (' + bad + ' frame' + (bad > 1 ? 's' : '') + ' with a bad CRC dropped)' : ''), 'E_TIMEOUT');
  }

  function onFrame(f: S8Frame): void {
    if (!pending) {
      s.late++;
      return;
    }
    if (f.exception) return retryOr('Modbus exception ' + f.exception, 'E_EXCEPTION');
    if (f.ppm < 1 || f.ppm > S8_MAX_PPM) {
      s.outOfRange++;
      return retryOr('CO2 ' + f.ppm + ' ppm outside 1..' + S8_MAX_PPM, 'E_RANGE');
    }
    s.ok++;
    finish(undefined, [{ n: 'co2', u: 'ppm', v: f.ppm }]);
  }

  const parser = new S8Parser(c.address, onFrame);
  const serial: Serial = io.serial({
    port: c.port,
    baud: S8_BAUD,
    bits: 8,
    parity: 'none',
    stopBits: 1,
    rx: c.rx,
    tx: c.tx,
    onReadable: function () {
      const b = serial.read();
      if (b) parser.push(b);
    },
  });

  return {
    id: id,
    intervalMs: intervalMs,
    read: function (done: (e: Error | undefined, values?: SourceValue[]) => void) {
      if (pending) {
        done(err('E_BUSY', 's8 "' + id + '": the previous read is still running'));
        return;
      }
      s.reads++;
      pending = done;
      tries = 0;
      crcAtStart = parser.s.crcErrors;
      attempt();
    },
    stats: function (): S8Stats {
      const p = parser.s;
      return { reads: s.reads, ok: s.ok, timeouts: s.timeouts, crcErrors: p.crcErrors, exceptions: p.exceptions, outOfRange: s.outOfRange, late: s.late, skipped: p.skipped };
    },
    stop: function () {
      finish(err('E_STOPPED', 's8 "' + id + '": stopped'));
      serial.close();
    },
  };
}

export const s8Source: SourceComponent = {
  type: 's8',
  doc: 'Senseair S8 CO2 sensor on a UART (the "read CO2" exchange of TDE2067)',
  schema: S8_SCHEMA,
  defaultIntervalMs: 60000,
  create: function (host, id, intervalMs, config) {
    return createS8(host, id, intervalMs, config as unknown as S8Config);
  },
};
