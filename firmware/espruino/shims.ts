// Repairs to Espruino 2v29 builtins that core relies on, installed before anything else runs.
// Only what is measured to differ, and only when it does (a later firmware that fixes it keeps
// its native method):
// - Uint8Array.prototype.slice returns a plain Array there (probe: `new Uint8Array([1,2]).slice()
//   instanceof Uint8Array` is false; Array.isArray of it is true). Core copies bytes with
//   slice() (outbox entries, the chain head, the key), and an Array then fails every
//   `instanceof Uint8Array` check downstream ("payload" expected Uint8Array, got array). The
//   replacement copies through subarray(), which Espruino implements as a typed view, with the
//   same (start, end) semantics including negative and absent arguments.
// Espruino looks up properties defined on a builtin prototype before its native methods, so the
// definition takes effect for every Uint8Array.

export interface ShimReport {
  uint8Slice: boolean;
}

export function installShims(): ShimReport {
  const r: ShimReport = { uint8Slice: false };
  const probe = new Uint8Array(2).slice(0, 1) as unknown;
  if (!(probe instanceof Uint8Array)) {
    // defineProperty: not enumerable (for-in over a Uint8Array stays its indexes).
    Object.defineProperty(Uint8Array.prototype, 'slice', {
      value: function (this: Uint8Array, a?: number, b?: number): Uint8Array {
        return new Uint8Array(this.subarray(a === undefined ? 0 : a, b === undefined ? this.length : b));
      },
      writable: true,
      configurable: true,
    });
    r.uint8Slice = true;
  }
  return r;
}
