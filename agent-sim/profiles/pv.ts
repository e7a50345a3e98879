// Rooftop PV production and net metering.
//
// PV: per minute, the clear-sky global horizontal irradiance of the sun's position (sun.ts:
// NOAA position, Haurwitz clear sky) is reduced by the cloud fraction N seen at the device,
// GHI = GHI_clear (1 - 0.75 N^3.4) [KC]; Erbs splits it into beam and diffuse and the isotropic
// sky model puts it on the panel plane; DC power is kWp * POA / 1000 corrected for cell
// temperature (NOCT model, -0.4 %/K: crystalline silicon datasheets), times a performance ratio
// for inverter, wiring, soiling and mismatch losses, clipped at the inverter's AC rating.
// The cloud fraction at the device is the region's (shared, weather.ts) plus passing clouds of
// its own: value noise at 7-minute knots, strongest on broken-cloud days (4 N (1 - N)).
//
// [KC]  Kasten & Czeplak, "Solar and terrestrial radiation dependent on the amount and type of
//       cloud", Solar Energy 24, 1980: G / G_clear = 1 - 0.75 (N/8)^3.4, N in oktas.
// [PR]  Performance ratio 0.8-0.9 for well-kept residential systems: Reich et al.,
//       "Performance ratio revisited: is PR > 90% realistic?", Prog. Photovolt. 20, 2012.
//
// Net metering: the meter at the grid connection sees net = consumption - production per
// minute; import is max(0, net), export max(0, -net), each integrated on its own register, so
// import - export equals consumption - production over any interval (exactly per minute; the
// sub-minute ripple is one shared factor of the net, which keeps the identity at every instant).
import { MIN_MS, hash, valueNoise, clamp, dayStart } from './noise.js';
import { DaySeries, Cumulative, SERIES } from './series.js';
import { sunPosition, sunSteps, extraterrestrial, clearSkyGhi, planeOfArray, type PanelGeometry, type SunSteps } from './sun.js';
import type { Weather } from './weather.js';
import type { Household } from './household.js';

export const PV = {
  /** [KC] coefficients. */
  KC_A: 0.75,
  KC_B: 3.4,
  /** Nominal operating cell temperature (Cel) and the power temperature coefficient (1/K). */
  NOCT_C: 45,
  GAMMA_PER_K: -0.004,
  /** [PR] performance ratio (everything but temperature). */
  PERFORMANCE_RATIO: 0.86,
  /** DC/AC ratio: the inverter's AC rating is kWp / DC_AC. */
  DC_AC: 1.15,
  /** Passing clouds at the device: amplitude on a broken-cloud day and knot spacing (minutes). */
  LOCAL_CLOUD: 0.35,
  LOCAL_CLOUD_KNOT_MIN: 7,
  /** Air temperature is sampled every this many minutes of the day and interpolated. */
  TAIR_STEP_MIN: 15,
  RIPPLE: 0.01,
  NET_RIPPLE: 0.03,
} as const;

export interface PvOptions {
  /** Panel tilt (default 35) and azimuth (default 180, due south; 0 in the southern hemisphere). */
  tiltDeg?: number;
  azimuthDeg?: number;
  /** AC rating of the inverter, W (default kWp * 1000 / DC_AC). */
  inverterW?: number;
  performanceRatio?: number;
}

export interface Pv {
  readonly kWp: number;
  readonly panel: PanelGeometry;
  /** AC power fed by the inverter at t, W. */
  powerW(t: number): number;
  /** What the system would give under a clear sky at t (same temperature model at 20 Cel air), W. */
  clearSkyW(t: number): number;
  /** Cloud fraction at the device, 0..1. */
  cloud(t: number): number;
  /** Energy produced from the epoch to t, Wh. */
  energyWh(t: number): number;
  dayWh(D: number): number;
  readonly series: DaySeries;
}

/** Sun positions per minute of a local day, shared by every PV system at the same place. */
const sunDays = new Map<string, SunSteps>();
const SUN_DAYS_KEPT = 8;

function sunDay(lat: number, lon: number, tzH: number, D: number): SunSteps {
  const k = lat + ',' + lon + ',' + tzH + ',' + D;
  let s = sunDays.get(k);
  if (s) return s;
  s = sunSteps(dayStart(D, tzH), SERIES.SLOTS_PER_DAY, MIN_MS, lat, lon);
  if (sunDays.size >= SUN_DAYS_KEPT) sunDays.delete(sunDays.keys().next().value as string);
  sunDays.set(k, s);
  return s;
}

export interface PvContext {
  seed: number;
  dev: number;
  weather: Weather;
  epoch: number;
}

export function createPv(c: PvContext, kWp: number, o: PvOptions = {}): Pv {
  const w = c.weather;
  const { lat, lon, tzH } = w.o;
  const panel: PanelGeometry = { tiltDeg: o.tiltDeg ?? 35, azimuthDeg: o.azimuthDeg ?? (lat < 0 ? 0 : 180) };
  const pr = o.performanceRatio ?? PV.PERFORMANCE_RATIO;
  const acMax = o.inverterW ?? (kWp * 1000) / PV.DC_AC;
  const key = hash(c.seed, c.dev, 'pv');
  const kLocal = hash(key, 'local');

  function cloud(t: number): number {
    const N = w.cloud(t);
    return clamp(N + PV.LOCAL_CLOUD * 4 * N * (1 - N) * valueNoise(kLocal, t / (PV.LOCAL_CLOUD_KNOT_MIN * MIN_MS)), 0, 1);
  }

  function acPower(cosZ: number, az: number, etr: number, N: number, tAir: number): number {
    if (cosZ <= 0) return 0;
    const ghi = clearSkyGhi(cosZ) * (1 - PV.KC_A * Math.pow(N, PV.KC_B));
    const poa = planeOfArray(ghi, cosZ, az, etr, panel);
    const tCell = tAir + (poa / 800) * (PV.NOCT_C - 20);
    const p = kWp * poa * pr * (1 + PV.GAMMA_PER_K * (tCell - 25));
    return clamp(p, 0, acMax);
  }

  function build(D: number, out: Float64Array): void {
    const sd = sunDay(lat, lon, tzH, D);
    const start = dayStart(D, tzH);
    let tPrev = NaN;
    let tNext = NaN;
    let kPrev = -1;
    for (let m = 0; m < out.length; m++) {
      const cz = sd.cosZ[m];
      if (cz <= 0) {
        out[m] = 0;
        continue;
      }
      const t = start + m * MIN_MS + MIN_MS / 2;
      const k = Math.floor(m / PV.TAIR_STEP_MIN);
      if (k !== kPrev) {
        tPrev = w.temperatureC(start + k * PV.TAIR_STEP_MIN * MIN_MS);
        tNext = w.temperatureC(start + (k + 1) * PV.TAIR_STEP_MIN * MIN_MS);
        kPrev = k;
      }
      const f = (m - k * PV.TAIR_STEP_MIN + 0.5) / PV.TAIR_STEP_MIN;
      out[m] = acPower(cz, sd.azimuthDeg[m], sd.etr, cloud(t), tPrev + (tNext - tPrev) * f);
    }
  }

  const series = new DaySeries({ tzH, build, ripple: PV.RIPPLE, rippleKey: hash(key, 'ripple') });
  const cum = new Cumulative(series, c.epoch);
  return {
    kWp,
    panel,
    series,
    powerW: (t) => series.powerW(t),
    clearSkyW: (t) => {
      const s = sunPosition(t, lat, lon);
      return acPower(s.cosZ, s.azimuthDeg, extraterrestrial(t), 0, 20);
    },
    cloud,
    energyWh: (t) => cum.at(t),
    dayWh: (D) => series.dayWh(D),
  };
}

export interface NetMetering {
  readonly household: Household;
  readonly pv: Pv;
  /** Net power at the grid connection, W: import positive, export negative. */
  netW(t: number): number;
  importW(t: number): number;
  exportW(t: number): number;
  /** Energy imported / exported from the epoch to t, Wh. */
  importWh(t: number): number;
  exportWh(t: number): number;
}

export function createNetMetering(household: Household, pv: Pv, epoch: number, key: number): NetMetering {
  const tzH = household.series.tzH;
  const net = (D: number, sign: number, out: Float64Array) => {
    const c = household.series.slots(D);
    const p = pv.series.slots(D);
    for (let m = 0; m < out.length; m++) out[m] = Math.max(0, sign * (c[m] - p[m]));
  };
  const rk = hash(key, 'net-ripple');
  const imp = new DaySeries({ tzH, build: (D, out) => net(D, 1, out), ripple: PV.NET_RIPPLE, rippleKey: rk });
  const exp = new DaySeries({ tzH, build: (D, out) => net(D, -1, out), ripple: PV.NET_RIPPLE, rippleKey: rk });
  const ci = new Cumulative(imp, epoch);
  const ce = new Cumulative(exp, epoch);
  return {
    household,
    pv,
    netW: (t) => imp.powerW(t) - exp.powerW(t),
    importW: (t) => imp.powerW(t),
    exportW: (t) => exp.powerW(t),
    importWh: (t) => ci.at(t),
    exportWh: (t) => ce.at(t),
  };
}
