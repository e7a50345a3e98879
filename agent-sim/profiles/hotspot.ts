// LoRa hotspot traffic: which uplinks a gateway hears, when, and how strong.
//
// The gateway has a population of nodes in range (log-normal count per hotspot), each at a
// distance drawn uniformly over a disc (r = R sqrt(u)) with its own shadowing. Received power
// follows the log-distance path-loss fit measured for LoRa at 868 MHz by Petäjäjärvi et al.,
// "On the coverage of LPWANs: range evaluation and channel attenuation model for LoRa
// technology", ITST 2015 (PL = 128.95 + 23.2 log10(d / 1 km) dB, shadowing sigma 7.8 dB; here
// split into a per-node and a per-packet part). SNR is RSSI over the thermal noise floor of a
// 125 kHz channel (-174 + 10 log10(125e3) + 6 dB noise figure = -117 dBm), capped where SX127x
// packet SNR saturates. Nodes pick their spreading factor by ADR: the smallest SF whose
// demodulation floor (Semtech SX1276 datasheet Table 13: -7.5 dB at SF7 ... -20 dB at SF12)
// plus a 10 dB installation margin (ChirpStack's default for its ADR) is
// below the node's mean SNR; a share of nodes has ADR off and a fixed SF.
//
// Traffic: most nodes report periodically (flat over the day); the rest follow human activity
// (a daytime bump, less at weekends). Packets per hour are Poisson draws keyed by the hour;
// arrival times within the hour, the sending node, fading and channel are hashed per packet.
// Bad-CRC packets (counted in rxnb, not rxok) and downlinks (txnb) are Poisson per hour too.
// Counters are sums from the epoch: day totals are summed once and kept.
import { DAY_MS, HOUR_MS, hash, u01, gauss, poisson, clamp, bump24, localHour, localDay, isWeekend } from './noise.js';

export const HOTSPOT = {
  /** Nodes in range: median, log spread, bounds. */
  NODES_MEDIAN: 60,
  NODES_SPREAD: 0.8,
  NODES_MIN: 3,
  NODES_MAX: 1500,
  /** Mean uplinks per node per hour (periodic reporting every ~15-60 min). */
  UPLINKS_PER_NODE_H: 2.2,
  /** Share of the traffic that is periodic (the rest follows a daytime activity bump). */
  PERIODIC_SHARE: 0.7,
  /** Share of packets heard with a bad CRC: between these per hotspot. */
  CRC_BAD_MIN: 0.02,
  CRC_BAD_MAX: 0.1,
  /** Downlinks (joins, confirmations, MAC commands) per uplink. */
  DOWNLINK_SHARE: 0.04,
  /** Node EIRP (EU868 default 14 dBm) and gateway antenna gain. */
  TX_DBM: 14,
  ANT_GAIN_DBI: 3,
  /** Path loss at 1 km and 10 n, dB (Petäjäjärvi et al. 2015). */
  PL_1KM_DB: 128.95,
  PL_SLOPE_DB: 23.2,
  /** Shadowing per node and fading per packet, dB (sqrt(6.8^2 + 3.8^2) ~ 7.8). */
  SHADOW_NODE_DB: 6.8,
  FADE_PACKET_DB: 3.8,
  /** Thermal noise floor of a 125 kHz channel with a 6 dB noise figure, dBm. */
  NOISE_FLOOR_DBM: -117,
  SNR_MAX_DB: 12,
  /** Demodulation SNR floor, SF7..SF12, dB (SX1276 datasheet Table 13). */
  SNR_FLOOR_DB: [-7.5, -10, -12.5, -15, -17.5, -20],
  ADR_MARGIN_DB: 10,
  /** Nodes with ADR off and their fixed SF distribution (SF7, SF9, SF10, SF12). */
  NO_ADR_SHARE: 0.15,
  /** Radius of the node disc, km: between these per hotspot. */
  RANGE_MIN_KM: 1.5,
  RANGE_MAX_KM: 8,
  /** EU868 channels (LoRaWAN RP002 defaults + the usual 5), MHz. */
  CHANNELS_MHZ: [868.1, 868.3, 868.5, 867.1, 867.3, 867.5, 867.7, 867.9],
  /** Counters at the epoch: rxok drawn below this. */
  START_MAX: 100_000,
  /** lastUplink looks back this many hours (a gateway silent that long has no "last uplink"). */
  LAST_UPLINK_LOOKBACK_H: 48,
} as const;

export interface HotspotNode {
  distanceKm: number;
  /** Mean RSSI (dBm) and SNR (dB) of the node's packets. */
  rssi: number;
  snr: number;
  sf: number;
  adr: boolean;
  payload: number;
}

export interface Uplink {
  at: number;
  node: number;
  sf: number;
  rssi: number;
  snr: number;
  freqMHz: number;
  size: number;
}

export interface HotspotOptions {
  /** Nodes in range (default drawn per hotspot). */
  nodes?: number;
}

export interface Hotspot {
  readonly nodes: HotspotNode[];
  /** Expected uplinks per hour at t. */
  rateAt(t: number): number;
  /** Counters at t (sums since the hotspot started counting; never decrease). */
  counters(t: number): { rxok: number; rxnb: number; txnb: number };
  /** Uplinks received with a valid CRC in (from, to], in time order. */
  uplinks(from: number, to: number): Uplink[];
  /** The last uplink at or before t (looks back LAST_UPLINK_LOOKBACK_H hours). */
  lastUplink(t: number): Uplink | undefined;
}

export interface HotspotContext {
  seed: number;
  dev: number;
  tzH: number;
  epoch: number;
}

type CountKind = 'ok' | 'bad' | 'down';

export function createHotspot(c: HotspotContext, o: HotspotOptions = {}): Hotspot {
  const H = HOTSPOT;
  const key = hash(c.seed, c.dev, 'hotspot');
  const nNodes = o.nodes ?? Math.round(clamp(H.NODES_MEDIAN * Math.exp(H.NODES_SPREAD * clamp(gauss(key, 'nodes'), -3, 3)), H.NODES_MIN, H.NODES_MAX));
  const rangeKm = H.RANGE_MIN_KM + (H.RANGE_MAX_KM - H.RANGE_MIN_KM) * u01(key, 'range');
  const pBad = H.CRC_BAD_MIN + (H.CRC_BAD_MAX - H.CRC_BAD_MIN) * u01(key, 'bad');

  const nodes: HotspotNode[] = [];
  for (let j = 0; j < nNodes; j++) {
    let node: HotspotNode | undefined;
    // Draw until the node is heard at its SF (a node the gateway never hears is not in its population).
    for (let tryNo = 0; tryNo < 20 && !node; tryNo++) {
      const d = Math.max(0.05, rangeKm * Math.sqrt(u01(key, 'd', j, tryNo)) / (1 + tryNo));
      const rssi = H.TX_DBM + H.ANT_GAIN_DBI - (H.PL_1KM_DB + H.PL_SLOPE_DB * Math.log10(d)) - H.SHADOW_NODE_DB * gauss(key, 's', j, tryNo);
      const snr = Math.min(H.SNR_MAX_DB, rssi - H.NOISE_FLOOR_DBM);
      const adr = u01(key, 'adr', j) >= H.NO_ADR_SHARE;
      let sf = 12;
      if (adr) {
        for (let s = 7; s <= 12; s++)
          if (snr - H.SNR_FLOOR_DB[s - 7] >= H.ADR_MARGIN_DB) {
            sf = s;
            break;
          }
      } else {
        const u = u01(key, 'fixsf', j);
        sf = u < 0.4 ? 7 : u < 0.6 ? 9 : u < 0.75 ? 10 : 12;
      }
      if (snr >= H.SNR_FLOOR_DB[sf - 7] - 3) node = { distanceKm: d, rssi, snr, sf, adr, payload: 10 + Math.floor(41 * u01(key, 'size', j)) };
    }
    nodes.push(node ?? { distanceKm: 0.05, rssi: -60, snr: H.SNR_MAX_DB, sf: 7, adr: true, payload: 20 });
  }

  const base = nNodes * H.UPLINKS_PER_NODE_H;
  // Daily mean of the activity shape on a weekday (0.25 + the bump's integral / 24): the rate's mean stays ~base.
  const actMean = 0.25 + (3.5 * Math.sqrt(2 * Math.PI)) / 24;
  function rateAt(t: number): number {
    const h = localHour(t, c.tzH);
    const act = (0.25 + bump24(h, 13, 3.5)) * (isWeekend(localDay(t, c.tzH)) ? 0.8 : 1);
    return base * (H.PERIODIC_SHARE + ((1 - H.PERIODIC_SHARE) * act) / actMean);
  }

  /** Number of packets of a kind in UTC hour index h. */
  function count(kind: CountKind, h: number): number {
    const lam = rateAt(h * HOUR_MS + HOUR_MS / 2) * (kind === 'ok' ? 1 : kind === 'bad' ? pBad : H.DOWNLINK_SHARE);
    return poisson(lam, u01(key, kind, h), gauss(key, kind + 'z', h));
  }

  const arrival = (kind: CountKind, h: number, i: number) => h * HOUR_MS + Math.floor(u01(key, kind + 'at', h, i) * HOUR_MS);

  /** Packets of a kind in hour h that arrived at or before t. */
  function countUpTo(kind: CountKind, h: number, t: number): number {
    const n = count(kind, h);
    if (t >= (h + 1) * HOUR_MS) return n;
    let k = 0;
    for (let i = 0; i < n; i++) if (arrival(kind, h, i) <= t) k++;
    return k;
  }

  // Day totals (UTC days), summed once from the epoch's day.
  const D0 = Math.floor(c.epoch / DAY_MS);
  const cumUp: Record<CountKind, number[]> = { ok: [0], bad: [0], down: [0] };
  const cumDown: Record<CountKind, number[]> = { ok: [0], bad: [0], down: [0] };
  function dayCount(kind: CountKind, D: number): number {
    let s = 0;
    for (let k = 0; k < 24; k++) s += count(kind, D * 24 + k);
    return s;
  }
  function toDay(kind: CountKind, D: number): number {
    const k = D - D0;
    const up = cumUp[kind];
    const down = cumDown[kind];
    if (k >= 0) {
      while (up.length <= k) up.push(up[up.length - 1] + dayCount(kind, D0 + up.length - 1));
      return up[k];
    }
    while (down.length <= -k) down.push(down[down.length - 1] - dayCount(kind, D0 - down.length));
    return down[-k];
  }
  /** Packets of a kind from the start of D0 to t. */
  function fromD0(kind: CountKind, t: number): number {
    const D = Math.floor(t / DAY_MS);
    const h = Math.floor(t / HOUR_MS);
    let s = toDay(kind, D);
    for (let k = D * 24; k < h; k++) s += count(kind, k);
    return s + countUpTo(kind, h, t);
  }
  const at0: Record<CountKind, number> = { ok: fromD0('ok', c.epoch), bad: fromD0('bad', c.epoch), down: fromD0('down', c.epoch) };
  const start = Math.floor(H.START_MAX * u01(key, 'start'));
  const startBad = Math.floor(start * pBad);
  const startDown = Math.floor(start * H.DOWNLINK_SHARE);

  function counters(t: number) {
    const ok = start + fromD0('ok', t) - at0.ok;
    const bad = startBad + fromD0('bad', t) - at0.bad;
    return { rxok: ok, rxnb: ok + bad, txnb: startDown + fromD0('down', t) - at0.down };
  }

  function packet(h: number, i: number): Uplink {
    const at = arrival('ok', h, i);
    const j = Math.floor(u01(key, 'node', h, i) * nNodes);
    const nd = nodes[j];
    const rssi = Math.round(nd.rssi - H.FADE_PACKET_DB * gauss(key, 'fade', h, i));
    const snr = Math.round(Math.min(H.SNR_MAX_DB, rssi - H.NOISE_FLOOR_DBM + 1.5 * gauss(key, 'snrn', h, i)) * 10) / 10;
    const ch = H.CHANNELS_MHZ[Math.floor(u01(key, 'ch', h, i) * H.CHANNELS_MHZ.length)];
    return { at, node: j, sf: nd.sf, rssi, snr, freqMHz: ch, size: nd.payload };
  }

  function uplinks(from: number, to: number): Uplink[] {
    const out: Uplink[] = [];
    for (let h = Math.floor(from / HOUR_MS); h <= Math.floor(to / HOUR_MS); h++) {
      const n = count('ok', h);
      for (let i = 0; i < n; i++) {
        const a = arrival('ok', h, i);
        if (a > from && a <= to) out.push(packet(h, i));
      }
    }
    return out.sort((x, y) => x.at - y.at);
  }

  function lastUplink(t: number): Uplink | undefined {
    for (let h = Math.floor(t / HOUR_MS), k = 0; k < H.LAST_UPLINK_LOOKBACK_H; k++, h--) {
      const n = count('ok', h);
      let best = -1;
      let bestAt = -Infinity;
      for (let i = 0; i < n; i++) {
        const a = arrival('ok', h, i);
        if (a <= t && a > bestAt) {
          bestAt = a;
          best = i;
        }
      }
      if (best >= 0) return packet(h, best);
    }
    return undefined;
  }

  return { nodes, rateAt, counters, uplinks, lastUplink };
}
