// A Node `vm` context shaped like Espruino 2v29, for running the device bundle in-process.
//
// The prelude runs inside the context before anything else and removes what Espruino lacks,
// from the same table the static checker uses (ESPRUINO_BUILTINS in scripts/espruino-check.mjs,
// probed on a real interpreter): globals (Map, Set, Symbol, BigInt, RangeError, ...), statics
// (Math.imul, Number.isInteger, Array.from, every TypedArray.from/of, ...), and instance methods
// (Promise.prototype.finally, ArrayBuffer.prototype.slice, Array.prototype.at, ...). It then
// makes Espruino's quirks bite: Math.pow is inexact, Function.prototype.apply refuses more than
// 256 arguments, and `E` offers toString / toUint8Array / convolve with Espruino's semantics.
// What cannot be imitated here: typed arrays throwing on a missing member, no hoisting (the
// checker covers it), Error subclasses losing `message`, speed and memory.
//
// Three ways in:
// - runInEspruinoVm(code): runs a script in a fresh context and returns its completion value
//   (a value of the vm realm: compare with assert.equal or by fields, not deepStrictEqual).
// - loadBundleInEspruinoVm(path): runs dist/core.js, returns the raw DepinCore and the context.
// - coreUnderTest(): what core tests should import. By default the TypeScript modules; with
//   CORE=bundle the built bundle in this context (rebuilt when older than firmware/core), seen
//   through a membrane that copies typed arrays, arrays and errors across realms and wraps
//   functions and objects, so the same test body runs against both:
//
//     import { coreUnderTest } from '../harness/espruino-vm.js';
//     const core = await coreUnderTest();
//     test('...', () => assert.deepEqual(core.fromHex('0a'), new Uint8Array([10])));
//
//   CORE=bundle node --import tsx --test test/crypto/hashes.test.ts
//   Errors cross as main-realm errors of the same name when Node has it, else Error (so a
//   RangeError fallback shows up as Error): assert on `code`. Typed arrays passed in are copied
//   in and, after the call, copied back (so in-place fills are seen).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { types } from 'node:util';
import vm from 'node:vm';
import { ESPRUINO_BUILTINS } from '../../scripts/espruino-check.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Builtins {
  globals: string[];
  statics: Record<string, string[]>;
  instanceMissing: Record<string, string[]>;
}
const B = ESPRUINO_BUILTINS as Builtins;

export interface EspruinoVmOptions {
  /** Names the prelude should leave in place: a global (`RangeError`), a static (`Math.imul`) or a method (`Promise.prototype.finally`). */
  keep?: string[];
  /** Extra globals defined in the context after the prelude. */
  globals?: Record<string, unknown>;
  /** File name for stack traces. */
  filename?: string;
}

/** Espruino's cap on arguments passed through Function.prototype.apply (jsparse.c). */
export const ESPRUINO_APPLY_MAX_ARGS = 256;
/** Relative error Math.pow gets here, so a constant built with it is wrong as on the device. */
export const POW_ERROR = 1e-15;

// Runs inside the context. Everything it needs is captured before it deletes anything.
const PRELUDE = String.raw`(function (B, keep, APPLY_MAX, POW_ERROR) {
  'use strict';
  var g = globalThis;
  var kept = function (k) { return keep.indexOf(k) >= 0; };
  var gOPN = Object.getOwnPropertyNames, gOPD = Object.getOwnPropertyDescriptor, dP = Object.defineProperty;
  var construct = Reflect.construct, apply = Reflect.apply, exactPow = Math.pow;
  var removed = [], stuck = [];
  var del = function (o, k, label) {
    if (kept(label)) return;
    var d = gOPD(o, k);
    if (!d) return;
    if (!d.configurable) { stuck.push(label); return; }
    delete o[k];
    removed.push(label);
  };
  var TA = Object.getPrototypeOf(Uint8Array);
  // Constructors first (Number needs Reflect.construct, captured above).
  // Number's constants are non-configurable: swap in a Number that has only Espruino's.
  if (!kept('Number')) {
    var N0 = Number;
    var NumberE = function Number(v) {
      if (new.target) return construct(N0, arguments, new.target);
      return arguments.length ? N0(v) : 0;
    };
    NumberE.prototype = N0.prototype;
    dP(N0.prototype, 'constructor', { value: NumberE, writable: true, configurable: true, enumerable: false });
    gOPN(N0).forEach(function (k) {
      if (k === 'length' || k === 'name' || k === 'prototype') return;
      if (B.statics.Number.indexOf(k) >= 0 || kept('Number.' + k)) dP(NumberE, k, gOPD(N0, k));
      else removed.push('Number.' + k);
    });
    g.Number = NumberE;
  }
  // Statics of the globals Espruino keeps.
  Object.keys(B.statics).forEach(function (n) {
    if (n === 'Number' || !g[n]) return;
    gOPN(g[n]).forEach(function (k) {
      if (k === 'length' || k === 'name' || k === 'prototype' || B.statics[n].indexOf(k) >= 0) return;
      del(g[n], k, n + '.' + k);
    });
  });
  ['Function', 'Boolean', 'RegExp', 'Error', 'TypeError', 'SyntaxError', 'ReferenceError', 'ArrayBuffer', 'DataView', 'Uint8Array',
    'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'Uint8ClampedArray'].forEach(function (n) {
    gOPN(g[n]).forEach(function (k) {
      if (k !== 'length' && k !== 'name' && k !== 'prototype') del(g[n], k, n + '.' + k);
    });
  });
  gOPN(TA).forEach(function (k) {
    if (k !== 'length' && k !== 'name' && k !== 'prototype') del(TA, k, 'TypedArray.' + k);
  });
  // Instance members. RegExp accessors stay: V8's own String.prototype.replace/split read them.
  Object.keys(B.instanceMissing).forEach(function (n) {
    if (n === 'RegExp') return;
    var typed = /Array$/.test(n) && n !== 'Array';
    B.instanceMissing[n].forEach(function (k) {
      del(g[n].prototype, k, n + '.prototype.' + k);
      if (typed) del(TA.prototype, k, 'TypedArray.prototype.' + k);
    });
  });
  // Globals last.
  gOPN(g).forEach(function (k) {
    if (B.globals.indexOf(k) >= 0 || k === 'globalThis') return;
    del(g, k, k);
  });
  ['TextEncoder', 'TextDecoder'].forEach(function (k) { if (k in g) del(g, k, k); });

  // Quirks.
  if (!kept('Math.pow'))
    Math.pow = function pow(x, y) {
      var r = exactPow(x, y);
      return r === 0 || r !== r || r === Infinity || r === -Infinity ? r : r * (1 + POW_ERROR);
    };
  var apply0 = Function.prototype.apply;
  if (!kept('Function.prototype.apply'))
    dP(Function.prototype, 'apply', { writable: true, configurable: true, enumerable: false, value: function apply(thisArg, args) {
      if (args !== null && args !== undefined && args.length > APPLY_MAX)
        throw new Error('Array passed to Function.apply is too big! Maximum ' + APPLY_MAX + ' arguments, got ' + args.length);
      return apply0.call(this, thisArg, args);
    } });

  // A typed array's slice() and filter() return plain Arrays in Espruino 2v29 (measured on the
  // interpreter): code that slices bytes and passes the result on as a Uint8Array breaks there.
  if (!kept('TypedArray.prototype.slice')) {
    var TA = Object.getPrototypeOf(Uint8Array.prototype);
    var aslice = Array.prototype.slice, afilter = Array.prototype.filter;
    dP(TA, 'slice', { writable: true, configurable: true, enumerable: false, value: function slice(a, b) { return apply(aslice, this, [a, b]); } });
    dP(TA, 'filter', { writable: true, configurable: true, enumerable: false, value: function filter(f, t) { return apply(afilter, this, [f, t]); } });
  }

  // Regular expressions run by a port of Espruino's matcher (src/jswrap_regexp.c: match,
  // matchhere, matchcharacter, nomatchfound) instead of V8's, through exec/test and the
  // RegExp branches of String.prototype.match/replace/replaceAll/split (src/jswrap_string.c).
  // Characters are compared as C chars (signed bytes), as on a build without Unicode support.
  if (!kept('RegExp')) {
    var NO_RANGE = 256, MAX_GROUPS = 9;
    var chr = function (s, i) { if (i >= s.length) return 0; var c = s.charCodeAt(i) & 255; return c > 127 ? c - 256 : c; };
    var isNum = function (c) { return c >= 48 && c <= 57; };
    var isAlpha = function (c) { return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95; };
    var isWs = function (c) { return c === 9 || c === 11 || c === 12 || c === 32 || c === 10 || c === 13; };
    var lower = function (c) { var u = c & 255; return (u >= 65 && u <= 90) || (u >= 192 && u <= 214) || (u >= 216 && u <= 222) ? c + 32 : c; };
    var hexv = function (c) { c &= 255; return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : 0; };
    var copyInfo = function (x) { return { src: x.src, startIndex: x.startIndex, ignoreCase: x.ignoreCase, rangeMatch: x.rangeMatch,
      rangeFirstChar: x.rangeFirstChar, groups: x.groups, groupStart: x.groupStart.slice(), groupEnd: x.groupEnd.slice() }; };
    var matchfound = function (txt, info) {
      var m = [info.src.substr(info.startIndex, txt.i - info.startIndex)];
      for (var i = 0; i < info.groups; i++) m.push(info.src.substr(info.groupStart[i], info.groupEnd[i] - info.groupStart[i]));
      m.index = info.startIndex;
      m.input = info.src;
      return m;
    };
    var nomatchfound = function (re, ri, info) {
      while (ri < re.length && re[ri] !== '|') {
        if (re[ri] === '\\') { ri++; if (ri >= re.length) return null; }
        ri++;
      }
      if (re[ri] !== '|') return null;
      return matchhere(re, ri + 1, { i: info.startIndex }, copyInfo(info));
    };
    var matchcharacter = function (re, ri, txt, info) { // -> [matched, length]
      var len = 1, ch = chr(info.src, txt.i);
      if (re[ri] === '.') return [true, len];
      if (re[ri] === '[') {
        info.rangeMatch = true;
        var inverted = re[ri + 1] === '^';
        if (inverted) len++;
        var any = false;
        while (ri + len < re.length && re[ri + len] !== ']') {
          if (re[ri + len] === '.') { any = any || ch === 46; len++; }
          else { var r = matchcharacter(re, ri + len, txt, info); any = any || r[0]; len += r[1]; }
        }
        if (re[ri + len] === ']') len++;
        else throw new Error('Unfinished character set in RegEx');
        info.rangeMatch = false;
        return [any !== inverted, len];
      }
      var cH = chr(re, ri);
      if (re[ri] === '\\') {
        len = 2;
        var e = re[ri + 1];
        cH = chr(re, ri + 1);
        if (e === 'd') return [isNum(ch), len];
        if (e === 'D') return [!isNum(ch), len];
        if (e === 's') return [isWs(ch), len];
        if (e === 'S') return [!isWs(ch), len];
        if (e === 'w') return [isNum(ch) || isAlpha(ch), len];
        if (e === 'W') return [!(isNum(ch) || isAlpha(ch)), len];
        if (e === 'f') cH = 12; else if (e === 'b') cH = 8; else if (e === 'n') cH = 10; else if (e === 'r') cH = 13;
        else if (e === 't') cH = 9; else if (e === 'v') cH = 11; else if (e === '0') cH = 0;
        else if (e >= '1' && e <= '9') throw new Error('Backreferences not supported');
        else if (e === 'x' && ri + 3 < re.length) { len = 4; cH = (hexv(chr(re, ri + 2)) << 4) | hexv(chr(re, ri + 3)); if (cH > 127) cH -= 256; }
      }
      if (info.rangeMatch && re[ri + len] === '-' && re[ri + 1 + len] !== ']') {
        info.rangeFirstChar = cH;
        len++;
        var r2 = matchcharacter(re, ri + len, txt, info);
        return [r2[0], len + r2[1]];
      }
      if (info.ignoreCase) { ch = lower(ch); cH = lower(cH); }
      if (info.rangeFirstChar !== NO_RANGE) {
        var cL = info.rangeFirstChar;
        if (info.ignoreCase) cL = lower(cL);
        info.rangeFirstChar = NO_RANGE;
        return [ch >= cL && ch <= cH && cL < cH, len];
      }
      return [cH === ch, len];
    };
    var matchhere = function (re, ri, txt, info) {
      if (ri >= re.length || re[ri] === '|') return matchfound(txt, info);
      if (re[ri] === '^') {
        if (txt.i !== 0) return null;
        return matchhere(re, ri + 1, txt, info);
      }
      if (re[ri] === '$') {
        if (txt.i >= info.src.length) return matchhere(re, ri + 1, txt, info);
        return nomatchfound(re, ri + 1, info);
      }
      if (re[ri] === '(') {
        info.groupStart[info.groups] = txt.i;
        info.groupEnd[info.groups] = txt.i;
        if (info.groups < MAX_GROUPS) info.groups++;
        return matchhere(re, ri + 1, txt, copyInfo(info));
      }
      if (re[ri] === ')') {
        if (info.groups > 0) info.groupEnd[info.groups - 1] = txt.i;
        return matchhere(re, ri + 1, txt, copyInfo(info));
      }
      var r = matchcharacter(re, ri, txt, info), matched = r[0], clen = r[1];
      var op = re[ri + clen];
      if (op === '*' || op === '+') {
        if (!matched && op === '+') return nomatchfound(re, ri + clen + 1, info);
        var after = ri + clen + 1;
        var last = matchhere(re, after, { i: txt.i }, copyInfo(info));
        while (txt.i < info.src.length && matched) {
          txt.i++;
          r = matchcharacter(re, ri, txt, info);
          matched = r[0];
          var m = matchhere(re, after, { i: txt.i }, copyInfo(info));
          if (m) last = m;
        }
        return last;
      }
      if (txt.i < info.src.length && matched) {
        txt.i++;
        return matchhere(re, ri + clen, txt, copyInfo(info));
      }
      return nomatchfound(re, ri + clen, info);
    };
    var espMatch = function (re, str, start, ignoreCase) {
      var info = { src: str, startIndex: start, ignoreCase: ignoreCase, rangeMatch: false, rangeFirstChar: NO_RANGE, groups: 0, groupStart: [], groupEnd: [] };
      var txt = { i: start };
      var m = matchhere(re, 0, { i: txt.i }, copyInfo(info));
      txt.i++;
      while (!m && txt.i < str.length) { // Espruino never starts a match at the very end
        info.startIndex++;
        m = matchhere(re, 0, { i: txt.i }, copyInfo(info));
        txt.i++;
      }
      return m;
    };
    var RP = RegExp.prototype, SP = String.prototype;
    var flagsOf = gOPD(RP, 'flags').get, sourceOf = gOPD(RP, 'source').get;
    var hasFlag = function (re, f) { return flagsOf.call(re).indexOf(f) >= 0; };
    // Espruino's shortcut for "plain characters then $" (ESPR_NO_REGEX_OPTIMISE is unset on
    // ESP32): a string compare at the end, ignoring flags and not updating lastIndex.
    var endsWithOf = function (src) {
      var ch = '', noControl = true, buf = '';
      for (var i = 0; i < src.length; i++) {
        var wasSlash = ch === '\\';
        if (ch && '.[]()|^*+$'.indexOf(ch) >= 0) noControl = false;
        ch = src[i];
        if (wasSlash && '.\\'.indexOf(ch) < 0) { noControl = false; ch = ''; }
        if (ch && (wasSlash || ch !== '\\') && buf.length < 32) buf += ch;
        if (wasSlash) ch = '';
      }
      return ch === '$' && noControl && buf.length < 32 ? buf.slice(0, -1) : undefined;
    };
    var exec = function exec(arg) {
      var str = String(arg), li = this.lastIndex | 0, src = sourceOf.call(this);
      var ew = endsWithOf(src);
      if (ew !== undefined) {
        var idx = str.length - ew.length;
        if (li <= idx && str.substr(idx) === ew) { var r = [ew]; r.index = idx; r.input = str; return r; }
      }
      if (li > str.length) return null;
      var m = espMatch(src, str, li, hasFlag(this, 'i'));
      if (!m) li = 0;
      else li = hasFlag(this, 'g') ? m.index + m[0].length : 0;
      this.lastIndex = li;
      return m;
    };
    var fix = function (o, k, v) { dP(o, k, { value: v, writable: true, configurable: true, enumerable: false }); };
    fix(RP, 'exec', exec);
    fix(RP, 'test', function test(s) { var v = exec.call(this, s); return !!v; });
    var match0 = SP.match, replace0 = SP.replace, replaceAll0 = SP.replaceAll, split0 = SP.split;
    fix(SP, 'match', function match(re) {
      if (!(re instanceof RegExp)) return match0.apply(this, arguments);
      var s = String(this);
      re.lastIndex = 0;
      var m = exec.call(re, s);
      if (!hasFlag(re, 'g')) return m;
      var out = [];
      while (m) {
        out.push(m[0]);
        re.lastIndex = m.index + m[0].length + (m[0].length ? 0 : 1);
        m = exec.call(re, s);
      }
      re.lastIndex = 0;
      return out;
    });
    var replaceRe = function (s, re, rep, all) {
      var global = all || hasFlag(re, 'g'), out = '', last = 0;
      re.lastIndex = 0;
      var m = exec.call(re, s);
      while (m) {
        out += s.substring(last, m.index);
        if (typeof rep === 'function') {
          var args = m.slice(0, 11);
          args.push(m.index, m.input);
          out += String(apply(rep, undefined, args));
        } else {
          var t = String(rep);
          for (var i = 0; i < t.length; i++) {
            var c = t[i];
            if (c === '$') {
              c = t[++i] === undefined ? '' : t[i];
              var grp = c > '0' && c <= '9' ? m[+c] : undefined;
              out += grp !== undefined ? grp : '$' + c;
            } else out += c;
          }
        }
        var len = m[0].length;
        last = m.index + len;
        m = null;
        if (global) {
          re.lastIndex = last + (len ? 0 : 1);
          m = exec.call(re, s);
        }
      }
      if (global) re.lastIndex = 0;
      return out + s.substring(last);
    };
    fix(SP, 'replace', function replace(re, rep) {
      return re instanceof RegExp ? replaceRe(String(this), re, rep, false) : replace0.apply(this, arguments);
    });
    if (replaceAll0)
      fix(SP, 'replaceAll', function replaceAll(re, rep) {
        return re instanceof RegExp ? replaceRe(String(this), re, rep, true) : replaceAll0.apply(this, arguments);
      });
    fix(SP, 'split', function split(re) {
      if (!(re instanceof RegExp)) return split0.apply(this, arguments);
      var s = String(this), out = [], last = 0;
      re.lastIndex = 0;
      var m = exec.call(re, s), guard = 0;
      while (m) {
        out.push(s.substring(last, m.index));
        last = m.index + m[0].length;
        re.lastIndex = last;
        // Espruino loops forever on an empty match; stop and say so instead.
        if (++guard > s.length + 1) throw new Error('split: empty regex match loops forever on Espruino');
        m = exec.call(re, s);
      }
      re.lastIndex = 0;
      if (last <= s.length) out.push(s.substring(last));
      return out;
    });
  }

  // E: the Espruino helpers core's platform code reaches for (src/jswrap_espruino.c).
  var bytesOf = function (args) {
    var out = [];
    var add = function (v) {
      if (typeof v === 'number') out.push(v & 255);
      else if (typeof v === 'string') for (var i = 0; i < v.length; i++) out.push(v.charCodeAt(i) & 255);
      else if (v instanceof ArrayBuffer) add(new Uint8Array(v));
      else if (v && typeof v.length === 'number') for (var j = 0; j < v.length; j++) add(v[j]);
      else if (v && typeof v === 'object' && 'data' in v) { var c = v.count === undefined ? 1 : v.count; while (c-- > 0) add(v.data); }
      else throw new Error('E: cannot turn ' + typeof v + ' into bytes');
    };
    for (var i = 0; i < args.length; i++) add(args[i]);
    return out;
  };
  var asNumbers = function (v) {
    if (typeof v === 'string') return { length: v.length, at: function (i) { return v.charCodeAt(i); } };
    if (v instanceof ArrayBuffer) v = new Uint8Array(v);
    if (!v || typeof v.length !== 'number') throw new Error('Expecting first 2 arguments to be iterable');
    return { length: v.length, at: function (i) { return +v[i]; } };
  };
  g.E = {
    toString: function () {
      var b = bytesOf(arguments), s = '';
      for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
      return s;
    },
    toUint8Array: function () {
      var b = bytesOf(arguments), u = new Uint8Array(b.length);
      for (var i = 0; i < b.length; i++) u[i] = b[i];
      return u;
    },
    // Sum over i of a[i] * b[(i + offset) mod b.length] in double precision, offset taken
    // modulo the length (negative too), as jswrap_espruino_convolve does. An empty b divides
    // by zero in C (the interpreter dies); here it throws.
    convolve: function (a, b, offset) {
      var A = asNumbers(a), Bv = asNumbers(b), n = Bv.length;
      if (n === 0) throw new Error('E.convolve: empty second array (divides by zero on Espruino)');
      var o = (offset | 0) % n;
      if (o < 0) o += n;
      var v = 0;
      for (var i = 0; i < A.length; i++) { v += A.at(i) * Bv.at(o); if (++o === n) o = 0; }
      return v;
    },
  };
  return { removed: removed, stuck: stuck };
})`;

export interface EspruinoContext {
  context: vm.Context;
  /** What the prelude deleted, and what it could not (non-configurable: e.g. Uint8Array.BYTES_PER_ELEMENT). */
  removed: string[];
  stuck: string[];
}

/** A fresh context with the prelude run. */
export function createEspruinoContext(opts: EspruinoVmOptions = {}): EspruinoContext {
  const context = vm.createContext({});
  // The table crosses as JSON so the prelude works with arrays of its own realm.
  const fn = vm.runInContext(PRELUDE, context, { filename: 'espruino-prelude.js' }) as (...a: unknown[]) => { removed: string[]; stuck: string[] };
  const tables = vm.runInContext('JSON.parse', context)(JSON.stringify({ globals: B.globals, statics: B.statics, instanceMissing: B.instanceMissing }));
  const keep = vm.runInContext('JSON.parse', context)(JSON.stringify(opts.keep ?? []));
  const r = fn(tables, keep, ESPRUINO_APPLY_MAX_ARGS, POW_ERROR);
  const g = vm.runInContext('globalThis', context) as Record<string, unknown>;
  for (const k of Object.keys(opts.globals ?? {})) g[k] = opts.globals![k];
  return { context, removed: [...r.removed], stuck: [...r.stuck] };
}

/** Runs `code` as a script in a fresh Espruino-shaped context; returns its completion value. */
export function runInEspruinoVm(code: string, opts: EspruinoVmOptions = {}): unknown {
  const { context } = createEspruinoContext(opts);
  return vm.runInContext(code, context, { filename: opts.filename ?? 'espruino-vm.js' });
}

/** Runs the bundle (default dist/core.js) in a fresh context; `core` is its raw DepinCore. */
export function loadBundleInEspruinoVm(path = join(ROOT, 'dist/core.js'), opts: EspruinoVmOptions = {}) {
  const ctx = createEspruinoContext(opts);
  const code = readFileSync(path, 'utf8');
  vm.runInContext(code, ctx.context, { filename: opts.filename ?? path });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const core = vm.runInContext('typeof DepinCore === "undefined" ? undefined : DepinCore', ctx.context) as any;
  if (core === undefined || core === null) throw new Error(path + ' ran but defined no DepinCore global');
  return { core, context: ctx.context, removed: ctx.removed, stuck: ctx.stuck };
}

// ---------------------------------------------------------------------------------------------
// The membrane: values of the vm realm seen from the test's realm and back.

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

/** Wraps the vm realm of `context` so its values can be used from Node code and vice versa. */
export function createMembrane(context: vm.Context) {
  const G = vm.runInContext('globalThis', context) as Any;
  const vmOf = new WeakMap<object, object>(); // main wrapper -> vm original
  const mainOf = new WeakMap<object, object>(); // vm wrapper -> main original
  const mainCache = new WeakMap<object, object>(); // vm original -> main wrapper
  const vmCache = new WeakMap<object, object>(); // main original -> vm wrapper
  const makeVmFunction = vm.runInContext(
    '(function (bridge) { return function () { return bridge(this, arguments); }; })', context) as (b: Any) => Any;
  const vmObjectProto = G.Object.prototype;
  const vmFunctionProto = G.Function.prototype;
  const typedName = (v: object) => Object.prototype.toString.call(v).slice(8, -1);

  const isObj = (v: unknown): v is object => (typeof v === 'object' && v !== null) || typeof v === 'function';
  const fromVmList = (a: ArrayLike<unknown>) => Array.prototype.map.call(a, (x) => fromVm(x)) as unknown[];

  function errorTo(e: Any, ctors: Any, conv: (x: unknown) => unknown): Any {
    const C = typeof ctors[e.name] === 'function' && /Error$/.test(e.name) ? ctors[e.name] : ctors.Error;
    const out = new C(e.message);
    for (const k of Object.keys(e)) out[k] = conv(e[k]);
    try {
      Object.defineProperty(out, 'stack', { value: e.stack, configurable: true, writable: true });
    } catch {
      /* keep the local stack */
    }
    return out;
  }

  function fromVm(v: unknown): Any {
    if (!isObj(v)) return v;
    if (mainOf.has(v)) return mainOf.get(v);
    if (types.isTypedArray(v)) return new (globalThis as Any)[typedName(v)](v);
    if (types.isArrayBuffer(v)) return new Uint8Array(v as ArrayBuffer).slice().buffer;
    if (types.isDataView(v)) {
      const d = v as DataView;
      return new DataView(new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice().buffer);
    }
    if (types.isPromise(v)) return new Promise((res, rej) => (v as Promise<unknown>).then((x) => res(fromVm(x)), (e) => rej(fromVm(e))));
    if (types.isNativeError(v)) return errorTo(v, globalThis, fromVm);
    if (Array.isArray(v)) return fromVmList(v);
    const hit = mainCache.get(v);
    if (hit) return hit;
    const w = typeof v === 'function' ? wrapVmFunction(v as Any) : wrapVmObject(v);
    mainCache.set(v, w);
    vmOf.set(w, v);
    return w;
  }

  function toVm(v: unknown, copies?: [Any, Any][]): Any {
    if (!isObj(v)) return v;
    if (vmOf.has(v)) return vmOf.get(v);
    if (types.isTypedArray(v)) {
      const c = new G[typedName(v)](v);
      if (copies) copies.push([v, c]);
      return c;
    }
    if (types.isArrayBuffer(v)) return new G.Uint8Array(new Uint8Array(v as ArrayBuffer)).buffer;
    if (types.isPromise(v)) return new G.Promise((res: Any, rej: Any) => (v as Promise<unknown>).then((x) => res(toVm(x)), (e) => rej(toVm(e))));
    if (types.isNativeError(v)) return errorTo(v, G, (x) => toVm(x));
    if (Array.isArray(v)) {
      const a = new G.Array();
      for (let i = 0; i < v.length; i++) a[i] = toVm(v[i], copies);
      return a;
    }
    const hit = vmCache.get(v);
    if (hit) return hit;
    const w = typeof v === 'function' ? wrapMainFunction(v as Any) : wrapMainObject(v);
    vmCache.set(v, w);
    mainOf.set(w, v);
    return w;
  }

  // Calls a vm function with converted arguments; typed arrays passed in are copied back after.
  function callVm(fn: Any, thisArg: unknown, args: unknown[], newTarget?: Any) {
    const copies: [Any, Any][] = [];
    const vargs = new G.Array();
    for (let i = 0; i < args.length; i++) vargs[i] = toVm(args[i], copies);
    let r: unknown;
    try {
      r = newTarget ? Reflect.construct(fn, vargs, vmOf.get(newTarget) ?? fn) : Reflect.apply(fn, toVm(thisArg), vargs);
    } catch (e) {
      throw fromVm(e);
    } finally {
      for (const [m, c] of copies) if (m.length === c.length) m.set(c);
    }
    for (const [m, c] of copies) if (r === c) return m;
    return fromVm(r);
  }

  function wrapVmFunction(fn: Any): Any {
    return new Proxy(fn, {
      apply: (_t, thisArg, args) => callVm(fn, thisArg, args),
      construct: (_t, args, nt) => callVm(fn, undefined, args, nt),
      get: (t, k) => {
        if (typeof k === 'symbol') return Reflect.get(Function.prototype, k);
        const d = Reflect.getOwnPropertyDescriptor(t, k);
        if (d && !d.configurable && !d.writable && 'value' in d) return d.value;
        return fromVm(Reflect.get(t, k));
      },
      set: (t, k, v) => Reflect.set(t, k, toVm(v)),
      getPrototypeOf: () => Function.prototype,
    });
  }

  function wrapVmObject(o: Any): Any {
    return new Proxy(o, {
      get: (t, k) => {
        if (typeof k === 'symbol') return undefined;
        const d = Reflect.getOwnPropertyDescriptor(t, k);
        if (d && !d.configurable && !d.writable && 'value' in d) return d.value;
        return fromVm(Reflect.get(t, k));
      },
      set: (t, k, v) => Reflect.set(t, k, toVm(v)),
      getOwnPropertyDescriptor: (t, k) => {
        const d = Reflect.getOwnPropertyDescriptor(t, k);
        if (!d || !d.configurable || !('value' in d)) return d;
        return { ...d, value: fromVm(d.value) };
      },
      defineProperty: (t, k, d) => Reflect.defineProperty(t, k, 'value' in d ? { ...d, value: toVm(d.value) } : d),
      getPrototypeOf: (t) => {
        const p = Reflect.getPrototypeOf(t);
        if (p === null) return null;
        if (p === vmObjectProto) return Object.prototype;
        if (p === vmFunctionProto) return Function.prototype;
        return fromVm(p);
      },
    });
  }

  function wrapMainFunction(fn: Any): Any {
    return makeVmFunction((thisArg: unknown, args: ArrayLike<unknown>) => {
      try {
        return toVm(Reflect.apply(fn, fromVm(thisArg), fromVmList(args)));
      } catch (e) {
        throw toVm(e);
      }
    });
  }

  function wrapMainObject(o: Any): Any {
    return new Proxy(o, {
      get: (t, k) => (typeof k === 'symbol' ? undefined : toVm(Reflect.get(t, k))),
      set: (t, k, v) => Reflect.set(t, k, fromVm(v)),
      getOwnPropertyDescriptor: (t, k) => {
        const d = Reflect.getOwnPropertyDescriptor(t, k);
        if (!d || !d.configurable || !('value' in d)) return d;
        return { ...d, value: toVm(d.value) };
      },
      defineProperty: (t, k, d) => Reflect.defineProperty(t, k, 'value' in d ? { ...d, value: fromVm(d.value) } : d),
      getPrototypeOf: (t) => {
        const p = Reflect.getPrototypeOf(t);
        if (p === null) return null;
        if (p === Object.prototype) return vmObjectProto;
        if (p === Function.prototype) return vmFunctionProto;
        return toVm(p);
      },
    });
  }

  return { fromVm, toVm };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---------------------------------------------------------------------------------------------
// coreUnderTest

type Core = typeof import('../../firmware/core/index.js');

function newestMtime(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newestMtime(p) : name.endsWith('.ts') ? st.mtimeMs : 0);
  }
  return t;
}

/**
 * Path of dist/core.js, built first when it is missing or older than anything it is made from
 * (firmware/core/**\/*.ts, the build script, the checker). Tests share one build this way.
 */
export async function ensureBundle(): Promise<string> {
  const path = join(ROOT, 'dist/core.js');
  const inputs = Math.max(
    newestMtime(join(ROOT, 'firmware/core')),
    statSync(join(ROOT, 'scripts/build-firmware.mjs')).mtimeMs,
    statSync(join(ROOT, 'scripts/espruino-check.mjs')).mtimeMs,
  );
  let fresh = false;
  try {
    fresh = statSync(path).mtimeMs >= inputs;
  } catch {
    fresh = false;
  }
  if (!fresh) {
    const { buildFirmware } = await import('../../scripts/build-firmware.mjs');
    await buildFirmware({});
  }
  return path;
}

const bundled = new Map<string, Promise<Core>>();

/**
 * The core to test: the TypeScript modules, or with CORE=bundle the device bundle running in
 * an Espruino-shaped vm context (see ensureBundle; CORE_BUNDLE names another bundle file and
 * skips the build).
 */
export function coreUnderTest(env: NodeJS.ProcessEnv = process.env): Promise<Core> {
  const mode = (env.CORE ?? 'ts').trim();
  if (mode === '' || mode === 'ts') return import('../../firmware/core/index.js');
  if (mode !== 'bundle') return Promise.reject(new Error('CORE expected "ts" or "bundle", got ' + JSON.stringify(mode)));
  const key = env.CORE_BUNDLE || '';
  if (!bundled.has(key)) bundled.set(key, (async () => {
    const path = env.CORE_BUNDLE || (await ensureBundle());
    const { core, context } = loadBundleInEspruinoVm(path);
    return createMembrane(context).fromVm(core) as Core;
  })());
  return bundled.get(key)!;
}
