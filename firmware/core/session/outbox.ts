// Store-and-forward outbox: a bounded, persistent FIFO of signed batches on Espruino flash.
//
// The agent pushes each signed batch here before publishing it and acks it only when the broker
// sent PUBACK, so a batch survives reconnects, reboots and power cuts until the broker has it.
//
// On flash (integers little-endian; frames as in flash-log.ts: [tag][len u16][payload][crc32],
// padded to 4 bytes):
//   segment file `<prefix><segNo>` (segNo decimal, never reused), preallocated to segmentBytes:
//     off 0    frame SEG_TAG  { u8 version, u32 segNo, u32 firstId, u16 slots }    (20 bytes)
//     off 20   ack map: `slots` bytes, byte k belongs to the k-th entry frame of the segment;
//              0xFF = not acked, anything else = acked (written as 0x00, one byte, no rewrite)
//     off A    entry frames from A = alignUp(20 + slots), appended in order:
//              ENTRY_TAG { u32 id, u32 boot, u32 seq, f64 t, batch bytes }
//   meta files `<metaFile>0/1`: a StateLog (flash-log.ts) holding { u8 version, u32 dropThrough,
//     u32 dropped, u32 reportCount, u32 reportFirstSeq, u32 reportLastSeq, u32 nextIdFloor,
//     u32 nextSegFloor }.
// Everything is append-only into erased bytes: a push writes one entry frame; an ack writes one
// map byte (the "tombstone": it lives in the entry's own segment, so any segment can be erased
// once all its entries are acked, and acks may come in any order); a drop writes one meta
// record. A segment is erased as soon as all its entries are acked or dropped, except the head
// (the one being appended to), which is reused until full instead of being re-created per batch.
//
// Power cuts (see test/storage/powercut.test.ts): a torn entry frame fails its CRC, is skipped
// by the boot scan, and seals its segment (nothing is appended after torn bytes). A torn ack byte
// reads as either not acked (the batch is published again: a duplicate the verifier drops by
// (boot, seq)) or acked; only the batch whose ack write was cut can reappear. A torn drop record
// leaves the previous meta: the batches it was dropping are still there and not counted. Ids and
// segment numbers are recovered from what is on flash plus the floors in the meta record, which
// is written before the newest segment is ever erased, so neither is reused.
//
// Overflow policy (explicit, reported in stats().policy): drop oldest. A push that finds
// maxEntries batches waiting, or needs a new segment when maxBytes allows no more, first drops
// the oldest batches (the whole oldest segment's worth in the second case), by persisting a
// meta record whose dropThrough id covers them, adds their number to the persisted `dropped`
// counter and widens the pending drop report { count, firstSeq, lastSeq }, which the agent puts
// (signed) into its next batch and then confirms with confirmDropReport().
// Compaction (at the start of a push): when all segments the budget allows exist, a non-head
// segment at least half of whose entry bytes are acked is copied (its live frames, verbatim)
// into the head if they fit, and erased, so garbage from out-of-order acks does not force drops.
// A cut between copy and erase leaves two copies of a batch; recovery keeps the newer one and
// makes an ack on either copy hold for both.
//
// Boot: every segment is read and every frame's CRC checked; the index then holds at most
// maxEntries batches (more, found after a config change, are dropped by the policy). The
// segments and the meta log bound the work; a platform should install a native CRC-32
// (flash-log.ts installCrc32) because a portable one makes this seconds on an ESP32.
//
// RAM: an index of 13 bytes per waiting batch (typed arrays, capacity maxEntries) and a few
// numbers per segment; payloads stay on flash and are read back by peek() (each read is
// CRC-checked again, so a batch damaged on flash is never handed out).

import { err, abytes, aint, describe, RANGE_ERROR } from '../util/errors.js';
import type { Storage } from '../host.js';
import {
  StateLog, frame, checkFrame, scanFrames, framePayloadLen, frameSpan, alignUp, readRange, checkName,
  fileFootprint, getU16, getU32, putU16, putU32, getF64, putF64,
  FRAME_HEAD, FRAME_OVERHEAD, FRAME_MAX_PAYLOAD, SCAN_BAD, SCAN_END, ERASED,
} from './flash-log.js';
import { copyBytes } from '../util/bytes.js';

// ---------------------------------------------------------------------------------------------
// Constants and configuration

export const OUTBOX_VERSION = 1;
/** Frame tags (flash-log.ts: any value but 0xFF). */
export const SEG_TAG = 0x5e;
export const ENTRY_TAG = 0xe1;
export const META_TAG = 0xb1;
/** Segment header payload: version, segNo, firstId, slots. */
const SEG_HDR_LEN = 11;
/** Offset of the ack map: the header frame's span. */
export const SEG_MAP_OFF = alignUp(FRAME_OVERHEAD + SEG_HDR_LEN);
/** Entry payload before the batch: id, boot, seq, t. */
export const ENTRY_META = 20;
const ACKED = 0x00;
const META_LEN = 29;
const U32 = 0xffffffff;

export const OUTBOX_POLICY = 'drop-oldest';

export interface OutboxConfig {
  /** Segment file prefix; names are prefix + segNo in decimal (<= 18 chars). */
  prefix: string;
  /** Meta StateLog base name; files are `<metaFile>0` and `<metaFile>1`. */
  metaFile: string;
  /** Size each segment file is preallocated to (<= 65532). */
  segmentBytes: number;
  /** Entries per segment (ack map bytes), 1..255. */
  segmentSlots: number;
  /** Most batches waiting at once; the oldest is dropped beyond. */
  maxEntries: number;
  /** Flash the outbox may occupy: segments and meta files, Espruino file headers included. */
  maxBytes: number;
  /** Largest batch push() accepts. */
  maxBatchBytes: number;
  /** Size of each meta file. */
  metaFileBytes: number;
}

export const OUTBOX_DEFAULTS: OutboxConfig = {
  prefix: 'obs',
  metaFile: 'obm',
  segmentBytes: 8192,
  segmentSlots: 64,
  maxEntries: 256,
  maxBytes: 96 * 1024,
  maxBatchBytes: 2048,
  metaFileBytes: 1024,
};

/** What push() records with each batch. */
export interface OutboxMeta {
  /** Boot counter the batch was signed in (u32). */
  boot: number;
  /** Sequence number of the batch (u32). */
  seq: number;
  /** Wall-clock ms when it was made (for oldestAge); 0 if the clock was not synced. */
  t: number;
}

export interface OutboxEntry {
  id: number;
  boot: number;
  seq: number;
  t: number;
  bytes: Uint8Array;
}

/** Batches dropped by the overflow policy and not yet confirmed as reported. */
export interface DropReport {
  count: number;
  /** All dropped batches have seq in [firstSeq, lastSeq] (an envelope, not a list). */
  firstSeq: number;
  lastSeq: number;
}

export interface OutboxStats {
  policy: string;
  depth: number;
  /** Batch bytes waiting. */
  bytes: number;
  /** Flash held now: segments plus both meta files (counted as reserved even before they
   *  are first written), Espruino file headers included; never more than maxBytes. */
  flashBytes: number;
  segments: number;
  maxSegments: number;
  maxEntries: number;
  maxBytes: number;
  maxBatchBytes: number;
  dropped: number;
  dropReport: DropReport | undefined;
  pushes: number;
  acks: number;
  /** Segments created / erased / compacted since construction. */
  created: number;
  erased: number;
  compactions: number;
  /** At the last boot: segments found sealed by a torn frame, and invalid files erased. */
  sealedAtBoot: number;
  invalidAtBoot: number;
}

function pick<T>(v: T | undefined, d: T): T {
  return v === undefined ? d : v;
}

/** Fill defaults and check every bound; throws naming the field and the rule. */
export function outboxConfig(c?: Partial<OutboxConfig>): OutboxConfig {
  const d = OUTBOX_DEFAULTS;
  const o = c || {};
  if (typeof o !== 'object') throw err('E_TYPE', '"config" expected an object, got ' + describe(o), TypeError);
  const r: OutboxConfig = {
    prefix: pick(o.prefix, d.prefix),
    metaFile: pick(o.metaFile, d.metaFile),
    segmentBytes: pick(o.segmentBytes, d.segmentBytes),
    segmentSlots: pick(o.segmentSlots, d.segmentSlots),
    maxEntries: pick(o.maxEntries, d.maxEntries),
    maxBytes: pick(o.maxBytes, d.maxBytes),
    maxBatchBytes: pick(o.maxBatchBytes, d.maxBatchBytes),
    metaFileBytes: pick(o.metaFileBytes, d.metaFileBytes),
  };
  if (typeof r.prefix !== 'string') throw err('E_TYPE', '"prefix" expected a string, got ' + describe(r.prefix), TypeError);
  if (typeof r.metaFile !== 'string') throw err('E_TYPE', '"metaFile" expected a string, got ' + describe(r.metaFile), TypeError);
  checkName('prefix', r.prefix + '4294967295');
  checkName('metaFile', r.metaFile + '0');
  if (r.metaFile.indexOf(r.prefix) === 0 || r.prefix.indexOf(r.metaFile) === 0)
    throw err('E_NAME', '"prefix" and "metaFile" must not start with one another, got ' + JSON.stringify(r.prefix) + ' and ' + JSON.stringify(r.metaFile), RANGE_ERROR);
  aint('segmentSlots', r.segmentSlots, 1, 255);
  aint('maxBatchBytes', r.maxBatchBytes, 1, FRAME_MAX_PAYLOAD - ENTRY_META);
  const minSeg = alignUp(SEG_MAP_OFF + r.segmentSlots) + frameSpan(ENTRY_META + r.maxBatchBytes);
  if (typeof r.segmentBytes === 'number' && r.segmentBytes < minSeg)
    throw err('E_RANGE', '"segmentBytes" must hold the header, ' + r.segmentSlots + ' ack slots and one batch of maxBatchBytes (' + r.maxBatchBytes + '): at least ' + minSeg + ', got ' + r.segmentBytes, RANGE_ERROR);
  aint('segmentBytes', r.segmentBytes, minSeg, 0xfffc);
  aint('metaFileBytes', r.metaFileBytes, 2 * frameSpan(4 + META_LEN), 0xffff);
  aint('maxEntries', r.maxEntries, 1, 0xffff);
  const minBytes = 2 * fileFootprint(r.metaFileBytes) + 2 * fileFootprint(r.segmentBytes);
  if (typeof r.maxBytes === 'number' && r.maxBytes < minBytes)
    throw err('E_RANGE', '"maxBytes" must hold both meta files and at least 2 segments: at least ' + minBytes + ', got ' + r.maxBytes, RANGE_ERROR);
  aint('maxBytes', r.maxBytes, minBytes, 0x7fffffff);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Meta state (pure encode/decode)

export interface OutboxMetaState {
  /** Every id <= dropThrough is gone (acked or dropped). */
  dropThrough: number;
  dropped: number;
  reportCount: number;
  reportFirstSeq: number;
  reportLastSeq: number;
  nextIdFloor: number;
  nextSegFloor: number;
}

export function encodeOutboxMeta(m: OutboxMetaState): Uint8Array {
  const b = new Uint8Array(META_LEN);
  b[0] = OUTBOX_VERSION;
  putU32(b, 1, m.dropThrough);
  putU32(b, 5, m.dropped);
  putU32(b, 9, m.reportCount);
  putU32(b, 13, m.reportFirstSeq);
  putU32(b, 17, m.reportLastSeq);
  putU32(b, 21, m.nextIdFloor);
  putU32(b, 25, m.nextSegFloor);
  return b;
}

export function decodeOutboxMeta(b: Uint8Array): OutboxMetaState | undefined {
  if (b.length !== META_LEN || b[0] !== OUTBOX_VERSION) return undefined;
  return {
    dropThrough: getU32(b, 1),
    dropped: getU32(b, 5),
    reportCount: getU32(b, 9),
    reportFirstSeq: getU32(b, 13),
    reportLastSeq: getU32(b, 17),
    nextIdFloor: getU32(b, 21),
    nextSegFloor: getU32(b, 25),
  };
}

function copyMeta(m: OutboxMetaState): OutboxMetaState {
  return {
    dropThrough: m.dropThrough,
    dropped: m.dropped,
    reportCount: m.reportCount,
    reportFirstSeq: m.reportFirstSeq,
    reportLastSeq: m.reportLastSeq,
    nextIdFloor: m.nextIdFloor,
    nextSegFloor: m.nextSegFloor,
  };
}

/** Segment number of a file name, or -1 if it is not `<prefix><canonical decimal>`. */
function segNoOf(prefix: string, name: string): number {
  if (name.indexOf(prefix) !== 0) return -1;
  const s = name.substr(prefix.length);
  // Canonical decimal only (no sign, no leading zero), checked by hand: Espruino's RegExp is small.
  if (s.length < 1 || s.length > 10 || s.charCodeAt(0) === 48) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  const n = parseInt(s, 10);
  return n > U32 ? -1 : n;
}

// ---------------------------------------------------------------------------------------------
// Outbox

export class Outbox {
  readonly config: OutboxConfig;
  readonly maxSegments: number;
  private storage: Storage;
  private metaLog: StateLog;
  private meta: OutboxMetaState;

  // Segments, ascending segNo; the last one is the head. Small: at most maxSegments (+ extras
  // found at boot after a config change).
  private ns = 0;
  private sNo: Uint32Array;
  private sSize: Uint32Array;
  private sSlots: Uint16Array;
  private sPos: Uint32Array;
  private sUsed: Uint16Array;
  private sSealed: Uint8Array;
  private sLive: Uint16Array;
  private sLiveBytes: Uint32Array;

  // Index of waiting batches, ascending id, at positions [h, h + n) of the typed arrays.
  private cap: number;
  private h = 0;
  private n = 0;
  private eId: Uint32Array;
  private eSeg: Uint32Array;
  private eOff: Uint16Array;
  private eLen: Uint16Array;
  private eSlot: Uint8Array;
  private liveBytes = 0;

  private nextId = 1;
  private nextSeg = 1;
  private cnt = { pushes: 0, acks: 0, created: 0, erased: 0, compactions: 0, sealedAtBoot: 0, invalidAtBoot: 0 };

  /** Rebuild the index from flash (bounded by what the segments hold; torn tails skipped). */
  constructor(storage: Storage, config?: Partial<OutboxConfig>) {
    if (!storage || typeof storage.write !== 'function') throw err('E_TYPE', '"storage" expected a Storage, got ' + describe(storage), TypeError);
    this.config = outboxConfig(config);
    const c = this.config;
    this.storage = storage;
    this.maxSegments = Math.floor((c.maxBytes - 2 * fileFootprint(c.metaFileBytes)) / fileFootprint(c.segmentBytes));
    this.metaLog = new StateLog(storage, c.metaFile, c.metaFileBytes, META_TAG);
    const raw = this.metaLog.load();
    const m = raw ? decodeOutboxMeta(raw) : undefined;
    this.meta = m || { dropThrough: 0, dropped: 0, reportCount: 0, reportFirstSeq: 0, reportLastSeq: 0, nextIdFloor: 1, nextSegFloor: 1 };
    this.sNo = new Uint32Array(0);
    this.sSize = new Uint32Array(0);
    this.sSlots = new Uint16Array(0);
    this.sPos = new Uint32Array(0);
    this.sUsed = new Uint16Array(0);
    this.sSealed = new Uint8Array(0);
    this.sLive = new Uint16Array(0);
    this.sLiveBytes = new Uint32Array(0);
    this.cap = c.maxEntries;
    this.eId = new Uint32Array(0);
    this.eSeg = new Uint32Array(0);
    this.eOff = new Uint16Array(0);
    this.eLen = new Uint16Array(0);
    this.eSlot = new Uint8Array(0);
    this.recover();
  }

  // ---- Public API -----------------------------------------------------------------------------

  /**
   * Store a signed batch; returns its outbox id (ids only grow, never reused). May first drop
   * the oldest batches (see the overflow policy). Throws, with nothing lost, on bad input or a
   * storage failure.
   */
  push(bytes: Uint8Array, meta: OutboxMeta): number {
    abytes('bytes', bytes);
    const c = this.config;
    if (bytes.length < 1 || bytes.length > c.maxBatchBytes)
      throw err('E_LENGTH', '"bytes" expected 1..' + c.maxBatchBytes + ' bytes (maxBatchBytes), got ' + bytes.length, RANGE_ERROR);
    if (!meta || typeof meta !== 'object') throw err('E_TYPE', '"meta" expected an object {boot, seq, t}, got ' + describe(meta), TypeError);
    aint('meta.boot', meta.boot, 0, U32);
    aint('meta.seq', meta.seq, 0, U32);
    if (typeof meta.t !== 'number' || meta.t !== meta.t || meta.t < 0 || meta.t === Infinity)
      throw err('E_RANGE', '"meta.t" expected a finite number >= 0, got ' + (typeof meta.t === 'number' ? String(meta.t) : describe(meta.t)), RANGE_ERROR);
    if (this.nextId >= U32) throw err('E_EXHAUSTED', 'outbox ids exhausted');

    if (this.n >= c.maxEntries) this.dropOldest(this.n - c.maxEntries + 1);
    this.maybeCompact();
    const payload = new Uint8Array(ENTRY_META + bytes.length);
    const id = this.nextId;
    putU32(payload, 0, id);
    putU32(payload, 4, meta.boot);
    putU32(payload, 8, meta.seq);
    putF64(payload, 12, meta.t);
    payload.set(bytes, ENTRY_META);
    const f = frame(ENTRY_TAG, payload);
    const span = alignUp(f.length);
    this.ensureHeadRoom(span);
    const s = this.ns - 1;
    const name = this.segName(this.sNo[s]);
    // The id is spent even if the write fails: its frame may have reached flash in full.
    this.nextId = id + 1;
    try {
      this.storage.write(name, f, this.sPos[s]);
    } catch (e) {
      this.sSealed[s] = 1;
      throw e;
    }
    this.append(id, this.sNo[s], this.sPos[s], bytes.length, this.sUsed[s]);
    this.sPos[s] += span;
    this.sUsed[s]++;
    this.sLive[s]++;
    this.sLiveBytes[s] += span;
    this.cnt.pushes++;
    return id;
  }

  /** Up to `max` oldest waiting batches, read back from flash (oldest first). */
  peek(max: number): OutboxEntry[] {
    aint('max', max, 0, 0xffff);
    const out: OutboxEntry[] = [];
    for (let k = 0; k < this.n && k < max; k++) out.push(this.readEntry(this.h + k));
    return out;
  }

  /**
   * The broker acknowledged batch `id`: forget it (one ack byte on flash). Returns false for an
   * id that is not waiting (already acked, dropped, or unknown: a duplicate PUBACK is harmless).
   */
  ack(id: number): boolean {
    aint('id', id, 0, U32);
    const p = this.find(id);
    if (p < 0) return false;
    const s = this.segIndex(this.eSeg[p]);
    this.writeAck(this.sNo[s], this.eSlot[p]);
    this.sLive[s]--;
    this.sLiveBytes[s] -= frameSpan(ENTRY_META + this.eLen[p]);
    this.remove(p);
    this.cnt.acks++;
    if (this.sLive[s] === 0 && s !== this.ns - 1) this.eraseSegment(s);
    return true;
  }

  depth(): number {
    return this.n;
  }

  /** Batch bytes waiting (payloads only). */
  bytes(): number {
    return this.liveBytes;
  }

  /** Age in ms of the oldest waiting batch by its `t` (0 when empty or t is in the future). */
  oldestAge(now: number): number {
    if (typeof now !== 'number' || now !== now) throw err('E_TYPE', '"now" expected a number, got ' + describe(now), TypeError);
    if (this.n === 0) return 0;
    const p = this.h;
    const b = readRange(this.storage, this.segName(this.eSeg[p]), this.eOff[p] + FRAME_HEAD + 12, 8);
    if (!b) throw err('E_CORRUPT', 'outbox: segment of batch ' + this.eId[p] + ' is missing');
    const age = now - getF64(b, 0);
    return age > 0 ? age : 0;
  }

  /** Batches dropped by the overflow policy over the device's life (persisted). */
  dropped(): number {
    return this.meta.dropped;
  }

  /** Drops not yet confirmed as reported, or undefined; stays until confirmDropReport(). */
  dropReport(): DropReport | undefined {
    const m = this.meta;
    if (m.reportCount === 0) return undefined;
    return { count: m.reportCount, firstSeq: m.reportFirstSeq, lastSeq: m.reportLastSeq };
  }

  /**
   * The report `r` (from dropReport()) went out in a batch: clear it. Drops that happened since
   * stay pending, as a report starting after r.lastSeq. Persisted (one meta record).
   */
  confirmDropReport(r: DropReport): void {
    if (!r || typeof r !== 'object') throw err('E_TYPE', '"report" expected {count, firstSeq, lastSeq}, got ' + describe(r), TypeError);
    const m = this.meta;
    aint('report.count', r.count, 1, m.reportCount > 0 ? m.reportCount : 1);
    aint('report.lastSeq', r.lastSeq, 0, U32);
    if (m.reportCount === 0 || r.lastSeq < m.reportFirstSeq || r.lastSeq > m.reportLastSeq)
      throw err('E_RANGE', '"report" does not match the pending drop report ' + JSON.stringify(this.dropReport() || null), RANGE_ERROR);
    const next = copyMeta(m);
    next.reportCount = m.reportCount - r.count;
    if (next.reportCount === 0) next.reportFirstSeq = next.reportLastSeq = 0;
    else next.reportFirstSeq = r.lastSeq + 1 <= m.reportLastSeq ? r.lastSeq + 1 : m.reportLastSeq;
    this.saveMeta(next);
  }

  stats(): OutboxStats {
    const c = this.config;
    const k = this.cnt;
    return {
      policy: OUTBOX_POLICY,
      depth: this.n,
      bytes: this.liveBytes,
      flashBytes: this.ns * fileFootprint(c.segmentBytes) + 2 * fileFootprint(c.metaFileBytes),
      segments: this.ns,
      maxSegments: this.maxSegments,
      maxEntries: c.maxEntries,
      maxBytes: c.maxBytes,
      maxBatchBytes: c.maxBatchBytes,
      dropped: this.meta.dropped,
      dropReport: this.dropReport(),
      pushes: k.pushes,
      acks: k.acks,
      created: k.created,
      erased: k.erased,
      compactions: k.compactions,
      sealedAtBoot: k.sealedAtBoot,
      invalidAtBoot: k.invalidAtBoot,
    };
  }

  // ---- Recovery -------------------------------------------------------------------------------

  private recover(): void {
    const c = this.config;
    const st = this.storage;
    // Segment files in segNo order.
    const names = st.list(c.prefix);
    const nos: number[] = [];
    for (let i = 0; i < names.length; i++) {
      const no = segNoOf(c.prefix, names[i]);
      if (no > 0) nos.push(no);
    }
    nos.sort(function (a, b) {
      return a - b;
    });
    const bufs: Uint8Array[] = [];
    const good: number[] = [];
    let records = 0;
    let maxSeg = 0;
    let firstIdMax = 0;
    for (let i = 0; i < nos.length; i++) {
      const b = st.read(this.segName(nos[i]));
      const hdr = b ? parseSegHeader(b, nos[i]) : undefined;
      if (!b || !hdr) {
        // A torn creation (or foreign data under our prefix): nothing in it was ever acked or
        // handed out. Erase it so its number can be reused safely.
        this.cnt.invalidAtBoot++;
        st.erase(this.segName(nos[i]));
        continue;
      }
      bufs.push(b);
      good.push(nos[i]);
      records += hdr.slots;
      if (nos[i] > maxSeg) maxSeg = nos[i];
      if (hdr.firstId > firstIdMax) firstIdMax = hdr.firstId;
    }
    this.allocSegments(good.length > this.maxSegments ? good.length : this.maxSegments);

    // Every entry frame on flash, in segment order (ids ascend within a segment).
    const rId = new Uint32Array(records);
    const rSeg = new Uint32Array(records);
    const rOff = new Uint16Array(records);
    const rLen = new Uint16Array(records);
    const rSlot = new Uint8Array(records);
    const rAcked = new Uint8Array(records);
    let nr = 0;
    let maxId = 0;
    for (let i = 0; i < good.length; i++) {
      const b = bufs[i];
      const no = good[i];
      const slots = getU16(b, FRAME_HEAD + 9);
      const start = alignUp(SEG_MAP_OFF + slots);
      let k = 0;
      const res = scanFrames(b, start, b.length, function (tag, off) {
        if (tag !== ENTRY_TAG || k >= slots || framePayloadLen(b, off) < ENTRY_META + 1) return;
        rId[nr] = getU32(b, off + FRAME_HEAD);
        rSeg[nr] = no;
        rOff[nr] = off;
        rLen[nr] = framePayloadLen(b, off) - ENTRY_META;
        rSlot[nr] = k;
        rAcked[nr] = b[SEG_MAP_OFF + k] !== ERASED ? 1 : 0;
        if (rId[nr] > maxId) maxId = rId[nr];
        nr++;
        k++;
      });
      const s = this.ns++;
      this.sNo[s] = no;
      this.sSize[s] = b.length;
      this.sSlots[s] = slots;
      this.sPos[s] = res.next;
      this.sUsed[s] = k;
      // Not appended to again: torn tail, all slots used, or (a config change) another size.
      const sealed = res.sealed || k >= slots || b.length !== c.segmentBytes;
      this.sSealed[s] = sealed ? 1 : 0;
      if (res.sealed) this.cnt.sealedAtBoot++;
    }

    // Sort by (id, segNo): insertion sort, cheap because the input is nearly sorted (only
    // compaction copies carry lower ids into later segments).
    for (let i = 1; i < nr; i++) {
      const a0 = rId[i], a1 = rSeg[i], a2 = rOff[i], a3 = rLen[i], a4 = rSlot[i], a5 = rAcked[i];
      let j = i - 1;
      while (j >= 0 && (rId[j] > a0 || (rId[j] === a0 && rSeg[j] > a1))) {
        rId[j + 1] = rId[j];
        rSeg[j + 1] = rSeg[j];
        rOff[j + 1] = rOff[j];
        rLen[j + 1] = rLen[j];
        rSlot[j + 1] = rSlot[j];
        rAcked[j + 1] = rAcked[j];
        j--;
      }
      rId[j + 1] = a0;
      rSeg[j + 1] = a1;
      rOff[j + 1] = a2;
      rLen[j + 1] = a3;
      rSlot[j + 1] = a4;
      rAcked[j + 1] = a5;
    }

    // One live copy per id: the newest (highest segNo), unless any copy is acked or the id is
    // covered by dropThrough. Copies exist only after a cut during compaction.
    let live = 0;
    for (let i = 0; i < nr; ) {
      let j = i;
      let acked = rAcked[i];
      while (j + 1 < nr && rId[j + 1] === rId[i]) {
        j++;
        if (rAcked[j]) acked = 1;
      }
      if (acked && j > i) {
        // Make the ack hold on every copy, so erasing the acked one cannot revive another.
        for (let k = i; k <= j; k++) if (!rAcked[k]) this.writeAck(rSeg[k], rSlot[k]);
      }
      if (!acked && rId[i] > this.meta.dropThrough) {
        rId[live] = rId[j];
        rSeg[live] = rSeg[j];
        rOff[live] = rOff[j];
        rLen[live] = rLen[j];
        rSlot[live] = rSlot[j];
        live++;
      }
      i = j + 1;
    }
    this.allocEntries(live > c.maxEntries ? live : c.maxEntries);
    for (let i = 0; i < live; i++) {
      this.append(rId[i], rSeg[i], rOff[i], rLen[i], rSlot[i]);
      const s = this.segIndex(rSeg[i]);
      this.sLive[s]++;
      this.sLiveBytes[s] += frameSpan(ENTRY_META + rLen[i]);
    }

    const m = this.meta;
    this.nextId = Math.max(m.nextIdFloor, maxId + 1, m.dropThrough + 1, firstIdMax, 1);
    this.nextSeg = Math.max(m.nextSegFloor, maxSeg + 1, 1);
    // Finish what a cut interrupted: erase dead non-head segments, shrink to the bounds.
    for (let s = this.ns - 2; s >= 0; s--) if (this.sLive[s] === 0) this.eraseSegment(s);
    if (this.n > c.maxEntries) this.dropOldest(this.n - c.maxEntries);
  }

  // ---- Internals: index -----------------------------------------------------------------------

  private allocSegments(k: number): void {
    this.sNo = new Uint32Array(k);
    this.sSize = new Uint32Array(k);
    this.sSlots = new Uint16Array(k);
    this.sPos = new Uint32Array(k);
    this.sUsed = new Uint16Array(k);
    this.sSealed = new Uint8Array(k);
    this.sLive = new Uint16Array(k);
    this.sLiveBytes = new Uint32Array(k);
  }

  private allocEntries(k: number): void {
    this.cap = k;
    this.eId = new Uint32Array(k);
    this.eSeg = new Uint32Array(k);
    this.eOff = new Uint16Array(k);
    this.eLen = new Uint16Array(k);
    this.eSlot = new Uint8Array(k);
  }

  /** Add at the end (ids only grow, so the order holds); repacks to the front when needed. */
  private append(id: number, seg: number, off: number, len: number, slot: number): void {
    if (this.h + this.n >= this.cap) {
      for (let k = 0; k < this.n; k++) this.move(this.h + k, k);
      this.h = 0;
    }
    const p = this.h + this.n;
    this.eId[p] = id;
    this.eSeg[p] = seg;
    this.eOff[p] = off;
    this.eLen[p] = len;
    this.eSlot[p] = slot;
    this.n++;
    this.liveBytes += len;
  }

  private move(from: number, to: number): void {
    this.eId[to] = this.eId[from];
    this.eSeg[to] = this.eSeg[from];
    this.eOff[to] = this.eOff[from];
    this.eLen[to] = this.eLen[from];
    this.eSlot[to] = this.eSlot[from];
  }

  /** Remove position p, shifting the shorter side (acks of the oldest are O(1)). */
  private remove(p: number): void {
    this.liveBytes -= this.eLen[p];
    const last = this.h + this.n - 1;
    if (p - this.h <= last - p) {
      for (let k = p; k > this.h; k--) this.move(k - 1, k);
      this.h++;
    } else {
      for (let k = p; k < last; k++) this.move(k + 1, k);
    }
    this.n--;
    if (this.n === 0) this.h = 0;
  }

  /** Position of `id` in the index, or -1 (binary search: ids ascend). */
  private find(id: number): number {
    let lo = this.h;
    let hi = this.h + this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.eId[mid];
      if (v === id) return mid;
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private segIndex(no: number): number {
    for (let s = 0; s < this.ns; s++) if (this.sNo[s] === no) return s;
    throw err('E_STATE', 'outbox: segment ' + no + ' not in the index');
  }

  private segName(no: number): string {
    return this.config.prefix + no;
  }

  private readEntry(p: number): OutboxEntry {
    const len = this.eLen[p];
    const n = FRAME_OVERHEAD + ENTRY_META + len;
    const b = readRange(this.storage, this.segName(this.eSeg[p]), this.eOff[p], n);
    // Verified at boot or written this boot; checked again because a wrong batch must never
    // be published (the caller may ack() the id to discard it).
    if (!b || checkFrame(b, 0, n) !== alignUp(n) || getU32(b, FRAME_HEAD) !== this.eId[p])
      throw err('E_CORRUPT', 'outbox: batch ' + this.eId[p] + ' no longer reads back intact from flash');
    const o = FRAME_HEAD;
    return {
      id: this.eId[p],
      boot: getU32(b, o + 4),
      seq: getU32(b, o + 8),
      t: getF64(b, o + 12),
      bytes: copyBytes(b, o + ENTRY_META, o + ENTRY_META + len),
    };
  }

  // ---- Internals: flash -----------------------------------------------------------------------

  private writeAck(seg: number, slot: number): void {
    const mark = new Uint8Array(1);
    mark[0] = ACKED;
    this.storage.write(this.segName(seg), mark, SEG_MAP_OFF + slot);
  }

  private saveMeta(next: OutboxMetaState): void {
    this.metaLog.save(encodeOutboxMeta(next));
    this.meta = next;
  }

  /** Erase segment s (all its entries acked or dropped) and drop it from the segment table. */
  private eraseSegment(s: number): void {
    const no = this.sNo[s];
    if (s === this.ns - 1 && this.meta.nextSegFloor <= no) {
      // Erasing the newest segment loses the on-flash evidence of its number and of the ids in
      // it: persist both floors first.
      const next = copyMeta(this.meta);
      next.nextSegFloor = this.nextSeg;
      next.nextIdFloor = this.nextId;
      this.saveMeta(next);
    }
    this.storage.erase(this.segName(no));
    for (let k = s; k < this.ns - 1; k++) {
      this.sNo[k] = this.sNo[k + 1];
      this.sSize[k] = this.sSize[k + 1];
      this.sSlots[k] = this.sSlots[k + 1];
      this.sPos[k] = this.sPos[k + 1];
      this.sUsed[k] = this.sUsed[k + 1];
      this.sSealed[k] = this.sSealed[k + 1];
      this.sLive[k] = this.sLive[k + 1];
      this.sLiveBytes[k] = this.sLiveBytes[k + 1];
    }
    this.ns--;
    this.cnt.erased++;
  }

  /** True when the head can take a frame of `span` bytes. */
  private headFits(span: number): boolean {
    const s = this.ns - 1;
    return s >= 0 && !this.sSealed[s] && this.sUsed[s] < this.sSlots[s] && this.sPos[s] + span <= this.sSize[s];
  }

  /** Make the head able to take `span` bytes: start a new segment, reclaiming or dropping. */
  private ensureHeadRoom(span: number): void {
    if (this.headFits(span)) return;
    // Room in the budget for one more segment: erase dead ones (the full head included, which is
    // no longer needed as the head), then drop the oldest segment's batches if still at the limit.
    while (this.ns >= this.maxSegments) {
      let dead = -1;
      for (let s = 0; s < this.ns; s++)
        if (this.sLive[s] === 0) {
          dead = s;
          break;
        }
      if (dead >= 0) {
        this.eraseSegment(dead);
        continue;
      }
      // Policy: drop oldest. Everything up to the last live batch of the segment holding the
      // oldest one goes, which frees that whole segment.
      const s0 = this.segIndex(this.eSeg[this.h]);
      let k = 0;
      for (let i = 0; i < this.n; i++) if (this.eSeg[this.h + i] === this.sNo[s0]) k = i + 1;
      this.dropOldest(k);
    }
    // Normally the new head is created first (its header then carries the next id), and a dead
    // old head is erased after. When the flash is short of room, erase the dead head first (its
    // erase persists the id floors) so its space can be reused.
    const h = this.ns - 1;
    if (h >= 0 && this.sLive[h] === 0 && this.storage.getFree() < fileFootprint(this.config.segmentBytes)) this.eraseSegment(h);
    this.createSegment();
    // The previous head, now an ordinary segment, goes at once if all its batches are acked.
    if (this.ns >= 2 && this.sLive[this.ns - 2] === 0) this.eraseSegment(this.ns - 2);
  }

  private createSegment(): void {
    const c = this.config;
    const no = this.nextSeg;
    if (no > U32) throw err('E_EXHAUSTED', 'outbox segment numbers exhausted');
    const hdr = new Uint8Array(SEG_HDR_LEN);
    hdr[0] = OUTBOX_VERSION;
    putU32(hdr, 1, no);
    putU32(hdr, 5, this.nextId);
    putU16(hdr, 9, c.segmentSlots);
    // Spent even if the write fails: a header that reached flash must not be reused.
    this.nextSeg = no + 1;
    this.storage.write(this.segName(no), frame(SEG_TAG, hdr), 0, c.segmentBytes);
    const s = this.ns++;
    this.sNo[s] = no;
    this.sSize[s] = c.segmentBytes;
    this.sSlots[s] = c.segmentSlots;
    this.sPos[s] = alignUp(SEG_MAP_OFF + c.segmentSlots);
    this.sUsed[s] = 0;
    this.sSealed[s] = 0;
    this.sLive[s] = 0;
    this.sLiveBytes[s] = 0;
    this.cnt.created++;
  }

  /** Drop the k oldest waiting batches: one meta record, then erase the segments it empties. */
  private dropOldest(k: number): void {
    if (k <= 0) return;
    if (k > this.n) k = this.n;
    let lo = U32;
    let hi = 0;
    for (let i = 0; i < k; i++) {
      const p = this.h + i;
      const b = readRange(this.storage, this.segName(this.eSeg[p]), this.eOff[p] + FRAME_HEAD + 8, 4);
      const seq = b ? getU32(b, 0) : 0;
      if (seq < lo) lo = seq;
      if (seq > hi) hi = seq;
    }
    const m = this.meta;
    const next = copyMeta(m);
    next.dropThrough = this.eId[this.h + k - 1];
    next.dropped = m.dropped + k;
    next.reportFirstSeq = m.reportCount > 0 && m.reportFirstSeq < lo ? m.reportFirstSeq : lo;
    next.reportLastSeq = m.reportCount > 0 && m.reportLastSeq > hi ? m.reportLastSeq : hi;
    next.reportCount = m.reportCount + k;
    this.saveMeta(next);
    for (let i = 0; i < k; i++) {
      const p = this.h;
      const s = this.segIndex(this.eSeg[p]);
      this.sLive[s]--;
      this.sLiveBytes[s] -= frameSpan(ENTRY_META + this.eLen[p]);
      this.remove(p);
    }
    for (let s = this.ns - 2; s >= 0; s--) if (this.sLive[s] === 0) this.eraseSegment(s);
  }

  /**
   * Runs at the start of push(), so a failure surfaces there and never after an ack or a push
   * was recorded. When the budget is used up, move the live batches of a mostly-acked segment into the head
   * and erase it, so the next new segment needs no drop. Frames are copied byte for byte; a
   * cut in between leaves two copies, which recovery resolves by id.
   */
  private maybeCompact(): void {
    if (this.ns < this.maxSegments || this.ns < 2) return;
    const head = this.ns - 1;
    if (this.sSealed[head]) return;
    let best = -1;
    for (let s = 0; s < head; s++) {
      const written = this.sPos[s] - alignUp(SEG_MAP_OFF + this.sSlots[s]);
      if (this.sLive[s] === 0 || 2 * this.sLiveBytes[s] > written) continue;
      if (this.sPos[head] + this.sLiveBytes[s] > this.sSize[head] || this.sUsed[head] + this.sLive[s] > this.sSlots[head]) continue;
      if (best < 0 || this.sLiveBytes[s] < this.sLiveBytes[best]) best = s;
    }
    if (best < 0) return;
    const no = this.sNo[best];
    const hname = this.segName(this.sNo[head]);
    for (let i = 0; i < this.n; i++) {
      const p = this.h + i;
      if (this.eSeg[p] !== no) continue;
      const n = FRAME_OVERHEAD + ENTRY_META + this.eLen[p];
      const f = readRange(this.storage, this.segName(no), this.eOff[p], n);
      if (!f) throw err('E_CORRUPT', 'outbox: segment ' + no + ' vanished during compaction');
      try {
        this.storage.write(hname, f, this.sPos[head]);
      } catch (e) {
        this.sSealed[head] = 1;
        throw e;
      }
      const span = alignUp(n);
      this.eSeg[p] = this.sNo[head];
      this.eOff[p] = this.sPos[head];
      this.eSlot[p] = this.sUsed[head];
      this.sPos[head] += span;
      this.sUsed[head]++;
      this.sLive[head]++;
      this.sLiveBytes[head] += span;
      this.sLive[best]--;
      this.sLiveBytes[best] -= span;
    }
    this.cnt.compactions++;
    this.eraseSegment(best);
  }
}

/** Header of segment `no`, or undefined if the first frame is not a valid header for it. */
function parseSegHeader(b: Uint8Array, no: number): { firstId: number; slots: number } | undefined {
  const next = checkFrame(b, 0, b.length);
  if (next === SCAN_END || next === SCAN_BAD || b[0] !== SEG_TAG || framePayloadLen(b, 0) !== SEG_HDR_LEN) return undefined;
  const o = FRAME_HEAD;
  if (b[o] !== OUTBOX_VERSION || getU32(b, o + 1) !== no) return undefined;
  const slots = getU16(b, o + 9);
  if (slots < 1 || slots > 255 || alignUp(SEG_MAP_OFF + slots) >= b.length) return undefined;
  return { firstId: getU32(b, o + 5), slots: slots };
}
