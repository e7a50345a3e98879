#!/usr/bin/env node
// The Espruino compatibility gate: a static checker for the ES5 text that reaches the device.
//
//   import { checkSource } from './espruino-check.mjs';
//   checkSource(code, 'dist/core.js') -> [{ file, line, column, construct, message }]
//   node scripts/espruino-check.mjs dist/core.js   (exit 1, one `file:line:col construct: message` each)
//
// It parses the real output with acorn as ECMAScript 5 (anything newer is a parse error; the
// text is then re-parsed as ES-latest only to name the construct), resolves every identifier
// through a scope tracker (a local `Map` is not the global), and rejects what Espruino 2v29 on
// ESP32 lacks or does differently. What it knows about Espruino comes from two places:
// - ESPRUINO_BUILTINS: which globals, statics and methods exist, probed on a real interpreter
//   (test/build/espruino-probe.ts prints this table; test/build/espruino-real.test.ts re-probes
//   and fails when the table drifts).
// - Espruino's sources (src/jslex.c, src/jsutils.c, src/jswrap_regexp.c, src/jsparse.c): how
//   it reads number literals and strings, its regex subset, no hoisting, no labels.
// Rules that are policy rather than absence (Math.pow, host globals) say so in their message.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { Parser } from 'acorn';
import * as walk from 'acorn-walk';

// ---------------------------------------------------------------------------------------------
// What Espruino has. Probed on Espruino 2v29.277 (Linux build; the language builtins are the
// same jswrap_*.c files on ESP32, which is not a SAVE_ON_FLASH board). Candidate names were
// Node 20's intrinsics, so a member missing from a list either does not exist on Espruino or
// is not an ECMAScript builtin at all.
export const ESPRUINO_BUILTINS = {
  globals: ['Array', 'ArrayBuffer', 'Boolean', 'DataView', 'Date', 'E', 'Error', 'Float32Array', 'Float64Array', 'Function',
    'Infinity', 'Int16Array', 'Int32Array', 'Int8Array', 'InternalError', 'JSON', 'Math', 'NaN', 'Number', 'Object', 'Promise',
    'ReferenceError', 'RegExp', 'String', 'SyntaxError', 'TypeError', 'Uint16Array', 'Uint32Array', 'Uint8Array',
    'Uint8ClampedArray', 'atob', 'btoa', 'clearInterval', 'clearTimeout', 'console', 'decodeURIComponent',
    'encodeURIComponent', 'eval', 'getTime', 'global', 'globalThis', 'isFinite', 'isNaN', 'parseFloat', 'parseInt', 'peek32',
    'poke32', 'print', 'process', 'require', 'setInterval', 'setTime', 'setTimeout', 'undefined'],
  statics: {
    Object: ['assign', 'create', 'defineProperties', 'defineProperty', 'entries', 'fromEntries', 'getOwnPropertyDescriptor',
      'getOwnPropertyDescriptors', 'getOwnPropertyNames', 'getPrototypeOf', 'keys', 'setPrototypeOf', 'values'],
    Array: ['isArray'],
    Number: ['MAX_VALUE', 'MIN_VALUE', 'NEGATIVE_INFINITY', 'NaN', 'POSITIVE_INFINITY'],
    String: ['fromCharCode'],
    Date: ['now', 'parse'],
    Promise: ['all', 'reject', 'resolve'],
    JSON: ['parse', 'stringify'],
    Math: ['E', 'LN10', 'LN2', 'LOG10E', 'LOG2E', 'PI', 'SQRT1_2', 'SQRT2', 'abs', 'acos', 'asin', 'atan', 'atan2', 'ceil',
      'cos', 'exp', 'floor', 'log', 'max', 'min', 'pow', 'random', 'round', 'sign', 'sin', 'sqrt', 'tan'],
    console: ['debug', 'error', 'info', 'log', 'trace', 'warn'],
  },
  protoReadable: {
    Object: ['__proto__', 'hasOwnProperty', 'toString', 'valueOf'], Function: ['toString'], Array: ['toString'],
    Number: ['toString', 'valueOf'], Boolean: ['toString', 'valueOf'], String: ['toString', 'valueOf'],
    Date: ['toString', 'valueOf'], RegExp: ['toString'], Error: ['toString'], Uint8Array: ['toString'],
    Int8Array: ['toString'], Uint16Array: ['toString'], Int16Array: ['toString'], Uint32Array: ['toString'],
    Int32Array: ['toString'], Float32Array: ['toString'], Float64Array: ['toString'], Uint8ClampedArray: ['toString'],
  },
  instanceMembers: ['__proto__', 'apply', 'bind', 'buffer', 'byteLength', 'byteOffset', 'call', 'catch', 'charAt', 'charCodeAt',
    'concat', 'endsWith', 'every', 'exec', 'fill', 'filter', 'find', 'findIndex', 'forEach', 'getDate', 'getDay', 'getFloat32',
    'getFloat64', 'getFullYear', 'getHours', 'getInt16', 'getInt32', 'getInt8', 'getMilliseconds', 'getMinutes', 'getMonth',
    'getSeconds', 'getTime', 'getTimezoneOffset', 'getUTCDate', 'getUTCDay', 'getUTCFullYear', 'getUTCHours',
    'getUTCMilliseconds', 'getUTCMinutes', 'getUTCMonth', 'getUTCSeconds', 'getUint16', 'getUint32', 'getUint8',
    'hasOwnProperty', 'includes', 'indexOf', 'join', 'lastIndexOf', 'map', 'match', 'message', 'padEnd', 'padStart', 'pop',
    'push', 'reduce', 'repeat', 'replace', 'replaceAll', 'reverse', 'set', 'setDate', 'setFloat32', 'setFloat64',
    'setFullYear', 'setHours', 'setInt16', 'setInt32', 'setInt8', 'setMilliseconds', 'setMinutes', 'setMonth', 'setSeconds',
    'setTime', 'setUint16', 'setUint32', 'setUint8', 'shift', 'slice', 'some', 'sort', 'source', 'splice', 'split',
    'startsWith', 'subarray', 'substr', 'substring', 'test', 'then', 'toFixed', 'toISOString', 'toJSON', 'toLowerCase',
    'toString', 'toUTCString', 'toUpperCase', 'trim', 'unshift', 'valueOf'],
  // Per type: members Node's instances have and Espruino's lack (the vm harness deletes these).
  instanceMissing: {
    Object: ['__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__', 'isPrototypeOf',
      'propertyIsEnumerable', 'toLocaleString'],
    Function: [],
    Array: ['at', 'copyWithin', 'entries', 'findLast', 'findLastIndex', 'flat', 'flatMap', 'keys', 'lastIndexOf',
      'reduceRight', 'toLocaleString', 'toReversed', 'toSorted', 'toSpliced', 'values', 'with'],
    Number: ['toExponential', 'toLocaleString', 'toPrecision'],
    Boolean: [],
    String: ['anchor', 'at', 'big', 'blink', 'bold', 'codePointAt', 'fixed', 'fontcolor', 'fontsize', 'isWellFormed',
      'italics', 'link', 'localeCompare', 'matchAll', 'normalize', 'search', 'small', 'strike', 'sub', 'sup',
      'toLocaleLowerCase', 'toLocaleUpperCase', 'toWellFormed', 'trimEnd', 'trimLeft', 'trimRight', 'trimStart'],
    Date: ['getYear', 'setUTCDate', 'setUTCFullYear', 'setUTCHours', 'setUTCMilliseconds', 'setUTCMinutes', 'setUTCMonth',
      'setUTCSeconds', 'setYear', 'toDateString', 'toGMTString', 'toLocaleDateString', 'toLocaleString',
      'toLocaleTimeString', 'toTimeString'],
    Promise: ['finally'],
    RegExp: ['compile', 'dotAll', 'flags', 'global', 'hasIndices', 'ignoreCase', 'multiline', 'sticky', 'unicode', 'unicodeSets'],
    Error: [],
    TypeError: [],
    ArrayBuffer: ['maxByteLength', 'resizable', 'resize', 'slice'],
    DataView: ['getBigInt64', 'getBigUint64', 'setBigInt64', 'setBigUint64'],
  },
};
// Every typed array type lacks the same members.
for (const t of ['Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array',
  'Float64Array', 'Uint8ClampedArray'])
  ESPRUINO_BUILTINS.instanceMissing[t] = ['BYTES_PER_ELEMENT', 'at', 'copyWithin', 'entries', 'findLast', 'findLastIndex',
    'keys', 'lastIndexOf', 'reduceRight', 'toLocaleString', 'toReversed', 'toSorted', 'values', 'with'];

// ---------------------------------------------------------------------------------------------
// Named rules. The construct name is what a finding reports; the message says why and what to
// write instead. Globals and statics not listed here are still caught by the tables above.
const TYPED_ARRAYS = ['Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array',
  'Float64Array', 'Uint8ClampedArray'];

// Names Espruino lacks. A use behind a typeof guard (`typeof X !== "undefined" ? X : Y`,
// `typeof X.y === "function" && X.y(..)`) is accepted: that is how core picks a fallback.
const GLOBAL_RULES = {
  BigInt: 'Espruino has no BigInt: use limbs in typed arrays',
  Map: 'Espruino has no Map: use a plain object with string keys (or parallel arrays)',
  Set: 'Espruino has no Set: use a plain object as a set of string keys',
  WeakMap: 'Espruino has no WeakMap: store the data on the object itself',
  WeakSet: 'Espruino has no WeakSet: mark the object with a property',
  Symbol: 'Espruino has no Symbol (nor the iterator protocol): use string keys and index loops',
  Proxy: 'Espruino has no Proxy',
  Reflect: 'Espruino has no Reflect: use Object.* or plain property access',
  TextEncoder: 'Espruino has no TextEncoder: use utf8Encode from util/bytes',
  TextDecoder: 'Espruino has no TextDecoder: use utf8Decode from util/bytes',
  RangeError: 'Espruino 2v29 has no RangeError global (jswrap_error.c defines Error, SyntaxError, TypeError, InternalError, ReferenceError only): a `new RangeError` throws ReferenceError on the device',
};
// Policy: reached for even behind a guard, these are errors (core gets them from the host).
const POLICY = new Set();
for (const n of ['require', 'process', 'Buffer', 'global', 'globalThis', 'setTimeout', 'setInterval', 'clearTimeout',
  'clearInterval', 'setImmediate', 'clearImmediate', 'queueMicrotask', 'console', 'module', 'exports', '__dirname',
  '__filename', 'window', 'self', 'document', 'navigator', 'fetch', 'performance', 'crypto', 'structuredClone'])
  GLOBAL_RULES[n] = 'host global: core must not reach for Node, browser or Espruino globals; it gets time, timers, IO and logging from the host object', POLICY.add(n);
for (const n of ['E', 'print', 'getTime', 'setTime', 'peek32', 'poke32'])
  GLOBAL_RULES[n] = 'Espruino global: core runs on Node too; reach device features through the host object (host.accel, host.clock)', POLICY.add(n);
GLOBAL_RULES.eval = 'eval runs code the checker cannot see';
POLICY.add('eval').add('Math.pow');

const STATIC_RULES = {
  'Math.pow': 'Math.pow is inexact on Espruino (Math.pow(2,16) !== 65536): write constants as integer literals, square by multiplying',
  'Math.imul': 'Espruino has no Math.imul: split into 16-bit halves ((a*(b>>>16)<<16) + a*(b&0xffff)) | 0',
  'Math.trunc': 'Espruino has no Math.trunc: use x < 0 ? Math.ceil(x) : Math.floor(x), or x | 0 below 2^31',
  'Math.clz32': 'Espruino has no Math.clz32: count with a loop or a table',
  'Math.log2': 'Espruino has no Math.log2',
  'Math.fround': 'Espruino has no Math.fround: round through a Float32Array element',
  'Number.isInteger': 'Espruino has no Number.isInteger: use typeof v === "number" && Math.floor(v) === v (see aint)',
  'Number.MAX_SAFE_INTEGER': 'Espruino has no Number.MAX_SAFE_INTEGER: write the literal 9007199254740991',
  'Number.isSafeInteger': 'Espruino has no Number.isSafeInteger',
  'Array.from': 'Espruino has no Array.from: loop into a new array',
  'Array.of': 'Espruino has no Array.of: use an array literal',
  'ArrayBuffer.isView': 'Espruino has no ArrayBuffer.isView: test instanceof the typed array you expect',
  'Object.freeze': 'Espruino has no Object.freeze: document the constant instead',
  'Object.is': 'Espruino has no Object.is: use === (and x !== x for NaN)',
  'Promise.race': 'Espruino has no Promise.race',
  'Promise.allSettled': 'Espruino has no Promise.allSettled',
  'Promise.any': 'Espruino has no Promise.any',
  'Date.UTC': 'Espruino has no Date.UTC: compute days from the civil date with integer arithmetic',
};
for (const t of TYPED_ARRAYS) {
  STATIC_RULES[t + '.from'] = 'Espruino has no ' + t + '.from: construct with a length (or an array) and fill it in a loop';
  STATIC_RULES[t + '.of'] = 'Espruino has no ' + t + '.of: construct from an array literal';
}

// TypeScript's ES5 emit calls these when a construct needs runtime help; with noEmitHelpers
// they arrive as undeclared names. Each names the source construct to rewrite.
export const TS_HELPERS = {
  __extends: 'class ... extends ...',
  __assign: 'object spread {...x} (or Object.assign shimmed by TypeScript)',
  __rest: 'object rest in destructuring ({a, ...rest})',
  __awaiter: 'async function / await',
  __generator: 'generator or async function',
  __spreadArray: 'array spread [...x] or call spread f(...x)',
  __spread: 'array spread (downlevelIteration)',
  __spreadArrays: 'array spread',
  __values: 'for-of over a non-array (downlevelIteration)',
  __read: 'array destructuring or spread (downlevelIteration)',
  __makeTemplateObject: 'tagged template literal',
  __decorate: 'decorator', __param: 'parameter decorator', __metadata: 'decorator metadata',
  __esDecorate: 'decorator', __runInitializers: 'decorator', __setFunctionName: 'decorator or computed class member name',
  __propKey: 'computed key in a decorated class',
  __classPrivateFieldGet: '#private field', __classPrivateFieldSet: '#private field', __classPrivateFieldIn: '#private field',
  __await: 'async generator', __asyncGenerator: 'async generator', __asyncDelegator: 'async generator (yield*)',
  __asyncValues: 'for await',
  __importDefault: 'CommonJS interop import', __importStar: 'CommonJS interop import', __exportStar: 'export * (CommonJS)',
  __createBinding: 'CommonJS re-export', __setModuleDefault: 'CommonJS interop import',
  __addDisposableResource: 'using declaration', __disposeResources: 'using declaration',
  __rewriteRelativeImportExtension: 'dynamic import with a relative path',
};

// ES2015+ syntax, named for the message when the ES5 parse fails and the ES-latest one does not.
const MODERN = {
  ArrowFunctionExpression: 'arrow function',
  TemplateLiteral: 'template literal', TaggedTemplateExpression: 'tagged template', SpreadElement: 'spread',
  RestElement: 'rest element', AssignmentPattern: 'default value', ObjectPattern: 'destructuring',
  ArrayPattern: 'destructuring', ForOfStatement: 'for-of', YieldExpression: 'yield', AwaitExpression: 'await',
  ChainExpression: 'optional chaining', ImportDeclaration: 'import', ExportNamedDeclaration: 'export',
  ExportDefaultDeclaration: 'export', ExportAllDeclaration: 'export', ImportExpression: 'import()',
  MetaProperty: 'new.target/import.meta', PrivateIdentifier: '#private', PropertyDefinition: 'class field',
  StaticBlock: 'static block', Super: 'super',
};

// Constructs only the ES-latest re-parse can report: one of them explains a failed ES5 parse.
const SYNTAX_CONSTRUCTS = new Set([...Object.values(MODERN), 'class', 'async', 'generator', 'let', 'const', 'computed key',
  'method shorthand', 'shorthand property', '**', '??', 'default value', 'destructuring', 'rest element', 'catch binding',
  'numeric separator']);

// ---------------------------------------------------------------------------------------------
// Numbers as Espruino reads them (src/jslex.c, src/jsutils.c). Integer tokens (decimal digits,
// 0x/0o/0b) go through stringToIntWithRadix into a C `long long` (exact, but wrapping at 2^63)
// and then to a double. Tokens with '.' or an exponent go through stringToFloatWithRadix,
// which accumulates digits in doubles: v = v*10 + d, then v += 0.1*d with the multiplier
// divided by 10 per digit, then multiplies or divides by 10 once per exponent step. Each step
// rounds, so `0.3` is 0.30000000000000004 there. Both are IEEE doubles, so JS reproduces it.
const LONG_LONG_MAX = 2n ** 63n - 1n;

function getRadix(s) {
  if (s[0] !== '0') return { radix: 10, i: 0 };
  const c = s[1];
  if (c === 'o' || c === 'O') return { radix: 8, i: 2 };
  if (c === 'x' || c === 'X') return { radix: 16, i: 2 };
  if (c === 'b' || c === 'B') return { radix: 2, i: 2 };
  let radix = 8;
  for (let p = 1; p < s.length; p++) {
    const ch = s[p];
    if (ch === '.' || ch === '8' || ch === '9') radix = 10;
    else if (ch < '0' || ch > '9') break;
  }
  return { radix, i: 1 };
}

function digitOf(ch) {
  const c = ch.charCodeAt(0);
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  if (c >= 65 && c <= 90) return c - 55;
  return -1;
}

/**
 * The value Espruino 2v29 gives the numeric literal `raw` (as written in the source), or
 * `undefined` when its integer parse overflows a C long long.
 */
export function espruinoNumberValue(raw) {
  const s = raw.replace(/_/g, '');
  const isHexLike = /^0[xXoObB]/.test(s);
  const isInt = isHexLike || /^[0-9]+$/.test(s);
  const { radix, i: start } = getRadix(s);
  if (isInt) {
    let v = 0n;
    const R = BigInt(radix);
    for (let i = start; i < s.length; i++) {
      const d = digitOf(s[i]);
      if (d < 0 || d >= radix) break;
      v = v * R + BigInt(d);
      if (v > LONG_LONG_MAX) return undefined;
    }
    return Number(v);
  }
  let i = start;
  let v = 0;
  for (; i < s.length; i++) {
    const d = digitOf(s[i]);
    if (d < 0 || d >= radix) break;
    v = v * radix + d;
  }
  if (radix === 10) {
    if (s[i] === '.') {
      i++;
      let mul = 0.1;
      for (; i < s.length && s[i] >= '0' && s[i] <= '9'; i++) {
        v += mul * (s.charCodeAt(i) - 48);
        mul /= 10;
      }
    }
    if (s[i] === 'e' || s[i] === 'E') {
      i++;
      let neg = false;
      if (s[i] === '-' || s[i] === '+') neg = s[i++] === '-';
      let e = 0;
      for (; i < s.length && s[i] >= '0' && s[i] <= '9'; i++) e = e * 10 + (s.charCodeAt(i) - 48);
      if (neg) e = -e;
      for (; e > 0; e--) v *= 10;
      for (; e < 0; e++) v /= 10;
    }
  }
  return v;
}

/**
 * A source text for the double `x` that Espruino reads exactly, or undefined if `x` is not
 * finite. Prefers the shortest JS form; else an integer quotient n/10^k (one correctly rounded
 * division at run time gives the same double as the literal); else the exact binary form
 * m/2^k. Used by the build to repair literals that terser folded or printed in a lossy form.
 */
export function espruinoExactNumberText(x) {
  if (!Number.isFinite(x)) return undefined;
  const neg = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  const wrap = (t) => (neg ? '-' + t : t);
  for (const t of [String(a), a.toPrecision(17).replace(/\.?0+(e|$)/, '$1')])
    if (espruinoNumberValue(t) === a) return neg ? '-' + t : t;
  // n / 10^k from the shortest decimal form, both parts exact integers below 2^53.
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(a));
  if (m) {
    const digits = (m[1] + (m[2] ?? '')).replace(/^0+(?=\d)/, '');
    const k = (m[2] ?? '').length - Number(m[3] ?? 0);
    if (k > 0 && k <= 22 && digits.length <= 15 && Number(digits) / 10 ** k === a)
      return '(' + wrap(digits + '/1' + '0'.repeat(k)) + ')';
  }
  // Exact binary form: a = mant * 2^e with an integer mantissa below 2^53; scaling by powers
  // of two is exact, and 2^62 is the largest power Espruino's integer tokens hold exactly.
  let mant = a;
  let e = 0;
  while (mant !== Math.floor(mant)) {
    mant *= 2;
    e--;
  }
  while (mant >= 2 ** 53) {
    mant /= 2;
    e++;
  }
  let t = String(mant);
  for (let left = Math.abs(e); left > 0; left -= Math.min(left, 62))
    t += (e < 0 ? '/' : '*') + (2n ** BigInt(Math.min(left, 62))).toString();
  return '(' + wrap(t) + ')';
}

// ---------------------------------------------------------------------------------------------
// Regular expressions as Espruino's matcher runs them (src/jswrap_regexp.c): characters, `.`,
// classes [..] with ranges, escapes \d\D\s\S\w\W\f\n\r\t\v\0\xHH and escaped punctuation,
// ^ and $, capture groups (at most 9) and greedy * and + after a single character or class,
// `|` at the top level. Flags other than g and i are ignored. Anything else is not an error
// there but silently matches something else (`{2}` matches the text "{2}", `\b` a backspace).

/** Problems with `pattern`/`flags` on Espruino, as strings; empty when it runs the same. */
export function checkRegex(pattern, flags) {
  const out = [];
  for (const f of flags) if (f !== 'g' && f !== 'i') out.push('flag "' + f + '" is ignored by Espruino');
  let depth = 0;
  let groups = 0;
  let prevQuantifiable = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      const e = pattern[i + 1];
      if (e === undefined) break;
      if (/[1-9]/.test(e)) out.push('backreference \\' + e + ' is not supported');
      else if (e === 'b' || e === 'B') out.push('\\' + e + ' is a backspace on Espruino, not a word boundary');
      else if (e === 'u' || e === 'c' || e === 'p' || e === 'P' || e === 'k') out.push('escape \\' + e + ' is not supported');
      i += e === 'x' ? 3 : 1;
      prevQuantifiable = true;
    } else if (ch === '[') {
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') out.push('empty class [] or [^] is not supported');
      for (; j < pattern.length && pattern[j] !== ']'; j++) {
        if (pattern[j] !== '\\') continue;
        const e = pattern[++j];
        if (e === 'u' || e === 'c' || e === 'p' || e === 'P') out.push('escape \\' + e + ' in a class is not supported');
        else if (e !== undefined && /[1-9]/.test(e)) out.push('octal escape \\' + e + ' in a class is not supported');
        if (e === 'x') j += 2;
      }
      i = j;
      prevQuantifiable = true;
    } else if (ch === '(') {
      if (pattern[i + 1] === '?') out.push('group syntax (?' + (pattern[i + 2] ?? '') + ' (non-capturing, lookaround, named) is not supported');
      depth++;
      if (++groups > 9) out.push('more than 9 groups');
      prevQuantifiable = false;
    } else if (ch === ')') {
      depth--;
      const q = pattern[i + 1];
      if (q === '*' || q === '+' || q === '?' || q === '{') out.push('quantifier "' + q + '" after a group is not supported');
      prevQuantifiable = false;
    } else if (ch === '?') {
      out.push(prevQuantifiable ? 'quantifier "?" is not supported (write both alternatives)' : 'lazy quantifier "' + pattern[i - 1] + '?" is not supported');
      prevQuantifiable = false;
    } else if (ch === '{') {
      out.push('counted quantifier {n} is not supported: repeat the atom');
      const close = pattern.indexOf('}', i);
      if (close > i) i = close;
      prevQuantifiable = false;
    } else if (ch === '|') {
      if (depth > 0) out.push('alternation "|" inside a group is not supported (only at the top level)');
      prevQuantifiable = false;
    } else if (ch === '*' || ch === '+') {
      prevQuantifiable = false;
      if (pattern[i + 1] === '?') {
        out.push('lazy quantifier "' + ch + '?" is not supported');
        i++;
      }
    } else {
      prevQuantifiable = ch !== '^' && ch !== '$';
    }
  }
  return [...new Set(out)];
}

// Keywords after which Espruino's lexer starts a regex literal (any keyword token except the
// values true, false, null, undefined).
const REGEX_AFTER_WORDS = new Set(['return', 'typeof', 'case', 'in', 'instanceof', 'new', 'delete', 'void', 'throw',
  'else', 'do', 'of', 'yield', 'await']);

// ---------------------------------------------------------------------------------------------
// The checker.

const STATICS_OK = new Map(Object.entries(ESPRUINO_BUILTINS.statics).map(([k, v]) => [k, new Set(v)]));
const PROTO_OK = new Map(Object.entries(ESPRUINO_BUILTINS.protoReadable).map(([k, v]) => [k, new Set(v)]));
const INSTANCE_OK = new Set(ESPRUINO_BUILTINS.instanceMembers);
const GLOBALS_OK = new Set(ESPRUINO_BUILTINS.globals.filter((n) => !(n in GLOBAL_RULES)));
// Builtins whose static members are checked against STATICS_OK (an absent entry: none allowed).
const STATIC_HOLDERS = new Set([...Object.keys(ESPRUINO_BUILTINS.statics), ...TYPED_ARRAYS, 'Function', 'Boolean', 'RegExp',
  'Error', 'TypeError', 'SyntaxError', 'ReferenceError', 'InternalError', 'ArrayBuffer', 'DataView']);
// ECMAScript intrinsic names (a fresh vm context holds no Node globals).
const ES_GLOBALS = new Set(Object.getOwnPropertyNames(vm.runInContext('globalThis', vm.createContext({}))));
// Method names some builtin prototype of this Node has; a call to one that no Espruino builtin
// has is only reported when the file itself never defines a member of that name.
const NODE_METHODS = (() => {
  const g = vm.runInContext('globalThis', vm.createContext({}));
  const names = new Set();
  for (const n of Object.getOwnPropertyNames(g)) {
    const v = g[n];
    const p = typeof v === 'function' ? v.prototype : undefined;
    if (!p || typeof p !== 'object') continue;
    for (const k of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, k);
      if (d && typeof d.value === 'function' && k !== 'constructor') names.add(k);
    }
  }
  const TA = Object.getPrototypeOf(g.Uint8Array).prototype;
  for (const k of Object.getOwnPropertyNames(TA)) if (typeof Object.getOwnPropertyDescriptor(TA, k).value === 'function') names.add(k);
  return names;
})();

/**
 * Checks `code` for constructs Espruino does not run (or runs differently).
 * @param {string} code
 * @param {string} [filename]
 * @param {{ accessors?: boolean, allowGlobals?: string[], assumeHoisted?: boolean, knownMembers?: string[] }} [opts]
 *   accessors: false rejects get/set in object literals (Espruino on ESP32 runs them; builds
 *   with SAVE_ON_FLASH do not). allowGlobals: undeclared names to accept (e.g. imports of a
 *   module checked on its own). assumeHoisted: treat function declarations as if the build's
 *   hoisting pass had run (for checking code before it is bundled). knownMembers: member
 *   names defined elsewhere (other modules of the same bundle), so calls to them are not
 *   taken for missing builtin methods.
 * @returns {{file: string, line: number, column: number, construct: string, message: string}[]}
 */
export function checkSource(code, filename = '<input>', opts = {}) {
  const findings = [];
  const report = (loc, construct, message) =>
    findings.push({ file: filename, line: loc.line, column: loc.column + 1, construct, message });
  let ast;
  try {
    ast = Parser.parse(code, { ecmaVersion: 5, sourceType: 'script', locations: true, allowReserved: true });
  } catch (e) {
    // Not ES5. Name the newer construct(s) if ES-latest parses it; else report acorn's error.
    let latest;
    try {
      latest = Parser.parse(code, { ecmaVersion: 'latest', sourceType: 'module', locations: true });
    } catch {
      latest = undefined;
    }
    if (latest) analyse(latest, code, report, opts, true);
    // Unless a newer construct was named, report acorn's ES5 error itself.
    if (!findings.some((f) => SYNTAX_CONSTRUCTS.has(f.construct) || f.message.startsWith('BigInt literal')))
      report(e.loc ?? { line: 1, column: 0 }, 'syntax', 'not ECMAScript 5: ' + e.message.replace(/ \(\d+:\d+\)$/, ''));
    return sortFindings(findings);
  }
  analyse(ast, code, report, opts, false);
  return sortFindings(findings);
}

function sortFindings(f) {
  const seen = new Set();
  f = f.filter((x) => {
    const k = x.line + ':' + x.column + ':' + x.construct + ':' + x.message;
    return seen.has(k) ? false : (seen.add(k), true);
  });
  return f.sort((a, b) => a.line - b.line || a.column - b.column || a.construct.localeCompare(b.construct));
}

/** `file:line:col construct: message` */
export function formatFinding(f) {
  return f.file + ':' + f.line + ':' + f.column + ' ' + f.construct + ': ' + f.message;
}

function propName(member) {
  if (!member.computed && member.property.type === 'Identifier') return member.property.name;
  if (member.computed && member.property.type === 'Literal' && typeof member.property.value === 'string') return member.property.value;
  return undefined;
}

// `a.b.c` for an identifier or a non-computed member chain, else undefined.
function chainKey(n) {
  if (n.type === 'Identifier') return n.name;
  if (n.type === 'MemberExpression') {
    const o = chainKey(n.object);
    const p = propName(n);
    return o !== undefined && p !== undefined ? o + '.' + p : undefined;
  }
  return undefined;
}

/**
 * What a test proves exists: `typeof K !== "undefined"`, `typeof K === "function"` (any operand
 * order, == or ===, terser's `typeof K < "u"`), joined with &&. `pos` holds where the test is
 * true, `neg` where it is false.
 */
function typeofGuard(t) {
  const none = { pos: [], neg: [] };
  if (t.type === 'LogicalExpression' && t.operator === '&&') {
    const a = typeofGuard(t.left);
    const b = typeofGuard(t.right);
    return { pos: [...a.pos, ...b.pos], neg: [] };
  }
  if (t.type !== 'BinaryExpression') return none;
  let ty = t.left;
  let lit = t.right;
  let op = t.operator;
  if (!(ty.type === 'UnaryExpression' && ty.operator === 'typeof')) {
    [ty, lit] = [t.right, t.left];
    op = { '<': '>', '>': '<' }[op] ?? op;
  }
  if (!(ty.type === 'UnaryExpression' && ty.operator === 'typeof') || lit.type !== 'Literal' || typeof lit.value !== 'string') return none;
  const k = chainKey(ty.argument);
  if (k === undefined) return none;
  const isUndef = lit.value === 'undefined';
  if (op === '!==' || op === '!=') return isUndef ? { pos: [k], neg: [] } : none;
  if (op === '===' || op === '==') return isUndef ? { pos: [], neg: [k] } : { pos: [k], neg: [] };
  if (lit.value === 'u' && op === '<') return { pos: [k], neg: [] };
  if (lit.value === 'u' && op === '>') return { pos: [], neg: [k] };
  return none;
}

function patternIds(p, out = []) {
  if (!p) return out;
  if (p.type === 'Identifier') out.push(p);
  else if (p.type === 'ObjectPattern') for (const q of p.properties) patternIds(q.type === 'RestElement' ? q : q.value, out);
  else if (p.type === 'ArrayPattern') for (const q of p.elements) patternIds(q, out);
  else if (p.type === 'RestElement') patternIds(p.argument, out);
  else if (p.type === 'AssignmentPattern') patternIds(p.left, out);
  return out;
}

class Scope {
  constructor(parent, fn, kind) {
    this.parent = parent;
    this.fn = fn; // the function (or Program) whose activation holds this scope
    this.kind = kind; // 'function' | 'catch'
    this.decls = new Map(); // name -> { pos, node, kind }
  }
  declare(name, pos, node, kind) {
    const d = this.decls.get(name);
    if (!d || pos < d.pos) this.decls.set(name, { pos, node, kind });
  }
  resolve(name) {
    for (let s = this; s; s = s.parent) {
      const d = s.decls.get(name);
      if (d) return { decl: d, scope: s };
    }
    return undefined;
  }
}

function analyse(ast, code, report, opts, modern, onRefs) {
  // Espruino's lexer takes `of` as a keyword (for-of), so a binding or reference named `of` is
  // a syntax error there although ES5 allows it (terser's mangler can produce one).
  walk.fullAncestor(ast, (node, _st, anc) => {
    if (node.type !== 'Identifier' || node.name !== 'of') return;
    const parent = anc[anc.length - 2];
    if (parent && parent.type === 'MemberExpression' && parent.property === node && !parent.computed) return;
    if (parent && parent.type === 'Property' && parent.key === node && !parent.computed) return;
    report(node.loc.start, 'of', "Espruino's lexer reads `of` as a keyword: rename this name");
  });
  const allowGlobals = new Set(opts.allowGlobals ?? []);
  const rejectAccessors = opts.accessors === false;
  const assumeHoisted = opts.assumeHoisted === true;

  // Pre-pass: immediately invoked functions (their bodies run where they stand), function
  // declarations in allowed positions, member names the file defines itself.
  const iife = new Set();
  const topLevelFns = new Set();
  const definedMembers = new Set(opts.knownMembers ?? []);
  walk.full(ast, (node) => {
    if (node.type === 'CallExpression' || node.type === 'NewExpression') {
      const c = node.callee;
      if (c.type === 'FunctionExpression' || c.type === 'ArrowFunctionExpression') iife.add(c);
      else if (c.type === 'MemberExpression' && c.object.type === 'FunctionExpression' && ['call', 'apply'].includes(propName(c))) iife.add(c.object);
    }
    if (node.type === 'Program' || ((node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression') && node.body.type === 'BlockStatement')) {
      for (const s of node.type === 'Program' ? node.body : node.body.body) if (s.type === 'FunctionDeclaration') topLevelFns.add(s);
    }
    if (node.type === 'Property' && !node.computed) definedMembers.add(node.key.type === 'Identifier' ? node.key.name : String(node.key.value));
    if (node.type === 'MethodDefinition' && !node.computed && node.key.type === 'Identifier') definedMembers.add(node.key.name);
    if (node.type === 'AssignmentExpression' && node.left.type === 'MemberExpression') {
      const n = propName(node.left);
      if (n) definedMembers.add(n);
    }
  });

  // Declarations of one activation (function body or program), not entering nested functions.
  function collectDecls(scope, body) {
    const visit = (node) => {
      if (!node || typeof node.type !== 'string') return;
      switch (node.type) {
        case 'FunctionDeclaration':
          scope.declare(node.id.name, assumeHoisted ? -1 : node.start, node, 'function');
          return;
        case 'ClassDeclaration':
          scope.declare(node.id.name, node.start, node, 'class');
          return;
        case 'FunctionExpression':
        case 'ArrowFunctionExpression':
        case 'ClassExpression':
          return;
        case 'ImportDeclaration':
          for (const sp of node.specifiers) scope.declare(sp.local.name, -1, sp.local, 'import');
          return;
        case 'VariableDeclaration':
          for (const d of node.declarations) for (const id of patternIds(d.id)) scope.declare(id.name, id.start, id, node.kind);
          return;
        default:
          for (const k of Object.keys(node)) {
            if (k === 'loc') continue;
            const v = node[k];
            if (Array.isArray(v)) v.forEach(visit);
            else if (v && typeof v.type === 'string' && /Statement|Clause|Block|Declaration|Case/.test(v.type)) visit(v);
          }
      }
    };
    if (Array.isArray(body)) body.forEach(visit);
    else visit(body);
  }

  // `chain` of a node: the functions around it, innermost first, up to and including the first
  // one that is not immediately invoked (or the Program): the activations whose straight-line
  // code runs it.
  const refs = []; // { id, pos, res, chain }
  const calls = []; // { node, pos, fnDecl, chain }
  const underTypeof = new Set();
  const globalScope = new Scope(null, ast, 'function');
  collectDecls(globalScope, ast.body);

  const reference = (id, st, write) => {
    const res = st.scope.resolve(id.name);
    refs.push({ id, pos: id.start, res, chain: st.chain });
    if (res) return;
    const name = id.name;
    if (underTypeof.has(id) || allowGlobals.has(name)) return;
    if (st.guarded.has(name) && !POLICY.has(name)) return;
    if (name in TS_HELPERS)
      return report(id.loc.start, name, 'TypeScript helper for ' + TS_HELPERS[name] + ': rewrite that construct in the TypeScript source (noEmitHelpers leaves this name undefined)');
    if (name in GLOBAL_RULES) return report(id.loc.start, name, GLOBAL_RULES[name]);
    if (name === 'arguments') return report(id.loc.start, 'arguments', 'arguments outside a function is an error on Espruino');
    if (write) return report(id.loc.start, 'undeclared', 'assignment to undeclared "' + name + '" creates a global');
    if (GLOBALS_OK.has(name)) return;
    report(id.loc.start, ES_GLOBALS.has(name) ? name : 'undeclared',
      '"' + name + '" is neither declared in this file nor a builtin Espruino 2v29 has');
  };

  function checkMember(node, st) {
    const name = propName(node);
    const obj = node.object;
    if (obj.type === 'Identifier' && name !== undefined && name !== 'prototype' && !st.scope.resolve(obj.name)) {
      const key = obj.name + '.' + name;
      if (underTypeof.has(node)) return;
      if ((st.guarded.has(key) || st.guarded.has(obj.name)) && !POLICY.has(key)) return;
      if (key in STATIC_RULES) return report(node.property.loc.start, key, STATIC_RULES[key]);
      if (STATIC_HOLDERS.has(obj.name) && !STATICS_OK.get(obj.name)?.has(name))
        return report(node.property.loc.start, key, key + ' is not a builtin that both Espruino 2v29 and Node have');
    }
    if (obj.type === 'Identifier' && obj.name === 'arguments' && name === 'callee') {
      const r = st.scope.resolve('arguments');
      if (r && r.decl.kind === 'arguments') return report(node.property.loc.start, 'arguments.callee', 'arguments.callee is undefined on Espruino: name the function');
    }
    if (obj.type === 'MemberExpression' && propName(obj) === 'prototype' && obj.object.type === 'Identifier' && !st.scope.resolve(obj.object.name)) {
      const g = obj.object.name;
      if (GLOBALS_OK.has(g) && name !== undefined && !PROTO_OK.get(g)?.has(name))
        report(node.property.loc.start, g + '.prototype.' + name,
          g + '.prototype.' + name + ' reads undefined on Espruino (builtin methods live on instances only): call it on a value, e.g. arr.slice()');
    }
  }

  function checkLiteral(node) {
    if (node.bigint !== undefined) return report(node.loc.start, 'BigInt', 'BigInt literal: Espruino has no BigInt');
    if (node.regex) {
      // Espruino's lexer (jslex.c jslLexRegex) ends the literal at the first unescaped '/',
      // even inside [...]; and reads '/' as division after ')', ']', '|', '^', '~', a name or a
      // number (jslex.c JSLJT_FORWARDSLASH).
      let e = 1;
      while (e < node.raw.length && node.raw[e] !== '/') e += node.raw[e] === '\\' ? 2 : 1;
      if (e !== node.raw.lastIndexOf('/'))
        report(node.loc.start, 'RegExp', node.raw + ": Espruino's lexer ends the literal at the '/' inside [...]: escape it as \\/");
      let p = node.start - 1;
      while (p >= 0 && /\s/.test(code[p])) p--;
      const prev = p >= 0 ? code[p] : '';
      let word = '';
      for (let q = p; q >= 0 && /[A-Za-z0-9_$]/.test(code[q]); q--) word = code[q] + word;
      if (')]|^~'.includes(prev) && prev !== '' || (word && !REGEX_AFTER_WORDS.has(word)))
        report(node.loc.start, 'RegExp', node.raw + ': Espruino reads this "/" as a division after "' + (word || prev) + '": wrap the literal in parentheses or assign it to a variable first');
      for (const msg of checkRegex(node.regex.pattern, node.regex.flags)) report(node.loc.start, 'RegExp', node.raw + ': ' + msg);
      return;
    }
    if (typeof node.value === 'number') {
      if (node.raw.includes('_')) return report(node.loc.start, 'numeric separator', node.raw + ': not ECMAScript 5');
      const v = espruinoNumberValue(node.raw);
      if (v === undefined)
        report(node.loc.start, 'number literal', node.raw + ' overflows the 64-bit integer Espruino parses it into');
      else if (!Object.is(v, node.value))
        report(node.loc.start, 'number literal', node.raw + ' reads as ' + v + ' on Espruino (digit-by-digit float parsing), not ' + node.value +
          ': write ' + (espruinoExactNumberText(node.value) ?? 'an integer expression'));
      return;
    }
    if (typeof node.value === 'string') {
      if (/[^\x00-\x7f]/.test(node.raw))
        report(node.loc.start, 'string literal', 'raw non-ASCII character: Espruino reads the source as bytes, so one UTF-8 character becomes several; use \\xNN escapes or build the bytes');
      if (/[^\x00-\xff]/.test(node.value))
        report(node.loc.start, 'string literal', 'character above \\xFF: ESP32 builds (no ESPR_UNICODE_SUPPORT) keep only its low byte; encode to UTF-8 bytes explicitly');
    }
  }

  const visitors = {
    Program(node, st, c) {
      for (const s of node.body) c(s, st, 'Statement');
    },
    Function(node, st, c) {
      if (modern && (node.generator || node.async)) report(node.loc.start, node.async ? 'async' : 'generator', (node.async ? 'async functions' : 'generators') + ' do not exist on Espruino');
      if (node.type === 'FunctionDeclaration' && !topLevelFns.has(node))
        report(node.loc.start, 'block function', 'function ' + node.id.name + ' is declared inside a block: declare it at the top of the function body');
      const scope = new Scope(st.scope, node, 'function');
      if (node.type === 'FunctionExpression' && node.id) scope.declare(node.id.name, -1, node.id, 'self');
      if (node.type !== 'ArrowFunctionExpression') scope.declare('arguments', -1, node, 'arguments');
      for (const p of node.params) for (const id of patternIds(p)) scope.declare(id.name, -1, id, 'param');
      const inner = { scope, chain: iife.has(node) ? [node, ...st.chain] : [node], guarded: st.guarded };
      for (const p of node.params) walkPatternExprs(p, inner, c);
      if (node.body.type === 'BlockStatement') {
        collectDecls(scope, node.body.body);
        for (const s of node.body.body) c(s, inner, 'Statement');
      } else c(node.body, inner, 'Expression');
    },
    Class(node, st, c) {
      report(node.loc.start, 'class', 'not ECMAScript 5');
      if (node.superClass) c(node.superClass, st, 'Expression');
      c(node.body, st);
    },
    CatchClause(node, st, c) {
      if (!node.param) report(node.loc.start, 'catch binding', 'catch without a binding is not ECMAScript 5');
      const scope = new Scope(st.scope, st.scope.fn, 'catch');
      for (const id of patternIds(node.param)) scope.declare(id.name, -1, id, 'catch');
      c(node.body, { ...st, scope }, 'Statement');
    },
    VariableDeclaration(node, st, c) {
      if (modern && node.kind !== 'var') report(node.loc.start, node.kind, node.kind + ' is not ECMAScript 5');
      for (const d of node.declarations) {
        walkPatternExprs(d.id, st, c);
        if (d.init) c(d.init, st, 'Expression');
      }
    },
    Identifier(node, st) {
      reference(node, st, false);
    },
    VariablePattern(node, st) {
      reference(node, st, true);
    },
    UnaryExpression(node, st, c) {
      if (node.operator === 'typeof' && (node.argument.type === 'Identifier' || node.argument.type === 'MemberExpression')) underTypeof.add(node.argument);
      c(node.argument, st, 'Expression');
    },
    MemberExpression(node, st, c) {
      checkMember(node, st);
      walk.base.MemberExpression(node, st, c);
    },
    CallExpression(node, st, c) {
      const cal = node.callee;
      if (cal.type === 'MemberExpression') {
        const name = propName(cal);
        const builtinObj = cal.object.type === 'Identifier' && !st.scope.resolve(cal.object.name) && GLOBALS_OK.has(cal.object.name);
        if (name === 'finally')
          report(cal.property.loc.start, 'Promise.prototype.finally', 'Espruino promises have no finally(): use then(f, g) with the cleanup in both');
        else if (name !== undefined && !builtinObj && NODE_METHODS.has(name) && !INSTANCE_OK.has(name) && !definedMembers.has(name))
          report(cal.property.loc.start, '.' + name + '()', 'no Espruino 2v29 builtin has a method "' + name + '" and this file defines none');
      } else if (cal.type === 'Identifier') {
        const r = st.scope.resolve(cal.name);
        if (r && r.decl.kind === 'function') calls.push({ node, pos: node.start, fnDecl: r.decl.node, chain: st.chain });
        if (!r && cal.name === 'Function') report(cal.loc.start, 'Function', 'the Function constructor runs code the checker cannot see');
      }
      walk.base.CallExpression(node, st, c);
    },
    NewExpression(node, st, c) {
      if (node.callee.type === 'Identifier' && node.callee.name === 'Function' && !st.scope.resolve('Function'))
        report(node.callee.loc.start, 'Function', 'the Function constructor runs code the checker cannot see');
      if (node.callee.type === 'Identifier' && node.callee.name === 'RegExp' && !st.scope.resolve('RegExp')) {
        const [p, f] = node.arguments;
        if (p && p.type === 'Literal' && typeof p.value === 'string') {
          const flags = f && f.type === 'Literal' && typeof f.value === 'string' ? f.value : '';
          for (const msg of checkRegex(p.value, flags)) report(p.loc.start, 'RegExp', JSON.stringify(p.value) + ': ' + msg);
        }
      }
      walk.base.NewExpression(node, st, c);
    },
    Property(node, st, c) {
      if (node.kind === 'get' || node.kind === 'set') {
        if (rejectAccessors) report(node.loc.start, node.kind === 'get' ? 'getter' : 'setter', 'accessors in object literals are rejected by this build (accessors: false)');
      }
      if (modern && node.computed) report(node.loc.start, 'computed key', 'computed keys do not exist on Espruino / ES5');
      if (modern && (node.shorthand || node.method)) report(node.loc.start, node.method ? 'method shorthand' : 'shorthand property', 'not ECMAScript 5');
      if (node.computed) c(node.key, st, 'Expression');
      c(node.value, st, 'Expression');
    },
    Literal(node) {
      checkLiteral(node);
    },
    LabeledStatement(node, st, c) {
      report(node.loc.start, 'label', 'Espruino has no labels ("' + node.label.name + ':" is read as an expression): restructure with a flag or a function');
      c(node.body, st, 'Statement');
    },
    WithStatement(node, st, c) {
      report(node.loc.start, 'with', 'with is not supported');
      c(node.object, st, 'Expression');
      c(node.body, st, 'Statement');
    },
    DebuggerStatement(node) {
      report(node.loc.start, 'debugger', 'debugger stops Espruino in its debugger');
    },
    BinaryExpression(node, st, c) {
      if (node.operator === '**') report(node.loc.start, '**', '** is Math.pow on Espruino, which is inexact: multiply, or write the constant');
      c(node.left, st, 'Expression');
      c(node.right, st, 'Expression');
    },
    AssignmentExpression(node, st, c) {
      if (node.operator === '**=') report(node.loc.start, '**', '**= is Math.pow on Espruino, which is inexact');
      walk.base.AssignmentExpression(node, st, c);
    },
    LogicalExpression(node, st, c) {
      if (modern && node.operator === '??') report(node.loc.start, '??', 'not ECMAScript 5');
      c(node.left, st, 'Expression');
      const g = typeofGuard(node.left);
      c(node.right, node.operator === '&&' ? guard(st, g.pos) : node.operator === '||' ? guard(st, g.neg) : st, 'Expression');
    },
    ConditionalExpression(node, st, c) {
      c(node.test, st, 'Expression');
      const g = typeofGuard(node.test);
      c(node.consequent, guard(st, g.pos), 'Expression');
      c(node.alternate, guard(st, g.neg), 'Expression');
    },
    IfStatement(node, st, c) {
      c(node.test, st, 'Expression');
      const g = typeofGuard(node.test);
      c(node.consequent, guard(st, g.pos), 'Statement');
      if (node.alternate) c(node.alternate, guard(st, g.neg), 'Statement');
    },
  };
  if (modern) {
    for (const [type, name] of Object.entries(MODERN)) {
      const base = visitors[type] ?? walk.base[type];
      visitors[type] = (node, st, c) => {
        report(node.loc.start, name, 'not ECMAScript 5');
        if (base) base(node, st, c);
      };
    }
  }

  const guard = (st, keys) => (keys.length ? { ...st, guarded: new Set([...st.guarded, ...keys]) } : st);

  function walkPatternExprs(p, st, c) {
    if (!p) return;
    if (p.type === 'AssignmentPattern') {
      if (modern) report(p.loc.start, 'default value', 'not ECMAScript 5');
      walkPatternExprs(p.left, st, c);
      c(p.right, st, 'Expression');
    } else if (p.type === 'ObjectPattern') {
      if (modern) report(p.loc.start, 'destructuring', 'not ECMAScript 5');
      for (const q of p.properties) {
        if (q.type === 'RestElement') walkPatternExprs(q, st, c);
        else {
          if (q.computed) c(q.key, st, 'Expression');
          walkPatternExprs(q.value, st, c);
        }
      }
    } else if (p.type === 'ArrayPattern') {
      if (modern) report(p.loc.start, 'destructuring', 'not ECMAScript 5');
      for (const q of p.elements) walkPatternExprs(q, st, c);
    } else if (p.type === 'RestElement') {
      if (modern) report(p.loc.start, 'rest element', 'not ECMAScript 5');
      walkPatternExprs(p.argument, st, c);
    }
  }

  walk.recursive(ast, { scope: globalScope, chain: [ast], guarded: new Set() }, visitors);

  if (onRefs) return onRefs(refs);

  // Use before declaration. Espruino does not hoist: a name exists from the moment its `var`
  // or `function` statement runs. A reference runs during its scope's straight-line code when
  // no function boundary other than an immediately invoked one lies between them.
  const seen = new Set();
  for (const r of refs) {
    if (!r.res || r.res.decl.pos < 0 || r.res.scope.kind !== 'function') continue;
    if (!r.chain.includes(r.res.scope.fn) || r.res.decl.pos <= r.pos) continue;
    const key = r.pos + ':' + r.id.name;
    if (seen.has(key)) continue;
    seen.add(key);
    const d = r.res.decl;
    report(r.id.loc.start, 'use before declaration',
      '"' + r.id.name + '" is used here but its ' + (d.kind === 'function' ? 'function declaration' : d.kind) + ' comes later (line ' +
        d.node.loc.start.line + '); Espruino does not hoist: move the declaration up');
  }
  // The same through calls: f() at a point where f's body (or what it calls) reads a name of
  // this activation that is declared further down.
  const refsByFn = new Map();
  const callsByFn = new Map();
  const push = (m, f, x) => (m.get(f) ?? m.set(f, []).get(f)).push(x);
  for (const r of refs) if (r.res) for (const f of r.chain) push(refsByFn, f, r);
  for (const k of calls) for (const f of k.chain) push(callsByFn, f, k);
  for (const k of calls) {
    const visited = new Set();
    const stack = [k.fnDecl];
    while (stack.length) {
      const f = stack.pop();
      if (visited.has(f)) continue;
      visited.add(f);
      for (const r of refsByFn.get(f) ?? []) {
        const d = r.res.decl;
        // A function entered through a call runs as a new activation: its own locals are created
        // by that entry, never read from the caller's (recursion is not use before declaration).
        if (visited.has(r.res.scope.fn)) continue;
        if (d.pos < 0 || r.res.scope.kind !== 'function' || !k.chain.includes(r.res.scope.fn) || d.pos <= k.pos) continue;
        const key = k.pos + ':' + r.id.name;
        if (seen.has(key)) continue;
        seen.add(key);
        report(k.node.loc.start, 'use before declaration',
          k.node.callee.name + '() here reads "' + r.id.name + '" (line ' + r.id.loc.start.line + '), which is declared later (line ' +
            d.node.loc.start.line + '); Espruino does not hoist: move the call or the declaration');
      }
      for (const k2 of callsByFn.get(f) ?? []) stack.push(k2.fnDecl);
    }
  }
}

/** Member names `code` defines (object literal keys, `x.name =` assignments, class methods). */
export function definedMemberNames(code) {
  const ast = Parser.parse(code, { ecmaVersion: 'latest', sourceType: 'module', allowReserved: true });
  const names = new Set();
  walk.full(ast, (node) => {
    if (node.type === 'Property' && !node.computed) names.add(node.key.type === 'Identifier' ? node.key.name : String(node.key.value));
    if (node.type === 'MethodDefinition' && !node.computed && node.key.type === 'Identifier') names.add(node.key.name);
    if (node.type === 'AssignmentExpression' && node.left.type === 'MemberExpression') {
      const n = propName(node.left);
      if (n) names.add(n);
    }
  });
  return [...names];
}

/**
 * For the build's var pass: per function (or the Program), the `var` names it references
 * (anywhere, nested functions included) at a position above their first declaration. Declaring
 * those at the top of the body is JavaScript's var hoisting written out; without it Espruino
 * assigns such a name in an outer scope (or a new global) until the `var` statement runs.
 * With `all`, every referenced `var` name counts, wherever it is declared: a `var` inside a
 * branch that does not run never exists in Espruino, so a later read finds an outer binding.
 * @returns {{ fn: object, names: string[] }[]} fn: the acorn Function or Program node
 */
export function lateVarDeclarations(code, opts = {}) {
  const ast = Parser.parse(code, { ecmaVersion: 'latest', sourceType: 'script', locations: true, allowReserved: true });
  const byFn = new Map();
  analyse(ast, code, () => {}, {}, true, (refs) => {
    for (const r of refs) {
      if (!r.res || r.res.scope.kind !== 'function') continue;
      const d = r.res.decl;
      if (d.kind !== 'var' || (!opts.all && d.pos <= r.pos)) continue;
      (byFn.get(r.res.scope.fn) ?? byFn.set(r.res.scope.fn, new Set()).get(r.res.scope.fn)).add(r.id.name);
    }
  });
  return [...byFn].map(([fn, names]) => ({ fn, names: [...names].sort() }));
}

// ---------------------------------------------------------------------------------------------
// CLI
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    process.stderr.write('usage: node scripts/espruino-check.mjs file.js [...]\n');
    process.exit(2);
  }
  let bad = 0;
  for (const f of files) {
    for (const x of checkSource(readFileSync(f, 'utf8'), f)) {
      process.stdout.write(formatFinding(x) + '\n');
      bad++;
    }
  }
  if (bad) process.stderr.write(bad + ' Espruino incompatibilit' + (bad === 1 ? 'y' : 'ies') + '\n');
  process.exit(bad ? 1 : 0);
}
