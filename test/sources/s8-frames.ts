// Senseair S8 frames for the benchmark, and one parse of one frame.
import { readFileSync } from 'node:fs';
import { S8Parser, S8_ANY_ADDRESS, type S8Frame } from '../../firmware/core/sources/s8/decoder.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/s8.json', import.meta.url), 'utf8'));
const bytes = (h: string) => new Uint8Array(h.split(' ').map((x) => parseInt(x, 16)));

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  return [
    { label: 's8 read CO2 answer (7 B)', bytes: bytes(V.frames[0].bytes) },
    { label: 's8 exception (5 B)', bytes: bytes(V.frames[2].bytes) },
  ];
}

export function decodeOnce(b: Uint8Array): S8Frame | undefined {
  let out: S8Frame | undefined;
  new S8Parser(S8_ANY_ADDRESS, (f) => (out = f)).push(b);
  return out;
}
