// A small declarative schema for scenario files (the ESPHome habit: fields with types, bounds
// and defaults; messages that name the field, state the rule and suggest the nearest valid key on
// a typo). check() collects every error instead of stopping at the first, so one run of
// `agent-sim scenario` lists everything wrong with a file.

export type Field =
  | { t: 'int'; min?: number; max?: number; def?: number; req?: boolean; doc?: string }
  | { t: 'num'; min?: number; max?: number; def?: number; req?: boolean; doc?: string }
  /** ms as a number, or a string "250ms", "30s", "5m", "2h", "1d" (also "1h30m"). */
  | { t: 'duration'; min?: number; max?: number; def?: number; req?: boolean; doc?: string }
  | { t: 'string'; enum?: readonly string[]; pattern?: RegExp; rule?: string; def?: string; req?: boolean; doc?: string }
  | { t: 'bool'; def?: boolean; req?: boolean; doc?: string }
  /** An ISO 8601 date-time, returned as ms since the epoch. */
  | { t: 'time'; def?: number; req?: boolean; doc?: string }
  /** Device indices: "all", "7", "0-49", [0, "10-19"], { "random": 5 } or { "random": 5, "from": <selector> }. */
  | { t: 'devices'; def?: DeviceSelector; req?: boolean; doc?: string }
  | { t: 'object'; fields: Record<string, Field>; req?: boolean; doc?: string }
  | { t: 'array'; of: Field; min?: number; max?: number; def?: unknown[]; req?: boolean; doc?: string }
  /** An object with free keys (names) whose values all have the same shape. */
  | { t: 'map'; of: Field; key?: RegExp; keyRule?: string; req?: boolean; doc?: string }
  /** Checked elsewhere (fault entries: their "type" picks their fields). */
  | { t: 'any'; def?: unknown; req?: boolean; doc?: string };

export type DeviceSelector = 'all' | string | number | (string | number)[] | { random: number; from?: DeviceSelector };

export class ScenarioError extends Error {
  readonly code = 'E_SCENARIO';
  readonly errors: string[];
  constructor(errors: string[], file?: string) {
    super((file ? file + ': ' : '') + errors.length + ' error' + (errors.length === 1 ? '' : 's') + ' in the scenario:\n  ' + errors.join('\n  '));
    this.errors = errors;
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "1h30m" -> 5400000; numbers are ms. Undefined when the text is not a duration. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  const neg = s.startsWith('-');
  const body = neg ? s.slice(1) : s;
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(body)) return undefined;
  let total = 0;
  for (const m of body.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * UNITS[m[2]];
  return neg ? -total : total;
}

/** "90000" -> "1m30s" (for reports). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let r = Math.abs(ms);
  let out = '';
  for (const [u, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (r >= n) {
      out += Math.floor(r / n) + u;
      r %= n;
    }
  }
  if (r) out += Math.round(r) + 'ms';
  return sign + out;
}

function distance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[] = [];
  for (let j = 0; j <= n; j++) d[j] = j;
  for (let i = 1; i <= m; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= n; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return d[n];
}

/** The nearest of `names` to `k`, if near enough to be a typo. */
export function nearest(k: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bd = Infinity;
  for (const n of names) {
    const dd = distance(k, n);
    if (dd < bd) {
      bd = dd;
      best = n;
    }
  }
  return best !== undefined && (bd <= 2 || bd <= Math.floor(best.length / 3) || best.toLowerCase().startsWith(k.toLowerCase())) ? best : undefined;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function bounds(min?: number, max?: number, fmt: (n: number) => string = String): string {
  if (min !== undefined && max !== undefined) return ' in ' + fmt(min) + '..' + fmt(max);
  if (min !== undefined) return ' >= ' + fmt(min);
  if (max !== undefined) return ' <= ' + fmt(max);
  return '';
}

function checkSelector(v: unknown, path: string, errors: string[]): DeviceSelector | undefined {
  const one = (x: unknown, p: string): boolean => {
    if (typeof x === 'number') {
      if (Number.isInteger(x) && x >= 0) return true;
      errors.push(p + ': expected a device index >= 0, got ' + show(x));
      return false;
    }
    if (typeof x === 'string') {
      if (x === 'all' || /^\d+$/.test(x)) return true;
      const m = /^(\d+)-(\d+)$/.exec(x);
      if (m && Number(m[1]) <= Number(m[2])) return true;
      errors.push(p + ': expected "all", an index "7" or a range "0-49" (low-high), got ' + show(x));
      return false;
    }
    errors.push(p + ': expected an index, a range "a-b" or "all", got ' + show(x));
    return false;
  };
  if (Array.isArray(v)) {
    if (!v.length) {
      errors.push(path + ': expected at least one index or range');
      return undefined;
    }
    let ok = true;
    v.forEach((x, i) => (ok = one(x, path + '[' + i + ']') && ok));
    return ok ? (v as (string | number)[]) : undefined;
  }
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (k !== 'random' && k !== 'from') {
        const s = nearest(k, ['random', 'from']);
        errors.push(path + '.' + k + ': unknown field' + (s ? ' (did you mean "' + s + '"?)' : ' (a selector object has "random" and "from")'));
      }
    if (!Number.isInteger(o.random) || (o.random as number) < 1) {
      errors.push(path + '.random: expected a count of devices >= 1, got ' + show(o.random));
      return undefined;
    }
    const from = o.from === undefined ? 'all' : checkSelector(o.from, path + '.from', errors);
    return from === undefined ? undefined : { random: o.random as number, from };
  }
  return one(v, path) ? (v as string | number) : undefined;
}

/** Checks `v` against `f` at `path`; returns the normalised value (defaults filled). */
export function check(f: Field, v: unknown, path: string, errors: string[]): any {
  if (v === undefined) {
    if ('def' in f && f.def !== undefined) return f.def;
    if (f.req) errors.push(path + ': is required' + (f.doc ? ' (' + f.doc + ')' : ''));
    // An absent optional object is an empty one: its fields' defaults apply.
    else if (f.t === 'object') return check(f, {}, path, errors);
    return undefined;
  }
  switch (f.t) {
    case 'any':
      return v;
    case 'int':
    case 'num': {
      if (typeof v !== 'number' || !Number.isFinite(v) || (f.t === 'int' && !Number.isInteger(v))) {
        errors.push(path + ': expected ' + (f.t === 'int' ? 'an integer' : 'a number') + bounds(f.min, f.max) + ', got ' + show(v));
        return undefined;
      }
      if ((f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max)) {
        errors.push(path + ': expected ' + (f.t === 'int' ? 'an integer' : 'a number') + bounds(f.min, f.max) + ', got ' + v);
        return undefined;
      }
      return v;
    }
    case 'duration': {
      const ms = parseDuration(v);
      if (ms === undefined) {
        errors.push(path + ': expected a duration (ms as a number, or "250ms", "30s", "5m", "2h", "1d", "1h30m"), got ' + show(v));
        return undefined;
      }
      if ((f.min !== undefined && ms < f.min) || (f.max !== undefined && ms > f.max)) {
        errors.push(path + ': expected a duration' + bounds(f.min, f.max, formatDuration) + ', got ' + show(v));
        return undefined;
      }
      return ms;
    }
    case 'string': {
      if (typeof v !== 'string') {
        errors.push(path + ': expected ' + (f.enum ? 'one of ' + f.enum.map((x) => '"' + x + '"').join(', ') : 'a string') + ', got ' + show(v));
        return undefined;
      }
      if (f.enum && !f.enum.includes(v)) {
        const s = nearest(v, [...f.enum]);
        errors.push(path + ': expected one of ' + f.enum.map((x) => '"' + x + '"').join(', ') + ', got ' + show(v) + (s ? ' (did you mean "' + s + '"?)' : ''));
        return undefined;
      }
      if (f.pattern && !f.pattern.test(v)) {
        errors.push(path + ': expected ' + (f.rule ?? 'a string matching ' + f.pattern) + ', got ' + show(v));
        return undefined;
      }
      return v;
    }
    case 'bool':
      if (typeof v !== 'boolean') {
        errors.push(path + ': expected true or false, got ' + show(v));
        return undefined;
      }
      return v;
    case 'time': {
      const t = typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(v) ? Date.parse(v) : NaN;
      if (!Number.isFinite(t)) {
        errors.push(path + ': expected an ISO 8601 date-time with a zone, e.g. "2024-06-01T00:00:00Z", got ' + show(v));
        return undefined;
      }
      return t;
    }
    case 'devices':
      return checkSelector(v, path, errors);
    case 'object': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        errors.push(path + ': expected an object, got ' + show(v));
        return undefined;
      }
      const o = v as Record<string, unknown>;
      const names = Object.keys(f.fields);
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(o)) {
        if (k.startsWith('$') || k === 'comment') continue; // "$schema", "comment": notes for people
        if (!(k in f.fields)) {
          const s = nearest(k, names);
          errors.push(path + '.' + k + ': unknown field' + (s ? ' (did you mean "' + s + '"?)' : ' (known: ' + names.join(', ') + ')'));
        }
      }
      for (const k of names) {
        const r = check(f.fields[k], o[k], path + '.' + k, errors);
        if (r !== undefined) out[k] = r;
      }
      return out;
    }
    case 'array': {
      if (!Array.isArray(v)) {
        errors.push(path + ': expected an array, got ' + show(v));
        return undefined;
      }
      if ((f.min !== undefined && v.length < f.min) || (f.max !== undefined && v.length > f.max)) {
        errors.push(path + ': expected' + bounds(f.min, f.max).replace(/^ in /, ' ') + ' items, got ' + v.length);
        return undefined;
      }
      return v.map((x, i) => check(f.of, x, path + '[' + i + ']', errors));
    }
    case 'map': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        errors.push(path + ': expected an object of named entries, got ' + show(v));
        return undefined;
      }
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (k.startsWith('$') || k === 'comment') continue;
        if (f.key && !f.key.test(k)) errors.push(path + '.' + k + ': name expected ' + (f.keyRule ?? 'to match ' + f.key));
        out[k] = check(f.of, x, path + '.' + k, errors);
      }
      return out;
    }
  }
}
