// Types for scripts/build-firmware.mjs (the device bundle build).
import type { Finding } from './espruino-check.mjs';

export const BUILD: {
  tsconfig: string;
  es5Dir: string;
  entry: string;
  globalName: string;
  outRoot: string;
  bundleName: string;
  gtableSource: string;
  gtableName: string;
  gtableBytes: number;
};

export class BuildError extends Error {
  findings: Finding[];
}

export interface BuildOptions {
  /** Output goes to <outRoot>/<board>/ (default dist/). */
  board?: string;
  /** false: skip terser (readable output, same passes and check). */
  minify?: boolean;
  outRoot?: string;
  /** Another TypeScript project built the same way (its index.ts is the entry); no G table. */
  tsconfig?: string;
  log?: (line: string) => void;
}

export interface BuildResult {
  written: { core: string; gtable?: string };
  sizes: { bundle: number; minified: number; gzip: number; gtable?: number };
  /** Milliseconds per stage: tsc, rollup, terser, passes, check, gtable. */
  times: Record<string, number>;
  moved: number;
  declared: number;
  repaired: { from: string; to: string }[];
  ms: number;
  gtableSkipped: boolean;
  stages: { bundled: string; minified: string; final: string };
}

export function buildFirmware(opts?: BuildOptions): Promise<BuildResult>;
export function hostMemberNames(): string[];
export function hoistFunctionDeclarations(code: string): { code: string; moved: number };
export function hoistVarDeclarations(code: string): { code: string; declared: number };
export function repairNumberLiterals(code: string): { code: string; repaired: { from: string; to: string }[] };
export function checkModules(emitted: Map<string, string>, maps: Map<string, unknown>): Finding[];
