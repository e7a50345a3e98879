// The Espruino-shaped vm harness is strict: every global, static and method Espruino lacks is
// gone inside it (and present in a plain vm context, so these tests can fail), Math.pow is
// inexact, apply stops at 256 arguments, E and regular expressions behave as measured on the
// real interpreter, and the real bundle loads and exposes DepinCore. The membrane lets one test
// body run against the TypeScript modules and the bundle alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import {
  ESPRUINO_APPLY_MAX_ARGS,
  coreUnderTest,
  createEspruinoContext,
  createMembrane,
  ensureBundle,
  loadBundleInEspruinoVm,
  runInEspruinoVm,
} from '../harness/espruino-vm.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = (name: string) => JSON.parse(readFileSync(join(ROOT, 'test/build/fixtures', name), 'utf8'));
const TYPED = ['Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'Uint8ClampedArray'];

// [code that needs the builtin, what it is]. Each runs fine in a plain vm context.
const USES: [string, string][] = [
  ['BigInt(1)', 'BigInt'],
  ['new Map()', 'Map'],
  ['new Set()', 'Set'],
  ['new WeakMap()', 'WeakMap'],
  ['new WeakSet()', 'WeakSet'],
  ['Symbol("x")', 'Symbol'],
  ['new Proxy({}, {})', 'Proxy'],
  ['Reflect.ownKeys({})', 'Reflect'],
  ['new RangeError("x")', 'RangeError'],
  ['Math.imul(3, 5)', 'Math.imul'],
  ['Math.trunc(1.5)', 'Math.trunc'],
  ['Math.clz32(1)', 'Math.clz32'],
  ['Math.log2(8)', 'Math.log2'],
  ['Math.fround(0.1)', 'Math.fround'],
  ['Number.isInteger(1)', 'Number.isInteger'],
  ['Number.isSafeInteger(1)', 'Number.isSafeInteger'],
  ['Number.MAX_SAFE_INTEGER.toString()', 'Number.MAX_SAFE_INTEGER'],
  ['Array.from("ab")', 'Array.from'],
  ['Array.of(1)', 'Array.of'],
  ...TYPED.map((t): [string, string] => [t + '.from([1])', t + '.from']),
  ...TYPED.map((t): [string, string] => [t + '.of(1)', t + '.of']),
  ['ArrayBuffer.isView(new Uint8Array(1))', 'ArrayBuffer.isView'],
  ['Object.freeze({})', 'Object.freeze'],
  ['Object.is(1, 1)', 'Object.is'],
  ['Promise.race([])', 'Promise.race'],
  ['Promise.allSettled([])', 'Promise.allSettled'],
  ['Promise.any([1])', 'Promise.any'],
  ['Promise.resolve(1).finally(function () {})', 'Promise.prototype.finally'],
  ['Date.UTC(2024, 0, 1)', 'Date.UTC'],
  ['new ArrayBuffer(4).slice(1)', 'ArrayBuffer.prototype.slice'],
  ['[1, 2].at(0)', 'Array.prototype.at'],
  ['"ab".codePointAt(0)', 'String.prototype.codePointAt'],
  ['new Uint8Array(2).at(0)', 'TypedArray.prototype.at'],
];

for (const [code, what] of USES) {
  test('harness has no ' + what + ' (a plain vm context has it)', () => {
    vm.runInNewContext(code);
    assert.throws(() => runInEspruinoVm(code), { name: /^(TypeError|ReferenceError)$/ });
  });
}

test('harness has no TextEncoder / TextDecoder (Node has them)', () => {
  assert.equal(typeof new TextEncoder().encode, 'function');
  assert.throws(() => runInEspruinoVm('new TextEncoder()'), { name: 'ReferenceError' });
  assert.throws(() => runInEspruinoVm('new TextDecoder()'), { name: 'ReferenceError' });
});

test('keep: a test can leave one builtin in place', () => {
  assert.equal(runInEspruinoVm('typeof Map', { keep: ['Map'] }), 'function');
  assert.equal(runInEspruinoVm('Math.imul(3, 5)', { keep: ['Math.imul'] }), 15);
});

test('Number keeps what Espruino has and stays Number', () => {
  const r = runInEspruinoVm('[Number("12") + 1, Number(), new Number(5) instanceof Number, (5).constructor === Number, Number.MAX_VALUE > 1]');
  assert.deepEqual([...(r as unknown[])], [13, 0, true, true, true]);
});

test('what cannot be removed is listed (non-configurable BYTES_PER_ELEMENT)', () => {
  const { stuck, removed } = createEspruinoContext();
  assert.ok(stuck.includes('Uint8Array.BYTES_PER_ELEMENT'));
  assert.ok(stuck.every((s) => s.endsWith('BYTES_PER_ELEMENT')), stuck.join(' '));
  assert.ok(removed.includes('Map') && removed.includes('Promise.prototype.finally'));
});

test('Math.pow is inexact, so a constant built with it is wrong as on Espruino', () => {
  assert.equal(runInEspruinoVm('Math.pow(2, 16) === 65536'), false);
  assert.equal(runInEspruinoVm('Math.abs(Math.pow(2, 16) - 65536) < 1e-9'), true);
  assert.equal(runInEspruinoVm('Math.pow(0, 3)'), 0);
});

test('Function.prototype.apply takes at most 256 arguments, as on Espruino', () => {
  const n = ESPRUINO_APPLY_MAX_ARGS;
  assert.equal(runInEspruinoVm('var a = []; for (var i = 0; i < ' + n + '; i++) a.push(65); String.fromCharCode.apply(null, a).length'), n);
  assert.throws(
    () => runInEspruinoVm('var a = []; for (var i = 0; i < ' + (n + 1) + '; i++) a.push(65); String.fromCharCode.apply(null, a)'),
    /Maximum 256 arguments, got 257/,
  );
});

test('E.convolve reproduces the values measured on Espruino', () => {
  const { cases } = fixture('espruino-convolve.json') as {
    cases: { description: string; a: unknown; b: unknown; offset: number; resultBits: string }[];
  };
  const lit = (v: unknown) =>
    typeof v === 'string' || Array.isArray(v) ? JSON.stringify(v) : 'new ' + (v as { type: string }).type + '(' + JSON.stringify((v as { v: number[] }).v) + ')';
  for (const c of cases) {
    const r = runInEspruinoVm('E.convolve(' + lit(c.a) + ', ' + lit(c.b) + ', ' + c.offset + ')') as number;
    const f = new Float64Array([r]);
    const u = new Uint32Array(f.buffer);
    assert.equal(u[1].toString(16).padStart(8, '0') + u[0].toString(16).padStart(8, '0'), c.resultBits, c.description);
  }
  assert.throws(() => runInEspruinoVm('E.convolve([1], [], 0)'), /empty second array/);
});

test('E.toString / E.toUint8Array keep the low byte of each element (as measured)', () => {
  // Espruino 2v29: E.toString([65,66],"C",68) -> "ABCD"; E.toUint8Array("ab",[256+67],[1,2]) -> [97,98,67,1,2]
  assert.equal(runInEspruinoVm('E.toString([65, 66], "C", 68)'), 'ABCD');
  assert.equal(runInEspruinoVm('E.toString(new Uint8Array([104, 105, 0, 255])).length'), 4);
  assert.equal(runInEspruinoVm('Array.prototype.join.call(E.toUint8Array("ab", [256 + 67], [1, 2]), ",")'), '97,98,67,1,2');
});

test("regular expressions follow Espruino's matcher (measured cases)", () => {
  const { cases } = fixture('espruino-regex.json') as { cases: { expr: string; result?: unknown; throws?: string }[] };
  let differsFromV8 = 0;
  for (const c of cases) {
    if (c.throws !== undefined) continue; // lexer-level: the checker's job (V8 parses the literal)
    assert.deepEqual(JSON.parse(JSON.stringify(runInEspruinoVm(c.expr)) ?? 'null'), c.result, c.expr);
    if (JSON.stringify(vm.runInNewContext(c.expr)) !== JSON.stringify(c.result)) differsFromV8++;
  }
  assert.ok(differsFromV8 >= 5, 'the fixture pins cases where Espruino and V8 disagree');
});

// ---------------------------------------------------------------------------------------------

test('the real bundle loads and exposes DepinCore with the exports of firmware/core/index.ts', async () => {
  const { core } = loadBundleInEspruinoVm(await ensureBundle());
  const ts = await import('../../firmware/core/index.js');
  assert.deepEqual(Object.keys(core).sort(), Object.keys(ts).sort());
});

test('membrane: typed arrays, arrays, errors, callbacks and instances cross both ways', () => {
  const { context } = createEspruinoContext();
  vm.runInContext(
    'var lib = { sum: function (u) { var s = 0; for (var i = 0; i < u.length; i++) s += u[i]; return s; },' +
      ' fill: function (u) { for (var i = 0; i < u.length; i++) u[i] = 7; return u; },' +
      ' make: function () { return { list: [1, 2], bytes: new Uint8Array([9]) }; },' +
      ' fail: function () { var e = new TypeError("bad"); e.code = "E_X"; throw e; },' +
      ' call: function (f) { return f(new Uint8Array([1, 2])) + 1; },' +
      ' isU8: function (u) { return u instanceof Uint8Array; },' +
      ' K: function K(v) { this.v = v; } };' +
      'lib.K.prototype.get = function () { return this.v; };',
    context,
  );
  const lib = createMembrane(context).fromVm(vm.runInContext('lib', context));
  assert.equal(lib.sum(new Uint8Array([1, 2, 3])), 6);
  assert.equal(lib.isU8(new Uint8Array(1)), true, 'arrives as the vm realm Uint8Array');
  const buf = new Uint8Array(2);
  assert.equal(lib.fill(buf), buf, 'in-place fill is copied back, same array returned');
  assert.deepEqual(buf, new Uint8Array([7, 7]));
  assert.deepEqual(lib.make(), { list: [1, 2], bytes: new Uint8Array([9]) });
  assert.throws(() => lib.fail(), (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'E_X' && e.message === 'bad');
  assert.equal(lib.call((u: Uint8Array) => (assert.ok(u instanceof Uint8Array), u.length)), 3);
  const k = new lib.K(4);
  assert.ok(k instanceof lib.K);
  assert.equal(k.get(), 4);
});

test('coreUnderTest: the TypeScript modules by default, a bundle with CORE=bundle, an error otherwise', async () => {
  const ts = await coreUnderTest({});
  assert.equal(ts, await import('../../firmware/core/index.js'));
  await assert.rejects(coreUnderTest({ CORE: 'wasm' }), /CORE expected "ts" or "bundle", got "wasm"/);
  const b = await coreUnderTest({ CORE: 'bundle' });
  assert.notEqual(b, ts);
  assert.deepEqual(Object.keys(b).sort(), Object.keys(ts).sort());
  assert.deepEqual(b.fromHex('0aff'), ts.fromHex('0aff'));
  assert.equal(b.toHex(new Uint8Array([1, 254])), '01fe');
});

test('typed slice() and filter() return plain Arrays, as Espruino 2v29 does', () => {
  const r = runInEspruinoVm(
    'var a = new Uint8Array([1,2,3]).slice(1); var f = new Uint8Array([1,2,3]).filter(function (x) { return x > 1; });' +
      '[a instanceof Uint8Array, Array.isArray(a), a.length, a[0], Array.isArray(f), [1,2,3].slice(1).length].join()',
  );
  assert.equal(r, 'false,true,2,2,true,2');
});
