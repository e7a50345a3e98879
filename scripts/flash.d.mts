// Types for scripts/flash.mjs (upload a built firmware with the espruino CLI).
import type { Manifest } from './manifest.mjs';

export const FLASH_DEFAULTS: { watchdogS: number; probeTimeoutMs: number; uploadTimeoutMs: number; verifyTimeoutMs: number };

export interface DeviceProbe {
  version: string;
  board: string;
  modules: string;
  free: number;
  stats: { totalBytes: number; freeBytes: number; fileBytes: number; fileCount: number; trashBytes: number; trashCount: number } | null;
  files: string[];
  sizes: Record<string, number>;
  app: { state: string; board: string } | null;
}

export function probeDevice(o: {
  port: string;
  baud: number;
  boardJson: string;
  names?: string[];
  quiesce?: boolean;
  timeoutMs?: number;
  log?: (s: string) => void;
  cli?: string;
}): Promise<DeviceProbe>;

export interface FlashOptions {
  board: string;
  port: string;
  dist?: string;
  baud?: number;
  /** Unthrottled writes (default: for tcp:// ports). */
  fast?: boolean;
  force?: boolean;
  /** Probe timeout. */
  timeoutMs?: number;
  /** Whole upload (default 10 minutes). */
  uploadTimeoutMs?: number;
  log?: (s: string) => void;
  cli?: string;
}

export interface FlashResult {
  manifest: Manifest;
  probe: DeviceProbe;
  files: { storage: string; bytes: number; crc32: number; checked: 'crc32' | 'length' }[];
  ms: number;
  uploadMs: number;
  fast: boolean;
}

export function flash(o: FlashOptions): Promise<FlashResult>;
