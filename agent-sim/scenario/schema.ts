// The scenario file format (JSON): a fleet, its device profiles, links, faults with times, and
// the expectations a CI job checks. `validateScenario(obj)` returns the normalised scenario
// (durations in ms, defaults filled) or throws a ScenarioError listing every error by field path.
// docs: agent-sim/scenario/README.md; examples: test/scenarios/*.json.
import { check, ScenarioError, nearest, type DeviceSelector, type Field } from './check.js';
import { FAULTS, type FaultSpec } from '../faults/index.js';
import { DEVICE_KINDS, type DeviceKind } from '../sources/profiles.js';

export { ScenarioError, parseDuration, formatDuration } from './check.js';
export type { DeviceSelector } from './check.js';

/** Bounds of the format (each one is a limit of the runner, named here once). */
export const SCENARIO_LIMITS = {
  /** Devices in one scenario (all shards together). */
  maxDevices: 1_000_000,
  /** Virtual (or real) time of sampling. */
  maxDurationMs: 30 * 86_400_000,
  maxFaults: 1000,
  maxGroups: 100,
};

const DAY = 86_400_000;

const PROFILE_FIELDS: Record<string, Field> = {
  interval: { t: 'duration', min: 100, max: DAY, def: 60_000, doc: 'sampling interval of every source' },
  batch: { t: 'int', min: 1, max: 1024, def: 12, doc: 'readings per batch' },
  batchAge: { t: 'duration', min: 1000, max: DAY, def: 3_600_000, doc: 'seal once the oldest waiting reading is this old' },
  maxPendingReadings: { t: 'int', min: 1, max: 65536, def: 512 },
  publishWindow: { t: 'int', min: 1, max: 64, def: 4 },
  keepAlive: { t: 'duration', min: 0, max: 65_535_000, def: 1_800_000, doc: 'MQTT keep-alive (whole seconds on the wire)' },
  pingTimeout: { t: 'duration', min: 1, max: 3_600_000, def: 30_000 },
  connectTimeout: { t: 'duration', min: 1, max: 3_600_000, def: 30_000 },
  reconnect: {
    t: 'object',
    fields: {
      min: { t: 'duration', min: 1, max: 3_600_000, def: 1000 },
      max: { t: 'duration', min: 1, max: 86_400_000, def: 120_000 },
      factor: { t: 'num', min: 1, max: 16, def: 2 },
    },
  },
  outbox: {
    t: 'object',
    fields: {
      maxEntries: { t: 'int', min: 1, max: 65535 },
      segmentSlots: { t: 'int', min: 1, max: 255 },
      segmentBytes: { t: 'int', min: 512, max: 65532 },
      maxBytes: { t: 'int', min: 4096, max: 0x7fffffff },
    },
  },
  seqBlock: { t: 'int', min: 1, max: 65536, doc: 'sequence numbers reserved per flash write' },
  clock: {
    t: 'object',
    fields: {
      offset: { t: 'duration', min: -10 * 365 * DAY, max: 10 * 365 * DAY, def: 0, doc: 'device wall clock minus true time' },
      spread: { t: 'duration', min: 0, max: 365 * DAY, def: 0, doc: 'each device adds a seeded offset uniform in +-spread' },
      synced: { t: 'bool', def: true, doc: 'false: batches carry times relative to sealing' },
    },
  },
};

const GROUP_FIELDS: Record<string, Field> = {
  count: { t: 'int', min: 1, max: SCENARIO_LIMITS.maxDevices, req: true },
  kinds: { t: 'array', of: { t: 'string', enum: DEVICE_KINDS }, min: 1, def: DEVICE_KINDS },
  profile: { t: 'string', def: 'default' },
  stagger: { t: 'duration', min: 0, max: DAY, doc: 'devices start at seeded times in [0, stagger) (default: the interval)' },
  // A group may override any profile field; nothing it leaves out is defaulted here.
  ...Object.fromEntries(Object.entries(PROFILE_FIELDS).map(([k, f]) => [k, noDefaults(f)])),
};

function noDefaults(f: Field): Field {
  if (f.t === 'object') return { ...f, fields: Object.fromEntries(Object.entries(f.fields).map(([k, x]) => [k, noDefaults(x)])) };
  return { ...f, def: undefined } as Field;
}

const EXPECT_FIELDS: Record<string, Field> = {
  readingsAccounted: { t: 'bool', def: true, doc: 'every reading verified once, reported dropped, or still queued' },
  maxUnexplainedGaps: { t: 'int', min: 0, def: 0 },
  minBatchesVerified: { t: 'int', min: 0 },
  minReadingsVerified: { t: 'int', min: 0 },
  maxDroppedBatches: { t: 'int', min: 0, doc: 'batches the devices dropped (signed drop reports)' },
  minDroppedBatches: { t: 'int', min: 0 },
  maxLostAtBroker: { t: 'int', min: 0, def: 0, doc: 'batches a broker acknowledged and never delivered' },
  maxReadingsLostAtPowerCut: { t: 'int', min: 0, doc: 'readings still in RAM when power went off' },
  maxQueuedAtEnd: { t: 'int', min: 0, def: 0, doc: 'batches still in outboxes after the drain' },
  maxForgedAccepted: { t: 'int', min: 0, max: 0, def: 0 },
  maxReplayedAccepted: { t: 'int', min: 0, max: 0, def: 0 },
  minRejected: { t: 'map', of: { t: 'int', min: 0 }, doc: 'reject reason -> at least this many' },
  minPowerCuts: { t: 'int', min: 0 },
  minReconnects: { t: 'int', min: 0 },
  minDuplicates: { t: 'int', min: 0 },
  maxRealSeconds: { t: 'num', min: 0 },
};

export const SCENARIO_SCHEMA: Field = {
  t: 'object',
  fields: {
    name: { t: 'string', pattern: /^[A-Za-z0-9_.-]{1,64}$/, rule: '1..64 of A-Z a-z 0-9 _ . -', req: true },
    description: { t: 'string', def: '' },
    seed: { t: 'int', min: 0, max: 2 ** 31, def: 1 },
    time: { t: 'string', enum: ['virtual', 'real'], def: 'virtual' },
    start: { t: 'time', doc: 'virtual start (default 2024-06-01T00:00:00Z)' },
    duration: { t: 'duration', min: 1000, max: SCENARIO_LIMITS.maxDurationMs, req: true, doc: 'time of sampling' },
    drain: { t: 'duration', min: 0, max: 7 * DAY, def: 3_600_000, doc: 'time allowed to empty the outboxes after sampling stops' },
    drainRealS: { t: 'num', min: 1, max: 86400, def: 120, doc: 'real-time cap on the drain' },
    ioGraceMs: { t: 'int', min: 1, max: 3_600_000, doc: 'virtual time: real ms a request may hold the clock' },
    ioSlackMs: { t: 'int', min: 0, max: 3_600_000, def: 0, doc: 'virtual time: virtual ms the clock may run ahead of a request in flight' },
    prefix: { t: 'string', pattern: /^[A-Za-z0-9_\-/]+$/, rule: 'topic levels of A-Z a-z 0-9 _ - separated by /', def: 'depin' },
    broker: {
      t: 'object',
      fields: {
        kind: { t: 'string', enum: ['aedes', 'mosquitto'], def: 'aedes' },
        persistence: { t: 'bool', def: true, doc: 'sessions and queued messages survive a restart' },
        fallback: { t: 'string', enum: ['aedes'], doc: 'when Mosquitto is missing, run on aedes instead of skipping' },
      },
    },
    profiles: { t: 'map', of: { t: 'object', fields: PROFILE_FIELDS }, key: /^[A-Za-z0-9_-]+$/, keyRule: 'letters, digits, _ or -' },
    fleet: { t: 'array', of: { t: 'object', fields: GROUP_FIELDS }, min: 1, max: SCENARIO_LIMITS.maxGroups, req: true },
    links: {
      t: 'map',
      key: /^[A-Za-z0-9_-]+$/,
      keyRule: 'letters, digits, _ or -',
      of: { t: 'object', fields: { devices: { t: 'devices', req: true }, latencyMs: { t: 'int', min: 0, max: 10_000, def: 0 } } },
    },
    faults: { t: 'array', of: { t: 'any' }, max: SCENARIO_LIMITS.maxFaults, def: [] },
    verifier: {
      t: 'object',
      fields: {
        gapGrace: { t: 'duration', min: 0, max: 7 * DAY, def: 600_000, doc: 'how late a predecessor may be before its absence is a gap' },
        writeMode: { t: 'string', enum: ['commit', 'batched'], def: 'commit' },
        maxLag: { t: 'int', min: 1, def: 2000, doc: 'virtual time waits while the verifier is this many batches behind' },
        store: { t: 'string', enum: ['file', 'memory'], def: 'file', doc: 'SQLite file in the run dir, or in memory' },
      },
    },
    expect: { t: 'object', fields: EXPECT_FIELDS },
  },
};

export interface Profile {
  interval: number;
  batch: number;
  batchAge: number;
  maxPendingReadings: number;
  publishWindow: number;
  keepAlive: number;
  pingTimeout: number;
  connectTimeout: number;
  reconnect: { min: number; max: number; factor: number };
  outbox: { maxEntries?: number; segmentSlots?: number; segmentBytes?: number; maxBytes?: number };
  seqBlock?: number;
  clock: { offset: number; spread: number; synced: boolean };
}

export interface Group extends Profile {
  count: number;
  kinds: DeviceKind[];
  profile: string;
  stagger: number;
  /** Global index of the group's first device. */
  first: number;
}

export interface Expectations {
  readingsAccounted: boolean;
  maxUnexplainedGaps: number;
  minBatchesVerified?: number;
  minReadingsVerified?: number;
  maxDroppedBatches?: number;
  minDroppedBatches?: number;
  maxLostAtBroker: number;
  maxReadingsLostAtPowerCut?: number;
  maxQueuedAtEnd: number;
  maxForgedAccepted: number;
  maxReplayedAccepted: number;
  minRejected?: Record<string, number>;
  minPowerCuts?: number;
  minReconnects?: number;
  minDuplicates?: number;
  maxRealSeconds?: number;
}

export interface Scenario {
  name: string;
  description: string;
  seed: number;
  time: 'virtual' | 'real';
  /** Virtual start, ms since the epoch (real time starts now). */
  start: number;
  duration: number;
  drain: number;
  drainRealS: number;
  ioGraceMs?: number;
  ioSlackMs: number;
  prefix: string;
  broker: { kind: 'aedes' | 'mosquitto'; persistence: boolean; fallback?: 'aedes' };
  profiles: Record<string, Profile>;
  fleet: Group[];
  /** Total devices (all groups). */
  devices: number;
  links: Record<string, { devices: DeviceSelector; latencyMs: number }>;
  faults: FaultSpec[];
  verifier: { gapGrace: number; writeMode: 'commit' | 'batched'; maxLag: number; store: 'file' | 'memory' };
  expect: Expectations;
}

const DEFAULT_START = Date.parse('2024-06-01T00:00:00Z');

/** Checks a parsed scenario file; throws ScenarioError naming every bad field. */
export function validateScenario(obj: unknown, file?: string): Scenario {
  const errors: string[] = [];
  const s = check(SCENARIO_SCHEMA, obj, 'scenario', errors) as Record<string, any> | undefined;
  if (!s) throw new ScenarioError(errors.length ? errors : ['scenario: expected an object'], file);

  // Profiles: "default" always exists; each profile is complete (defaults filled).
  const profiles: Record<string, Profile> = { default: check({ t: 'object', fields: PROFILE_FIELDS }, {}, 'scenario.profiles.default', errors) };
  for (const [k, p] of Object.entries((s.profiles ?? {}) as Record<string, Profile>)) if (p) profiles[k] = p;

  // Groups: profile fields given on the group override the profile's.
  const fleet: Group[] = [];
  let total = 0;
  ((s.fleet ?? []) as Record<string, any>[]).forEach((g, i) => {
    if (!g) return;
    const base = profiles[g.profile];
    if (!base) {
      const near = nearest(g.profile, Object.keys(profiles));
      errors.push('scenario.fleet[' + i + '].profile: no profile "' + g.profile + '"' + (near ? ' (did you mean "' + near + '"?)' : ' (profiles: ' + Object.keys(profiles).join(', ') + ')'));
      return;
    }
    const merged: Group = { ...base, count: g.count, kinds: g.kinds, profile: g.profile, stagger: 0, first: total } as Group;
    for (const k of Object.keys(PROFILE_FIELDS)) {
      if (g[k] === undefined) continue;
      const v = g[k];
      (merged as any)[k] = v && typeof v === 'object' && !Array.isArray(v) ? { ...(base as any)[k], ...stripUndef(v) } : v;
    }
    merged.stagger = g.stagger ?? merged.interval;
    fleet.push(merged);
    total += g.count || 0;
  });
  if (total > SCENARIO_LIMITS.maxDevices) errors.push('scenario.fleet: ' + total + ' devices in all, at most ' + SCENARIO_LIMITS.maxDevices);

  // Device selectors must name devices that exist; a device is on at most one link.
  const checkSel = (sel: DeviceSelector | undefined, path: string) => {
    for (const idx of selectorBounds(sel)) if (idx >= total) errors.push(path + ': device ' + idx + ' does not exist (the fleet has ' + total + ': 0-' + (total - 1) + ')');
  };
  const links = (s.links ?? {}) as Scenario['links'];
  const onLink = new Map<number, string>();
  for (const [name, l] of Object.entries(links)) {
    if (!l) continue;
    checkSel(l.devices, 'scenario.links.' + name + '.devices');
    if (typeof l.devices === 'object' && !Array.isArray(l.devices)) continue; // random picks are made at run time
    for (const idx of expandStatic(l.devices, total)) {
      const other = onLink.get(idx);
      if (other) errors.push('scenario.links.' + name + '.devices: device ' + idx + ' is on link "' + other + '" already (one link per device)');
      else onLink.set(idx, name);
    }
  }

  // Faults: "type" picks the module, whose fields are then checked.
  const faults: FaultSpec[] = [];
  ((obj as any)?.faults ?? []).forEach((f: unknown, i: number) => {
    const path = 'scenario.faults[' + i + ']';
    if (!f || typeof f !== 'object' || Array.isArray(f)) {
      errors.push(path + ': expected an object with a "type"');
      return;
    }
    const type = (f as any).type;
    const mod = FAULTS[type as string];
    if (!mod) {
      const near = typeof type === 'string' ? nearest(type, Object.keys(FAULTS)) : undefined;
      errors.push(path + '.type: ' + (type === undefined ? 'is required' : 'unknown fault ' + JSON.stringify(type)) + (near ? ' (did you mean "' + near + '"?)' : ' (faults: ' + Object.keys(FAULTS).join(', ') + ')'));
      return;
    }
    const before = errors.length;
    const spec = check({ t: 'object', fields: { type: { t: 'string' }, ...mod.fields } }, f, path, errors) as FaultSpec;
    if (errors.length > before || !spec) return;
    if ('devices' in spec) checkSel((spec as any).devices, path + '.devices');
    if ('device' in spec && (spec as any).device >= total) errors.push(path + '.device: device ' + (spec as any).device + ' does not exist (the fleet has ' + total + ')');
    if ('link' in spec && !links[(spec as any).link]) {
      const near = nearest((spec as any).link, Object.keys(links));
      errors.push(path + '.link: no link "' + (spec as any).link + '"' + (near ? ' (did you mean "' + near + '"?)' : Object.keys(links).length ? ' (links: ' + Object.keys(links).join(', ') + ')' : ' (declare it under "links")'));
    }
    if (typeof (spec as any).at === 'number' && s.duration !== undefined && (spec as any).at > s.duration)
      errors.push(path + '.at: ' + (spec as any).at + ' ms is after the end of the scenario (duration ' + s.duration + ' ms)');
    for (const e of mod.validate?.(spec as never, { duration: s.duration, devices: total }) ?? []) errors.push(path + '.' + e);
    faults.push(spec);
  });
  if (s.time === 'real' && s.start !== undefined) errors.push('scenario.start: only for virtual time (real time starts now)');
  // An answer may come ioSlackMs late in virtual time: no timeout of the fleet may be that short.
  if (s.ioSlackMs)
    fleet.forEach((g, i) => {
      const t = Math.min(g.pingTimeout, g.connectTimeout);
      if (s.ioSlackMs >= t) errors.push('scenario.ioSlackMs: ' + s.ioSlackMs + ' ms must stay below the ping and connect timeouts of fleet[' + i + '] (' + t + ' ms)');
    });
  if (errors.length) throw new ScenarioError(errors, file);
  return {
    name: s.name,
    description: s.description,
    seed: s.seed,
    time: s.time,
    start: s.start ?? DEFAULT_START,
    duration: s.duration,
    drain: s.drain,
    drainRealS: s.drainRealS,
    ioGraceMs: s.ioGraceMs,
    ioSlackMs: s.ioSlackMs,
    prefix: s.prefix,
    broker: s.broker ?? { kind: 'aedes', persistence: true },
    profiles,
    fleet,
    devices: total,
    links,
    faults,
    verifier: s.verifier ?? { gapGrace: 600_000, writeMode: 'commit', maxLag: 2000, store: 'file' },
    expect: s.expect ?? check({ t: 'object', fields: EXPECT_FIELDS }, {}, 'scenario.expect', errors),
  };
}

function stripUndef(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

/** Every index a selector names literally (for bounds checks). */
function selectorBounds(sel: DeviceSelector | undefined): number[] {
  if (sel === undefined || sel === 'all') return [];
  if (typeof sel === 'number') return [sel];
  if (typeof sel === 'string') {
    const m = /^(\d+)(?:-(\d+))?$/.exec(sel);
    return m ? [Number(m[2] ?? m[1])] : [];
  }
  if (Array.isArray(sel)) return sel.flatMap((x) => selectorBounds(x));
  return selectorBounds(sel.from);
}

/** Indices of a selector without random picks. */
function expandStatic(sel: DeviceSelector, total: number): number[] {
  if (sel === 'all') return Array.from({ length: total }, (_, i) => i);
  if (typeof sel === 'number') return [sel];
  if (typeof sel === 'string') {
    const m = /^(\d+)(?:-(\d+))?$/.exec(sel);
    if (!m) return [];
    const a = Number(m[1]);
    const b = Math.min(Number(m[2] ?? m[1]), total - 1);
    const out: number[] = [];
    for (let i = a; i <= b; i++) out.push(i);
    return out;
  }
  if (Array.isArray(sel)) return sel.flatMap((x) => expandStatic(x, total));
  return [];
}

/**
 * The devices a selector names, ascending, with random picks drawn from `rnd` (seeded by the
 * scenario: the same devices on every run and in every shard).
 */
export function selectDevices(sel: DeviceSelector, total: number, rnd: () => number): number[] {
  let out: number[];
  if (typeof sel === 'object' && !Array.isArray(sel)) {
    const pool = selectDevices(sel.from ?? 'all', total, rnd);
    // Partial Fisher-Yates: the first `random` of a seeded shuffle.
    const n = Math.min(sel.random, pool.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(rnd() * (pool.length - i));
      const t = pool[i];
      pool[i] = pool[j];
      pool[j] = t;
    }
    out = pool.slice(0, n);
  } else out = expandStatic(sel, total);
  return [...new Set(out)].filter((i) => i < total).sort((a, b) => a - b);
}
