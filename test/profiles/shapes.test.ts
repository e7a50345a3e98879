// The curves have the shapes the models promise: PV zero at night and highest near solar noon,
// more in summer (and in December south of the equator); households peak in the morning and
// evening, weekends differ from weekdays, winter days use more; PM2.5 rises with rush hours
// and clear-night inversions and falls with rain; temperature and humidity run opposite daily
// cycles; a hotspot hears more by day, its SF follows the link budget, its RSSI falls with distance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProfiles, sunPosition, sunTimes, localDay, localHour, isWeekend, dayStart, DAY_MS, HOUR_MS, MIN_MS, HOTSPOT } from '../../agent-sim/profiles/index.js';

const P = createProfiles({ seed: 11, region: 'utrecht', lat: 52.09, lon: 5.12 });
const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;

test('PV: exactly zero while the sun is down; clear-sky output peaks within 15 min of solar noon', () => {
  const pv = P.pv(1, 5);
  for (const day of [Date.UTC(2024, 0, 15), Date.UTC(2024, 3, 1), Date.UTC(2024, 5, 21), Date.UTC(2024, 9, 10)]) {
    let best = 0;
    let bestAt = 0;
    for (let t = day; t < day + DAY_MS; t += MIN_MS) {
      const p = pv.powerW(t);
      if (sunPosition(t, P.lat, P.lon).elevationDeg < -0.5) assert.equal(p, 0, new Date(t).toISOString());
      assert.ok(p >= 0 && p <= (5000 / 1.15) * 1.0001, 'within the inverter rating');
      const c = pv.clearSkyW(t);
      if (c > best) [best, bestAt] = [c, t];
    }
    const noon = sunTimes(day + DAY_MS / 2, P.lat, P.lon).noon;
    assert.ok(Math.abs(bestAt - noon) <= 15 * MIN_MS, `clear-sky peak ${new Date(bestAt).toISOString()} vs noon ${new Date(noon).toISOString()}`);
  }
});

test('PV: the average day (with clouds) peaks within an hour of solar noon', () => {
  const pv = P.pv(2, 5);
  const bins = new Array(96).fill(0);
  const D0 = localDay(Date.UTC(2024, 5, 1), P.tzH);
  for (let d = 0; d < 40; d++)
    for (let k = 0; k < 96; k++) bins[k] += pv.powerW(dayStart(D0 + d, P.tzH) + k * 15 * MIN_MS + 7.5 * MIN_MS);
  const k = bins.indexOf(Math.max(...bins));
  const at = dayStart(D0 + 20, P.tzH) + k * 15 * MIN_MS + 7.5 * MIN_MS;
  const noon = sunTimes(at, P.lat, P.lon).noon;
  assert.ok(Math.abs(at - noon) <= HOUR_MS, `peak bin at ${new Date(at).toISOString()}, noon ${new Date(noon).toISOString()}`);
  assert.equal(bins[0], 0, 'nothing at local midnight');
});

test('PV: summer yields several times winter (north), and the other way round south of the equator', () => {
  const month = (pv: ReturnType<typeof P.pv>, y: number, m: number) => pv.energyWh(Date.UTC(y, m + 1, 1)) - pv.energyWh(Date.UTC(y, m, 1));
  const north = P.pv(3, 5);
  const jun = month(north, 2024, 5) + month(north, 2024, 6);
  const dec = month(north, 2024, 11) + month(north, 2024, 0);
  assert.ok(jun > 3 * dec, `north: Jun+Jul ${jun.toFixed(0)} Wh vs Dec+Jan ${dec.toFixed(0)} Wh`);
  const S = createProfiles({ seed: 11, region: 'cape', lat: -33.92, lon: 18.42 });
  const south = S.pv(3, 5);
  assert.equal(south.panel.azimuthDeg, 0, 'southern panels face north');
  const sJun = month(south, 2024, 5) + month(south, 2024, 6);
  const sDec = month(south, 2024, 11) + month(south, 2024, 0);
  assert.ok(sDec > 1.5 * sJun, `south: Dec+Jan ${sDec.toFixed(0)} Wh vs Jun+Jul ${sJun.toFixed(0)} Wh`);
  // Clear-sky day energy follows the sun height alone.
  const clearDay = (pv: ReturnType<typeof P.pv>, t0: number) => {
    let e = 0;
    for (let t = t0; t < t0 + DAY_MS; t += 5 * MIN_MS) e += pv.clearSkyW(t) / 12;
    return e;
  };
  assert.ok(clearDay(north, Date.UTC(2024, 5, 21)) > 2 * clearDay(north, Date.UTC(2024, 11, 21)));
  // A year at 52 N: 800..1300 kWh per kWp (the Netherlands measure ~900-1000).
  const year = (north.energyWh(Date.UTC(2025, 0, 1)) - north.energyWh(Date.UTC(2024, 0, 1))) / 5000;
  assert.ok(year > 800 && year < 1300, `yield ${year.toFixed(0)} kWh/kWp`);
});

/** Mean power per local hour over `days` days from t0, split into weekdays and weekends, averaged over households. */
function hourly(devs: number[], t0: number, days: number) {
  const wd = new Array(24).fill(0);
  const we = new Array(24).fill(0);
  let nwd = 0;
  let nwe = 0;
  for (const dev of devs) {
    const h = P.household(dev);
    const D0 = localDay(t0, P.tzH);
    for (let d = 0; d < days; d++) {
      const D = D0 + d;
      const w = isWeekend(D);
      if (w) nwe++;
      else nwd++;
      for (let m = 0; m < 1440; m += 10) {
        const t = dayStart(D, P.tzH) + m * MIN_MS + 5 * MIN_MS;
        (w ? we : wd)[Math.floor(localHour(t, P.tzH))] += h.powerW(t) / 6;
      }
    }
  }
  return { wd: wd.map((x) => x / nwd), we: we.map((x) => x / nwe) };
}

test('household: morning and evening peaks over a night base, on weekdays and weekends', () => {
  const devs = [1, 2, 3, 4, 5, 6, 7, 8];
  for (const [name, t0] of [['winter', Date.UTC(2024, 0, 8)], ['summer', Date.UTC(2024, 5, 3)]] as const) {
    const { wd, we } = hourly(devs, t0, 28);
    const night = mean(wd.slice(1, 5));
    const morning = Math.max(...wd.slice(6, 10));
    const midday = mean(wd.slice(10, 15));
    const evening = Math.max(...wd.slice(17, 22));
    assert.ok(morning > 2 * night, `${name} weekday morning ${morning.toFixed(0)} vs night ${night.toFixed(0)}`);
    assert.ok(morning > midday, `${name} weekday morning above midday`);
    assert.ok(evening > 3 * night && evening > 1.5 * midday, `${name} weekday evening ${evening.toFixed(0)}`);
    assert.equal(wd.indexOf(Math.max(...wd)), wd.indexOf(evening), `${name}: the day's peak is in the evening`);
    const peakH = wd.indexOf(evening);
    assert.ok(peakH >= 18 && peakH <= 21, `${name} evening peak at ${peakH} h`);
    assert.ok(Math.max(...we.slice(17, 22)) > 3 * mean(we.slice(1, 5)), `${name} weekend evening`);
  }
});

test('household: weekends differ from weekdays (later mornings, more at midday, more per day)', () => {
  const devs = [1, 2, 3, 4, 5, 6, 7, 8];
  const { wd, we } = hourly(devs, Date.UTC(2024, 2, 4), 56);
  assert.ok(wd[7] > 1.5 * we[7], `07 h: weekday ${wd[7].toFixed(0)} vs weekend ${we[7].toFixed(0)}`);
  assert.ok(mean(we.slice(10, 15)) > 1.3 * mean(wd.slice(10, 15)), 'weekend middays are busier');
  const wdPeak = wd.slice(5, 12).indexOf(Math.max(...wd.slice(5, 12)));
  const wePeak = we.slice(5, 12).indexOf(Math.max(...we.slice(5, 12)));
  assert.ok(wePeak > wdPeak, `morning peak later at weekends (${wePeak + 5} h vs ${wdPeak + 5} h)`);
  const day = (w: boolean) => {
    const e: number[] = [];
    for (const dev of devs) {
      const h = P.household(dev);
      for (let D = localDay(Date.UTC(2024, 0, 1), P.tzH); D < localDay(Date.UTC(2025, 0, 1), P.tzH); D++) if (isWeekend(D) === w) e.push(h.dayWh(D));
    }
    return mean(e);
  };
  assert.ok(day(true) > 1.05 * day(false), 'weekend days use more energy');
});

test('household: winter days use more than summer days; the year adds up to the annual consumption', () => {
  for (const dev of [1, 2, 3]) {
    const h = P.household(dev);
    const jan = h.energyWh(Date.UTC(2024, 1, 1)) - h.energyWh(Date.UTC(2024, 0, 1));
    const jul = h.energyWh(Date.UTC(2024, 7, 1)) - h.energyWh(Date.UTC(2024, 6, 1));
    assert.ok(jan > 1.25 * jul, `dev ${dev}: January ${jan.toFixed(0)} vs July ${jul.toFixed(0)} Wh`);
    const year = (h.energyWh(Date.UTC(2025, 0, 1)) - h.energyWh(Date.UTC(2024, 0, 1))) / 1000;
    assert.ok(Math.abs(year / h.annualKWh - 1) < 0.02, `dev ${dev}: ${year.toFixed(0)} kWh in 2024 vs ${h.annualKWh.toFixed(0)} kWh/year`);
  }
  // Annual consumptions spread around the median, within the bounds.
  const a = [];
  for (let d = 0; d < 200; d++) a.push(P.household(d).annualKWh);
  assert.ok(Math.min(...a) >= 1200 && Math.max(...a) <= 9000 && Math.max(...a) > 1.8 * Math.min(...a));
});

test('air: rush hours, night inversion on clear nights, washout by rain', () => {
  const aq = P.airQuality(4);
  const W = P.weather;
  const byHour: number[][] = Array.from({ length: 24 }, () => []);
  const clearNight: number[] = [];
  const cloudyNight: number[] = [];
  const wet: number[] = [];
  const dry: number[] = [];
  const D0 = localDay(Date.UTC(2024, 0, 1), P.tzH);
  for (let D = D0; D < D0 + 120; D++) {
    for (let h = 0; h < 24; h++) {
      const t = dayStart(D, P.tzH) + h * HOUR_MS + 30 * MIN_MS;
      const pm = aq.pm25True(t);
      if (!isWeekend(D)) byHour[h].push(pm);
      if (h >= 2 && h <= 5) (W.cloud(t) < 0.3 ? clearNight : W.cloud(t) > 0.8 ? cloudyNight : []).push(pm);
      const rain = W.recentRain(t, 3, 2);
      if (rain > 2) wet.push(pm);
      else if (W.recentRain(t, 24, 8) === 0) dry.push(pm);
    }
  }
  const m = byHour.map(mean);
  assert.ok(m[8] > 1.2 * m[13] && m[17] > 1.1 * m[13], `weekday 08 h ${m[8].toFixed(1)}, 13 h ${m[13].toFixed(1)}, 17 h ${m[17].toFixed(1)}`);
  assert.ok(clearNight.length > 20 && cloudyNight.length > 20);
  assert.ok(mean(clearNight) > 1.3 * mean(cloudyNight), `clear nights ${mean(clearNight).toFixed(1)} vs overcast ${mean(cloudyNight).toFixed(1)}`);
  assert.ok(wet.length > 10 && dry.length > 10);
  assert.ok(mean(wet) < 0.7 * mean(dry), `after rain ${mean(wet).toFixed(1)} vs dry ${mean(dry).toFixed(1)}`);
  // The sensor view: PM1 <= PM2.5 <= PM10, never negative.
  for (let t = Date.UTC(2024, 0, 1); t < Date.UTC(2024, 0, 8); t += 7 * MIN_MS + 13000) {
    const p = aq.pm(t);
    assert.ok(p.pm1 >= 0 && p.pm1 <= p.pm25 + 1e-9 && p.pm25 <= p.pm10, JSON.stringify(p));
  }
});

test('weather: warm dry afternoons, cool humid nights; dew point never above the temperature', () => {
  const W = P.weather;
  const at = (h: number) => {
    const T: number[] = [];
    const RH: number[] = [];
    const D0 = localDay(Date.UTC(2024, 4, 1), P.tzH);
    for (let D = D0; D < D0 + 60; D++) {
      // Local solar hour h: UTC h - lon / 15.
      const t = D * DAY_MS + (h - P.lon / 15) * HOUR_MS;
      T.push(W.temperatureC(t));
      RH.push(W.humidityPct(t));
    }
    return { T: mean(T), RH: mean(RH) };
  };
  const night = at(5);
  const day = at(15);
  assert.ok(day.T > night.T + 4, `15 h ${day.T.toFixed(1)} vs 05 h ${night.T.toFixed(1)} Cel`);
  assert.ok(night.RH > day.RH + 15, `RH 05 h ${night.RH.toFixed(0)} vs 15 h ${day.RH.toFixed(0)}`);
  for (let t = Date.UTC(2024, 0, 1); t < Date.UTC(2025, 0, 1); t += 5 * HOUR_MS + 7 * MIN_MS) {
    const T = W.temperatureC(t);
    assert.ok(W.dewPointC(t) <= T + 1e-9);
    const rh = W.humidityPct(t);
    assert.ok(rh >= 1 && rh <= 100);
    assert.ok(T > -30 && T < 40);
    const p = W.pressurePa(t);
    assert.ok(p > 97000 && p < 105000);
  }
  // Seasons: July warmer than January by about twice the annual half-range.
  const month = (m: number) => {
    const T: number[] = [];
    for (let t = Date.UTC(2024, m, 1); t < Date.UTC(2024, m + 1, 1); t += 3 * HOUR_MS) T.push(W.temperatureC(t));
    return mean(T);
  };
  assert.ok(month(6) - month(0) > 8, `July ${month(6).toFixed(1)} vs January ${month(0).toFixed(1)}`);
});

test('weather: regimes persist for days and overcast is commoner in winter', () => {
  const W = P.weather;
  let same = 0;
  const counts = { winter: [0, 0, 0], summer: [0, 0, 0] };
  const D0 = localDay(Date.UTC(2020, 0, 1), P.tzH);
  for (let D = D0; D < D0 + 5 * 365; D++) {
    const r = W.regime(D);
    if (r === W.regime(D + 1)) same++;
    const m = new Date(D * DAY_MS).getUTCMonth();
    if (m === 11 || m <= 1) counts.winter[r]++;
    if (m >= 5 && m <= 7) counts.summer[r]++;
  }
  // Renewal chain: P(same next day) = 1 - RENEW (1 - pi_r) ~ 0.72 for these distributions.
  assert.ok(same / (5 * 365) > 0.65 && same / (5 * 365) < 0.8, `persistence ${(same / 1825).toFixed(2)}`);
  const share = (c: number[], i: number) => c[i] / (c[0] + c[1] + c[2]);
  assert.ok(share(counts.winter, 2) > share(counts.summer, 2) + 0.15, JSON.stringify(counts));
  assert.ok(share(counts.summer, 0) > share(counts.winter, 0) + 0.05, JSON.stringify(counts));
});

test('hotspot: more uplinks by day; SF by link budget; RSSI falls with distance; counts follow the rate', () => {
  const gws = [1, 2, 3, 4, 5, 6].map((d) => P.hotspot(d));
  for (const gw of gws) {
    const D = localDay(Date.UTC(2024, 2, 5), P.tzH); // a Tuesday
    assert.ok(!isWeekend(D));
    assert.ok(gw.rateAt(dayStart(D, P.tzH) + 13 * HOUR_MS) > 1.3 * gw.rateAt(dayStart(D, P.tzH) + 3 * HOUR_MS));
    // A week's packets against the integral of the rate (Poisson: within 5 sigma).
    const t0 = Date.UTC(2024, 2, 4);
    let expect = 0;
    for (let t = t0; t < t0 + 7 * DAY_MS; t += HOUR_MS) expect += gw.rateAt(t + HOUR_MS / 2);
    const got = gw.counters(t0 + 7 * DAY_MS).rxok - gw.counters(t0).rxok;
    assert.ok(Math.abs(got - expect) < 5 * Math.sqrt(expect) + 5, `week: ${got} packets, rate integral ${expect.toFixed(0)}`);
    const up = gw.uplinks(t0, t0 + 6 * HOUR_MS);
    assert.equal(up.length, gw.counters(t0 + 6 * HOUR_MS).rxok - gw.counters(t0).rxok, 'uplinks() lists what rxok counts');
    for (const u of up) {
      assert.ok(u.sf >= 7 && u.sf <= 12 && u.snr <= HOTSPOT.SNR_MAX_DB && u.rssi < -20 && u.rssi > -150);
      assert.ok((HOTSPOT.CHANNELS_MHZ as readonly number[]).includes(u.freqMHz));
    }
  }
  const nodes = gws.flatMap((g) => g.nodes);
  // ADR nodes: better links use lower SF; every node is heard at its SF.
  const adr = nodes.filter((n) => n.adr);
  const sf7 = adr.filter((n) => n.sf === 7);
  const sf12 = adr.filter((n) => n.sf === 12);
  assert.ok(sf7.length > 0 && sf12.length > 0);
  assert.ok(mean(sf7.map((n) => n.snr)) > mean(sf12.map((n) => n.snr)) + 10);
  for (const n of nodes) assert.ok(n.snr >= HOTSPOT.SNR_FLOOR_DB[n.sf - 7] - 3);
  // Far nodes are weaker (log-distance with shadowing: a clear negative correlation with log d).
  const x = nodes.map((n) => Math.log10(n.distanceKm));
  const y = nodes.map((n) => n.rssi);
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  const slope = sxy / sxx;
  assert.ok(slope < -12 && slope > -30, `RSSI slope ${slope.toFixed(1)} dB/decade (model 23.2, minus the selection of heard nodes)`);
});
