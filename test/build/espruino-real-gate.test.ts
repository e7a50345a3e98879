// The gate against the real interpreter (the Espruino Linux build named by ESPRUINO; skipped
// with the reason when it is unset): the checker's builtin table, number model, regex and
// E.convolve fixtures are re-measured; the clean ES5 sample and the sample bundle print the
// same as in Node; the sample bundle without the hoisting pass dies with a ReferenceError; the
// real dist/core.js loads and exposes DepinCore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { ESPRUINO_BUILTINS } from '../../scripts/espruino-check.mjs';
import { buildFirmware } from '../../scripts/build-firmware.mjs';
import { runEspruino, skipReason } from '../harness/espruino-real.js';
import { ensureBundle } from '../harness/espruino-vm.js';
import { deriveTables, nodeCandidates, probeEspruino } from './espruino-probe.js';

const skip = skipReason();
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = (name: string) => JSON.parse(readFileSync(join(ROOT, 'test/build/fixtures', name), 'utf8'));
const BITS = 'var __f=new Float64Array(1),__u=new Uint32Array(__f.buffer);function __bits(x){__f[0]=x;return ("00000000"+__u[1].toString(16)).substr(-8)+("00000000"+__u[0].toString(16)).substr(-8);}\n';

/** Runs lines that each print `@@<i>=<value>`; returns the values by index. */
async function measure(lines: string[]): Promise<string[]> {
  const r = await runEspruino(BITS + lines.map((l, i) => 'try{print("@@' + i + '="+(' + l + '))}catch(e){print("@@' + i + '=THROW "+e.message)}').join('\n') + '\n');
  const out: string[] = [];
  for (const m of r.stdout.matchAll(/^@@(\d+)=(.*)$/gm)) out[Number(m[1])] = m[2];
  return out;
}

test('builtin table matches what the interpreter has', { skip }, async () => {
  const c = nodeCandidates();
  const t = deriveTables(c, await probeEspruino(c));
  const B = ESPRUINO_BUILTINS as typeof t;
  const sorted = (o: Record<string, string[]>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v.length).sort());
  assert.deepEqual(t.globals, B.globals);
  assert.deepEqual(sorted(t.statics), sorted(B.statics));
  assert.deepEqual(sorted(t.protoReadable), sorted(B.protoReadable));
  assert.deepEqual(t.instanceMembers, B.instanceMembers);
  // Missing members depend on this Node's names too: every one in the table is still missing.
  for (const [k, names] of Object.entries(B.instanceMissing)) for (const n of names) assert.ok(t.instanceMissing[k]?.includes(n), k + '.' + n);
});

test('number literals read as the fixture says', { skip }, async () => {
  const { cases } = fixture('espruino-number-literals.json') as { cases: { literal: string; bits: string }[] };
  const got = await measure(cases.map((c) => '__bits(' + c.literal + ')'));
  assert.deepEqual(got, cases.map((c) => c.bits));
});

test('regular expressions give the fixture results', { skip }, async () => {
  const { cases } = fixture('espruino-regex.json') as { cases: { expr: string; result?: unknown; throws?: string }[] };
  const got = await measure(cases.map((c) => 'JSON.stringify(' + c.expr + ')'));
  assert.deepEqual(got, cases.map((c) => (c.throws !== undefined ? 'THROW ' + c.throws : c.result === null ? 'null' : JSON.stringify(c.result))));
});

test('E.convolve gives the fixture results', { skip }, async () => {
  const { cases } = fixture('espruino-convolve.json') as { cases: { a: unknown; b: unknown; offset: number; resultBits: string }[] };
  const lit = (v: unknown) =>
    typeof v === 'string' || Array.isArray(v) ? JSON.stringify(v) : 'new ' + (v as { type: string }).type + '(' + JSON.stringify((v as { v: number[] }).v) + ')';
  const got = await measure(cases.map((c) => '__bits(E.convolve(' + lit(c.a) + ',' + lit(c.b) + ',' + c.offset + '))'));
  assert.deepEqual(got, cases.map((c) => c.resultBits));
});

test('the clean ES5 sample prints the same on Espruino and Node', { skip }, async () => {
  const probe =
    '\nprint(JSON.stringify([Lib.shadow(), Lib.members({}), Lib.check(3), Lib.hex(new Uint8Array([1, 255])), Lib.isHexByte("af"),' +
    ' Lib.sumTyped(), Lib.tryIt(function () { return Lib.check(-1); }), Lib.keys({ a: 1, b: 2 }), new Lib.Point(3, 4).norm2(),' +
    ' new Lib.Point(3, 4).sum, Lib.imul(3, 5)]));\n';
  const code = readFileSync(join(ROOT, 'test/build/fixtures/clean-es5.js'), 'utf8') + probe;
  const lines: string[] = [];
  vm.runInNewContext(code, { print: (s: string) => lines.push(s) });
  const r = await runEspruino(code);
  assert.equal(r.stdout.trim(), lines.join('\n'));
});

test('sample bundle: same results as Node with the passes; ReferenceError without them', { skip }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'real-gate-'));
  try {
    const r = (await buildFirmware({ tsconfig: 'test/build/fixtures/sample-core/tsconfig.json', outRoot: tmp })) as {
      stages: { minified: string; final: string };
    };
    const probe =
      '\nvar C = DepinCore, c = new C.Counter(5); c.inc(); c.inc(3);\n' +
      'print(JSON.stringify([C.THIRD === 3 / 10, C.TINY * 16777216, C.BIG, C.tableHex(), C.earlyValue(), C.kindName(2), C.closures(),' +
      ' C.optional({ a: { b: 5 } }), C.optional(), C.template("a", 1), C.destructure({ x: 2, y: 3 }, [10, 4]), C.accessor(), C.later2(), c.value]));\n';
    const lines: string[] = [];
    vm.runInNewContext(r.stages.final + probe, { print: (s: string) => lines.push(s) });
    assert.equal((await runEspruino(r.stages.final + probe)).stdout.trim(), lines.join('\n'));
    const unhoisted = await runEspruino(r.stages.minified + probe);
    assert.match(unhoisted.stdout, /ReferenceError: "\w+" is not defined/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('the real dist/core.js loads on Espruino and exposes the exports of firmware/core/index.ts', { skip }, async () => {
  const code = readFileSync(await ensureBundle(), 'utf8');
  const r = await runEspruino(code + '\nprint("@@" + JSON.stringify(Object.keys(DepinCore).sort()));\n');
  const m = /^@@(.*)$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  const ts = await import('../../firmware/core/index.js');
  assert.deepEqual(JSON.parse(m[1]), Object.keys(ts).sort());
});
