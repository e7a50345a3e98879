// Regional weather: everything here is keyed by (seed, region) only, so all devices of a region
// see the same sky, rain and temperature; devices add their own local detail on top.
//
// Cloud regime per local day: a Markov chain over {clear, mixed, overcast}, in the spirit of the
// Markov-transition-matrix generators of daily clearness index (Aguiar, Collares-Pereira & Conde,
// "Simple procedure for generating sequences of daily radiation values using a library of Markov
// transition matrices", Solar Energy 40(3), 1988). The chain used is a "renewal" chain: each day,
// with probability RENEW the regime is drawn afresh from the seasonal distribution, otherwise it
// persists: P(i -> j) = (1 - RENEW) [i = j] + RENEW pi_j(season). This is an (inhomogeneous)
// Markov chain whose state on day D is the draw of the last renewal day <= D, so it is a pure
// function of D: look back to the last renewal (expected 1 / RENEW days, capped at LOOKBACK).
//
// Within the day, the cloud fraction follows the regime's level (interpolated between local
// noons, so it is continuous) plus value noise at 3-hour knots. Rain, temperature, humidity
// and pressure follow from it (clear days: large diurnal range, dry afternoons; overcast days:
// small range, humid, rain showers, lower pressure).
//
// [AE] Alduchov & Eskridge, "Improved Magnus form approximation of saturation vapor pressure",
//      J. Appl. Meteor. 35, 1996: es(T) = 6.1094 exp(17.625 T / (T + 243.04)) hPa.
import { DAY_MS, HOUR_MS, hash, hash2, strHash, valueNoise, clamp, dayStart, winterness, smoothstep } from './noise.js';

export const WEATHER = {
  /** Probability that a day draws a new cloud regime (mean spell of a regime ~ 1 / (RENEW (1 - pi))). */
  RENEW: 0.4,
  /** Longest look-back for the last renewal (0.6^64 ~ 6e-15: never reached in practice). */
  LOOKBACK: 64,
  /** Days whose regime and cloud level a Weather keeps (every minute of a day asks for them). */
  DAYS_KEPT: 64,
  /** Regime probabilities [clear, mixed, overcast] in mid-summer and mid-winter (mid-latitude Europe-like). */
  PI_SUMMER: [0.2, 0.45, 0.35],
  PI_WINTER: [0.08, 0.3, 0.62],
  /** Cloud fraction level per regime, its day-to-day jitter, and the amplitude of the 3-hourly noise. */
  CLOUD_LEVEL: [0.15, 0.65, 0.96],
  CLOUD_JITTER: [0.08, 0.15, 0.05],
  CLOUD_WIGGLE: [0.1, 0.3, 0.1],
  CLOUD_KNOT_H: 3,
  /** Rain: value noise at 2-hour knots exceeds RAIN_T0 - RAIN_T1 * cloud; intensity RAIN_MMH per unit excess. */
  RAIN_KNOT_H: 2,
  RAIN_T0: 2.0,
  RAIN_T1: 1.5,
  RAIN_MMH: 8,
  /** Temperature anomaly: +-ANOM_SLOW over 36-hour knots, +-ANOM_FAST over 9-hour knots, Cel. */
  ANOM_SLOW: 3,
  ANOM_SLOW_H: 36,
  ANOM_FAST: 0.7,
  ANOM_FAST_H: 9,
  /** Diurnal half-range (Cel): DIURNAL_BASE + DIURNAL_CLEAR * (1 - cloud), times (1 - DIURNAL_WINTER * winterness). */
  DIURNAL_BASE: 1.5,
  DIURNAL_CLEAR: 5.5,
  DIURNAL_WINTER: 0.4,
  /** Hour of local solar time of the daily maximum temperature. */
  T_MAX_HOUR: 15,
  /** Dew-point depression below the night minimum, Cel: DEW_BASE + DEW_CLEAR (1 - cloud) - DEW_RAIN min(1, rain). */
  DEW_BASE: 0.4,
  DEW_CLEAR: 2.0,
  DEW_RAIN: 0.5,
  /** Sea-level pressure, Pa: mean, +-PRES_SWING over PRES_KNOT_H knots, PRES_CLOUD lower per unit of cloud above 0.5. */
  PRES_MEAN: 101325,
  PRES_SWING: 1100,
  PRES_KNOT_H: 40,
  PRES_CLOUD: 900,
  /** Scale height for station pressure from sea-level pressure, m. */
  SCALE_HEIGHT_M: 8434.5,
} as const;

export interface RegionOptions {
  seed: number;
  region: string;
  lat: number;
  lon: number;
  /** UTC offset of local clock time, hours. */
  tzH: number;
  /** Height above sea level, m (pressure). */
  altitudeM?: number;
  /** Annual mean temperature and half the annual range, Cel (default from latitude). */
  tMeanC?: number;
  tAmpC?: number;
}

export type Regime = 0 | 1 | 2;

interface DayInfo {
  r: Regime;
  level: number;
  wiggle: number;
}
export const REGIME_NAMES = ['clear', 'mixed', 'overcast'] as const;

export interface Weather {
  readonly key: number;
  readonly o: Readonly<RegionOptions>;
  /** Cloud regime of local day D: 0 clear, 1 mixed, 2 overcast. */
  regime(D: number): Regime;
  /** Regional cloud fraction 0..1 at t. */
  cloud(t: number): number;
  /** Rain intensity, mm/h. */
  rainMmH(t: number): number;
  /** Rain over the past `hours` hours with weight exp(-age / tauH) per hour (for washout). */
  recentRain(t: number, hours: number, tauH: number): number;
  temperatureC(t: number): number;
  dewPointC(t: number): number;
  humidityPct(t: number): number;
  /** Station pressure, Pa. */
  pressurePa(t: number): number;
}

/** [AE] saturation vapour pressure over water, hPa. */
export function saturationHpa(tC: number): number {
  return 6.1094 * Math.exp((17.625 * tC) / (tC + 243.04));
}

/** Annual mean temperature and half range (Cel) by latitude: a rough fit of climate normals (equator ~27, 52 N ~10 +- 7, 70 N ~3 +- 10). */
export function climateByLatitude(lat: number): { mean: number; amp: number } {
  const a = Math.abs(lat);
  return { mean: 28 - 0.35 * a, amp: Math.min(18, 0.14 * a) };
}

export function createWeather(o: RegionOptions): Weather {
  const key = hash(o.seed, strHash(o.region), 'weather');
  const kRenew = hash(key, 'renew');
  const kState = hash(key, 'state');
  const kJit = hash(key, 'jitter');
  const kCloud = hash(key, 'cloud');
  const kRain = hash(key, 'rain');
  const kAnomS = hash(key, 'anomS');
  const kAnomF = hash(key, 'anomF');
  const kPres = hash(key, 'pres');
  const clim = climateByLatitude(o.lat);
  const tMean = o.tMeanC ?? clim.mean;
  const tAmp = o.tAmpC ?? clim.amp;
  const W = WEATHER;
  // A day's regime and cloud level are looked up for every minute of it; keep a few days.
  const days = new Map<number, DayInfo>();

  function pi(D: number): number[] {
    const w = winterness(D, o.lat);
    return [0, 1, 2].map((i) => W.PI_SUMMER[i] + (W.PI_WINTER[i] - W.PI_SUMMER[i]) * w);
  }

  function dayInfo(D: number): DayInfo {
    const hit = days.get(D);
    if (hit) return hit;
    let d = D;
    for (let k = 0; k < W.LOOKBACK - 1; k++, d--) if (hash2(kRenew, d) / 4294967296 < W.RENEW) break;
    const p = pi(d);
    const u = hash2(kState, d) / 4294967296;
    const r: Regime = u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2;
    const info = { r, level: W.CLOUD_LEVEL[r] + W.CLOUD_JITTER[r] * ((2 * hash2(kJit, D)) / 4294967296 - 1), wiggle: W.CLOUD_WIGGLE[r] };
    if (days.size >= W.DAYS_KEPT) days.delete(days.keys().next().value as number);
    days.set(D, info);
    return info;
  }

  const regime = (D: number): Regime => dayInfo(D).r;

  function cloud(t: number): number {
    // Between the local noons of D-1/D or D/D+1, blend the two days' levels.
    const x = (t - dayStart(0, o.tzH)) / DAY_MS - 0.5; // days since local noon of day 0
    const D0 = Math.floor(x);
    const f = smoothstep(x - D0);
    const a = dayInfo(D0);
    const b = dayInfo(D0 + 1);
    const level = a.level + (b.level - a.level) * f;
    const wig = a.wiggle + (b.wiggle - a.wiggle) * f;
    return clamp(level + wig * valueNoise(kCloud, t / (W.CLOUD_KNOT_H * HOUR_MS)), 0, 1);
  }

  function rainMmH(t: number): number {
    const thr = W.RAIN_T0 - W.RAIN_T1 * cloud(t);
    const x = valueNoise(kRain, t / (W.RAIN_KNOT_H * HOUR_MS)) - thr;
    return x > 0 ? x * W.RAIN_MMH : 0;
  }

  function recentRain(t: number, hours: number, tauH: number): number {
    let s = 0;
    for (let k = 0; k < hours; k++) s += rainMmH(t - k * HOUR_MS) * Math.exp(-k / tauH);
    return s;
  }

  function parts(t: number): { base: number; half: number; diurnal: number; c: number } {
    const dn = t / DAY_MS;
    const w = winterness(dn, o.lat);
    // Annual cycle: coldest at mid-winter (winterness 1).
    const annual = tMean + tAmp * (1 - 2 * w);
    const anom = W.ANOM_SLOW * valueNoise(kAnomS, t / (W.ANOM_SLOW_H * HOUR_MS)) + W.ANOM_FAST * valueNoise(kAnomF, t / (W.ANOM_FAST_H * HOUR_MS));
    const c = cloud(t);
    const half = (W.DIURNAL_BASE + W.DIURNAL_CLEAR * (1 - c)) * (1 - W.DIURNAL_WINTER * w);
    // Local solar hour: UTC hour + lon / 15.
    let hs = ((t % DAY_MS) + DAY_MS) % DAY_MS / HOUR_MS + o.lon / 15;
    hs -= 24 * Math.floor(hs / 24);
    return { base: annual + anom, half, diurnal: Math.cos((2 * Math.PI * (hs - W.T_MAX_HOUR)) / 24), c };
  }

  function temperatureC(t: number): number {
    const p = parts(t);
    return p.base + p.half * p.diurnal;
  }

  function dewPointC(t: number): number {
    const p = parts(t);
    const r = Math.min(1, rainMmH(t));
    const dep = Math.max(0.1, W.DEW_BASE + W.DEW_CLEAR * (1 - p.c) - W.DEW_RAIN * r);
    return Math.min(p.base + p.half * p.diurnal, p.base - p.half - dep);
  }

  function humidityPct(t: number): number {
    return clamp((100 * saturationHpa(dewPointC(t))) / saturationHpa(temperatureC(t)), 1, 100);
  }

  function pressurePa(t: number): number {
    const sea = W.PRES_MEAN + W.PRES_SWING * valueNoise(kPres, t / (W.PRES_KNOT_H * HOUR_MS)) - W.PRES_CLOUD * (cloud(t) - 0.5) * 2;
    return sea * Math.exp(-(o.altitudeM ?? 0) / W.SCALE_HEIGHT_M);
  }

  return { key, o, regime, cloud, rainMmH, recentRain, temperatureC, dewPointC, humidityPct, pressurePa };
}
