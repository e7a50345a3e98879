// An SNTP client (RFC 4330, SNTPv4 unicast) over the host's UDP, so the device sets its own
// clock with setTime() instead of Wifi.setSNTP (which jumps the clock under running timers,
// Espruino issue #1612). Pure packet code (sntpRequest, sntpParse) plus sntpQuery: servers
// tried in turn, each attempt bounded by a timeout, a bounded number of attempts overall.
import type { Timers, Udp, UdpOptions } from '../core/host.js';
import { err, aint, abytes } from '../core/util/errors.js';

// ---------------------------------------------------------------------------------------------
// Constants (RFC 4330 unless noted)

export const SNTP = {
  /** §4: UDP port 123. */
  port: 123,
  /** §4: the NTP header without authenticator. */
  packetBytes: 48,
  /** §4: LI 0, VN 4, Mode 3 (client) = 0b00_100_011. */
  requestByte0: 0x23,
  version: 4,
  modeClient: 3,
  modeServer: 4,
  /** §5: LI 3 = clock not synchronized. */
  leapAlarm: 3,
  /** §5: stratum 0 is a kiss-o'-death; 1..15 are valid. */
  stratumMax: 15,
  /** §4 field offsets. */
  offOriginate: 24,
  offReceive: 32,
  offTransmit: 40,
  /** §3: seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
  unixOffsetS: 2208988800,
  /** §3: 2^32, the length of an NTP era in seconds, and the fraction's scale. */
  twoTo32: 4294967296,
  /** §3: with the top bit of the seconds clear the time is in era 1 (2036-02-07 .. 2104). */
  eraBit: 0x80000000,
};

export const SNTP_DEFAULTS = {
  /** One attempt's wait for the answer. */
  timeoutMs: 3000,
  /** Attempts over all servers (round robin) before giving up until the next resync. */
  attempts: 4,
  /** An answer whose round trip exceeds this is ignored (its offset is too uncertain). */
  maxDelayMs: 2000,
  /** Times before this (2025-01-01T00:00:00Z) are taken for a broken server. */
  minUnixS: 1735689600,
};

export interface SntpResult {
  /** Add to the local clock (ms) to get Unix time. */
  offsetMs: number;
  /** Round-trip delay, ms. */
  delayMs: number;
  /** Unix ms at the local receive time. */
  unixMs: number;
  stratum: number;
  server?: string;
}

// ---------------------------------------------------------------------------------------------
// Packets

function putTimestamp(b: Uint8Array, off: number, unixMs: number): void {
  const t = unixMs / 1000 + SNTP.unixOffsetS;
  let s = Math.floor(t);
  const f = Math.floor((t - s) * SNTP.twoTo32);
  s = s % SNTP.twoTo32;
  b[off] = (s / 16777216) & 255;
  b[off + 1] = (s >>> 16) & 255;
  b[off + 2] = (s >>> 8) & 255;
  b[off + 3] = s & 255;
  b[off + 4] = (f / 16777216) & 255;
  b[off + 5] = (f >>> 16) & 255;
  b[off + 6] = (f >>> 8) & 255;
  b[off + 7] = f & 255;
}

function u32(b: Uint8Array, off: number): number {
  return b[off] * 16777216 + (b[off + 1] << 16) + (b[off + 2] << 8) + b[off + 3];
}

/** NTP timestamp at `off` as Unix seconds (with the era rule of §3). */
export function readTimestamp(b: Uint8Array, off: number): number {
  let s = u32(b, off);
  if (s < SNTP.eraBit) s += SNTP.twoTo32;
  return s - SNTP.unixOffsetS + u32(b, off + 4) / SNTP.twoTo32;
}

/**
 * A client request whose transmit timestamp is the local time `localMs`; `nonce` (optional,
 * 0..2^32-1) replaces the fraction's low 16 bits so an off-path forger must guess them too.
 */
export function sntpRequest(localMs: number, nonce?: number): Uint8Array {
  const b = new Uint8Array(SNTP.packetBytes);
  b[0] = SNTP.requestByte0;
  putTimestamp(b, SNTP.offTransmit, localMs);
  if (nonce !== undefined) {
    b[SNTP.offTransmit + 6] = (nonce >>> 8) & 255;
    b[SNTP.offTransmit + 7] = nonce & 255;
  }
  return b;
}

/**
 * Checks a server answer against the request (RFC 4330 §5) and computes the offset (§5:
 * ((T2 - T1) + (T3 - T4)) / 2). t1Ms/t4Ms are local send/receive times. Throws E_SNTP naming
 * the failed check.
 */
export function sntpParse(resp: Uint8Array, req: Uint8Array, t1Ms: number, t4Ms: number, minUnixS?: number, maxDelayMs?: number): SntpResult {
  abytes('resp', resp);
  abytes('req', req, SNTP.packetBytes);
  if (resp.length < SNTP.packetBytes) throw err('E_SNTP', 'answer of ' + resp.length + ' bytes, expected at least ' + SNTP.packetBytes);
  const li = resp[0] >> 6;
  const vn = (resp[0] >> 3) & 7;
  const mode = resp[0] & 7;
  const stratum = resp[1];
  if (mode !== SNTP.modeServer) throw err('E_SNTP', 'answer mode ' + mode + ', expected ' + SNTP.modeServer + ' (server)');
  if (vn !== SNTP.version && vn !== 3) throw err('E_SNTP', 'answer version ' + vn + ', expected 4 (or 3)');
  if (stratum === 0) {
    let kiss = '';
    for (let i = 12; i < 16; i++) if (resp[i] >= 32 && resp[i] < 127) kiss += String.fromCharCode(resp[i]);
    throw err('E_SNTP_KOD', 'kiss-o\'-death from the server (' + kiss + '): use another server');
  }
  if (stratum > SNTP.stratumMax) throw err('E_SNTP', 'answer stratum ' + stratum + ', expected 1..' + SNTP.stratumMax);
  if (li === SNTP.leapAlarm) throw err('E_SNTP', 'server clock not synchronized (leap indicator 3)');
  for (let i = 0; i < 8; i++)
    if (resp[SNTP.offOriginate + i] !== req[SNTP.offTransmit + i]) throw err('E_SNTP', 'originate timestamp does not echo our transmit timestamp');
  if (u32(resp, SNTP.offTransmit) === 0 && u32(resp, SNTP.offTransmit + 4) === 0) throw err('E_SNTP', 'transmit timestamp is zero');
  const t1 = t1Ms / 1000;
  const t4 = t4Ms / 1000;
  const t2 = readTimestamp(resp, SNTP.offReceive);
  const t3 = readTimestamp(resp, SNTP.offTransmit);
  const delay = t4 - t1 - (t3 - t2);
  const maxDelay = (maxDelayMs === undefined ? SNTP_DEFAULTS.maxDelayMs : maxDelayMs) / 1000;
  // A slightly negative delay is rounding between the two clocks' resolutions.
  if (delay < -0.01 || delay > maxDelay) throw err('E_SNTP', 'round trip ' + Math.round(delay * 1000) + ' ms outside 0..' + maxDelay * 1000 + ' ms');
  const offset = (t2 - t1 + (t3 - t4)) / 2;
  const unix = t4 + offset;
  const minUnix = minUnixS === undefined ? SNTP_DEFAULTS.minUnixS : minUnixS;
  if (unix < minUnix) throw err('E_SNTP', 'server time ' + Math.round(unix) + ' (Unix s) is before ' + minUnix + ': not believed');
  return { offsetMs: offset * 1000, delayMs: delay * 1000, unixMs: unix * 1000, stratum: stratum };
}

// ---------------------------------------------------------------------------------------------
// Query

export interface SntpQueryOptions {
  servers: string[];
  /** Opens a UDP socket (the host's io.udp). */
  udp(o: UdpOptions): Udp;
  timers: Timers;
  /** Local clock, ms (the device's getTime() before it is set). */
  localMs(): number;
  nonce?(): number;
  timeoutMs?: number;
  attempts?: number;
  maxDelayMs?: number;
  minUnixS?: number;
  port?: number;
}

/** Tries the servers in turn until one answer passes every check; done(undefined, result) or done(error). */
export function sntpQuery(o: SntpQueryOptions, done: (e: Error | undefined, r?: SntpResult) => void): { cancel(): void } {
  if (!(o.servers instanceof Array) || o.servers.length === 0) throw err('E_CONFIG', '"servers" expected at least one host name');
  const timeoutMs = o.timeoutMs === undefined ? SNTP_DEFAULTS.timeoutMs : aint('timeoutMs', o.timeoutMs, 100, 60000);
  const attempts = o.attempts === undefined ? SNTP_DEFAULTS.attempts : aint('attempts', o.attempts, 1, 100);
  const port = o.port === undefined ? SNTP.port : aint('port', o.port, 1, 65535);
  let n = 0;
  let finished = false;
  let sock: Udp | undefined;
  let timer: unknown;
  let lastError: Error | undefined;

  function cleanup(): void {
    o.timers.clearTimeout(timer);
    timer = undefined;
    if (sock) {
      const s = sock;
      sock = undefined;
      try {
        s.close();
      } catch (e) {
        /* gone */
      }
    }
  }
  function finish(e: Error | undefined, r?: SntpResult): void {
    if (finished) return;
    finished = true;
    cleanup();
    done(e, r);
  }
  function attempt(): void {
    if (finished) return;
    if (n >= attempts) {
      finish(err('E_SNTP', 'no usable answer after ' + attempts + ' attempts' + (lastError ? ' (last: ' + lastError.message + ')' : '')));
      return;
    }
    const server = o.servers[n % o.servers.length];
    n++;
    const t1 = o.localMs();
    const req = sntpRequest(t1, o.nonce ? o.nonce() : undefined);
    let s: Udp;
    try {
      s = o.udp({
        port: 0,
        onReadable: function () {
          if (sock !== s) return;
          for (;;) {
            const d = s.read();
            if (!d) return;
            if (d.port !== port) continue;
            try {
              const r = sntpParse(d.data, req, t1, o.localMs(), o.minUnixS, o.maxDelayMs);
              r.server = server;
              finish(undefined, r);
              return;
            } catch (e) {
              lastError = e as Error;
            }
          }
        },
        onError: function (e: Error) {
          if (sock !== s) return;
          lastError = e;
        },
      });
    } catch (e) {
      lastError = e as Error;
      timer = o.timers.setTimeout(attempt, 0);
      return;
    }
    sock = s;
    timer = o.timers.setTimeout(function () {
      cleanup();
      if (!lastError) lastError = err('E_SNTP_TIMEOUT', 'no answer from ' + server + ' within ' + timeoutMs + ' ms');
      attempt();
    }, timeoutMs);
    try {
      s.write(req, server, port);
    } catch (e) {
      lastError = e as Error;
    }
  }
  attempt();
  return {
    cancel: function () {
      finished = true;
      cleanup();
    },
  };
}
