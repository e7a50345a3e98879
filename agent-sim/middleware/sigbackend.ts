// Signature backends for the verifier: libsecp256k1 through the `secp256k1` npm binding (native)
// and @noble/secp256k1 (pure JS). Both see only pre-checked input: a 64-byte r||s whose r and s
// are in [1, n-1] with s <= n/2 (checkSignatureRange), a 32-byte hash, a 65-byte 0x04 key.
// Measured with agent-sim/middleware/bench-backends.ts: the native binding verifies ~20k/s,
// noble ~450/s (one core), so native is the default and noble the fallback when it fails to load.
import { createRequire } from 'node:module';
import * as noble from '@noble/secp256k1';

export type BackendName = 'libsecp256k1' | 'noble';

export interface SignatureBackend {
  readonly name: BackendName;
  /** ECDSA verify of r||s over hash with an uncompressed key. False, never a throw, on mismatch. */
  verify(sig: Uint8Array, hash: Uint8Array, publicKey: Uint8Array): boolean;
  /** Recover the uncompressed public key for recovery id `recid`; undefined when none exists. */
  recover(sig: Uint8Array, recid: number, hash: Uint8Array): Uint8Array | undefined;
}

/** secp256k1 group order n and n/2 (SEC 2 §2.4.1), big-endian, for byte-wise range checks. */
const N = hexBytes('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
const HALF_N = hexBytes('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0');

function hexBytes(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}

/** -1, 0, 1 comparing a[off..off+32) with b as unsigned big-endian integers. */
function cmp32(a: Uint8Array, off: number, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = a[off + i] - b[i];
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

function isZero32(a: Uint8Array, off: number): boolean {
  for (let i = 0; i < 32; i++) if (a[off + i] !== 0) return false;
  return true;
}

/**
 * docs/wire-format.md step 2: r and s in [1, n-1] and s <= n/2. Returns a reason or undefined.
 * Done here once so both backends (and recovery, which libsecp256k1 does not restrict to low-S)
 * apply exactly the same rule.
 */
export function checkSignatureRange(sig: Uint8Array): string | undefined {
  if (sig.length !== 64) return 'signature expected 64 bytes, got ' + sig.length;
  if (isZero32(sig, 0)) return 'r is zero';
  if (cmp32(sig, 0, N) >= 0) return 'r >= n';
  if (isZero32(sig, 32)) return 's is zero';
  if (cmp32(sig, 32, HALF_N) > 0) return 'high-S (s > n/2)';
  return undefined;
}

export function nobleBackend(): SignatureBackend {
  const rsig = new Uint8Array(65);
  return {
    name: 'noble',
    verify(sig, hash, pub) {
      try {
        return noble.verify(sig, hash, pub, { prehash: false, lowS: true });
      } catch {
        return false;
      }
    },
    recover(sig, recid, hash) {
      rsig[0] = recid;
      rsig.set(sig, 1);
      try {
        return noble.recoverPublicKey(rsig, hash, { prehash: false, isCompressed: false });
      } catch {
        return undefined;
      }
    },
  };
}

interface NativeSecp {
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pub: Uint8Array): boolean;
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
}

/**
 * The native binding only. `require('secp256k1')` silently falls back to its pure-JS `elliptic`
 * build when the addon is missing (slower than noble), so load `secp256k1/bindings.js` directly
 * to know which one we got. Throws when the addon is not available.
 */
export function nativeBackend(): SignatureBackend {
  const req = createRequire(import.meta.url);
  const lib = req('secp256k1/bindings.js') as NativeSecp;
  return {
    name: 'libsecp256k1',
    verify(sig, hash, pub) {
      try {
        return lib.ecdsaVerify(sig, hash, pub);
      } catch {
        // Unparseable signature or key: the binding throws; for us that is a failed check.
        return false;
      }
    },
    recover(sig, recid, hash) {
      try {
        return lib.ecdsaRecover(sig, recid, hash, false);
      } catch {
        return undefined;
      }
    },
  };
}

export type BackendChoice = 'auto' | BackendName;

/**
 * 'auto' (default): libsecp256k1, or noble with a warning when the binding fails to load.
 * An explicit name is honoured or throws. `loadNative` is replaceable for tests.
 */
export function selectBackend(
  choice?: BackendChoice,
  warn?: (msg: string) => void,
  loadNative: () => SignatureBackend = nativeBackend,
): SignatureBackend {
  const c = choice || 'auto';
  if (c === 'noble') return nobleBackend();
  try {
    return loadNative();
  } catch (e) {
    if (c === 'libsecp256k1') throw e;
    if (warn) warn('libsecp256k1 binding did not load (' + (e as Error).message + '); falling back to @noble/secp256k1');
    return nobleBackend();
  }
}
