// Bosch BME280 (and BMP280) register protocol and compensation. Pure: no IO, no timers. The
// sensor is read in fixed register blocks, so "frames" here are the calibration blocks and the
// 8-byte (BMP280: 6-byte) burst read of the data registers.
// References: Bosch BST-BME280-DS002 (rev 1.6): §3.3 forced mode, §4.2.2 Table 16 (trimming
// parameters), §4.2.3 (integer compensation), §5.3-5.4 (memory map, registers), §8.1 (double
// precision compensation), §9.1 (measurement time). BMP280: BST-BMP280-DS001 §3.11.3 example.
//
// Precision. The device has no 64-bit integers (Espruino numbers are IEEE doubles), so this uses
// the datasheet's double-precision formulas (§8.1), computed exactly as written: every
// intermediate of the temperature and humidity formulas is far below 2^53, and the pressure
// formula's largest terms (~1e14) keep a relative rounding error near 1e-16 each. Measured
// against the 64-bit integer formula (§4.2.3) over the sensor's range, the double result is
// within 0.5 Pa of it (the integer one truncates at several steps and returns 1/256 Pa units);
// temperature matches the int32 result (0.01 Cel steps) within 0.01 Cel and humidity the int32
// result (1/1024 %RH steps) within 0.01 %RH (test/sources/bme280.test.ts measures these: 0.49 Pa,
// 0.0075 Cel, 0.0063 %RH over 5,000 samples). The ADC itself resolves 0.16..2.6 Pa.
// Espruino computes the same IEEE double operations, so the device matches Node bit for bit.

// ---------------------------------------------------------------------------------------------
// Constants (§5.3 memory map, §5.4 registers)

/** 7-bit I2C addresses: SDO to GND 0x76, to VDDIO 0x77 (§6.2). */
export const BME280_ADDR_LOW = 0x76;
export const BME280_ADDR_HIGH = 0x77;
export const BME280_REG_ID = 0xd0;
/** Chip ids (§5.4.1): BME280 0x60; BMP280 (pressure + temperature only) 0x58. */
export const BME280_CHIP_ID = 0x60;
export const BMP280_CHIP_ID = 0x58;
/** Writing 0xB6 to 0xE0 resets the device (§5.4.2); start-up takes 2 ms (Table 1, t_startup). */
export const BME280_REG_RESET = 0xe0;
export const BME280_RESET_WORD = 0xb6;
export const BME280_STARTUP_MS = 2;
/** Calibration blocks (§4.2.2): 0x88..0xA1 (26 bytes, 0xA0 unused) and 0xE1..0xE7 (7 bytes). */
export const BME280_REG_CALIB1 = 0x88;
export const BME280_CALIB1_LEN = 26;
export const BME280_REG_CALIB2 = 0xe1;
export const BME280_CALIB2_LEN = 7;
/** ctrl_hum (§5.4.3): osrs_h [2:0]; takes effect only after the next ctrl_meas write. */
export const BME280_REG_CTRL_HUM = 0xf2;
/** status (§5.4.4): measuring [3], im_update [0]. */
export const BME280_REG_STATUS = 0xf3;
export const BME280_STATUS_MEASURING = 0x08;
export const BME280_STATUS_IM_UPDATE = 0x01;
/** ctrl_meas (§5.4.5): osrs_t [7:5], osrs_p [4:2], mode [1:0] (00 sleep, 01/10 forced, 11 normal). */
export const BME280_REG_CTRL_MEAS = 0xf4;
export const BME280_MODE_FORCED = 0x01;
/** config (§5.4.6): t_sb [7:5], filter [4:2], spi3w_en [0]; written in sleep mode only. */
export const BME280_REG_CONFIG = 0xf5;
/** Data burst (§3.9, §5.4.7-5.4.9): press 0xF7..0xF9, temp 0xFA..0xFC, hum 0xFD..0xFE. */
export const BME280_REG_DATA = 0xf7;
export const BME280_DATA_LEN = 8;
export const BMP280_DATA_LEN = 6;
/** Register value when a measurement was skipped (osrs = 0) or none was made since reset (§5.4.7-9). */
export const BME280_SKIPPED_20BIT = 0x80000;
export const BME280_SKIPPED_16BIT = 0x8000;
/** Oversampling register codes 1..5 mean x1, x2, x4, x8, x16 (Tables 20-23). */
export const BME280_OVERSAMPLING = [1, 2, 4, 8, 16];
/** IIR filter register codes 0..4 mean off, 2, 4, 8, 16 (Table 28). */
export const BME280_FILTER = [0, 2, 4, 8, 16];
/** Operating range (§1, Table 1): -40..85 Cel, 300..1100 hPa; humidity 0..100 %RH. */
export const BME280_T_MIN = -40;
export const BME280_T_MAX = 85;
export const BME280_P_MIN = 30000;
export const BME280_P_MAX = 110000;

// ---------------------------------------------------------------------------------------------
// Calibration (Table 16)

export interface Bme280Calib {
  T1: number; T2: number; T3: number;
  P1: number; P2: number; P3: number; P4: number; P5: number; P6: number; P7: number; P8: number; P9: number;
  /** Humidity words; undefined on a BMP280. */
  H1?: number; H2?: number; H3?: number; H4?: number; H5?: number; H6?: number;
}

function u16le(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function s16le(b: Uint8Array, o: number): number {
  const v = b[o] | (b[o + 1] << 8);
  return v > 32767 ? v - 65536 : v;
}

function s8(v: number): number {
  return v > 127 ? v - 256 : v;
}

/**
 * Parses the trimming parameters: `c1` = 26 bytes from 0x88, `c2` = 7 bytes from 0xE1 (omit for
 * a BMP280). dig_H4 and dig_H5 share 0xE5: H4 = 0xE4 [11:4] and 0xE5 [3:0]; H5 = 0xE6 [11:4]
 * and 0xE5 [7:4]; both signed 12-bit, the high byte carrying the sign (as Bosch's reference
 * driver reads them). Returns undefined for a readout no real part has: dig_T1 or dig_P1 zero
 * or 0xFFFF (all-zero / all-ones bus; P1 = 0 would also divide by zero), so a dead bus never
 * becomes a calibration.
 */
export function bme280ParseCalib(c1: Uint8Array, c2?: Uint8Array): Bme280Calib | undefined {
  if (!(c1 instanceof Uint8Array) || c1.length !== BME280_CALIB1_LEN) return undefined;
  if (c2 !== undefined && (!(c2 instanceof Uint8Array) || c2.length !== BME280_CALIB2_LEN)) return undefined;
  const c: Bme280Calib = {
    T1: u16le(c1, 0), T2: s16le(c1, 2), T3: s16le(c1, 4),
    P1: u16le(c1, 6), P2: s16le(c1, 8), P3: s16le(c1, 10), P4: s16le(c1, 12), P5: s16le(c1, 14),
    P6: s16le(c1, 16), P7: s16le(c1, 18), P8: s16le(c1, 20), P9: s16le(c1, 22),
  };
  if (c.T1 === 0 || c.T1 === 0xffff || c.P1 === 0 || c.P1 === 0xffff) return undefined;
  if (c2) {
    c.H1 = c1[25];
    c.H2 = s16le(c2, 0);
    c.H3 = c2[2];
    c.H4 = s8(c2[3]) * 16 + (c2[4] & 0x0f);
    c.H5 = s8(c2[5]) * 16 + (c2[4] >> 4);
    c.H6 = s8(c2[6]);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Raw data and compensation (§8.1, double precision)

export interface Bme280Raw {
  adcP: number;
  adcT: number;
  /** undefined for a 6-byte (BMP280) burst. */
  adcH?: number;
}

/** Splits the burst read from 0xF7 (8 bytes BME280, 6 bytes BMP280) into the ADC words. */
export function bme280DecodeData(b: Uint8Array): Bme280Raw | undefined {
  if (!(b instanceof Uint8Array) || (b.length !== BME280_DATA_LEN && b.length !== BMP280_DATA_LEN)) return undefined;
  const r: Bme280Raw = {
    adcP: (b[0] << 12) | (b[1] << 4) | (b[2] >> 4),
    adcT: (b[3] << 12) | (b[4] << 4) | (b[5] >> 4),
  };
  if (b.length === BME280_DATA_LEN) r.adcH = (b[6] << 8) | b[7];
  return r;
}

/** C's (int32) cast of a double: truncation toward zero (no Math.trunc on Espruino). */
function trunc(x: number): number {
  return x < 0 ? Math.ceil(x) : Math.floor(x);
}

/** Temperature in Cel and t_fine (the datasheet's BME280_S32_t t_fine, truncated). */
export function bme280Temperature(c: Bme280Calib, adcT: number): { t: number; tFine: number } {
  const a = adcT / 16384.0 - c.T1 / 1024.0;
  const var1 = a * c.T2;
  const b = adcT / 131072.0 - c.T1 / 8192.0;
  const var2 = b * b * c.T3;
  return { t: (var1 + var2) / 5120.0, tFine: trunc(var1 + var2) };
}

/** Pressure in Pa; 0 when the calibration would divide by zero (as the datasheet returns). */
export function bme280Pressure(c: Bme280Calib, adcP: number, tFine: number): number {
  let var1 = tFine / 2.0 - 64000.0;
  let var2 = (var1 * var1 * c.P6) / 32768.0;
  var2 = var2 + var1 * c.P5 * 2.0;
  var2 = var2 / 4.0 + c.P4 * 65536.0;
  var1 = ((c.P3 * var1 * var1) / 524288.0 + c.P2 * var1) / 524288.0;
  var1 = (1.0 + var1 / 32768.0) * c.P1;
  if (var1 === 0) return 0;
  let p = 1048576.0 - adcP;
  p = ((p - var2 / 4096.0) * 6250.0) / var1;
  var1 = (c.P9 * p * p) / 2147483648.0;
  var2 = (p * c.P8) / 32768.0;
  return p + (var1 + var2 + c.P7) / 16.0;
}

/** Relative humidity in %RH, clamped to 0..100 as the datasheet does. */
export function bme280Humidity(c: Bme280Calib, adcH: number, tFine: number): number {
  const H1 = c.H1 as number;
  const H2 = c.H2 as number;
  const H3 = c.H3 as number;
  const H4 = c.H4 as number;
  const H5 = c.H5 as number;
  const H6 = c.H6 as number;
  let h = tFine - 76800.0;
  h = (adcH - (H4 * 64.0 + (H5 / 16384.0) * h)) * ((H2 / 65536.0) * (1.0 + (H6 / 67108864.0) * h * (1.0 + (H3 / 67108864.0) * h)));
  h = h * (1.0 - (H1 * h) / 524288.0);
  if (h > 100.0) h = 100.0;
  else if (h < 0.0) h = 0.0;
  return h;
}

// ---------------------------------------------------------------------------------------------
// Settings

/** Register code (1..5) of an oversampling factor (1, 2, 4, 8, 16); 0 for anything else. */
export function bme280OsrsCode(factor: number): number {
  for (let i = 0; i < BME280_OVERSAMPLING.length; i++) if (BME280_OVERSAMPLING[i] === factor) return i + 1;
  return 0;
}

/** Register code (0..4) of an IIR filter coefficient (0 = off, 2, 4, 8, 16). */
export function bme280FilterCode(coef: number): number {
  for (let i = 0; i < BME280_FILTER.length; i++) if (BME280_FILTER[i] === coef) return i;
  return 0;
}

/**
 * Maximum forced-mode measurement time in ms (§9.1): 1.25 + 2.3 * osrs_t + (2.3 * osrs_p +
 * 0.575) + (2.3 * osrs_h + 0.575), a skipped measurement (factor 0) contributing nothing.
 */
export function bme280MeasureMaxMs(osT: number, osP: number, osH: number): number {
  // 0.575 as a quotient: Espruino parses the literal 0.575 as 0.5750000000000001
  const SETUP = 575 / 1000;
  let ms = 1.25 + 2.3 * osT;
  if (osP) ms += 2.3 * osP + SETUP;
  if (osH) ms += 2.3 * osH + SETUP;
  return ms;
}
