// SHT3x-DIS driver: one single-shot measurement per read (no clock stretching), the read-out
// checked by its CRCs, then Cel and %RH. Soft reset before the first measurement (and again
// after the device went missing), so a sensor left in periodic mode by other firmware answers.
import type { Host, I2C, TimerHandle } from '../../host.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { err } from '../../util/errors.js';
import { SHT31_SCHEMA } from './schema.js';
import {
  SHT31_CMD_SINGLE_HIGH,
  SHT31_CMD_SINGLE_MEDIUM,
  SHT31_CMD_SINGLE_LOW,
  SHT31_CMD_SOFT_RESET,
  SHT31_SOFT_RESET_MS,
  SHT31_MEASURE_MS_HIGH,
  SHT31_MEASURE_MS_MEDIUM,
  SHT31_MEASURE_MS_LOW,
  SHT31_READ_LEN,
  sht31Command,
  sht31Decode,
} from './decoder.js';

/** Reported values are rounded to 0.01 of their unit (the sensor resolves 0.015 Cel, 0.01 %RH). */
const ROUND = 100;

export interface Sht31Stats {
  [name: string]: number;
  /** read() calls, and readings delivered. */
  reads: number;
  ok: number;
  /** The device did not acknowledge a command (missing, unpowered, wrong address). */
  nack: number;
  /** Read-outs with a wrong CRC. */
  crc: number;
  /** The read-out was still NACKed after every retry. */
  notReady: number;
  /** Readings rejected by the stuck-value check. */
  stuck: number;
  /** Soft resets sent. */
  resets: number;
}

function round(x: number): number {
  // + 0 turns -0 into 0 (a -0.001 Cel reading would otherwise encode as a negative zero).
  return Math.round(x * ROUND) / ROUND + 0;
}

function createSht31(host: Host, id: string, intervalMs: number, c: { [k: string]: unknown }): Source {
  if (!host.io || !host.io.i2c) throw err('E_NO_IO', 'sht31 "' + id + '": this host has no I2C');
  const address = c.address as number;
  const rep = c.repeatability as string;
  const cmd = sht31Command(rep === 'low' ? SHT31_CMD_SINGLE_LOW : rep === 'medium' ? SHT31_CMD_SINGLE_MEDIUM : SHT31_CMD_SINGLE_HIGH);
  const measureMs = rep === 'low' ? SHT31_MEASURE_MS_LOW : rep === 'medium' ? SHT31_MEASURE_MS_MEDIUM : SHT31_MEASURE_MS_HIGH;
  const readRetries = c.readRetries as number;
  const retryMs = c.retryMs as number;
  const stuckReads = c.stuckReads as number;
  const i2c: I2C = host.io.i2c({ bus: c.bus as string, sda: c.sda as string | undefined, scl: c.scl as string | undefined, hz: c.hz as number, address: address });
  const where = 'sht31 "' + id + '" at 0x' + address.toString(16);
  const stats: Sht31Stats = { reads: 0, ok: 0, nack: 0, crc: 0, notReady: 0, stuck: 0, resets: 0 };
  let initialised = false;
  let busy = false;
  let stopped = false;
  let timer: TimerHandle | undefined;
  let lastT = -1;
  let lastRH = -1;
  let same = 0;

  function later(ms: number, fn: () => void): void {
    timer = host.timers.setTimeout(function () {
      timer = undefined;
      if (!stopped) fn();
    }, ms);
  }

  function read(done: (e: Error | undefined, values?: SourceValue[]) => void): void {
    if (busy) {
      done(err('E_BUSY', where + ': a read is still running'));
      return;
    }
    busy = true;
    stats.reads++;
    function finish(e: Error | undefined, values?: SourceValue[]): void {
      busy = false;
      if (!stopped) done(e, values);
    }
    function missing(e: unknown): void {
      stats.nack++;
      initialised = false;
      finish(err('E_NO_DEVICE', where + ': no acknowledge (' + ((e as Error).message || String(e)) + ')'));
    }
    function measure(): void {
      try {
        i2c.write(cmd);
      } catch (e) {
        return missing(e);
      }
      later(measureMs, function () {
        fetch(readRetries);
      });
    }
    function fetch(left: number): void {
      let b: Uint8Array;
      try {
        b = i2c.read(SHT31_READ_LEN);
      } catch (e) {
        if (left > 0) return later(retryMs, function () {
          fetch(left - 1);
        });
        stats.notReady++;
        return finish(err('E_NOT_READY', where + ': read-out still not acknowledged after ' + (readRetries + 1) + ' attempts'));
      }
      const r = sht31Decode(b);
      if (!r) {
        stats.crc++;
        return finish(err('E_CRC', where + ': read-out failed its CRC-8 check'));
      }
      if (r.rawT === lastT && r.rawRH === lastRH) same++;
      else {
        same = 1;
        lastT = r.rawT;
        lastRH = r.rawRH;
      }
      if (stuckReads > 0 && same >= stuckReads) {
        stats.stuck++;
        return finish(err('E_STUCK', where + ': the same raw read-out ' + same + ' times in a row'));
      }
      stats.ok++;
      finish(undefined, [
        { n: 't', u: 'Cel', v: round(r.t) },
        { n: 'rh', u: '%RH', v: round(r.rh) },
      ]);
    }
    if (initialised) return measure();
    try {
      i2c.write(sht31Command(SHT31_CMD_SOFT_RESET));
    } catch (e) {
      return missing(e);
    }
    stats.resets++;
    initialised = true;
    later(SHT31_SOFT_RESET_MS, measure);
  }

  return {
    id: id,
    intervalMs: intervalMs,
    read: read,
    stats: function () {
      return stats;
    },
    stop: function () {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) host.timers.clearTimeout(timer);
      i2c.close();
    },
  };
}

export const sht31Source: SourceComponent = {
  type: 'sht31',
  doc: 'Sensirion SHT3x-DIS temperature and humidity sensor (I2C, single-shot, CRC-checked)',
  schema: SHT31_SCHEMA,
  defaultIntervalMs: 60000,
  create: createSht31,
};
