// Simulated Espruino flash Storage for the agent simulator and tests.
//
// Follows src/jsflash.c jsfWriteFile (Espruino 2v29) so that code passing here behaves the same
// on the device:
// - names are 1..28 chars (JsfFileName);
// - write(name, data) and write(name, data, 0, size) create or replace a file of `size` bytes
//   (default data.length), filled with 0xFF after `data`. The old copy becomes trash; an
//   identical rewrite is free; a same-size file that is still entirely erased is reused in place;
// - write(name, data, offset) with offset > 0 writes into an existing file; the device refuses
//   any byte that is not erased ("File already written with different data"). `strict` (the
//   default) does the same; with strict: false the bytes become old AND new, as raw NOR flash
//   does, and the write is counted in stats().notErased;
// - a file costs a 32-byte header plus its size rounded up to 4 bytes; trash stays until a
//   compaction, which the device runs by itself when a new file does not fit otherwise;
//   getFree() is the space after the last file, as jsfGetStorageStats reports it.
// Deliberate differences: a bad call (no such file, too much data, name too long) throws before
// changing anything, where the device sometimes replaces the file first; write() throws instead
// of returning false; compaction is atomic here (it is not on the device).
//
// Power cuts: cutPowerAfter(n) tears the n-th write step from now (a step is one write() or
// erase() that changes flash), then throws a PowerCut error (code E_POWER_CUT) and refuses all
// writes until reboot(). What a torn step leaves, following the order in which jsfWriteFile
// programs flash:
//   offset write       a prefix of `data` (0..all of it: all = written, but the call never returned)
//   create / replace   the old file untouched, or the old file trashed and no new file, or the
//                      new file (full size) holding a prefix of `data`
//   erase              the file still there, or gone
// The torn length comes from a seeded PRNG (reproducible) or from `tornBytes` (clamped; -2 and
// -1 select the first two create outcomes).
//
// File-backed mode (`dir`): one directory per device, one host file per Storage file plus
// _flash.json (space accounting and wear counters). Whole-file writes go to a temp file that is
// renamed over the old one, offset writes are done in place, so a killed simulator process leaves
// each file either old or new (host power loss without fsync is not covered).

import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Storage } from '../../firmware/core/host.js';
import { err, describe, type CodedError } from '../../firmware/core/util/errors.js';

// ---------------------------------------------------------------------------------------------
// Constants (Espruino 2v29: boards/ESP32.py saved_code, src/jsflash.h, src/jsutils.h)

/** ESP32 Storage area: 224 pages of 4096 bytes (boards/ESP32.py 'saved_code'). */
export const ESP32_STORAGE_BYTES = 224 * 4096;
export const ESP32_PAGE_BYTES = 4096;
/** JsfFileName: 28 chars. */
export const MAX_NAME = 28;
/** JsfFileHeader: u32 size + 28-char name. */
export const FILE_HEADER = 32;
/** JSF_ALIGNMENT on ESP32. */
export const ALIGN = 4;
/** File size is stored in 24 bits (the top byte holds flags). */
export const MAX_FILE = 0xffffff;

const META = '_flash.json';
const PREFIX = 'f_';

export interface FlashStorageOptions {
  /** Directory holding this device's flash; in-memory when omitted. */
  dir?: string;
  /** Storage area in bytes (default ESP32_STORAGE_BYTES). */
  capacity?: number;
  /** Flash page size, for counting page erases at compaction (default 4096). */
  pageBytes?: number;
  /** Throw on a write into non-erased bytes (default true). */
  strict?: boolean;
  /** PRNG seed for torn-write lengths (default 1). */
  seed?: number;
}

export interface CutOptions {
  /** Bytes of the torn step that reach flash; -2/-1 pick create outcomes (see module comment). */
  tornBytes?: number;
}

/** Wear and accounting counters; everything except `steps` survives reboot() and reopening. */
export interface FlashStats {
  capacity: number;
  /** Bytes of live files incl. headers. */
  used: number;
  /** Bytes of trashed files incl. headers, reclaimed by the next compaction. */
  garbage: number;
  free: number;
  files: number;
  /** write() calls that changed flash. */
  writeCalls: number;
  /** Bytes programmed: data, file headers, and live files copied by compactions. */
  bytesWritten: number;
  /** The part of bytesWritten that compactions copied. */
  compactedBytes: number;
  /** Files trashed by erase() or replaced by a write. */
  fileErases: number;
  compactions: number;
  /** Flash pages erased by compactions (each is one erase cycle of that page). */
  pageErases: number;
  /** Offset writes into non-erased bytes (only possible with strict: false). */
  notErased: number;
  /** Write steps since this object was made (the unit of cutPowerAfter). */
  steps: number;
  powerCuts: number;
}

export function isPowerCut(e: unknown): boolean {
  return !!e && (e as CodedError).code === 'E_POWER_CUT';
}

function align(n: number): number {
  return (n + ALIGN - 1) & ~(ALIGN - 1);
}
function footprint(size: number): number {
  return FILE_HEADER + align(size);
}
function allErased(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (b[i] !== 0xff) return false;
  return true;
}
function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Host file name for a Storage name: [A-Za-z0-9_-] kept, everything else %XX / %uXXXX. */
function hostName(name: string): string {
  let s = PREFIX;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ch = name[i];
    if (/[A-Za-z0-9_-]/.test(ch)) s += ch;
    else if (c < 256) s += '%' + c.toString(16).padStart(2, '0');
    else s += '%u' + c.toString(16).padStart(4, '0');
  }
  return s;
}
function storageName(host: string): string | undefined {
  if (!host.startsWith(PREFIX)) return undefined;
  const s = host.slice(PREFIX.length);
  let out = '';
  for (let i = 0; i < s.length; ) {
    if (s[i] !== '%') {
      out += s[i++];
    } else if (s[i + 1] === 'u') {
      out += String.fromCharCode(parseInt(s.substr(i + 2, 4), 16));
      i += 6;
    } else {
      out += String.fromCharCode(parseInt(s.substr(i + 1, 2), 16));
      i += 3;
    }
  }
  return out;
}

/** mulberry32: small, seeded, good enough to pick torn lengths reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FlashStorage implements Storage {
  readonly dir: string | undefined;
  readonly capacity: number;
  readonly pageBytes: number;
  strict: boolean;
  /** Files in flash order (Map keeps insertion order; a replaced file moves to the end). */
  private files = new Map<string, Uint8Array>();
  /** Bytes from the start of the area to the end of the last file (live + trash). */
  private end = 0;
  private garbage = 0;
  private wear = { writeCalls: 0, bytesWritten: 0, compactedBytes: 0, fileErases: 0, compactions: 0, pageErases: 0, notErased: 0, powerCuts: 0 };
  private steps = 0;
  /** Steps left before the torn one; 0 when no cut is armed. */
  private armed = 0;
  private tornBytes: number | undefined;
  private off = false;
  private rand: () => number;

  constructor(opts: FlashStorageOptions = {}) {
    this.dir = opts.dir;
    this.capacity = opts.capacity ?? ESP32_STORAGE_BYTES;
    this.pageBytes = opts.pageBytes ?? ESP32_PAGE_BYTES;
    this.strict = opts.strict ?? true;
    this.rand = prng(opts.seed ?? 1);
    if (!Number.isInteger(this.capacity) || this.capacity < FILE_HEADER + ALIGN)
      throw err('E_RANGE', '"capacity" expected an integer of at least ' + (FILE_HEADER + ALIGN) + ' bytes, got ' + this.capacity, RangeError);
    if (this.dir !== undefined) this.load(this.dir);
  }

  // ---- Storage interface ----------------------------------------------------------------------

  read(name: string, offset?: number, length?: number): Uint8Array | undefined {
    this.checkName(name);
    const f = this.files.get(name);
    if (!f) return undefined;
    // As jsfReadFile: offset clipped to the file, a length <= 0 (or none) reads to the end.
    const s = Math.min(Math.max(offset ?? 0, 0), f.length);
    const e = length === undefined || length <= 0 ? f.length : Math.min(s + length, f.length);
    return f.slice(s, e);
  }

  write(name: string, data: Uint8Array, offset?: number, size?: number): void {
    this.checkName(name);
    if (!(data instanceof Uint8Array)) throw err('E_TYPE', '"data" expected Uint8Array, got ' + describe(data), TypeError);
    if (offset !== undefined && (!Number.isInteger(offset) || offset < 0))
      throw err('E_RANGE', '"offset" expected an integer >= 0, got ' + String(offset), RangeError);
    if (size !== undefined && (!Number.isInteger(size) || size < 0 || size > MAX_FILE))
      throw err('E_RANGE', '"size" expected an integer 0..' + MAX_FILE + ', got ' + String(size), RangeError);
    this.checkPower();
    const off = offset ?? 0;
    const sz = size || data.length;
    const old = this.files.get(name);
    const create = off === 0 && (!old || sz !== old.length || !allErased(old, 0, old.length));
    if (create) {
      if (sz === 0) throw err('E_EMPTY', 'Storage.write("' + name + '"): cannot create a zero-length file', RangeError);
      if (data.length > sz)
        throw err('E_BOUNDS', 'Storage.write("' + name + '"): ' + data.length + ' bytes of data do not fit a file of ' + sz + ' bytes', RangeError);
      // jsfWriteFile: same size, all data given and identical -> nothing is written.
      if (old && sz === old.length && data.length === sz && equal(old, data)) return;
      this.ensureSpace(name, sz);
      this.step('create', name, data, 0, sz);
      return;
    }
    if (!old) throw err('E_NOFILE', 'Storage.write("' + name + '", offset ' + off + '): no such file to write into (create it with offset 0 and a size)');
    if (off + data.length > old.length)
      throw err('E_BOUNDS', 'Storage.write("' + name + '"): ' + data.length + ' bytes at offset ' + off + ' exceed the file size ' + old.length, RangeError);
    if (!allErased(old, off, off + data.length)) {
      if (this.strict)
        throw err('E_NOT_ERASED', 'Storage.write("' + name + '"): bytes ' + off + '..' + (off + data.length - 1) + ' are not erased (flash can only clear bits; the device refuses this write)');
      this.wear.notErased++;
    }
    this.step('write', name, data, off, 0);
  }

  erase(name: string): void {
    this.checkName(name);
    this.checkPower();
    if (!this.files.has(name)) return;
    this.step('erase', name, new Uint8Array(0), 0, 0);
  }

  list(prefix?: string): string[] {
    const out: string[] = [];
    for (const n of this.files.keys()) if (prefix === undefined || n.startsWith(prefix)) out.push(n);
    return out;
  }

  getFree(): number {
    return this.capacity - this.end;
  }

  compact(): void {
    this.checkPower();
    this.doCompact();
    this.saveMeta();
  }

  // ---- Fault injection ------------------------------------------------------------------------

  /** Tear the n-th write step from now (n >= 1), then refuse writes until reboot(). */
  cutPowerAfter(n: number, opts: CutOptions = {}): void {
    if (!Number.isInteger(n) || n < 1) throw err('E_RANGE', '"n" expected an integer >= 1, got ' + String(n), RangeError);
    this.armed = n;
    this.tornBytes = opts.tornBytes;
  }

  /** Disarm a pending cut without firing it. */
  disarm(): void {
    this.armed = 0;
  }

  /** True between a power cut and reboot(). */
  get poweredOff(): boolean {
    return this.off;
  }

  /** The device restarts: writes work again, flash holds whatever the cut left. */
  reboot(): this {
    this.off = false;
    this.armed = 0;
    return this;
  }

  stats(): FlashStats {
    let used = 0;
    for (const f of this.files.values()) used += footprint(f.length);
    return {
      capacity: this.capacity,
      used,
      garbage: this.garbage,
      free: this.getFree(),
      files: this.files.size,
      ...this.wear,
      steps: this.steps,
    };
  }

  /** Raw copy of every file, for tests that compare flash before and after. */
  snapshot(): Record<string, Uint8Array> {
    const out: Record<string, Uint8Array> = {};
    for (const [n, f] of this.files) out[n] = f.slice();
    return out;
  }

  // ---- Internals ------------------------------------------------------------------------------

  private checkName(name: string): void {
    if (typeof name !== 'string') throw err('E_TYPE', '"name" expected a string, got ' + describe(name), TypeError);
    if (name.length === 0 || name.length > MAX_NAME)
      throw err('E_NAME', '"name" expected 1..' + MAX_NAME + ' chars (Espruino JsfFileName), got ' + name.length + ': ' + JSON.stringify(name), RangeError);
  }

  private checkPower(): void {
    if (this.off) throw err('E_POWER_CUT', 'flash: power is cut; reboot() first');
  }

  /** Make room for a new file of `size` bytes (replacing `name` if it exists), as jsfCreateFile does. */
  private ensureSpace(name: string, size: number): void {
    const need = footprint(size);
    if (this.capacity - this.end >= need) return;
    const old = this.files.get(name);
    // The old copy becomes trash before the new file is placed, so it counts as reclaimable.
    const reclaim = this.garbage + (old ? footprint(old.length) : 0);
    if (this.capacity - this.end + reclaim < need)
      throw err('E_FULL', 'Storage.write("' + name + '"): ' + need + ' bytes needed, ' + (this.capacity - this.end + reclaim) + ' free even after compaction');
    // Compaction happens before the step, so a torn step still finds a compacted flash.
    if (old) {
      // Trash the old copy first so the compaction reclaims it, exactly as the device would
      // after jsfEraseFileInternal; the step below then creates the new file.
      this.files.delete(name);
      this.garbage += footprint(old.length);
      this.wear.fileErases++;
      this.pendingOld = old;
    }
    this.doCompact();
  }

  /** Old copy of a file trashed by ensureSpace() before its replacement was written. */
  private pendingOld: Uint8Array | undefined;

  private doCompact(): void {
    let live = 0;
    for (const f of this.files.values()) live += footprint(f.length);
    this.wear.bytesWritten += live;
    this.wear.compactedBytes += live;
    this.wear.pageErases += Math.ceil(this.end / this.pageBytes);
    this.wear.compactions++;
    this.end = live;
    this.garbage = 0;
  }

  /** One write step: maybe torn, then applied to memory and mirrored to the directory. */
  private step(kind: 'create' | 'write' | 'erase', name: string, data: Uint8Array, off: number, size: number): void {
    this.steps++;
    let torn: number | undefined;
    if (this.armed > 0 && --this.armed === 0) {
      const lo = kind === 'create' ? -2 : 0;
      const hi = kind === 'erase' ? 1 : data.length;
      torn = this.tornBytes !== undefined ? Math.max(lo, Math.min(hi, this.tornBytes)) : lo + Math.floor(this.rand() * (hi - lo + 1));
    }
    const pendingOld = this.pendingOld;
    this.pendingOld = undefined;
    if (kind === 'erase') {
      if (torn === undefined || torn > 0) this.trash(name);
    } else if (kind === 'write') {
      const n = torn === undefined ? data.length : torn;
      const f = this.files.get(name)!;
      for (let i = 0; i < n; i++) f[off + i] &= data[i];
      if (n > 0) {
        this.wear.writeCalls++;
        this.wear.bytesWritten += n;
        this.hostWriteAt(name, f, off, n);
      }
    } else {
      if (torn === -2) {
        // Cut before anything reached flash. If ensureSpace() already trashed the old copy to
        // compact, put it back: on the device the compaction would have copied it.
        if (pendingOld) this.restore(name, pendingOld);
      } else {
        this.trash(name);
        if (torn !== -1) {
          const f = new Uint8Array(size).fill(0xff);
          const n = torn === undefined ? data.length : torn;
          f.set(data.subarray(0, n), 0);
          this.files.set(name, f);
          this.end += footprint(size);
          this.wear.writeCalls++;
          this.wear.bytesWritten += FILE_HEADER + n;
          this.hostWriteWhole(name, f);
        }
      }
    }
    this.saveMeta();
    if (torn !== undefined) {
      this.off = true;
      this.wear.powerCuts++;
      this.saveMeta();
      throw err('E_POWER_CUT', 'flash: power cut during ' + kind + ' of "' + name + '" (' + torn + ' of ' + data.length + ' bytes)');
    }
  }

  private trash(name: string): void {
    const old = this.files.get(name);
    if (!old) return;
    this.files.delete(name);
    this.garbage += footprint(old.length);
    this.wear.fileErases++;
    this.hostUnlink(name);
  }

  /** Undo ensureSpace()'s early trashing: the compaction (already counted) kept the file. */
  private restore(name: string, f: Uint8Array): void {
    this.files.set(name, f);
    this.end += footprint(f.length);
    this.wear.fileErases--;
    this.wear.bytesWritten += footprint(f.length);
    this.wear.compactedBytes += footprint(f.length);
  }

  // ---- Host directory mirror ------------------------------------------------------------------

  private load(dir: string): void {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    for (const h of readdirSync(dir)) {
      if (h.endsWith('.tmp')) {
        unlinkSync(join(dir, h));
        continue;
      }
      const n = storageName(h);
      if (n !== undefined) this.files.set(n, new Uint8Array(readFileSync(join(dir, h))));
    }
    let live = 0;
    for (const f of this.files.values()) live += footprint(f.length);
    this.end = live;
    const mp = join(dir, META);
    if (existsSync(mp)) {
      const m = JSON.parse(readFileSync(mp, 'utf8'));
      if (m.capacity === this.capacity && typeof m.garbage === 'number') this.garbage = m.garbage;
      this.end = live + this.garbage;
      if (m.order) {
        // Keep flash order across reopening (list() order follows it).
        const ordered = new Map<string, Uint8Array>();
        for (const n of m.order as string[]) if (this.files.has(n)) ordered.set(n, this.files.get(n)!);
        for (const [n, f] of this.files) if (!ordered.has(n)) ordered.set(n, f);
        this.files = ordered;
      }
      for (const k of Object.keys(this.wear) as (keyof FlashStorage['wear'])[]) if (typeof m.wear?.[k] === 'number') this.wear[k] = m.wear[k];
    }
  }

  private hostWriteWhole(name: string, f: Uint8Array): void {
    if (this.dir === undefined) return;
    const p = join(this.dir, hostName(name));
    writeFileSync(p + '.tmp', f);
    renameSync(p + '.tmp', p);
  }

  private hostWriteAt(name: string, f: Uint8Array, off: number, n: number): void {
    if (this.dir === undefined) return;
    const fd = openSync(join(this.dir, hostName(name)), 'r+');
    try {
      writeSync(fd, f, off, n, off);
    } finally {
      closeSync(fd);
    }
  }

  private hostUnlink(name: string): void {
    if (this.dir === undefined) return;
    const p = join(this.dir, hostName(name));
    if (existsSync(p)) unlinkSync(p);
  }

  private saveMeta(): void {
    if (this.dir === undefined) return;
    const p = join(this.dir, META);
    const m = { capacity: this.capacity, garbage: this.garbage, order: [...this.files.keys()], wear: this.wear };
    writeFileSync(p + '.tmp', JSON.stringify(m));
    renameSync(p + '.tmp', p);
  }
}
