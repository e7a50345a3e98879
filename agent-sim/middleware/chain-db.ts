// Chain decisions taken from the database, for several verifier processes sharing one stream
// (issue 6). The in-memory tracker (chain.ts) is right for one process: it sees every batch of a
// device, in arrival order. An MQTT shared subscription deals messages to the members of a group
// one by one (Mosquitto: round robin), not device by device, so with two verifiers each sees
// about half of every device's batches. Everything chain.ts keeps in memory then goes wrong:
//   - known hashes: a process would take a batch it never saw for missing and open a pending
//     link that the other process already closed;
//   - pending links: the predecessor may be inserted by the other process, which does not know
//     the link is waiting, so nobody would ever check it;
//   - gaps: each process would declare, from its own partial view, gaps that are not gaps.
// So in database mode no chain state is kept in memory at all. The rules are the same as in
// chain.ts (docs/wire-format.md, steps 4-6); only where the facts come from changes:
//   - Duplicates and conflicts: the stored row at (device, seq), the primary key.
//   - A link p -> s is checked when both rows exist, by whichever process inserts the second:
//     inserting s, it reads the stored row p (prev of s must equal its payload hash); inserting
//     p, it reads the stored row that names p as pseq (its prev must equal the hash of p). Forks
//     are a stored row with the same pseq.
//   - Races: two processes inserting p and s at the same moment would each miss the other's
//     uncommitted row, and the link would never be checked. Every transaction therefore first
//     takes a lock per device it writes (PostgreSQL: pg_advisory_xact_lock, in sorted order so
//     two transactions never wait on each other in a cycle; SQLite: BEGIN IMMEDIATE, which
//     serialises all writers). The reads that decide happen after the lock, so the second
//     transaction sees the first one's committed row. Devices are independent, so the lock
//     costs nothing unless two batches of one device arrive within one transaction time.
//   - Gaps: a link is open while its successor is stored and its predecessor is not. It becomes
//     a gap when the successor was received more than the grace period ago: every process runs
//     the same sweep over the database (batches received since the last sweep's watermark, kept
//     in meta), under the same device locks, and the gaps primary key makes a gap declared once
//     however many processes sweep. A late predecessor marks its gap filled; a drop report
//     explains open gaps and declares open links it covers, all within the inserting transaction.
// The decision itself is this file's pure function; the stores supply a ChainView of their rows
// inside the locked transaction and write what it returns.
import type { AdmitInput, BatchRef, GapEvent } from './chain.js';

/** An unfilled gap row. */
export interface StoredGap {
  /** The missing predecessor. */
  seq: number;
  nextSeq: number;
  explained: boolean;
  dropReportSeq?: number;
  detectedAt: number;
}

/** What the store holds about one device, read inside the transaction that locked it. */
export interface ChainView {
  batch(seq: number): BatchRef | undefined;
  /** The stored batch naming `pseq` as its predecessor (at most one: forks are refused). */
  successor(pseq: number): BatchRef | undefined;
  /** seq of the stored batch with pseq 0, 0 for none. */
  firstSeq(): number;
  /** Lowest stored seq, 0 for none. */
  minSeq(): number;
  /** The unfilled gap row for a missing seq, if one was declared. */
  openGap(seq: number): StoredGap | undefined;
}

/** The database's verdict on one batch. */
export type Verdict =
  | {
      status: 'accepted';
      /** Links checked by this insert: to the stored predecessor and/or from the stored successor. */
      links: number;
      /** The predecessor is not stored (yet): the link stays open until it comes or becomes a gap. */
      pending: boolean;
      events: GapEvent[];
    }
  | { status: 'duplicate' }
  | { status: 'conflict' | 'chain-break'; detail: string };

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isZero(a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}

/**
 * Steps 4-5 for one batch against the stored rows; the same rules and messages as
 * ChainTracker.admit(). Drop reports (step 6) are applied by the store after the insert, in SQL,
 * because they touch every open link in their range.
 */
export function decide(view: ChainView, device: string, b: AdmitInput): Verdict {
  const s = b.seq;
  const p = b.pseq;
  const self = view.batch(s);
  if (self) {
    if (eq(self.payloadHash, b.payloadHash)) return { status: 'duplicate' };
    return { status: 'conflict', detail: 'seq ' + s + ' is already stored with a different payload' };
  }
  const first = view.firstSeq();
  let pk: BatchRef | undefined;
  if (p === 0) {
    if (!isZero(b.prev)) return { status: 'chain-break', detail: 'first batch (pseq 0) carries a non-zero prev' };
    const min = view.minSeq();
    if (min && min < s) return { status: 'chain-break', detail: 'pseq 0 (a first batch) at seq ' + s + ' but seq ' + min + ' exists' };
    if (first && first !== s) return { status: 'chain-break', detail: 'second first batch: seq ' + first + ' already has pseq 0' };
  } else {
    if (first && s < first) return { status: 'chain-break', detail: 'seq ' + s + ' precedes the first batch ' + first };
    pk = view.batch(p);
    const other = view.successor(p);
    if (pk) {
      if (!eq(pk.payloadHash, b.prev)) return { status: 'chain-break', detail: 'prev does not match the payload hash of seq ' + p };
      if (other) return { status: 'chain-break', detail: 'fork: seq ' + p + ' is already followed by seq ' + other.seq };
    } else if (other) return { status: 'chain-break', detail: 'fork: seq ' + other.seq + ' already names seq ' + p + ' as predecessor' };
  }
  const succ = view.successor(s);
  if (succ && !eq(succ.prev, b.payloadHash)) return { status: 'chain-break', detail: 'payload hash does not match prev of seq ' + succ.seq };

  const events: GapEvent[] = [];
  const gap = succ ? view.openGap(s) : undefined;
  if (gap) {
    const e: GapEvent = { kind: 'filled', device, seq: s, nextSeq: gap.nextSeq, explained: gap.explained, detectedAt: gap.detectedAt, filledAt: b.receivedAt };
    if (gap.dropReportSeq !== undefined) e.dropReportSeq = gap.dropReportSeq;
    events.push(e);
  }
  return { status: 'accepted', links: (pk ? 1 : 0) + (succ ? 1 : 0), pending: p > 0 && !pk, events };
}

/**
 * A ChainView over rows read in advance for a whole group of batches, with the group's own
 * accepted batches added as they are decided (PostgreSQL reads a group's rows in three queries
 * instead of several per batch).
 */
export class PrefetchedView implements ChainView {
  readonly bySeq = new Map<number, BatchRef>();
  readonly byPseq = new Map<number, BatchRef>();
  readonly gaps = new Map<number, StoredGap>();
  first = 0;
  min = 0;

  addBatch(r: BatchRef): void {
    this.bySeq.set(r.seq, r);
    if (!this.byPseq.has(r.pseq)) this.byPseq.set(r.pseq, r);
    if (r.pseq === 0 && !this.first) this.first = r.seq;
    if (!this.min || r.seq < this.min) this.min = r.seq;
  }

  batch(seq: number): BatchRef | undefined {
    return this.bySeq.get(seq);
  }
  successor(pseq: number): BatchRef | undefined {
    return this.byPseq.get(pseq);
  }
  firstSeq(): number {
    return this.first;
  }
  minSeq(): number {
    return this.min;
  }
  openGap(seq: number): StoredGap | undefined {
    return this.gaps.get(seq);
  }
}

/** 32-bit lock key of a device address (its first 8 hex digits; a collision only serialises two devices). */
export function deviceLockKey(device: string): number {
  const k = parseInt(device.slice(0, 8), 16);
  return Number.isFinite(k) ? k | 0 : 0;
}
