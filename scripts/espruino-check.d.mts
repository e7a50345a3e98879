// Types for scripts/espruino-check.mjs (the Espruino compatibility checker).

export interface Finding {
  file: string;
  /** 1-based line and column of the construct. */
  line: number;
  column: number;
  /** What was found: `Map`, `Math.imul`, `use before declaration`, `RegExp`, ... */
  construct: string;
  /** Why Espruino does not run it, and what to write instead. */
  message: string;
}

export interface CheckOptions {
  /** false: reject get/set in object literals (ESP32 builds run them; SAVE_ON_FLASH builds do not). */
  accessors?: boolean;
  /** Undeclared names to accept. */
  allowGlobals?: string[];
  /** Treat function declarations as hoisted (checking a module before the build's pass). */
  assumeHoisted?: boolean;
  /** Member names defined elsewhere in the same bundle. */
  knownMembers?: string[];
}

export function checkSource(code: string, filename?: string, opts?: CheckOptions): Finding[];
/** `file:line:col construct: message` */
export function formatFinding(f: Finding): string;
/** Problems with a regex on Espruino's matcher; empty when it runs the same as in JS. */
export function checkRegex(pattern: string, flags: string): string[];
/** The double Espruino 2v29 reads for the numeric literal `raw`, or undefined when it overflows. */
export function espruinoNumberValue(raw: string): number | undefined;
/** Source text Espruino reads exactly as `x` (a literal or a parenthesised expression). */
export function espruinoExactNumberText(x: number): string | undefined;
/** Member names `code` defines (object keys, `x.name =`, class methods). */
export function definedMemberNames(code: string): string[];
/** Per function (or Program): var names referenced above their first declaration. */
export function lateVarDeclarations(code: string, opts?: { all?: boolean }): { fn: unknown; names: string[] }[];

export const TS_HELPERS: Record<string, string>;
export const ESPRUINO_BUILTINS: {
  globals: string[];
  statics: Record<string, string[]>;
  protoReadable: Record<string, string[]>;
  instanceMembers: string[];
  instanceMissing: Record<string, string[]>;
};
