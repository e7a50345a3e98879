// Outdoor particulate matter, temperature and humidity at a device, and an indoor climate.
//
// PM2.5 = (regional background * (1 - MIX + MIX * inversion) + inversion * (traffic + heating)) * washout
//   background  regional, slow (value noise at 20-hour knots, log-normal-ish), higher in winter;
//               European background PM2.5 is typically 5-15 ug/m3 (EEA, "Air quality in Europe").
//   traffic     local, per site (a device near a road gets more): weekday rush hours around
//               08:00 and 17:30, a broad midday bump at weekends.
//   heating     residential wood and coal burning on winter evenings.
//   inversion   a shallow nocturnal boundary layer concentrates local emissions; strongest on
//               clear nights (radiative cooling) and in winter, gone by midday.
//   washout     rain scavenges particles: exp(-WASHOUT * sum of rain over the last hours,
//               weighted by exp(-age / WASHOUT_TAU_H)).
// Read by a low-cost optical counter (PMS5003, SDS011), particles swell with humidity and read
// high above ~75 % RH (hygroscopic growth; e.g. Jayaratne et al., "The influence of humidity on
// the performance of a low-cost air particle mass sensor", Atmos. Meas. Tech. 11, 2018): the
// model reports what such a sensor shows, with OPTICAL_RH_BIAS.
// PM1 ~ 0.65-0.75 of PM2.5; PM10 adds a coarse part that grows on dry days and near traffic.
//
// Indoor: heated to a setpoint with a night setback (or following outdoors in summer), humidity
// from the outdoor dew point plus occupants, CO2 from occupancy (420 ppm outdoors; a bedroom
// at night and a living room in the evening rise towards 1000-1500 ppm).
import { HOUR_MS, MIN_MS, hash, u01, gauss, valueNoise, clamp, bump24, localHour, localDay, isWeekend, winterness } from './noise.js';
import { saturationHpa, type Weather } from './weather.js';

export const AIR = {
  /** Background PM2.5, ug/m3: summer and winter levels, log spread, knot spacing (hours). */
  BG_SUMMER: 6,
  BG_WINTER: 12,
  BG_SPREAD: 0.4,
  BG_KNOT_H: 20,
  /** Share of the background that the nocturnal inversion also concentrates. */
  MIX: 0.3,
  /** Peak traffic contribution at a site factor of 1, ug/m3. */
  TRAFFIC: 9,
  /** Peak wood-burning contribution in mid-winter at a factor of 1, ug/m3. */
  HEATING: 6,
  /** Inversion strength on a clear winter night (multiplier - 1). */
  INVERSION: 1.6,
  /** Washout per mm of weighted recent rain, look-back hours and decay (hours). */
  WASHOUT: 0.3,
  WASHOUT_HOURS: 24,
  WASHOUT_TAU_H: 8,
  /** Optical sensor bias: factor 1 + OPTICAL_RH_BIAS * ((RH - 75) / 25)^2 above 75 % RH. */
  OPTICAL_RH_BIAS: 0.5,
  /** Sensor noise: relative (per second), absolute ug/m3. */
  NOISE_REL: 0.05,
  NOISE_ABS: 0.5,
  /** CO2 outdoors, ppm. */
  CO2_OUTDOOR: 420,
} as const;

export interface AirQuality {
  /** PM concentrations as a low-cost optical sensor reports them, ug/m3. */
  pm(t: number): { pm1: number; pm25: number; pm10: number };
  /** The true PM2.5 (no sensor noise, no humidity bias). */
  pm25True(t: number): number;
  temperatureC(t: number): number;
  humidityPct(t: number): number;
  pressurePa(t: number): number;
  /** The site's traffic exposure factor (0.3 .. 1.6). */
  readonly site: number;
}

export interface AirContext {
  seed: number;
  dev: number;
  weather: Weather;
}

export function createAirQuality(c: AirContext): AirQuality {
  const w = c.weather;
  const { lat, tzH } = w.o;
  const key = hash(c.seed, c.dev, 'air');
  const kBg = hash(w.key, 'pm-bg');
  const site = clamp(Math.exp(0.45 * gauss(key, 'site')), 0.3, 1.6);
  const heat = 0.2 + 1.3 * u01(key, 'heat');
  const tOffset = 0.4 * gauss(key, 'toff');
  const rhOffset = 2 * gauss(key, 'rhoff');

  function pm25True(t: number): number {
    const wi = winterness(t / 86_400_000, lat);
    const h = localHour(t, tzH);
    const D = localDay(t, tzH);
    const bg = (AIR.BG_SUMMER + (AIR.BG_WINTER - AIR.BG_SUMMER) * wi) * Math.exp(AIR.BG_SPREAD * valueNoise(kBg, t / (AIR.BG_KNOT_H * HOUR_MS)));
    const traffic = isWeekend(D) ? 0.1 + 0.35 * bump24(h, 13, 3) : 0.15 * clamp((h - 6) / 2, 0, 1) * clamp((21 - h) / 2, 0, 1) + bump24(h, 8, 0.9) + 0.8 * bump24(h, 17.5, 1.3);
    const heating = wi * bump24(h, 20.5, 2);
    const N = w.cloud(t);
    // Night weight: 1 around 04:30, ~0 from 11 to 17.
    const night = Math.pow(0.5 + 0.5 * Math.cos((2 * Math.PI * (h - 4.5)) / 24), 2);
    const inversion = 1 + AIR.INVERSION * (1 - N) * (0.6 + 0.4 * wi) * night;
    const washout = Math.exp(-AIR.WASHOUT * w.recentRain(t, AIR.WASHOUT_HOURS, AIR.WASHOUT_TAU_H));
    const local = AIR.TRAFFIC * site * traffic + AIR.HEATING * heat * heating;
    return (bg * (1 - AIR.MIX + AIR.MIX * inversion) + inversion * local) * washout;
  }

  function humidityPct(t: number): number {
    return clamp(w.humidityPct(t) + rhOffset, 1, 100);
  }

  function pm(t: number) {
    const truth = pm25True(t);
    const rh = humidityPct(t);
    const bias = rh > 75 ? 1 + AIR.OPTICAL_RH_BIAS * ((rh - 75) / 25) * ((rh - 75) / 25) : 1;
    const sec = Math.floor(t / 1000);
    const noisy = Math.max(0, truth * bias * (1 + AIR.NOISE_REL * gauss(key, 'n', sec)) + AIR.NOISE_ABS * gauss(key, 'a', sec));
    const dry = Math.exp(-0.15 * w.recentRain(t, 12, 6));
    const h = localHour(t, tzH);
    const dayLight = bump24(h, 13, 4);
    const pm10 = noisy * (1.2 + 0.3 * dry) + (1 + 2.5 * site * dayLight) * dry + 0.5 * Math.abs(gauss(key, 'c', sec));
    const pm1 = noisy * (0.65 + 0.1 * u01(key, 'r1', Math.floor(t / MIN_MS)));
    return { pm1, pm25: noisy, pm10 };
  }

  return {
    site,
    pm,
    pm25True,
    temperatureC: (t) => w.temperatureC(t) + tOffset,
    humidityPct,
    pressurePa: (t) => w.pressurePa(t),
  };
}

export const INDOOR = {
  /** Heating setpoint (day, night) and the outdoor temperature above which heating is off, Cel. */
  SET_DAY: 21,
  SET_NIGHT: 18,
  HEATING_OFF_ABOVE: 15,
  /** Moisture added by occupants (dew point rise, Cel) and CO2 rise at full occupancy (ppm). */
  OCCUPANT_DEW: 3,
  CO2_RISE: 900,
} as const;

export interface IndoorClimate {
  temperatureC(t: number): number;
  humidityPct(t: number): number;
  co2Ppm(t: number): number;
  /** Occupancy 0..1 of the room at t. */
  occupancy(t: number): number;
}

/** A living room (default) or a bedroom (`room: 'bedroom'`) of a household in the region. */
export function createIndoor(c: AirContext, room: 'living' | 'bedroom' = 'living'): IndoorClimate {
  const w = c.weather;
  const { tzH } = w.o;
  const key = hash(c.seed, c.dev, 'indoor', room);
  const setOffset = 0.8 * gauss(key, 'set');
  const vent = 0.7 + 0.6 * u01(key, 'vent');

  function occupancy(t: number): number {
    const h = localHour(t, tzH);
    const we = isWeekend(localDay(t, tzH));
    if (room === 'bedroom') return clamp((h < 7 ? 1 : 0) + clamp((h - 22.5) * 2, 0, 1), 0, 1);
    return clamp(0.25 * bump24(h, 7.5, 0.8) + (we ? 0.6 * bump24(h, 13, 3) : 0.2 * bump24(h, 13, 2)) + bump24(h, 20, 1.8), 0, 1);
  }

  function temperatureC(t: number): number {
    const out = w.temperatureC(t);
    const h = localHour(t, tzH);
    const dayTime = clamp((h - 6) * 2, 0, 1) * clamp((22.5 - h) * 2, 0, 1);
    const set = INDOOR.SET_NIGHT + (INDOOR.SET_DAY - INDOOR.SET_NIGHT) * dayTime + setOffset;
    // Heated rooms hold the setpoint; in warm weather the room follows a damped outdoor swing.
    const free = 22 + 0.35 * (out - 20);
    const heat = clamp((INDOOR.HEATING_OFF_ABOVE + 3 - out) / 6, 0, 1);
    return heat * Math.max(set, free) + (1 - heat) * Math.max(free, set - 2) + 0.5 * occupancy(t);
  }

  function humidityPct(t: number): number {
    const td = w.dewPointC(t) + INDOOR.OCCUPANT_DEW * occupancy(t);
    const ti = temperatureC(t);
    return clamp((100 * saturationHpa(Math.min(td, ti))) / saturationHpa(ti), 15, 95);
  }

  function co2Ppm(t: number): number {
    // First-order room response: the occupancy of the last hours, decaying with ventilation.
    let s = 0;
    let wsum = 0;
    for (let k = 0; k < 12; k++) {
      const wt = Math.exp(-k / (2 * vent));
      s += occupancy(t - k * 0.5 * HOUR_MS) * wt;
      wsum += wt;
    }
    return AIR.CO2_OUTDOOR + INDOOR.CO2_RISE * (s / wsum) * (room === 'bedroom' ? 1.2 : 1) + 15 * gauss(key, 'co2', Math.floor(t / 2000));
  }

  return { temperatureC, humidityPct, co2Ppm, occupancy };
}
