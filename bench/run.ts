// npm run bench [-- --quick] [-- --only crypto,cbor,size,espruino,e2e,verifier] [-- --out FILE]
//
// Prints one table per section, a machine line, and a summary of the targets; writes the
// same results as JSON to bench/out/latest.json (or --out). Speed is measured here, never in unit
// tests: every ratio compares two things measured in this same run, interleaved.
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_OPTIONS, QUICK_OPTIONS, formatTable, formatTargets, type Section, type SectionResult, type TargetResult } from './table.js';
import { cryptoSection } from './crypto.js';
import { cborSection } from './cbor.js';
import { sizeSection } from './size.js';
import { espruinoSection } from './espruino.js';
import { e2eSection } from './e2e.js';
import { verifierSection } from './verifier.js';
import { sourcesSection } from './sources.js';
import { fleetSection } from './fleet.js';

export const SECTIONS: Section[] = [cryptoSection, cborSection, sizeSection, espruinoSection, e2eSection, verifierSection, sourcesSection, fleetSection];

const HERE = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_OUT = join(HERE, 'out', 'latest.json');

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  loadAvgStart: number[];
  loadAvgEnd?: number[];
  date: string;
}

function cpuModel(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(info);
    const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(info);
    if (m) return m[1].trim() + (mhz ? ' @ ' + Math.round(Number(mhz[1])) + ' MHz' : '');
  } catch {
    /* not Linux */
  }
  return cpus()[0]?.model ?? 'unknown';
}

export function machineLine(m: Machine): string {
  return (
    'machine: ' + m.cpu + ', ' + m.cores + ' cores, node ' + m.node + ', load average at start ' + m.loadAvgStart.map((x) => x.toFixed(2)).join(' ') +
    (m.loadAvgEnd ? ' (at end ' + m.loadAvgEnd.map((x) => x.toFixed(2)).join(' ') + ')' : '')
  );
}

export interface BenchReport {
  machine: Machine;
  options: { quick: boolean; only: string[] };
  sections: SectionResult[];
  targets: TargetResult[];
  summary: { met: number; missed: number; notMeasured: number };
  totalMs: number;
}

export async function runBench(argv: string[], print: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<BenchReport> {
  const { values } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const names = SECTIONS.map((s) => s.name);
  if (values.help) {
    print('npm run bench -- [--quick] [--only ' + names.join(',') + '] [--out FILE]');
    return Promise.reject(Object.assign(new Error('help'), { code: 'HELP' }));
  }
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : [];
  for (const n of only) if (!names.includes(n)) throw new Error('--only: unknown section "' + n + '" (sections: ' + names.join(', ') + ')');
  const opts = values.quick ? QUICK_OPTIONS : DEFAULT_OPTIONS;
  const machine: Machine = { cpu: cpuModel(), cores: cpus().length, node: process.version, loadAvgStart: loadavg(), date: new Date().toISOString() };
  print(machineLine(machine) + (opts.quick ? ' [--quick: short runs, numbers are rough]' : ''));
  const t0 = performance.now();
  const results: SectionResult[] = [];
  for (const s of SECTIONS) {
    if (only.length && !only.includes(s.name)) continue;
    const ts = performance.now();
    let res: SectionResult;
    try {
      const r = await s.run(opts);
      res = { name: s.name, title: s.title, ms: performance.now() - ts, ...r };
    } catch (e) {
      res = { name: s.name, title: s.title, ms: performance.now() - ts, error: (e as Error).stack ?? String(e), tables: [], targets: [] };
    }
    results.push(res);
    print('\n== ' + s.title + ' (' + (res.ms / 1000).toFixed(1) + ' s)');
    if (res.skipped) print('skipped: ' + res.skipped);
    if (res.error) print('ERROR: ' + res.error);
    for (const t of res.tables) print('\n' + formatTable(t));
  }
  machine.loadAvgEnd = loadavg();
  const targets = results.flatMap((r) =>
    r.error ? r.targets.concat(failedTargets(r)) : r.targets,
  );
  const summary = {
    met: targets.filter((t) => t.ok === true).length,
    missed: targets.filter((t) => t.ok === false).length,
    notMeasured: targets.filter((t) => t.ok === null).length,
  };
  const totalMs = performance.now() - t0;
  print('\n' + formatTargets(targets));
  print('\n' + machineLine(machine) + '; total ' + (totalMs / 1000).toFixed(1) + ' s');
  const report: BenchReport = { machine, options: { quick: opts.quick, only }, sections: results, targets, summary, totalMs };
  const out = resolve(values.out ?? DEFAULT_OUT);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  print('results written to ' + out);
  return report;
}

/** A section that threw still shows its targets in the summary, as not measured. */
function failedTargets(r: SectionResult): TargetResult[] {
  return r.targets.length ? [] : [{ section: r.name, name: '(section failed)', target: '', value: null, ok: null, note: 'error' }];
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  runBench(process.argv.slice(2)).then(
    (r) => {
      // Sections that failed make the run fail; missed targets do not (they are results).
      if (r.sections.some((s) => s.error)) process.exitCode = 1;
      // Handles of finished sections (sockets, timers) must not keep the process alive.
      setTimeout(() => process.exit(), 100).unref();
    },
    (e) => {
      if ((e as { code?: string }).code === 'HELP') return;
      process.stderr.write('bench: ' + ((e as Error).message ?? e) + '\n');
      process.exitCode = 2;
    },
  );
}
