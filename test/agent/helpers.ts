// Shared pieces of the agent tests: waits, temp dirs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms; throws naming `what` after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out after ' + ms + ' ms waiting for ' + what);
    await sleep(10);
  }
}

/** A fresh temp dir, removed by the returned function. */
export function tempDir(tag: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'agent-' + tag + '-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
