// Representative PMS5003 frames for the lead's benchmark, and one parse + decode of one frame.
import { readFileSync } from 'node:fs';
import { createPmsParser, pmsWords, pmsReply, pmsImplausible } from '../../firmware/core/sources/pms5003/decoder.js';
import { hex } from './sensor-host.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/pms5003.json', import.meta.url), 'utf8'));

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  return [
    ...V.valid.slice(0, 3).map((e: { name: string; frame: string }) => ({ label: 'pms5003 ' + e.name, bytes: hex(e.frame) })),
    { label: 'pms5003 ' + V.replies[0].name, bytes: hex(V.replies[0].frame) },
  ];
}

/** Resumable parser (framing, length, checksum) then the word decoder and plausibility rules. */
export function decodeOnce(bytes: Uint8Array): unknown {
  let out: unknown;
  const p = createPmsParser((f) => {
    const w = pmsWords(f);
    out = w ? { words: w, implausible: pmsImplausible(w) } : { reply: pmsReply(f) };
  });
  p.push(bytes);
  return out;
}
