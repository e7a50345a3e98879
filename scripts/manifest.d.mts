// Types for scripts/manifest.mjs (the firmware manifest and its fit check).

export const MANIFEST: {
  format: number;
  name: string;
  toolsBoard: string;
  appFile: string;
  gtableFile: string;
  bootName: string;
  storageHeader: number;
  storageAlign: number;
  maxName: number;
  configMaxBytes: number;
  jsVarsWarnFraction: number;
};

export interface BenchFigures {
  before: number;
  flashCode: number;
  load: number;
  peak: number;
  chars: number;
  source: string;
}

export const JSVARS_MODEL: {
  benchFallback: BenchFigures;
  modelMargin: number;
  runtimeVars: number;
  measureBootMs: number;
  linuxStorageBytes: number;
  measureTimeoutMs: number;
};

export class FitError extends Error {
  constructor(message: string, problems?: string[], code?: string);
  /** E_FIT, E_BOOT, E_MEASURE, E_BOARD, E_MISSING, E_STALE, E_USAGE */
  code: string;
  problems: string[];
}

export interface JsVarsEstimate {
  total: number;
  method: 'measured' | 'model';
  boot: number;
  runtime: number;
  model: { before: number; perChar: number; appChars: number; margin: number; boot: number; bench: string };
  measured: { usage: number; interpreter: string; state?: string } | null;
  explain: string;
}

export interface ManifestFile {
  storage: string;
  path: string;
  bytes: number;
  sha256: string;
  crc32: number;
  storageBytes: number;
  role: string;
}

export interface Manifest {
  format: number;
  board: string;
  boardName: string;
  chip: string;
  espruino: { build: string; version: string; crypto: boolean; binary: string };
  firmware: { id: string; version: string; commit: string | null; dirty: boolean | null; builtAt: string };
  files: ManifestFile[];
  bundle: { appBytes: number; gzipBytes: number; requires: string[]; modulesMissing: string[] };
  storage: {
    header: number;
    align: number;
    uploadedBytes: number;
    runtimeReserveBytes: number;
    runtimeReserve: Record<string, number>;
    totalBytes: number;
    capacityBytes: number;
    freeAfterBytes: number;
    fits: boolean;
  };
  jsVars: JsVarsEstimate & { limit: number; estimate: number; share: number; fits: boolean };
  limits: { jsVars: number; storageBytes: number; flashBytes: number; firmwareMaxBytes: number; consoleBaud: number; consoleTransport: string };
  upload: { toolsBoard: string; boot: string; configName: string; keyName: string };
  warnings: string[];
}

export interface ManifestOptions {
  board: string;
  boardFile?: string;
  boardData?: object;
  dir?: string;
  gtable?: string;
  measure?: boolean;
  espruino?: string;
  bench?: BenchFigures;
  log?: (s: string) => void;
}

export function storageFootprint(bytes: number): number;
export function runtimeStorage(): Promise<{ parts: Record<string, number>; total: number; files: { config: string; gtable: string; key: string } }>;
export function benchFigures(path?: string): BenchFigures;
export function estimateJsVars(o: { appChars: number; bench?: BenchFigures; measured?: { usage: number; interpreter: string } }): JsVarsEstimate;
export function measureBootJsVars(appPath: string, espruino: string): Promise<{ usage: number; state: string; interpreter: string } | { skipped: string }>;
export function makeManifest(o: ManifestOptions): Promise<Manifest>;
export function readManifest(dir: string): Manifest;
export function verifyDist(manifest: Manifest, dir: string): (ManifestFile & { file: string; data: Buffer })[];
