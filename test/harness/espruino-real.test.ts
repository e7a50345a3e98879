// The real-interpreter harness: output cleaning and ESPRUINO checks always run; the rest runs
// scripts in the Espruino Linux build named by ESPRUINO and pins facts the core relies on
// (no hoisting, E.convolve, native SHA-256, ToInt32 on large doubles), or skips saying why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanOutput, espruinoPath, runEspruino, skipReason } from './espruino-real.js';

const skip = skipReason();

// stdout of `espruino s.js` (2v29 Linux) for: print("first"); setTimeout(function(){ print("later"); }, 5);
const RAW_SAMPLE =
  '\r\n ____                 _ \r\n|  __|___ ___ ___ _ _|_|___ ___ \r\n|  __|_ -| . |  _| | | |   | . |\r\n' +
  '|____|___|  _|_| |___|_|_|_|___|\r\n         |_| espruino.com\r\n 2v29.277 (c) 2026 G.Williams\r\n\r\n' +
  'Espruino is Open Source. Our work is supported\r\nonly by sales of official boards and donations:\r\n' +
  'http://espruino.com/Donate\r\n\r\nfirst\r\n>\r\u001b[Jlater\r\n>';

test('cleanOutput removes the banner, prompt redraws and CRs', () => {
  assert.equal(cleanOutput(RAW_SAMPLE), 'first\nlater\n');
});

test('cleanOutput keeps output that only looks like a prompt', () => {
  assert.equal(cleanOutput('a > b\r\n>>\r\n'), 'a > b\n>>\n');
});

test('skipReason explains an unset, missing, non-file or non-executable ESPRUINO', () => {
  assert.match(skipReason({})!, /^ESPRUINO is not set: set it to the path of an Espruino Linux build/);
  assert.match(skipReason({ ESPRUINO: '  ' })!, /^ESPRUINO is not set/);
  assert.equal(espruinoPath({ ESPRUINO: '' }), undefined);
  const dir = mkdtempSync(join(tmpdir(), 'espruino-skip-'));
  try {
    assert.match(skipReason({ ESPRUINO: join(dir, 'nope') })!, /does not exist/);
    assert.match(skipReason({ ESPRUINO: dir })!, /is not a file/);
    const f = join(dir, 'espruino');
    writeFileSync(f, '#!/bin/sh\n');
    chmodSync(f, 0o644);
    assert.match(skipReason({ ESPRUINO: f })!, /^ESPRUINO=.* is not executable/);
    chmodSync(f, 0o755);
    assert.equal(skipReason({ ESPRUINO: f }), undefined);
    assert.equal(espruinoPath({ ESPRUINO: ' ' + f + ' ' }), f);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runEspruino rejects with the skip reason when ESPRUINO is unset', async () => {
  const saved = process.env.ESPRUINO;
  delete process.env.ESPRUINO;
  try {
    await assert.rejects(runEspruino('print(1)'), /runEspruino: ESPRUINO is not set/);
  } finally {
    if (saved !== undefined) process.env.ESPRUINO = saved;
  }
});

// One probe, one JSON line per fact; the expected values are computed here in Node.
const FACTS_PROBE = `
function fact(name, f) { var r; try { r = { ok: f() }; } catch (e) { r = { threw: String(e) }; } print(JSON.stringify({ name: name, r: r })); }
fact("fnBeforeDecl", function () { function outer() { var r = inner(); function inner() { return 1; } return r; } return outer(); });
fact("varBeforeDecl", function () { function f() { var r = v; var v = 3; return r; } return f(); });
fact("convolveType", function () { return typeof E.convolve; });
fact("convolve", function () { var cv = E.convolve; return [cv(new Uint16Array([1, 2, 3]), new Uint16Array([4, 5, 6, 7]), 1), cv(new Uint16Array([65535, 65535]), new Float64Array([65535, 65535, 1]), 2)]; });
fact("sha256abc", function () { var u = new Uint8Array(require("crypto").SHA256("abc")), s = ""; for (var i = 0; i < u.length; i++) s += (u[i] < 16 ? "0" : "") + u[i].toString(16); return s; });
fact("toInt32", function () { var x = 1099511627776 + 12345, y = 4503599627370496 + 2271560481; return [x & 0xffff, x >>> 16, x | 0, y & 0xffff, y >>> 16, y | 0]; });
`;

/** Dot product with wrap-around, as E.convolve is documented (src/jswrap_espruino.c). */
function convolveRef(a: ArrayLike<number>, b: ArrayLike<number>, offset: number): number {
  let v = 0;
  for (let i = 0; i < a.length; i++) v += a[i] * b[(i + offset) % b.length];
  return v;
}

test('Espruino: pinned language and native facts', { skip }, async () => {
  const r = await runEspruino(FACTS_PROBE);
  assert.equal(r.code, 0, r.stdout);
  const facts = new Map<string, { ok?: unknown; threw?: string }>();
  for (const line of r.stdout.split('\n')) if (line.startsWith('{')) facts.set(JSON.parse(line).name, JSON.parse(line).r);
  // No hoisting: a function or var used before its declaration is a ReferenceError.
  assert.match(facts.get('fnBeforeDecl')?.threw ?? 'did not throw', /ReferenceError/);
  assert.match(facts.get('varBeforeDecl')?.threw ?? 'did not throw', /ReferenceError/);
  assert.deepEqual(facts.get('convolveType'), { ok: 'function' });
  assert.deepEqual(facts.get('convolve'), {
    ok: [convolveRef([1, 2, 3], [4, 5, 6, 7], 1), convolveRef([65535, 65535], [65535, 65535, 1], 2)],
  });
  assert.deepEqual(facts.get('sha256abc'), { ok: createHash('sha256').update('abc').digest('hex') });
  const x = 1099511627776 + 12345;
  const y = 4503599627370496 + 2271560481;
  assert.deepEqual(facts.get('toInt32'), { ok: [x & 0xffff, x >>> 16, x | 0, y & 0xffff, y >>> 16, y | 0] });
});

test('Espruino: exit code 1 for a top-level throw, 0 for a throw in a timer', { skip }, async () => {
  const top = await runEspruino('print("a"); throw new Error("boom");');
  assert.equal(top.code, 1);
  assert.match(top.stdout, /^a\nUncaught Error: boom\n/);
  const late = await runEspruino('setTimeout(function () { throw new Error("late"); }, 1); setTimeout(function () { print("after"); }, 20);');
  assert.equal(late.code, 0);
  assert.match(late.stdout, /Uncaught Error: late[\s\S]*\nafter\n$/);
});

test('Espruino: extra files sit in the working directory', { skip }, async () => {
  const r = await runEspruino(
    'var d = require("fs").readFileSync("data.bin"); print(d.length, d.charCodeAt(0), d.charCodeAt(3)); print(require("m").x);',
    { files: { 'data.bin': new Uint8Array([0, 1, 255, 128]), 'node_modules/m.js': 'exports.x = 42;' } },
  );
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.stdout, '4 0 128\n42\n');
});

test('Espruino: a run past timeoutMs is killed and rejected', { skip }, async () => {
  await assert.rejects(runEspruino('setInterval(function () {}, 50);', { timeoutMs: 400 }), /timed out after 400 ms \(killed\)/);
});

test('Espruino: output beyond maxOutputBytes is killed and rejected, output below it is kept', { skip }, async () => {
  const script = 'var s = "0123456789"; for (var i = 0; i < 6; i++) s += s; for (var j = 0; j < 20; j++) print(s);';
  const ok = await runEspruino(script, { maxOutputBytes: 64 * 1024 });
  assert.equal(ok.stdout.split('\n').filter((l) => l.length === 640).length, 20);
  await assert.rejects(runEspruino(script, { maxOutputBytes: 4096 }), /more than 4096 bytes of output \(killed\)/);
});
