// Household electricity consumption: a pure function of time whose running total has a closed form.
//
// Day totals. The energy of local day D is E(D) = F(D + 1) - F(D) with
//   F(D) = (annual / YEAR) * [D + S(D) + W(D)] + A_N * mean * h(D) + A_W * mean * g(D)
// where S is the integral of the seasonal cosine (winter days use more: lighting, heating
// pumps; the amplitude follows the dynamisation factor of the German standard load profile H0,
// about 1.24 in early January and 0.8 in July: VDEW, "Repräsentative VDEW-Lastprofile", 1999,
// as applied in BDEW's guides), W the running sum of per-weekday offsets that
// sum to zero over a week (weekends a little higher, as H0's Saturday/Sunday profiles), h a
// smooth weekly noise and g a white daily noise. The running total to any time is then F at
// its day plus the part of that day: no history is summed, virtual time can jump anywhere.
//
// Day shape. A day's minutes are filled with a standby base, a fridge compressor cycle, the
// occupants' activity (wake-up peak, midday presence, the evening peak H0 shows around 19-20 h,
// later on weekends), lighting while awake and dark (sunset from the sun model, so winter
// evenings are lit earlier), and appliance runs drawn per day (kettle 2-3 kW for 2-4 min, a hob
// element of 1.8 kW cycling, microwave 1 kW, a washing machine heating at 2 kW then tumbling, a
// dishwasher heating twice: typical rated powers of EU appliances). The soft part is scaled so the day's minutes sum to
// E(D) exactly; appliances keep their physical power unless the day is too small for them.
import { DAY_MS, HOUR_MS, YEAR_DAYS, hash, u01, gauss, valueNoise, clamp, bump, dayStart, dayOfWeek, isWeekend, localDay, winterness } from './noise.js';
import { DaySeries } from './series.js';
import { sunTimes, sunPosition } from './sun.js';

export const HOUSEHOLD = {
  /** Median annual consumption, kWh (a 2-3 person household in DE/NL uses about 2500-4000 kWh). */
  ANNUAL_KWH_MEDIAN: 3300,
  /** Log-normal spread of the annual consumption across households, and its bounds. */
  ANNUAL_SPREAD: 0.3,
  ANNUAL_MIN: 1200,
  ANNUAL_MAX: 9000,
  /** Seasonal amplitude of daily energy (H0 dynamisation: ~+-0.22) and the day of its peak (days after 1 Jan). */
  SEASON_AMP: 0.22,
  SEASON_PEAK_DAY: 4,
  /** Daily energy offsets Sunday..Saturday, as shares of the mean; sum 0. */
  WEEKDAY_OFFSET: [0.1, -0.03, -0.03, -0.03, -0.03, -0.03, 0.05],
  /** Smooth (weekly knots) and white day-to-day variation of daily energy, shares of the mean. */
  NOISE_SMOOTH: 0.3,
  NOISE_SMOOTH_DAYS: 7,
  NOISE_WHITE: 0.06,
  /** Shape: soft part never scaled below this share (an appliance-heavy day scales appliances instead). */
  MIN_SOFT_SCALE: 0.3,
  /** Sub-minute ripple of the reading (zero mean per minute). */
  RIPPLE: 0.05,
} as const;

export interface HouseholdOptions {
  /** Annual consumption, kWh (default: drawn per household around ANNUAL_KWH_MEDIAN). */
  annualKWh?: number;
}

export interface Household {
  readonly annualKWh: number;
  /** Power drawn at t, W (sub-minute ripple included). */
  powerW(t: number): number;
  /** Energy drawn from `epoch` to t, Wh (negative before the epoch): the exact integral of powerW. */
  energyWh(t: number): number;
  /** Energy of local day D, Wh. */
  dayWh(D: number): number;
  readonly series: DaySeries;
}

export interface HouseholdContext {
  seed: number;
  dev: number;
  lat: number;
  lon: number;
  tzH: number;
  epoch: number;
}

const WEEK_OFFSET_PREFIX: number[] = (() => {
  // Running sum of offsets from a Sunday (dow 0) over 0..7 days.
  const p = [0];
  for (let i = 0; i < 7; i++) p.push(p[i] + HOUSEHOLD.WEEKDAY_OFFSET[i]);
  return p;
})();

/** Sum of WEEKDAY_OFFSET over days [0, D). */
function weekSum(D: number): number {
  // Days since the Sunday on or before day 0 (1970-01-01 is a Thursday: dow 4).
  const n = D + 4;
  const r = ((n % 7) + 7) % 7;
  return WEEK_OFFSET_PREFIX[r] - WEEK_OFFSET_PREFIX[4];
}

export function createHousehold(c: HouseholdContext, o: HouseholdOptions = {}): Household {
  const H = HOUSEHOLD;
  const key = hash(c.seed, c.dev, 'household');
  const annual =
    o.annualKWh ?? clamp(H.ANNUAL_KWH_MEDIAN * Math.exp(H.ANNUAL_SPREAD * clamp(gauss(key, 'annual'), -2.5, 2.5)), H.ANNUAL_MIN, H.ANNUAL_MAX);
  const meanWh = (annual * 1000) / YEAR_DAYS;
  const kSmooth = hash(key, 'smooth');
  const kWhite = hash(key, 'white');
  const peak = H.SEASON_PEAK_DAY + (c.lat < 0 ? YEAR_DAYS / 2 : 0);

  // Household traits.
  const wake = clamp(6.6 + 0.6 * gauss(key, 'wake'), 5, 8.5);
  const bed = clamp(23 + 0.6 * gauss(key, 'bed'), 21.5, 24.5);
  const home = 0.15 + 0.85 * u01(key, 'home');
  const standby = 40 + 60 * u01(key, 'standby');
  const fridgeW = 90 + 40 * u01(key, 'fridge');
  const fridgePeriod = 45 + Math.floor(25 * u01(key, 'fperiod'));
  const lightW = 60 + 120 * u01(key, 'light');
  const activityScale = 0.7 + 0.6 * u01(key, 'activity');

  /** F(D): Wh from day 0 to the start of day D, up to a constant. */
  function F(D: number): number {
    const S = H.SEASON_AMP * (YEAR_DAYS / (2 * Math.PI)) * Math.sin((2 * Math.PI * (D - peak)) / YEAR_DAYS);
    return meanWh * (D + S + weekSum(D)) + H.NOISE_SMOOTH * meanWh * valueNoise(kSmooth, D / H.NOISE_SMOOTH_DAYS) + H.NOISE_WHITE * meanWh * (2 * u01(kWhite, D) - 1);
  }

  function build(D: number, out: Float64Array): void {
    const dk = hash(key, 'day', D);
    const weekend = isWeekend(D);
    const dow = dayOfWeek(D);
    const wk = wake + (weekend ? 1.3 : 0) + 0.3 * gauss(dk, 'wake');
    const bd = bed + (weekend && dow === 6 ? 0.6 : 0) + 0.3 * gauss(dk, 'bed');
    const start = dayStart(D, c.tzH);
    // Sunrise/sunset in local hours (lighting); polar day/night: never / always dark while awake.
    const st = sunTimes(start + DAY_MS / 2, c.lat, c.lon);
    const riseH = isNaN(st.rise) ? NaN : (st.rise - start) / HOUR_MS;
    const setH = isNaN(st.set) ? NaN : (st.set - start) / HOUR_MS;
    const polarDark = isNaN(riseH) && sunPosition(st.noon, c.lat, c.lon).cosZ < 0;
    // A fridge runs longer in summer.
    const duty = 0.3 + 0.15 * (1 - winterness(D, c.lat));
    const fphase = Math.floor(fridgePeriod * u01(dk, 'fphase'));
    const soft = new Float64Array(out.length);
    const appl = new Float64Array(out.length);
    let eSoft = 0;
    for (let m = 0; m < out.length; m++) {
      const h = (m + 0.5) / 60;
      const awake = clamp((h - wk + 0.25) * 2, 0, 1) * clamp((bd - h + 0.25) * 2, 0, 1);
      const dark = isNaN(riseH) ? (polarDark ? 1 : 0) : Math.max(clamp((riseH + 0.5 - h) * 2, 0, 1), clamp((h - setH + 0.5) * 2, 0, 1));
      let act: number;
      if (weekend) act = 420 * bump(h, wk + 1, 0.9) + 550 * bump(h, 12.8, 1.1) + 180 + 750 * bump(h, 19.2, 1.8);
      else act = 480 * bump(h, wk + 0.7, 0.6) + 300 * home * bump(h, 12.8, 1.2) + 140 * home + 800 * bump(h, 19.3, 1.6);
      const fridge = (m + fphase) % fridgePeriod < duty * fridgePeriod ? fridgeW : 0;
      const p = standby + fridge + awake * (act * activityScale + lightW * dark);
      soft[m] = p;
      eSoft += p / 60;
    }
    // Appliance runs: [start minute, minutes, W] segments.
    const run = (at: number, segs: [number, number][]) => {
      let m = Math.floor(at);
      for (const [mins, w] of segs) for (let k = 0; k < mins; k++, m++) if (m >= 0 && m < appl.length) appl[m] += w;
    };
    const kettles = 1 + Math.floor(3 * u01(dk, 'kettles'));
    for (let i = 0; i < kettles; i++) {
      const morning = u01(dk, 'km', i) < 0.45;
      const at = morning ? (wk + 0.2 + 1.2 * u01(dk, 'kt', i)) * 60 : (15 + 6 * u01(dk, 'kt', i)) * 60;
      run(at, [[2 + Math.floor(2 * u01(dk, 'kd', i)), 2000 + 800 * u01(dk, 'kw', i)]]);
    }
    if (u01(dk, 'cook') < (weekend ? 0.85 : 0.75)) {
      const at = (17.3 + 2.2 * u01(dk, 'ct')) * 60;
      const mins = 25 + Math.floor(35 * u01(dk, 'cd'));
      // A hob cycles its element: on two minutes in three.
      for (let k = 0; k < mins; k++) if (k % 3 !== 2) run(at + k, [[1, 1800]]);
    }
    if (weekend && u01(dk, 'lunch') < 0.5) for (let k = 0; k < 30; k++) if (k % 3 !== 2) run((12 + u01(dk, 'lt')) * 60 + k, [[1, 1600]]);
    if (u01(dk, 'micro') < 0.5) run((wk + (bd - wk) * u01(dk, 'mt')) * 60, [[2 + Math.floor(3 * u01(dk, 'md')), 1000]]);
    if (u01(dk, 'wash') < (weekend ? 0.6 : 0.35)) {
      const at = (home > 0.5 || weekend ? 9 + 10 * u01(dk, 'wt') : 18 + 2 * u01(dk, 'wt')) * 60;
      run(at, [[5, 150], [15, 2000], [60, 150], [10, 400]]);
    }
    if (u01(dk, 'dish') < 0.5) run((bd - 1.5 + u01(dk, 'dt')) * 60, [[20, 1900], [50, 80], [15, 1900]]);
    let eAppl = 0;
    for (let m = 0; m < appl.length; m++) eAppl += appl[m] / 60;
    // Scale to the day's energy exactly (see the header).
    const target = F(D + 1) - F(D);
    let k = (target - eAppl) / eSoft;
    let a = 1;
    if (k < H.MIN_SOFT_SCALE) {
      k = Math.min(H.MIN_SOFT_SCALE, target / eSoft);
      a = eAppl > 0 ? (target - k * eSoft) / eAppl : 0;
    }
    let e = 0;
    for (let m = 0; m < out.length; m++) {
      out[m] = k * soft[m] + a * appl[m];
      e += out[m] / 60;
    }
    // Float dust: put the difference on the whole day so the total is target to the last bit that matters.
    const fix = target / e;
    for (let m = 0; m < out.length; m++) out[m] *= fix;
  }

  const series = new DaySeries({ tzH: c.tzH, build, ripple: H.RIPPLE, rippleKey: hash(key, 'ripple') });
  const cum = (t: number) => F(localDay(t, c.tzH)) + series.partialWh(t);
  const e0 = cum(c.epoch);
  return {
    annualKWh: annual,
    series,
    powerW: (t) => series.powerW(t),
    energyWh: (t) => cum(t) - e0,
    dayWh: (D) => F(D + 1) - F(D),
  };
}

