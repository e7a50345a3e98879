// Reference model for the power-cut tests: what the agent knows after every call that returned,
// plus the one call that was interrupted. After a reboot, check() compares the recovered
// Outbox and Counters with it:
// - every batch recovered is byte-identical to one that was pushed, and was not acked or dropped
//   before the cut; the only exceptions are the batch whose push was cut (it may appear, intact)
//   and the batch whose ack was cut (it may reappear);
// - a waiting batch missing after the reboot was dropped: the persisted `dropped` counter grew by
//   exactly the number missing, and they are the oldest ones (drop-oldest);
// - ids and sequence numbers handed out after the reboot are above every earlier one;
// - the boot counter grew; totals lie between the last persisted value and the live one.
// While no cut happens, every push() is checked against the drop-oldest policy as well.
import assert from 'node:assert/strict';
import { FlashStorage, isPowerCut } from '../../agent-sim/platform/flash-storage.js';
import { Outbox, type OutboxConfig, type OutboxMeta } from '../../firmware/core/session/outbox.js';
import { Counters, type CountersConfig } from '../../firmware/core/session/counters.js';

interface Expect {
  bytes: Uint8Array;
  meta: OutboxMeta;
}

type Pending =
  | { kind: 'push'; bytes: Uint8Array; meta: OutboxMeta }
  | { kind: 'ack'; id: number }
  | { kind: 'add'; delta: number }
  | { kind: 'other'; what: string };

export class Model {
  /** Waiting batches by id, ascending (Map keeps insertion order, ids only grow). */
  live = new Map<number, Expect>();
  /** Acked or dropped ids: must never reappear. */
  gone = new Set<number>();
  maxId = 0;
  maxSeq = -1;
  boot = 0;
  dropped = 0;
  persisted = 0;
  total = 0;
  pending: Pending | undefined;
  ob: Outbox | undefined;
  c: Counters | undefined;

  constructor(
    readonly fs: FlashStorage,
    readonly obCfg: Partial<OutboxConfig>,
    readonly cCfg: Partial<CountersConfig>,
  ) {}

  /** Run `f`; on a power cut remember what was in flight, then rethrow. */
  private guard<T>(p: Pending, f: () => T): T {
    this.pending = p;
    try {
      const r = f();
      this.pending = undefined;
      return r;
    } catch (e) {
      if (!isPowerCut(e)) this.pending = undefined;
      throw e;
    }
  }

  // ---- boot ---------------------------------------------------------------------------------

  /** (Re)start both modules on the current flash and check them against the model. */
  start(now: number): void {
    this.ob = undefined;
    this.c = undefined;
    const pend = this.pending;
    const c = this.guard(pend ?? { kind: 'other', what: 'counters boot' }, () => new Counters(this.fs, this.cCfg, now));
    assert.ok(c.boot() > this.boot, 'boot counter ' + c.boot() + ' must exceed ' + this.boot);
    const addDelta = pend?.kind === 'add' ? pend.delta : 0;
    assert.ok(c.total(0) >= this.persisted, 'total ' + c.total(0) + ' went below the persisted ' + this.persisted);
    assert.ok(c.total(0) <= this.total + addDelta, 'total ' + c.total(0) + ' exceeds what was counted ' + (this.total + addDelta));
    this.boot = c.boot();
    this.total = c.total(0);
    this.persisted = c.persisted(0);
    assert.equal(this.persisted, this.total, 'a fresh boot has nothing unpersisted');
    this.c = c;
    const ob = this.guard(pend ?? { kind: 'other', what: 'outbox boot' }, () => new Outbox(this.fs, this.obCfg));
    this.checkRecovered(ob, pend);
    this.pending = undefined;
    this.ob = ob;
  }

  private checkRecovered(ob: Outbox, pend: Pending | undefined): void {
    const got = ob.peek(0xffff);
    assert.equal(got.length, ob.depth());
    let prev = 0;
    const seen = new Set<number>();
    for (const e of got) {
      assert.ok(e.id > prev, 'peek() must be in ascending id order');
      prev = e.id;
      seen.add(e.id);
      const x = this.live.get(e.id);
      if (x) {
        assert.deepEqual(e.bytes, x.bytes, 'batch ' + e.id + ' changed');
        assert.deepEqual({ boot: e.boot, seq: e.seq, t: e.t }, x.meta, 'meta of batch ' + e.id + ' changed');
        continue;
      }
      assert.ok(!this.gone.has(e.id), 'batch ' + e.id + ' was acked or dropped and reappeared');
      assert.ok(pend?.kind === 'push' && e.id > this.maxId, 'unexpected batch ' + e.id + ' (no push was interrupted)');
      assert.deepEqual(e.bytes, pend.bytes, 'the interrupted push reappeared with other bytes');
      assert.deepEqual({ boot: e.boot, seq: e.seq, t: e.t }, pend.meta);
      this.live.set(e.id, { bytes: pend.bytes, meta: pend.meta });
      this.maxId = e.id;
    }
    const missing: number[] = [];
    for (const id of this.live.keys()) if (!seen.has(id)) missing.push(id);
    const dropped = missing.filter((id) => !(pend?.kind === 'ack' && id === pend.id));
    assert.ok(ob.dropped() >= this.dropped, 'dropped counter went backwards');
    assert.equal(ob.dropped() - this.dropped, dropped.length, 'batches missing without being counted as dropped: ' + dropped.join(','));
    const oldest = [...this.live.keys()].filter((id) => !(pend?.kind === 'ack' && id === pend.id)).slice(0, dropped.length);
    assert.deepEqual(dropped, oldest, 'drops must take the oldest batches');
    for (const id of missing) {
      this.live.delete(id);
      this.gone.add(id);
    }
    this.dropped = ob.dropped();
    const rep = ob.dropReport();
    if (rep) assert.ok(rep.count <= this.dropped && rep.firstSeq <= rep.lastSeq);
  }

  // ---- operations -----------------------------------------------------------------------------

  push(bytes: Uint8Array, meta: OutboxMeta): number {
    const ob = this.ob!;
    const before = [...this.live.keys()];
    const d0 = ob.dropped();
    const id = this.guard({ kind: 'push', bytes, meta }, () => ob.push(bytes, meta));
    assert.ok(id > this.maxId, 'id ' + id + ' reused (max so far ' + this.maxId + ')');
    this.maxId = id;
    const k = ob.dropped() - d0;
    for (const gone of before.slice(0, k)) {
      this.live.delete(gone);
      this.gone.add(gone);
    }
    this.live.set(id, { bytes, meta });
    this.dropped = ob.dropped();
    assert.deepEqual(
      ob.peek(0xffff).map((e) => e.id),
      [...this.live.keys()],
      'after push: waiting ids differ from the drop-oldest model',
    );
    return id;
  }

  ack(id: number): void {
    const ob = this.ob!;
    const r = this.guard({ kind: 'ack', id }, () => ob.ack(id));
    assert.equal(r, this.live.has(id), 'ack(' + id + ') result');
    if (r) {
      this.live.delete(id);
      this.gone.add(id);
    }
  }

  nextSeq(): number {
    const s = this.guard({ kind: 'other', what: 'nextSeq' }, () => this.c!.nextSeq());
    assert.ok(s > this.maxSeq, 'sequence number ' + s + ' reused (max so far ' + this.maxSeq + ')');
    this.maxSeq = s;
    return s;
  }

  add(delta: number, now: number): void {
    this.guard({ kind: 'add', delta }, () => this.c!.add(0, delta, now));
    this.total += delta;
    assert.equal(this.c!.total(0), this.total);
    const p = this.c!.persisted(0);
    assert.ok(p >= this.persisted && p <= this.total, 'persisted total out of order');
    this.persisted = p;
  }

  tick(now: number): void {
    this.guard({ kind: 'other', what: 'tick' }, () => this.c!.tick(now));
    this.persisted = this.c!.persisted(0);
  }

  confirmDrops(): void {
    const ob = this.ob!;
    const r = ob.dropReport();
    if (r) this.guard({ kind: 'other', what: 'confirm' }, () => ob.confirmDropReport(r));
  }

  /** Push a batch numbered by the counters (the agent's normal step). */
  batch(i: number, size: number, now: number): number {
    const seq = this.nextSeq();
    return this.push(batchBytes(i, size), { boot: this.boot, seq, t: now });
  }
}

/** Deterministic batch content that differs per i (so a mix-up is visible). */
export function batchBytes(i: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = (i * 2654435761) >>> 0 || 1;
  for (let k = 0; k < size; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[k] = x & 255;
  }
  return b;
}
