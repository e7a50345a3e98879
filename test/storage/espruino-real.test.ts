// Same workload, two platforms: Outbox + Counters of the shipped bundle (dist/core.js) run in
// the real Espruino interpreter (Linux build, its Storage in espruino.flash), and the
// TypeScript modules on the simulated flash. Outputs, getFree() and every file's bytes must agree after each of three
// interpreter runs on the same flash (three boots). This pins both that core runs unchanged
// on Espruino and that FlashStorage follows Espruino's Storage where our code relies on it.
// Skips (saying why) when ESPRUINO does not name the interpreter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEspruino, skipReason } from '../harness/espruino-real.js';
import { shippedBundle } from '../bundle/hosts.js';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { Outbox } from '../../firmware/core/session/outbox.js';
import { Counters } from '../../firmware/core/session/counters.js';
import type { Storage } from '../../firmware/core/host.js';

/** dist/core.js (built when stale; CORE_BUNDLE names another); its global is DepinCore. */
async function bundle(): Promise<string> {
  return readFileSync((await shippedBundle()).path, 'utf8');
}

// The workload, as ES5 source run by both platforms: `core`, `storage`, `out(line)` are given.
const WORKLOAD = `
var OB = { prefix: 'ob', metaFile: 'om', segmentBytes: 512, segmentSlots: 6, maxEntries: 10,
  maxBatchBytes: 100, metaFileBytes: 128, maxBytes: 2 * (32 + 128) + 4 * (32 + 512) };
var c = new core.Counters(storage, { seqBlock: 8, fileBytes: 128, totalsDelta: 4, totalsMinIntervalMs: 0 }, 0);
var ob = new core.Outbox(storage, OB);
var before = ob.peek(100);
var sum = 0;
for (var j = 0; j < before.length; j++) for (var k = 0; k < before[j].bytes.length; k++) sum = (sum * 31 + before[j].bytes[k]) % 1000003;
out('boot ' + c.boot() + ' total ' + c.total(0) + ' waiting ' + ob.depth() + ' sum ' + sum + ' dropped ' + ob.dropped());
for (var i = 0; i < 25; i++) {
  var n = 10 + ((i * 7 + c.boot() * 13) % 80);
  var b = new Uint8Array(n);
  for (var k = 0; k < n; k++) b[k] = (i * 31 + k * 7 + c.boot()) & 255;
  var seq = c.nextSeq();
  var id = ob.push(b, { boot: c.boot(), seq: seq, t: 1000 * i });
  c.add(0, 1.5, i * 1000);
  if (i % 3 === 1) ob.ack(ob.peek(2)[1].id);
  if (i % 3 === 2) ob.ack(ob.peek(1)[0].id);
  if (i % 8 === 7) out('i ' + i + ' id ' + id + ' seq ' + seq + ' depth ' + ob.depth() + ' free ' + storage.getFree());
}
try { ob.push(new Uint8Array(101), { boot: 1, seq: 1, t: 0 }); } catch (e) { out('err ' + e.code + ' ' + e.message); }
try { ob.ack('x'); } catch (e) { out('err ' + e.code + ' ' + e.message); }
try { c.add(0, -1, 0); } catch (e) { out('err ' + e.code + ' ' + e.message); }
var r = ob.dropReport();
if (r) out('report ' + r.count + ' ' + r.firstSeq + '..' + r.lastSeq);
if (c.boot() === 2 && r) ob.confirmDropReport(r);
var st = ob.stats();
out('end depth ' + st.depth + ' bytes ' + st.bytes + ' segments ' + st.segments + ' dropped ' + st.dropped +
  ' compactions ' + st.compactions + ' persisted ' + c.persisted(0) + ' free ' + storage.getFree());
var names = storage.list('');
names.sort();
for (var f = 0; f < names.length; f++) {
  var d = storage.read(names[f]);
  var h = '';
  for (var k = 0; k < d.length; k++) h += (d[k] < 16 ? '0' : '') + d[k].toString(16);
  out('file ' + names[f] + ' ' + h);
}
`;

// Storage on Espruino: Uint8Array views of readArrayBuffer, prefix-anchored list (the device's
// list() takes a RegExp and does not anchor it), and false from write() turned into an error.
const ADAPTER = `
var S = require('Storage');
var storage = {
  read: function (name, off, len) {
    var ab = S.readArrayBuffer(name);
    if (ab === undefined) return undefined;
    return off === undefined ? new Uint8Array(ab) : new Uint8Array(ab, off, len);
  },
  write: function (name, data, off, size) {
    if (!S.write(name, data, off, size)) throw new Error('Storage.write("' + name + '") failed');
  },
  erase: function (name) { S.erase(name); },
  list: function (p) { return S.list().filter(function (n) { return p === undefined || n.indexOf(p) === 0; }); },
  getFree: function () { return S.getFree(); }
};
function out(s) { print('OUT ' + s); }
`;

const skip = skipReason();

test('Outbox and Counters on real Espruino Storage match the simulator byte for byte over 3 boots', { skip, timeout: 120_000 }, async (t) => {
  const code = await bundle();
  const dir = mkdtempSync(join(tmpdir(), 'espruino-storage-'));
  try {
    // Simulator side: the Linux build's Storage area is 256 KB.
    const fs = new FlashStorage({ capacity: 256 * 1024 });
    const core = { Outbox, Counters };
    const run = new Function('core', 'storage', 'out', WORKLOAD) as (c: unknown, s: Storage, o: (l: string) => void) => void;
    for (let boot = 1; boot <= 3; boot++) {
      const sim: string[] = [];
      run(core, fs, (l) => sim.push(l));
      // The device runs with Espruino's native E.CRC32 in the slot, as a platform would install
      // it; byte-identical flash then also shows that it computes the same CRC.
      const script =
        code + '\n' + ADAPTER + '\nvar core = DepinCore;\nDepinCore.installCrc32(function (b) { return E.CRC32(b); });\nvar T0 = getTime();\n' +
        'try {' + WORKLOAD + '} catch (e) { print("ERR " + e.message + " " + e.code); }\nprint("TIME " + ((getTime() - T0) * 1000).toFixed(0));\n';
      const r = await runEspruino(script, { cwd: dir, timeoutMs: 60_000 });
      const dev = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('OUT ') || l.startsWith('ERR') || l.includes('Uncaught'))
        .map((l) => l.replace(/^OUT /, ''));
      assert.deepEqual(dev, sim, 'boot ' + boot + ': device output differs from the simulator\n' + r.stdout.slice(0, 2000));
      const ms = (r.stdout.match(/TIME (\d+)/) || [])[1];
      t.diagnostic('boot ' + boot + ' on Espruino: workload ' + ms + ' ms; ' + sim.filter((l) => !l.startsWith('file')).join(' | '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
