// Asks a real Espruino interpreter (the Linux build named by ESPRUINO) which ECMAScript builtins
// it has, so the static checker's tables (scripts/espruino-check.mjs, ESPRUINO_BUILTINS) are
// measured, not remembered. The candidate names are those of Node's own intrinsics (a fresh
// `vm` context, so no Node globals) plus the Node/browser/Espruino host globals the checker
// has a policy for. Each probe line is independent and prints one `@@key=typeof` line; the
// script is run in chunks so one crash costs one chunk's tail, not the whole probe.
//
// CLI: ESPRUINO=/path/to/espruino node --import tsx test/build/espruino-probe.ts
// prints the table as JSON (paste it into ESPRUINO_BUILTINS when Espruino is upgraded).
import vm from 'node:vm';
import { pathToFileURL } from 'node:url';
import { runEspruino } from '../harness/espruino-real.js';

/** The shape of ESPRUINO_BUILTINS in scripts/espruino-check.mjs. */
export interface BuiltinTables {
  /** Global names (ES intrinsics and the host-global candidates) that exist on Espruino. */
  globals: string[];
  /** Per global constructor/namespace: static members Node has that Espruino has too. */
  statics: Record<string, string[]>;
  /** Per constructor: members of `C.prototype` readable on Espruino (`Array.prototype.slice` is not). */
  protoReadable: Record<string, string[]>;
  /** Members present on at least one Espruino builtin instance (union over the samples). */
  instanceMembers: string[];
  /** Per constructor with a sample instance: members Node's instances have and Espruino's lack. */
  instanceMissing: Record<string, string[]>;
}

/** Globals that are not ECMAScript intrinsics but that the checker has a rule for. */
export const HOST_CANDIDATES = [
  'process', 'Buffer', 'require', 'global', 'globalThis', 'setTimeout', 'setInterval', 'setImmediate',
  'clearTimeout', 'clearInterval', 'clearImmediate', 'console', 'queueMicrotask', 'structuredClone',
  'TextEncoder', 'TextDecoder', 'URL', 'URLSearchParams', 'fetch', 'atob', 'btoa', 'performance',
  'AbortController', 'Event', 'EventTarget', 'crypto', 'navigator', 'module', 'exports', 'window', 'self',
  'document', 'location', 'E', 'print', 'peek32', 'poke32', 'getTime', 'setTime', 'InternalError',
];

// One expression per constructor that yields an instance, for the instance-member probe.
const SAMPLES: Record<string, string> = {
  Object: '({})', Function: '(function(){})', Array: '[]', String: '""', Number: '0', Boolean: 'true',
  Date: 'new Date(0)', RegExp: '/a/', Error: 'new Error("x")', TypeError: 'new TypeError("x")',
  Promise: 'Promise.resolve(1)', ArrayBuffer: 'new ArrayBuffer(2)', DataView: 'new DataView(new ArrayBuffer(8))',
  Uint8Array: 'new Uint8Array(2)', Int8Array: 'new Int8Array(2)', Uint16Array: 'new Uint16Array(2)',
  Int16Array: 'new Int16Array(2)', Uint32Array: 'new Uint32Array(2)', Int32Array: 'new Int32Array(2)',
  Float32Array: 'new Float32Array(2)', Float64Array: 'new Float64Array(2)', Uint8ClampedArray: 'new Uint8ClampedArray(2)',
};

const SKIP = new Set(['length', 'name', 'prototype', 'caller', 'arguments', 'constructor']);
const TYPED = /^(Big)?(Uint|Int|Float)\d+(Clamped)?Array$/;

interface Candidates {
  globals: string[];
  statics: Record<string, string[]>;
  protos: Record<string, string[]>;
}

/** Candidate names from Node's intrinsics (a fresh vm context holds no Node globals). */
export function nodeCandidates(): Candidates {
  const ctx = vm.createContext({});
  const g = vm.runInContext('globalThis', ctx) as Record<string, unknown>;
  const esGlobals: string[] = Object.getOwnPropertyNames(g);
  const TA = Object.getPrototypeOf(g.Uint8Array as object) as Record<string, unknown>;
  const own = (o: object) => Object.getOwnPropertyNames(o).filter((k) => !SKIP.has(k));
  const statics: Record<string, string[]> = {};
  const protos: Record<string, string[]> = {};
  for (const n of esGlobals) {
    const v = g[n];
    if (n === 'globalThis' || !(typeof v === 'function' || (typeof v === 'object' && v !== null))) continue;
    const s = new Set(own(v as object));
    if (TYPED.test(n)) for (const k of own(TA)) s.add(k);
    statics[n] = [...s].sort();
    const proto = typeof v === 'function' ? (v as { prototype?: object }).prototype : undefined;
    if (proto) {
      const p = new Set(own(proto));
      if (TYPED.test(n)) for (const k of own(TA.prototype as object)) p.add(k);
      protos[n] = [...p].sort();
    }
  }
  const globals = [...new Set([...esGlobals, ...HOST_CANDIDATES])].sort();
  return { globals, statics, protos };
}

function probeLines(c: Candidates): string[] {
  const lines: string[] = [];
  const P = (key: string, expr: string) =>
    lines.push(`try{console.log("@@"+${JSON.stringify(key)}+"="+(${expr}))}catch(e){console.log("@@"+${JSON.stringify(key)}+"=THROW")}`);
  for (const n of c.globals) P('g ' + n, `typeof ${n}`);
  const guard = (n: string, e: string) => `typeof ${n}==="undefined"?"nocls":${e}`;
  for (const n of Object.keys(c.statics)) for (const k of c.statics[n]) P(`s ${n} ${k}`, guard(n, `typeof ${n}[${JSON.stringify(k)}]`));
  for (const n of Object.keys(c.protos)) {
    for (const k of c.protos[n]) P(`p ${n} ${k}`, guard(n, `typeof ${n}.prototype[${JSON.stringify(k)}]`));
    // Espruino throws when a missing member of a typed array is read: that counts as missing.
    if (SAMPLES[n]) for (const k of c.protos[n]) P(`i ${n} ${k}`, guard(n, `typeof (${SAMPLES[n]})[${JSON.stringify(k)}]`));
  }
  return lines;
}

/** Runs the probe in the interpreter named by ESPRUINO and returns raw `key -> typeof` results. */
export async function probeEspruino(c: Candidates = nodeCandidates(), chunk = 200): Promise<Record<string, string>> {
  const lines = probeLines(c);
  const res: Record<string, string> = {};
  let i = 0;
  while (i < lines.length) {
    const part = lines.slice(i, i + chunk);
    const r = await runEspruino(part.join('\n') + '\n', { timeoutMs: 30_000 });
    const got = r.stdout.match(/^@@.*$/gm) ?? [];
    for (const line of got) {
      const j = line.lastIndexOf('=');
      res[line.slice(2, j)] = line.slice(j + 1);
    }
    // A crash ends the chunk early: skip the line that caused it and go on after it.
    i += got.length < part.length ? got.length + 1 : part.length;
  }
  return res;
}

const present = (v: string | undefined) => v !== undefined && v !== 'undefined' && v !== 'THROW' && v !== 'nocls';

/** Turns raw probe results into the checker's tables. */
export function deriveTables(c: Candidates, res: Record<string, string>): BuiltinTables {
  // `undefined` is a keyword-like global on Espruino: `typeof undefined` is "undefined" there too.
  const globals = c.globals.filter((n) => n === 'undefined' || present(res['g ' + n]));
  const statics: Record<string, string[]> = {};
  const protoReadable: Record<string, string[]> = {};
  const inst = new Set<string>();
  const instanceMissing: Record<string, string[]> = {};
  for (const n of Object.keys(c.statics)) {
    if (!globals.includes(n)) continue;
    statics[n] = c.statics[n].filter((k) => present(res[`s ${n} ${k}`]));
  }
  for (const n of Object.keys(c.protos)) {
    if (!globals.includes(n)) continue;
    protoReadable[n] = c.protos[n].filter((k) => present(res[`p ${n} ${k}`]));
    for (const k of c.protos[n]) if (present(res[`i ${n} ${k}`])) inst.add(k);
    if (SAMPLES[n]) instanceMissing[n] = c.protos[n].filter((k) => !present(res[`i ${n} ${k}`]));
  }
  return { globals, statics, protoReadable, instanceMembers: [...inst].sort(), instanceMissing };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const c = nodeCandidates();
  const t = deriveTables(c, await probeEspruino(c));
  process.stdout.write(JSON.stringify(t) + '\n');
}
