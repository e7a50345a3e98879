// Representative BME280 data bursts (with their calibration) for the lead's benchmark, and one
// decode: burst -> ADC words -> compensated T, P, RH (double formulas).
import { readFileSync } from 'node:fs';
import {
  bme280ParseCalib,
  bme280DecodeData,
  bme280Temperature,
  bme280Pressure,
  bme280Humidity,
  type Bme280Calib,
} from '../../firmware/core/sources/bme280/decoder.js';
import { hex } from './sensor-host.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/bme280.json', import.meta.url), 'utf8'));
const forum = V.compensation[1];
const CAL = bme280ParseCalib(hex(forum.calib1), hex(forum.calib2)) as Bme280Calib;

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  return [
    { label: 'bme280 burst (forum capture)', bytes: hex(forum.data) },
    { label: 'bme280 burst (cold, low pressure)', bytes: hex('4A 00 00 6F 00 00 60 00') },
  ];
}

export function decodeOnce(bytes: Uint8Array): unknown {
  const r = bme280DecodeData(bytes)!;
  const t = bme280Temperature(CAL, r.adcT);
  return { t: t.t, p: bme280Pressure(CAL, r.adcP, t.tFine), rh: bme280Humidity(CAL, r.adcH!, t.tFine) };
}
