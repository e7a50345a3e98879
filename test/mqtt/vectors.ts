// Reading test/vectors/mqtt/packets.json: annotated hex byte lines and packets whose byte
// fields are {hex} or {utf8}. Shared by the codec tests.
import { readFileSync } from 'node:fs';
import { fromHex, utf8Encode } from '../../firmware/core/util/bytes.js';
import type { Packet } from '../../firmware/core/codec/mqtt.js';

export interface ValidVector {
  name: string;
  packet: Packet;
  bytes: Uint8Array;
}
export interface InvalidVector {
  name: string;
  bytes: Uint8Array;
  clause: string;
}

/** "30 07 # PUBLISH" lines → bytes; text after '#' is a comment. */
export function hexLines(lines: string | string[]): Uint8Array {
  const all = (Array.isArray(lines) ? lines : [lines]).map((l) => l.split('#')[0].replace(/\s+/g, '')).join('');
  return fromHex(all);
}

function revive(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.hex === 'string' && Object.keys(o).length === 1) return fromHex(o.hex);
    if (typeof o.utf8 === 'string' && Object.keys(o).length === 1) return utf8Encode(o.utf8);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o)) out[k] = revive(o[k]);
    return out;
  }
  return v;
}

const doc = JSON.parse(readFileSync(new URL('../vectors/mqtt/packets.json', import.meta.url), 'utf8'));

export const VALID: ValidVector[] = doc.valid.map((v: any) => ({ name: v.name, packet: revive(v.packet), bytes: hexLines(v.bytes) }));
export const INVALID: InvalidVector[] = doc.invalid.map((v: any) => ({ name: v.name, bytes: hexLines(v.bytes), clause: v.clause }));
export const REMAINING_LENGTH: { value: number; bytes: Uint8Array }[] = doc.remainingLength.cases.map((c: any) => ({ value: c.value, bytes: hexLines(c.bytes) }));

/** Small seeded generator (mulberry32) so fuzz and random cases are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
