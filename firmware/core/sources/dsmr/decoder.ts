// DSMR P1 telegrams: the resumable framer (push(chunk) -> complete, CRC-checked telegrams) and the
// decoder that turns one checked telegram into SenML values. Pure: no IO, no timers.
//
// Specs: "P1 Companion Standard" DSMR 5.0.2 (NL, Netbeheer Nederland) §6 telegram format,
// DSMR 4.2.2, DSMR 2.2 / 3.0 (no CRC); Fluvius "e-MUCS P1" 1.7.1 (BE: 1-0:1.4.0, 1-0:1.6.0,
// 0-0:98.1.0); the Swedish "Branschrekommendation for lokalt kundgranssnitt" (DSMR framing with
// 1-0:1.8.0 totals). Luxembourg's Smarty meters encrypt the P1 stream (DLMS general-glo-ciphering,
// AES-128-GCM with a per-meter key from the grid operator): not supported here.
//
// Telegram: "/" header CR LF, CR LF, data lines "ID(value)...CR LF", "!" CRC CR LF, where CRC is
// CRC-16/ARC (reflected polynomial 0xA001, init 0) over every byte from '/' to '!' inclusive,
// written as up to 4 hex digits (DSMR 5.0.2 §6.2; some meters do not zero-pad: "!B9F").
import { err, aint, abytes } from '../../util/errors.js';
import type { SourceValue } from '../source.js';
import {
  type ObisId,
  parseObisId,
  isCurrent,
  splitDataLine,
  electricityEntry,
  pushQuantity,
  quantity,
  anyQuantity,
  isTimestamp,
  scaleDecimal,
  asciiText,
} from './obis.js';

// ---------------------------------------------------------------------------------------------
// Constants (DSMR 5.0.2 §6.2 framing, §6.12 object list; e-MUCS P1 1.7.1 §7)

export const DSMR = {
  /** First byte of a telegram; also restarts a frame when it appears inside one. */
  START: 0x2f,
  /** End-of-data byte, followed by the CRC digits and CR LF. */
  END: 0x21,
  CR: 0x0d,
  LF: 0x0a,
  /** Default hard bound on a telegram, '/' to the end of the CRC line. DSMR does not fix one;
   *  the longest public telegrams (Fluvius with 13 monthly peaks) are ~1.6 KB. */
  MAX_TELEGRAM_BYTES: 3000,
  /** Smallest configurable bound: a header, a blank line, one object and "!XXXX". */
  MIN_TELEGRAM_BYTES: 64,
  /** CRC-16/ARC: x^16 + x^15 + x^2 + 1, reflected. */
  CRC_POLY_REFLECTED: 0xa001,
  CRC_MAX_DIGITS: 4,
  /** M-Bus channels 0-1 .. 0-4 (DSMR 5.0.2 §6.12: up to 4 connected devices). */
  MBUS_CHANNELS: 4,
  /** 1-3:0.2.8 version from which a CRC is mandatory (DSMR 4.0 = "40"). */
  CRC_REQUIRED_FROM_VERSION: 40,
  /** e-MUCS 0-0:98.1.0: at most 13 months of peaks. */
  PEAKS_MAX: 13,
  /** EN 13757-3 device types on 0-n:24.1.0 and the name a channel's reading gets. */
  MBUS_TYPES: { 3: 'gas', 4: 'heat', 7: 'water', 6: 'hotwater', 12: 'heat' } as { [t: number]: string },
};

// ---------------------------------------------------------------------------------------------
// CRC-16/ARC, table-driven, two bytes per step (the device checks up to a telegram a second;
// in Espruino the loop, not the arithmetic, is the cost: 445 steps beat 890)

const CRC_TABLE = new Uint16Array(256);
/** CRC_TABLE2[x]: the table for byte x followed by a zero byte (slicing-by-2). */
const CRC_TABLE2 = new Uint16Array(256);
(function () {
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ DSMR.CRC_POLY_REFLECTED : c >>> 1;
    CRC_TABLE[i] = c;
  }
  for (let i = 0; i < 256; i++) CRC_TABLE2[i] = (CRC_TABLE[i] >>> 8) ^ CRC_TABLE[CRC_TABLE[i] & 0xff];
})();

function crcBytes(c: number, data: Uint8Array, start: number, end: number): number {
  const t = CRC_TABLE;
  for (let i = start; i < end; i++) c = (c >>> 8) ^ t[(c ^ data[i]) & 0xff];
  return c;
}

/** Whether 16-bit views read bytes little-endian here (ESP32, x86, ARM do); checked once. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([0x0102]).buffer)[0] === 0x02;

/** CRC-16/ARC of `data[start..end)`, continuing from `crc` (0 to start). */
export function crc16(data: Uint8Array, crc?: number, start?: number, end?: number): number {
  let c = crc || 0;
  let i = start || 0;
  const e = end === undefined ? data.length : end;
  if (!LITTLE_ENDIAN || e - i < 8) return crcBytes(c, data, i, e);
  if ((data.byteOffset + i) & 1) c = crcBytes(c, data, i, ++i);
  const words = (e - i) >> 1;
  const u = new Uint16Array(data.buffer, data.byteOffset + i, words);
  const t = CRC_TABLE;
  const t2 = CRC_TABLE2;
  for (let k = 0; k < words; k++) {
    c ^= u[k];
    c = t2[c & 0xff] ^ t[c >>> 8];
  }
  return crcBytes(c, data, i + 2 * words, e);
}

// ---------------------------------------------------------------------------------------------
// Decoder: one complete telegram -> values

export interface DsmrTelegram {
  /** Identification line without '/', e.g. "ISk5\2MT382-1000". */
  header: string;
  /** 1-3:0.2.8 ("50", "42"), '' when absent (DSMR 2.2/3, Fluvius, Swedish meters). */
  version: string;
  /** e-MUCS 0-0:96.1.4 (Belgium, "50217"), '' when absent. */
  emucs: string;
  /** True when the telegram carried a CRC (it was verified before decoding). */
  crc: boolean;
  /** 0-0:1.0.0 as sent (YYMMDDhhmmssX), '' when absent. */
  timestamp: string;
  /** SenML values in telegram order, M-Bus channels last. */
  values: SourceValue[];
  /** Known objects whose value was malformed and left out (only telegrams with a CRC). */
  skipped: number;
}

export interface DecodeOptions {
  /** Refuse the whole telegram on any malformed line or value (telegrams without a CRC). */
  strict: boolean;
  /** Report e-MUCS 0-0:98.1.0 monthly peaks (pk<i>, pk<i>_m, pk<i>_ts). */
  peaks: boolean;
}

/** "C.D.E" with decimal groups only. */
function numericCde(cde: string): boolean {
  let dots = 0;
  for (let i = 0; i < cde.length; i++) {
    const c = cde.charCodeAt(i);
    if (c === 46) dots++;
    else if (c < 48 || c > 57) return false;
  }
  return dots === 2;
}

function bad(code: string, msg: string): never {
  throw err(code, msg);
}

/**
 * Decodes `buf[0..len)`, a frame from '/' to '!' inclusive that already passed framing (and its
 * CRC when it had one). Throws a coded error when the text is not a telegram.
 */
export function decodeTelegram(buf: Uint8Array, len: number, hasCrc: boolean, o: DecodeOptions): DsmrTelegram {
  if (len < 4 || buf[0] !== DSMR.START || buf[len - 1] !== DSMR.END || buf[len - 2] !== DSMR.LF)
    bad('E_DSMR_FRAME', 'telegram must run from "/" to a line holding only "!"');
  const strict = o.strict;
  const t: DsmrTelegram = { header: '', version: '', emucs: '', crc: hasCrc, timestamp: '', values: [], skipped: 0 };
  const out = t.values;
  const seen: { [id: string]: boolean } = {};
  const id: ObisId = { a: 0, b: 0, cde: '', f: -1 };
  // M-Bus channel 1..4: device type, reading and its capture time.
  const mType = new Int16Array(DSMR.MBUS_CHANNELS + 1);
  for (let i = 0; i <= DSMR.MBUS_CHANNELS; i++) mType[i] = -1;
  const mVal = new Float64Array(DSMR.MBUS_CHANNELS + 1);
  const mUnit: string[] = ['', '', '', '', ''];
  const mTs: string[] = ['', '', '', '', ''];
  let pendingId = '';
  let pendingGroups: string[] = [];
  let lineNo = 0;

  function skip(what: string): void {
    if (strict) bad('E_DSMR_VALUE', 'line ' + lineNo + ': malformed ' + what);
    t.skipped++;
  }

  function mbus(channel: number, kind: string, g: string[]): void {
    if (kind === '24.1.0') {
      const ty = g.length === 1 ? scaleDecimal(g[0], 0) : NaN;
      if (ty === ty && ty >= 0 && ty <= 255 && Math.floor(ty) === ty) mType[channel] = ty;
      else skip('M-Bus device type');
      return;
    }
    // 24.2.1 / 24.2.3: (capture time)(value*unit). 24.3.0 (DSMR 2.2/3): (time)(..)(..)(..)(id)(unit)
    // then "(value)" on the next line. A channel with no meter attached sends a value with no
    // unit (e.g. "(00000000)"): no reading, not an error.
    let ts: string;
    let q: { v: number; u: string } | undefined;
    if (kind === '24.3.0') {
      if (g.length !== 7) return skip('DSMR 2.2/3 M-Bus reading');
      ts = g[0];
      q = anyQuantity(g[6] + '*' + g[5]);
    } else {
      if (g.length !== 2) return skip('M-Bus reading');
      ts = g[0];
      if (g[1].indexOf('*') < 0) return;
      q = anyQuantity(g[1]);
    }
    if (!q || !isTimestamp(ts)) return skip('M-Bus reading');
    mVal[channel] = q.v;
    mUnit[channel] = q.u;
    mTs[channel] = ts;
  }

  function peaks(g: string[]): void {
    // e-MUCS 1.7.1 §7: (count)(1-0:1.6.0)(1-0:1.6.0) then per month (month start)(time of peak)(kW).
    // Other meters use 0-0:98.1.0 for other profiles (E.ON Hungary): not this layout, ignored.
    const count = g.length >= 3 ? scaleDecimal(g[0], 0) : NaN;
    if (!(count >= 0 && count <= DSMR.PEAKS_MAX) || g.length !== 3 + 3 * count) return;
    if (g[1].indexOf('1.6.0') < 0 || g[2].indexOf('1.6.0') < 0) return;
    if (!o.peaks) return;
    for (let k = 0; k < count; k++) {
      const m = g[3 + 3 * k];
      const at = g[4 + 3 * k];
      const q = quantity(g[5 + 3 * k], 'W');
      // An unused month carries placeholders ("632525252525W"): leave that entry out.
      if (!q || !isTimestamp(m) || !isTimestamp(at)) continue;
      out.push({ n: 'pk' + k, u: 'W', v: q.v });
      out.push({ n: 'pk' + k + '_m', vs: m });
      out.push({ n: 'pk' + k + '_ts', vs: at });
    }
  }

  function object(raw: string, g: string[]): void {
    if (!parseObisId(raw, id)) {
      if (strict) bad('E_DSMR_LINE', 'line ' + lineNo + ': not an OBIS identifier');
      return;
    }
    // Without a CRC an identifier must have DSMR's full numeric form A-B:C.D.E, so a damaged one
    // cannot pass as some other, unknown object (which would silently drop or rename a value).
    if (strict && (id.a < 0 || !numericCde(id.cde))) bad('E_DSMR_LINE', 'line ' + lineNo + ': not a numeric A-B:C.D.E identifier');
    if (!isCurrent(id)) return; // a stored billing period, not a current value
    if (seen[raw]) {
      if (strict) bad('E_DSMR_DUPLICATE', 'line ' + lineNo + ': ' + raw + ' appears twice');
      t.skipped++;
      return;
    }
    seen[raw] = true;
    const cde = id.cde;
    if (id.a === 1 || id.a < 0) {
      if (id.b === 3 && cde === '0.2.8') {
        if (g.length === 1 && g[0].length >= 1 && g[0].length <= 4 && scaleDecimal(g[0], 0) >= 0 && g[0].indexOf('.') < 0) t.version = g[0];
        else skip('version');
        return;
      }
      if (cde === '1.6.0') {
        // Max demand of the month: e-MUCS writes (time)(kW); IEC readouts (kW)(time).
        if (g.length !== 2) return skip('maximum demand');
        const tsFirst = isTimestamp(g[0]);
        const q = quantity(tsFirst ? g[1] : g[0], 'W');
        const ts = tsFirst ? g[0] : g[1];
        if (!q || !isTimestamp(ts)) return skip('maximum demand');
        out.push({ n: 'p_max', u: 'W', v: q.v });
        out.push({ n: 'p_max_ts', vs: ts });
        return;
      }
      const e = electricityEntry(cde);
      if (!e) return;
      if (g.length !== 1 || !pushQuantity(out, e, g[0])) skip(raw);
      return;
    }
    if (id.a !== 0) return;
    if (id.b === 0) {
      if (cde === '1.0.0') {
        if (g.length === 1 && isTimestamp(g[0]) && g[0].length === 13) {
          t.timestamp = g[0];
          out.push({ n: 'ts', vs: g[0] });
        } else skip('timestamp');
      } else if (cde === '96.14.0') {
        const v = g.length === 1 && g[0].indexOf('.') < 0 ? scaleDecimal(g[0], 0) : NaN;
        if (v === v && v >= 0) out.push({ n: 'tariff', v: v });
        else skip('tariff indicator');
      } else if (cde === '96.7.21' || cde === '96.7.9') {
        const v = g.length === 1 && g[0].indexOf('.') < 0 ? scaleDecimal(g[0], 0) : NaN;
        if (v === v && v >= 0) out.push({ n: cde === '96.7.21' ? 'pf_short' : 'pf_long', s: v });
        else skip('power failure count');
      } else if (cde === '96.1.4') {
        if (g.length === 1 && g[0].length >= 1 && g[0].length <= 8) t.emucs = g[0];
        else skip('e-MUCS version');
      } else if (cde === '98.1.0') peaks(g);
      return;
    }
    if (id.b >= 1 && id.b <= DSMR.MBUS_CHANNELS && (cde === '24.1.0' || cde === '24.2.1' || cde === '24.2.3' || cde === '24.3.0'))
      mbus(id.b, cde, g);
  }

  function flush(): void {
    if (pendingId) object(pendingId, pendingGroups);
    pendingId = '';
    pendingGroups = [];
  }

  function dataSet(raw: string, g: string[]): boolean {
    if (!raw) {
      // Continuation: the value of DSMR 2.2/3's 0-n:24.3.0 on its own line.
      if (!pendingId) bad('E_DSMR_LINE', 'line ' + lineNo + ': a value line with no object before it');
      for (let k = 0; k < g.length; k++) pendingGroups.push(g[k]);
      return true;
    }
    flush();
    pendingId = raw;
    pendingGroups = g;
    return true;
  }

  // One native conversion and one native check for the whole telegram; lines by split.
  const text = asciiText(buf, 0, len - 1);
  if (text === undefined) bad('E_DSMR_BYTE', 'telegram holds a byte that is not printable ASCII, CR or LF');
  const lines = text.split('\n');
  // The text ends with the LF before '!', so the last piece is empty.
  for (let k = 0; k < lines.length - 1; k++) {
    let line = lines[k];
    if (line.length && line.charCodeAt(line.length - 1) === DSMR.CR) line = line.substring(0, line.length - 1);
    lineNo++;
    if (line.indexOf('\r') >= 0) bad('E_DSMR_BYTE', 'line ' + lineNo + ': CR not followed by LF');
    if (lineNo === 1) {
      // "/XXXZ...": three letters of manufacturer flag id, then the baud/mode character.
      if (line.length < 5 || line.length > 96) bad('E_DSMR_HEADER', 'header line must be 5..96 characters');
      for (let j = 1; j <= 3; j++) {
        const c = line.charCodeAt(j) | 0x20;
        if (c < 97 || c > 122) bad('E_DSMR_HEADER', 'header must start with a 3-letter manufacturer id');
      }
      t.header = line.substring(1);
    } else if (lineNo === 2) {
      if (line.length) bad('E_DSMR_HEADER', 'the header must be followed by an empty line');
    } else if (!splitDataLine(line, dataSet)) {
      if (strict) bad('E_DSMR_LINE', 'line ' + lineNo + ': not "ID(value)..."');
      t.skipped++;
    }
  }
  if (lineNo < 2) bad('E_DSMR_HEADER', 'telegram ends inside its header');
  flush();
  for (let ch = 1; ch <= DSMR.MBUS_CHANNELS; ch++) {
    if (!mUnit[ch]) continue;
    if (strict && mType[ch] < 0) bad('E_DSMR_VALUE', 'M-Bus channel ' + ch + ' has a reading but no device type');
    const kind = mType[ch] >= 0 && DSMR.MBUS_TYPES.hasOwnProperty(String(mType[ch])) ? DSMR.MBUS_TYPES[mType[ch]] : 'mbus';
    out.push({ n: kind + ch, u: mUnit[ch], s: mVal[ch] });
    out.push({ n: kind + ch + '_ts', vs: mTs[ch] });
  }
  return t;
}

/** True when the telegram says it comes from a meter that always sends a CRC (DSMR >= 4, e-MUCS). */
export function requiresCrc(t: DsmrTelegram): boolean {
  if (t.emucs) return true;
  if (!t.version) return false;
  return parseInt(t.version, 10) >= DSMR.CRC_REQUIRED_FROM_VERSION;
}

// ---------------------------------------------------------------------------------------------
// Framer: bytes in, complete frames out ('/' .. '!' plus the CRC the meter sent). It copies and
// searches with native calls (indexOf, set) and computes nothing per byte, so a device can frame
// a DSMR 5 meter's telegram every second and check only the ones it reads (see the driver).

export interface P1FramerCounters {
  /** Complete frames delivered. */
  frames: number;
  /** A '/' arrived inside a telegram: the one in progress was truncated or interleaved. */
  restarts: number;
  /** A telegram grew past maxLength: dropped, framer reset. */
  overflows: number;
  /** The bytes after '!' were not 0..4 hex digits and CR/LF. */
  badEnds: number;
  /** Bytes outside any telegram (noise, an overflowed telegram's tail). */
  skippedBytes: number;
}

export interface P1Framer {
  /** Feeds bytes as they arrive; never throws for any byte content. */
  push(chunk: Uint8Array): void;
  /** Drops a telegram in progress. */
  reset(): void;
  stats(): P1FramerCounters;
}

/**
 * `onFrame(buf, len, sentCrc)`: `buf[0..len)` runs from '/' to '!' inclusive; `sentCrc` is the
 * CRC the meter wrote after '!', or -1 when it wrote none. `buf` is reused after the call
 * returns unless the callback gives back another buffer of the same size to fill next (so a
 * caller can keep a frame without copying it).
 */
export function createP1Framer(maxLength: number, onFrame: (buf: Uint8Array, len: number, sentCrc: number) => Uint8Array | void): P1Framer {
  const max = aint('maxLength', maxLength, DSMR.MIN_TELEGRAM_BYTES, 65536);
  if (typeof onFrame !== 'function') throw err('E_TYPE', '"onFrame" expected function, got ' + typeof onFrame, TypeError);
  const c: P1FramerCounters = { frames: 0, restarts: 0, overflows: 0, badEnds: 0, skippedBytes: 0 };
  let buf: Uint8Array = new Uint8Array(max);
  // 0: hunting '/', 1: inside the data, 2: after '!' (CRC digits, then CR/LF), 3: LF after CR.
  let state = 0;
  let len = 0;
  let digits = 0;
  let sent = 0;

  function finish(): void {
    state = 3;
    c.frames++;
    const next = onFrame(buf, len, digits ? sent : -1);
    if (next instanceof Uint8Array && next.length === max) buf = next;
  }

  function push(chunk: Uint8Array): void {
    abytes('chunk', chunk);
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (state === 0) {
        const j = chunk.indexOf(DSMR.START, i);
        if (j < 0) {
          c.skippedBytes += n - i;
          return;
        }
        c.skippedBytes += j - i;
        buf[0] = DSMR.START;
        len = 1;
        state = 1;
        i = j + 1;
      } else if (state === 1) {
        const a = chunk.indexOf(DSMR.START, i);
        const b = chunk.indexOf(DSMR.END, i);
        const restart = a >= 0 && (b < 0 || a < b);
        const end = restart ? a : b >= 0 ? b + 1 : n;
        if (len + end - i > max) {
          c.overflows++;
          state = 0;
          continue; // the rest is skipped up to the next '/'
        }
        buf.set(chunk.subarray(i, end), len);
        len += end - i;
        i = end;
        if (restart) {
          c.restarts++;
          len = 1;
          i = a + 1;
        } else if (b >= 0) {
          state = 2;
          digits = 0;
          sent = 0;
        }
      } else if (state === 2) {
        const x = chunk[i];
        const h = x >= 48 && x <= 57 ? x - 48 : x >= 65 && x <= 70 ? x - 55 : x >= 97 && x <= 102 ? x - 87 : -1;
        if (h >= 0 && digits < DSMR.CRC_MAX_DIGITS) {
          sent = sent * 16 + h;
          digits++;
          i++;
        } else if (x === DSMR.CR || x === DSMR.LF) {
          i++;
          finish();
          if (x === DSMR.LF) state = 0;
        } else if (x === DSMR.START) {
          c.restarts++;
          state = 0;
        } else {
          c.badEnds++;
          state = 0;
        }
      } else {
        if (chunk[i] === DSMR.LF) i++;
        state = 0;
      }
    }
  }

  return {
    push: push,
    reset() {
      state = 0;
      len = 0;
    },
    stats() {
      return { frames: c.frames, restarts: c.restarts, overflows: c.overflows, badEnds: c.badEnds, skippedBytes: c.skippedBytes };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Acceptance: CRC, the CRC-less policy, decoding

export interface DsmrPolicy {
  /** Accept telegrams without CRC (DSMR 2.2/3 meters), as long as they do not declare DSMR >= 4. */
  allowNoCrc: boolean;
  /** Report e-MUCS monthly peaks. */
  peaks: boolean;
  /** Set once a telegram with a valid CRC was accepted: from then on a CRC-less telegram from
   *  this meter is damage (its CRC digits lost), never a DSMR 2.2 telegram. */
  sawCrc: boolean;
}

export interface DsmrCheckCounters {
  /** Telegrams accepted. */
  telegrams: number;
  /** CRC present but wrong (corrupted bytes, bad digits). */
  crcErrors: number;
  /** Framed (and checked) but not a valid telegram. */
  decodeErrors: number;
  /** No CRC where one is required (config, declared version, or the meter sent CRCs before). */
  noCrcRejected: number;
  /** Malformed values left out of otherwise valid telegrams with a CRC. */
  badValues: number;
}

/**
 * Checks one frame (CRC, policy) and decodes it; the telegram, or undefined with the reason
 * counted in `c`.
 */
export function acceptTelegram(buf: Uint8Array, len: number, sentCrc: number, p: DsmrPolicy, c: DsmrCheckCounters): DsmrTelegram | undefined {
  const hasCrc = sentCrc >= 0;
  if (!hasCrc && (!p.allowNoCrc || p.sawCrc)) {
    c.noCrcRejected++;
    return undefined;
  }
  if (hasCrc && crc16(buf, 0, 0, len) !== sentCrc) {
    c.crcErrors++;
    return undefined;
  }
  let t: DsmrTelegram;
  try {
    t = decodeTelegram(buf, len, hasCrc, { strict: !hasCrc, peaks: p.peaks });
  } catch (e) {
    c.decodeErrors++;
    return undefined;
  }
  if (!hasCrc && requiresCrc(t)) {
    c.noCrcRejected++;
    return undefined;
  }
  if (hasCrc) p.sawCrc = true;
  c.telegrams++;
  c.badValues += t.skipped;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Reader: framer + acceptance of every telegram, every rejection counted

export interface DsmrCounters extends P1FramerCounters, DsmrCheckCounters {}

export interface DsmrReaderOptions {
  /** Hard bound on one telegram in bytes (default DSMR.MAX_TELEGRAM_BYTES). */
  maxLength?: number;
  /** Accept telegrams without CRC (DSMR 2.2/3 meters), as long as they do not declare DSMR >= 4. */
  allowNoCrc?: boolean;
  /** Report e-MUCS monthly peaks. */
  peaks?: boolean;
  onTelegram(t: DsmrTelegram): void;
}

export interface DsmrReader {
  /** Feeds bytes as they arrive; never throws for any byte content. */
  push(chunk: Uint8Array): void;
  /** Drops a telegram in progress (e.g. after the serial port was reopened). */
  reset(): void;
  stats(): DsmrCounters;
}

export function createDsmrReader(o: DsmrReaderOptions): DsmrReader {
  if (o === null || typeof o !== 'object') throw err('E_TYPE', '"options" expected object, got ' + typeof o, TypeError);
  if (typeof o.onTelegram !== 'function') throw err('E_TYPE', '"onTelegram" expected function, got ' + typeof o.onTelegram, TypeError);
  const policy: DsmrPolicy = { allowNoCrc: !!o.allowNoCrc, peaks: !!o.peaks, sawCrc: false };
  const c: DsmrCheckCounters = { telegrams: 0, crcErrors: 0, decodeErrors: 0, noCrcRejected: 0, badValues: 0 };
  const framer = createP1Framer(o.maxLength === undefined ? DSMR.MAX_TELEGRAM_BYTES : o.maxLength, function (buf, len, sentCrc) {
    const t = acceptTelegram(buf, len, sentCrc, policy, c);
    if (t) o.onTelegram(t);
  });
  return {
    push: framer.push,
    reset: framer.reset,
    stats() {
      const f = framer.stats();
      return {
        frames: f.frames,
        restarts: f.restarts,
        overflows: f.overflows,
        badEnds: f.badEnds,
        skippedBytes: f.skippedBytes,
        telegrams: c.telegrams,
        crcErrors: c.crcErrors,
        decodeErrors: c.decodeErrors,
        noCrcRejected: c.noCrcRejected,
        badValues: c.badValues,
      };
    },
  };
}
