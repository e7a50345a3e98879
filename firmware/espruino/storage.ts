// Host Storage over Espruino's require("Storage") (src/jswrap_storage.c, src/jsflash.c), with
// the device's rules made explicit where Espruino is silent about them:
// - names longer than 28 chars are truncated by jsfNameFromVar without a word; two long names
//   that share their first 28 chars would then be one file. Refused here instead.
// - write() reports failure by returning false (and sometimes also by throwing, e.g. "File
//   already written with different data"): both become one coded error, E_STORAGE_WRITE.
// - list() takes a RegExp and does not anchor it; the host contract is a literal prefix, so
//   the full list is filtered here (Espruino's matcher has no {n} and no escapes we would want
//   to build from a prefix anyway).
// - read() copies into RAM: Storage.read returns a string that points into memory-mapped
//   flash, which a later compact() moves; a Uint8Array kept by core must not change under it.
//   Big read-only data that is never rewritten (the secp256k1 G table) is better used in place:
//   mapped() returns a Uint8Array view over Storage.readArrayBuffer, costing no RAM.
// Data goes to Storage.write as the Uint8Array itself: jsfWriteFile takes a typed array's bytes
// through JSV_GET_AS_CHAR_ARRAY (src/jsvar.h), honouring byteOffset, so an E.toString copy would
// only cost RAM. A typed array is never stringified there (unlike Socket.write).
import type { Storage } from '../core/host.js';
import { err, abytes, describe, RANGE_ERROR } from '../core/util/errors.js';
import type { EspruinoE, StorageModule } from './espruino.js';

declare const E: EspruinoE;
declare function require(name: string): unknown;

/** JsfFileName: 28 chars (src/jsflash.h). */
export const STORAGE_NAME_MAX = 28;

export interface EspruinoStorage extends Storage {
  /** A read-only view of the whole file in flash (no copy), or undefined when absent. */
  mapped(name: string): Uint8Array | undefined;
  compact(): void;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string') throw err('E_TYPE', '"name" expected a string, got ' + describe(name), TypeError);
  if (name.length === 0 || name.length > STORAGE_NAME_MAX)
    throw err('E_NAME', '"name" expected 1..' + STORAGE_NAME_MAX + ' chars (Espruino truncates longer names silently), got ' +
      name.length + ': ' + JSON.stringify(name), RANGE_ERROR);
  return name;
}

function optInt(name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || Math.floor(v) !== v || v < 0)
    throw err('E_RANGE', '"' + name + '" expected an integer >= 0, got ' + String(v), RANGE_ERROR);
  return v;
}

/** The host Storage over `S` (default: require("Storage")). */
export function espruinoStorage(S?: StorageModule): EspruinoStorage {
  const st: StorageModule = S || (require('Storage') as StorageModule);
  return {
    read: function (name: string, offset?: number, length?: number): Uint8Array | undefined {
      checkName(name);
      const s = st.read(name, optInt('offset', offset), optInt('length', length));
      // A file is never empty (Espruino refuses zero-length files), so "" means an offset at
      // the end: an empty read, as jsfReadFile clips it.
      if (s === undefined) return undefined;
      return E.toUint8Array(s);
    },
    write: function (name: string, data: Uint8Array, offset?: number, size?: number): void {
      checkName(name);
      abytes('data', data);
      const o = optInt('offset', offset);
      const z = optInt('size', size);
      let ok = false;
      let why = '';
      try {
        ok = st.write(name, data, o, z);
      } catch (e) {
        why = ': ' + ((e as Error).message || String(e));
      }
      if (!ok)
        throw err('E_STORAGE_WRITE', 'Storage.write("' + name + '", ' + data.length + ' bytes at offset ' + o + (z ? ', size ' + z : '') +
          ') failed' + (why || ' (returned false: no space, or bytes not erased)'));
    },
    erase: function (name: string): void {
      st.erase(checkName(name));
    },
    list: function (prefix?: string): string[] {
      if (prefix !== undefined && typeof prefix !== 'string') throw err('E_TYPE', '"prefix" expected a string, got ' + describe(prefix), TypeError);
      const all = st.list();
      if (!prefix) return all;
      const out: string[] = [];
      for (let i = 0; i < all.length; i++) if (all[i].substr(0, prefix.length) === prefix) out.push(all[i]);
      return out;
    },
    getFree: function (): number {
      return st.getFree();
    },
    compact: function (): void {
      st.compact();
    },
    mapped: function (name: string): Uint8Array | undefined {
      const ab = st.readArrayBuffer(checkName(name));
      return ab === undefined ? undefined : new Uint8Array(ab);
    },
  };
}
