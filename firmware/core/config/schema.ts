// Declarative config schemas (ESPHome style): every option has a type, bounds and a default, and
// a validation error names the path and states the rule ("sources[1].baud: expected an integer
// in 300..115200, got 9601"); an unknown option suggests the nearest known one. Runs on the
// device too (configs arrive over MQTT commands and provisioning).
import { err } from '../util/errors.js';

export type FieldSpec =
  | { type: 'int'; min: number; max: number; default?: number; required?: boolean; doc?: string }
  | { type: 'number'; min: number; max: number; default?: number; required?: boolean; doc?: string }
  | { type: 'string'; maxLength: number; pattern?: RegExp; patternDoc?: string; oneOf?: string[]; default?: string; required?: boolean; doc?: string }
  | { type: 'bool'; default?: boolean; required?: boolean; doc?: string }
  | { type: 'pin'; required?: boolean; default?: string; doc?: string }
  | { type: 'object'; fields: Schema; required?: boolean; doc?: string }
  | { type: 'array'; items: FieldSpec; maxItems: number; required?: boolean; doc?: string };

export interface Schema {
  [name: string]: FieldSpec;
}

// Board pin names as Espruino spells them: D0..D48, A0..A7, or a named pin of the platform.
const PIN_RE = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Edit distance counting a swap of adjacent letters as one edit (the commonest typo). */
export function editDistance(a: string, b: string): number {
  const w = b.length + 1;
  let pp = new Uint16Array(w);
  let prev = new Uint16Array(w);
  let cur = new Uint16Array(w);
  for (let j = 0; j < w; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j < w; j++) {
      const ca = a.charAt(i - 1);
      const cb = b.charAt(j - 1);
      let d = prev[j - 1] + (ca === cb ? 0 : 1);
      if (prev[j] + 1 < d) d = prev[j] + 1;
      if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;
      if (i > 1 && j > 1 && ca === b.charAt(j - 2) && a.charAt(i - 2) === cb && pp[j - 2] + 1 < d) d = pp[j - 2] + 1;
      cur[j] = d;
    }
    const t = pp;
    pp = prev;
    prev = cur;
    cur = t;
  }
  return prev[b.length];
}

/** The known name nearest to `name`, if it is plausibly a typo of it. */
export function nearest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 1e9;
  for (let i = 0; i < known.length; i++) {
    const d = editDistance(name.toLowerCase(), known[i].toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = known[i];
    }
  }
  return best !== undefined && bestD <= (name.length < 5 ? 1 : 2) ? best : undefined;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return v instanceof Array ? 'an array' : 'an object';
}

function field(spec: FieldSpec, v: unknown, path: string, errors: string[]): unknown {
  if (spec.type === 'int' || spec.type === 'number') {
    const intOnly = spec.type === 'int';
    if (typeof v !== 'number' || v !== v || (intOnly && Math.floor(v) !== v) || v < spec.min || v > spec.max) {
      errors.push(path + ': expected ' + (intOnly ? 'an integer' : 'a number') + ' in ' + spec.min + '..' + spec.max + ', got ' + show(v));
      return undefined;
    }
    return v;
  }
  if (spec.type === 'string') {
    if (typeof v !== 'string') {
      errors.push(path + ': expected a string, got ' + show(v));
      return undefined;
    }
    if (spec.oneOf && spec.oneOf.indexOf(v) < 0) {
      const near = nearest(v, spec.oneOf);
      errors.push(path + ': expected one of ' + spec.oneOf.join(', ') + ', got ' + show(v) + (near ? '; did you mean "' + near + '"?' : ''));
      return undefined;
    }
    if (v.length > spec.maxLength) {
      errors.push(path + ': at most ' + spec.maxLength + ' characters, got ' + v.length);
      return undefined;
    }
    if (spec.pattern && !spec.pattern.test(v)) {
      errors.push(path + ': ' + (spec.patternDoc || 'does not match ' + String(spec.pattern)) + ', got ' + show(v));
      return undefined;
    }
    return v;
  }
  if (spec.type === 'bool') {
    if (typeof v !== 'boolean') {
      errors.push(path + ': expected true or false, got ' + show(v));
      return undefined;
    }
    return v;
  }
  if (spec.type === 'pin') {
    if (typeof v !== 'string' || !PIN_RE.test(v) || v.length > 16) {
      errors.push(path + ': expected a pin name such as "D22", got ' + show(v));
      return undefined;
    }
    return v;
  }
  if (spec.type === 'object') {
    if (v === null || typeof v !== 'object' || v instanceof Array) {
      errors.push(path + ': expected an object, got ' + show(v));
      return undefined;
    }
    return fill(spec.fields, v as { [k: string]: unknown }, path, errors);
  }
  if (!(v instanceof Array)) {
    errors.push(path + ': expected an array, got ' + show(v));
    return undefined;
  }
  if (v.length > spec.maxItems) {
    errors.push(path + ': at most ' + spec.maxItems + ' items, got ' + v.length);
    return undefined;
  }
  const out: unknown[] = [];
  for (let i = 0; i < v.length; i++) out.push(field(spec.items, v[i], path + '[' + i + ']', errors));
  return out;
}

function fill(schema: Schema, input: { [k: string]: unknown }, path: string, errors: string[]): { [k: string]: unknown } {
  const out: { [k: string]: unknown } = {};
  const known: string[] = [];
  for (const k in schema) if (schema.hasOwnProperty(k)) known.push(k);
  for (const k in input) {
    if (!input.hasOwnProperty(k) || schema.hasOwnProperty(k)) continue;
    const near = nearest(k, known);
    errors.push((path ? path + '.' : '') + k + ': unknown option' + (near ? '; did you mean "' + near + '"?' : ''));
  }
  for (let i = 0; i < known.length; i++) {
    const k = known[i];
    const spec = schema[k];
    const p = (path ? path + '.' : '') + k;
    const v = input[k];
    if (v === undefined) {
      if ((spec as { default?: unknown }).default !== undefined) out[k] = (spec as { default?: unknown }).default;
      else if (spec.required) errors.push(p + ': required option missing');
      continue;
    }
    const r = field(spec, v, p, errors);
    if (r !== undefined) out[k] = r;
  }
  return out;
}

/** Validates `input` against `schema` and fills defaults; returns every error, not just the first. */
export function validate(schema: Schema, input: unknown, path: string): { value: { [k: string]: unknown }; errors: string[] } {
  const errors: string[] = [];
  if (input === null || typeof input !== 'object' || input instanceof Array) {
    errors.push((path || 'config') + ': expected an object, got ' + show(input));
    return { value: {}, errors: errors };
  }
  return { value: fill(schema, input as { [k: string]: unknown }, path, errors), errors: errors };
}

/** validate() that throws one E_CONFIG error listing every problem. */
export function parseConfig(schema: Schema, input: unknown, path: string): { [k: string]: unknown } {
  const r = validate(schema, input, path);
  if (r.errors.length) throw err('E_CONFIG', 'invalid configuration:\n  ' + r.errors.join('\n  '));
  return r.value;
}
