// A simulated Bosch BME280 / BMP280 on the simulated I2C bus: the register map of
// BST-BME280-DS002 §5 (id, reset, calibration NVM, ctrl_hum, status, ctrl_meas, config, data),
// forced mode with the typical measurement time (§9.1), resolution by oversampling (16 + osrs-1
// bits for T and P, §3.4.1) and the "skipped" reset values. Raw ADC words are found by
// inverting the datasheet's INTEGER compensation (§4.2.3, int32 / int64, here in BigInt), an
// implementation independent of the driver's double formulas. Faults: missing device, wrong
// chip id, dead calibration, a part that never measures, one that measures forever, stuck
// raw value, and a hook to corrupt any read.
import type { I2CDevice } from '../io/i2c-bus.js';
import { err } from '../../firmware/core/util/errors.js';

/** Trimming parameters of a real BME280 (0x88..0x9F, 0xA1, 0xE1..0xE7), posted on the Bosch
 * Sensortec community forum ("BME280 Data to test Calculations", 2019). */
export const FORUM_CALIB1 = new Uint8Array([
  0x6c, 0x6e, 0x77, 0x66, 0x32, 0x00, 0xa8, 0x92, 0x27, 0xd5, 0xd0, 0x0b, 0x6f, 0x18, 0xca, 0xff, 0xf9, 0xff, 0xac, 0x26, 0x0a, 0xd8,
  0xbd, 0x10, 0x00, 0x4b,
]);
export const FORUM_CALIB2 = new Uint8Array([0x65, 0x01, 0x00, 0x14, 0x0b, 0x00, 0x1e]);

export interface IntCalib {
  T: bigint[];
  P: bigint[];
  H: bigint[];
}

const s16 = (b: Uint8Array, o: number) => BigInt(((b[o] | (b[o + 1] << 8)) << 16) >> 16);
const u16 = (b: Uint8Array, o: number) => BigInt(b[o] | (b[o + 1] << 8));
const s8 = (v: number) => BigInt((v << 24) >> 24);

/** The sim's own reading of Table 16 (independent of the driver's parser). */
export function intCalib(c1: Uint8Array, c2: Uint8Array): IntCalib {
  return {
    T: [u16(c1, 0), s16(c1, 2), s16(c1, 4)],
    P: [u16(c1, 6), s16(c1, 8), s16(c1, 10), s16(c1, 12), s16(c1, 14), s16(c1, 16), s16(c1, 18), s16(c1, 20), s16(c1, 22)],
    H: [BigInt(c1[25]), s16(c2, 0), BigInt(c2[2]), s8(c2[3]) * 16n + BigInt(c2[4] & 15), s8(c2[5]) * 16n + BigInt(c2[4] >> 4), s8(c2[6])],
  };
}

/** §4.2.3 BME280_compensate_T_int32: t_fine and T in 0.01 Cel. */
export function intTemperature(c: IntCalib, adcT: number): { tFine: bigint; t100: bigint } {
  const [T1, T2, T3] = c.T;
  const a = BigInt(adcT);
  const var1 = ((((a >> 3n) - (T1 << 1n))) * T2) >> 11n;
  const d = (a >> 4n) - T1;
  const var2 = (((d * d) >> 12n) * T3) >> 14n;
  const tFine = var1 + var2;
  return { tFine, t100: (tFine * 5n + 128n) >> 8n };
}

/** C division of signed 64-bit integers truncates toward zero, as BigInt's does. */
/** §4.2.3 BME280_compensate_P_int64: pressure in Pa as Q24.8. */
export function intPressure(c: IntCalib, adcP: number, tFine: bigint): bigint {
  const [P1, P2, P3, P4, P5, P6, P7, P8, P9] = c.P;
  let var1 = tFine - 128000n;
  let var2 = var1 * var1 * P6;
  var2 = var2 + ((var1 * P5) << 17n);
  var2 = var2 + (P4 << 35n);
  var1 = ((var1 * var1 * P3) >> 8n) + ((var1 * P2) << 12n);
  var1 = (((1n << 47n) + var1) * P1) >> 33n;
  if (var1 === 0n) return 0n;
  let p = 1048576n - BigInt(adcP);
  p = (((p << 31n) - var2) * 3125n) / var1;
  var1 = (P9 * (p >> 13n) * (p >> 13n)) >> 25n;
  var2 = (P8 * p) >> 19n;
  return ((p + var1 + var2) >> 8n) + (P7 << 4n);
}

/** §4.2.3 bme280_compensate_H_int32: humidity in %RH as Q22.10. */
export function intHumidity(c: IntCalib, adcH: number, tFine: bigint): bigint {
  const [H1, H2, H3, H4, H5, H6] = c.H;
  let v = tFine - 76800n;
  v =
    (((BigInt(adcH) << 14n) - (H4 << 20n) - H5 * v + 16384n) >> 15n) *
    (((((((v * H6) >> 10n) * (((v * H3) >> 11n) + 32768n)) >> 10n) + 2097152n) * H2 + 8192n) >> 14n);
  v = v - ((((v >> 15n) * (v >> 15n)) >> 7n) * H1 >> 4n);
  if (v < 0n) v = 0n;
  if (v > 419430400n) v = 419430400n;
  return v >> 12n;
}

/** Smallest x in [lo, hi] with f(x) >= target for increasing f (or <= for decreasing), then the nearer neighbour. */
function invert(f: (x: number) => number, target: number, lo: number, hi: number): number {
  const inc = f(hi) >= f(lo);
  let a = lo;
  let b = hi;
  while (a < b) {
    const m = Math.floor((a + b) / 2);
    if (inc ? f(m) >= target : f(m) <= target) b = m;
    else a = m + 1;
  }
  if (a > lo && Math.abs(f(a - 1) - target) <= Math.abs(f(a) - target)) return a - 1;
  return a;
}

export interface Bme280Faults {
  missing?: boolean;
  /** Chip id to report instead of the real one. */
  chipId?: number;
  /** Calibration NVM reads as all zeros. */
  deadCalib?: boolean;
  /** Forced-mode writes are ignored: data registers keep their reset ("skipped") values. */
  neverMeasures?: boolean;
  /** The measuring bit never clears. */
  busyForever?: boolean;
  /** The data registers keep the first raw values while this is on. */
  stuck?: boolean;
  /** Called with (first register, bytes) of every read; may change the bytes. */
  mutate?: (reg: number, bytes: Uint8Array) => void;
}

const OSRS = [0, 1, 2, 4, 8, 16, 16, 16];

export class Bme280Sim implements I2CDevice {
  temperature = 21.5;
  /** Pa */
  pressure = 101325;
  humidity = 45;
  faults: Bme280Faults = {};
  readonly chipId: number;
  readonly calib1: Uint8Array;
  readonly calib2: Uint8Array;
  readonly cal: IntCalib;
  /** Writes seen, as [register, value] pairs. */
  readonly writes: [number, number][] = [];
  measurements = 0;
  private readonly now: () => number;
  private readonly regs = new Uint8Array(256);
  private ptr = 0;
  private doneAt = -1;
  private nvmUntil = 0;
  private pending: Uint8Array | undefined;
  private frozen: Uint8Array | undefined;

  constructor(now: () => number, o: { chipId?: number; calib1?: Uint8Array; calib2?: Uint8Array } = {}) {
    this.now = now;
    this.chipId = o.chipId ?? 0x60;
    this.calib1 = o.calib1 ?? FORUM_CALIB1;
    this.calib2 = o.calib2 ?? FORUM_CALIB2;
    this.cal = intCalib(this.calib1, this.calib2);
    this.powerOn();
  }

  private powerOn(): void {
    this.regs.fill(0);
    this.regs.set(this.calib1, 0x88);
    if (this.chipId === 0x60) this.regs.set(this.calib2, 0xe1);
    this.regs[0xd0] = this.chipId;
    // §5.4.7-5.4.9 reset values: 0x80000 (T, P), 0x8000 (H)
    this.regs.set([0x80, 0, 0, 0x80, 0, 0, 0x80, 0], 0xf7);
    this.nvmUntil = this.now() + 0.5;
    this.doneAt = -1;
  }

  private nack(what: string): never {
    throw err('E_I2C_NACK', 'BME280 NACK: ' + what);
  }

  /** Ideal raw words for the current truth at `bits` resolution (T, P) and 16 bits (H). */
  rawFor(bitsT: number, bitsP: number): { adcT: number; adcP: number; adcH: number } {
    const c = this.cal;
    const quant = (x: number, bits: number) => {
      const step = 1 << (20 - bits);
      return Math.min(0xfffff, Math.round(x / step) * step);
    };
    const adcT = quant(invert((a) => Number(intTemperature(c, a).tFine) / 5120, this.temperature, 0, 0xfffff), bitsT);
    const tFine = intTemperature(c, adcT).tFine;
    const adcP = quant(invert((a) => Number(intPressure(c, a, tFine)) / 256, this.pressure, 0, 0xfffff), bitsP);
    const adcH = invert((a) => Number(intHumidity(c, a, tFine)) / 1024, this.humidity, 0, 0xffff);
    return { adcT, adcP, adcH };
  }

  private tick(): void {
    if (this.doneAt >= 0 && this.now() >= this.doneAt && !this.faults.busyForever) {
      this.doneAt = -1;
      if (this.pending) this.regs.set(this.pending, 0xf7);
      this.pending = undefined;
      this.regs[0xf4] &= ~3; // back to sleep mode (§3.3.3)
    }
  }

  private startMeasurement(): void {
    const osT = OSRS[this.regs[0xf4] >> 5];
    const osP = OSRS[(this.regs[0xf4] >> 2) & 7];
    const osH = this.chipId === 0x60 ? OSRS[this.regs[0xf2] & 7] : 0;
    const r = this.rawFor(16 + Math.max(0, Math.log2(osT || 1)), 16 + Math.max(0, Math.log2(osP || 1)));
    const adcT = osT ? r.adcT : 0x80000;
    const adcP = osP ? r.adcP : 0x80000;
    const adcH = osH ? r.adcH : 0x8000;
    let d: Uint8Array = new Uint8Array([adcP >> 12, (adcP >> 4) & 255, (adcP & 15) << 4, adcT >> 12, (adcT >> 4) & 255, (adcT & 15) << 4, adcH >> 8, adcH & 255]);
    if (this.faults.stuck) d = this.frozen ?? (this.frozen = d);
    else this.frozen = undefined;
    this.pending = d;
    this.measurements++;
    // §9.1 typical: 1 + 2*osrs_t + (2*osrs_p + 0.5) + (2*osrs_h + 0.5) ms
    this.doneAt = this.now() + 1 + 2 * osT + (osP ? 2 * osP + 0.5 : 0) + (osH ? 2 * osH + 0.5 : 0);
  }

  write(data: Uint8Array): void {
    if (this.faults.missing) this.nack('absent');
    this.tick();
    if (data.length === 0) return;
    this.ptr = data[0];
    // A write is pairs of (register, value) (§6.2.1); a lone byte only sets the read pointer.
    for (let i = 0; i + 1 < data.length; i += 2) {
      const reg = data[i];
      const v = data[i + 1];
      this.writes.push([reg, v]);
      if (reg === 0xe0) {
        if (v === 0xb6) this.powerOn();
      } else if (reg === 0xf2 || reg === 0xf5) this.regs[reg] = v;
      else if (reg === 0xf4) {
        this.regs[reg] = v;
        if ((v & 3) === 1 || (v & 3) === 2) {
          if (!this.faults.neverMeasures) this.startMeasurement();
        }
      }
    }
  }

  read(count: number): Uint8Array {
    if (this.faults.missing) this.nack('absent');
    this.tick();
    const first = this.ptr;
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const reg = (this.ptr + i) & 255;
      let v = this.regs[reg];
      if (reg === 0xf3) v = (this.doneAt >= 0 ? 0x08 : 0) | (this.now() < this.nvmUntil ? 0x01 : 0);
      if (reg === 0xd0 && this.faults.chipId !== undefined) v = this.faults.chipId;
      if (this.faults.deadCalib && ((reg >= 0x88 && reg <= 0xa1) || (reg >= 0xe1 && reg <= 0xe7))) v = 0;
      out[i] = v;
    }
    this.ptr = (this.ptr + count) & 255;
    this.faults.mutate?.(first, out);
    return out;
  }
}
