// Shared pieces of the benchmark: run options, the timing loop, result types, and plain-text
// tables. Every rate is a median of several timed rounds taken after a warm-up; items that are
// compared with each other run their rounds interleaved (A, B, A, B, ...) so that both see the
// same load on a shared machine, and a ratio is only ever formed inside one run.

/** Durations of one run; --quick shortens everything for a smoke test. */
export interface RunOptions {
  quick: boolean;
  /** Warm-up per item before timing (ms). */
  warmMs: number;
  /** Timed rounds per item; the reported rate is their median. */
  rounds: number;
  /** Minimum duration of one timed round (ms). */
  roundMs: number;
}

export const DEFAULT_OPTIONS: RunOptions = { quick: false, warmMs: 150, rounds: 5, roundMs: 140 };
export const QUICK_OPTIONS: RunOptions = { quick: true, warmMs: 20, rounds: 3, roundMs: 25 };

export interface Rate {
  /** Median of the rounds' ops/s. */
  opsPerSec: number;
  /** Lowest and highest round, to show the spread. */
  minPerSec: number;
  maxPerSec: number;
  rounds: number;
  ops: number;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs fn until `ms` elapsed (at least once); returns [calls, elapsed ms]. */
function runFor(fn: () => void, ms: number): [number, number] {
  let n = 0;
  let batch = 1;
  const t0 = performance.now();
  let t = t0;
  do {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    t = performance.now();
    // Grow the inner batch so the clock is read rarely for fast functions.
    if (t - t0 < ms / 8) batch *= 2;
  } while (t - t0 < ms);
  return [n, t - t0];
}

/** A timed function, with untimed set-up and tear-down around each of its rounds. */
export interface Timed {
  fn: () => void;
  before?: () => void;
  after?: () => void;
}

/**
 * Ops/s of each function, warmed up, then `rounds` rounds of at least `roundMs` each, the
 * functions taking turns within every round. Median per function.
 */
export function rates(opts: RunOptions, items: (Timed | (() => void))[]): Rate[] {
  const ts: Timed[] = items.map((x) => (typeof x === 'function' ? { fn: x } : x));
  const round = (t: Timed, ms: number): [number, number] => {
    t.before?.();
    try {
      return runFor(t.fn, ms);
    } finally {
      t.after?.();
    }
  };
  for (const t of ts) round(t, opts.warmMs);
  const per: number[][] = ts.map(() => []);
  const ops = ts.map(() => 0);
  for (let r = 0; r < opts.rounds; r++) {
    for (let k = 0; k < ts.length; k++) {
      const [n, ms] = round(ts[k], opts.roundMs);
      per[k].push((n * 1000) / ms);
      ops[k] += n;
    }
  }
  return per.map((xs, k) => ({ opsPerSec: median(xs), minPerSec: Math.min(...xs), maxPerSec: Math.max(...xs), rounds: xs.length, ops: ops[k] }));
}

// ---------------------------------------------------------------------------------------------
// Results

export type Cell = string | number | boolean | null;

export interface Column {
  key: string;
  /** Header text, with the unit, e.g. "sign/s" or "bytes". */
  header: string;
  /** Digits after the point for numbers (default 0). */
  digits?: number;
}

export interface Table {
  title: string;
  columns: Column[];
  rows: Record<string, Cell>[];
  /** Lines printed under the table. */
  notes?: string[];
}

export interface TargetResult {
  section: string;
  name: string;
  /** The rule as written in the issue, e.g. ">= 0.5 x noble". */
  target: string;
  value: number | null;
  ok: boolean | null;
  /** Why there is no verdict (section skipped, measurement failed). */
  note?: string;
}

export interface SectionResult {
  name: string;
  title: string;
  ms: number;
  skipped?: string;
  error?: string;
  tables: Table[];
  targets: TargetResult[];
}

export interface Section {
  name: string;
  title: string;
  run(opts: RunOptions): Promise<Omit<SectionResult, 'name' | 'title' | 'ms'>>;
}

/** A target row: ok is value `op` limit. */
export function target(section: string, name: string, value: number, op: '>=' | '<=', limit: number, text?: string): TargetResult {
  const ok = op === '>=' ? value >= limit : value <= limit;
  return { section, name, target: text ?? op + ' ' + limit, value, ok };
}

/** "ok" / "MISS" / "" for the ok column. */
export function okCell(ok: boolean | null | undefined): string {
  return ok === true ? 'ok' : ok === false ? 'MISS' : '';
}

// ---------------------------------------------------------------------------------------------
// Formatting

function cellText(v: Cell | undefined, digits: number): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return v;
}

/** Aligned plain text: numbers right, text left; a dashed rule under the header. */
export function formatTable(t: Table): string {
  const cols = t.columns;
  const text = t.rows.map((r) => cols.map((c) => cellText(r[c.key], c.digits ?? 0)));
  const numeric = cols.map((c) => t.rows.some((r) => typeof r[c.key] === 'number') && t.rows.every((r) => r[c.key] === null || r[c.key] === undefined || typeof r[c.key] === 'number'));
  const w = cols.map((c, i) => Math.max(c.header.length, ...text.map((row) => row[i].length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (numeric[i] ? v.padStart(w[i]) : v.padEnd(w[i])))
      .join('  ')
      .trimEnd();
  const out = [t.title, line(cols.map((c) => c.header)), w.map((n) => '-'.repeat(n)).join('  '), ...text.map(line)];
  for (const n of t.notes ?? []) out.push('  ' + n);
  return out.join('\n');
}

export function formatTargets(ts: TargetResult[]): string {
  const met = ts.filter((t) => t.ok === true).length;
  const missed = ts.filter((t) => t.ok === false).length;
  const none = ts.length - met - missed;
  const table: Table = {
    title: 'Summary: ' + met + ' target(s) met, ' + missed + ' missed' + (none ? ', ' + none + ' not measured' : ''),
    columns: [
      { key: 'section', header: 'section' },
      { key: 'name', header: 'measure' },
      { key: 'value', header: 'value', digits: 2 },
      { key: 'target', header: 'target' },
      { key: 'ok', header: 'ok' },
    ],
    rows: ts.map((t) => ({ section: t.section, name: t.name, value: t.value, target: t.target, ok: t.ok === null ? 'n/a' + (t.note ? ' (' + t.note + ')' : '') : okCell(t.ok) })),
  };
  return formatTable(table);
}
