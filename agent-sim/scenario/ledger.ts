// Exact end-of-run accounting of every reading a simulated fleet produced.
//
// Three taps, none of which changes what it observes:
//   - the SOURCES (DeviceObserver.wrapSources): every value a source hands the agent is a
//     produced reading, numbered per device in order;
//   - the OUTBOX of each boot (push/ack wrapped, as test/agent/rig.ts does): a pushed batch is
//     decoded and its readings matched, in order, against the produced ones not yet sealed, so
//     each reading is tied to (device, seq, index); readings skipped by the match were dropped
//     by the device in RAM (its pending bound), readings still unmatched at a power cut were lost
//     in RAM; a PUBACK marks the batch acknowledged by the broker;
//   - the VERIFIER: its verifyMessage (every message it received, genuine or not, and why one
//     was refused) and its store's write() (every batch accepted, with its records, and every
//     signed drop report).
// account() then puts every reading of every device in exactly one class:
//   verified        in a batch the verifier accepted exactly once, with the same records
//   droppedReported in a batch the device dropped and reported in a signed drop report
//   queuedOnDevice  in the outbox, in a drop report not yet sent, or in RAM not yet sealed
//   lostAtPowerCut  in RAM (or in a torn outbox write) when the power went off
//   droppedInRam    dropped by the device before sealing (pending bound; counted, unsigned)
//   rejectedRevoked in a batch refused because the device's key was revoked
//   lostAtBroker    in a batch the broker acknowledged and never delivered
//   unaccounted     anything else: a failure naming the device and the sequence number
// and counts what must never happen: a batch accepted twice (a replay), a message accepted that
// no device sealed (forged, tampered), a batch whose stored records differ from what the
// device sealed.
import { createHash } from 'node:crypto';
import { decodeSign1 } from '../../firmware/core/codec/cose.js';
import { decodePayload } from '../../firmware/core/telemetry/batch.js';
import type { Source, SourceValue } from '../../firmware/core/session/agent.js';
import type { OutboxMeta } from '../../firmware/core/session/outbox.js';
import type { DeviceObserver, SimDevice } from '../fleet.js';
import type { Store, WriteUnit } from '../middleware/store.js';
import type { RecordRow, Verifier } from '../middleware/verify.js';

/** Bounds of the ledger's own memory. */
export const LEDGER_LIMITS = {
  /** Genuine messages kept (bytes) for replay faults, newest first out of a ring. */
  keptMessages: 4096,
  /** Failure lines kept in full; the rest are counted. */
  failureLines: 200,
};

/** One reading as text: name, unit, value kind and value (times are not part of it). */
export function readingKey(n: string, r: { u?: string; v?: number; s?: number; vs?: string; vb?: boolean }): string {
  return n + '|' + (r.u ?? '') + '|' + (r.v !== undefined ? 'v' + r.v : '') + (r.s !== undefined ? 's' + r.s : '') + (r.vs !== undefined ? 't' + r.vs : '') + (r.vb !== undefined ? 'b' + r.vb : '');
}

function rowKey(r: RecordRow): string {
  return readingKey(r.name, { u: r.unit, v: r.value, s: r.sum, vs: r.vs, vb: r.vb });
}

/** FNV-1a over the keys in sorted order: a batch's records as one number. */
function digest(keys: string[]): number {
  let h = 0x811c9dc5;
  for (const k of keys.slice().sort()) {
    for (let i = 0; i < k.length; i++) {
      h ^= k.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 10;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function messageKey(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

interface SeqRec {
  seq: number;
  boot: number;
  /** Index of the batch's first reading among the device's produced readings (-1: unmatched). */
  first: number;
  count: number;
  digest: number;
  /** push() was torn by a power cut: the batch may or may not be on flash. */
  cut: boolean;
  acked: boolean;
}

export class DeviceLedger {
  readonly index: number;
  readonly label: string;
  address = '';
  produced = 0;
  /** Keys of produced readings not sealed yet; fifo[head] is reading number `fifoFirst`. */
  private fifo: string[] = [];
  private head = 0;
  fifoFirst = 0;
  readonly seqs = new Map<number, SeqRec>();
  /** Outbox id -> seq (ids survive reboots with the outbox). */
  readonly idSeq = new Map<number, number>();
  lostAtCut = 0;
  droppedInRam = 0;
  /** The device's own count of readings dropped before sealing, over finished boots. */
  deviceDroppedPast = 0;
  readonly mismatches: string[] = [];
  /** Virtual time the device's key was revoked at. */
  revokedAt: number | undefined;
  /** seq -> reject reason for the device's genuine messages the verifier refused. */
  readonly rejected = new Map<number, string>();

  constructor(index: number, label: string) {
    this.index = index;
    this.label = label;
  }

  produce(key: string): void {
    this.fifo.push(key);
    this.produced++;
  }

  pendingCount(): number {
    return this.fifo.length - this.head;
  }

  /**
   * Ties a sealed batch's readings to produced ones; returns the first reading's number or -1.
   * The batch holds the next `keys.length` readings still unsealed, possibly after some the
   * device dropped; inside a batch the encoder orders readings by name then time
   * (telemetry/senml.ts), so a window matches when it holds the same readings in any order.
   */
  seal(keys: string[]): number {
    const f = this.fifo;
    const n = keys.length;
    const want = keys.slice().sort().join('\n');
    for (let k = this.head; k + n <= f.length; k++) {
      if (f.slice(k, k + n).sort().join('\n') !== want) continue;
      const skipped = k - this.head;
      this.droppedInRam += skipped;
      const first = this.fifoFirst + skipped;
      this.fifoFirst += skipped + n;
      this.head = k + n;
      if (this.head > 1024 && this.head * 2 > f.length) {
        this.fifo = f.slice(this.head);
        this.head = 0;
      }
      return first;
    }
    return -1;
  }

  /** Power went off: whatever was produced and not sealed is gone with the RAM. */
  powerCut(): void {
    const n = this.pendingCount();
    this.lostAtCut += n;
    this.fifoFirst += n;
    this.fifo = [];
    this.head = 0;
  }
}

export interface ReadingCounts {
  produced: number;
  verified: number;
  droppedReported: number;
  queuedOnDevice: number;
  lostAtPowerCut: number;
  droppedInRam: number;
  rejectedRevoked: number;
  lostAtBroker: number;
  unaccounted: number;
}

export interface BatchCounts {
  sealed: number;
  acked: number;
  verified: number;
  droppedReported: number;
  queuedOutbox: number;
  dropReportPending: number;
  lostAtPowerCut: number;
  rejectedRevoked: number;
  lostAtBroker: number;
  unaccounted: number;
}

export interface Accounting {
  readings: ReadingCounts;
  batches: BatchCounts;
  /** Batches accepted more than once (a replay or a duplicate that got through). */
  acceptedTwice: number;
  /** Accepted messages an attacker made, by kind; and accepted messages nobody sealed. */
  forgedAccepted: Record<string, number>;
  foreignAccepted: number;
  /** Genuine messages refused, by reason (revocations of revoked devices excluded). */
  genuineRejected: Record<string, number>;
  /** Messages the verifier received and refused that no device sealed, by reason. */
  foreignRejected: Record<string, number>;
  /** What went wrong, one line each, device and seq named (capped; `failureCount` is all). */
  failures: Failure[];
  failureCount: number;
  /** Failures by kind (all of them, not capped). */
  failuresByKind: Partial<Record<FailureKind, number>>;
  /** The batches lost at the broker, and the highest seq the verifier accepted of their device. */
  lostAtBroker: { address: string; label: string; seq: number; laterAccepted: boolean }[];
}

export type FailureKind =
  | 'unaccounted' // a batch neither verified, reported dropped, queued, lost at a cut nor refused for revocation
  | 'lost-at-broker' // acknowledged by the broker, never delivered
  | 'content' // stored records differ from the sealed readings, or sealed readings from produced ones
  | 'accepted-twice' // a batch accepted more than once (a replay got through)
  | 'forged-accepted' // an attacker's message accepted
  | 'foreign-accepted' // a message no simulated device sealed accepted
  | 'genuine-rejected' // a genuine message refused (other than for a revoked key)
  | 'consistency'; // the ledger disagrees with the device's own counters, or with itself

export interface Failure {
  kind: FailureKind;
  text: string;
}

interface Accepted {
  count: number;
  digest: number;
  times: number;
  afterRevocation: boolean;
}

interface KeptMessage {
  device: DeviceLedger;
  seq: number;
  bytes: Uint8Array;
}

/**
 * Readings a running agent holds in RAM: waiting for a batch, or in the batch being signed.
 * Private state of the agent, read here only to tell "still in RAM" from "dropped".
 */
function ramReadings(d: SimDevice): number {
  const a = d.agent as unknown as { pending?: unknown[]; job?: unknown; jobMeta?: { payload: Uint8Array } };
  let n = a.pending?.length ?? 0;
  if (a.job && a.jobMeta) n += decodePayload(a.jobMeta.payload).readings.length;
  return n;
}

export class FleetLedger implements DeviceObserver {
  readonly devices = new Map<SimDevice, DeviceLedger>();
  private readonly byAddress = new Map<string, DeviceLedger>();
  /** message key -> the device and seq that sealed it. */
  private readonly genuine = new Map<string, { dev: DeviceLedger; seq: number }>();
  /** message key -> kind, for what the attacker faults published. */
  private readonly attacks = new Map<string, string>();
  private readonly accepted = new Map<string, Map<number, Accepted>>();
  private readonly drops = new Map<string, [number, number][]>();
  private readonly foreignRejected: Record<string, number> = {};
  private readonly genuineRejected: Record<string, number> = {};
  private foreignAcceptedKinds: Record<string, number> = {};
  private foreignAccepted = 0;
  private acceptedTwice = 0;
  private readonly extraFailures: Failure[] = [];
  /** Batches the broker acknowledged, and messages the verifier received (its backlog). */
  ackedTotal = 0;
  verifierReceived = 0;
  /** Keep genuine message bytes for replay faults (off unless a fault asks). */
  keepMessages = false;
  private kept: KeptMessage[] = [];
  private keptAt = 0;
  private readonly indexOf: (d: SimDevice) => number;
  private readonly now: () => number;
  private readonly prefix: string;

  constructor(o: { indexOf: (d: SimDevice) => number; now: () => number; prefix: string }) {
    this.indexOf = o.indexOf;
    this.now = o.now;
    this.prefix = o.prefix;
  }

  // ---- device taps ----

  private ledger(d: SimDevice): DeviceLedger {
    let L = this.devices.get(d);
    if (!L) {
      L = new DeviceLedger(this.indexOf(d), d.spec.label);
      this.devices.set(d, L);
    }
    return L;
  }

  wrapSources(d: SimDevice, sources: Source[]): Source[] {
    const L = this.ledger(d);
    return sources.map((src) => {
      const read = src.read.bind(src);
      const w: Source = Object.create(src);
      w.read = (done) =>
        read((e, values?: SourceValue[]) => {
          if (!e && values) for (const v of values) L.produce(readingKey(src.id + '/' + v.n, v));
          done(e, values);
        });
      // intervalMs is changed by operator commands on the object the agent holds: keep it own.
      w.intervalMs = src.intervalMs;
      return w;
    });
  }

  onBoot(d: SimDevice): void {
    const L = this.ledger(d);
    const ob = d.agent.outbox;
    if (!L.address) {
      L.address = d.agent.addressHex;
      this.byAddress.set(L.address, L);
    }
    for (const e of ob.peek(ob.depth())) L.idSeq.set(e.id, e.seq);
    const push = ob.push.bind(ob);
    const ack = ob.ack.bind(ob);
    const self = this;
    ob.push = (bytes: Uint8Array, meta: OutboxMeta) => {
      self.sealed(L, bytes, meta);
      let id: number;
      try {
        id = push(bytes, meta);
      } catch (e) {
        const r = L.seqs.get(meta.seq);
        if (r) r.cut = true;
        throw e;
      }
      L.idSeq.set(id, meta.seq);
      return id;
    };
    ob.ack = (id: number) => {
      const ok = ack(id);
      const seq = L.idSeq.get(id);
      if (ok && seq !== undefined) {
        const r = L.seqs.get(seq);
        if (r && !r.acked) {
          r.acked = true;
          self.ackedTotal++;
        }
        L.idSeq.delete(id);
      }
      return ok;
    };
  }

  onPowerCut(d: SimDevice): void {
    const L = this.ledger(d);
    L.powerCut();
    L.deviceDroppedPast += d.agent.stats().readingsDropped;
  }

  private sealed(L: DeviceLedger, bytes: Uint8Array, meta: OutboxMeta): void {
    let keys: string[];
    try {
      keys = decodePayload(decodeSign1(bytes).payload).readings.map((r) => readingKey(r.n, r));
    } catch (e) {
      L.mismatches.push(L.label + ' seq ' + meta.seq + ': the device pushed a batch that does not decode: ' + (e as Error).message);
      return;
    }
    const first = L.seal(keys);
    if (first < 0) L.mismatches.push(L.label + ' seq ' + meta.seq + ': its ' + keys.length + ' readings are not, in order, readings its sources produced and it had not sealed');
    if (L.seqs.has(meta.seq)) L.mismatches.push(L.label + ' seq ' + meta.seq + ': sealed twice');
    L.seqs.set(meta.seq, { seq: meta.seq, boot: meta.boot, first, count: keys.length, digest: digest(keys), cut: false, acked: false });
    this.genuine.set(messageKey(bytes), { dev: L, seq: meta.seq });
    if (this.keepMessages) {
      const m = { device: L, seq: meta.seq, bytes: bytes.slice() };
      if (this.kept.length < LEDGER_LIMITS.keptMessages) this.kept.push(m);
      else this.kept[this.keptAt++ % LEDGER_LIMITS.keptMessages] = m;
    }
  }

  // ---- verifier taps ----

  /** Observes every message the verifier is given (wraps verifier.verifyMessage in place). */
  tapVerifier(v: Verifier): void {
    const inner = v.verifyMessage.bind(v);
    v.verifyMessage = (topic, bytes, at) => {
      const r = inner(topic, bytes, at);
      this.verifierReceived++;
      if (!r.ok) {
        const g = this.genuine.get(messageKey(bytes));
        // A genuine message on another device's topic is an attacker's copy, not the device's.
        if (g && topic === this.prefix + '/' + g.dev.address + '/tele') {
          g.dev.rejected.set(g.seq, r.reason);
          if (!(r.reason === 'revoked-device' && g.dev.revokedAt !== undefined)) this.genuineRejected[r.reason] = (this.genuineRejected[r.reason] ?? 0) + 1;
        } else this.foreignRejected[r.reason] = (this.foreignRejected[r.reason] ?? 0) + 1;
      }
      return r;
    };
  }

  /** A store that records what the ingest writes, then writes it through. */
  observeStore(store: Store): Store {
    const self = this;
    return {
      kind: store.kind,
      loadDevice: (d, l) => store.loadDevice(d, l),
      lookupBatch: (d, s) => store.lookupBatch(d, s),
      syncDevices: (d) => store.syncDevices(d),
      close: () => store.close(),
      write(units: WriteUnit[]) {
        const r = store.write(units);
        const note = () => {
          for (const u of units) if (u.batch) self.acceptedBatch(u.batch.kid, u.batch.batch.seq, u.batch.records, u.batch.message, u.batch.batch.drop);
        };
        if (r && typeof (r as Promise<void>).then === 'function') return (r as Promise<void>).then(note);
        note();
        return r;
      },
    };
  }

  private acceptedBatch(kid: string, seq: number, records: RecordRow[], message: Uint8Array, drop: { firstSeq: number; lastSeq: number } | undefined): void {
    const mk = messageKey(message);
    const kind = this.attacks.get(mk);
    if (kind) this.foreignAcceptedKinds[kind] = (this.foreignAcceptedKinds[kind] ?? 0) + 1;
    else if (!this.genuine.has(mk)) this.foreignAccepted++;
    let m = this.accepted.get(kid);
    if (!m) this.accepted.set(kid, (m = new Map()));
    const L = this.byAddress.get(kid);
    const prev = m.get(seq);
    if (prev) {
      prev.times++;
      this.acceptedTwice++;
    } else m.set(seq, { count: records.length, digest: digest(records.map(rowKey)), times: 1, afterRevocation: !!L && L.revokedAt !== undefined });
    if (drop) {
      let d = this.drops.get(kid);
      if (!d) this.drops.set(kid, (d = []));
      d.push([drop.firstSeq, drop.lastSeq]);
    }
  }

  // ---- fault support ----

  /** An attacker fault published this message. */
  registerAttack(bytes: Uint8Array, kind: string): void {
    this.attacks.set(messageKey(bytes), kind);
  }

  /** The device's key was revoked now (later messages must be refused). */
  revoked(d: SimDevice): void {
    this.ledger(d).revokedAt = this.now();
  }

  /** Genuine messages kept so far (oldest first), for replay faults. */
  keptMessages(): { device: string; index: number; seq: number; bytes: Uint8Array }[] {
    const ring = this.kept.length < LEDGER_LIMITS.keptMessages ? this.kept : this.kept.slice(this.keptAt % LEDGER_LIMITS.keptMessages).concat(this.kept.slice(0, this.keptAt % LEDGER_LIMITS.keptMessages));
    return ring.map((m) => ({ device: m.device.address, index: m.device.index, seq: m.seq, bytes: m.bytes }));
  }

  /** What the verifier accepted of a device: seq -> accepted after its revocation? */
  acceptedOf(address: string): { seq: number; afterRevocation: boolean }[] {
    return [...(this.accepted.get(address) ?? new Map<number, Accepted>()).entries()].map(([seq, a]) => ({ seq, afterRevocation: a.afterRevocation }));
  }

  fail(kind: FailureKind, text: string): void {
    this.extraFailures.push({ kind, text });
  }

  /** The ledger of one device. */
  of(d: SimDevice): DeviceLedger {
    return this.ledger(d);
  }

  /** Batches the broker acknowledged on which the verifier has said nothing yet. */
  unsettled(): number {
    let n = 0;
    for (const L of this.devices.values()) {
      const acc = this.accepted.get(L.address);
      for (const r of L.seqs.values()) if (r.acked && !(acc && acc.has(r.seq)) && !L.rejected.has(r.seq)) n++;
    }
    return n;
  }

  /**
   * SHA-256 over every sealed batch's (device, seq, readings): equal for two runs that produced
   * and sealed the same readings in the same batches (the determinism check of a seed).
   */
  sealedDigest(): string {
    const lines: string[] = [];
    for (const L of this.devices.values()) for (const r of L.seqs.values()) lines.push(L.label + ' ' + r.seq + ' ' + r.count + ' ' + r.digest);
    lines.sort();
    return createHash('sha256').update(lines.join('\n')).digest('hex');
  }

  /** Per device: accepted batches and their records (for the database cross-check). */
  acceptedTotals(): Map<string, { batches: number; records: number }> {
    const out = new Map<string, { batches: number; records: number }>();
    for (const [kid, m] of this.accepted) {
      let r = 0;
      for (const a of m.values()) r += a.count;
      out.set(kid, { batches: m.size, records: r });
    }
    return out;
  }

  // ---- the end ----

  account(): Accounting {
    const R: ReadingCounts = { produced: 0, verified: 0, droppedReported: 0, queuedOnDevice: 0, lostAtPowerCut: 0, droppedInRam: 0, rejectedRevoked: 0, lostAtBroker: 0, unaccounted: 0 };
    const B: BatchCounts = { sealed: 0, acked: 0, verified: 0, droppedReported: 0, queuedOutbox: 0, dropReportPending: 0, lostAtPowerCut: 0, rejectedRevoked: 0, lostAtBroker: 0, unaccounted: 0 };
    const failures: Failure[] = [];
    const byKind: Partial<Record<FailureKind, number>> = {};
    let failureCount = 0;
    const failure = (kind: FailureKind, text: string) => {
      failureCount++;
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      if (failures.length < LEDGER_LIMITS.failureLines) failures.push({ kind, text });
    };
    for (const f of this.extraFailures) failure(f.kind, f.text);
    const lost: Accounting['lostAtBroker'] = [];
    for (const [d, L] of this.devices) {
      for (const m of L.mismatches) failure('content', m);
      const acc = this.accepted.get(L.address) ?? new Map<number, Accepted>();
      const drops = this.drops.get(L.address) ?? [];
      const inDrop = (s: number) => drops.some(([a, b]) => a <= s && s <= b);
      const on = !d.poweredOff;
      const queued = new Set<number>(on ? d.agent.outbox.peek(d.agent.outbox.depth()).map((e) => e.seq) : []);
      const pend = on ? d.agent.outbox.dropReport() : undefined;
      // Accepted batches the device never sealed, or with other records.
      for (const [seq, a] of acc) {
        const r = L.seqs.get(seq);
        if (!r) failure('content', L.label + ' seq ' + seq + ': accepted by the verifier but never sealed by the device');
        else if (r.count !== a.count || r.digest !== a.digest)
          failure('content', L.label + ' seq ' + seq + ': the stored records (' + a.count + ') differ from the sealed readings (' + r.count + ')');
      }
      R.produced += L.produced;
      R.lostAtPowerCut += L.lostAtCut;
      R.droppedInRam += L.droppedInRam;
      for (const r of L.seqs.values()) {
        B.sealed++;
        if (r.acked) B.acked++;
        const n = r.count;
        if (acc.has(r.seq)) {
          B.verified++;
          R.verified += n;
        } else if (inDrop(r.seq)) {
          B.droppedReported++;
          R.droppedReported += n;
        } else if (queued.has(r.seq)) {
          B.queuedOutbox++;
          R.queuedOnDevice += n;
        } else if (pend && pend.firstSeq <= r.seq && r.seq <= pend.lastSeq) {
          B.dropReportPending++;
          R.queuedOnDevice += n;
        } else if (L.rejected.get(r.seq) === 'revoked-device' && L.revokedAt !== undefined) {
          B.rejectedRevoked++;
          R.rejectedRevoked += n;
        } else if (r.cut) {
          B.lostAtPowerCut++;
          R.lostAtPowerCut += n;
        } else if (r.acked) {
          B.lostAtBroker++;
          R.lostAtBroker += n;
          let later = false;
          for (const s of acc.keys()) if (s > r.seq) later = true;
          lost.push({ address: L.address, label: L.label, seq: r.seq, laterAccepted: later });
          failure('lost-at-broker', L.label + ' seq ' + r.seq + ': acknowledged by the broker, never delivered to the verifier (lost at the broker)');
        } else {
          B.unaccounted++;
          R.unaccounted += n;
          const why = L.rejected.get(r.seq);
          failure('unaccounted', L.label + ' seq ' + r.seq + ' (' + n + ' readings, boot ' + r.boot + '): not verified, not reported dropped, not queued' + (why ? '; the verifier refused it: ' + why : ''));
        }
      }
      // Produced and not sealed: still in RAM on a running device (quiesce seals them), or
      // dropped there by the device (its own count must agree).
      const left = L.pendingCount();
      const inRam = on ? ramReadings(d) : 0;
      const queuedRam = Math.min(left, inRam);
      R.queuedOnDevice += queuedRam;
      R.droppedInRam += left - queuedRam;
      const deviceDropped = L.deviceDroppedPast + (on ? d.agent.stats().readingsDropped : 0);
      if (L.droppedInRam + left - queuedRam !== deviceDropped)
        failure('consistency', L.label + ': ' + (L.droppedInRam + left - queuedRam) + ' readings missing before sealing, the device counted ' + deviceDropped + ' dropped');
    }
    const sum = R.verified + R.droppedReported + R.queuedOnDevice + R.lostAtPowerCut + R.droppedInRam + R.rejectedRevoked + R.lostAtBroker + R.unaccounted;
    if (sum !== R.produced) failure('consistency', 'ledger: ' + R.produced + ' readings produced but ' + sum + ' classified (a bug in the accounting)');
    if (this.acceptedTwice) failure('accepted-twice', this.acceptedTwice + ' batch(es) accepted twice');
    for (const [k, n] of Object.entries(this.foreignAcceptedKinds)) failure('forged-accepted', n + ' ' + k + ' message(s) from the attacker accepted');
    if (this.foreignAccepted) failure('foreign-accepted', this.foreignAccepted + ' accepted message(s) that no simulated device sealed');
    for (const [k, n] of Object.entries(this.genuineRejected)) failure('genuine-rejected', n + ' genuine message(s) refused: ' + k);
    return {
      readings: R,
      batches: B,
      acceptedTwice: this.acceptedTwice,
      forgedAccepted: { ...this.foreignAcceptedKinds },
      foreignAccepted: this.foreignAccepted,
      genuineRejected: { ...this.genuineRejected },
      foreignRejected: { ...this.foreignRejected },
      failures,
      failureCount,
      failuresByKind: byKind,
      lostAtBroker: lost,
    };
  }
}
