// Representative DS18B20 scratchpads for the lead's benchmark, and one check + decode.
import { readFileSync } from 'node:fs';
import { ds18b20Decode } from '../../firmware/core/sources/ds18b20/decoder.js';
import { hex } from './sensor-host.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/ds18b20.json', import.meta.url), 'utf8'));

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  return V.valid.slice(0, 4).concat(V.valid.slice(-4)).map((e: { name: string; scratchpad: string }) => ({ label: 'ds18b20 ' + e.name, bytes: hex(e.scratchpad) }));
}

/** CRC-8, configuration, sign, power-on and range checks, then 1/16 Cel. */
export function decodeOnce(bytes: Uint8Array): unknown {
  return ds18b20Decode(bytes);
}
