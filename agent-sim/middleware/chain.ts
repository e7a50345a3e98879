// Per-device sequence and hash-chain bookkeeping (docs/wire-format.md, steps 4-6). Pure state,
// no IO: the ingest loads a device's stored state on first sight (load), looks up in the store
// the few sequence numbers this tracker does not hold in memory (missing + prime), then admits.
//
// Terms: a batch (seq s, pseq p, prev h) makes a *link* p -> s that holds when sha256(payload of
// p) == h. A link whose predecessor is not held yet is *pending*; a pending link older than the
// grace period is a *gap* (explained when a signed drop report of the device covers p). A gap
// whose predecessor still arrives is *filled* (late).

/** Bounds and timing; every one is configurable and tested at its limit. */
export const CHAIN_DEFAULTS = {
  /** Pending links held over all devices; beyond, the oldest is declared a gap and forgotten. */
  maxPendingLinks: 100000,
  /**
   * Batch hashes held per device (~200 bytes each); older ones are looked up in the store
   * again when needed (a primary-key read).
   */
  maxKnownPerDevice: 512,
  /**
   * Devices held; beyond, the least recently active one is forgotten and reloaded from the
   * store when it sends again (its open links and gaps come back with it; a stateless store
   * such as JSON lines cannot give them back).
   */
  maxDevices: 10000,
  /** Drop reports held per device for explaining gaps. */
  maxDropReportsPerDevice: 64,
  /** How long a predecessor may be late before its absence is reported as a gap. */
  gapGraceMs: 60000,
};

export type ChainOptions = Partial<typeof CHAIN_DEFAULTS>;

/** A stored batch, as much as the chain needs. */
export interface BatchRef {
  seq: number;
  pseq: number;
  payloadHash: Uint8Array;
  prev: Uint8Array;
}

export interface DropRange {
  /** seq of the batch that carried the report. */
  reportSeq: number;
  count: number;
  firstSeq: number;
  lastSeq: number;
}

/** A stored batch whose predecessor is not stored; `gap` when already reported as one. */
export interface OpenLink {
  seq: number;
  pseq: number;
  prev: Uint8Array;
  since: number;
  gap?: { detectedAt: number; explained: boolean; dropReportSeq?: number };
}

/** What the store knows about a device when the tracker first meets it after a (re)start. */
export interface DeviceSnapshot {
  /** Highest stored seq; 0 for none. */
  maxSeq: number;
  /** Lowest stored seq; 0 for none. */
  minSeq: number;
  /** seq of the stored batch with pseq 0 (the device's first), 0 for none. */
  firstSeq: number;
  /** The most recent stored batches (any subset; more means fewer lookups). */
  recent: BatchRef[];
  openLinks: OpenLink[];
  drops: DropRange[];
}

export interface GapEvent {
  /**
   * declared: a pending link passed the grace period (or a drop report named it, or it was
   * evicted at the pending bound); explained: a later drop report covers an open gap;
   * filled: the missing predecessor arrived after all and the link verified.
   */
  kind: 'declared' | 'explained' | 'filled';
  device: string;
  /** The missing sequence number (the predecessor named by nextSeq). */
  seq: number;
  nextSeq: number;
  explained: boolean;
  dropReportSeq?: number;
  detectedAt: number;
  filledAt?: number;
  /** True when declared early because the pending bound was reached. */
  evicted?: boolean;
}

export interface AdmitInput {
  seq: number;
  pseq: number;
  prev: Uint8Array;
  payloadHash: Uint8Array;
  drop?: { count: number; firstSeq: number; lastSeq: number };
  receivedAt: number;
}

export type AdmitResult =
  | { status: 'accepted'; linked: boolean; pending: boolean; events: GapEvent[] }
  | { status: 'duplicate' }
  | { status: 'conflict' | 'chain-break'; detail: string };

export interface ChainStats {
  devices: number;
  /** Links still inside the grace period. */
  pendingLinks: number;
  gaps: { explained: number; unexplained: number; filledLate: number };
  linksVerified: number;
}

export interface ChainTracker {
  loaded(device: string): boolean;
  load(device: string, snap?: DeviceSnapshot): void;
  /** Sequence numbers (seq and/or pseq) to look up in the store before admit(). */
  missing(device: string, seq: number, pseq: number): number[];
  prime(device: string, seq: number, ref: BatchRef | undefined): void;
  admit(device: string, b: AdmitInput): AdmitResult;
  /** Declares pending links older than the grace period as gaps. */
  sweep(nowMs: number): GapEvent[];
  /** Drops everything held about a device (after a failed store write); load() it again. */
  forget(device: string): void;
  lastSeq(device: string): number | undefined;
  perDevice(): { device: string; lastSeq: number; accepted: number }[];
  stats(): ChainStats;
}

interface Known {
  hash: Uint8Array;
  /** seq of the batch known to link to this one; 0 when none is known. */
  next: number;
}

interface Pending {
  device: string;
  /** The missing predecessor. */
  pseq: number;
  succ: number;
  expect: Uint8Array;
  since: number;
  declared: boolean;
  declaredAt: number;
  explained: boolean;
  dropReportSeq?: number;
}

interface Dev {
  known: Map<number, Known | null>;
  /** Sequence numbers up to here may be in the store without being in `known`. */
  watermark: number;
  pending: Map<number, Pending>;
  drops: DropRange[];
  lastSeq: number;
  minSeq: number;
  firstSeq: number;
  accepted: number;
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isZero(a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}

export function createChainTracker(opts: ChainOptions = {}): ChainTracker {
  const o = { ...CHAIN_DEFAULTS, ...opts };
  for (const k of Object.keys(CHAIN_DEFAULTS) as (keyof typeof CHAIN_DEFAULTS)[]) {
    const v = o[k];
    if (typeof v !== 'number' || !(v >= 0) || Math.floor(v) !== v) throw new RangeError('chain option "' + k + '" expected an integer >= 0, got ' + v);
  }
  const devs = new Map<string, Dev>();
  /** All pending links in arrival order, for eviction and sweeping. */
  const order = new Map<string, Pending>();
  let openExplained = 0;
  let openUnexplained = 0;
  let filledLate = 0;
  let linksVerified = 0;

  function dev(device: string): Dev {
    let d = devs.get(device);
    if (!d) {
      d = { known: new Map(), watermark: 0, pending: new Map(), drops: [], lastSeq: 0, minSeq: 0, firstSeq: 0, accepted: 0 };
      devs.set(device, d);
      if (devs.size > o.maxDevices) {
        // Least recently active first: admit() moves a device to the end of the map.
        const oldest = devs.keys().next().value as string;
        if (oldest !== device) forget(oldest);
      }
    }
    return d;
  }

  function forget(device: string): void {
    const d = devs.get(device);
    if (!d) return;
    for (const p of [...d.pending.values()]) {
      if (p.declared) {
        if (p.explained) openExplained--;
        else openUnexplained--;
      }
      removePending(p);
    }
    devs.delete(device);
  }

  function remember(d: Dev, seq: number, k: Known | null): void {
    d.known.delete(seq); // re-insert at the end: most recently used
    d.known.set(seq, k);
    while (d.known.size > o.maxKnownPerDevice) {
      const first = d.known.keys().next().value as number;
      d.known.delete(first);
      if (first > d.watermark) d.watermark = first;
    }
  }

  function coveringDrop(d: Dev, seq: number): DropRange | undefined {
    for (let i = d.drops.length - 1; i >= 0; i--) if (d.drops[i].firstSeq <= seq && seq <= d.drops[i].lastSeq) return d.drops[i];
    return undefined;
  }

  function event(kind: GapEvent['kind'], p: Pending, extra?: Partial<GapEvent>): GapEvent {
    const e: GapEvent = { kind: kind, device: p.device, seq: p.pseq, nextSeq: p.succ, explained: p.explained, detectedAt: p.declaredAt };
    if (p.dropReportSeq !== undefined) e.dropReportSeq = p.dropReportSeq;
    return extra ? { ...e, ...extra } : e;
  }

  function declare(p: Pending, now: number, evicted: boolean): GapEvent {
    const d = dev(p.device);
    const r = coveringDrop(d, p.pseq);
    p.declared = true;
    p.declaredAt = now;
    p.explained = r !== undefined;
    if (r) {
      p.dropReportSeq = r.reportSeq;
      openExplained++;
    } else openUnexplained++;
    return event('declared', p, evicted ? { evicted: true } : undefined);
  }

  function removePending(p: Pending): void {
    dev(p.device).pending.delete(p.pseq);
    order.delete(p.device + ':' + p.pseq);
  }

  function addPending(p: Pending, events: GapEvent[]): void {
    while (order.size >= o.maxPendingLinks && order.size > 0) {
      const oldest = order.values().next().value as Pending;
      removePending(oldest);
      if (!oldest.declared) events.push(declare(oldest, p.since, true));
    }
    if (o.maxPendingLinks === 0) return;
    dev(p.device).pending.set(p.pseq, p);
    order.set(p.device + ':' + p.pseq, p);
  }

  function knownGet(d: Dev, seq: number): Known | null | undefined {
    return d.known.get(seq);
  }

  return {
    loaded(device) {
      return devs.has(device);
    },

    load(device, snap) {
      const d = dev(device);
      if (!snap) return;
      d.watermark = Math.max(d.watermark, snap.maxSeq);
      d.lastSeq = Math.max(d.lastSeq, snap.maxSeq);
      if (snap.minSeq && (!d.minSeq || snap.minSeq < d.minSeq)) d.minSeq = snap.minSeq;
      if (snap.firstSeq) d.firstSeq = snap.firstSeq;
      const recent = snap.recent.slice().sort((a, b) => a.seq - b.seq).slice(-o.maxKnownPerDevice);
      for (const r of recent) remember(d, r.seq, { hash: r.payloadHash, next: 0 });
      for (const r of recent) {
        const k = d.known.get(r.pseq);
        if (k) k.next = r.seq;
      }
      for (const l of snap.openLinks) {
        const p: Pending = {
          device: device,
          pseq: l.pseq,
          succ: l.seq,
          expect: l.prev,
          since: l.since,
          declared: l.gap !== undefined,
          declaredAt: l.gap ? l.gap.detectedAt : 0,
          explained: l.gap ? l.gap.explained : false,
        };
        if (l.gap && l.gap.dropReportSeq !== undefined) p.dropReportSeq = l.gap.dropReportSeq;
        if (l.gap) {
          if (p.explained) openExplained++;
          else openUnexplained++;
        }
        addPending(p, []);
      }
      for (const r of snap.drops.slice(-o.maxDropReportsPerDevice)) d.drops.push(r);
    },

    missing(device, seq, pseq) {
      const d = dev(device);
      const out: number[] = [];
      if (seq <= d.watermark && !d.known.has(seq)) out.push(seq);
      if (pseq > 0 && pseq <= d.watermark && !d.known.has(pseq)) out.push(pseq);
      return out;
    },

    prime(device, seq, ref) {
      remember(dev(device), seq, ref ? { hash: ref.payloadHash, next: 0 } : null);
    },

    admit(device, b) {
      const d = dev(device);
      if (devs.size > 1) {
        devs.delete(device); // most recently active last, for maxDevices
        devs.set(device, d);
      }
      const s = b.seq;
      const p = b.pseq;
      // Step 4: sequence.
      const self = knownGet(d, s);
      if (self) {
        if (eq(self.hash, b.payloadHash)) return { status: 'duplicate' };
        return { status: 'conflict', detail: 'seq ' + s + ' is already stored with a different payload' };
      }
      // Step 5: chain. Every check runs before any state changes, so a refused batch leaves
      // the tracker as it was (the genuine batch may still arrive).
      let pk: Known | null | undefined;
      if (p === 0) {
        if (!isZero(b.prev)) return { status: 'chain-break', detail: 'first batch (pseq 0) carries a non-zero prev' };
        if (d.minSeq && d.minSeq < s) return { status: 'chain-break', detail: 'pseq 0 (a first batch) at seq ' + s + ' but seq ' + d.minSeq + ' exists' };
        if (d.firstSeq && d.firstSeq !== s) return { status: 'chain-break', detail: 'second first batch: seq ' + d.firstSeq + ' already has pseq 0' };
      } else {
        if (d.firstSeq && s < d.firstSeq) return { status: 'chain-break', detail: 'seq ' + s + ' precedes the first batch ' + d.firstSeq };
        pk = knownGet(d, p);
        if (pk) {
          if (!eq(pk.hash, b.prev)) return { status: 'chain-break', detail: 'prev does not match the payload hash of seq ' + p };
          if (pk.next && pk.next !== s) return { status: 'chain-break', detail: 'fork: seq ' + p + ' is already followed by seq ' + pk.next };
        } else {
          const other = d.pending.get(p);
          if (other && other.succ !== s) return { status: 'chain-break', detail: 'fork: seq ' + other.succ + ' already names seq ' + p + ' as predecessor' };
        }
      }
      const waiting = d.pending.get(s);
      if (waiting && !eq(waiting.expect, b.payloadHash))
        return { status: 'chain-break', detail: 'payload hash does not match prev of seq ' + waiting.succ };

      // Accepted: update state.
      const events: GapEvent[] = [];
      remember(d, s, { hash: b.payloadHash, next: waiting ? waiting.succ : 0 });
      d.accepted++;
      if (s > d.lastSeq) d.lastSeq = s;
      if (!d.minSeq || s < d.minSeq) d.minSeq = s;
      if (p === 0) d.firstSeq = s;
      let linked = false;
      let pending = false;
      if (p > 0) {
        if (pk) {
          pk.next = s;
          linked = true;
          linksVerified++;
        } else if (!d.pending.has(p)) {
          addPending({ device: device, pseq: p, succ: s, expect: b.prev, since: b.receivedAt, declared: false, declaredAt: 0, explained: false }, events);
          pending = d.pending.has(p);
        } else pending = true;
      }
      if (waiting) {
        removePending(waiting);
        linksVerified++;
        if (waiting.declared) {
          if (waiting.explained) openExplained--;
          else openUnexplained--;
          filledLate++;
          events.push(event('filled', waiting, { filledAt: b.receivedAt }));
        }
      }
      // Step 6: a signed drop report explains the gaps it covers, now or later.
      if (b.drop) {
        const r: DropRange = { reportSeq: s, count: b.drop.count, firstSeq: b.drop.firstSeq, lastSeq: b.drop.lastSeq };
        d.drops.push(r);
        if (d.drops.length > o.maxDropReportsPerDevice) d.drops.shift();
        for (const q of d.pending.values()) {
          if (q.pseq < r.firstSeq || q.pseq > r.lastSeq) continue;
          if (!q.declared) events.push(declare(q, b.receivedAt, false));
          else if (!q.explained) {
            q.explained = true;
            q.dropReportSeq = s;
            openUnexplained--;
            openExplained++;
            events.push(event('explained', q));
          }
        }
      }
      return { status: 'accepted', linked: linked, pending: pending, events: events };
    },

    sweep(now) {
      const events: GapEvent[] = [];
      for (const p of order.values()) if (!p.declared && now - p.since >= o.gapGraceMs) events.push(declare(p, now, false));
      return events;
    },

    forget,

    lastSeq(device) {
      const d = devs.get(device);
      return d ? d.lastSeq : undefined;
    },

    perDevice() {
      const out: { device: string; lastSeq: number; accepted: number }[] = [];
      for (const [k, d] of devs) out.push({ device: k, lastSeq: d.lastSeq, accepted: d.accepted });
      return out;
    },

    stats() {
      let undeclared = 0;
      for (const p of order.values()) if (!p.declared) undeclared++;
      return {
        devices: devs.size,
        pendingLinks: undeclared,
        gaps: { explained: openExplained, unexplained: openUnexplained, filledLate: filledLate },
        linksVerified: linksVerified,
      };
    },
  };
}
