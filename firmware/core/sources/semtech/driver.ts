// Semtech UDP source: the device listens where a LoRa gateway's packet forwarder sends its
// upstream datagrams, answers them as a network server would (PUSH_ACK, PULL_ACK), and turns
// the forwarder's `stat` reports and `rxpk` metadata into readings. It never forwards packets
// anywhere: it only observes the hotspot.
//
// Readings (docs/sources/semtech.md):
//   totals (s, no unit, on flash, never backwards): rxnb rxok rxfw dwnb txnb (sums of the
//     per-interval `stat` counts), pk (rxpk entries), sf7..sf12 (rxpk per spreading factor;
//     sf5, sf6 and fsk only once non-zero)
//   since the previous read (v): rssi_min rssi_max rssi_avg (dBm), snr_min snr_max snr_avg (dB),
//     ch<kHz> packets per channel frequency (count), e.g. ch868100
//   from a `stat` received since the previous read (v): ackr (%), temp (Cel), lat (lat),
//     lon (lon), alt (m)
// A read before any valid datagram arrived answers E_NO_DATA.
import type { Host, Udp } from '../../host.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { err } from '../../util/errors.js';
import { crc32 } from '../../session/flash-log.js';
import { SEMTECH_SCHEMA } from './schema.js';
import { decodeDatagram, ackFor, PUSH_DATA, PULL_DATA, TX_ACK, SF_MIN, R_SHORT, R_LONG, R_VERSION, R_TYPE, R_JSON, R_PAYLOAD, type PushPayload, type DecodeLimits } from './decoder.js';
import { PersistentTotals, TOTALS_KIND_SEMTECH } from '../s0/totals.js';

/** Flash file prefix: `sm_<id>0`, `sm_<id>1`. */
export const SEMTECH_FILE_PREFIX = 'sm_';
/** Totals on flash, in record order (the order is part of the file format: append only). */
export const SEMTECH_TOTALS = ['rxnb', 'rxok', 'rxfw', 'dwnb', 'txnb', 'pk', 'fsk', 'sf5', 'sf6', 'sf7', 'sf8', 'sf9', 'sf10', 'sf11', 'sf12'];
const T_PK = 5;
const T_FSK = 6;
const T_SF = 7;
/** Reported only once non-zero (most gateways never see them). */
const SPARSE: { [name: string]: boolean } = { fsk: true, sf5: true, sf6: true };

export interface SemtechConfig {
  port: number;
  address?: string;
  eui?: string;
  maxDatagram: number;
  maxRxpk: number;
  maxDepth: number;
  maxChannels: number;
  dedupe: number;
  saveMinIntervalMs: number;
  saveMaxIntervalMs: number;
  fileBytes: number;
}

export interface SemtechStats {
  [name: string]: number;
  datagrams: number;
  pushData: number;
  pullData: number;
  txAck: number;
  statReports: number;
  rxpk: number;
  acks: number;
  ackErrors: number;
  /** Rejected: too short, too long, wrong version, a type a server does not receive, bad JSON, bad fields, another gateway, UDP duplicate. */
  short: number;
  long: number;
  badVersion: number;
  badType: number;
  badJson: number;
  badPayload: number;
  otherEui: number;
  duplicate: number;
  /** Packets on channels beyond maxChannels in one read interval (still in the totals). */
  chanOverflow: number;
  udpErrors: number;
  saves: number;
  saveErrors: number;
}

export interface SemtechSource extends Source {
  stats(): SemtechStats;
  /** The port actually bound (once known), for tests and logs. */
  udp(): Udp;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

export function createSemtech(host: Host, id: string, intervalMs: number, c: SemtechConfig): SemtechSource {
  const io = host.io;
  if (!io || !io.udp) throw err('E_NO_IO', 'semtech "' + id + '": this host has no io.udp');
  if (c.eui !== undefined && c.eui.length !== 16) throw err('E_CONFIG', 'semtech "' + id + '": eui expected 16 hex digits, got ' + c.eui.length);
  if (c.saveMaxIntervalMs < c.saveMinIntervalMs)
    throw err('E_CONFIG', 'semtech "' + id + '": saveMaxIntervalMs (' + c.saveMaxIntervalMs + ') must not be below saveMinIntervalMs (' + c.saveMinIntervalMs + ')');
  const eui = c.eui === undefined ? undefined : c.eui.toLowerCase();
  const clock = host.clock;
  const totals = new PersistentTotals(
    host.storage,
    // delta 2^64: never reached; the intervals alone pace the writes (counts arrive in bursts).
    { file: SEMTECH_FILE_PREFIX + id, kind: TOTALS_KIND_SEMTECH, count: SEMTECH_TOTALS.length, fileBytes: c.fileBytes, minIntervalMs: c.saveMinIntervalMs, maxIntervalMs: c.saveMaxIntervalMs, delta: 4294967296 * 4294967296 },
    clock.uptime(),
  );
  const lim: DecodeLimits = { maxDatagram: c.maxDatagram, maxDepth: c.maxDepth, maxRxpk: c.maxRxpk };
  const s: SemtechStats = {
    datagrams: 0, pushData: 0, pullData: 0, txAck: 0, statReports: 0, rxpk: 0, acks: 0, ackErrors: 0,
    short: 0, long: 0, badVersion: 0, badType: 0, badJson: 0, badPayload: 0, otherEui: 0, duplicate: 0,
    chanOverflow: 0, udpErrors: 0, saves: 0, saveErrors: 0,
  };
  // Window since the previous read.
  let wN = 0;
  let rssiSum = 0;
  let rssiMin = 0;
  let rssiMax = 0;
  let snrN = 0;
  let snrSum = 0;
  let snrMin = 0;
  let snrMax = 0;
  const chKhz = new Uint32Array(c.maxChannels);
  const chCount = new Uint32Array(c.maxChannels);
  let chUsed = 0;
  let lastStat: PushPayload['stat'];
  let seen = false;
  // UDP duplicates: CRC-32 and length of the last `dedupe` accepted datagrams, in a ring.
  const dupCrc = new Uint32Array(c.dedupe);
  const dupLen = new Uint32Array(c.dedupe);
  let dupAt = 0;
  let stopped = false;

  function isDuplicate(b: Uint8Array): boolean {
    if (c.dedupe === 0) return false;
    const h = crc32(b);
    for (let i = 0; i < c.dedupe; i++) if (dupLen[i] === b.length && dupCrc[i] === h) return true;
    dupCrc[dupAt] = h;
    dupLen[dupAt] = b.length;
    dupAt = (dupAt + 1) % c.dedupe;
    return false;
  }

  function reject(reason: string): void {
    if (reason === R_SHORT) s.short++;
    else if (reason === R_LONG) s.long++;
    else if (reason === R_VERSION) s.badVersion++;
    else if (reason === R_TYPE) s.badType++;
    else if (reason === R_JSON) s.badJson++;
    else if (reason === R_PAYLOAD) s.badPayload++;
  }

  function apply(p: PushPayload, now: number): void {
    const st = p.stat;
    if (st) {
      s.statReports++;
      const counts = [st.rxnb, st.rxok, st.rxfw, st.dwnb, st.txnb];
      for (let i = 0; i < counts.length; i++) if (counts[i] !== undefined) totals.add(i, counts[i] as number);
      lastStat = st;
    }
    for (let i = 0; i < p.rxpk.length; i++) {
      const r = p.rxpk[i];
      s.rxpk++;
      totals.add(T_PK, 1);
      totals.add(r.sf === 0 ? T_FSK : T_SF + r.sf - SF_MIN, 1);
      if (wN === 0 || r.rssi < rssiMin) rssiMin = r.rssi;
      if (wN === 0 || r.rssi > rssiMax) rssiMax = r.rssi;
      rssiSum += r.rssi;
      wN++;
      if (r.lsnr !== undefined) {
        if (snrN === 0 || r.lsnr < snrMin) snrMin = r.lsnr;
        if (snrN === 0 || r.lsnr > snrMax) snrMax = r.lsnr;
        snrSum += r.lsnr;
        snrN++;
      }
      let k = 0;
      while (k < chUsed && chKhz[k] !== r.khz) k++;
      if (k < chUsed) chCount[k]++;
      else if (chUsed < c.maxChannels) {
        chKhz[chUsed] = r.khz;
        chCount[chUsed] = 1;
        chUsed++;
      } else s.chanOverflow++;
    }
    totals.tick(now);
  }

  function onDatagram(data: Uint8Array, address: string, port: number): void {
    s.datagrams++;
    const d = decodeDatagram(data, lim);
    const h = d.header;
    if (!h) {
      reject(d.reject as string);
      return;
    }
    if (eui !== undefined && h.eui !== eui) {
      s.otherEui++;
      return;
    }
    if (h.type === PUSH_DATA) s.pushData++;
    else if (h.type === PULL_DATA) s.pullData++;
    else if (h.type === TX_ACK) s.txAck++;
    // Acknowledge at once, before the payload is looked at (PROTOCOL.TXT 3.1: "process packets
    // *after* ack"); the forwarder's ackr then measures the network, as the protocol intends.
    const ack = ackFor(h);
    if (ack) {
      try {
        udp.write(ack, address, port);
        s.acks++;
      } catch (e) {
        s.ackErrors++;
      }
    }
    if (d.reject) {
      reject(d.reject);
      return;
    }
    if (!d.push) return;
    if (isDuplicate(data)) {
      s.duplicate++;
      return;
    }
    seen = true;
    apply(d.push, clock.uptime());
  }

  const udp: Udp = io.udp({
    port: c.port,
    address: c.address,
    onReadable: function () {
      if (stopped) return;
      for (;;) {
        const g = udp.read();
        if (!g) return;
        onDatagram(g.data, g.address, g.port);
      }
    },
    onError: function (e) {
      s.udpErrors++;
      host.log('warn', 'semtech ' + id + ': udp: ' + e.message);
    },
  });

  function values(): SourceValue[] {
    const out: SourceValue[] = [];
    for (let i = 0; i < SEMTECH_TOTALS.length; i++) {
      const n = SEMTECH_TOTALS[i];
      const v = totals.persisted(i);
      if (SPARSE[n] && v === 0) continue;
      out.push({ n: n, s: v });
    }
    if (wN > 0) {
      out.push({ n: 'rssi_min', u: 'dBm', v: rssiMin });
      out.push({ n: 'rssi_max', u: 'dBm', v: rssiMax });
      out.push({ n: 'rssi_avg', u: 'dBm', v: round1(rssiSum / wN) });
    }
    if (snrN > 0) {
      out.push({ n: 'snr_min', u: 'dB', v: snrMin });
      out.push({ n: 'snr_max', u: 'dB', v: snrMax });
      out.push({ n: 'snr_avg', u: 'dB', v: round1(snrSum / snrN) });
    }
    for (let k = 0; k < chUsed; k++) out.push({ n: 'ch' + chKhz[k], u: 'count', v: chCount[k] });
    const st = lastStat;
    if (st) {
      if (st.ackr !== undefined) out.push({ n: 'ackr', u: '%', v: st.ackr });
      if (st.temp !== undefined) out.push({ n: 'temp', u: 'Cel', v: st.temp });
      if (st.lati !== undefined) out.push({ n: 'lat', u: 'lat', v: st.lati });
      if (st.long !== undefined) out.push({ n: 'lon', u: 'lon', v: st.long });
      if (st.alti !== undefined) out.push({ n: 'alt', u: 'm', v: st.alti });
    }
    return out;
  }

  return {
    id: id,
    intervalMs: intervalMs,
    read: function (done: (e: Error | undefined, values?: SourceValue[]) => void) {
      if (!seen) {
        done(err('E_NO_DATA', 'semtech "' + id + '": no valid datagram from a packet forwarder yet (listening on UDP port ' + c.port + ')'));
        return;
      }
      totals.settle(clock.uptime());
      const v = values();
      wN = 0;
      rssiSum = 0;
      snrN = 0;
      snrSum = 0;
      chUsed = 0;
      lastStat = undefined;
      done(undefined, v);
    },
    stats: function (): SemtechStats {
      const t = totals.stats();
      s.saves = t.writes;
      s.saveErrors = t.writeErrors;
      const copy: SemtechStats = {} as SemtechStats;
      for (const k in s) if (s.hasOwnProperty(k)) copy[k] = s[k];
      return copy;
    },
    udp: function () {
      return udp;
    },
    stop: function () {
      if (stopped) return;
      stopped = true;
      udp.close();
      totals.flush(clock.uptime());
    },
  };
}

export const semtechSource: SourceComponent = {
  type: 'semtech',
  doc: 'Semtech UDP packet forwarder (protocol v2): acknowledges a LoRa gateway\'s datagrams and reports its stat counters and rxpk metadata',
  schema: SEMTECH_SCHEMA,
  defaultIntervalMs: 60000,
  create: function (host, id, intervalMs, config) {
    return createSemtech(host, id, intervalMs, config as unknown as SemtechConfig);
  },
};
