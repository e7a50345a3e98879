// Representative SHT3x read-outs for the lead's benchmark, and one decode of one read-out.
import { readFileSync } from 'node:fs';
import { sht31Decode } from '../../firmware/core/sources/sht31/decoder.js';
import { hex } from './sensor-host.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/sht31.json', import.meta.url), 'utf8'));

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  return V.valid.map((e: { name: string; frame: string }) => ({ label: 'sht31 ' + e.name, bytes: hex(e.frame) }));
}

/** CRC checks of both words and the conversion to Cel / %RH. */
export function decodeOnce(bytes: Uint8Array): unknown {
  return sht31Decode(bytes);
}
