// Types for scripts/espruino-tools.mjs (the espruino CLI, offline, and device expressions).

export const TOOLS: {
  cli: () => string;
  offlineGuard: string;
  marker: string;
  devicePrefix: string;
  probeTimeoutMs: number;
  uploadTimeoutMs: number;
  afterUploadMs: number;
  keepLines: number;
};
export const ESPRUINO_MODULES: { ESP32: string[]; ESP32_IDF4: string[]; ESP32C3_IDF4: string[]; ESP32S3_IDF4: string[] };
export const ESPRUINO_VERSION: string;

export class DeviceError extends Error {
  constructor(code: string, message: string, extra?: { output?: string[] });
  /** E_PORT, E_NO_ANSWER, E_LOCKED, E_DEVICE, E_VERIFY, E_CONFIG, E_IDENTITY */
  code: string;
  output: string[];
}

export interface ParsedPort {
  kind: 'tcp' | 'serial';
  url: string;
  host?: string;
  port?: number;
  path?: string;
}

export interface CliMarker {
  tag: string;
  value: unknown;
}

export interface CliResult {
  lines: string[];
  deviceLines: string[];
  markers: CliMarker[];
  stderr: string;
  code: number | null;
  timedOut: boolean;
  uploaded: boolean;
  stopped: string;
}

export interface CliRunOptions {
  timeoutMs?: number;
  until?: (tag: string, value: unknown) => boolean;
  onLine?: (line: string) => void;
  afterUploadMs?: number;
  env?: NodeJS.ProcessEnv;
  cli?: string;
}

export function espruinoToolsBoard(board: object): Record<string, unknown>;
export function requiredModules(code: string): Promise<string[]>;
export function parsePort(port: string): ParsedPort;
export function checkPortReachable(port: string, timeoutMs?: number): Promise<ParsedPort>;
export function runEspruinoCli(args: string[], o?: CliRunOptions): Promise<CliResult>;
export function cliBase(o: { boardJson: string; port: string; baud: number }): string[];
export function marker(result: CliResult, tag: string): unknown;
export function noAnswer(result: CliResult, port: string, what: string, timeoutMs: number): DeviceError;
export function probeExpr(): string;
export function quiesceExpr(watchdogS: number): string;
export function filesExpr(names: string[]): string;
