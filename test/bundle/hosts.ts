// The three places the conformance table runs, each through the same ES5 driver (driver.js):
//   runOnNode      the TypeScript modules of firmware/core in this process
//   runInVm        a built bundle in the Espruino-shaped vm context (test/harness/espruino-vm.ts)
//   runInEspruino  a built bundle in the real interpreter (ESPRUINO), table read from Storage
// Each returns the result string of every case by id, and the time each took.
//
// Slot setups: "portable" installs nothing (JavaScript SHA-256, interpreted limb loops; the vm
// run also leaves the G table to be built lazily inside the bundle), "device" installs what the
// Espruino platform installs: E.convolve for field products, a native SHA-256, and the 16 KB
// G table (the vm gets dist/secp256k1-gtable.bin; the interpreter reads it from a Storage file
// written by an earlier run, as a flashed device would).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { ensureBundle, loadBundleInEspruinoVm } from '../harness/espruino-vm.js';
import { runEspruino } from '../harness/espruino-real.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The driver source (ES5, defines runConformance and its helpers as globals). */
export const DRIVER = readFileSync(join(HERE, 'driver.js'), 'utf8');

export interface Case {
  id: string;
  op: string;
  [arg: string]: unknown;
}

export interface RunOutput {
  results: Map<string, string>;
  ms: Map<string, number>;
  /** Wall-clock time of the whole run, loading included. */
  totalMs: number;
  /** Interpreter runs: what process.memory() said at the end. */
  memory?: { usage: number; total: number };
}

export type SlotSetup = 'portable' | 'device';

/** Storage file name the interpreter's G table is written to and read from (<= 28 chars). */
export const GTABLE_STORAGE_NAME = 'secp256k1-gtable';

/**
 * The bundle under test and its G table: CORE_BUNDLE names a bundle file (its
 * secp256k1-gtable.bin beside it), as for coreUnderTest; otherwise dist/core.js, built when
 * stale. Lets a candidate build be checked without replacing dist/.
 */
export async function shippedBundle(env: NodeJS.ProcessEnv = process.env): Promise<{ path: string; gtable: string }> {
  const path = env.CORE_BUNDLE || (await ensureBundle());
  return { path, gtable: join(dirname(path), 'secp256k1-gtable.bin') };
}

type Driver = (core: unknown, cases: unknown, emit: (id: string, r: string, ms: number) => void, now: () => number) => number;

/** The driver compiled in this realm (for the TypeScript modules). */
export function nodeDriver(): Driver {
  return new Function(DRIVER + '\nreturn runConformance;')() as Driver;
}

function collect(): { out: RunOutput; emit: (id: string, r: string, ms: number) => void } {
  const out: RunOutput = { results: new Map(), ms: new Map(), totalMs: 0 };
  const emit = (id: string, r: string, ms: number) => {
    if (out.results.has(id)) throw new Error('duplicate case id ' + id);
    out.results.set(id, r);
    out.ms.set(id, ms);
  };
  return { out, emit };
}

/** The cases against `core` (the TypeScript module namespace) in this process. */
export function runOnNode(core: unknown, cases: Case[]): RunOutput {
  const t0 = performance.now();
  const { out, emit } = collect();
  nodeDriver()(core, cases, emit, () => performance.now());
  out.totalMs = performance.now() - t0;
  return out;
}

const sha256Hex = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');

/**
 * The cases against `bundlePath` in a fresh Espruino-shaped vm context. `installTable` gives a
 * portable run the G table too (device runs always install it).
 */
export function runInVm(bundlePath: string, gtablePath: string, cases: Case[], setup: SlotSetup, installTable = false): RunOutput {
  const t0 = performance.now();
  const { context } = loadBundleInEspruinoVm(bundlePath, {
    globals: { __now: () => performance.now(), __sha256Hex: (d: Uint8Array) => sha256Hex(d) },
  });
  vm.runInContext(DRIVER, context, { filename: 'driver.js' });
  if (setup === 'device')
    vm.runInContext('DepinCore.installConvolve(E.convolve);\nDepinCore.installSha256(function (d) { return cfBytes(__sha256Hex(d)); });', context);
  if (setup === 'device' || installTable)
    vm.runInContext('DepinCore.installGTable(cfBytes(' + JSON.stringify(readFileSync(gtablePath).toString('hex')) + '));', context);
  // Cases cross as JSON and results come back as JSON, so no object crosses the realms.
  const run = vm.runInContext(
    '(function (json) { var out = []; runConformance(DepinCore, JSON.parse(json), function (id, r, ms) { out.push([id, r, ms]); }, __now);' +
      ' return JSON.stringify({ out: out, convolve: DepinCore.convolveInstalled(), native: DepinCore.sha256IsNative(), table: DepinCore.gTableInstalled() }); })',
    context,
  ) as (json: string) => string;
  const r = JSON.parse(run(JSON.stringify(cases))) as { out: [string, string, number][]; convolve: boolean; native: boolean; table: boolean };
  const { out, emit } = collect();
  for (const [id, res, ms] of r.out) emit(id, res, ms);
  const want = setup === 'device';
  if (r.convolve !== want || r.native !== want) throw new Error('vm ' + setup + ' run: slots not as set up: ' + JSON.stringify({ convolve: r.convolve, native: r.native }));
  out.totalMs = performance.now() - t0;
  return out;
}

/** JSON for a script literal: ASCII only (Espruino reads source bytes as chars), \u escapes above. */
export function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

const RESULT_LINE = /^R (\S+) (\S+) (.*)$/;

/**
 * The interpreter side: one run writes the G table into Storage (as provisioning a device
 * would), a second loads the bundle, installs the slots, reads the table back from Storage
 * and runs the cases, printing `R <id> <ms> <result>` per case. Both share one working
 * directory, so the second sees the first's espruino.flash.
 */
export async function runInEspruino(bundlePath: string, gtablePath: string, cases: Case[], setup: SlotSetup, timeoutMs = 60_000): Promise<RunOutput & { stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'espruino-conformance-'));
  try {
    const table = readFileSync(gtablePath).toString('base64');
    const prov = await runEspruino(
      'var ok = require("Storage").write(' + JSON.stringify(GTABLE_STORAGE_NAME) + ', E.toUint8Array(atob("' + table + '")));\n' +
        'print("PROVISIONED " + ok + " " + require("Storage").read(' + JSON.stringify(GTABLE_STORAGE_NAME) + ').length);\n',
      { cwd: dir },
    );
    const want = 'PROVISIONED true ' + readFileSync(gtablePath).length;
    if (!prov.stdout.includes(want)) throw new Error('writing the G table into Storage failed: expected "' + want + '"; output:\n' + prov.stdout + prov.stderr);
    const slots =
      setup === 'device'
        ? 'DepinCore.installConvolve(E.convolve);\n' +
          'DepinCore.installSha256(function (d) { return new Uint8Array(require("crypto").SHA256(d)); });\n'
        : '';
    const script =
      readFileSync(bundlePath, 'utf8') +
      '\n' +
      DRIVER +
      '\n' +
      slots +
      'DepinCore.installGTable(new Uint8Array(require("Storage").readArrayBuffer(' + JSON.stringify(GTABLE_STORAGE_NAME) + ')));\n' +
      'print("SLOTS " + DepinCore.convolveInstalled() + " " + DepinCore.sha256IsNative() + " " + DepinCore.gTableInstalled());\n' +
      'var CASES = ' + asciiJson(cases) + ';\n' +
      'var T0 = getTime();\n' +
      'runConformance(DepinCore, CASES, function (id, r, ms) { print("R " + id + " " + ms.toFixed(1) + " " + r); }, function () { return getTime() * 1000; });\n' +
      'var M = process.memory();\n' +
      'print("DONE " + CASES.length + " " + ((getTime() - T0) * 1000).toFixed(0) + " " + M.usage + " " + M.total);\n';
    const r = await runEspruino(script, { cwd: dir, timeoutMs });
    const { out, emit } = collect();
    for (const line of r.stdout.split('\n')) {
      const m = RESULT_LINE.exec(line);
      if (m) emit(m[1], m[3], Number(m[2]));
    }
    const done = /^DONE (\d+) (\d+) (\d+) (\d+)$/m.exec(r.stdout);
    if (!done) throw new Error('the interpreter did not finish the table (exit ' + r.code + '); output tail:\n' + r.stdout.slice(-3000) + r.stderr.slice(-1000));
    const slotsLine = /^SLOTS (\S+) (\S+) (\S+)$/m.exec(r.stdout);
    const wantSlots = setup === 'device' ? 'true true true' : 'false false true';
    if (!slotsLine || slotsLine.slice(1).join(' ') !== wantSlots)
      throw new Error('interpreter ' + setup + ' run: slots ' + (slotsLine ? slotsLine.slice(1).join(' ') : 'not reported') + ', expected ' + wantSlots);
    out.totalMs = r.ms;
    out.memory = { usage: Number(done[3]), total: Number(done[4]) };
    return { ...out, stdout: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
