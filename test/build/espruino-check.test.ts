// The Espruino compatibility checker: one fixture per rejected construct, a clean ES5 sample,
// scope-aware shadowing, typeof guards, the number and regex models against values measured
// on a real interpreter, the CLI, the hoisting and number passes, and the real dist/core.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { checkRegex, checkSource, espruinoExactNumberText, espruinoNumberValue, formatFinding } from '../../scripts/espruino-check.mjs';
import { hoistFunctionDeclarations, hostMemberNames, repairNumberLiterals } from '../../scripts/build-firmware.mjs';
import { ensureBundle } from '../harness/espruino-vm.js';

interface Finding {
  file: string;
  line: number;
  column: number;
  construct: string;
  message: string;
}
const check = checkSource as (code: string, file?: string, opts?: object) => Finding[];
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = (name: string) => readFileSync(join(ROOT, 'test/build/fixtures', name), 'utf8');
const constructs = (code: string, opts?: object) => check(code, 'x.js', opts).map((f) => f.construct + '@' + f.line);

const CONSTRUCTS = JSON.parse(fixture('constructs.json')) as { cases: { construct: string; line: number; code: string; why: string }[] };

for (const c of CONSTRUCTS.cases) {
  test('rejects ' + c.construct + ' (' + c.why + ')', () => {
    assert.deepEqual(constructs(c.code), [c.construct + '@' + c.line]);
  });
}

test('fixtures cover every construct the brief lists', () => {
  const have = new Set(CONSTRUCTS.cases.map((c) => c.construct));
  const listed = ['BigInt', 'Map', 'Set', 'WeakMap', 'WeakSet', 'Symbol', 'Proxy', 'Reflect', 'TextEncoder', 'TextDecoder',
    'Math.imul', 'Math.trunc', 'Math.clz32', 'Math.log2', 'Math.fround', 'Math.pow', 'Number.isInteger', 'Number.MAX_SAFE_INTEGER',
    'Number.isSafeInteger', 'Array.from', 'Array.of', 'Uint8Array.from', 'ArrayBuffer.isView', 'Object.freeze', 'Object.is',
    'Promise.race', 'Promise.allSettled', 'Promise.any', 'Promise.prototype.finally', 'Date.UTC', '**', '__extends', '__awaiter',
    '__generator', '__spreadArray', '__assign', '__values', '__read', 'arguments.callee', 'with', 'label', 'require', 'process',
    'Buffer', 'global', 'globalThis', 'setTimeout', 'setInterval', 'console', 'use before declaration'];
  assert.deepEqual(listed.filter((c) => !have.has(c)), []);
});

test('getters and setters: accepted by default (Espruino on ESP32 runs them), rejected with accessors: false', () => {
  const code = 'var o = {\n  get a() { return 1; },\n  set a(v) {}\n};';
  assert.deepEqual(constructs(code), []);
  assert.deepEqual(constructs(code, { accessors: false }), ['getter@2', 'setter@3']);
});

test('accepts a clean ES5 sample (shadowing, look-alike members, typeof guards)', () => {
  assert.deepEqual(check(fixture('clean-es5.js'), 'clean-es5.js'), []);
});

test('the clean sample is not clean by accident: small edits to it are caught', () => {
  const clean = fixture('clean-es5.js');
  const edits: [string, string, string][] = [
    ['var Map = {};', 'var Mop = {};', 'Map'],
    ["var RangeErr = typeof RangeError !== 'undefined' ? RangeError : Error;", 'var RangeErr = RangeError;', 'RangeError'],
    ['return cfg.from +', 'return Array.from(cfg) +', 'Array.from'],
    ['/^[0-9a-fA-F]+$/', '/^[0-9a-fA-F]{2}$/', 'RegExp'],
    ['u[i] * 0.5', 'u[i] * 0.3', 'number literal'],
  ];
  for (const [from, to, construct] of edits) {
    assert.ok(clean.includes(from), 'fixture still contains ' + from);
    assert.ok(constructs(clean.replace(from, to)).some((c) => c.startsWith(construct + '@')), construct + ' after editing ' + from);
  }
});

test('scope analysis: shadowed globals and members are not the banned builtins', () => {
  const cases: [string, string[]][] = [
    ['function f(Map) { return new Map(); }', []],
    ['function f() { var Set = Array; return new Set(); }', []],
    ['var Array = { from: function () {} }; Array.from([]);', []],
    ['var x = { imul: 1 }; x.imul;', []],
    ['function f(Uint8Array) { return Uint8Array.from([1]); }', []],
    ['try {} catch (Symbol) { Symbol.iterator; }', []],
    ['var o = {}; o.Map = 1; o.BigInt;', []],
    ['var f = function Map() { return Map; };', []],
    ['function f() { return Map; }\nvar Map = 1;', []],
    ['function f() { return new Map(); }', ['Map@1']],
    ['function g() { function h() { return Math.trunc(1); } return h; }', ['Math.trunc@1']],
  ];
  for (const [code, want] of cases) assert.deepEqual(constructs(code), want, code);
});

test('typeof guards accept a feature-detected fallback, but not a host global', () => {
  const cases: [string, string[]][] = [
    ['var E1 = typeof RangeError !== "undefined" ? RangeError : Error;', []],
    ['var E1 = "undefined" != typeof RangeError ? RangeError : Error;', []],
    ['var E1 = typeof RangeError < "u" ? RangeError : Error;', []],
    ['var E1 = typeof RangeError === "undefined" ? Error : RangeError;', []],
    ['var m = typeof Math.imul === "function" && Math.imul(2, 3);', []],
    ['if (typeof Map !== "undefined") { var m = new Map(); }', []],
    ['var E1 = typeof RangeError === "undefined" ? RangeError : Error;', ['RangeError@1']],
    ['if (typeof Map !== "undefined") {} else { var m = new Map(); }', ['Map@1']],
    ['if (typeof process !== "undefined") process.exit(0);', ['process@1']],
    ['var p = typeof Math.pow === "function" && Math.pow(2, 3);', ['Math.pow@1']],
  ];
  for (const [code, want] of cases) assert.deepEqual(constructs(code), want, code);
});

test('use before declaration: straight-line code only, nested functions run later', () => {
  const cases: [string, string[]][] = [
    ['function f() { return g(); }\nfunction g() { return 1; }\nf();', []],
    ['var f = function () { return v; };\nvar v = 1;\nf();', []],
    ['function f() { return v; }\nf();\nvar v = 1;', ['use before declaration@2']],
    ['function f() { return g(); }\nf();\nfunction g() { return v; }\nvar v = 1;', ['use before declaration@2', 'use before declaration@2']],
    ['var x = (function () { return v; })();\nvar v = 1;', ['use before declaration@1']],
    ['var x = v;\nvar v = 1;', ['use before declaration@1']],
    ['for (var i = 0; i < 2; i++) {}\nfor (var i = 0; i < 2; i++) {}', []],
    ['var n = typeof later;\nvar later = 1;', ['use before declaration@1']],
  ];
  for (const [code, want] of cases) assert.deepEqual(constructs(code), want, code);
});

test('non-ES5 syntax is reported at its line, named when ES-latest parses it', () => {
  assert.deepEqual(constructs('var a = 1;\nvar b = { ...a };'), ['spread@2']);
  assert.deepEqual(constructs('var a = 1;\nasync function f() { await a; }'), ['async@2', 'await@2']);
  const bad = check('var a = 1;\nvar b = ;', 'y.js');
  assert.equal(bad.length, 1);
  assert.equal(bad[0].construct, 'syntax');
  assert.equal(bad[0].line, 2);
});

test('number literal model reproduces what Espruino 2v29 measured', () => {
  const { cases } = JSON.parse(fixture('espruino-number-literals.json')) as { cases: { literal: string; bits: string }[] };
  const bits = (x: number) => {
    const f = new Float64Array([x]);
    const u = new Uint32Array(f.buffer);
    return u[1].toString(16).padStart(8, '0') + u[0].toString(16).padStart(8, '0');
  };
  let inexact = 0;
  for (const c of cases) {
    const v = espruinoNumberValue(c.literal) as number | undefined;
    if (v === undefined) {
      // Overflowing integer tokens: the model refuses them; Espruino's value is not the JS one.
      assert.notEqual(bits(Number(c.literal)), c.bits, c.literal);
      continue;
    }
    assert.equal(bits(v), c.bits, c.literal);
    if (bits(Number(c.literal)) !== c.bits) inexact++;
  }
  assert.ok(inexact >= 5, 'the fixture has literals Espruino reads inexactly');
});

test('espruinoExactNumberText gives text Espruino reads (and JS evaluates) to the same double', () => {
  const values = [0.3, 0.1 + 0.2, 1e-7, 3.14159, 1e300, 0.7, 5e-324, -0.3, 2 ** -24, 123.456, 1 / 3, 6755399441055744];
  for (const x of values) {
    const t = espruinoExactNumberText(x) as string;
    assert.equal(vm.runInNewContext(t), x, t);
    assert.deepEqual(check('var x = ' + t + ';').filter((f) => f.construct === 'number literal'), [], t);
  }
});

test('regex subset: what Espruino runs differently is named', () => {
  assert.deepEqual(checkRegex('^[0-9a-f]+$', 'gi'), []);
  assert.deepEqual(checkRegex('^(\\w+)@(\\w+)$', ''), []);
  const cases: [string, string, RegExp][] = [
    ['a{2}', '', /counted quantifier/],
    ['colou?r', '', /quantifier "\?"/],
    ['a*?b', '', /lazy/],
    ['(?:ab)', '', /\(\?/],
    ['a(?=b)', '', /lookaround/],
    ['(a)\\1', '', /backreference/],
    ['\\bword', '', /backspace/],
    ['(a|b)c', '', /inside a group/],
    ['(ab)+', '', /after a group/],
    ['\\u00e9', '', /\\u/],
    ['a', 'm', /flag "m"/],
  ];
  for (const [p, f, why] of cases) assert.match(checkRegex(p, f).join('; '), why, p);
});

test('CLI prints file:line:col construct: message and exits 1; 0 on clean input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'espruino-check-'));
  try {
    const bad = join(dir, 'bad.js');
    writeFileSync(bad, 'var a = 1;\nvar m = new Map();\n');
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/espruino-check.mjs'), bad], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stdout.trim(), bad + ':2:13 Map: ' + formatFinding({ file: '', line: 0, column: 0, construct: 'Map', message: check('var m = new Map();')[0].message }).slice(':0:0 Map: '.length));
    const good = join(dir, 'good.js');
    writeFileSync(good, 'var a = 1;\n');
    const g = spawnSync(process.execPath, [join(ROOT, 'scripts/espruino-check.mjs'), good], { encoding: 'utf8' });
    assert.equal(g.status, 0);
    assert.equal(g.stdout, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// The hoisting pass

const run = (code: string) => vm.runInNewContext(code, {});

test('hoisting pass: a call above its declaration fails the checker without the pass, passes with it, same result', () => {
  const code = 'var r = f(3);\nfunction f(x) { return g(x) + 1; }\nfunction g(x) { return x * 2; }\nr;';
  // f is used above its declaration, and so (through f's body) is g.
  assert.deepEqual(constructs(code), ['use before declaration@1', 'use before declaration@1']);
  const h = hoistFunctionDeclarations(code) as { code: string; moved: number };
  assert.equal(h.moved, 2);
  assert.deepEqual(constructs(h.code), []);
  assert.equal(run(h.code), run(code));
  assert.equal(run(code), 7);
});

test('hoisting pass: nested bodies, directives, ASI neighbours and comments', () => {
  const code = [
    '"use strict"',
    'var out = outer(2)',
    '// the helper',
    'function outer(n) {',
    "  'use strict';",
    '  var k = inner(n)',
    '  return k',
    '  function inner(x) { return twice(x) + 1; function twice(y) { return y * 2; } }',
    '}',
    'var f = function () { return 10 }',
    'function after() { return 1 }',
    '(f)()',
    'out + f() + after();',
  ].join('\n');
  const h = hoistFunctionDeclarations(code) as { code: string; moved: number };
  assert.deepEqual(constructs(h.code), []);
  assert.equal(run(h.code), run(code));
  assert.equal(run(code), 5 + 10 + 1);
  assert.ok(h.code.includes('// the helper'), 'comments travel with their statement');
  assert.ok(h.code.startsWith('"use strict"'), 'directives stay first');
  assert.equal((hoistFunctionDeclarations(h.code) as { code: string }).code, h.code, 'idempotent');
});

test('hoisting pass leaves code without late declarations byte-identical', () => {
  const code = 'function a() { return 1; }\nvar b = a();\n';
  assert.equal((hoistFunctionDeclarations(code) as { code: string; moved: number }).code, code);
});

test('number pass rewrites inexact literals into exact expressions, same value in JS', () => {
  const code = 'var a = .3, b = -1e-7, c = {0.3: 1}, d = 0.5;\n[a, b, d];';
  const r = repairNumberLiterals(code) as { code: string; repaired: { from: string; to: string }[] };
  assert.deepEqual(r.repaired.map((x) => x.from), ['.3', '1e-7']);
  assert.deepEqual([...run(r.code)], [...run(code)]);
  assert.deepEqual(check(r.code).filter((f) => f.construct === 'number literal'), []);
});

// ---------------------------------------------------------------------------------------------
// The real bundle

test('the real dist/core.js passes the checker', async () => {
  // ensureBundle builds (which runs the checker and throws listing what it found) unless
  // dist/core.js is newer than core, the build script and the checker; then check it here.
  const path = await ensureBundle();
  // The same options as the build: the host interfaces' methods are known members.
  assert.deepEqual(check(readFileSync(path, 'utf8'), 'dist/core.js', { knownMembers: hostMemberNames() }).map(formatFinding), []);
});

test('recursion through calls is not use before declaration; a real one still is', () => {
  // field() and fill() call each other; each call runs a new activation whose locals it makes.
  const mutual =
    'function field(v) { if (typeof v === "object") return fill(v); var out = []; for (var i = 0; i < 2; i++) out.push(i); return out; }\n' +
    'function fill(o) { var out = {}; for (var i in o) out[i] = field(o[i]); return out; }\n' +
    'var r = fill({ a: 1 });';
  assert.deepEqual(constructs(mutual), []);
  const real = 'function f() { return later; }\nvar x = f();\nvar later = 1;';
  assert.deepEqual(constructs(real), ['use before declaration@2']);
});

test('a name `of` is rejected (a keyword to Espruino); `x.of` and `{of: 1}` are not', () => {
  assert.deepEqual(constructs('var of = 1;\nfunction f(of) { return of; }'), ['of@1', 'of@2', 'of@2']);
  assert.deepEqual(constructs('var o = { of: 1 };\nvar p = o.of;'), []);
});
