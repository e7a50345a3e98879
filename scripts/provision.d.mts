// Types for scripts/provision.mjs (device config, key generation, identity read-back, registry).
import type { DeviceProbe } from './flash.mjs';

export const PROVISION_DEFAULTS: {
  prefix: string;
  sntpServers: string[];
  sources: object[];
  agent: Record<string, unknown>;
  identityTimeoutMs: number;
  mqttPorts: { mqtt: number; mqtts: number };
};

export class ConfigError extends Error {
  constructor(message: string, problems?: string[]);
  code: 'E_CONFIG';
  problems: string[];
}

export interface ProvisionOptions {
  board: string;
  port: string;
  ssid: string;
  /** Wi-Fi password (absent or empty: an open network). */
  password?: string;
  /** mqtt://[user@]host[:port] or mqtts://... */
  broker?: string;
  mqttPassword?: string;
  /** Path of a JSON file, or its parsed content: an array of sources or { sources, agent?, sntp?, ... }. */
  sources?: string | object;
  registry?: string;
  label?: string;
  prefix?: string;
  /** SNTP servers; null: none. */
  sntp?: string[] | null;
  baud?: number;
  timeoutMs?: number;
  identityTimeoutMs?: number;
  log?: (s: string) => void;
  cli?: string;
}

export interface ProvisionResult {
  address: string;
  publicKey: string;
  state: string;
  config: Record<string, unknown>;
  warnings: string[];
  registry?: { path: string; entry: { address: string; publicKey: string; label?: string }; devices: number };
  probe: DeviceProbe;
}

export function parseBroker(url: string): { host: string; port: number; tls: boolean; username?: string };
export function buildConfig(o: Omit<ProvisionOptions, 'board' | 'port'>): Record<string, unknown>;
export function redact(c: object): Record<string, unknown>;
export function checkProvisioningConfig(board: object, config: object): Promise<string[]>;
export function promptHidden(question: string): Promise<string>;
export function provision(o: ProvisionOptions): Promise<ProvisionResult>;
