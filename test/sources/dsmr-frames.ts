// Representative DSMR telegrams for the lead's benchmark, and one parser+decoder pass over one.
import { readFileSync } from 'node:fs';
import { createDsmrReader, type DsmrTelegram } from '../../firmware/core/sources/dsmr/decoder.js';

interface Vec {
  name: string;
  telegram: string;
}
const VECTORS: Vec[] = JSON.parse(readFileSync(new URL('../vectors/sources/dsmr.json', import.meta.url), 'utf8')).valid;

function latin1(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

function pick(name: string): Uint8Array {
  const v = VECTORS.find((x) => x.name === name);
  if (!v) throw new Error('no vector ' + name);
  return latin1(v.telegram);
}

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  return [
    { label: 'dsmr5 3-phase + gas (field vector, 890 B)', bytes: pick('dsmr5_field_vector') },
    { label: 'dsmr4.2 Kaifa 3-phase + gas (893 B)', bytes: pick('dsmr42_kaifa') },
    { label: 'fluvius e-MUCS, peaks on (1059 B)', bytes: pick('fluvius_emucs171') },
    { label: 'dsmr2.2 without CRC (413 B)', bytes: pick('dsmr22_iskra_me382_gas') },
  ];
}

let got: DsmrTelegram | undefined;
const keep = (t: DsmrTelegram) => (got = t);
// Two readers: one that has seen CRCs refuses CRC-less telegrams from then on (by design).
const withCrc = createDsmrReader({ peaks: true, onTelegram: keep });
const noCrc = createDsmrReader({ allowNoCrc: true, peaks: true, onTelegram: keep });

/** Runs framer + CRC + decoder once on one complete telegram; returns the decoded telegram. */
export function decodeOnce(bytes: Uint8Array): DsmrTelegram | undefined {
  got = undefined;
  let bang = bytes.length - 1;
  while (bang > 0 && bytes[bang] !== 0x21) bang--;
  const hasCrc = bang + 1 < bytes.length && bytes[bang + 1] !== 0x0d && bytes[bang + 1] !== 0x0a;
  (hasCrc ? withCrc : noCrc).push(bytes);
  return got;
}
