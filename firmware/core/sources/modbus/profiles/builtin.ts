// GENERATED from profiles/*.json by test/sources/modbus-gen-profiles.ts: do not edit. After
// changing a JSON profile run `node --import tsx test/sources/modbus-gen-profiles.ts`;
// test/sources/modbus-profile.test.ts fails while this file is out of date. Citations live in the
// JSON files. Each call builds a fresh copy of one profile (RAM only for the one in use).
import type { ModbusProfile } from '../profile.js';

export const BUILTIN_PROFILES = ['dds238', 'ddsu666', 'pzem004t', 'sdm120', 'sdm630'];

/** The named built-in profile, or undefined. */
export function builtinProfile(name: string): ModbusProfile | undefined {
  switch (name) {
    case 'dds238':
      return {
        name: 'dds238',
        model: 'Hiking DDS238-2 ZN/S (single phase)',
        maxRegs: 18,
        maxGap: 8,
        quantities: [
          { n: 'e_tot', fc: 3, addr: 0x0000, type: 'u32_abcd', scale: 10, unit: 'Wh', total: true },
          { n: 'e_exp', fc: 3, addr: 0x0008, type: 'u32_abcd', scale: 10, unit: 'Wh', total: true },
          { n: 'e', fc: 3, addr: 0x000a, type: 'u32_abcd', scale: 10, unit: 'Wh', total: true },
          { n: 'u', fc: 3, addr: 0x000c, type: 'u16', scale: 0.1, unit: 'V' },
          { n: 'i', fc: 3, addr: 0x000d, type: 'u16', scale: 0.01, unit: 'A' },
          { n: 'p', fc: 3, addr: 0x000e, type: 's16', unit: 'W' },
          { n: 'q', fc: 3, addr: 0x000f, type: 's16', unit: 'var' },
          { n: 'pf', fc: 3, addr: 0x0010, type: 'u16', scale: 0.001, unit: '/' },
          { n: 'f', fc: 3, addr: 0x0011, type: 'u16', scale: 0.01, unit: 'Hz' },
        ],
      };
    case 'ddsu666':
      return {
        name: 'ddsu666',
        model: 'CHINT DDSU666 (single phase)',
        maxRegs: 16,
        maxGap: 8,
        quantities: [
          { n: 'u', fc: 3, addr: 0x2000, type: 'f32_abcd', unit: 'V', decimals: 1 },
          { n: 'i', fc: 3, addr: 0x2002, type: 'f32_abcd', unit: 'A', decimals: 3 },
          { n: 'p', fc: 3, addr: 0x2004, type: 'f32_abcd', scale: 1000, unit: 'W', decimals: 1 },
          { n: 'q', fc: 3, addr: 0x2006, type: 'f32_abcd', scale: 1000, unit: 'var', decimals: 1 },
          { n: 'pf', fc: 3, addr: 0x200a, type: 'f32_abcd', unit: '/', decimals: 3 },
          { n: 'f', fc: 3, addr: 0x200e, type: 'f32_abcd', unit: 'Hz', decimals: 2 },
          { n: 'e', fc: 3, addr: 0x4000, type: 'f32_abcd', scale: 1000, unit: 'Wh', total: true, decimals: 0 },
          { n: 'e_exp', fc: 3, addr: 0x400a, type: 'f32_abcd', scale: 1000, unit: 'Wh', total: true, decimals: 0 },
        ],
      };
    case 'pzem004t':
      return {
        name: 'pzem004t',
        model: 'Peacefair PZEM-004T v3.0',
        maxRegs: 10,
        maxGap: 0,
        quantities: [
          { n: 'u', fc: 4, addr: 0x0000, type: 'u16', scale: 0.1, unit: 'V' },
          { n: 'i', fc: 4, addr: 0x0001, type: 'u32_cdab', scale: 0.001, unit: 'A' },
          { n: 'p', fc: 4, addr: 0x0003, type: 'u32_cdab', scale: 0.1, unit: 'W' },
          { n: 'e', fc: 4, addr: 0x0005, type: 'u32_cdab', unit: 'Wh', total: true },
          { n: 'f', fc: 4, addr: 0x0007, type: 'u16', scale: 0.1, unit: 'Hz' },
          { n: 'pf', fc: 4, addr: 0x0008, type: 'u16', scale: 0.01, unit: '/' },
          { n: 'alarm', fc: 4, addr: 0x0009, type: 'u16', flag: true },
        ],
      };
    case 'sdm120':
      return {
        name: 'sdm120',
        model: 'Eastron SDM120-Modbus (single phase)',
        maxRegs: 80,
        maxGap: 16,
        quantities: [
          { n: 'u', fc: 4, addr: 0x0000, type: 'f32_abcd', unit: 'V', decimals: 1 },
          { n: 'i', fc: 4, addr: 0x0006, type: 'f32_abcd', unit: 'A', decimals: 3 },
          { n: 'p', fc: 4, addr: 0x000c, type: 'f32_abcd', unit: 'W', decimals: 1 },
          { n: 'q', fc: 4, addr: 0x0018, type: 'f32_abcd', unit: 'var', decimals: 1 },
          { n: 'pf', fc: 4, addr: 0x001e, type: 'f32_abcd', unit: '/', decimals: 3 },
          { n: 'f', fc: 4, addr: 0x0046, type: 'f32_abcd', unit: 'Hz', decimals: 2 },
          { n: 'e', fc: 4, addr: 0x0048, type: 'f32_abcd', scale: 1000, unit: 'Wh', total: true, decimals: 0 },
          { n: 'e_exp', fc: 4, addr: 0x004a, type: 'f32_abcd', scale: 1000, unit: 'Wh', total: true, decimals: 0 },
          { n: 'e_tot', fc: 4, addr: 0x0156, type: 'f32_abcd', scale: 1000, unit: 'Wh', total: true, decimals: 0 },
        ],
      };
    case 'sdm630':
      return {
        name: 'sdm630',
        model: 'Eastron SDM630-Modbus (three phase)',
        maxRegs: 80,
        maxGap: 16,
        quantities: [
          { n: 'u_l1', fc: 4, addr: 0x0000, type: 'f32_abcd', unit: 'V', decimals: 1 },
          { n: 'u_l2', fc: 4, addr: 0x0002, type: 'f32_abcd', unit: 'V', decimals: 1 },
          { n: 'u_l3', fc: 4, addr: 0x0004, type: 'f32_abcd', unit: 'V', decimals: 1 },
          { n: 'i_l1', fc: 4, addr: 0x0006, type: 'f32_abcd', unit: 'A', decimals: 3 },
          { n: 'i_l2', fc: 4, addr: 0x0008, type: 'f32_abcd', unit: 'A', decimals: 3 },
          { n: 'i_l3', fc: 4, addr: 0x000a, type: 'f32_abcd', unit: 'A', decimals: 3 },
          { n: 'p_l1', fc: 4, addr: 0x000c, type: 'f32_abcd', unit: 'W', decimals: 1 },
          { n: 'p_l2', fc: 4, addr: 0x000e, type: 'f32_abcd', unit: 'W', decimals: 1 },
          { n: 'p_l3', fc: 4, addr: 0x0010, type: 'f32_abcd', unit: 'W', decimals: 1 },
          { n: 'pf_l1', fc: 4, addr: 0x001e, type: 'f32_abcd', unit: '/', decimals: 3 },
          { n: 'pf_l2', fc: 4, addr: 0x0020, type: 'f32_abcd', unit: '/', decimals: 3 },
          { n: 'pf_l3', fc: 4, addr: 0x0022, type: 'f32_abcd', unit: '/', decimals: 3 },
          { n: 'p', fc: 4, addr: 0x0034, type: 'f32_abcd', unit: 'W', decimals: 1 },
          { n: 'q', fc: 4, addr: 0x003c, type: 'f32_abcd', unit: 'var', decimals: 1 },
          { n: 'pf', fc: 4, addr: 0x003e, type: 'f32_abcd', unit: '/', decimals: 3 },
          { n: 'f', fc: 4, addr: 0x0046, type: 'f32_abcd', unit: 'Hz', decimals: 2 },
          { n: 'e', fc: 4, addr: 0x0048, type: 'f32_abcd', scale: 1000, unit: 'Wh', total: true, decimals: 0 },
          { n: 'e_exp', fc: 4, addr: 0x004a, type: 'f32_abcd', scale: 1000, unit: 'Wh', total: true, decimals: 0 },
          { n: 'i_n', fc: 4, addr: 0x00e0, type: 'f32_abcd', unit: 'A', decimals: 3 },
          { n: 'e_tot', fc: 4, addr: 0x0156, type: 'f32_abcd', scale: 1000, unit: 'Wh', total: true, decimals: 0 },
        ],
      };
  }
  return undefined;
}
