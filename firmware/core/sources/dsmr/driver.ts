// DSMR P1 source: opens the serial port the P1 data line reaches (through a hardware inverter:
// P1 data is open-collector, inverted, and ESP32 Espruino cannot invert RX), raises Data Request,
// feeds every byte to the framer and answers each read with the newest valid telegram that is
// not older than maxAgeMs. Never a half-used telegram: values come only from telegrams that
// passed framing, CRC (or, without CRC, the strict grammar and the monotonic-totals check).
import type { Host, DigitalOutput, Serial, TimerHandle } from '../../host.js';
import { err } from '../../util/errors.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { createDsmrReader, type DsmrTelegram } from './decoder.js';
import { DSMR_SCHEMA, DSMR_VERSIONS } from './schema.js';

function copyValues(v: SourceValue[]): SourceValue[] {
  const out: SourceValue[] = [];
  for (let i = 0; i < v.length; i++) {
    const r = v[i];
    const c: SourceValue = { n: r.n };
    if (r.u !== undefined) c.u = r.u;
    if (r.v !== undefined) c.v = r.v;
    if (r.s !== undefined) c.s = r.s;
    if (r.vs !== undefined) c.vs = r.vs;
    out.push(c);
  }
  return out;
}

/**
 * Telegrams without a CRC have no checksum; besides the strict grammar, the cumulative totals
 * (s in Wh, m3, J) must not fall between two consecutive ones. A corruption that lowers a total
 * is caught; one that raises it passes once and makes the next telegram fail this check.
 */
function totalsNotDecreasing(prev: SourceValue[], next: SourceValue[]): boolean {
  for (let i = 0; i < next.length; i++) {
    const s = next[i].s;
    if (s === undefined || !next[i].u) continue;
    for (let j = 0; j < prev.length; j++) {
      const p = prev[j];
      if (p.n === next[i].n && p.s !== undefined && s < p.s) return false;
    }
  }
  return true;
}

export const dsmrSource: SourceComponent = {
  type: 'dsmr',
  doc: 'DSMR P1 smart meter port (NL, BE, SE, ...): energy per tariff, power, per-phase voltage/current/power, gas/water',
  schema: DSMR_SCHEMA,
  defaultIntervalMs: 10000,
  create(host: Host, id: string, intervalMs: number, cfg: { [k: string]: unknown }): Source {
    const io = host.io;
    const where = 'source "' + id + '" (dsmr)';
    if (!io || !io.serial) throw err('E_NO_IO', where + ': this host has no serial ports');
    if (cfg.requestPin !== undefined && !io.output) throw err('E_NO_IO', where + ': "requestPin" set but this host has no digital outputs');
    const ver = DSMR_VERSIONS[cfg.version as string];
    const framing = cfg.framing as string | undefined;
    const maxAge = cfg.maxAgeMs as number;
    const readTimeout = cfg.readTimeoutMs as number;
    const perRead = cfg.requestMode === 'perRead';
    const d = { reads: 0, stale: 0, noData: 0, timeouts: 0, nonMonotonic: 0, busy: 0 };

    let last: DsmrTelegram | undefined;
    let lastAt = 0;
    let lastNoCrc: SourceValue[] | undefined;
    let stopped = false;
    let pending: ((e: Error | undefined, values?: SourceValue[]) => void) | undefined;
    let timer: TimerHandle | undefined;
    let out: DigitalOutput | undefined;

    function finish(e: Error | undefined, values?: SourceValue[]): void {
      const cb = pending;
      pending = undefined;
      if (timer !== undefined) host.timers.clearTimeout(timer);
      timer = undefined;
      if (perRead && out) out.write(0);
      if (cb) cb(e, values);
    }

    const reader = createDsmrReader({
      maxLength: cfg.maxTelegramBytes as number,
      allowNoCrc: ver.noCrc,
      peaks: cfg.peaks === true,
      onTelegram(t: DsmrTelegram) {
        if (!t.crc) {
          const prev = lastNoCrc;
          lastNoCrc = t.values;
          if (prev && !totalsNotDecreasing(prev, t.values)) {
            d.nonMonotonic++;
            return;
          }
        }
        last = t;
        lastAt = host.clock.uptime();
        if (pending) finish(undefined, copyValues(t.values));
      },
    });

    const serial: Serial = io.serial({
      port: cfg.port as string,
      rx: cfg.rx as string | undefined,
      baud: cfg.baud === undefined ? ver.baud : (cfg.baud as number),
      bits: framing ? (framing === '7E1' ? 7 : 8) : ver.bits,
      parity: framing ? (framing === '7E1' ? 'even' : 'none') : ver.parity,
      stopBits: 1,
      onReadable() {
        if (stopped) return;
        const chunk = serial.read();
        if (chunk) reader.push(chunk);
      },
      onError() {
        reader.reset();
      },
    });
    if (cfg.requestPin !== undefined && io.output) {
      out = io.output({ pin: cfg.requestPin as string });
      out.write(perRead ? 0 : 1);
    }

    return {
      id: id,
      intervalMs: intervalMs,
      read(done) {
        d.reads++;
        if (stopped) return done(err('E_STOPPED', where + ': stopped'));
        if (pending) {
          d.busy++;
          return done(err('E_BUSY', where + ': a read is still waiting for a telegram'));
        }
        if (perRead) {
          pending = done;
          if (out) out.write(1);
          timer = host.timers.setTimeout(function () {
            timer = undefined;
            d.timeouts++;
            finish(err('E_DSMR_TIMEOUT', where + ': no valid telegram within ' + readTimeout + ' ms'));
          }, readTimeout);
          return;
        }
        if (!last) {
          d.noData++;
          return done(err('E_DSMR_NO_DATA', where + ': no valid telegram received yet'));
        }
        const age = host.clock.uptime() - lastAt;
        if (age > maxAge) {
          d.stale++;
          return done(err('E_DSMR_STALE', where + ': newest valid telegram is ' + Math.round(age) + ' ms old (maxAgeMs ' + maxAge + ')'));
        }
        done(undefined, copyValues(last.values));
      },
      stats() {
        const s = reader.stats() as unknown as { [k: string]: number };
        s.reads = d.reads;
        s.stale = d.stale;
        s.noData = d.noData;
        s.timeouts = d.timeouts;
        s.nonMonotonic = d.nonMonotonic;
        s.busy = d.busy;
        return s;
      },
      stop() {
        if (stopped) return;
        if (pending) finish(err('E_STOPPED', where + ': stopped'));
        stopped = true;
        if (out) {
          out.write(0);
          out.close();
        }
        serial.close();
      },
    };
  },
};
