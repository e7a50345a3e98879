// An end-to-end rig: simulated devices (the core Agent on Node hosts, file-backed flash in a temp
// dir), optionally behind a link proxy, a real broker, the verifying ingest writing a real SQLite
// file, and a ledger per device of what it sealed and what the broker acknowledged (recorded by
// wrapping the agent's outbox: push = sealed and stored, ack = PUBACK received).
//
// audit() checks, from the database, the claims every scenario makes, and returns the numbers:
//   - nothing the device sealed is unaccounted for: each sealed seq is stored, or still queued,
//     or inside a signed drop report the device published (its own, counted loss), or, when the
//     scenario allows it (`brokerMayLose`), lost by a broker that forgot what it had acknowledged
//     AND reported by the verifier as an unexplained gap (detected, never silent);
//   - nothing else is stored: every stored seq was sealed by that device;
//   - each stored batch is stored once with all its records, and the ingest accepted as many
//     batches as there are rows (a second acceptance of a seq would show);
//   - the chain holds: every stored batch whose predecessor is stored names that predecessor's
//     payload hash (checked in SQL, across boots), and every predecessor that is not stored is a
//     gap explained by a drop report (or, with brokerMayLose, an unexplained gap row);
//   - no sequence number was used twice, and they grow across boots;
//   - no conflict, no chain-break, and (unless brokerMayLose) no unexplained gap and no link
//     still pending.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SimDevice, fleetSpecs, provision, Tally, deviceRows, type FleetConfig } from '../../agent-sim/fleet.js';
import { createIngest, type Ingest, type IngestOptions, type Outcome } from '../../agent-sim/middleware/ingest.js';
import { openSqliteStore, type SqliteStore } from '../../agent-sim/middleware/store-sqlite.js';
import { startLinkProxy, type LinkProxy } from '../../agent-sim/link-proxy.js';
import type { AgentConfig } from '../../firmware/core/session/agent.js';
import type { DeviceKind } from '../../agent-sim/sources/profiles.js';
import { decodeSign1 } from '../../firmware/core/codec/cose.js';
import { decodePayload } from '../../firmware/core/telemetry/batch.js';
import { sleep, until, tempDir } from './helpers.js';

export interface BrokerLike {
  port: number;
  url: string;
  close(): Promise<void>;
}

export interface RigOptions {
  tag: string;
  broker: BrokerLike;
  devices?: number;
  kinds?: DeviceKind[];
  /** Devices connect through a link proxy. */
  proxy?: boolean;
  /** The verifier connects through a link proxy of its own (to keep it away from the broker). */
  verifierProxy?: boolean;
  intervalMs?: number;
  batchMaxReadings?: number;
  batchMaxAgeMs?: number;
  /** Agent overrides; `broker` fields are merged into the rig's fast defaults. */
  agent?: Partial<AgentConfig> & { brokerOverrides?: Partial<AgentConfig['broker']> };
  operators?: string[];
  ingest?: Partial<IngestOptions>;
  gapGraceMs?: number;
}

export interface Ledger {
  /** seq -> boot counter, for every batch push() stored. */
  sealed: Map<number, number>;
  /** Seqs in push order over all boots (a reuse would show as a repeat). */
  order: number[];
  /** push() threw (a power cut in the write): the batch may or may not be on flash. */
  cut: Set<number>;
  /** Seqs whose outbox entry was removed by a PUBACK. */
  acked: Set<number>;
  idSeq: Map<number, number>;
}

export interface DeviceAudit {
  label: string;
  address: string;
  boots: number;
  sealed: number;
  acked: number;
  stored: number;
  records: number;
  queued: number;
  /** Batches the device dropped (outbox overflow), and of those, how many reached the verifier anyway. */
  droppedByDevice: number;
  droppedButDelivered: number;
  /** Sealed, acknowledged by the broker, never delivered to the verifier (brokerMayLose only). */
  lostAtBroker: number[];
  duplicates: number;
  linksChecked: number;
  /** Links across a boot (predecessor sealed in an earlier boot) that verified. */
  bootLinks: number;
  explainedGaps: number;
}

export interface Rig {
  dir: string;
  fleet: FleetConfig;
  devices: SimDevice[];
  ledgers: Map<SimDevice, Ledger>;
  proxy?: LinkProxy;
  verifierProxy?: LinkProxy;
  store: SqliteStore;
  ingest: Ingest;
  tally: Tally;
  outcomes: Outcome[];
  logs: string[];
  registryPath: string;
  start(): void;
  /** Power on again after a cut (powerCut() or an injected flash cut) and start. */
  bootDevice(d: SimDevice): void;
  /** Stop sampling, drain every outbox, let the verifier catch up and declare overdue gaps. */
  finish(opts?: { timeoutMs?: number; brokerMayLose?: boolean }): Promise<void>;
  audit(opts?: { brokerMayLose?: boolean }): DeviceAudit[];
  close(): Promise<void>;
}

export async function startRig(o: RigOptions): Promise<Rig> {
  const { dir, remove } = tempDir(o.tag);
  const proxy = o.proxy ? await startLinkProxy({ targetPort: o.broker.port }) : undefined;
  const verifierProxy = o.verifierProxy ? await startLinkProxy({ targetPort: o.broker.port }) : undefined;
  const gapGraceMs = o.gapGraceMs ?? 400;
  const { brokerOverrides, ...agentRest } = o.agent ?? {};
  const fleet: FleetConfig = {
    dataDir: dir,
    brokerHost: '127.0.0.1',
    brokerPort: proxy ? proxy.port : o.broker.port,
    prefix: 'depin',
    intervalMs: o.intervalMs ?? 100,
    batchMaxReadings: o.batchMaxReadings ?? 6,
    batchMaxAgeMs: o.batchMaxAgeMs ?? 500,
    operators: o.operators,
    agent: {
      broker: {
        host: '127.0.0.1',
        port: proxy ? proxy.port : o.broker.port,
        keepAliveS: 1,
        pingTimeoutMs: 500,
        connectTimeoutMs: 1000,
        reconnect: { minMs: 50, maxMs: 400, factor: 2 },
        ...brokerOverrides,
      },
      ...agentRest,
    },
  };
  const devices = fleetSpecs(o.devices ?? 3, 7, o.kinds).map((s) => new SimDevice(fleet, s));
  const ledgers = new Map<SimDevice, Ledger>();
  for (const d of devices) {
    ledgers.set(d, { sealed: new Map(), order: [], cut: new Set(), acked: new Set(), idSeq: new Map() });
    instrument(d, ledgers.get(d)!);
  }
  const registryPath = join(dir, 'registry.json');
  provision(registryPath, devices);
  const store = openSqliteStore(join(dir, 'verifier.sqlite'));
  const tally = new Tally();
  const outcomes: Outcome[] = [];
  const logs: string[] = [];
  const ingest = createIngest({
    brokerUrl: verifierProxy ? verifierProxy.url : o.broker.url,
    store,
    registryPath,
    clientId: 'verifier-' + o.tag,
    sweepMs: 100,
    chain: { gapGraceMs },
    mqtt: { reconnectPeriod: 100 },
    onOutcome: (x) => {
      tally.onOutcome(x);
      outcomes.push(x);
    },
    log: (level, msg) => {
      logs.push(level + ' ' + msg);
      if (process.env.AGENT_TEST_LOG) console.log('[verifier]', level, msg);
    },
    ...o.ingest,
  });
  await ingest.start();

  const db = store.db;
  const rowsOf = (addr: string) =>
    db
      .prepare('SELECT seq, boot, pseq, payload_hash, prev_hash, record_count, drop_count, drop_first, drop_last FROM batches WHERE device = ? ORDER BY seq')
      .all(addr) as {
      seq: number;
      boot: number;
      pseq: number;
      payload_hash: Buffer;
      prev_hash: Buffer;
      record_count: number;
      drop_count: number | null;
      drop_first: number | null;
      drop_last: number | null;
    }[];

  const rig: Rig = {
    dir,
    fleet,
    devices,
    ledgers,
    proxy,
    verifierProxy,
    store,
    ingest,
    tally,
    outcomes,
    logs,
    registryPath,
    start() {
      for (const d of devices) d.start();
    },
    bootDevice(d) {
      d.boot();
      instrument(d, ledgers.get(d)!);
      d.start();
    },
    async finish(f = {}) {
      for (const d of devices) if (!d.poweredOff) d.agent.quiesce();
      await until(
        'every outbox drained: ' + devices.map((d) => d.spec.label + ' pending/queue ' + d.agent.stats().queue + ' state ' + d.agent.stats().state).join(', '),
        () => devices.every((d) => d.poweredOff || d.agent.idle()),
        f.timeoutMs ?? 15000,
      );
      if (!f.brokerMayLose) {
        await until(
          'the verifier has every acknowledged batch',
          () =>
            devices.every((d) => {
              const have = new Set(rowsOf(d.agent.addressHex).map((r) => r.seq));
              return [...ledgers.get(d)!.acked].every((s) => have.has(s));
            }),
          f.timeoutMs ?? 15000,
        );
      } else {
        // What a forgetful broker lost never comes: wait until the verifier is quiet instead.
        let last = -1;
        await until('the verifier to go quiet', () => {
          const n = ingest.stats().received;
          const quiet = n === last;
          last = n;
          return quiet;
        }, f.timeoutMs ?? 15000).catch(() => undefined);
        await sleep(300);
      }
      await sleep(gapGraceMs + 250);
      await ingest.flush();
    },
    audit(a = {}) {
      const st = ingest.stats();
      assert.equal(st.rejected.conflict, 0, 'no (device, seq) arrived with two payloads');
      assert.equal(st.rejected['chain-break'], 0, 'no chain link failed');
      assert.equal(st.storeErrors, 0);
      const totalRows = (db.prepare('SELECT COUNT(*) AS n FROM batches').get() as { n: number }).n;
      assert.equal(st.accepted, totalRows, 'the ingest accepted each stored batch once');
      const recCount = new Map<string, number>();
      for (const r of db.prepare('SELECT device, seq, COUNT(*) AS n FROM records GROUP BY device, seq').all() as { device: string; seq: number; n: number }[])
        recCount.set(r.device + ':' + r.seq, r.n);
      const gapRows = db.prepare('SELECT device, seq, next_seq, explained, filled_at_ms FROM gaps').all() as {
        device: string;
        seq: number;
        next_seq: number;
        explained: number;
        filled_at_ms: number | null;
      }[];
      const out: DeviceAudit[] = [];
      for (const d of devices) {
        const L = ledgers.get(d)!;
        const addr = d.agent.addressHex;
        const label = d.spec.label;
        const rows = rowsOf(addr);
        const bySeq = new Map(rows.map((r) => [r.seq, r]));
        // Sequence numbers: never reused, growing across boots.
        assert.equal(new Set(L.order).size, L.order.length, label + ': a sequence number was pushed twice');
        for (let i = 1; i < L.order.length; i++) assert.ok(L.order[i] > L.order[i - 1], label + ': seq ' + L.order[i] + ' after ' + L.order[i - 1]);
        // Nothing stored that this device did not seal; every batch complete.
        let records = 0;
        for (const r of rows) {
          assert.ok(L.sealed.has(r.seq) || L.cut.has(r.seq), label + ': stored seq ' + r.seq + ' was never sealed by the device');
          assert.equal(recCount.get(addr + ':' + r.seq) ?? 0, r.record_count, label + ': records of seq ' + r.seq);
          records += r.record_count;
          if (L.sealed.has(r.seq)) assert.equal(r.boot, L.sealed.get(r.seq), label + ': boot of seq ' + r.seq);
        }
        // Drop reports the device signed.
        const drops = rows.filter((r) => r.drop_count !== null).map((r) => ({ first: r.drop_first!, last: r.drop_last!, count: r.drop_count! }));
        const inDrop = (s: number) => drops.some((x) => x.first <= s && s <= x.last);
        const queued = d.poweredOff ? 0 : d.agent.outbox.depth();
        const waiting = new Set(d.poweredOff ? [] : d.agent.outbox.peek(queued).map((e) => e.seq));
        // Every sealed batch accounted for.
        const missing: number[] = [];
        let droppedButDelivered = 0;
        for (const s of L.sealed.keys()) {
          if (bySeq.has(s)) {
            if (inDrop(s)) droppedButDelivered++;
            continue;
          }
          if (waiting.has(s) || inDrop(s)) continue;
          missing.push(s);
        }
        if (!a.brokerMayLose) {
          assert.deepEqual(missing, [], label + ': sealed batches neither stored, queued nor reported dropped');
          const unstored = [...L.acked].filter((s) => !bySeq.has(s));
          assert.deepEqual(unstored, [], label + ': batches the broker acknowledged but the database lacks');
        }
        else {
          for (const s of missing) assert.ok(L.acked.has(s), label + ': seq ' + s + ' is missing but the broker never acknowledged it (a device-side loss)');
        }
        // The chain, checked in SQL terms across boots.
        let linksChecked = 0;
        let bootLinks = 0;
        let explainedGaps = 0;
        const firsts = rows.filter((r) => r.pseq === 0);
        assert.ok(firsts.length <= 1, label + ': ' + firsts.length + ' batches claim to be the first');
        if (firsts.length) assert.equal(firsts[0].seq, rows[0].seq, label + ': the first batch is the lowest stored seq');
        for (const r of rows) {
          if (r.pseq === 0) continue;
          const p = bySeq.get(r.pseq);
          if (p) {
            assert.ok(Buffer.compare(p.payload_hash, r.prev_hash) === 0, label + ': seq ' + r.seq + ' does not name the hash of seq ' + r.pseq);
            linksChecked++;
            if (p.boot !== r.boot) bootLinks++;
            continue;
          }
          const g = gapRows.find((x) => x.device === addr && x.seq === r.pseq);
          if (inDrop(r.pseq)) {
            assert.ok(g && g.explained === 1, label + ': gap before seq ' + r.seq + ' is covered by a drop report but not marked explained');
            explainedGaps++;
          } else {
            assert.ok(a.brokerMayLose, label + ': predecessor ' + r.pseq + ' of seq ' + r.seq + ' is missing and no drop report covers it');
            assert.ok(g && g.explained === 0 && missing.includes(r.pseq), label + ': lost predecessor ' + r.pseq + ' not reported as an unexplained gap');
          }
        }
        // Each missing run ends at a predecessor some stored batch names (so its gap was declared),
        // unless nothing stored came after it.
        if (a.brokerMayLose)
          for (const s of missing) {
            const later = rows.find((r) => r.seq > s);
            if (!later) continue;
            const named = rows.some((r) => r.pseq >= s && r.pseq < (later.seq as number) && !bySeq.has(r.pseq));
            assert.ok(named, label + ': loss of seq ' + s + ' is not covered by any gap');
          }
        const dropped = d.poweredOff ? 0 : d.agent.outbox.dropped();
        const sumReported = drops.length ? Math.max(...drops.map((x) => x.count)) : 0;
        if (!d.poweredOff) assert.equal(d.agent.outbox.dropReport(), undefined, label + ': a drop report is still pending after the outbox drained');
        if (dropped) assert.ok(sumReported > 0, label + ': dropped ' + dropped + ' batches but published no drop report');
        const t = tally.entry(addr);
        assert.equal(t.accepted.size, rows.length, label + ': accepted outcomes vs stored rows');
        out.push({
          label,
          address: addr,
          boots: d.boots,
          sealed: L.sealed.size,
          acked: L.acked.size,
          stored: rows.length,
          records,
          queued,
          droppedByDevice: dropped,
          droppedButDelivered,
          lostAtBroker: missing,
          duplicates: t.duplicates,
          linksChecked,
          bootLinks,
          explainedGaps,
        });
      }
      if (!a.brokerMayLose) {
        assert.equal(st.gaps.unexplained, 0, 'unexplained gaps');
        assert.equal(st.pendingLinks, 0, 'links still waiting for a predecessor');
        for (const r of deviceRows(devices, tally)) assert.equal(r.lost, 0, r.device + ': the fleet table counts lost batches');
      }
      for (const d of devices) assert.deepEqual(d.uncaught.map((e) => e.message), [], d.spec.label + ': exceptions out of agent callbacks');
      return out;
    },
    async close() {
      for (const d of devices) if (!d.poweredOff) d.powerCut();
      await ingest.stop().catch(() => undefined);
      store.close();
      if (proxy) await proxy.close();
      if (verifierProxy) await verifierProxy.close();
      remove();
    },
  };
  return rig;
}

/** Record what the agent's outbox stores and what PUBACKs remove (this boot's agent). */
export function instrument(d: SimDevice, L: Ledger): void {
  const ob = d.agent.outbox;
  for (const e of ob.peek(ob.depth())) L.idSeq.set(e.id, e.seq);
  const push = ob.push.bind(ob);
  const ack = ob.ack.bind(ob);
  ob.push = (bytes, meta) => {
    let id: number;
    try {
      id = push(bytes, meta);
    } catch (e) {
      L.cut.add(meta.seq);
      L.order.push(meta.seq);
      throw e;
    }
    L.sealed.set(meta.seq, meta.boot);
    L.order.push(meta.seq);
    L.idSeq.set(id, meta.seq);
    return id;
  };
  ob.ack = (id) => {
    const ok = ack(id);
    if (ok) L.acked.add(L.idSeq.get(id) as number);
    return ok;
  };
}

/** A cut push whose frame reached flash in full is still sent: count it as sealed once it shows up. */
export function settleCuts(rig: Rig): void {
  for (const d of rig.devices) {
    const L = rig.ledgers.get(d)!;
    const rows = rig.store.db.prepare('SELECT seq, boot FROM batches WHERE device = ?').all(d.agent.addressHex) as { seq: number; boot: number }[];
    for (const r of rows) if (L.cut.has(r.seq) && !L.sealed.has(r.seq)) L.sealed.set(r.seq, r.boot);
  }
}

/** The decoded payload of a stored batch. */
export function storedBatch(rig: Rig, addr: string, seq: number) {
  const row = rig.store.db.prepare('SELECT raw FROM batches WHERE device = ? AND seq = ?').get(addr, seq) as { raw: Buffer } | undefined;
  if (!row) return undefined;
  return decodePayload(decodeSign1(new Uint8Array(row.raw)).payload);
}

export function summary(a: DeviceAudit[]): string {
  const sum = (k: keyof DeviceAudit) => a.reduce((n, x) => n + (Array.isArray(x[k]) ? (x[k] as unknown[]).length : (x[k] as number)), 0);
  return (
    `devices ${a.length} boots ${sum('boots')} sealed ${sum('sealed')} acked ${sum('acked')} stored ${sum('stored')} records ${sum('records')} ` +
    `duplicates ${sum('duplicates')} links ${sum('linksChecked')} (across boots ${sum('bootLinks')}) dropped ${sum('droppedByDevice')} ` +
    `(delivered anyway ${sum('droppedButDelivered')}, explained gaps ${sum('explainedGaps')}) lost at broker ${sum('lostAtBroker')}`
  );
}
