// Generates firmware/core/sources/modbus/profiles/builtin.ts from the profiles/*.json files.
// Why a generated module: the device bundle (tsc to ES5, then rollup) has no JSON import, and a
// profile must reach the core as code. The JSON files stay the edited source of truth, with
// their citations; the module keeps only what the device needs (no source, notes, doc strings)
// and builds a profile only when asked (one switch case), so unused profiles cost flash, not RAM.
// test/sources/modbus-profile.test.ts fails when the module is out of date.
//
//   node --import tsx test/sources/modbus-gen-profiles.ts          (rewrites builtin.ts)
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROFILE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../firmware/core/sources/modbus/profiles');
export const BUILTIN_PATH = join(PROFILE_DIR, 'builtin.ts');

/** Quantity fields copied to the device, in this order. */
const FIELDS = ['n', 'fc', 'addr', 'type', 'scale', 'unit', 'total', 'flag', 'decimals'];

export function profileFiles(): string[] {
  return readdirSync(PROFILE_DIR).filter((f) => f.endsWith('.json')).sort();
}

export function readProfiles(): { file: string; json: any }[] {
  return profileFiles().map((f) => ({ file: f, json: JSON.parse(readFileSync(join(PROFILE_DIR, f), 'utf8')) }));
}

/** A string literal in the repository's quote style (the JSON strings are plain ASCII). */
function str(v: string): string {
  if (!/^[\x20-\x7e]*$/.test(v)) throw new Error('profile strings must be printable ASCII (Espruino source), got ' + JSON.stringify(v));
  return "'" + v.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

function lit(v: unknown, key: string): string {
  if (key === 'addr' && typeof v === 'number') return '0x' + v.toString(16).padStart(4, '0');
  return typeof v === 'string' ? str(v) : JSON.stringify(v);
}

export function generateBuiltin(): string {
  const profiles = readProfiles();
  const names = profiles.map((p) => p.json.name as string);
  let s = '';
  s += '// GENERATED from profiles/*.json by test/sources/modbus-gen-profiles.ts: do not edit. After\n';
  s += '// changing a JSON profile run `node --import tsx test/sources/modbus-gen-profiles.ts`;\n';
  s += '// test/sources/modbus-profile.test.ts fails while this file is out of date. Citations live in the\n';
  s += '// JSON files. Each call builds a fresh copy of one profile (RAM only for the one in use).\n';
  s += "import type { ModbusProfile } from '../profile.js';\n\n";
  s += 'export const BUILTIN_PROFILES = [' + names.map(str).join(', ') + '];\n\n';
  s += '/** The named built-in profile, or undefined. */\n';
  s += 'export function builtinProfile(name: string): ModbusProfile | undefined {\n';
  s += '  switch (name) {\n';
  for (const { json: p } of profiles) {
    s += '    case ' + str(p.name) + ':\n';
    s += '      return {\n';
    s += '        name: ' + str(p.name) + ',\n';
    if (p.model !== undefined) s += '        model: ' + str(p.model) + ',\n';
    if (p.maxRegs !== undefined) s += '        maxRegs: ' + p.maxRegs + ',\n';
    if (p.maxGap !== undefined) s += '        maxGap: ' + p.maxGap + ',\n';
    s += '        quantities: [\n';
    for (const q of p.quantities) {
      const parts: string[] = [];
      for (const k of FIELDS) if (q[k] !== undefined) parts.push(k + ': ' + lit(q[k], k));
      s += '          { ' + parts.join(', ') + ' },\n';
    }
    s += '        ],\n';
    s += '      };\n';
  }
  s += '  }\n';
  s += '  return undefined;\n';
  s += '}\n';
  return s;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(BUILTIN_PATH, generateBuiltin());
  console.log('wrote ' + BUILTIN_PATH);
}
