// Builds the device's sources from its JSON config: every entry is validated against the
// common options and its component's schema, and every problem is reported with its path.
import type { Host } from '../host.js';
import { err } from '../util/errors.js';
import { validate, nearest, type Schema } from '../config/schema.js';
import type { Source, SourceComponent } from './source.js';

export const COMMON_SCHEMA: Schema = {
  id: { type: 'string', maxLength: 16, pattern: /^[A-Za-z0-9_\-]+$/, patternDoc: 'letters, digits, _ and - only', required: true },
  type: { type: 'string', maxLength: 32, required: true },
  intervalMs: { type: 'int', min: 100, max: 86400000 },
};

/** Validates source configs; returns every error across all entries. */
export function checkSourceConfigs(components: SourceComponent[], configs: unknown): string[] {
  const errors: string[] = [];
  if (!(configs instanceof Array)) return ['sources: expected an array'];
  const types: string[] = [];
  for (let i = 0; i < components.length; i++) types.push(components[i].type);
  const seen: { [id: string]: boolean } = {};
  for (let i = 0; i < configs.length; i++) {
    const path = 'sources[' + i + ']';
    const c = configs[i] as { [k: string]: unknown };
    if (c === null || typeof c !== 'object') {
      errors.push(path + ': expected an object');
      continue;
    }
    const comp = find(components, c.type);
    if (!comp) {
      const near = typeof c.type === 'string' ? nearest(c.type, types) : undefined;
      errors.push(path + '.type: ' + (c.type === undefined ? 'required option missing' : 'unknown source type ' + JSON.stringify(c.type)) +
        (near ? '; did you mean "' + near + '"?' : '') + ' (known: ' + types.join(', ') + ')');
      continue;
    }
    const schema = merged(comp);
    const r = validate(schema, c, path);
    for (let j = 0; j < r.errors.length; j++) errors.push(r.errors[j] + ' [' + comp.type + ']');
    const id = c.id as string;
    if (typeof id === 'string') {
      if (seen[id]) errors.push(path + '.id: "' + id + '" is used by another source');
      seen[id] = true;
    }
  }
  return errors;
}

function find(components: SourceComponent[], type: unknown): SourceComponent | undefined {
  for (let i = 0; i < components.length; i++) if (components[i].type === type) return components[i];
  return undefined;
}

function merged(comp: SourceComponent): Schema {
  const s: Schema = {};
  for (const k in COMMON_SCHEMA) if (COMMON_SCHEMA.hasOwnProperty(k)) s[k] = COMMON_SCHEMA[k];
  for (const k in comp.schema) if (comp.schema.hasOwnProperty(k)) s[k] = comp.schema[k];
  return s;
}

/** Validates (throwing one E_CONFIG error listing every problem) and creates the sources. */
export function createSources(host: Host, components: SourceComponent[], configs: unknown): Source[] {
  const errors = checkSourceConfigs(components, configs);
  if (errors.length) throw err('E_CONFIG', 'invalid source configuration:\n  ' + errors.join('\n  '));
  const list = configs as { [k: string]: unknown }[];
  const out: Source[] = [];
  for (let i = 0; i < list.length; i++) {
    const comp = find(components, list[i].type) as SourceComponent;
    const v = validate(merged(comp), list[i], 'sources[' + i + ']').value;
    const interval = v.intervalMs === undefined ? comp.defaultIntervalMs : (v.intervalMs as number);
    out.push(comp.create(host, v.id as string, interval, v));
  }
  return out;
}
