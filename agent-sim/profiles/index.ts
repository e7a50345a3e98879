// Realistic, deterministic signal models for simulated sources and peripherals.
//
//   const P = createProfiles({ seed: 7, region: 'utrecht', lat: 52.09, lon: 5.12 });
//   const home = P.household(3);            home.powerW(t), home.energyWh(t), home.meter.registers(t)
//   const sun = P.pv(3, 5.5);               sun.powerW(t), sun.energyWh(t), sun.cloud(t)
//   const net = P.netMetering(3, 5.5);      net.netW(t), net.importWh(t), net.exportWh(t), net.meter
//   const aq = P.airQuality(3);             aq.pm(t), aq.temperatureC(t), aq.humidityPct(t)
//   const gw = P.hotspot(3);                gw.counters(t), gw.uplinks(from, to), gw.lastUplink(t)
//
// Everything is a function of (seed, region, device index, time in ms): no Math.random, no
// state that changes what a later call returns (caches only hold what would be recomputed).
// Devices of one region share the weather (seed, region); a device's own randomness is keyed by
// (seed, device). Running totals count from `epoch` (Wh, packets): a meter's registers are
// their value at the epoch plus what flowed since. See docs/simulation.md "Profiles".
import { err, RANGE_ERROR } from '../../firmware/core/util/errors.js';
import { createWeather, type Weather, type RegionOptions } from './weather.js';
import { createHousehold, type Household, type HouseholdOptions } from './household.js';
import { createPv, createNetMetering, type Pv, type PvOptions, type NetMetering } from './pv.js';
import { createMeter, type MeterModel, type MeterOptions } from './meter.js';
import { createAirQuality, createIndoor, type AirQuality, type IndoorClimate } from './air.js';
import { createHotspot, type Hotspot, type HotspotOptions } from './hotspot.js';
import { hash } from './noise.js';

export const PROFILE_DEFAULTS = {
  region: 'default',
  /** Utrecht, NL: a mid-latitude site with the seasons the defaults were tuned for. */
  lat: 52.09,
  lon: 5.12,
  /** CET (no daylight saving) for the default site; other longitudes default to round(lon / 15). */
  tzH: 1,
  /** 2024-01-01T00:00Z: the reference time of running totals. */
  epoch: 1704067200000,
} as const;

/** Regions whose weather objects are kept (they hold a small per-day cache each). */
const WEATHER_KEPT = 64;

export interface ProfilesOptions {
  /** Integer seed of the whole simulation (weather and devices). */
  seed: number;
  /** Weather region: devices of one region see one sky. */
  region?: string;
  /** Latitude and longitude, degrees (east positive). */
  lat?: number;
  lon?: number;
  /** UTC offset of local clock time, hours (default round(lon / 15), or 1 at the default site); no daylight saving. */
  tzH?: number;
  altitudeM?: number;
  /** Annual mean temperature and half its annual range, Cel (default from the latitude). */
  tMeanC?: number;
  tAmpC?: number;
  /** Reference time of running totals and meter events, ms (default 2024-01-01T00:00Z). */
  epoch?: number;
}

export interface MeteredHousehold extends Household {
  /** The household's meter: one register (import), swaps/resets/rollovers per MeterOptions. */
  readonly meter: MeterModel;
}

export interface MeteredNet extends NetMetering {
  /** The grid meter: registers [import, export]. */
  readonly meter: MeterModel;
}

export interface Profiles {
  readonly seed: number;
  readonly region: string;
  readonly lat: number;
  readonly lon: number;
  readonly tzH: number;
  readonly epoch: number;
  readonly weather: Weather;
  household(dev: number, o?: HouseholdOptions & { meter?: MeterOptions }): MeteredHousehold;
  pv(dev: number, kWp: number, o?: PvOptions): Pv;
  netMetering(dev: number, kWp: number, o?: { household?: HouseholdOptions; pv?: PvOptions; meter?: MeterOptions }): MeteredNet;
  airQuality(dev: number): AirQuality;
  indoor(dev: number, room?: 'living' | 'bedroom'): IndoorClimate;
  hotspot(dev: number, o?: HotspotOptions): Hotspot;
}

const weathers = new Map<string, Weather>();

function weatherFor(o: RegionOptions): Weather {
  const k = JSON.stringify([o.seed, o.region, o.lat, o.lon, o.tzH, o.altitudeM ?? 0, o.tMeanC ?? null, o.tAmpC ?? null]);
  let w = weathers.get(k);
  if (!w) {
    if (weathers.size >= WEATHER_KEPT) weathers.delete(weathers.keys().next().value as string);
    weathers.set(k, (w = createWeather(o)));
  }
  return w;
}

function num(name: string, v: unknown, lo: number, hi: number, integer = false): number {
  if (typeof v !== 'number' || v !== v || (integer && Math.floor(v) !== v))
    throw err('E_TYPE', '"' + name + '" expected ' + (integer ? 'an integer' : 'a number') + ', got ' + (typeof v === 'number' ? String(v) : typeof v), TypeError);
  if (v < lo || v > hi) throw err('E_RANGE', '"' + name + '" expected ' + lo + '..' + hi + ', got ' + v, RANGE_ERROR);
  return v;
}

export function createProfiles(o: ProfilesOptions): Profiles {
  if (typeof o !== 'object' || o === null) throw err('E_TYPE', '"options" expected an object, got ' + (o === null ? 'null' : typeof o), TypeError);
  const seed = num('seed', o.seed, -9007199254740991, 9007199254740991, true);
  const region = o.region ?? PROFILE_DEFAULTS.region;
  if (typeof region !== 'string' || region.length === 0) throw err('E_TYPE', '"region" expected a non-empty string, got ' + JSON.stringify(region), TypeError);
  const lat = num('lat', o.lat ?? PROFILE_DEFAULTS.lat, -90, 90);
  const lon = num('lon', o.lon ?? PROFILE_DEFAULTS.lon, -180, 180);
  const tzH = num('tzH', o.tzH ?? (o.lon === undefined ? PROFILE_DEFAULTS.tzH : Math.round(lon / 15)), -12, 14);
  const epoch = num('epoch', o.epoch ?? PROFILE_DEFAULTS.epoch, -8.64e15, 8.64e15);
  const weather = weatherFor({ seed, region, lat, lon, tzH, altitudeM: o.altitudeM, tMeanC: o.tMeanC, tAmpC: o.tAmpC });
  // Device keys include the region: device 3 of two regions are two different households.
  const devSeed = hash(seed, region);
  const dev = (d: unknown) => num('dev', d, -9007199254740991, 9007199254740991, true);

  function household(d: number, ho: HouseholdOptions & { meter?: MeterOptions } = {}): MeteredHousehold {
    const h = createHousehold({ seed: devSeed, dev: dev(d), lat, lon, tzH, epoch }, ho);
    const meter = createMeter({ seed: devSeed, dev: d, epoch, energy: [h.energyWh] }, ho.meter);
    return { ...h, meter };
  }

  function pv(d: number, kWp: number, po?: PvOptions): Pv {
    num('kWp', kWp, 0.01, 10000);
    return createPv({ seed: devSeed, dev: dev(d), weather, epoch }, kWp, po);
  }

  function netMetering(d: number, kWp: number, no: { household?: HouseholdOptions; pv?: PvOptions; meter?: MeterOptions } = {}): MeteredNet {
    const h = createHousehold({ seed: devSeed, dev: dev(d), lat, lon, tzH, epoch }, no.household);
    const p = pv(d, kWp, no.pv);
    const n = createNetMetering(h, p, epoch, hash(devSeed, d, 'net'));
    const meter = createMeter({ seed: devSeed, dev: d, epoch, energy: [n.importWh, n.exportWh] }, no.meter);
    return { ...n, meter };
  }

  return {
    seed,
    region,
    lat,
    lon,
    tzH,
    epoch,
    weather,
    household,
    pv,
    netMetering,
    airQuality: (d) => createAirQuality({ seed: devSeed, dev: dev(d), weather }),
    indoor: (d, room) => createIndoor({ seed: devSeed, dev: dev(d), weather }, room),
    hotspot: (d, ho) => createHotspot({ seed: devSeed, dev: dev(d), tzH, epoch }, ho),
  };
}

export { accountReading, createMeter, METER, ACCOUNT_DEFAULT_MAX_POWER_W } from './meter.js';
export type { MeterModel, MeterOptions, MeterEvent, MeterEventKind, BreakKind, AccountState, AccountResult, AccountRules, AccountEvent } from './meter.js';
export type { Weather, Regime } from './weather.js';
export { WEATHER, REGIME_NAMES, saturationHpa, climateByLatitude } from './weather.js';
export type { Household, HouseholdOptions } from './household.js';
export { HOUSEHOLD } from './household.js';
export type { Pv, PvOptions, NetMetering } from './pv.js';
export { PV } from './pv.js';
export type { AirQuality, IndoorClimate } from './air.js';
export { AIR, INDOOR } from './air.js';
export type { Hotspot, HotspotOptions, HotspotNode, Uplink } from './hotspot.js';
export { HOTSPOT } from './hotspot.js';
export { SUN, sunPosition, sunSteps, sunTimes, clearSkyGhi, planeOfArray, extraterrestrial, erbsDiffuseFraction } from './sun.js';
export { SERIES, DaySeries, Cumulative } from './series.js';
export { DAY_MS, HOUR_MS, MIN_MS, localDay, localHour, dayStart, dayOfWeek, isWeekend, winterness, hash, strHash, u01, valueNoise } from './noise.js';
