// Append-only records on Espruino flash: framing, CRC-32, scanning, and a two-file state log.
//
// Why this shape: Espruino's Storage (src/jswrap_storage.c, src/jsflash.c) can only write into
// still-erased (0xFF) bytes of a preallocated file; replacing a file marks the old copy as trash
// that stays until a compaction erases flash pages. Rewriting a whole file per update would burn
// one file's worth of flash per increment, so every persistent structure here appends small
// framed records into preallocated files and detects a torn (power-cut) record by its checksum.
//
// Frame (all integers little-endian), placed at 4-byte aligned offsets inside a file:
//   off 0        u8   tag       record kind; never 0xFF, so an erased byte marks the log's end
//   off 1        u16  len       payload length, at most FRAME_MAX_PAYLOAD
//   off 3        len  payload
//   off 3+len    u32  crc       CRC-32 (IEEE 802.3) over bytes [0, 3+len)
//   then up to 3 bytes of padding left erased (never written), so the next frame is aligned.
// Alignment keeps every record start on a flash word: Espruino's jshFlashWriteAligned otherwise
// re-programs the neighbouring bytes of a partial word with their current value.
//
// Torn writes: a power cut while a frame is written leaves a prefix of it (the rest 0xFF). The
// scan then sees a non-0xFF tag with a bad length or CRC. A log whose scan ends on such a frame
// is "sealed": nothing is appended to it again (the torn bytes are not erased, and writing after
// them would need to know where they end). That costs the rest of one file per power cut, which
// is rare, and keeps the rule simple: write only into bytes known to be erased.

import { err, RANGE_ERROR } from '../util/errors.js';
import type { Storage } from '../host.js';

// ---------------------------------------------------------------------------------------------
// Constants

/** Value of an erased flash byte (NOR flash: erase sets all bits, programming clears them). */
export const ERASED = 0xff;
/** Espruino JSF_ALIGNMENT on ESP32 (src/jsutils.h): flash words are 4 bytes. */
export const FRAME_ALIGN = 4;
/** tag (1) + len (2). */
export const FRAME_HEAD = 3;
/** CRC-32 trailer. */
export const FRAME_CRC = 4;
export const FRAME_OVERHEAD = FRAME_HEAD + FRAME_CRC;
/** 0xFFFF is what a torn length (only the tag written) reads as; it is never a valid length. */
export const FRAME_MAX_PAYLOAD = 0xfffe;
/** Espruino JsfFileName is 28 chars (src/jsflash.h): longer names are rejected. */
export const STORAGE_MAX_NAME = 28;
/** Espruino JsfFileHeader (size u32 + name[28]) that precedes every file on flash. */
export const STORAGE_FILE_HEADER = 32;

/** scanFrames stopped at an erased byte: the log ends cleanly here. */
export const SCAN_END = -1;
/** scanFrames stopped at bytes that are not a valid frame: a torn write (or foreign data). */
export const SCAN_BAD = -2;

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF).
// Check value: crc32("123456789") = 0xCBF43926 (the CRC-32/ISO-HDLC entry of the Williams/Greg
// Cook catalogue). Portable version: a 16-entry nibble table (64 bytes of RAM, two steps per
// byte). It costs ~5 us per byte in Espruino's Linux build, so a boot that checks a full outbox
// (~90 KB of frames) would take seconds on an ESP32; Espruino's native E.CRC32 computes the
// same CRC (src/jswrap_espruino.c jswrap_espruino_CRC32: init ~0, poly 0xEDB88320, result ~crc)
// and a platform installs it with installCrc32(). Slot contract: fn(bytes) -> the CRC-32 of
// bytes[0 .. length) of that view (honouring its byteOffset) as a number; it must not keep or
// modify `bytes`. Espruino: installCrc32(function (b) { return E.CRC32(b); }).

const CRC_NIBBLE = new Uint32Array([
  0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
  0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
]);

/** Portable CRC-32 of b[start, end) as an unsigned 32-bit number (the slot's reference). */
export function crc32Portable(b: Uint8Array, start?: number, end?: number): number {
  const s = start === undefined ? 0 : start;
  const e = end === undefined ? b.length : end;
  let c = -1;
  for (let i = s; i < e; i++) {
    c ^= b[i];
    c = (c >>> 4) ^ CRC_NIBBLE[c & 15];
    c = (c >>> 4) ^ CRC_NIBBLE[c & 15];
  }
  return (c ^ -1) >>> 0;
}

let crcSlot: ((b: Uint8Array) => number) | undefined;

/** CRC-32 of b[start, end): through the installed native slot if there is one. */
export function crc32(b: Uint8Array, start?: number, end?: number): number {
  if (crcSlot === undefined) return crc32Portable(b, start, end);
  const s = start === undefined ? 0 : start;
  const e = end === undefined ? b.length : end;
  return crcSlot(s === 0 && e === b.length ? b : b.subarray(s, e)) >>> 0;
}

/**
 * Install a native CRC-32 after checking it against the portable one on known inputs (empty,
 * the catalogue check string, erased flash, and a view into a larger buffer); throws
 * E_CRC32_SLOT and keeps the portable version if any answer differs. undefined uninstalls.
 */
export function installCrc32(fn: ((b: Uint8Array) => number) | undefined): void {
  if (fn === undefined) {
    crcSlot = undefined;
    return;
  }
  if (typeof fn !== 'function') throw err('E_TYPE', '"fn" expected a function, got ' + typeof fn, TypeError);
  const big = new Uint8Array(300);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 255;
  const check = new Uint8Array([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39]);
  const erased = new Uint8Array(64);
  for (let i = 0; i < erased.length; i++) erased[i] = ERASED;
  const cases = [new Uint8Array(0), check, erased, big.subarray(17, 250)];
  for (let i = 0; i < cases.length; i++) {
    const want = crc32Portable(cases[i]);
    const got = fn(cases[i]);
    if (typeof got !== 'number' || got >>> 0 !== want)
      throw err('E_CRC32_SLOT', 'crc32 slot: known answer ' + i + ' expected ' + want + ', got ' + String(got));
  }
  if (crc32Portable(check) !== 0xcbf43926) throw err('E_CRC32_SLOT', 'crc32: portable check value wrong');
  crcSlot = fn;
}

// ---------------------------------------------------------------------------------------------
// Little-endian field helpers (no DataView needed for integers; one scratch DataView for f64).

export function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 255;
  b[o + 1] = (v >>> 8) & 255;
}
export function getU16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}
export function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 255;
  b[o + 1] = (v >>> 8) & 255;
  b[o + 2] = (v >>> 16) & 255;
  b[o + 3] = (v >>> 24) & 255;
}
export function getU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
const F64 = new Uint8Array(8);
const F64V = new DataView(F64.buffer);
export function putF64(b: Uint8Array, o: number, v: number): void {
  F64V.setFloat64(0, v, true);
  for (let i = 0; i < 8; i++) b[o + i] = F64[i];
}
export function getF64(b: Uint8Array, o: number): number {
  for (let i = 0; i < 8; i++) F64[i] = b[o + i];
  return F64V.getFloat64(0, true);
}

export function alignUp(n: number): number {
  return (n + FRAME_ALIGN - 1) & ~(FRAME_ALIGN - 1);
}

// ---------------------------------------------------------------------------------------------
// Frames

/** Bytes a frame with `payloadLen` bytes occupies in a file, padding included. */
export function frameSpan(payloadLen: number): number {
  return alignUp(FRAME_OVERHEAD + payloadLen);
}

/** Build a frame around `payload` (the padding is not part of it: it stays erased). */
export function frame(tag: number, payload: Uint8Array): Uint8Array {
  if (tag < 0 || tag > 0xfe || Math.floor(tag) !== tag) throw err('E_RANGE', '"tag" expected 0..254, got ' + tag, RANGE_ERROR);
  if (payload.length > FRAME_MAX_PAYLOAD)
    throw err('E_LENGTH', '"payload" expected at most ' + FRAME_MAX_PAYLOAD + ' bytes, got ' + payload.length, RANGE_ERROR);
  const n = payload.length;
  const out = new Uint8Array(FRAME_OVERHEAD + n);
  out[0] = tag;
  putU16(out, 1, n);
  out.set(payload, FRAME_HEAD);
  putU32(out, FRAME_HEAD + n, crc32(out, 0, FRAME_HEAD + n));
  return out;
}

/**
 * Check the frame at `off` in b[.., end). Returns the aligned offset of the next frame, SCAN_END
 * when b[off] is erased (or no room is left for even a header), SCAN_BAD when the bytes there
 * are not a whole frame with a matching CRC.
 */
export function checkFrame(b: Uint8Array, off: number, end: number): number {
  if (off + FRAME_OVERHEAD > end) return off >= end || b[off] === ERASED ? SCAN_END : SCAN_BAD;
  if (b[off] === ERASED) return SCAN_END;
  const n = getU16(b, off + 1);
  if (n > FRAME_MAX_PAYLOAD || off + FRAME_OVERHEAD + n > end) return SCAN_BAD;
  if (crc32(b, off, off + FRAME_HEAD + n) !== getU32(b, off + FRAME_HEAD + n)) return SCAN_BAD;
  return off + alignUp(FRAME_OVERHEAD + n);
}

export function frameTag(b: Uint8Array, off: number): number {
  return b[off];
}
export function framePayloadLen(b: Uint8Array, off: number): number {
  return getU16(b, off + 1);
}

/** True when every byte of b[start, end) is erased. */
export function isErased(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i] !== ERASED) return false;
  return true;
}

/** Result of scanFrames: where appending may continue, and whether the log is sealed. */
export interface ScanResult {
  /** Offset after the last valid frame. */
  next: number;
  /** True when the scan stopped on a bad frame, or non-erased bytes follow the clean end. */
  sealed: boolean;
  /** Number of valid frames seen. */
  count: number;
}

/**
 * Walk the frames of b[start, end), calling onFrame(tag, frameOffset) for each valid one, and
 * stop at the first erased tag (clean end) or bad frame (torn tail). A clean end is only
 * trusted when the rest of the region is erased too: otherwise the log is sealed as well.
 */
export function scanFrames(b: Uint8Array, start: number, end: number, onFrame: (tag: number, off: number) => void): ScanResult {
  let off = start;
  let count = 0;
  for (;;) {
    const next = checkFrame(b, off, end);
    if (next === SCAN_END) return { next: off, sealed: !isErased(b, off, end), count: count };
    if (next === SCAN_BAD) return { next: off, sealed: true, count: count };
    onFrame(b[off], off);
    count++;
    off = next;
  }
}

// ---------------------------------------------------------------------------------------------
// Storage helpers

/** Reject a file name Espruino would refuse, before any write is attempted. */
export function checkName(what: string, name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > STORAGE_MAX_NAME)
    throw err('E_NAME', '"' + what + '" expected a Storage file name of 1..' + STORAGE_MAX_NAME + ' chars, got ' + JSON.stringify(name), RANGE_ERROR);
  return name;
}

/** Flash a file really occupies on Espruino: its header plus its size rounded to a word. */
export function fileFootprint(size: number): number {
  return STORAGE_FILE_HEADER + alignUp(size);
}

/**
 * Read `len` bytes at `off` of a file whose size is at least off + len. Espruino's
 * Storage.read(name, offset, length) reads a range without copying the file; a Storage that
 * ignores the extra arguments returns the whole file, which is recognised by its length (the
 * range is always inside the file, so a range-aware read returns exactly `len` bytes).
 */
export function readRange(storage: Storage, name: string, off: number, len: number): Uint8Array | undefined {
  const r = (storage.read as (n: string, o?: number, l?: number) => Uint8Array | undefined)(name, off, len);
  if (r === undefined) return undefined;
  if (r.length === len) return r;
  if (r.length < off + len) return undefined;
  return r.subarray(off, off + len);
}

// ---------------------------------------------------------------------------------------------
// StateLog: the latest copy of a small state, in two preallocated files used in turn.
//
// Each save appends one frame [rc u32][state] to the active file; rc is a record counter that
// only grows, so after a reboot the valid frame with the highest rc, in either file, is the
// state. When the active file is full (or sealed by a torn frame) the state is written as the
// first frame of the other file, which replaces it (Espruino write(name, data, 0, size)); the
// active file is left alone until the other one holds a valid frame, so a power cut at any step
// leaves at least one valid copy: the newest that was completely written.

export interface StateLogStats {
  saves: number;
  rotations: number;
  /** File holding the newest state ('' before the first save). */
  active: string;
  rc: number;
}

const STATE_RC = 4;

export class StateLog {
  readonly storage: Storage;
  readonly names: string[];
  readonly fileBytes: number;
  readonly tag: number;
  /** Index into names of the file being appended to, -1 when none is usable. */
  private act = -1;
  private pos = 0;
  private sealed = true;
  private rc = 0;
  private saves = 0;
  private rotations = 0;

  constructor(storage: Storage, baseName: string, fileBytes: number, tag: number) {
    this.storage = storage;
    this.names = [checkName('file', baseName + '0'), checkName('file', baseName + '1')];
    this.fileBytes = fileBytes;
    this.tag = tag;
  }

  /** Largest state this log can hold (it must fit as the first frame of a file). */
  maxState(): number {
    return this.fileBytes - FRAME_OVERHEAD - STATE_RC;
  }

  /** Scan both files and return the newest state that was completely written, or undefined. */
  load(): Uint8Array | undefined {
    let best: Uint8Array | undefined;
    let bestRc = -1;
    this.act = -1;
    this.sealed = true;
    for (let f = 0; f < 2; f++) {
      const b = this.storage.read(this.names[f]);
      if (!b) continue;
      let fileBest = -1;
      let fileBestOff = -1;
      const tag = this.tag;
      const res = scanFrames(b, 0, b.length, function (t, off) {
        if (t !== tag || framePayloadLen(b, off) < STATE_RC) return;
        const rc = getU32(b, off + FRAME_HEAD);
        if (rc > fileBest) (fileBest = rc), (fileBestOff = off);
      });
      if (fileBest > bestRc) {
        bestRc = fileBest;
        const n = framePayloadLen(b, fileBestOff) - STATE_RC;
        best = new Uint8Array(n);
        best.set(b.subarray(fileBestOff + FRAME_HEAD + STATE_RC, fileBestOff + FRAME_HEAD + STATE_RC + n));
        this.act = f;
        this.pos = res.next;
        // A file that was cut short or has a different size than configured is not appended to.
        this.sealed = res.sealed || b.length !== this.fileBytes;
      }
    }
    this.rc = bestRc < 0 ? 0 : bestRc;
    return best;
  }

  /** Persist `state`; throws whatever the storage throws (the previous state then still holds). */
  save(state: Uint8Array): void {
    if (state.length > this.maxState())
      throw err('E_LENGTH', '"state" expected at most ' + this.maxState() + ' bytes, got ' + state.length, RANGE_ERROR);
    const payload = new Uint8Array(STATE_RC + state.length);
    // rc grows on every attempt, also a failed one: a frame that reached flash in full although
    // the call threw must not share its rc with the next one.
    this.rc = this.rc + 1;
    putU32(payload, 0, this.rc);
    payload.set(state, STATE_RC);
    const f = frame(this.tag, payload);
    const span = alignUp(f.length);
    this.saves++;
    if (this.act >= 0 && !this.sealed && this.pos + span <= this.fileBytes) {
      try {
        this.storage.write(this.names[this.act], f, this.pos);
      } catch (e) {
        // Some bytes may have reached flash: never append behind them.
        this.sealed = true;
        throw e;
      }
      this.pos += span;
      return;
    }
    const next = this.act < 0 ? 0 : 1 - this.act;
    this.rotations++;
    // Replaces the older file only; the active one keeps the newest complete state meanwhile.
    this.storage.write(this.names[next], f, 0, this.fileBytes);
    this.act = next;
    this.pos = span;
    this.sealed = false;
  }

  stats(): StateLogStats {
    return { saves: this.saves, rotations: this.rotations, active: this.act < 0 ? '' : this.names[this.act], rc: this.rc };
  }
}
