// Section 1: secp256k1 on Node. The core (BigInt-free, 16-bit limbs, fixed-base comb) against
// @noble/secp256k1 v3 with @noble/hashes (both pure JavaScript: the like-for-like reference of
// the target), and libsecp256k1 through the `secp256k1` binding as the native ceiling.
// Field multiplications and squarings per signature are counted with fieldOpCounts().
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import * as noble from '@noble/secp256k1';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import {
  buildGTable, installGTable, getPublicKey, sign, verify, recoverPublicKey, fieldOpCounts, resetFieldOpCounts,
  installSha256, sha256IsNative, toHex,
} from '../firmware/core/index.js';
import { rates, target, okCell, type Section, type Table, type TargetResult, type Rate } from './table.js';

/** The targets for this section. */
export const CRYPTO_TARGETS = {
  /** Core signatures per second as a fraction of noble's, same run. */
  signVsNoble: 0.5,
  /** Field multiplications + squarings per signature. */
  fieldOpsPerSign: 600,
};

/** Distinct keys and messages cycled through by every timed loop. */
const INPUTS = 16;
/** Signatures whose field operations are counted. */
const COUNTED_SIGNATURES = 100;

interface NativeSecp {
  ecdsaSign(h: Uint8Array, k: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaVerify(sig: Uint8Array, h: Uint8Array, pub: Uint8Array): boolean;
  ecdsaRecover(sig: Uint8Array, recid: number, h: Uint8Array, compressed: boolean): Uint8Array;
}

function loadNative(): NativeSecp | undefined {
  try {
    return createRequire(import.meta.url)('secp256k1/bindings.js') as NativeSecp;
  } catch {
    return undefined;
  }
}

function nodeSha256(d: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(d).digest());
}

export function setupNoble(): void {
  noble.hashes.sha256 = sha256;
  noble.hashes.hmacSha256 = (k: Uint8Array, m: Uint8Array) => hmac(sha256, k, m);
}

export const cryptoSection: Section = {
  name: 'crypto',
  title: '1. secp256k1 on Node',
  async run(opts) {
    setupNoble();
    installGTable(buildGTable());
    const hadNativeSha = sha256IsNative();
    installSha256(); // the portable SHA-256: pure JavaScript on both sides of the ratio
    const items: { priv: Uint8Array; hash: Uint8Array; sig: Uint8Array; recSig: Uint8Array; recovery: number; pub: Uint8Array }[] = [];
    for (let i = 0; i < INPUTS; i++) {
      const priv = sha256(new Uint8Array([i, 0x6b]));
      const hash = sha256(new Uint8Array([i, 0x6d]));
      const s = sign(hash, priv);
      const nob = noble.sign(hash, priv, { prehash: false, format: 'recovered' });
      if (nob[0] !== s.recovery || toHex(nob.subarray(1)) !== toHex(s.compact)) throw new Error('bench: core and noble signatures differ for input ' + i);
      items.push({ priv, hash, sig: s.compact, recSig: nob, recovery: s.recovery, pub: getPublicKey(priv, false) });
    }
    const native = loadNative();
    let i = 0;
    const next = () => items[i++ % INPUTS];
    const check = (ok: boolean, what: string) => {
      if (!ok) throw new Error('bench: ' + what + ' failed');
    };

    // Each operation's implementations run interleaved; noble is the reference of the ratio.
    type Impl = { impl: string; fn: () => void; note?: string };
    const ops: { op: string; unit: string; impls: Impl[] }[] = [
      {
        op: 'sign',
        unit: 'sign/s',
        impls: [
          { impl: 'core (portable SHA-256)', fn: () => { const it = next(); sign(it.hash, it.priv); } },
          { impl: 'core (node:crypto SHA-256 slot)', fn: () => { const it = next(); sign(it.hash, it.priv); }, note: 'sha' },
          { impl: 'noble (@noble/hashes)', fn: () => { const it = next(); noble.sign(it.hash, it.priv, { prehash: false }); } },
        ],
      },
      {
        op: 'verify',
        unit: 'verify/s',
        impls: [
          { impl: 'core', fn: () => { const it = next(); check(verify(it.sig, it.hash, it.pub), 'core verify'); } },
          { impl: 'noble (@noble/hashes)', fn: () => { const it = next(); check(noble.verify(it.sig, it.hash, it.pub, { prehash: false }), 'noble verify'); } },
        ],
      },
      {
        op: 'recover',
        unit: 'recover/s',
        impls: [
          { impl: 'core', fn: () => { const it = next(); recoverPublicKey(it.sig, it.recovery, it.hash, false); } },
          { impl: 'noble (@noble/hashes)', fn: () => { const it = next(); noble.recoverPublicKey(it.recSig, it.hash, { prehash: false }); } },
        ],
      },
    ];
    if (native) {
      ops[0].impls.push({ impl: 'libsecp256k1 (native binding)', fn: () => { const it = next(); native.ecdsaSign(it.hash, it.priv); } });
      ops[1].impls.push({ impl: 'libsecp256k1 (native binding)', fn: () => { const it = next(); check(native.ecdsaVerify(it.sig, it.hash, it.pub), 'native verify'); } });
      ops[2].impls.push({ impl: 'libsecp256k1 (native binding)', fn: () => { const it = next(); native.ecdsaRecover(it.sig, it.recovery, it.hash, false); } });
    }

    const rows: Table['rows'] = [];
    const targets: TargetResult[] = [];
    for (const o of ops) {
      // The SHA-256 slot is global: the slot row installs it around its own rounds only.
      const fns = o.impls.map((im) => (im.note === 'sha' ? { fn: im.fn, before: () => installSha256(nodeSha256), after: () => installSha256() } : im.fn));
      const r: Rate[] = rates(opts, fns);
      const ref = r[o.impls.findIndex((im) => im.impl.startsWith('noble'))].opsPerSec;
      o.impls.forEach((im, k) => {
        const ratio = r[k].opsPerSec / ref;
        const isTarget = o.op === 'sign' && k === 0;
        rows.push({
          op: o.op,
          impl: im.impl,
          rate: r[k].opsPerSec,
          spread: Math.round(r[k].minPerSec) + '-' + Math.round(r[k].maxPerSec),
          usPer: 1e6 / r[k].opsPerSec,
          ratio,
          target: isTarget ? '>= ' + CRYPTO_TARGETS.signVsNoble : '',
          ok: isTarget ? okCell(ratio >= CRYPTO_TARGETS.signVsNoble) : '',
        });
        if (isTarget) targets.push(target('crypto', 'core sign / noble sign', ratio, '>=', CRYPTO_TARGETS.signVsNoble, '>= ' + CRYPTO_TARGETS.signVsNoble + ' x noble'));
      });
    }

    // Field operations per signature (the counters only count; no timing involved).
    resetFieldOpCounts();
    for (let k = 0; k < COUNTED_SIGNATURES; k++) sign(items[k % INPUTS].hash, items[k % INPUTS].priv);
    const cs = fieldOpCounts();
    resetFieldOpCounts();
    for (let k = 0; k < COUNTED_SIGNATURES; k++) verify(items[k % INPUTS].sig, items[k % INPUTS].hash, items[k % INPUTS].pub);
    const cv = fieldOpCounts();
    resetFieldOpCounts();
    const perSign = (cs.mul + cs.sqr) / COUNTED_SIGNATURES;
    targets.push(target('crypto', 'field mul+sqr per signature', perSign, '<=', CRYPTO_TARGETS.fieldOpsPerSign));
    if (hadNativeSha) installSha256(nodeSha256);

    return {
      tables: [
        {
          title: 'secp256k1 sign / verify / recover on Node (ratio: against noble, same run)',
          columns: [
            { key: 'op', header: 'op' },
            { key: 'impl', header: 'implementation' },
            { key: 'rate', header: 'ops/s (median)' },
            { key: 'spread', header: 'rounds min-max ops/s' },
            { key: 'usPer', header: 'us/op', digits: 1 },
            { key: 'ratio', header: 'ratio vs noble', digits: 2 },
            { key: 'target', header: 'target' },
            { key: 'ok', header: 'ok' },
          ],
          rows,
          notes: [
            INPUTS + ' keys/messages cycled; core with the G table installed (16 KB comb), no E.convolve (Node).',
            'Core rows default to the portable SHA-256 (like noble with @noble/hashes); the slot row shows the simulator\'s configuration.',
            native ? 'libsecp256k1: secp256k1 npm package, native addon (secp256k1/bindings.js).' : 'libsecp256k1 binding not available: rows omitted.',
          ],
        },
        {
          title: 'secp256k1 field operations (counted over ' + COUNTED_SIGNATURES + ' operations each)',
          columns: [
            { key: 'op', header: 'op' },
            { key: 'mul', header: 'mul/op', digits: 1 },
            { key: 'sqr', header: 'sqr/op', digits: 1 },
            { key: 'total', header: 'mul+sqr/op', digits: 1 },
            { key: 'target', header: 'target' },
            { key: 'ok', header: 'ok' },
          ],
          rows: [
            { op: 'sign', mul: cs.mul / COUNTED_SIGNATURES, sqr: cs.sqr / COUNTED_SIGNATURES, total: perSign, target: '<= ' + CRYPTO_TARGETS.fieldOpsPerSign, ok: okCell(perSign <= CRYPTO_TARGETS.fieldOpsPerSign) },
            { op: 'verify', mul: cv.mul / COUNTED_SIGNATURES, sqr: cv.sqr / COUNTED_SIGNATURES, total: (cv.mul + cv.sqr) / COUNTED_SIGNATURES, target: '', ok: '' },
          ],
        },
      ],
      targets,
    };
  },
};
