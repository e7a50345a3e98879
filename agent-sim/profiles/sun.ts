// Sun position, clear-sky irradiance and the irradiance on a tilted panel.
//
// [NOAA]  NOAA Global Monitoring Laboratory: the Solar Calculator's formulas (gml.noaa.gov/grad/
//         solcalc/calcdetails.html, after Meeus, "Astronomical Algorithms") for declination,
//         equation of time and Sun-Earth distance; "General Solar Position Calculations"
//         (solareqns.PDF) for hour angle, zenith, azimuth and sunrise/sunset at the 90.833 deg
//         zenith (refraction + solar disc).
// [HAU]   Haurwitz (1945) clear-sky global horizontal irradiance, GHI = 1098 cosZ exp(-0.059/cosZ),
//         as implemented and ranked among the best simple models in Reno, Hansen & Stein,
//         "Global Horizontal Irradiance Clear Sky Models: Implementation and Analysis",
//         Sandia report SAND2012-2389 (2012).
// [DB]    Duffie & Beckman, "Solar Engineering of Thermal Processes", §2.15 isotropic-sky tilted
//         irradiance (Liu & Jordan 1963) with ground reflection. Extraterrestrial irradiance is
//         the solar constant (1361 W/m2, Kopp & Lean 2011) over the squared Sun-Earth distance.
// [ERBS]  Erbs, Klein & Duffie, "Estimation of the diffuse radiation fraction for hourly, daily
//         and monthly-average global radiation", Solar Energy 28(4), 1982: diffuse fraction
//         from the clearness index kt.
import { DAY_MS, clamp } from './noise.js';

export const SUN = {
  /** Solar constant, W/m2 (Kopp & Lean 2011). */
  SOLAR_CONSTANT: 1361,
  /** [HAU] coefficients. */
  HAURWITZ_A: 1098,
  HAURWITZ_B: 0.059,
  /** [NOAA] zenith of sunrise/sunset, degrees. */
  RISE_ZENITH_DEG: 90.833,
  /** Ground reflectance (albedo) for the panel's view of the ground ([DB] §2.15: 0.2 typical). */
  ALBEDO: 0.2,
  /** Below this cos(zenith) the beam part is dropped (the DNI division blows up at the horizon). */
  MIN_COSZ_BEAM: 0.035,
} as const;

const RAD = Math.PI / 180;

export interface SunPosition {
  /** cos of the zenith angle (negative below the horizon). */
  cosZ: number;
  /** Elevation above the horizon, degrees (no refraction). */
  elevationDeg: number;
  /** Azimuth clockwise from north, degrees. */
  azimuthDeg: number;
  /** Declination, radians. */
  decl: number;
  /** Equation of time, minutes. */
  eotMin: number;
}

/**
 * [NOAA] declination (rad), equation of time (min) and Sun-Earth distance (AU) at UTC time t,
 * from the NOAA Solar Calculator's formulas (Meeus, "Astronomical Algorithms", ch. 25, low
 * accuracy: ~0.01 deg, a few seconds of time). Spencer's (1971) day-of-year series would be
 * simpler but drifts by up to 0.3 deg around the equinoxes of leap years.
 */
function solar(t: number): { decl: number; eot: number; au: number } {
  const T = (t / DAY_MS + 2440587.5 - 2451545) / 36525;
  const L0 = (280.46646 + T * (36000.76983 + 0.0003032 * T)) % 360;
  const M = (357.52911 + T * (35999.05029 - 0.0001537 * T)) * RAD;
  const e = 0.016708634 - T * (0.000042037 + 0.0000001267 * T);
  const C = Math.sin(M) * (1.914602 - T * (0.004817 + 0.000014 * T)) + Math.sin(2 * M) * (0.019993 - 0.000101 * T) + Math.sin(3 * M) * 0.000289;
  const omega = (125.04 - 1934.136 * T) * RAD;
  const lambda = (L0 + C - 0.00569 - 0.00478 * Math.sin(omega)) * RAD;
  const eps0 = 23 + (26 + (21.448 - T * (46.815 + T * (0.00059 - T * 0.001813))) / 60) / 60;
  const eps = (eps0 + 0.00256 * Math.cos(omega)) * RAD;
  const decl = Math.asin(Math.sin(eps) * Math.sin(lambda));
  const y = Math.tan(eps / 2) * Math.tan(eps / 2);
  const l = L0 * RAD;
  const eot =
    (4 / RAD) *
    (y * Math.sin(2 * l) - 2 * e * Math.sin(M) + 4 * e * y * Math.sin(M) * Math.cos(2 * l) - 0.5 * y * y * Math.sin(4 * l) - 1.25 * e * e * Math.sin(2 * M));
  const au = (1.000001018 * (1 - e * e)) / (1 + e * Math.cos(M + C * RAD));
  return { decl, eot, au };
}

function position(minutesUtc: number, decl: number, eot: number, lat: number, lon: number): { cosZ: number; az: number } {
  const ha = ((minutesUtc + eot + 4 * lon) / 4 - 180) * RAD;
  const phi = lat * RAD;
  const cosZ = Math.sin(phi) * Math.sin(decl) + Math.cos(phi) * Math.cos(decl) * Math.cos(ha);
  // Azimuth from south (positive west), then from north clockwise.
  const azS = Math.atan2(Math.sin(ha), Math.cos(ha) * Math.sin(phi) - Math.tan(decl) * Math.cos(phi));
  let az = azS / RAD + 180;
  if (az >= 360) az -= 360;
  return { cosZ, az };
}

/** Position of the sun at UTC time t seen from (lat, lon) in degrees (east positive). */
export function sunPosition(t: number, lat: number, lon: number): SunPosition {
  const { decl, eot } = solar(t);
  const p = position((((t % DAY_MS) + DAY_MS) % DAY_MS) / 60000, decl, eot, lat, lon);
  return { cosZ: p.cosZ, elevationDeg: 90 - Math.acos(clamp(p.cosZ, -1, 1)) / RAD, azimuthDeg: p.az, decl, eotMin: eot };
}

export interface SunSteps {
  /** cos(zenith) and azimuth (deg from north) at start + (i + 0.5) * stepMs. */
  cosZ: Float64Array;
  azimuthDeg: Float64Array;
  /** Extraterrestrial normal irradiance at the middle of the span, W/m2. */
  etr: number;
}

/**
 * The sun at n steps of stepMs from `start` (at each step's middle): declination and equation
 * of time interpolated between the span's ends (they move < 0.5 deg and < 0.5 min a day).
 */
export function sunSteps(start: number, n: number, stepMs: number, lat: number, lon: number): SunSteps {
  const end = start + n * stepMs;
  const a = solar(start);
  const b = solar(end);
  const cosZ = new Float64Array(n);
  const azimuthDeg = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = start + (i + 0.5) * stepMs;
    const f = (t - start) / (end - start);
    const p = position((((t % DAY_MS) + DAY_MS) % DAY_MS) / 60000, a.decl + (b.decl - a.decl) * f, a.eot + (b.eot - a.eot) * f, lat, lon);
    cosZ[i] = p.cosZ;
    azimuthDeg[i] = p.az;
  }
  return { cosZ, azimuthDeg, etr: extraterrestrial(start + (n * stepMs) / 2) };
}

/** [NOAA] solar noon, sunrise and sunset (UTC ms) of the UTC day containing t; NaN rise/set in polar day or night. */
export function sunTimes(t: number, lat: number, lon: number): { noon: number; rise: number; set: number } {
  const day0 = Math.floor(t / DAY_MS) * DAY_MS;
  const { decl, eot } = solar(day0 + DAY_MS / 2);
  const noon = day0 + (720 - 4 * lon - eot) * 60000;
  const phi = lat * RAD;
  const c = Math.cos(SUN.RISE_ZENITH_DEG * RAD) / (Math.cos(phi) * Math.cos(decl)) - Math.tan(phi) * Math.tan(decl);
  if (c < -1 || c > 1) return { noon, rise: NaN, set: NaN };
  const ha = Math.acos(c) / RAD;
  return { noon, rise: noon - 4 * ha * 60000, set: noon + 4 * ha * 60000 };
}

/** Extraterrestrial normal irradiance at UTC time t: the solar constant over the squared Sun-Earth distance. */
export function extraterrestrial(t: number): number {
  const r = solar(t).au;
  return SUN.SOLAR_CONSTANT / (r * r);
}

/** [HAU] clear-sky global horizontal irradiance, W/m2, for cos(zenith). */
export function clearSkyGhi(cosZ: number): number {
  if (cosZ <= 0) return 0;
  return SUN.HAURWITZ_A * cosZ * Math.exp(-SUN.HAURWITZ_B / cosZ);
}

/** [ERBS] diffuse fraction of global horizontal irradiance for the clearness index kt. */
export function erbsDiffuseFraction(kt: number): number {
  if (kt <= 0.22) return 1 - 0.09 * kt;
  if (kt <= 0.8) return 0.9511 - 0.1604 * kt + 4.388 * kt * kt - 16.638 * kt * kt * kt + 12.336 * kt * kt * kt * kt;
  return 0.165;
}

export interface PanelGeometry {
  /** Tilt from horizontal, degrees. */
  tiltDeg: number;
  /** Azimuth the panel faces, clockwise from north (180 = south), degrees. */
  azimuthDeg: number;
}

/**
 * [DB] §2.15 isotropic sky: irradiance on the panel plane (W/m2) from global horizontal `ghi`,
 * split into beam and diffuse by [ERBS] with the clearness index against `etr` (extraterrestrial
 * normal irradiance).
 */
export function planeOfArray(ghi: number, cosZ: number, sunAzimuthDeg: number, etr: number, panel: PanelGeometry): number {
  if (ghi <= 0 || cosZ <= 0) return 0;
  const beta = panel.tiltDeg * RAD;
  const kt = clamp(ghi / (etr * cosZ), 0, 1);
  const dhi = cosZ < SUN.MIN_COSZ_BEAM ? ghi : ghi * erbsDiffuseFraction(kt);
  const dni = cosZ < SUN.MIN_COSZ_BEAM ? 0 : (ghi - dhi) / cosZ;
  const sinZ = Math.sqrt(Math.max(0, 1 - cosZ * cosZ));
  const cosI = cosZ * Math.cos(beta) + sinZ * Math.sin(beta) * Math.cos((sunAzimuthDeg - panel.azimuthDeg) * RAD);
  return dni * Math.max(0, cosI) + (dhi * (1 + Math.cos(beta))) / 2 + (ghi * SUN.ALBEDO * (1 - Math.cos(beta))) / 2;
}
