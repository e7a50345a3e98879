// One way to fail, at the public boundary. Espruino loses `message` on Error subclasses, so
// errors are plain Error objects carrying a machine-readable `code`; messages say which field,
// what was expected and what came: `"key" expected 32 bytes, got 31`.

/**
 * Espruino 2v29 has no RangeError global (naming it throws ReferenceError there): core passes
 * this instead, which is RangeError on Node and Error on the device.
 */
export const RANGE_ERROR: ErrorConstructor = typeof RangeError !== 'undefined' ? RangeError : Error;

export interface CodedError extends Error {
  code: string;
}

/** Build an Error with a code. `ctor` picks TypeError / RangeError as @noble does. */
export function err(code: string, message: string, ctor?: ErrorConstructor): CodedError {
  const C = ctor || Error;
  const e = new C(message) as CodedError;
  e.code = code;
  return e;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return 'Uint8Array(' + v.length + ')';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Throws TypeError unless `v` is a Uint8Array; RangeError unless its length is `len` (when given). */
export function abytes(name: string, v: unknown, len?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw err('E_TYPE', '"' + name + '" expected Uint8Array, got ' + describe(v), TypeError);
  if (len !== undefined && v.length !== len)
    throw err('E_LENGTH', '"' + name + '" expected ' + len + ' bytes, got ' + v.length, RANGE_ERROR);
  return v;
}

/** Throws unless `v` is an integer in [min, max]. */
export function aint(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || v !== v || Math.floor(v) !== v)
    throw err('E_TYPE', '"' + name + '" expected an integer, got ' + (typeof v === 'number' ? String(v) : describe(v)), TypeError);
  if (v < min || v > max) throw err('E_RANGE', '"' + name + '" expected ' + min + '..' + max + ', got ' + v, RANGE_ERROR);
  return v;
}
