// A JSON Schema (draft 2020-12) validator for exactly the keywords boards/schema.json uses, so
// the board files are checked against the schema itself and not only against board.ts's mirror
// of it. A keyword outside SUPPORTED makes schemaKeywords() report it: a schema edit cannot
// silently add a rule this validator ignores.

export const SUPPORTED = new Set([
  '$schema', '$id', '$defs', '$ref', 'title', 'description',
  'type', 'enum', 'const', 'oneOf',
  'properties', 'required', 'additionalProperties', 'propertyNames',
  'items', 'minItems', 'maxItems', 'uniqueItems',
  'pattern', 'minLength', 'maxLength', 'minimum', 'maximum',
]);

type Schema = { [k: string]: unknown };

/** Keywords used anywhere in the schema that this validator does not implement. */
export function schemaKeywords(schema: Schema): string[] {
  const bad = new Set<string>();
  const walk = (s: unknown, inMap: boolean) => {
    if (s === null || typeof s !== 'object') return;
    if (Array.isArray(s)) {
      for (const x of s) walk(x, false);
      return;
    }
    for (const [k, v] of Object.entries(s as Schema)) {
      if (inMap) {
        walk(v, false); // property names of `properties` / `$defs` are not keywords
        continue;
      }
      if (!SUPPORTED.has(k)) bad.add(k);
      if (k === 'properties' || k === '$defs') walk(v, true);
      else if (k === 'enum' || k === 'const') continue;
      else walk(v, false);
    }
  };
  walk(schema, false);
  return [...bad].sort();
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(want: string, v: unknown): boolean {
  const t = typeOf(v);
  return want === t || (want === 'number' && t === 'integer');
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Every violation as "<json pointer>: <keyword> ...". [] when `value` is valid. */
export function validateJsonSchema(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  const resolve = (ref: string): Schema => {
    if (!ref.startsWith('#/')) throw new Error('only local $ref supported, got ' + ref);
    let s: unknown = root;
    for (const part of ref.slice(2).split('/')) s = (s as Schema)[part];
    if (!s) throw new Error('unresolved $ref ' + ref);
    return s as Schema;
  };
  const check = (s: Schema, v: unknown, at: string, out: string[]): void => {
    if (s.$ref) check(resolve(s.$ref as string), v, at, out);
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => typeMatches(t, v))) {
        out.push(at + ': type ' + types.join('|') + ' expected, got ' + typeOf(v));
        return;
      }
    }
    if (s.enum && !(s.enum as unknown[]).some((e) => deepEqual(e, v))) out.push(at + ': enum ' + JSON.stringify(s.enum) + ', got ' + JSON.stringify(v));
    if ('const' in s && !deepEqual(s.const, v)) out.push(at + ': const ' + JSON.stringify(s.const) + ', got ' + JSON.stringify(v));
    if (s.oneOf) {
      const passing = (s.oneOf as Schema[]).filter((sub) => {
        const e: string[] = [];
        check(sub, v, at, e);
        return e.length === 0;
      });
      if (passing.length !== 1) {
        // Report the branch errors of the branch whose type matches, the useful ones.
        const detail: string[] = [];
        for (const sub of s.oneOf as Schema[]) {
          const e: string[] = [];
          check(sub, v, at, e);
          if (!e.some((m) => m.startsWith(at + ': type '))) detail.push(...e);
        }
        out.push(at + ': oneOf matched ' + passing.length + ' branches' + (detail.length ? ' (' + detail.join('; ') + ')' : ''));
      }
    }
    if (typeof v === 'string') {
      if (s.minLength !== undefined && v.length < (s.minLength as number)) out.push(at + ': minLength ' + s.minLength);
      if (s.maxLength !== undefined && v.length > (s.maxLength as number)) out.push(at + ': maxLength ' + s.maxLength);
      if (s.pattern !== undefined && !new RegExp(s.pattern as string, 'u').test(v)) out.push(at + ': pattern ' + s.pattern + ', got ' + JSON.stringify(v));
    }
    if (typeof v === 'number') {
      if (s.minimum !== undefined && v < (s.minimum as number)) out.push(at + ': minimum ' + s.minimum + ', got ' + v);
      if (s.maximum !== undefined && v > (s.maximum as number)) out.push(at + ': maximum ' + s.maximum + ', got ' + v);
    }
    if (Array.isArray(v)) {
      if (s.minItems !== undefined && v.length < (s.minItems as number)) out.push(at + ': minItems ' + s.minItems);
      if (s.maxItems !== undefined && v.length > (s.maxItems as number)) out.push(at + ': maxItems ' + s.maxItems);
      if (s.uniqueItems === true)
        for (let i = 0; i < v.length; i++) for (let j = 0; j < i; j++) if (deepEqual(v[i], v[j])) out.push(at + '/' + i + ': uniqueItems (same as /' + j + ')');
      if (s.items) v.forEach((x, i) => check(s.items as Schema, x, at + '/' + i, out));
    }
    if (typeOf(v) === 'object') {
      const o = v as Schema;
      const props = (s.properties ?? {}) as Schema;
      for (const r of (s.required ?? []) as string[]) if (!(r in o)) out.push(at + '/' + r + ': required');
      for (const [k, x] of Object.entries(o)) {
        if (s.propertyNames) check(s.propertyNames as Schema, k, at + '/' + k + ' (name)', out);
        if (k in props) check(props[k] as Schema, x, at + '/' + k, out);
        else if (s.additionalProperties === false) out.push(at + '/' + k + ': additionalProperties false');
        else if (s.additionalProperties && typeof s.additionalProperties === 'object') check(s.additionalProperties as Schema, x, at + '/' + k, out);
      }
    }
  };
  check(root, value, '', errors);
  return errors;
}
