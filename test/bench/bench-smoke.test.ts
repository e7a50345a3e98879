// Smoke test of the benchmark runner: `bench/run.ts --quick` on the fast sections prints their
// tables and the summary, and writes valid JSON. No timing is asserted (speed is measured by
// `npm run bench`, never by tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function runBench(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/run.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
}

test('bench --quick --only size,cbor prints the tables and writes valid JSON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  try {
    const out = join(dir, 'latest.json');
    const r = runBench(['--quick', '--only', 'size,cbor', '--out', out]);
    assert.equal(r.status, 0, 'exit code; stderr:\n' + r.stderr);
    assert.match(r.stdout, /^machine: .+ cores, node v\d+/m);
    assert.match(r.stdout, /== 2\. CBOR/);
    assert.match(r.stdout, /== 3\. Signed batch size/);
    assert.doesNotMatch(r.stdout, /== 1\. secp256k1/, '--only must leave other sections out');
    // Header row and dashed rule of the size table, then one row per sample count.
    assert.match(r.stdout, /^samples +values +CBOR payload B +signed B .*ratio vs JSON .*target +ok$/m);
    assert.match(r.stdout, /^-------  ------/m);
    assert.match(r.stdout, /^Summary: \d+ target\(s\) met, \d+ missed/m);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(report.sections.map((s: { name: string }) => s.name), ['cbor', 'size']);
    assert.equal(report.options.quick, true);
    for (const s of report.sections) {
      assert.equal(s.error, undefined, s.name + ' failed: ' + s.error);
      assert.ok(s.tables.length > 0, s.name + ' has no table');
      for (const t of s.tables) for (const row of t.rows) for (const c of t.columns) assert.ok(c.key in row, s.name + ': row lacks ' + c.key);
    }
    const size = report.sections.find((s: { name: string }) => s.name === 'size');
    assert.deepEqual(size.tables[0].rows.map((row: { samples: number }) => row.samples), [1, 4, 16]);
    assert.equal(report.targets.length, 4, 'size has four targets');
    for (const t of report.targets) assert.equal(typeof t.ok, 'boolean');
    assert.equal(report.summary.met + report.summary.missed + report.summary.notMeasured, report.targets.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench rejects an unknown section name', () => {
  const r = runBench(['--quick', '--only', 'nope']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown section "nope"/);
});
