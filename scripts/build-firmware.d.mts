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
  appTsconfig: string;
  appEntry: string;
  appGlobalName: string;
  appName: string;
  appComponents: string;
  boardsDir: string;
  boardModule: string;
};

/** Espruino globals the platform layer may use (the app bundle's checker allows them). */
export const APP_GLOBALS: string[];

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
  /** With board: the app's entry (default firmware/espruino/main.ts). */
  entry?: string;
  /** With board: the app's output file (default <outRoot>/<board>/app.js). */
  out?: string;
  /** With board: the board object instead of boards/<board>.json. */
  boardData?: object;
  /** With board: false skips the app. */
  app?: boolean;
  /** With board: source types the app carries (default every component). */
  components?: string[];
}

export interface AppOptions {
  board: string;
  boardData?: object;
  entry?: string;
  out?: string;
  minify?: boolean;
  tsconfig?: string;
  components?: string[];
  /** Extra terser compress options. */
  compress?: object;
  log?: (line: string) => void;
}

export interface AppResult {
  out: string;
  sizes: { bundle: number; minified: number; gzip: number };
  modules: number;
  ms: number;
  code: string;
}

export interface BuildResult {
  written: { core: string; gtable?: string; app?: string };
  sizes: { bundle: number; minified: number; gzip: number; gtable?: number; app?: AppResult['sizes'] };
  /** Milliseconds per stage: tsc, rollup, terser, passes, check, gtable, app. */
  times: Record<string, number>;
  moved: number;
  declared: number;
  repaired: { from: string; to: string }[];
  ms: number;
  gtableSkipped: boolean;
  stages: { bundled: string; minified: string; final: string };
  /** With board: the app build. */
  app?: AppResult;
}

export function buildFirmware(opts?: BuildOptions): Promise<BuildResult>;
/** The device app: platform layer + core + the board, ending in DepinApp.start(<board>). */
export function buildApp(opts: AppOptions): Promise<AppResult>;
/** boards/<name>.json (or data) validated by firmware/espruino/board.ts, and its ASCII literal. */
export function loadBoard(name: string, data?: object): Promise<{ board: object; literal: string; wide: string[] }>;
export function hostMemberNames(): string[];
export function hoistFunctionDeclarations(code: string): { code: string; moved: number };
export function hoistVarDeclarations(code: string): { code: string; declared: number };
export function repairNumberLiterals(code: string): { code: string; repaired: { from: string; to: string }[] };
export function checkModules(emitted: Map<string, string>, maps: Map<string, unknown>, extraGlobals?: string[]): Finding[];
