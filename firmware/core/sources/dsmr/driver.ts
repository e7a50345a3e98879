// DSMR P1 source: opens the serial port the P1 data line reaches (through a hardware inverter:
// P1 data is open-collector, inverted, and ESP32 Espruino cannot invert RX), raises Data Request,
// frames every telegram and answers each read with the newest valid telegram that is not older
// than maxAgeMs. Never a half-used telegram: values come only from telegrams that passed framing
// and their CRC (or, without a CRC, the strict grammar and the monotonic-totals check).
//
// CPU on the device: framing uses native calls only, but checking and decoding a telegram is
// interpreted work (tens of ms in Espruino's Linux build, seconds' worth of budget on an ESP32 at
// one telegram a second). With verify "onRead" (the default for DSMR 4/5) the driver keeps the
// two newest frames as bytes and checks and decodes only what a read needs: the newest, or the
// one before it when the newest fails its check.
import type { Host, DigitalOutput, Serial, TimerHandle } from '../../host.js';
import { err } from '../../util/errors.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { createP1Framer, acceptTelegram, type DsmrTelegram, type DsmrPolicy, type DsmrCheckCounters } from './decoder.js';
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
 * (s with a unit: Wh, m3, J) must not fall between two consecutive ones. A corruption that
 * lowers a total is caught; one that raises it passes once and makes the next telegram fail.
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

/** A framed telegram kept as bytes until a read needs it. */
interface Slot {
  buf: Uint8Array;
  len: number;
  crc: number;
  at: number;
  /** undefined: not checked yet; null: failed its check. */
  t: DsmrTelegram | null | undefined;
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
    const maxLen = cfg.maxTelegramBytes as number;
    const readTimeout = cfg.readTimeoutMs as number;
    const perRead = cfg.requestMode === 'perRead';
    // CRC-less meters (DSMR 2.2/3, every 10 s) are checked as they come: the monotonic check
    // needs every telegram in order.
    const lazy = !ver.noCrc && cfg.verify !== 'each';
    const policy: DsmrPolicy = { allowNoCrc: ver.noCrc, peaks: cfg.peaks === true, sawCrc: false };
    const c: DsmrCheckCounters = { telegrams: 0, crcErrors: 0, decodeErrors: 0, noCrcRejected: 0, badValues: 0 };
    const d = { reads: 0, stale: 0, noData: 0, invalid: 0, timeouts: 0, nonMonotonic: 0, busy: 0 };

    // verify "each": the newest accepted telegram. verify "onRead": the two newest frames.
    let last: DsmrTelegram | undefined;
    let lastAt = 0;
    let lastNoCrc: SourceValue[] | undefined;
    let newest: Slot | undefined;
    let previous: Slot | undefined;
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

    function check(s: Slot): DsmrTelegram | null {
      if (s.t === undefined) s.t = acceptTelegram(s.buf, s.len, s.crc, policy, c) || null;
      return s.t;
    }

    function onFrame(buf: Uint8Array, len: number, sentCrc: number): Uint8Array | void {
      if (lazy) {
        if (sentCrc < 0) {
          // No CRC from a DSMR 4/5 meter: refused by policy, nothing to decode.
          acceptTelegram(buf, len, sentCrc, policy, c);
          return;
        }
        // Three buffers rotate: the framer fills one while the two newest frames wait in the others.
        const give = previous ? previous.buf : new Uint8Array(maxLen);
        previous = newest;
        newest = { buf: buf, len: len, crc: sentCrc, at: host.clock.uptime(), t: undefined };
        if (pending) {
          const t = check(newest);
          if (t) finish(undefined, copyValues(t.values));
        }
        return give;
      }
      const t = acceptTelegram(buf, len, sentCrc, policy, c);
      if (!t) return;
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
    }

    const framer = createP1Framer(maxLen, onFrame);

    function answerNow(done: (e: Error | undefined, values?: SourceValue[]) => void): void {
      const now = host.clock.uptime();
      if (!lazy) {
        if (!last) {
          d.noData++;
          return done(err('E_DSMR_NO_DATA', where + ': no valid telegram received yet'));
        }
        if (now - lastAt > maxAge) {
          d.stale++;
          return done(err('E_DSMR_STALE', where + ': newest valid telegram is ' + Math.round(now - lastAt) + ' ms old (maxAgeMs ' + maxAge + ')'));
        }
        return done(undefined, copyValues(last.values));
      }
      if (!newest) {
        d.noData++;
        return done(err('E_DSMR_NO_DATA', where + ': no telegram received yet'));
      }
      const slots = previous ? [newest, previous] : [newest];
      let fresh = 0;
      for (let i = 0; i < slots.length; i++) {
        if (now - slots[i].at > maxAge) continue;
        fresh++;
        const t = check(slots[i]);
        if (t) return done(undefined, copyValues(t.values));
      }
      if (!fresh) {
        d.stale++;
        return done(err('E_DSMR_STALE', where + ': newest telegram is ' + Math.round(now - newest.at) + ' ms old (maxAgeMs ' + maxAge + ')'));
      }
      d.invalid++;
      done(err('E_DSMR_INVALID', where + ': the newest telegrams failed their check (see crcErrors, decodeErrors, noCrcRejected)'));
    }

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
        if (chunk) framer.push(chunk);
      },
      onError() {
        framer.reset();
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
        if (!perRead) return answerNow(done);
        // Wait for a telegram that starts after this request.
        pending = done;
        framer.reset();
        if (out) out.write(1);
        timer = host.timers.setTimeout(function () {
          timer = undefined;
          d.timeouts++;
          finish(err('E_DSMR_TIMEOUT', where + ': no valid telegram within ' + readTimeout + ' ms'));
        }, readTimeout);
      },
      stats() {
        const f = framer.stats();
        return {
          frames: f.frames,
          restarts: f.restarts,
          overflows: f.overflows,
          badEnds: f.badEnds,
          skippedBytes: f.skippedBytes,
          telegrams: c.telegrams,
          crcErrors: c.crcErrors,
          decodeErrors: c.decodeErrors,
          noCrcRejected: c.noCrcRejected,
          badValues: c.badValues,
          nonMonotonic: d.nonMonotonic,
          reads: d.reads,
          stale: d.stale,
          noData: d.noData,
          invalid: d.invalid,
          timeouts: d.timeouts,
          busy: d.busy,
        };
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
