// HMAC-SHA-256 (RFC 2104, with SHA-256 as in RFC 4231) on whatever sha256() is installed.
//
// API: createHmacSha256(key) returns a keyed object whose mac(parts) authenticates the
// concatenation of `parts`. The padded key blocks are built once per key, and the message parts
// are written straight behind them, so each mac() is exactly two one-shot sha256() calls and
// one copy of the message. That is the shape a native one-shot SHA-256 needs (Espruino's
// crypto.SHA256 cannot resume from a midstate), and it is what RFC 6979 wants: HMAC_K(V || 0x00
// || x || h1) without the caller concatenating. hmacSha256(key, msg) is the one-shot form.

import { abytes, err, describe } from '../util/errors.js';
import { sha256, SHA256_OUTPUT_LEN } from './sha256.js';

// ---------------------------------------------------------------------------------------------
// Constants (RFC 2104 §2)

/** B: the SHA-256 block size in bytes; keys longer than this are hashed first. */
const BLOCK = 64;
const IPAD = 0x36;
const OPAD = 0x5c;

// ---------------------------------------------------------------------------------------------
// Keyed HMAC

export interface HmacSha256 {
  /** HMAC of the concatenation of `parts` (32 bytes). */
  mac(parts: Uint8Array[]): Uint8Array;
  /** Overwrite the key blocks with zeros; mac() throws E_HMAC_CLEANED afterwards. */
  clean(): void;
}

class Hmac implements HmacSha256 {
  private ipad: Uint8Array;
  // Outer message: K ^ opad followed by the inner digest, reused across calls.
  private outer: Uint8Array;
  private cleaned: boolean;

  constructor(key: Uint8Array) {
    const k = key.length > BLOCK ? sha256(key) : key;
    this.ipad = new Uint8Array(BLOCK);
    this.outer = new Uint8Array(BLOCK + SHA256_OUTPUT_LEN);
    for (let i = 0; i < BLOCK; i++) {
      const b = i < k.length ? k[i] : 0;
      this.ipad[i] = b ^ IPAD;
      this.outer[i] = b ^ OPAD;
    }
    this.cleaned = false;
  }

  mac(parts: Uint8Array[]): Uint8Array {
    if (this.cleaned) throw err('E_HMAC_CLEANED', 'HMAC key was cleaned; create a new one');
    if (!Array.isArray(parts)) throw err('E_TYPE', '"parts" expected an array of Uint8Array, got ' + describe(parts), TypeError);
    let n = BLOCK;
    for (let i = 0; i < parts.length; i++) n += abytes('parts[' + i + ']', parts[i]).length;
    const inner = new Uint8Array(n);
    inner.set(this.ipad, 0);
    let o = BLOCK;
    for (let i = 0; i < parts.length; i++) {
      inner.set(parts[i], o);
      o += parts[i].length;
    }
    this.outer.set(sha256(inner), BLOCK);
    inner.fill(0);
    return sha256(this.outer);
  }

  clean(): void {
    this.ipad.fill(0);
    this.outer.fill(0);
    this.cleaned = true;
  }
}

/** A keyed HMAC-SHA-256: build once per key, call mac() as often as needed. */
export function createHmacSha256(key: Uint8Array): HmacSha256 {
  abytes('key', key);
  return new Hmac(key);
}

/** HMAC-SHA-256(key, msg), 32 bytes. */
export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  abytes('key', key);
  abytes('msg', msg);
  return new Hmac(key).mac([msg]);
}
