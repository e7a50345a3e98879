// Representative SDS011 frames for the lead's benchmark, and one parse + decode of one frame.
import { readFileSync } from 'node:fs';
import { createSdsParser, sdsData, sdsReply, sdsImplausible } from '../../firmware/core/sources/sds011/decoder.js';
import { hex } from './sensor-host.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/sds011.json', import.meta.url), 'utf8'));

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  return [
    ...V.valid.slice(0, 2).map((e: { name: string; frame: string }) => ({ label: 'sds011 ' + e.name, bytes: hex(e.frame) })),
    { label: 'sds011 ' + V.replies[0].name, bytes: hex(V.replies[0].frame) },
  ];
}

/** Resumable parser (head, command id, sum, tail) then the data/reply decoder and range check. */
export function decodeOnce(bytes: Uint8Array): unknown {
  let out: unknown;
  const p = createSdsParser((f) => {
    const d = sdsData(f);
    out = d ? { data: d, implausible: sdsImplausible(d) } : { reply: sdsReply(f) };
  });
  p.push(bytes);
  return out;
}
