// Deterministic randomness as pure functions of keys: every random quantity of the profiles is
// hash(keys...) -> [0, 1), so a value at time t needs no state and no history, virtual time can
// jump in either direction, and two models that share keys (the devices of one region share
// (seed, region)) see the same draws. Nothing here calls Math.random.
//
// Hash: Chris Wellons' "lowbias32" integer finalizer (bias 0.17, github.com/skeeto/hash-prospector),
// applied once per key word; keys are integers (negative and up to 2^53 allowed: split into two
// 32-bit words) or strings (FNV-1a 32 first).

/** Time units in ms. */
export const MIN_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** Mean tropical year in days (the period of every seasonal term). */
export const YEAR_DAYS = 365.2422;

function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** FNV-1a 32 of a string (region names, labels). */
export function strHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export type Key = number | string;

/** Mixes one integer key word pair into h (integers exact up to 2^53; floats floored). */
function step(h: number, k: number): number {
  const n = Math.floor(k);
  h = mix(h ^ (n >>> 0));
  return mix(h ^ (Math.floor(n / 4294967296) >>> 0) ^ 0x85ebca6b);
}

/** 32-bit hash of a list of keys. */
export function hash(...keys: Key[]): number {
  let h = 0x9e3779b9;
  for (const k of keys) h = typeof k === 'string' ? mix(h ^ strHash(k)) : step(h, k);
  return h;
}

/** hash(a, b) for two integers, without the rest-array (hot paths). */
export function hash2(a: number, b: number): number {
  return step(step(0x9e3779b9, a), b);
}

/** hash(a, b, c) for three integers. */
export function hash3(a: number, b: number, c: number): number {
  return step(step(step(0x9e3779b9, a), b), c);
}

/** Uniform in [0, 1) from keys. */
export function u01(...keys: Key[]): number {
  return hash(...keys) / 4294967296;
}

/** Uniform in [-1, 1) from keys. */
export function s11(...keys: Key[]): number {
  return (hash(...keys) / 4294967296) * 2 - 1;
}

/** Standard normal from keys (Box-Muller on two hashed uniforms). */
export function gauss(...keys: Key[]): number {
  const a = (hash(...keys, 1) + 1) / 4294967297; // (0, 1]
  const b = hash(...keys, 2) / 4294967296;
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
}

/**
 * 1-D value noise: hashed values in [-1, 1] at integer x, blended with smoothstep between them.
 * Continuous, with slope at most 1.5 * 2 per unit of x; keyed by `key` (a hash of whatever
 * the noise belongs to: seed, region, quantity).
 */
export function valueNoise(key: number, x: number): number {
  const i = Math.floor(x);
  const f = x - i;
  const a = (hash2(key, i) / 4294967296) * 2 - 1;
  const b = (hash2(key, i + 1) / 4294967296) * 2 - 1;
  const s = f * f * (3 - 2 * f);
  return a + (b - a) * s;
}

/** Below this mean, poisson() inverts the CDF; from it on, it uses the normal approximation. */
export const POISSON_EXACT_BELOW = 30;

/**
 * Poisson(lambda) from a uniform u in [0, 1) and, for large means, a standard normal z. The
 * inverse CDF stops where the sum no longer grows in float arithmetic (the terms shrink
 * geometrically once k > lambda), so a u above the reachable sum (1 - 2^-53 can be) returns
 * the largest count that still changes it instead of looping.
 */
export function poisson(lambda: number, u: number, z: number): number {
  if (!(lambda > 0)) return 0;
  if (lambda >= POISSON_EXACT_BELOW) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z));
  let k = 0;
  let p = Math.exp(-lambda);
  let F = p;
  while (u > F) {
    p *= lambda / (k + 1);
    if (F + p === F) break;
    k++;
    F += p;
  }
  return k;
}

/** Gaussian bump exp(-(x - mu)^2 / (2 sigma^2)). */
export function bump(x: number, mu: number, sigma: number): number {
  const d = (x - mu) / sigma;
  return Math.exp(-0.5 * d * d);
}

/** A bump on a 24-hour circle (hour 23.5 is close to hour 0.5). */
export function bump24(h: number, mu: number, sigma: number): number {
  let d = h - mu;
  d -= 24 * Math.round(d / 24);
  return bump(d, 0, sigma);
}

export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

export function smoothstep(x: number): number {
  const f = clamp(x, 0, 1);
  return f * f * (3 - 2 * f);
}

// ---------------------------------------------------------------------------------------------
// Local calendar. Days are local days of a fixed UTC offset (no daylight saving: a household's
// rhythm then shifts by an hour in summer against UTC, which the models accept).

/** Local day number (days since 1970-01-01 local) of UTC time t for a UTC offset in hours. */
export function localDay(t: number, tzH: number): number {
  return Math.floor((t + tzH * HOUR_MS) / DAY_MS);
}

/** UTC ms at which local day D starts. */
export function dayStart(D: number, tzH: number): number {
  return D * DAY_MS - tzH * HOUR_MS;
}

/** Local clock hour [0, 24) of t. */
export function localHour(t: number, tzH: number): number {
  const x = (t + tzH * HOUR_MS) / HOUR_MS;
  return x - 24 * Math.floor(x / 24);
}

/** Day of week of local day D: 0 Sunday .. 6 Saturday (1970-01-01 was a Thursday). */
export function dayOfWeek(D: number): number {
  return (((D + 4) % 7) + 7) % 7;
}

export function isWeekend(D: number): boolean {
  const w = dayOfWeek(D);
  return w === 0 || w === 6;
}

/** Day of the year, 1..366, of local day D. */
export function dayOfYear(D: number): number {
  const d = new Date(D * DAY_MS);
  return Math.round((D * DAY_MS - Date.UTC(d.getUTCFullYear(), 0, 1)) / DAY_MS) + 1;
}

/**
 * Season as a number in [0, 1]: 1 in mid-winter, 0 in mid-summer, for the hemisphere of `lat`
 * (minimum of the cosine on 17 January in the north, 17 July in the south). `dayNumber` may be
 * fractional (days since 1970-01-01).
 */
export function winterness(dayNumber: number, lat: number): number {
  // 1970-01-17 is day 16; the southern winter is half a year later.
  const peak = 16 + (lat < 0 ? YEAR_DAYS / 2 : 0);
  return 0.5 + 0.5 * Math.cos((2 * Math.PI * (dayNumber - peak)) / YEAR_DAYS);
}
