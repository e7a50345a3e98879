// BME280 / BMP280 driver in forced mode: every read writes ctrl_hum, config and ctrl_meas
// (forced), waits the datasheet's maximum measurement time, checks the status register, reads
// the data burst and compensates it. The protocol has no checksum, so what guards a reading is:
// the chip id read back before every measurement (a floating or shorted bus reads 0xFF / 0x00),
// a calibration that a real part can have, the "skipped" register value (0x80000 / 0x8000: no
// measurement happened), the datasheet's operating range (-40..85 Cel, 300..1100 hPa), and the
// optional stuck-value check. The calibration is read twice and must match.
import type { Host, I2C, TimerHandle } from '../../host.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { err } from '../../util/errors.js';
import { BME280_SCHEMA } from './schema.js';
import {
  BME280_REG_ID,
  BME280_CHIP_ID,
  BMP280_CHIP_ID,
  BME280_REG_RESET,
  BME280_RESET_WORD,
  BME280_STARTUP_MS,
  BME280_REG_CALIB1,
  BME280_CALIB1_LEN,
  BME280_REG_CALIB2,
  BME280_CALIB2_LEN,
  BME280_REG_CTRL_HUM,
  BME280_REG_STATUS,
  BME280_STATUS_MEASURING,
  BME280_STATUS_IM_UPDATE,
  BME280_REG_CTRL_MEAS,
  BME280_MODE_FORCED,
  BME280_REG_CONFIG,
  BME280_REG_DATA,
  BME280_DATA_LEN,
  BMP280_DATA_LEN,
  BME280_SKIPPED_20BIT,
  BME280_SKIPPED_16BIT,
  BME280_T_MIN,
  BME280_T_MAX,
  BME280_P_MIN,
  BME280_P_MAX,
  bme280ParseCalib,
  bme280DecodeData,
  bme280Temperature,
  bme280Pressure,
  bme280Humidity,
  bme280OsrsCode,
  bme280FilterCode,
  bme280MeasureMaxMs,
  type Bme280Calib,
} from './decoder.js';

/** Reported values are rounded to 0.01 of their unit (below the sensor's resolution). */
const ROUND = 100;

export interface Bme280Stats {
  [name: string]: number;
  reads: number;
  ok: number;
  /** No acknowledge: device missing, unpowered, wrong address. */
  nack: number;
  /** Chip id other than 0x60 / 0x58 (another device at the address, or a dead bus). */
  badId: number;
  /** Calibration readout no real part has, or two readouts that differ. */
  badCalib: number;
  /** Still measuring after the maximum time and every poll. */
  notReady: number;
  /** The data registers held the "skipped" value: no measurement took place. */
  noData: number;
  /** Compensated value outside the datasheet's operating range. */
  range: number;
  /** Readings rejected by the stuck-value check. */
  stuck: number;
  /** Soft resets and calibration reads (at start and after the device was lost). */
  inits: number;
}

function round(x: number): number {
  return Math.round(x * ROUND) / ROUND + 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function factor(s: unknown): number {
  return parseInt(s as string, 10) || 0;
}

function createBme280(host: Host, id: string, intervalMs: number, c: { [k: string]: unknown }): Source {
  if (!host.io || !host.io.i2c) throw err('E_NO_IO', 'bme280 "' + id + '": this host has no I2C');
  const address = c.address as number;
  const osT = factor(c.temperatureOversampling);
  const osP = factor(c.pressureOversampling);
  const osH = factor(c.humidityOversampling);
  const ctrlHum = bme280OsrsCode(osH);
  const ctrlMeas = (bme280OsrsCode(osT) << 5) | (bme280OsrsCode(osP) << 2) | BME280_MODE_FORCED;
  const config = bme280FilterCode(c.iirFilter === 'off' ? 0 : factor(c.iirFilter)) << 2;
  const pollMs = c.pollMs as number;
  const maxPolls = c.maxPolls as number;
  const stuckReads = c.stuckReads as number;
  const i2c: I2C = host.io.i2c({ bus: c.bus as string, sda: c.sda as string | undefined, scl: c.scl as string | undefined, hz: c.hz as number, address: address });
  const where = 'bme280 "' + id + '" at 0x' + address.toString(16);
  const stats: Bme280Stats = { reads: 0, ok: 0, nack: 0, badId: 0, badCalib: 0, notReady: 0, noData: 0, range: 0, stuck: 0, inits: 0 };
  let calib: Bme280Calib | undefined;
  let humidity = false;
  let busy = false;
  let stopped = false;
  let timer: TimerHandle | undefined;
  const last = new Uint8Array(BME280_DATA_LEN);
  let lastLen = 0;
  let same = 0;

  function later(ms: number, fn: () => void): void {
    timer = host.timers.setTimeout(function () {
      timer = undefined;
      if (!stopped) fn();
    }, ms);
  }

  function readReg(reg: number, n: number): Uint8Array {
    i2c.write(new Uint8Array([reg]));
    return i2c.read(n);
  }

  function writeReg(reg: number, v: number): void {
    i2c.write(new Uint8Array([reg, v]));
  }

  /** The chip id as a check of the bus; throws E_NO_DEVICE / E_CHIP_ID. Sets `humidity`. */
  function checkId(): void {
    let idb: Uint8Array;
    try {
      idb = readReg(BME280_REG_ID, 1);
    } catch (e) {
      stats.nack++;
      calib = undefined;
      throw err('E_NO_DEVICE', where + ': no acknowledge (' + ((e as Error).message || String(e)) + ')');
    }
    if (idb[0] !== BME280_CHIP_ID && idb[0] !== BMP280_CHIP_ID) {
      stats.badId++;
      calib = undefined;
      throw err('E_CHIP_ID', where + ': chip id expected 0x60 (BME280) or 0x58 (BMP280), got 0x' + idb[0].toString(16));
    }
    const hum = idb[0] === BME280_CHIP_ID;
    if (calib && hum !== humidity) calib = undefined; // another part answers now: start over
    humidity = hum;
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
    function lost(e: unknown): void {
      stats.nack++;
      calib = undefined;
      finish(err('E_NO_DEVICE', where + ': no acknowledge (' + ((e as Error).message || String(e)) + ')'));
    }
    // Reset, then wait for the NVM copy (im_update) before reading the trimming parameters.
    function init(): void {
      try {
        writeReg(BME280_REG_RESET, BME280_RESET_WORD);
      } catch (e) {
        return lost(e);
      }
      stats.inits++;
      later(BME280_STARTUP_MS, function () {
        loadCalib(maxPolls);
      });
    }
    function loadCalib(left: number): void {
      let c1: Uint8Array;
      let c2: Uint8Array | undefined;
      let same: boolean;
      try {
        if (readReg(BME280_REG_STATUS, 1)[0] & BME280_STATUS_IM_UPDATE) {
          if (left > 0) return later(pollMs, function () {
            loadCalib(left - 1);
          });
          stats.notReady++;
          return finish(err('E_NOT_READY', where + ': still copying its calibration after reset'));
        }
        // Read twice: with no checksum, a bit flipped while reading the calibration would bias
        // every later reading, so only two identical readouts are trusted.
        c1 = readReg(BME280_REG_CALIB1, BME280_CALIB1_LEN);
        if (humidity) c2 = readReg(BME280_REG_CALIB2, BME280_CALIB2_LEN);
        same = sameBytes(c1, readReg(BME280_REG_CALIB1, BME280_CALIB1_LEN)) && (!c2 || sameBytes(c2, readReg(BME280_REG_CALIB2, BME280_CALIB2_LEN)));
      } catch (e) {
        return lost(e);
      }
      const cal = same ? bme280ParseCalib(c1, c2) : undefined;
      if (!cal) {
        stats.badCalib++;
        return finish(
          err('E_CALIBRATION', where + ': calibration ' + (same ? 'readout is not plausible (dig_T1 or dig_P1 is 0 or 0xFFFF)' : 'read twice differed (bus noise)')),
        );
      }
      calib = cal;
      measure();
    }
    function measure(): void {
      try {
        // ctrl_hum takes effect with the following ctrl_meas write (5.4.3); config only in sleep mode.
        if (humidity) writeReg(BME280_REG_CTRL_HUM, ctrlHum);
        writeReg(BME280_REG_CONFIG, config);
        writeReg(BME280_REG_CTRL_MEAS, ctrlMeas);
      } catch (e) {
        return lost(e);
      }
      later(Math.ceil(bme280MeasureMaxMs(osT, osP, humidity ? osH : 0)), function () {
        collect(maxPolls);
      });
    }
    function collect(left: number): void {
      let b: Uint8Array;
      try {
        if (readReg(BME280_REG_STATUS, 1)[0] & BME280_STATUS_MEASURING) {
          if (left > 0) return later(pollMs, function () {
            collect(left - 1);
          });
          stats.notReady++;
          return finish(err('E_NOT_READY', where + ': still measuring after ' + maxPolls + ' polls'));
        }
        b = readReg(BME280_REG_DATA, humidity ? BME280_DATA_LEN : BMP280_DATA_LEN);
      } catch (e) {
        return lost(e);
      }
      const raw = bme280DecodeData(b);
      const cal = calib as Bme280Calib;
      if (!raw || raw.adcT === BME280_SKIPPED_20BIT || raw.adcP === BME280_SKIPPED_20BIT || (humidity && raw.adcH === BME280_SKIPPED_16BIT)) {
        stats.noData++;
        return finish(err('E_NO_DATA', where + ': data registers hold the "skipped" value (no measurement was made)'));
      }
      const tt = bme280Temperature(cal, raw.adcT);
      const p = bme280Pressure(cal, raw.adcP, tt.tFine);
      if (!(tt.t >= BME280_T_MIN && tt.t <= BME280_T_MAX && p >= BME280_P_MIN && p <= BME280_P_MAX)) {
        stats.range++;
        return finish(err('E_RANGE', where + ': ' + round(tt.t) + ' Cel / ' + round(p) + ' Pa is outside the operating range -40..85 Cel, 30000..110000 Pa'));
      }
      let equal = lastLen === b.length;
      for (let i = 0; equal && i < b.length; i++) equal = last[i] === b[i];
      if (equal) same++;
      else {
        same = 1;
        last.set(b);
        lastLen = b.length;
      }
      if (stuckReads > 0 && same >= stuckReads) {
        stats.stuck++;
        return finish(err('E_STUCK', where + ': the same raw data ' + same + ' times in a row'));
      }
      const values: SourceValue[] = [
        { n: 't', u: 'Cel', v: round(tt.t) },
        { n: 'pres', u: 'Pa', v: round(p) },
      ];
      if (humidity) values.push({ n: 'rh', u: '%RH', v: round(bme280Humidity(cal, raw.adcH as number, tt.tFine)) });
      stats.ok++;
      finish(undefined, values);
    }
    try {
      checkId();
    } catch (e) {
      return finish(e as Error);
    }
    if (calib) measure();
    else init();
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

export const bme280Source: SourceComponent = {
  type: 'bme280',
  doc: 'Bosch BME280 temperature, pressure and humidity sensor (BMP280: no humidity), I2C, forced mode',
  schema: BME280_SCHEMA,
  defaultIntervalMs: 60000,
  create: createBme280,
};
