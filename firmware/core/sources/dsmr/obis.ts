// OBIS data lines as DSMR P1 telegrams and IEC 62056-21 readouts write them, shared by the dsmr
// and iec62056 components: `ID(value*unit)(value)...` with ID = `A-B:C.D.E[*F]` (DSMR, IEC
// 62056-61 reduced ID) or `C.D.E[*F]` (IEC 62056-21 short form, A and B left out). Pure text
// handling: no IO, no state between calls.
//
// Values become SenML (RFC 8428 §12.1, RFC 8798) without floating-point drift: a decimal string is
// rescaled by moving its decimal point ("000004.426" kWh -> "4426" Wh) before parseFloat, so a
// meter that gives three decimals of kWh yields an exact integer of Wh.
import type { SourceValue } from '../source.js';

// ---------------------------------------------------------------------------------------------
// Constants

/** Longest numeric value accepted, characters (DSMR 5.0.2 §6.4: F9(3) is "000000.000"; the
 *  longest seen in the wild is EasyMeter's "00052185.7825309", 16). */
export const OBIS_MAX_NUMBER_CHARS = 20;

/**
 * Units a meter writes and what SenML gets: `u` the SenML unit, `shift` the power of ten the
 * decimal point moves right (k = 3, G = 9). DSMR 5.0.2 §6.12 table; IEC 62056-21 readouts use the
 * same spellings. Reactive energy (kvarh) has no SenML unit and is not reported.
 */
export const OBIS_UNITS: { [unit: string]: { u: string; shift: number } } = {
  kWh: { u: 'Wh', shift: 3 },
  Wh: { u: 'Wh', shift: 0 },
  kW: { u: 'W', shift: 3 },
  W: { u: 'W', shift: 0 },
  kvar: { u: 'var', shift: 3 },
  var: { u: 'var', shift: 0 },
  V: { u: 'V', shift: 0 },
  A: { u: 'A', shift: 0 },
  Hz: { u: 'Hz', shift: 0 },
  m3: { u: 'm3', shift: 0 },
  GJ: { u: 'J', shift: 9 },
  MJ: { u: 'J', shift: 6 },
};

/**
 * Electricity objects (A = 1) by C.D.E, IEC 62056-61 / DSMR 5.0.2 §6.12 / eMUCS-P1 1.7.1 §7:
 * [name, SenML unit the value must convert to, 's' for a cumulative total else 'v'].
 * Tariff registers 1.8.T / 2.8.T (T = 1..9) are generated below: e_tT / e_exp_tT.
 */
export const OBIS_ELECTRICITY: { [cde: string]: [string, string, string] } = {
  '1.8.0': ['e', 'Wh', 's'], // active energy import, total
  '2.8.0': ['e_exp', 'Wh', 's'], // active energy export, total
  '1.7.0': ['p_imp', 'W', 'v'], // active power import, all phases
  '2.7.0': ['p_exp', 'W', 'v'], // active power export, all phases
  '16.7.0': ['p', 'W', 'v'], // net active power (import - export), signed
  '3.7.0': ['q_imp', 'var', 'v'], // reactive power import (Q+)
  '4.7.0': ['q_exp', 'var', 'v'], // reactive power export (Q-)
  '21.7.0': ['p_imp_l1', 'W', 'v'],
  '41.7.0': ['p_imp_l2', 'W', 'v'],
  '61.7.0': ['p_imp_l3', 'W', 'v'],
  '22.7.0': ['p_exp_l1', 'W', 'v'],
  '42.7.0': ['p_exp_l2', 'W', 'v'],
  '62.7.0': ['p_exp_l3', 'W', 'v'],
  '36.7.0': ['p_l1', 'W', 'v'], // per-phase net active power, signed
  '56.7.0': ['p_l2', 'W', 'v'],
  '76.7.0': ['p_l3', 'W', 'v'],
  '32.7.0': ['u_l1', 'V', 'v'],
  '52.7.0': ['u_l2', 'V', 'v'],
  '72.7.0': ['u_l3', 'V', 'v'],
  '31.7.0': ['i_l1', 'A', 'v'],
  '51.7.0': ['i_l2', 'A', 'v'],
  '71.7.0': ['i_l3', 'A', 'v'],
  '14.7.0': ['f', 'Hz', 'v'],
  '32.32.0': ['sag_l1', '', 's'], // number of voltage sags (DSMR 5.0.2 §6.12)
  '52.32.0': ['sag_l2', '', 's'],
  '72.32.0': ['sag_l3', '', 's'],
  '32.36.0': ['swell_l1', '', 's'], // number of voltage swells
  '52.36.0': ['swell_l2', '', 's'],
  '72.36.0': ['swell_l3', '', 's'],
  '1.4.0': ['p_avg', 'W', 'v'], // eMUCS: current average demand (15-minute window)
};

// ---------------------------------------------------------------------------------------------
// Text

/** Anything but printable ASCII, CR and LF. */
const NOT_TEXT = /[^ -~\r\n]/;

/**
 * `buf[start..end)` as a string, or undefined when a byte is not printable ASCII, CR or LF.
 * Built 128 bytes per native call: a per-byte loop costs ~8 us a byte in Espruino, where
 * String.fromCharCode.apply takes a typed array (at most 256 arguments).
 */
export function asciiText(buf: Uint8Array, start: number, end: number): string | undefined {
  let s = '';
  for (let i = start; i < end; i += 128) {
    const j = i + 128 < end ? i + 128 : end;
    s += String.fromCharCode.apply(null, buf.subarray(i, j) as unknown as number[]);
  }
  return NOT_TEXT.test(s) ? undefined : s;
}

// ---------------------------------------------------------------------------------------------
// Identifiers

/** A parsed object identifier. `a`/`b` are -1 when the short form left them out. */
export interface ObisId {
  a: number;
  b: number;
  /** "C.D.E" (or "C.D", "F.F", "C.1": whatever the meter wrote between ':' and '*'). */
  cde: string;
  /** Billing period F, -1 when absent; 255 means "current" as absent does. */
  f: number;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Non-negative decimal integer of 1..3 digits, or -1. */
function smallInt(s: string): number {
  if (s.length < 1 || s.length > 3) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) return -1;
    v = v * 10 + c - 48;
  }
  return v;
}

/** Parses an identifier into `out`; false when it is not one. */
export function parseObisId(s: string, out: ObisId): boolean {
  if (s.length < 1 || s.length > 24) return false;
  let rest = s;
  out.a = -1;
  out.b = -1;
  out.f = -1;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const ab = rest.substring(0, colon);
    const dash = ab.indexOf('-');
    if (dash < 0) return false;
    out.a = smallInt(ab.substring(0, dash));
    out.b = smallInt(ab.substring(dash + 1));
    if (out.a < 0 || out.b < 0) return false;
    rest = rest.substring(colon + 1);
  }
  const star = rest.indexOf('*');
  if (star >= 0) {
    out.f = smallInt(rest.substring(star + 1));
    if (out.f < 0) return false;
    rest = rest.substring(0, star);
  }
  if (!rest.length) return false;
  // C.D.E groups: digits or the letters IEC 62056-61 allows in C (C, F, L, P) and such.
  if (!ID_CHARS.test(rest)) return false;
  if (rest.charCodeAt(0) === 46 || rest.charCodeAt(rest.length - 1) === 46 || rest.indexOf('..') >= 0) return false;
  out.cde = rest;
  return true;
}

/** True when F names the current value (absent or 255), not a stored billing period. */
export function isCurrent(id: ObisId): boolean {
  return id.f < 0 || id.f === 255;
}

// ---------------------------------------------------------------------------------------------
// Lines

/**
 * Splits a data line into data sets: each is an identifier and its parenthesised groups. One
 * line may hold several data sets (IEC 62056-21 data block: "1.8.1(5*kWh)1.8.2(6*kWh)"); a line that
 * starts with '(' continues the previous object (DSMR 2.2/3 gas values). Calls `each(id, groups)`
 * per data set, with `id` '' for a continuation. Returns false on a grammar error, after
 * which no further data sets of the line are delivered (earlier ones were).
 */
export function splitDataLine(line: string, each: (id: string, groups: string[]) => boolean): boolean {
  // The caller has checked the text is printable ASCII; only the structure is checked here,
  // with native indexOf rather than a loop over characters.
  const n = line.length;
  let i = 0;
  if (!n) return false;
  while (i < n) {
    const open = line.indexOf('(', i);
    if (open < 0) return false; // identifier without a value
    // Empty only at the start of a line (a continuation): later data sets begin where the
    // previous one's groups ended, at a character that is not '('.
    const id = line.substring(i, open);
    if (id.indexOf(')') >= 0 || id.indexOf(' ') >= 0) return false;
    i = open;
    const groups: string[] = [];
    while (i < n && line.charCodeAt(i) === 40) {
      const close = line.indexOf(')', i + 1);
      if (close < 0) return false;
      const g = line.substring(i + 1, close);
      if (g.indexOf('(') >= 0) return false;
      groups.push(g);
      i = close + 1;
    }
    if (!each(id, groups)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Values

// Native regex tests instead of loops over characters (interpreted loops are the cost on
// Espruino). Its matcher has no "?" or groups with quantifiers: only classes, * and +.
const DIGITS = /^[0-9]+$/;
const LEADING_ZEROS = /^0+/;
const LEADING_SPACES = /^ +/;
const ID_CHARS = /^[0-9A-Za-z.]+$/;

/**
 * Moves the decimal point of a meter's number `shift` places right and parses it. Accepts an
 * optional sign or leading spaces (Landis+Gyr writes "( 001.67*kW)"), digits, at most one '.'.
 * Returns NaN for anything else, so a caller can never mistake garbage for a number.
 */
export function scaleDecimal(s: string, shift: number): number {
  let t = s.charCodeAt(0) === 32 ? s.replace(LEADING_SPACES, '') : s;
  const sign = t.charCodeAt(0);
  if (sign === 45 || sign === 43) t = t.substring(1);
  if (t.length < 1 || t.length > OBIS_MAX_NUMBER_CHARS) return NaN;
  const dot = t.indexOf('.');
  const intPart = dot < 0 ? t : t.substring(0, dot);
  const frac = dot < 0 ? '' : t.substring(dot + 1);
  if (!DIGITS.test(intPart) || (dot >= 0 && !DIGITS.test(frac))) return NaN;
  let moved = frac.substring(0, shift);
  while (moved.length < shift) moved += '0';
  const rest = frac.substring(shift);
  // Espruino's parseFloat (and Number, unary +) read an integer with a leading zero as octal:
  // parseFloat("0001727") is 983 there. Meters zero-pad everything, so strip the zeros first.
  const digits = (intPart + moved).replace(LEADING_ZEROS, '');
  const v = parseFloat((digits.length ? digits : '0') + (rest.length ? '.' + rest : ''));
  return sign === 45 ? -v : v;
}

/**
 * "value*unit" (or "value" when `unitless`) -> SenML value in `wantUnit`, or undefined when the
 * number or unit is malformed or of the wrong kind. `wantUnit` '' means no unit allowed.
 */
export function quantity(group: string, wantUnit: string): { v: number; u: string } | undefined {
  const star = group.indexOf('*');
  if (wantUnit === '') {
    if (star >= 0) return undefined;
    const v = scaleDecimal(group, 0);
    return v === v ? { v: v, u: '' } : undefined;
  }
  if (star < 0) return undefined;
  const unit = group.substring(star + 1);
  if (!OBIS_UNITS.hasOwnProperty(unit)) return undefined;
  const conv = OBIS_UNITS[unit];
  if (conv.u !== wantUnit) return undefined;
  const v = scaleDecimal(group.substring(0, star), conv.shift);
  return v === v ? { v: v, u: conv.u } : undefined;
}

/** Like quantity() but takes whatever SenML unit the meter's unit converts to (M-Bus values). */
export function anyQuantity(group: string): { v: number; u: string } | undefined {
  const star = group.indexOf('*');
  if (star < 0) return undefined;
  const unit = group.substring(star + 1);
  if (!OBIS_UNITS.hasOwnProperty(unit)) return undefined;
  return quantity(group, OBIS_UNITS[unit].u);
}

/** Two decimal digits at `i` (checked to be digits by the caller), without octal surprises. */
function two(s: string, i: number): number {
  return (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;
}

/**
 * DSMR timestamp YYMMDDhhmmssX (DSMR 5.0.2 §6.4, X = S summer / W winter time), the 12-digit
 * form without X (DSMR 2.2/3), or IEC's 10-digit YYMMDDhhmm; fields range-checked.
 */
export function isTimestamp(s: string): boolean {
  const n = s.length;
  if (n !== 10 && n !== 12 && n !== 13) return false;
  for (let i = 0; i < (n === 13 ? 12 : n); i++) if (!isDigit(s.charCodeAt(i))) return false;
  if (n === 13 && s.charAt(12) !== 'S' && s.charAt(12) !== 'W') return false;
  const mo = two(s, 2);
  const d = two(s, 4);
  const h = two(s, 6);
  const mi = two(s, 8);
  const se = n >= 12 ? two(s, 10) : 0;
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 59;
}

/** Name and unit rule for an electricity object, or undefined when the table does not know it. */
export function electricityEntry(cde: string): [string, string, string] | undefined {
  if (OBIS_ELECTRICITY.hasOwnProperty(cde)) return OBIS_ELECTRICITY[cde];
  // Tariff registers 1.8.T / 2.8.T, T = 1..9 (DSMR: T1 = low, T2 = normal; eMUCS: T1 = day).
  if (cde.length === 5 && (cde.charAt(0) === '1' || cde.charAt(0) === '2') && cde.substr(1, 3) === '.8.') {
    const t = cde.charCodeAt(4);
    if (t >= 49 && t <= 57) return [(cde.charAt(0) === '1' ? 'e_t' : 'e_exp_t') + cde.charAt(4), 'Wh', 's'];
  }
  return undefined;
}

/** Appends the SenML value for `group` under rule `e`; false when the group does not fit the rule. */
export function pushQuantity(out: SourceValue[], e: [string, string, string], group: string): boolean {
  const q = quantity(group, e[1]);
  if (!q) return false;
  const rec: SourceValue = { n: e[0] };
  if (q.u) rec.u = q.u;
  if (e[2] === 's') rec.s = q.v;
  else rec.v = q.v;
  out.push(rec);
  return true;
}
