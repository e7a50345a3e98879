// Devices lose power mid-run: while batches are in flight (SimDevice.powerCut(), then boot), and
// inside a flash write (FlashStorage.cutPowerAfter: the write is torn as the device's flash
// would leave it). After each boot the outbox sends what was not acknowledged, the chain goes on
// from the last batch sealed before the cut (links verified across boots), and no sequence
// number is used twice. Real aedes, real sockets, SQLite; checked by rig.audit().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAedes } from '../harness/brokers.js';
import { startRig, settleCuts, summary } from './rig.js';
import { sleep, until } from './helpers.js';
import { isPowerCut } from '../../agent-sim/platform/flash-storage.js';
import type { SimDevice } from '../../agent-sim/fleet.js';

test('power cut while batches are in flight, three times per device: outbox resends, chain continues across boots, no seq reused', async (t) => {
  const broker = await startAedes();
  const rig = await startRig({ tag: 'power', broker, proxy: true, devices: 2 });
  t.after(async () => {
    await rig.close();
    await broker.close();
  });
  rig.proxy!.setLatency(120); // PUBACKs still on the way at the cut
  rig.start();
  let inflightAtCuts = 0;
  for (let k = 0; k < 3; k++) {
    for (const d of rig.devices) {
      const acked = d.agent.stats().acked;
      await until(d.spec.label + ' publishing with batches in flight', () => d.agent.stats().acked > acked && d.agent.stats().mqtt.inflight > 0, 8000);
      inflightAtCuts += d.agent.stats().mqtt.inflight;
      d.powerCut();
    }
    await sleep(150);
    for (const d of rig.devices) rig.bootDevice(d);
  }
  await until('publishing after the last boot', () => rig.devices.every((d) => d.agent.stats().acked >= 2), 8000);
  await rig.finish();
  const a = rig.audit();
  for (const x of a) {
    assert.equal(x.boots, 4);
    assert.ok(x.bootLinks >= 3, x.label + ': ' + x.bootLinks + ' links across boots verified');
  }
  // The boot counter in the batches follows the reboots.
  for (const d of rig.devices) {
    const boots = rig.store.db.prepare('SELECT DISTINCT boot FROM batches WHERE device = ? ORDER BY boot').all(d.agent.addressHex) as { boot: number }[];
    assert.deepEqual(boots.map((b) => b.boot), [1, 2, 3, 4]);
  }
  t.diagnostic(inflightAtCuts + ' batches in flight at 6 cuts: ' + summary(a));
});

/** mulberry32, for reproducible cut positions. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

test('power cut inside a flash write, 12 times (outbox, chain head, counters, any): boots again, nothing acknowledged lost, chain intact', async (t) => {
  const broker = await startAedes();
  const rig = await startRig({ tag: 'torn', broker, proxy: true, devices: 2, agent: { outbox: { maxEntries: 64 }, counters: { seqBlock: 4 } } });
  t.after(async () => {
    await rig.close();
    await broker.close();
  });
  rig.proxy!.setLatency(40);
  const torn: string[] = [];
  /** Per device: tear the next write to a file with this prefix. */
  const armFor = new Map<SimDevice, string>();
  for (const d of rig.devices) {
    // Which write each cut tore (the FlashStorage error names the step and the file).
    const write = d.storage.write.bind(d.storage);
    const erase = d.storage.erase.bind(d.storage);
    const note = (e: unknown) => {
      if (isPowerCut(e) && /power cut during/.test((e as Error).message)) torn.push((e as Error).message.replace(/^flash: power cut during /, ''));
    };
    d.storage.write = (...args: Parameters<typeof write>) => {
      const want = armFor.get(d);
      if (want && args[0].startsWith(want)) {
        armFor.delete(d);
        d.storage.cutPowerAfter(1);
      }
      try {
        write(...args);
      } catch (e) {
        note(e);
        throw e;
      }
    };
    d.storage.erase = (name: string) => {
      try {
        erase(name);
      } catch (e) {
        note(e);
        throw e;
      }
    };
  }
  rig.start();
  const rnd = prng(42);
  // Outbox files (entry frames, ack bytes, segments), chain heads, counter reservations (every
  // 4th seq), and a write step 1..6 from now, whichever it is.
  const targets = ['obs', 'chn', 'ctr', ''];
  for (let k = 0; k < 12; k++) {
    const d = rig.devices[k % rig.devices.length];
    await until(d.spec.label + ' publishing', () => d.agent.stats().acked >= 1, 8000);
    const target = targets[k % targets.length];
    if (target) armFor.set(d, target);
    else d.storage.cutPowerAfter(1 + Math.floor(rnd() * 6));
    await until(d.spec.label + ' lost power in a write to ' + (target || 'any file'), () => d.poweredOff, 8000);
    await sleep(Math.floor(rnd() * 100));
    rig.bootDevice(d);
  }
  await until('publishing after the last boot', () => rig.devices.every((d) => d.agent.stats().acked >= 2), 8000);
  await rig.finish();
  settleCuts(rig);
  const a = rig.audit();
  assert.equal(torn.length, 12, 'every armed cut tore a write: ' + torn.join('; '));
  for (const x of a) assert.ok(x.bootLinks >= 1, x.label + ' links across boots');
  const cutSeqs = rig.devices.reduce((n, d) => n + rig.ledgers.get(d)!.cut.size, 0);
  t.diagnostic('12 torn writes (' + torn.map((s) => s.replace(/ \(.*/, '')).join(', ') + '), ' + cutSeqs + ' pushes cut: ' + summary(a));
});
