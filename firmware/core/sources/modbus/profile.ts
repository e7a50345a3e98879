// Meter register maps as data. A profile lists, for each quantity the meter offers, where it
// lives (function code, register address), how it is encoded (type, scale) and what it becomes
// in SenML (name, unit, value or sum). Profiles are validated by a schema whose errors name the
// bad field, compiled once, and turned into as few read requests as the meter allows.
import { err } from '../../util/errors.js';
import { validate, type Schema } from '../../config/schema.js';
import type { SourceValue } from '../source.js';
import { MODBUS, TYPE_NAMES, typeCode, typeWords, readRegisterValue } from './decoder.js';

/** A profile as written in profiles/<name>.json or embedded in a device config ("map"). */
export interface ProfileQuantity {
  /** SenML name within the source (docs/sources/modbus.md), e.g. "u", "e", "p_l1". */
  n: string;
  /** 3 = holding registers, 4 = input registers. */
  fc: number;
  /** Register address as sent on the wire (0-based: Eastron's "30001" is 0x0000). */
  addr: number;
  /** One of TYPE_NAMES. */
  type: string;
  /** Physical value = raw value x scale (0.1 for "1/10 V", 1000 for kWh to Wh). Default 1. */
  scale?: number;
  /** SenML unit (RFC 8428 §12.1 / RFC 8798). */
  unit?: string;
  /** A cumulative total (energy): reported as the SenML sum `s` instead of `v`. */
  total?: boolean;
  /** A status flag: reported as the SenML boolean `vb` (raw value non-zero). */
  flag?: boolean;
  /** Round the scaled value to this many decimals (energy in Wh from float kWh: 0). */
  decimals?: number;
  doc?: string;
}

export interface ModbusProfile {
  name: string;
  model?: string;
  /** Where the register map comes from (manufacturer document, public project). */
  source?: string;
  notes?: string;
  /** Most registers the meter returns in one read (at most 125, [AP] §6.3). */
  maxRegs?: number;
  /** Most unused registers one read may span between quantities (0: the meter refuses them). */
  maxGap?: number;
  quantities: ProfileQuantity[];
}

// ---------------------------------------------------------------------------------------------
// Bounds and schema

export const PROFILE_LIMITS = {
  /** Quantities per profile: a three-phase meter's useful set is ~30. */
  MAX_QUANTITIES: 48,
  /** SenML name length within a source (the agent prefixes "<source id>/"). */
  MAX_NAME: 12,
  /** Decimals a scaled value may be rounded to. */
  MAX_DECIMALS: 9,
  /** |scale| bound: enough for kWh to Wh (1000) and 1/10000 resolutions both ways. */
  MAX_SCALE: 1e9,
};

/** SenML units a meter quantity may carry (RFC 8428 §12.1: V A W VA var Hz / Cel %RH %; RFC 8798: Wh varh). */
export const UNITS = ['V', 'A', 'W', 'VA', 'var', 'Wh', 'varh', 'Hz', '/', 'Cel', '%', '%RH'];

const NAME_RE = /^[a-z][a-z0-9_]*$/;

export const QUANTITY_SCHEMA: Schema = {
  n: { type: 'string', maxLength: PROFILE_LIMITS.MAX_NAME, pattern: NAME_RE, patternDoc: 'lower-case letters, digits and _, starting with a letter', required: true, doc: 'SenML name' },
  fc: { type: 'int', min: MODBUS.FC_READ_HOLDING, max: MODBUS.FC_READ_INPUT, required: true, doc: '3: holding registers, 4: input registers' },
  addr: { type: 'int', min: 0, max: 0xffff, required: true, doc: 'register address on the wire (0-based)' },
  type: { type: 'string', maxLength: 8, oneOf: TYPE_NAMES, required: true, doc: 'register encoding' },
  scale: { type: 'number', min: -PROFILE_LIMITS.MAX_SCALE, max: PROFILE_LIMITS.MAX_SCALE, default: 1, doc: 'physical value = raw x scale' },
  unit: { type: 'string', maxLength: 4, oneOf: UNITS, doc: 'SenML unit' },
  total: { type: 'bool', default: false, doc: 'cumulative total: SenML sum (s)' },
  flag: { type: 'bool', default: false, doc: 'status flag: SenML boolean (vb), true when non-zero' },
  decimals: { type: 'int', min: 0, max: PROFILE_LIMITS.MAX_DECIMALS, doc: 'round the scaled value to this many decimals' },
  doc: { type: 'string', maxLength: 120 },
};

export const PROFILE_SCHEMA: Schema = {
  name: { type: 'string', maxLength: 16, pattern: /^[a-z0-9_\-]+$/, patternDoc: 'lower-case letters, digits, _ and - only', required: true },
  model: { type: 'string', maxLength: 64 },
  source: { type: 'string', maxLength: 1000 },
  notes: { type: 'string', maxLength: 600 },
  maxRegs: { type: 'int', min: 1, max: MODBUS.MAX_READ_REGISTERS, default: MODBUS.MAX_READ_REGISTERS, doc: 'registers per read the meter accepts' },
  maxGap: { type: 'int', min: 0, max: MODBUS.MAX_READ_REGISTERS - 1, default: 0, doc: 'unused registers a read may span' },
  quantities: { type: 'array', maxItems: PROFILE_LIMITS.MAX_QUANTITIES, items: { type: 'object', fields: QUANTITY_SCHEMA }, required: true },
};

/**
 * Validates a profile: the schema (types, bounds, names) and what a schema cannot say (unique
 * names, registers inside the address space, flag vs total, a scale of 0). Returns the profile
 * with defaults filled and every problem found, each naming its path.
 */
export function checkProfile(input: unknown, path: string): { value: ModbusProfile; errors: string[] } {
  const r = validate(PROFILE_SCHEMA, input, path);
  const errors = r.errors;
  const p = r.value as unknown as ModbusProfile;
  const qs = p.quantities;
  if (qs instanceof Array) {
    if (qs.length === 0) errors.push(path + '.quantities: expected at least one quantity');
    const seen: { [n: string]: number } = {};
    for (let i = 0; i < qs.length; i++) {
      const q = qs[i];
      if (!q) continue;
      const qp = path + '.quantities[' + i + ']';
      if (typeof q.n === 'string') {
        if (seen.hasOwnProperty(q.n)) errors.push(qp + '.n: "' + q.n + '" is already used by quantities[' + seen[q.n] + ']');
        else seen[q.n] = i;
      }
      const code = typeof q.type === 'string' ? typeCode(q.type) : -1;
      if (code >= 0 && typeof q.addr === 'number') {
        const w = typeWords(code);
        if (q.addr + w > 0x10000) errors.push(qp + '.addr: a ' + q.type + ' needs ' + w + ' registers, so at most ' + (0x10000 - w) + ', got ' + q.addr);
        if (typeof p.maxRegs === 'number' && w > p.maxRegs) errors.push(qp + '.type: a ' + q.type + ' needs ' + w + ' registers but maxRegs is ' + p.maxRegs);
      }
      if (q.scale === 0) errors.push(qp + '.scale: expected a non-zero number, got 0');
      if (q.flag && q.total) errors.push(qp + '.flag: a flag cannot also be a total');
      if (q.flag && (q.unit !== undefined || q.decimals !== undefined)) errors.push(qp + '.flag: a flag has no unit or decimals');
    }
  }
  return { value: p, errors: errors };
}

// ---------------------------------------------------------------------------------------------
// Compiled form

export interface CompiledQuantity {
  n: string;
  fc: number;
  addr: number;
  code: number;
  words: number;
  /** value = raw / div when div > 0 (exact for decimal scales such as 0.1), else raw * mul. */
  mul: number;
  div: number;
  unit: string | undefined;
  /** 0: v, 1: s (total), 2: vb (flag). */
  kind: number;
  /** 10^decimals, or 0 for no rounding. */
  round: number;
}

export interface CompiledProfile {
  name: string;
  model: string;
  maxRegs: number;
  maxGap: number;
  q: CompiledQuantity[];
}

/** Validates and compiles; throws one E_PROFILE error listing every problem. */
export function compileProfile(input: unknown, path: string): CompiledProfile {
  const r = checkProfile(input, path);
  if (r.errors.length) throw err('E_PROFILE', 'invalid Modbus profile:\n  ' + r.errors.join('\n  '));
  const p = r.value;
  const q: CompiledQuantity[] = [];
  for (let i = 0; i < p.quantities.length; i++) {
    const s = p.quantities[i];
    const code = typeCode(s.type);
    const scale = s.scale === undefined ? 1 : s.scale;
    // 0.1 is not exact in binary: 2257 * 0.1 = 225.70000000000002 but 2257 / 10 = 225.7. The
    // tolerance absorbs Espruino's digit-by-digit number parsing of a config's "0.1".
    const inv = Math.round(1 / scale);
    const div = Math.abs(scale) < 1 && inv !== 0 && Math.abs(1 / inv - scale) <= Math.abs(scale) / 1e12 ? inv : 0;
    let round = 0;
    if (s.decimals !== undefined) {
      round = 1;
      for (let d = 0; d < s.decimals; d++) round *= 10;
    }
    q.push({ n: s.n, fc: s.fc, addr: s.addr, code: code, words: typeWords(code), mul: scale, div: div, unit: s.unit, kind: s.flag ? 2 : s.total ? 1 : 0, round: round });
  }
  return { name: p.name, model: p.model || p.name, maxRegs: p.maxRegs as number, maxGap: p.maxGap as number, q: q };
}

// ---------------------------------------------------------------------------------------------
// Request planning: consecutive registers of one function code share a read, as long as the read
// stays within `maxRegs` and spans at most `maxGap` unused registers between quantities. On a
// 9600-baud bus every extra request costs ~8 request bytes, the meter's turnaround (tens of ms)
// and two silent gaps, while an unused register costs 2 bytes (~2 ms).

export interface ReadGroup {
  fc: number;
  addr: number;
  count: number;
  /** Indices into the profile's quantities. */
  members: number[];
}

/**
 * The reads that cover the selected quantities (all when `only` is undefined). Throws E_CONFIG
 * naming a selected name the profile does not have, or a quantity wider than `maxRegs`.
 */
export function planReads(p: CompiledProfile, maxRegs: number, maxGap: number, only?: string[]): ReadGroup[] {
  const idx: number[] = [];
  if (only) {
    for (let i = 0; i < only.length; i++) {
      let k = -1;
      for (let j = 0; j < p.q.length; j++) if (p.q[j].n === only[i]) k = j;
      if (k < 0) throw err('E_CONFIG', 'only[' + i + ']: profile "' + p.name + '" has no quantity "' + only[i] + '" (known: ' + names(p).join(', ') + ')');
      if (idx.indexOf(k) < 0) idx.push(k);
    }
  } else for (let j = 0; j < p.q.length; j++) idx.push(j);
  const q = p.q;
  idx.sort((a, b) => (q[a].fc - q[b].fc) || (q[a].addr - q[b].addr) || (a - b));
  const groups: ReadGroup[] = [];
  let g: ReadGroup | undefined;
  let end = 0; // one past the last register g covers
  for (let k = 0; k < idx.length; k++) {
    const c = q[idx[k]];
    if (c.words > maxRegs) throw err('E_CONFIG', 'maxRegs: ' + maxRegs + ' is less than the ' + c.words + ' registers of "' + c.n + '" (' + TYPE_NAMES[c.code] + ')');
    const cEnd = c.addr + c.words;
    if (g && c.fc === g.fc && c.addr - end <= maxGap && (cEnd > end ? cEnd : end) - g.addr <= maxRegs) {
      if (cEnd > end) end = cEnd;
      g.count = end - g.addr;
      g.members.push(idx[k]);
      continue;
    }
    g = { fc: c.fc, addr: c.addr, count: c.words, members: [idx[k]] };
    end = cEnd;
    groups.push(g);
  }
  return groups;
}

export function names(p: CompiledProfile): string[] {
  const out: string[] = [];
  for (let i = 0; i < p.q.length; i++) out.push(p.q[i].n);
  return out;
}

/**
 * Decodes the members of `g` from its registers into `out[member index]`. A value that is not a
 * finite number (a float register holding NaN or infinity) is left out and counted in `bad`.
 */
export function decodeGroup(p: CompiledProfile, g: ReadGroup, regs: Uint16Array, out: (SourceValue | undefined)[], bad: { n: number }): void {
  for (let k = 0; k < g.members.length; k++) {
    const m = g.members[k];
    const c = p.q[m];
    const raw = readRegisterValue(c.code, regs, c.addr - g.addr);
    if (c.kind === 2) {
      out[m] = { n: c.n, vb: raw !== 0 };
      continue;
    }
    let v = c.div ? raw / c.div : c.mul === 1 ? raw : raw * c.mul;
    // Half away from zero, as a meter's display and Number.prototype.toFixed round.
    if (c.round) v = v < 0 ? -Math.round(-v * c.round) / c.round : Math.round(v * c.round) / c.round;
    if (v === 0) v = 0; // no -0 on the wire
    if (!isFinite(v)) {
      bad.n++;
      continue;
    }
    const sv: SourceValue = { n: c.n };
    if (c.unit !== undefined) sv.u = c.unit;
    if (c.kind === 1) sv.s = v;
    else sv.v = v;
    out[m] = sv;
  }
}
