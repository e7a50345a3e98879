// Byte helpers that Espruino lacks natively (no TextEncoder, no Array.from, no Buffer).

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i].length;
  const out = new Uint8Array(n);
  let o = 0;
  for (let i = 0; i < parts.length; i++) {
    out.set(parts[i], o);
    o += parts[i].length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

const HEX = '0123456789abcdef';

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i] >> 4] + HEX[b[i] & 15];
  return s;
}

export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2) throw new TypeError('hex string of even length expected');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    // Espruino's regex engine has no {n} quantifier: spell the two digits out.
    const pair = hex.substr(i * 2, 2);
    const v = parseInt(pair, 16);
    if (v !== v || !/^[0-9a-fA-F][0-9a-fA-F]$/.test(pair)) throw new TypeError('invalid hex at ' + i * 2);
    out[i] = v;
  }
  return out;
}

/** UTF-8 encode (Espruino has no TextEncoder). Lone surrogates become U+FFFD. */
export function utf8Encode(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else c = 0xfffd;
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  const u = new Uint8Array(out.length);
  for (let i = 0; i < out.length; i++) u[i] = out[i];
  return u;
}

/**
 * Strict UTF-8 decode: returns undefined for invalid sequences so callers can report them.
 * On ESP32 builds (no Unicode support) String.fromCharCode keeps only the low byte, so text
 * beyond U+00FF cannot be represented there; such input also returns undefined on a platform
 * that truncates, instead of corrupt text.
 */
export function utf8Decode(b: Uint8Array): string | undefined {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i++];
    let cp: number;
    let need: number;
    let min: number;
    if (c < 0x80) {
      s += String.fromCharCode(c);
      continue;
    } else if ((c & 0xe0) === 0xc0) (cp = c & 31), (need = 1), (min = 0x80);
    else if ((c & 0xf0) === 0xe0) (cp = c & 15), (need = 2), (min = 0x800);
    else if ((c & 0xf8) === 0xf0) (cp = c & 7), (need = 3), (min = 0x10000);
    else return undefined;
    if (i + need > b.length) return undefined;
    for (let k = 0; k < need; k++) {
      const d = b[i++];
      if ((d & 0xc0) !== 0x80) return undefined;
      cp = (cp << 6) | (d & 63);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
    const wide = cp > 0xff;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      s += String.fromCharCode(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023));
    } else s += String.fromCharCode(cp);
    if (wide && s.charCodeAt(s.length - 1) <= 0xff) return undefined;
  }
  return s;
}

/** Espruino sockets and serial deliver binary strings (one char per byte). */
export function bytesFromBinaryString(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 255;
  return out;
}

/**
 * A copy of bytes [start, end). Never `u8.slice()` in core: on Espruino 2v29 a typed array's
 * slice() (and filter()) returns a plain Array.
 */
export function copyBytes(b: Uint8Array, start?: number, end?: number): Uint8Array {
  return new Uint8Array(b.subarray(start === undefined ? 0 : start, end === undefined ? b.length : end));
}
