// SenML packs (RFC 8428) in their CBOR representation (§6), written in the shortest form:
// base name and base time are restated only when they change, so the records of one sample
// share one time field. Decoding applies SenML's resolution rules (§4.6) and returns plain
// resolved records.
import { CborMap, type CborValue } from '../codec/cbor.js';
import { err } from '../util/errors.js';

/** RFC 8428 §6 Table 4: CBOR labels. */
export const SENML = {
  BVER: -1,
  BN: -2,
  BT: -3,
  BU: -4,
  BV: -5,
  BS: -6,
  N: 0,
  U: 1,
  V: 2,
  VS: 3,
  VB: 4,
  S: 5,
  T: 6,
  UT: 7,
};

/** A resolved reading. `t` is in seconds on the batch's time base (docs/wire-format.md). */
export interface Reading {
  n: string;
  u?: string;
  v?: number;
  s?: number;
  vs?: string;
  vb?: boolean;
  t: number;
}

// RFC 8428 §4.5.1: names start with a letter or digit and use only A-Z a-z 0-9 - : . / _
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9\-:.\/_]*$/;
const MAX_NAME = 64;

function isNum(x: unknown): x is number {
  return typeof x === 'number' && x === x && x !== Infinity && x !== -Infinity;
}

/** Validates a reading at the public boundary; `where` names it in the error. */
export function checkReading(r: Reading, where: string): void {
  if (r === null || typeof r !== 'object') throw err('E_READING', where + ' expected an object', TypeError);
  if (typeof r.n !== 'string' || !NAME_RE.test(r.n) || r.n.length > MAX_NAME)
    throw err('E_READING', where + '.n expected a SenML name (RFC 8428 section 4.5.1, <= ' + MAX_NAME + ' chars), got ' + JSON.stringify(r.n));
  if (r.u !== undefined && (typeof r.u !== 'string' || r.u.length === 0 || r.u.length > 16))
    throw err('E_READING', where + '.u expected a unit string, got ' + JSON.stringify(r.u));
  if (!isNum(r.t)) throw err('E_READING', where + '.t expected a finite number of seconds, got ' + String(r.t));
  let values = 0;
  if (r.v !== undefined) {
    if (!isNum(r.v)) throw err('E_READING', where + '.v expected a finite number, got ' + String(r.v));
    values++;
  }
  if (r.s !== undefined) {
    if (!isNum(r.s)) throw err('E_READING', where + '.s expected a finite number, got ' + String(r.s));
    values++;
  }
  if (r.vs !== undefined) {
    if (typeof r.vs !== 'string') throw err('E_READING', where + '.vs expected a string');
    values++;
  }
  if (r.vb !== undefined) {
    if (typeof r.vb !== 'boolean') throw err('E_READING', where + '.vb expected a boolean');
    values++;
  }
  if (values === 0) throw err('E_READING', where + ' has no value (v, s, vs or vb)');
}

function splitName(n: string): number {
  // Base name is everything up to and including the last '/', so a source's records share it.
  const i = n.lastIndexOf('/');
  return i < 0 ? 0 : i + 1;
}

function byNameThenTime(a: Reading, b: Reading): number {
  if (a.n !== b.n) return a.n < b.n ? -1 : 1;
  return a.t - b.t;
}

/**
 * Encodes readings as a SenML pack in canonical order (name, then time) with these rules
 * (docs/wire-format.md, "Readings"), which any SenML resolver undoes:
 * - bt: the first record sets the pack's base time to its own time; others carry t = their
 *   time - bt when it is not 0.
 * - A run of two or more records with one name starts with bn = that full name (n omitted in the
 *   whole run) and, when every reading in the pack has a unit, bu = its unit (u omitted in the
 *   run); a lone record uses bn = the name up to its last '/' (restated only when it changes)
 *   and n = the rest.
 * - Sums: the first sum of a run (or a lone sum) sets bs = its value and carries s = 0; later
 *   sums in the run carry s = value - bs, or restart bs when that difference is not exact.
 */
export function encodePack(readings: Reading[]): CborValue[] {
  for (let i = 0; i < readings.length; i++) checkReading(readings[i], 'readings[' + i + ']');
  const rs = readings.slice();
  rs.sort(byNameThenTime);
  let allUnits = true;
  for (let i = 0; i < rs.length; i++) if (rs[i].u === undefined) allUnits = false;
  const pack: CborValue[] = [];
  let bn = '';
  let bu: string | undefined;
  let bs = 0;
  let bt = 0;
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i];
    const m = new CborMap();
    const inRun = i > 0 && rs[i - 1].n === r.n;
    const runStart = !inRun && i + 1 < rs.length && rs[i + 1].n === r.n;
    if (runStart) {
      if (bn !== r.n) m.set(SENML.BN, r.n);
      bn = r.n;
      if (allUnits && bu !== r.u) m.set(SENML.BU, r.u as string);
      if (allUnits) bu = r.u;
    } else if (!inRun) {
      const cut = splitName(r.n);
      const base = r.n.substr(0, cut);
      if (base !== bn) m.set(SENML.BN, base);
      bn = base;
    }
    if (i === 0) {
      if (r.t !== 0) m.set(SENML.BT, r.t);
      bt = r.t;
    }
    if (!inRun && !runStart) {
      const local = r.n.substr(splitName(r.n));
      if (local.length === 0) throw err('E_READING', 'reading name ' + JSON.stringify(r.n) + ' must not end with "/"');
      m.set(SENML.N, local);
    }
    if (r.u !== undefined && !(allUnits && (inRun || runStart))) m.set(SENML.U, r.u);
    if (r.v !== undefined) m.set(SENML.V, r.v);
    if (r.vs !== undefined) m.set(SENML.VS, r.vs);
    if (r.vb !== undefined) m.set(SENML.VB, r.vb);
    if (r.s !== undefined) {
      let d = r.s - bs;
      if (!inRun || bs + d !== r.s) {
        m.set(SENML.BS, r.s);
        bs = r.s;
        d = 0;
      }
      m.set(SENML.S, d);
    }
    const dt = r.t - bt;
    // A time offset that does not add back exactly would change the reading's time.
    if (dt !== 0 && bt + dt !== r.t) throw err('E_READING', 'reading time ' + r.t + ' cannot be expressed exactly against base time ' + bt);
    if (dt !== 0) m.set(SENML.T, dt);
    pack.push(m);
  }
  return pack;
}

function labelOf(k: CborValue): number {
  if (typeof k !== 'number') throw err('E_SENML', 'SenML label expected an integer, got ' + typeof k);
  return k;
}

/** Resolves a decoded SenML pack into readings; rejects labels version 1 does not know. */
export function decodePack(pack: CborValue, maxRecords: number): Reading[] {
  if (!(pack instanceof Array)) throw err('E_SENML', 'SenML pack expected an array');
  if (pack.length > maxRecords) throw err('E_SENML', 'SenML pack has ' + pack.length + ' records, limit ' + maxRecords);
  const out: Reading[] = [];
  let bn = '';
  let bt = 0;
  let bu: string | undefined;
  let bv = 0;
  let bs = 0;
  for (let i = 0; i < pack.length; i++) {
    const rec = pack[i];
    if (!(rec instanceof CborMap)) throw err('E_SENML', 'SenML record ' + i + ' expected a map');
    const where = 'SenML record ' + i;
    let n: string | undefined;
    let t = 0;
    const r: Reading = { n: '', t: 0 };
    const ents = rec.entries;
    for (let j = 0; j < ents.length; j++) {
      const label = labelOf(ents[j][0]);
      const val = ents[j][1];
      const str = typeof val === 'string';
      const num = isNum(val);
      if (label === SENML.BVER) {
        if (val !== 10) throw err('E_SENML', where + ': unsupported bver ' + String(val));
      } else if (label === SENML.BN && str) bn = val as string;
      else if (label === SENML.BT && num) bt = val as number;
      else if (label === SENML.BU && str) bu = val as string;
      else if (label === SENML.BV && num) bv = val as number;
      else if (label === SENML.BS && num) bs = val as number;
      else if (label === SENML.N && str) n = val as string;
      else if (label === SENML.U && str) r.u = val as string;
      else if (label === SENML.V && num) r.v = val as number;
      else if (label === SENML.VS && str) r.vs = val as string;
      else if (label === SENML.VB && typeof val === 'boolean') r.vb = val;
      else if (label === SENML.S && num) r.s = val as number;
      else if (label === SENML.T && num) t = val as number;
      else throw err('E_SENML', where + ': label ' + label + ' unknown or of the wrong type');
    }
    r.n = bn + (n === undefined ? '' : n);
    r.t = bt + t;
    if (r.u === undefined && bu !== undefined) r.u = bu;
    if (r.v !== undefined) r.v += bv;
    else if (bv !== 0 && r.s === undefined && r.vs === undefined && r.vb === undefined) r.v = bv;
    if (r.s !== undefined) r.s += bs;
    checkReading(r, where);
    out.push(r);
  }
  return out;
}
