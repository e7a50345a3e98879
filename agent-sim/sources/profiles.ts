// Simulated sources that produce plausible readings directly (no wire protocol): a household
// energy meter, an air-quality sensor and a LoRa hotspot's counters. Deterministic per seed.
// The wire-exact peripherals (Modbus, DSMR P1, PMS5003, ...) drive the core's real parsers instead.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { Source, SourceValue } from '../../firmware/core/session/agent.js';

/** mulberry32: small, fast, good enough for simulated noise. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function f32(x: number): number {
  return Math.fround(x);
}

/** Household load in W for a time of day: night base load, morning and evening peaks. */
export function householdLoadW(hourOfDay: number, rnd: () => number): number {
  const h = hourOfDay;
  const morning = Math.exp(-((h - 7.5) ** 2) / 1.5) * 1500;
  const evening = Math.exp(-((h - 19) ** 2) / 3) * 2200;
  return 180 + morning + evening + rnd() * 250;
}

export interface ProfileOptions {
  id: string;
  intervalMs: number;
  seed: number;
  /** Time of day source (ms since epoch); the clock of the simulation. */
  now: () => number;
  /**
   * The simulated peripheral's own non-volatile memory (a meter keeps its registers when the
   * agent reboots). Without it, state lives as long as the source object.
   */
  memory?: PeripheralMemory;
}

export interface PeripheralMemory {
  load(): Record<string, number> | undefined;
  save(state: Record<string, number>): void;
}

/** Energy meter: import total (Wh, never decreasing), active power (W, float32 as a meter reports), voltage (V). */
export function energyMeterSource(o: ProfileOptions & { startWh?: number }): Source {
  const rnd = prng(o.seed);
  const saved = o.memory?.load();
  let wh = saved?.wh ?? o.startWh ?? Math.floor(rnd() * 5_000_000);
  let last = saved?.at ?? o.now();
  return {
    id: o.id,
    intervalMs: o.intervalMs,
    read(done) {
      const t = o.now();
      const hour = (t / 3_600_000) % 24;
      const p = householdLoadW(hour, rnd);
      wh += Math.round((p * Math.max(0, t - last)) / 3_600_000);
      last = t;
      o.memory?.save({ wh, at: t });
      const values: SourceValue[] = [
        { n: 'e', u: 'Wh', s: wh },
        { n: 'p', u: 'W', v: f32(Math.round(p * 10) / 10) },
        { n: 'u', u: 'V', v: f32(Math.round((230 + (rnd() - 0.5) * 6) * 10) / 10) },
      ];
      done(undefined, values);
    },
  };
}

/** Air quality: PM2.5/PM10 (integer ug/m3 as PMS5003 reports), temperature and humidity. */
export function airQualitySource(o: ProfileOptions): Source {
  const rnd = prng(o.seed);
  return {
    id: o.id,
    intervalMs: o.intervalMs,
    read(done) {
      const hour = (o.now() / 3_600_000) % 24;
      const traffic = Math.exp(-((hour - 8) ** 2) / 2) + Math.exp(-((hour - 18) ** 2) / 2);
      const pm25 = Math.round(6 + traffic * 14 + rnd() * 4);
      done(undefined, [
        { n: 'pm25', u: 'ug/m3', v: pm25 },
        { n: 'pm10', u: 'ug/m3', v: pm25 + Math.round(2 + rnd() * 5) },
        { n: 'temp', u: 'Cel', v: Math.round((12 + 8 * Math.sin(((hour - 9) / 24) * 2 * Math.PI) + rnd()) * 100) / 100 },
        { n: 'rh', u: '%RH', v: Math.round((55 + rnd() * 20) * 10) / 10 },
      ]);
    },
  };
}

/** LoRa hotspot: packet counters (monotonic sums) and RSSI of the last uplink. */
export function hotspotSource(o: ProfileOptions): Source {
  const rnd = prng(o.seed);
  const saved = o.memory?.load();
  let rxok = saved?.rxok ?? Math.floor(rnd() * 100000);
  let txnb = saved?.txnb ?? Math.floor(rxok / 20);
  return {
    id: o.id,
    intervalMs: o.intervalMs,
    read(done) {
      const got = Math.floor(rnd() * 12);
      rxok += got;
      if (rnd() < 0.2) txnb++;
      o.memory?.save({ rxok, txnb });
      done(undefined, [
        { n: 'rxok', s: rxok },
        { n: 'txnb', s: txnb },
        { n: 'rssi', u: 'dBm', v: -Math.round(60 + rnd() * 55) },
      ]);
    },
  };
}

export type DeviceKind = 'energy' | 'air' | 'hotspot';
export const DEVICE_KINDS: DeviceKind[] = ['energy', 'air', 'hotspot'];

export function sourcesFor(kind: DeviceKind, seed: number, intervalMs: number, now: () => number, memory?: PeripheralMemory): Source[] {
  if (kind === 'energy') return [energyMeterSource({ id: 'm0', intervalMs, seed, now, memory })];
  if (kind === 'air') return [airQualitySource({ id: 'aq', intervalMs, seed, now })];
  return [hotspotSource({ id: 'hs', intervalMs, seed, now, memory })];
}

/** A peripheral's memory as a small JSON file (written through a rename, so never torn). */
export function fileMemory(path: string): PeripheralMemory {
  return {
    load() {
      try {
        return JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        return undefined;
      }
    },
    save(state) {
      writeFileSync(path + '.tmp', JSON.stringify(state));
      renameSync(path + '.tmp', path);
    },
  };
}
