// The vm harness catches slips in a bundle. test/build/espruino-vm.test.ts shows each builtin
// is missing from the context; this shows the consequence for a whole bundle run through the
// conformance driver: copies of dist/core.js with one slip each (Math.imul, Map, BigInt on the
// path of an exported function, reached through a computed name so the static checker cannot
// see it) pass every selected case in a plain vm context, and fail exactly the cases on that
// path in loadBundleInEspruinoVm, with the error Espruino would give.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { checkSource } from '../../scripts/espruino-check.mjs';
import { DRIVER, type Case, runInVm, shippedBundle } from './hosts.js';
import { buildTable } from './table.js';

interface Slip {
  builtin: string;
  /** Exported function whose calls now reach the builtin. */
  wraps: string;
  /** The driver op that calls it. */
  op: string;
  /** ES5 expression using the builtin (computed names: invisible to the static checker). */
  use: string;
}

const SLIPS: Slip[] = [
  { builtin: 'Math.imul', wraps: 'sha256', op: 'sha256', use: 'Math["im" + "ul"](d.length | 0, 3)' },
  { builtin: 'Map', wraps: 'cborEncode', op: 'cborenc', use: 'new G["M" + "ap"]().size' },
  { builtin: 'BigInt', wraps: 'sign', op: 'sign', use: 'G["Big" + "Int"](1)' },
];

/** A wrapper around one export of DepinCore; G is the global object (sloppy-mode `this`). */
function slipCode(s: Slip): string {
  return ';(function (C, G) { var f = C.' + s.wraps + '; C.' + s.wraps + ' = function (d) { ' + s.use + '; return f.apply(this, arguments); }; })(DepinCore, (function () { return this; })());\n';
}

/** The driver over `cases` with the bundle in a plain vm context (everything Node has). */
function runInPlainVm(code: string, gtable: string, cases: Case[]): Map<string, string> {
  const context = vm.createContext({});
  vm.runInContext(code, context);
  vm.runInContext(DRIVER, context);
  vm.runInContext('DepinCore.installGTable(cfBytes(' + JSON.stringify(readFileSync(gtable).toString('hex')) + '));', context);
  const run = vm.runInContext(
    '(function (json) { var out = []; runConformance(DepinCore, JSON.parse(json), function (id, r) { out.push([id, r]); }, function () { return 0; }); return JSON.stringify(out); })',
    context,
  ) as (json: string) => string;
  return new Map(JSON.parse(run(JSON.stringify(cases))) as [string, string][]);
}

test('a bundle with Math.imul / Map / BigInt on a path passes in a plain vm and fails in the Espruino vm on exactly that path', async (t) => {
  const { path, gtable } = await shippedBundle();
  const original = readFileSync(path, 'utf8');
  const table = buildTable();
  const pick = (op: string, n: number) => table.filter((e) => e.case.op === op).slice(0, n);
  const entries = [...pick('sha256', 20), ...pick('cborenc', 20), ...pick('sign', 3), ...pick('hmac', 10)];
  const want = new Map(entries.map((e) => [e.case.id, e.want]));
  const dir = mkdtempSync(join(tmpdir(), 'bundle-slip-'));
  try {
    for (const s of SLIPS) {
      const code = original + '\n' + slipCode(s);
      assert.equal(checkSource('var DepinCore = {};\n' + slipCode(s), 'slip.js').length, 0, s.builtin + ': reached through a computed name, the static checker cannot see it');
      const plain = runInPlainVm(code, gtable, entries.map((e) => e.case));
      for (const e of entries) assert.equal(plain.get(e.case.id), want.get(e.case.id), s.builtin + ' in a plain vm: ' + e.case.id);
      const file = join(dir, s.builtin + '.js');
      writeFileSync(file, code);
      const esp = runInVm(file, gtable, entries.map((e) => e.case), 'portable', true).results;
      let failed = 0;
      for (const e of entries) {
        const got = esp.get(e.case.id)!;
        if (e.case.op === s.op) {
          assert.match(got, /^ERR (TypeError|ReferenceError): /, s.builtin + ' in the Espruino vm must fail ' + e.case.id + ', got ' + got);
          failed++;
        } else assert.equal(got, want.get(e.case.id), s.builtin + ' in the Espruino vm leaves ' + e.case.id + ' alone');
      }
      t.diagnostic(s.builtin + ': ' + failed + ' ' + s.op + ' cases fail in the Espruino vm (' + esp.get(entries.find((e) => e.case.op === s.op)!.case.id) + '), none in a plain vm');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
