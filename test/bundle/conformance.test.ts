// One conformance table, three places: (a) the TypeScript modules on Node, (b) the built
// dist/core.js in the Espruino-shaped vm (every global and method Espruino lacks removed), and
// (c) dist/core.js in the real interpreter when ESPRUINO names its Linux build (else skipped,
// saying why). The same ES5 driver (driver.js) runs the cases everywhere and prints one result
// string per case; each must equal the expected string byte for byte. Expected strings come
// from independent references (table.ts says which), so (a) checks core against them and (b),
// (c) check that what ships computes exactly what Node computes.
//
//   node --import tsx --test test/bundle/conformance.test.ts
//   ESPRUINO=/path/to/espruino node --import tsx --test test/bundle/conformance.test.ts
//   CORE_BUNDLE=/tmp/candidate/core.js ...   (another build; its secp256k1-gtable.bin beside it)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as TS from '../../firmware/core/index.js';
import { checkSource, formatFinding } from '../../scripts/espruino-check.mjs';
import { skipReason } from '../harness/espruino-real.js';
import { DRIVER, type RunOutput, runInEspruino, runInVm, runOnNode, shippedBundle } from './hosts.js';
import { type Entry, MQTT_EXPORTED, TABLE_SIZES, buildTable } from './table.js';

const skip = skipReason();
const table = buildTable();
const cases = (es: Entry[]) => es.map((e) => e.case);

/** Entries whose result differs from what they must give (on the interpreter: espWant where set). */
function mismatches(es: Entry[], out: RunOutput, onEspruino = false): string[] {
  const bad: string[] = [];
  for (const e of es) {
    const want = onEspruino && e.espWant !== undefined ? e.espWant : e.want;
    const got = out.results.get(e.case.id);
    if (got !== want) bad.push(e.case.id + ' [' + e.src + ']\n      got  ' + String(got).slice(0, 400) + '\n      want ' + want.slice(0, 400));
  }
  return bad;
}

function assertAll(es: Entry[], out: RunOutput, where: string, onEspruino = false): void {
  const bad = mismatches(es, out, onEspruino);
  if (bad.length === 0) return;
  // Up to three examples of each op, so one broken op does not hide another.
  const byOp: Record<string, string[]> = {};
  for (const b of bad) {
    const op = es.find((x) => b.startsWith(x.case.id + ' '))!.case.op;
    (byOp[op] ??= []).push(b);
  }
  const counts = Object.keys(byOp).map((op) => op + ' ' + byOp[op].length).join(', ');
  const shown = Object.values(byOp).flatMap((l) => l.slice(0, 3));
  assert.fail(where + ': ' + bad.length + ' of ' + es.length + ' cases differ (' + counts + '):\n  ' + shown.join('\n  '));
}

/** Total and per-case time of each op, for the diagnostics. */
function timings(es: Entry[], out: RunOutput): string {
  const by = new Map<string, { n: number; ms: number }>();
  for (const e of es) {
    const t = by.get(e.case.op) ?? { n: 0, ms: 0 };
    t.n++;
    t.ms += out.ms.get(e.case.id) ?? 0;
    by.set(e.case.op, t);
  }
  return [...by].map(([op, t]) => op + ' ' + t.n + 'x ' + (t.ms / t.n).toFixed(t.ms / t.n < 10 ? 2 : 0) + ' ms').join(', ');
}

test('the table: sizes, sources, and the driver passes the Espruino gate', (t) => {
  const count = (f: (e: Entry) => boolean) => table.filter(f).length;
  assert.equal(count((e) => e.case.op === 'sign' && e.case.id.startsWith('sign.') && /^sign\.\d+$/.test(e.case.id)), TABLE_SIZES.keys);
  assert.equal(count((e) => e.case.op === 'job'), TABLE_SIZES.keys);
  assert.ok(count((e) => e.case.op === 'cbordec' && e.src === 'rfc8949') >= 75);
  assert.equal(count((e) => e.case.op === 'seal'), 5, 'every case of envelope-cases.ts');
  const bySrc: Record<string, number> = {};
  for (const e of table) bySrc[e.src] = (bySrc[e.src] ?? 0) + 1;
  t.diagnostic('cases ' + table.length + ' (interpreter device run ' + count((e) => e.tier >= 1) + ', portable run ' + count((e) => e.tier >= 2) +
    ', wide text kept off the interpreter ' + count((e) => e.wide) + '); by source ' + JSON.stringify(bySrc));
  if (!MQTT_EXPORTED) t.diagnostic('MQTT codec not exported by firmware/core/index.ts: its cases are left out');
  // The driver runs in all three places, so it must itself be Espruino-clean.
  assert.equal(checkSource(DRIVER, 'test/bundle/driver.js').map(formatFinding).join('\n'), '');
});

test('(a) the TypeScript modules on Node give every reference output', (t) => {
  const out = runOnNode(TS, cases(table));
  assertAll(table, out, 'TypeScript core');
  t.diagnostic(table.length + ' cases in ' + out.totalMs.toFixed(0) + ' ms');
});

let bundle: Promise<{ path: string; gtable: string }> | undefined;
function built() {
  bundle ??= shippedBundle();
  return bundle;
}

test('(b) dist/core.js in the Espruino-shaped vm, portable paths, table built lazily: every case', async (t) => {
  const { path, gtable } = await built();
  const out = runInVm(path, gtable, cases(table), 'portable');
  assertAll(table, out, 'bundle in the vm (portable)');
  t.diagnostic(table.length + ' cases in ' + out.totalMs.toFixed(0) + ' ms');
});

test('(b) dist/core.js in the Espruino-shaped vm, device slots (E.convolve, SHA-256 slot, G table from the .bin)', async (t) => {
  const { path, gtable } = await built();
  // The vm's E.convolve is interpreted JavaScript (~10x slower than the limb loops here), so
  // this run takes the interpreter's share of the signatures.
  const es = table.filter((e) => e.tier >= 1);
  const out = runInVm(path, gtable, cases(es), 'device');
  assertAll(es, out, 'bundle in the vm (device slots)');
  t.diagnostic(es.length + ' cases in ' + out.totalMs.toFixed(0) + ' ms');
});

async function interpreterRun(t: { diagnostic(s: string): void }, setup: 'device' | 'portable', minTier: 1 | 2) {
  const { path, gtable } = await built();
  const es = table.filter((e) => e.tier >= minTier);
  const out = await runInEspruino(path, gtable, cases(es), setup, 90_000);
  const known = es.filter((e) => e.espWant !== undefined);
  t.diagnostic(
    setup + ': ' + es.length + ' cases in ' + (out.totalMs / 1000).toFixed(1) + ' s (' + process.env.ESPRUINO + '), JsVars ' +
      out.memory!.usage + '/' + out.memory!.total + '; ' + timings(es, out),
  );
  for (const e of known) t.diagnostic('documented difference ' + e.case.id + ': ' + e.espWhy);
  assertAll(es, out, 'bundle in the interpreter (' + setup + ')', true);
}

test('(c) dist/core.js in the real interpreter, device slots (E.convolve, crypto.SHA256, G table from Storage)', { skip, timeout: 120_000 }, async (t) => {
  await interpreterRun(t, 'device', 1);
});

test('(c) dist/core.js in the real interpreter, portable paths (no E.convolve, JavaScript SHA-256)', { skip, timeout: 120_000 }, async (t) => {
  await interpreterRun(t, 'portable', 2);
});
