// Modbus RTU frames for tests and the lead's benchmark: benchFrames() gives representative
// complete responses (from test/vectors/sources/modbus.json), decodeOnce() runs the parser and
// the profile decoder once on one of them, as the driver does for one answer.
import { readFileSync } from 'node:fs';
import { fromHex } from '../../firmware/core/util/bytes.js';
import { RtuResponseParser, PARSE, MODBUS } from '../../firmware/core/sources/modbus/decoder.js';
import { compileProfile, planReads, decodeGroup, type CompiledProfile, type ReadGroup } from '../../firmware/core/sources/modbus/profile.js';
import { builtinProfile } from '../../firmware/core/sources/modbus/profiles/builtin.js';
import type { SourceValue } from '../../firmware/core/sources/source.js';

export interface ResponseVector {
  description: string;
  source: string;
  profile: string;
  only?: string[];
  slave: number;
  hex: string;
  registers?: number[];
  values: Record<string, number | boolean>;
}

export interface ModbusVectors {
  crc: { description: string; source: string; hex: string; crc: number }[];
  requests: { description: string; source: string; slave: number; fc: number; address: number; count: number; hex: string }[];
  responses: ResponseVector[];
  exceptions: { description: string; source: string; hex: string; slave: number; fc: number; code: number; name: string }[];
  types: { description: string; type: string; registers: number[]; value?: number; f32?: number }[];
}

export const VECTORS: ModbusVectors = JSON.parse(readFileSync(new URL('../vectors/sources/modbus.json', import.meta.url), 'utf8'));

export function hexBytes(h: string): Uint8Array {
  return fromHex(h.replace(/ /g, ''));
}

/** The profile and the read group a response vector answers. */
export function vectorPlan(v: { profile: string; only?: string[] }): { profile: CompiledProfile; group: ReadGroup } {
  const profile = compileProfile(builtinProfile(v.profile), v.profile);
  const groups = planReads(profile, profile.maxRegs, profile.maxGap, v.only);
  if (groups.length !== 1) throw new Error(v.profile + ' ' + String(v.only) + ': expected one read, planned ' + groups.length);
  return { profile, group: groups[0] };
}

interface BenchEntry {
  label: string;
  bytes: Uint8Array;
  profile?: CompiledProfile;
  group?: ReadGroup;
}

const BENCH: BenchEntry[] = [];
{
  const pick = (desc: string) => VECTORS.responses.find((r) => r.description.startsWith(desc))!;
  const add = (label: string, v: ResponseVector) => {
    const { profile, group } = vectorPlan(v);
    BENCH.push({ label, bytes: hexBytes(v.hex), profile, group });
  };
  add('SDM120 voltage (FC04 2 regs, 9 B)', pick('SDM voltage'));
  add('PZEM-004T all (FC04 10 regs, 25 B)', pick('PZEM-004T v3 capture'));
  add('DDS238 all (FC03 18 regs, 41 B)', pick('Hiking DDS238-2 ZN/S capture 1'));
  add('SDM120 block (FC04 32 regs, 69 B)', pick('SDM120 synthetic'));
  BENCH.push({ label: 'exception 02 (5 B)', bytes: hexBytes(VECTORS.exceptions[0].hex) });
}

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  return BENCH.map((b) => ({ label: b.label, bytes: b.bytes }));
}

const benchParser = new RtuResponseParser();

/** Parses one complete response frame and decodes its values (the exception code for exceptions). */
export function decodeOnce(bytes: Uint8Array): SourceValue[] | number {
  const isException = (bytes[1] & MODBUS.EXCEPTION_BIT) !== 0;
  const fc = bytes[1] & 0x7f;
  const count = isException ? 1 : bytes[2] >> 1;
  benchParser.expect(bytes[0], fc, count);
  const r = benchParser.push(bytes);
  if (r === PARSE.EXCEPTION) return benchParser.exception;
  if (r !== PARSE.REGISTERS) throw new Error('decodeOnce: not a complete response');
  const e = BENCH.find((b) => b.group && b.group.fc === fc && b.group.count === count && b.bytes[0] === bytes[0]);
  if (!e || !e.profile || !e.group) throw new Error('decodeOnce: no profile for FC' + fc + ' x' + count);
  const slots: (SourceValue | undefined)[] = [];
  decodeGroup(e.profile, e.group, benchParser.registers!, slots, { n: 0 });
  return slots.filter((s): s is SourceValue => s !== undefined);
}
