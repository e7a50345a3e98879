// Simulated sources that produce plausible readings directly (no wire protocol): a household
// energy meter, a household with PV behind a net meter (and its inverter), an air-quality
// sensor and a LoRa hotspot's counters, all drawn from the signal models of agent-sim/profiles/
// (deterministic per seed, region and time; docs/simulation.md "Profiles"). The wire-exact
// peripherals (Modbus, DSMR P1, PMS5003, ...) drive the core's real parsers instead.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { Source, SourceValue } from '../../firmware/core/session/agent.js';
import { createProfiles, accountReading, hash, strHash, u01, valueNoise, HOUR_MS, type Profiles, type AccountState, type MeterOptions } from '../profiles/index.js';

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

/**
 * Household load in W for a time of day: night base load, morning and evening peaks. The
 * original simple curve, kept for the peripherals that use it; agent-sim/profiles/ has the
 * realistic model (createProfiles(...).household(dev).powerW(t)).
 */
export function householdLoadW(hourOfDay: number, rnd: () => number): number {
  const h = hourOfDay;
  const morning = Math.exp(-((h - 7.5) ** 2) / 1.5) * 1500;
  const evening = Math.exp(-((h - 19) ** 2) / 3) * 2200;
  return 180 + morning + evening + rnd() * 250;
}

export interface ProfileOptions {
  id: string;
  intervalMs: number;
  /** The device's own seed: its household, site and radio neighbourhood. */
  seed: number;
  /** Time of day source (ms since epoch); the clock of the simulation. */
  now: () => number;
  /**
   * The simulated peripheral's own non-volatile memory (a meter keeps its registers when the
   * agent reboots). Without it, state lives as long as the source object.
   */
  memory?: PeripheralMemory;
  /** Weather region: devices of one region see one sky (default "default"). */
  region?: string;
  /** Site, degrees (default Utrecht, 52.09 N 5.12 E). */
  lat?: number;
  lon?: number;
  /** Seed of the regional weather, shared by every device of the region (default 0). */
  weatherSeed?: number;
}

/**
 * The peripheral's memory: a flat record of numbers (JSON). Besides the meter's epoch it holds
 * the agent-side reading state of the meter sources (last readings, totals, a hash of the
 * meter's serial): on a device that would be the agent's flash; the simulator keeps both in one
 * place.
 */
export interface PeripheralMemory {
  load(): Record<string, number> | undefined;
  save(state: Record<string, number>): void;
}

/** A slice of a memory under a key prefix, so two sources of one device can share a file. */
export function subMemory(m: PeripheralMemory | undefined, prefix: string): PeripheralMemory | undefined {
  if (!m) return undefined;
  return {
    load() {
      const all = m.load();
      if (!all) return undefined;
      const out: Record<string, number> = {};
      let any = false;
      for (const k of Object.keys(all))
        if (k.startsWith(prefix)) {
          out[k.slice(prefix.length)] = all[k];
          any = true;
        }
      return any ? out : undefined;
    },
    save(state) {
      const all = m.load() ?? {};
      for (const k of Object.keys(all)) if (k.startsWith(prefix)) delete all[k];
      for (const k of Object.keys(state)) all[prefix + k] = state[k];
      m.save(all);
    },
  };
}

/** The profile set of a source (one per region and epoch; the weather inside is shared per region). */
function profilesOf(o: ProfileOptions, epoch: number): Profiles {
  return createProfiles({ seed: o.weatherSeed ?? 0, region: o.region, lat: o.lat, lon: o.lon, epoch });
}

const numOr = (v: unknown, d: number): number => (typeof v === 'number' && isFinite(v) ? v : d);

/** Grid voltage at a connection: a regional slow swing, a drop with import and a rise with export (V, 0.1). */
function voltage(P: Profiles, dev: number, t: number, netW: number): number {
  const swing = 2 * valueNoise(hash(P.weather.key, 'grid-u'), t / (2 * HOUR_MS));
  const local = netW >= 0 ? -0.4 * (netW / 1000) : 0.8 * (-netW / 1000);
  const jitter = 0.4 * (u01(dev, 'u', Math.floor(t / 1000)) - 0.5);
  return f32(Math.round((230 + swing + local + jitter) * 10) / 10);
}

/**
 * The reader tells meters apart by a 32-bit hash of the serial (what it keeps on flash; a
 * number, so the state stays a flat record of numbers).
 */
const serialId = (sn: string): string => String(strHash(sn));

/** Loads the agent-side reading state of a meter with `n` registers from a memory record. */
function loadAccount(saved: Record<string, number> | undefined, n: number): AccountState | undefined {
  if (!saved || typeof saved.sn !== 'number' || typeof saved.at !== 'number') return undefined;
  const last: number[] = [];
  const totals: number[] = [];
  for (let i = 0; i < n; i++) {
    if (typeof saved['r' + i] !== 'number' || typeof saved['e' + i] !== 'number') return undefined;
    last.push(saved['r' + i] as number);
    totals.push(saved['e' + i] as number);
  }
  return { serial: String(saved.sn), last, totals, at: saved.at };
}

function saveAccount(a: AccountState, epoch: number, extra: Record<string, number> = {}): Record<string, number> {
  const out: Record<string, number> = { epoch, sn: Number(a.serial), at: a.at, ...extra };
  for (let i = 0; i < a.last.length; i++) {
    out['r' + i] = a.last[i];
    out['e' + i] = a.totals[i];
  }
  return out;
}

export interface MeterSourceOptions {
  /** Meter events (swaps, resets, rollovers) and the register range; see agent-sim/profiles/meter.ts. */
  meter?: MeterOptions;
  /** The reader's plausibility bound (W) for telling a rollover from a reset; default 50 kW. */
  maxPowerW?: number;
}

/**
 * Household energy meter and its reader: what the agent reports from a meter it polls.
 *   e      Wh  s  the site's total: the meter's register, continued across swaps, resets and
 *                 rollovers by accountReading (never goes backwards)
 *   p      W   v  power drawn (float32, 0.1 W)
 *   u      V   v  voltage
 *   sn        vs  the meter's serial      } on the source's first read and on every read
 *   e_reg  Wh  v  the register as shown  } that saw an event
 *   ev        vs  "swap" | "reset" | "rollover" | "jump" on the read that saw it
 * `startWh` is the register at the source's first start (its epoch).
 */
export function energyMeterSource(o: ProfileOptions & MeterSourceOptions & { startWh?: number }): Source {
  const saved = o.memory?.load();
  // Memory from before the profile library ({wh, at}): continue that register.
  const legacyWh = saved && saved.epoch === undefined ? numOr(saved.wh, NaN) : NaN;
  const epoch = numOr(saved?.epoch, o.now());
  const P = profilesOf(o, epoch);
  const startWh = !isNaN(legacyWh) ? legacyWh : o.startWh;
  const home = P.household(o.seed, { meter: { ...o.meter, startWh: startWh === undefined ? o.meter?.startWh : [startWh] } });
  const wrapWh = home.meter.wrapWh;
  let acc = loadAccount(saved, 1);
  return {
    id: o.id,
    intervalMs: o.intervalMs,
    read(done) {
      const t = o.now();
      const regs = home.meter.registers(t).map(Math.floor);
      const sn = home.meter.serial(t);
      const first = !acc;
      const r = accountReading(acc, t, serialId(sn), regs, { wrapWh, maxPowerW: o.maxPowerW });
      acc = r.state;
      o.memory?.save(saveAccount(acc, epoch));
      const p = home.powerW(t);
      const values: SourceValue[] = [
        { n: 'e', u: 'Wh', s: acc.totals[0] },
        { n: 'p', u: 'W', v: f32(Math.round(p * 10) / 10) },
        { n: 'u', u: 'V', v: voltage(P, o.seed, t, p) },
      ];
      if (first || r.event) values.push({ n: 'sn', vs: sn }, { n: 'e_reg', u: 'Wh', v: regs[0] });
      if (r.event) values.push({ n: 'ev', vs: r.event });
      done(undefined, values);
    },
  };
}

/** Default PV size of a device: 3..10 kWp, drawn from its seed. */
export function defaultKWp(seed: number): number {
  return Math.round((3 + 7 * u01(seed, 'kWp')) * 10) / 10;
}

/**
 * Grid meter of a household with rooftop PV (net metering), and its reader.
 *   e, e_exp      Wh  s  import / export totals of the site (continued across meter events)
 *   p             W   v  net power, import positive, export negative (float32, 0.1 W)
 *   u             V   v  voltage (rises with export)
 *   sn, e_reg, e_exp_reg, ev  as energyMeterSource
 */
export function netMeterSource(o: ProfileOptions & MeterSourceOptions & { pvKWp?: number; startWh?: number; startExportWh?: number }): Source {
  const saved = o.memory?.load();
  const epoch = numOr(saved?.epoch, o.now());
  const P = profilesOf(o, epoch);
  const start = o.startWh === undefined && o.startExportWh === undefined ? o.meter?.startWh : [o.startWh ?? 1_000_000, o.startExportWh ?? 0];
  const net = P.netMetering(o.seed, o.pvKWp ?? defaultKWp(o.seed), { meter: { ...o.meter, startWh: start } });
  const wrapWh = net.meter.wrapWh;
  let acc = loadAccount(saved, 2);
  return {
    id: o.id,
    intervalMs: o.intervalMs,
    read(done) {
      const t = o.now();
      const regs = net.meter.registers(t).map(Math.floor);
      const sn = net.meter.serial(t);
      const first = !acc;
      const r = accountReading(acc, t, serialId(sn), regs, { wrapWh, maxPowerW: o.maxPowerW });
      acc = r.state;
      o.memory?.save(saveAccount(acc, epoch));
      const p = net.netW(t);
      const values: SourceValue[] = [
        { n: 'e', u: 'Wh', s: acc.totals[0] },
        { n: 'e_exp', u: 'Wh', s: acc.totals[1] },
        { n: 'p', u: 'W', v: f32(Math.round(p * 10) / 10) },
        { n: 'u', u: 'V', v: voltage(P, o.seed, t, p) },
      ];
      if (first || r.event) values.push({ n: 'sn', vs: sn }, { n: 'e_reg', u: 'Wh', v: regs[0] }, { n: 'e_exp_reg', u: 'Wh', v: regs[1] });
      if (r.event) values.push({ n: 'ev', vs: r.event });
      done(undefined, values);
    },
  };
}

/**
 * The PV inverter's own counters: production total `e` (Wh, s; the inverter's lifetime counter,
 * never reset here) and AC power `p` (W, v, whole watts as inverters report).
 */
export function pvInverterSource(o: ProfileOptions & { pvKWp?: number; startWh?: number }): Source {
  const saved = o.memory?.load();
  const epoch = numOr(saved?.epoch, o.now());
  const P = profilesOf(o, epoch);
  const pv = P.pv(o.seed, o.pvKWp ?? defaultKWp(o.seed));
  const start = o.startWh ?? numOr(saved?.start, Math.floor(500_000 + 20_000_000 * u01(o.seed, 'pv-start')));
  o.memory?.save({ epoch, start });
  return {
    id: o.id,
    intervalMs: o.intervalMs,
    read(done) {
      const t = o.now();
      done(undefined, [
        { n: 'e', u: 'Wh', s: Math.floor(start + pv.energyWh(t)) },
        { n: 'p', u: 'W', v: Math.round(pv.powerW(t)) },
      ]);
    },
  };
}

/**
 * Outdoor air quality as a PMS5003 + BME280 node reports it: PM1/PM2.5/PM10 (integer ug/m3),
 * temperature (Cel, 0.01), humidity (%RH, 0.1) and pressure (Pa).
 */
export function airQualitySource(o: ProfileOptions): Source {
  const P = profilesOf(o, o.now());
  const aq = P.airQuality(o.seed);
  return {
    id: o.id,
    intervalMs: o.intervalMs,
    read(done) {
      const t = o.now();
      const pm = aq.pm(t);
      done(undefined, [
        { n: 'pm1', u: 'ug/m3', v: Math.round(pm.pm1) },
        { n: 'pm25', u: 'ug/m3', v: Math.round(pm.pm25) },
        { n: 'pm10', u: 'ug/m3', v: Math.round(pm.pm10) },
        { n: 'temp', u: 'Cel', v: Math.round(aq.temperatureC(t) * 100) / 100 },
        { n: 'rh', u: '%RH', v: Math.round(aq.humidityPct(t) * 10) / 10 },
        { n: 'pres', u: 'Pa', v: Math.round(aq.pressurePa(t)) },
      ]);
    },
  };
}

/**
 * LoRa hotspot: packet counters (sums since the hotspot started counting, kept in its memory)
 * and the last uplink's RSSI (dBm) and SNR (dB).
 */
export function hotspotSource(o: ProfileOptions): Source {
  const saved = o.memory?.load();
  const epoch = numOr(saved?.epoch, o.now());
  const P = profilesOf(o, epoch);
  const gw = P.hotspot(o.seed);
  // Counters from before the profile library ({rxok, txnb}) continue.
  const c0 = gw.counters(epoch);
  const off = {
    rxok: saved && saved.epoch === undefined ? numOr(saved.rxok, c0.rxok) - c0.rxok : 0,
    txnb: saved && saved.epoch === undefined ? numOr(saved.txnb, c0.txnb) - c0.txnb : 0,
  };
  if (saved?.epoch !== undefined) {
    off.rxok = numOr(saved.offOk, 0);
    off.txnb = numOr(saved.offTx, 0);
  }
  o.memory?.save({ epoch, offOk: off.rxok, offTx: off.txnb });
  return {
    id: o.id,
    intervalMs: o.intervalMs,
    read(done) {
      const t = o.now();
      const c = gw.counters(t);
      const values: SourceValue[] = [
        { n: 'rxok', s: c.rxok + off.rxok },
        { n: 'rxnb', s: c.rxnb + off.rxok },
        { n: 'txnb', s: c.txnb + off.txnb },
      ];
      const last = gw.lastUplink(t);
      if (last) values.push({ n: 'rssi', u: 'dBm', v: last.rssi }, { n: 'snr', u: 'dB', v: last.snr });
      done(undefined, values);
    },
  };
}

/** Device kinds of the simulated fleet; "pv" is a household with rooftop PV behind a net meter. */
export type DeviceKind = 'energy' | 'air' | 'hotspot' | 'pv';
export const DEVICE_KINDS: DeviceKind[] = ['energy', 'air', 'hotspot', 'pv'];

/** Options for every source of a device (region, site, PV size, meter events). */
export interface DeviceProfileOptions {
  region?: string;
  lat?: number;
  lon?: number;
  weatherSeed?: number;
  pvKWp?: number;
  meter?: MeterOptions;
}

export function sourcesFor(kind: DeviceKind, seed: number, intervalMs: number, now: () => number, memory?: PeripheralMemory, opts: DeviceProfileOptions = {}): Source[] {
  const site = { region: opts.region, lat: opts.lat, lon: opts.lon, weatherSeed: opts.weatherSeed };
  if (kind === 'energy') return [energyMeterSource({ id: 'm0', intervalMs, seed, now, memory, meter: opts.meter, ...site })];
  if (kind === 'air') return [airQualitySource({ id: 'aq', intervalMs, seed, now, ...site })];
  if (kind === 'pv')
    return [
      netMeterSource({ id: 'm0', intervalMs, seed, now, memory: subMemory(memory, 'm0.'), meter: opts.meter, pvKWp: opts.pvKWp, ...site }),
      pvInverterSource({ id: 'pv', intervalMs, seed, now, memory: subMemory(memory, 'pv.'), pvKWp: opts.pvKWp, ...site }),
    ];
  return [hotspotSource({ id: 'hs', intervalMs, seed, now, memory, ...site })];
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
