// Measures raw ECDSA verify and recover per second for each signature backend on this machine.
// Run: node --import tsx agent-sim/middleware/bench-backends.ts [count]
import { pathToFileURL } from 'node:url';
import { createHash, createHmac } from 'node:crypto';
import * as noble from '@noble/secp256k1';
import { nativeBackend, nobleBackend, type SignatureBackend } from './sigbackend.js';

export interface BackendNumbers {
  backend: string;
  verifyPerSec: number;
  recoverPerSec: number;
}

/** Fixed test keys and messages so runs are comparable; signatures are RFC 6979 and low-S. */
export function benchInputs(count: number) {
  if (!noble.hashes.hmacSha256)
    noble.hashes.hmacSha256 = (k: Uint8Array, m: Uint8Array) => new Uint8Array(createHmac('sha256', k).update(m).digest());
  const items: { sig: Uint8Array; hash: Uint8Array; pub: Uint8Array; recid: number }[] = [];
  for (let i = 0; i < count; i++) {
    const priv = createHash('sha256').update('bench key ' + (i % 8)).digest();
    const hash = new Uint8Array(createHash('sha256').update('bench msg ' + i).digest());
    const rs = noble.sign(hash, priv, { prehash: false, format: 'recovered' });
    items.push({ sig: rs.subarray(1), hash, pub: noble.getPublicKey(priv, false), recid: rs[0] });
  }
  return items;
}

function rate(n: number, fn: () => void, minMs: number): number {
  fn(); // warm up
  let done = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    for (let i = 0; i < n; i++) fn();
    done += n;
    t = performance.now();
  }
  return (done * 1000) / (t - t0);
}

export function measureBackend(b: SignatureBackend, count = 200, minMs = 500): BackendNumbers {
  const items = benchInputs(count);
  let i = 0;
  const verifyPerSec = rate(count, () => {
    const it = items[i++ % count];
    if (!b.verify(it.sig, it.hash, it.pub)) throw new Error('bench: signature did not verify');
  }, minMs);
  const recoverPerSec = rate(count, () => {
    const it = items[i++ % count];
    if (!b.recover(it.sig, it.recid, it.hash)) throw new Error('bench: recovery failed');
  }, minMs);
  return { backend: b.name, verifyPerSec, recoverPerSec };
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const count = Number(process.argv[2] || 200);
  const rows: BackendNumbers[] = [];
  try {
    rows.push(measureBackend(nativeBackend(), count));
  } catch (e) {
    console.log('libsecp256k1 binding unavailable: ' + (e as Error).message);
  }
  rows.push(measureBackend(nobleBackend(), Math.min(count, 50)));
  for (const r of rows)
    console.log(r.backend.padEnd(14) + ' verify ' + r.verifyPerSec.toFixed(0).padStart(7) + '/s   recover ' + r.recoverPerSec.toFixed(0).padStart(7) + '/s');
}
