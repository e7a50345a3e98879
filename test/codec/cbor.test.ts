// Deterministic CBOR: RFC 8949 Appendix A both ways, Appendix F and our own rejection classes,
// limits at their edge, every binary16 value, seeded random values against cbor-x both ways,
// truncation at every byte and random mutations (only coded errors may escape).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Encoder, Decoder, Tag } from 'cbor-x';
import {
  encode,
  decode,
  decodeFirst,
  CborMap,
  CborTag,
  type CborValue,
  type DecodeOptions,
} from '../../firmware/core/codec/cbor.js';
import { toHex, fromHex } from '../../firmware/core/util/bytes.js';

const VEC = new URL('../vectors/cbor/', import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, VEC), 'utf8'));

const X_OPTS = { tagUint8Array: false, mapsAsObjects: false, useRecords: false };
const xEnc = new Encoder(X_OPTS);
const xDec = new Decoder(X_OPTS);

// ---------------------------------------------------------------------------------------------
// Helpers

/** The JSON vector notation -> values (see rfc8949-appendix-a.json "description"). */
function fromJ(j: unknown): CborValue {
  if (j === null || typeof j !== 'object') return j as CborValue;
  if (Array.isArray(j)) return j.map(fromJ);
  const o = j as Record<string, unknown>;
  if ('bytes' in o) return fromHex(o.bytes as string);
  if ('float' in o) return ({ NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 } as Record<string, number>)[o.float as string];
  if ('undefined' in o) return undefined;
  if ('map' in o) return new CborMap((o.map as [unknown, unknown][]).map(([k, v]) => [fromJ(k), fromJ(v)]));
  if ('tag' in o) return new CborTag(o.tag as number, fromJ(o.value));
  throw new Error('bad vector value ' + JSON.stringify(j));
}

function asMap(v: CborValue): CborValue {
  if (v && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v) && !(v instanceof CborMap) && !(v instanceof CborTag))
    return new CborMap(Object.keys(v).map((k) => [k, (v as Record<string, CborValue>)[k]]));
  return v;
}

/** Deep equality in the value model: NaN equals NaN, −0 differs from 0, maps compare as sets of entries. */
function same(a: CborValue, b: CborValue): boolean {
  a = asMap(a);
  b = asMap(b);
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return toHex(a) === toHex(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a instanceof CborTag && b instanceof CborTag) return a.tag === b.tag && same(a.value, b.value);
  if (a instanceof CborMap && b instanceof CborMap) {
    if (a.entries.length !== b.entries.length) return false;
    return a.entries.every(([k, v]) => b.entries.some(([k2, v2]) => same(k, k2) && same(v, v2)));
  }
  return a === b;
}

function assertSame(a: CborValue, b: CborValue, msg: string) {
  if (!same(a, b)) assert.fail(msg + ': ' + show(a) + ' !== ' + show(b));
}

function show(v: CborValue): string {
  return JSON.stringify(v, (_k, x) =>
    typeof x === 'number' && (!Number.isFinite(x) || Object.is(x, -0)) ? String(Object.is(x, -0) ? '-0' : x)
    : x instanceof Uint8Array ? 'h' + toHex(x)
    : x === undefined ? 'undefined' : x);
}

type Coded = Error & { code?: string; offset?: number };
const hasCode = (code: string) => (e: unknown) => {
  assert.equal((e as Coded).code, code, (e as Error).message);
  return true;
};
const dec = (hex: string, opts?: DecodeOptions) => decode(fromHex(hex), opts);

/** xorshift32, seeded. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
  return { next, below: (n: number) => next() % n, bytes: (n: number) => Uint8Array.from({ length: n }, () => next() & 255) };
}

// ---------------------------------------------------------------------------------------------
// RFC 8949 Appendix A

test('Appendix A: decode, encode, and the deterministic verdict for every example', () => {
  const { valid, unsupported } = load('rfc8949-appendix-a.json');
  assert.ok(valid.length >= 75, 'vectors loaded');
  for (const v of valid) {
    const want = fromJ(v.value);
    const opts = { allowIndefinite: !!v.indefinite };
    assertSame(dec(v.hex, opts), want, 'decode ' + v.diagnostic);
    assert.equal(toHex(encode(want)), v.canonical ?? v.hex, 'encode ' + v.diagnostic);
    if (v.canonical === undefined) {
      assertSame(dec(v.hex, { requireDeterministic: true }), want, 'deterministic ' + v.diagnostic);
    } else {
      assert.throws(() => dec(v.hex, { requireDeterministic: true, allowIndefinite: true }), hasCode('E_CBOR_NOT_DETERMINISTIC'), v.diagnostic);
      assertSame(dec(v.canonical, { requireDeterministic: true }), want, 'canonical ' + v.diagnostic);
    }
  }
  assert.equal(unsupported.length, 4);
  for (const u of unsupported) assert.throws(() => dec(u.hex), hasCode(u.error), u.diagnostic);
});

// ---------------------------------------------------------------------------------------------
// Rejections

test('invalid inputs: Appendix F classes, UTF-8, ranges, duplicates, determinism, trailing bytes', () => {
  const { invalid, deterministicValid } = load('invalid.json');
  assert.ok(invalid.length >= 160);
  for (const v of invalid) {
    const bytes = fromHex(v.hex);
    assert.throws(
      () => decode(bytes, v.options),
      (e: unknown) => {
        const c = e as Coded;
        assert.equal(c.code, v.error, v.group + ' ' + v.hex + ': ' + c.message);
        assert.ok(typeof c.offset === 'number' && c.offset >= 0 && c.offset <= bytes.length, 'offset ' + c.offset);
        assert.match(c.message, /^CBOR: .+ at byte \d+$/);
        return true;
      },
      v.group + ' ' + v.hex,
    );
  }
  for (const v of deterministicValid) {
    const x = dec(v.hex, { requireDeterministic: true });
    assert.equal(toHex(encode(x)), v.hex, v.diagnostic);
  }
});

test('error offsets point at the offending item', () => {
  const at = (hex: string, opts?: DecodeOptions) => {
    try {
      dec(hex, opts);
    } catch (e) {
      return (e as Coded).offset;
    }
    return -1;
  };
  assert.equal(at('83 01 02 1c'.replace(/ /g, '')), 3);
  assert.equal(at('82 01 61 ff'.replace(/ /g, '')), 2);
  assert.equal(at('a2 02 00 01 00'.replace(/ /g, ''), { requireDeterministic: true }), 3);
  assert.equal(at('81 18 05'.replace(/ /g, ''), { requireDeterministic: true }), 1);
  assert.equal(at('01 02'.replace(/ /g, '')), 1);
  assert.equal(at('82 01 1a 00 00'.replace(/ /g, '')), 2);
});

// ---------------------------------------------------------------------------------------------
// Limits, each at its edge

function nest(n: number, leaf: CborValue, wrap: (v: CborValue) => CborValue): CborValue {
  let v = leaf;
  for (let i = 0; i < n; i++) v = wrap(v);
  return v;
}

test('maxDepth: 16 by default for decode and encode; arrays, maps and tags all count', () => {
  const kinds: [string, (v: CborValue) => CborValue][] = [
    ['array', (v) => [v]],
    ['map', (v) => new CborMap([[0, v]])],
    ['tag', (v) => new CborTag(7, v)],
  ];
  for (const [name, wrap] of kinds) {
    const ok = encode(nest(16, 1, wrap));
    assert.doesNotThrow(() => decode(ok), name);
    assert.throws(() => encode(nest(17, 1, wrap)), hasCode('E_CBOR_DEPTH'), name);
    const deep = fromHex('81' + toHex(ok)); // one more level, written by hand
    if (name === 'array') assert.throws(() => decode(deep), hasCode('E_CBOR_DEPTH'), name);
    assert.doesNotThrow(() => decode(deep, { maxDepth: 17 }));
    assert.throws(() => decode(ok, { maxDepth: 15 }), hasCode('E_CBOR_DEPTH'), name);
    assert.doesNotThrow(() => encode(nest(3, 1, wrap), { maxDepth: 3 }));
    assert.throws(() => encode(nest(4, 1, wrap), { maxDepth: 3 }), hasCode('E_CBOR_DEPTH'), name);
  }
  assert.equal(decode(fromHex('05'), { maxDepth: 0 }), 5);
  assert.throws(() => decode(fromHex('80'), { maxDepth: 0 }), hasCode('E_CBOR_DEPTH'));
  // Indefinite containers count too.
  assert.throws(() => decode(fromHex('9f'.repeat(17) + 'ff'.repeat(17)), { allowIndefinite: true }), hasCode('E_CBOR_DEPTH'));
  assert.doesNotThrow(() => decode(fromHex('9f'.repeat(16) + 'ff'.repeat(16)), { allowIndefinite: true }));
  // A long chain of tags cannot blow the stack.
  assert.throws(() => decode(fromHex('c6'.repeat(100000) + '00')), hasCode('E_CBOR_DEPTH'));
});

test('encode: cycles are stopped by maxDepth', () => {
  const a: CborValue[] = [];
  a.push(a);
  assert.throws(() => encode(a), hasCode('E_CBOR_DEPTH'));
  const o: Record<string, CborValue> = {};
  o.self = o;
  assert.throws(() => encode(o), (e: unknown) => hasCode('E_CBOR_DEPTH')(e) && /\$\["self"\]\["self"\]/.test((e as Error).message));
});

test('maxLength: byte and text strings, arrays, maps, indefinite totals', () => {
  const L = 65536;
  assert.equal((decode(encode(new Uint8Array(L))) as Uint8Array).length, L);
  assert.throws(() => decode(encode(new Uint8Array(L + 1))), hasCode('E_CBOR_LENGTH'));
  assert.equal((decode(encode('x'.repeat(L))) as string).length, L);
  assert.throws(() => decode(encode('x'.repeat(L + 1))), hasCode('E_CBOR_LENGTH'));
  assert.equal((decode(encode(new Array(L).fill(0))) as CborValue[]).length, L);
  assert.throws(() => decode(encode(new Array(L + 1).fill(0))), hasCode('E_CBOR_LENGTH'));
  const m = (n: number) => new CborMap(Array.from({ length: n }, (_, i) => [i, 0] as [CborValue, CborValue]));
  assert.equal((decode(encode(m(10)), { maxLength: 10 }) as CborMap).entries.length, 10);
  assert.throws(() => decode(encode(m(11)), { maxLength: 10 }), hasCode('E_CBOR_LENGTH'));
  const o = { allowIndefinite: true, maxLength: 4 };
  assert.equal(toHex(dec('5f420102420304ff', o) as Uint8Array), '01020304');
  assert.throws(() => dec('5f42010243030405ff', o), hasCode('E_CBOR_LENGTH'));
  assert.equal(dec('7f626162626364ff', o), 'abcd');
  assert.throws(() => dec('7f626162626364616aff', o), hasCode('E_CBOR_LENGTH'));
  assert.equal((dec('9f01020304ff', o) as CborValue[]).length, 4);
  assert.throws(() => dec('9f0102030405ff', o), hasCode('E_CBOR_LENGTH'));
  assert.equal((dec('bf0000010002000300ff', o) as CborMap).entries.length, 4);
  assert.throws(() => dec('bf00000100020003000400ff', o), hasCode('E_CBOR_LENGTH'));
  // A declared length far beyond the input fails without allocating it.
  assert.throws(() => dec('9b001fffffffffffff', { maxLength: 9007199254740991 }), hasCode('E_CBOR_TRUNCATED'));
});

test('maxInputLength: whole input bound, default 1 MiB', () => {
  const big = encode(new Uint8Array(1048576 - 5)); // 5-byte head: exactly 1 MiB
  assert.equal(big.length, 1048576);
  assert.doesNotThrow(() => decode(big, { maxLength: 1 << 21 }));
  const over = encode(new Uint8Array(1048576 - 4));
  assert.throws(() => decode(over, { maxLength: 1 << 21 }), hasCode('E_CBOR_LENGTH'));
  assert.equal(decode(fromHex('1903e8'), { maxInputLength: 3 }), 1000);
  assert.throws(() => decode(fromHex('1903e8'), { maxInputLength: 2 }), hasCode('E_CBOR_LENGTH'));
});

// ---------------------------------------------------------------------------------------------
// Numbers

const refHalf = (h: number) => {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * Math.pow(2, -24);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * Math.pow(2, e - 15);
};

const refHalfExact = (v: number) => {
  if (v === 0 || !Number.isFinite(v)) return true;
  const a = Math.abs(v);
  if (a > 65504 || a < Math.pow(2, -24)) return false;
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  return Number.isInteger(a / Math.pow(2, e - 10));
};

const isInt = (v: number) => Number.isSafeInteger(v) && !Object.is(v, -0);

test('binary16: all 65536 values decode exactly and re-encode shortest', () => {
  for (let h = 0; h < 65536; h++) {
    const bytes = new Uint8Array([0xf9, h >> 8, h & 255]);
    const v = decode(bytes) as number;
    const want = refHalf(h);
    if (Number.isNaN(want)) {
      assert.ok(Number.isNaN(v));
      assert.equal(toHex(encode(v)), 'f97e00');
      continue;
    }
    assert.ok(Object.is(v, want), 'half ' + h.toString(16));
    const e = encode(v);
    if (isInt(v)) {
      assert.ok(e[0] >> 5 <= 1 && decode(e) === v, 'integral half ' + v);
      assert.throws(() => decode(bytes, { requireDeterministic: true }), hasCode('E_CBOR_NOT_DETERMINISTIC'));
    } else {
      assert.equal(toHex(e), toHex(bytes), 'half ' + h.toString(16));
      assert.ok(Object.is(decode(bytes, { requireDeterministic: true }), want));
    }
  }
});

test('floats: random binary32 and binary64 patterns take the shortest exact width', () => {
  const r = rng(32);
  const dv = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < 20000; i++) {
    dv.setUint32(0, r.next());
    const f = dv.getFloat32(0);
    dv.setUint32(0, r.next());
    dv.setUint32(4, r.next());
    const d = i & 1 ? dv.getFloat64(0) : f;
    const e = encode(d);
    assert.ok(same(decode(e), d), 'value ' + d);
    if (Number.isNaN(d)) assert.equal(toHex(e), 'f97e00');
    else if (isInt(d)) assert.ok(e[0] >> 5 <= 1);
    else {
      const want = refHalfExact(d) ? 3 : Math.fround(d) === d ? 5 : 9;
      assert.equal(e.length, want, 'width of ' + d);
      assert.ok(same(decode(e, { requireDeterministic: true }), d));
    }
  }
});

test('integers: the safe range is integers; beyond it, integral numbers are floats', () => {
  const M = Number.MAX_SAFE_INTEGER;
  assert.equal(toHex(encode(M)), '1b001fffffffffffff');
  assert.equal(toHex(encode(-M)), '3b001ffffffffffffe');
  assert.equal(toHex(encode(M + 1)), 'fa5a000000');
  assert.equal(toHex(encode(-(M + 1))), 'fada000000');
  assert.equal(toHex(encode(M + 3)), 'fb4340000000000001');
  for (const [v, hex] of [[23, '17'], [24, '1818'], [255, '18ff'], [256, '190100'], [65535, '19ffff'], [65536, '1a00010000'],
    [4294967295, '1affffffff'], [4294967296, '1b0000000100000000'], [-24, '37'], [-25, '3818'], [-256, '38ff'], [-257, '390100'],
    [-4294967296, '3affffffff'], [-4294967297, '3b0000000100000000']] as [number, string][]) {
    assert.equal(toHex(encode(v)), hex, String(v));
    assert.equal(decode(fromHex(hex), { requireDeterministic: true }), v);
  }
  assert.equal(toHex(encode(-0)), 'f98000');
  assert.ok(Object.is(decode(encode(-0)), -0));
});

// ---------------------------------------------------------------------------------------------
// Encoder rules

test('encode: map keys sorted bytewise by encoding, plain objects as text-keyed maps', () => {
  assert.equal(toHex(encode({ b: 1, a: 2, aa: 3 })), 'a3616102616201626161' + '03');
  const m = new CborMap([['a', 0], [-1, 0], [100, 0], [new Uint8Array([1]), 0], [[1], 0], [10, 0], [false, 0]]);
  // 0a < 1864 < 20 < 4101 < 6161 < 8101 < f4
  assert.equal(toHex(encode(m)), 'a7' + '0a00' + '186400' + '2000' + '410100' + '616100' + '810100' + 'f400');
  assert.equal(toHex(encode(Object.assign(Object.create(null), { z: null }))), 'a1617af6');
  assert.equal(toHex(encode({ u: undefined })), 'a16175f7');
  assert.equal(toHex(encode([undefined, null])), '82f7f6');
});

test('decode: duplicate keys found in small (pairwise) and large (sorted) maps, any key type', () => {
  for (const n of [2, 16, 17, 200]) {
    const keys: CborValue[] = Array.from({ length: n - 1 }, (_, i) => (i % 3 === 0 ? i : i % 3 === 1 ? 'k' + i : [i, 'x']));
    const ok = new CborMap(keys.map((k) => [k, 0] as [CborValue, CborValue]));
    assert.equal((decode(encode(ok), { maxLength: 1000 }) as CborMap).entries.length, n - 1);
    for (const dup of [keys[0], keys[keys.length - 1]]) {
      // Hand-built: encode() itself refuses duplicates, so append one raw pair to a valid map.
      const body = encode(ok).subarray(n - 1 < 24 ? 1 : n - 1 < 256 ? 2 : 3);
      const head = n < 24 ? [0xa0 + n] : n < 256 ? [0xb8, n] : [0xb9, n >> 8, n & 255];
      const bytes = new Uint8Array([...head, ...body, ...encode(dup), 0x01]);
      assert.throws(() => decode(bytes, { maxLength: 1000 }), hasCode('E_CBOR_DUPLICATE_KEY'), n + ' ' + show(dup));
    }
  }
});

test('encode: duplicate keys are refused (equal JS values, equal bytes, equal structures)', () => {
  for (const m of [
    new CborMap([[1, 'a'], [1, 'b']]),
    new CborMap([[1, 'a'], [1.0, 'b']]),
    new CborMap([[new Uint8Array([1, 2]), 0], [new Uint8Array([1, 2]), 1]]),
    new CborMap([[[1, 'x'], 0], [[1, 'x'], 1]]),
    new CborMap([[NaN, 0], [NaN, 1]]),
  ])
    assert.throws(() => encode(m), hasCode('E_CBOR_DUPLICATE_KEY'));
  assert.doesNotThrow(() => encode(new CborMap([[0, 'a'], [-0, 'b']])), '0 and -0 differ on the wire');
});

test('encode: values outside the model give TypeError with the path', () => {
  const bad: [unknown, RegExp][] = [
    [() => 1, /function at \$/],
    [{ a: [1, Symbol('s')] }, /symbol at \$\["a"\]\[1\]/],
    [[1n], /bigint at \$\[0\]/],
    [new Date(0), /Date at \$/],
    [new Map(), /Map at \$/],
    [new Uint16Array(2), /Uint16Array at \$/],
    [new ArrayBuffer(2), /ArrayBuffer at \$/],
    [new CborMap([[1, [2, new Set() as never]]]), /Set at \$\[1\]\[1\]/],
    [new CborTag(5, (() => 0) as never), /function at \$<tag 5>/],
  ];
  for (const [v, re] of bad)
    assert.throws(() => encode(v as CborValue), (e: unknown) => e instanceof TypeError && (e as Coded).code === 'E_TYPE' && re.test((e as Error).message));
  assert.throws(() => encode(['ok', 'a\ud800b']), (e: unknown) => hasCode('E_CBOR_UTF8')(e) && /index 1 .*\$\[1\]/.test((e as Error).message));
  assert.throws(() => encode('\udc00'), hasCode('E_CBOR_UTF8'));
  assert.throws(() => encode('a\ud800'), hasCode('E_CBOR_UTF8'));
  const t = new CborTag(1, 0);
  t.tag = -1;
  assert.throws(() => encode(t), RangeError);
  assert.throws(() => encode(1, { maxDepth: -1 }), RangeError);
});

test('encode: the growing buffer handles large and many items', () => {
  const big = new Uint8Array(300000).map((_, i) => i);
  const e = encode([big, 'é'.repeat(70000), Array.from({ length: 20000 }, (_, i) => i * 1000)]);
  const d = decode(e, { maxLength: 300000 }) as CborValue[];
  assert.equal(toHex(d[0] as Uint8Array), toHex(big));
  assert.equal(d[1], 'é'.repeat(70000));
  assert.equal((d[2] as number[])[19999], 19999000);
});

// ---------------------------------------------------------------------------------------------
// CborMap, CborTag, decodeFirst, argument checks

test('CborMap get/set/has; CborTag checks its number', () => {
  const m = new CborMap();
  m.set(1, 'one').set('1', 'string one').set(new Uint8Array([1]), 'bytes').set([1, 2], 'array').set(-0, 'minus zero');
  m.set(1, 'ONE');
  assert.equal(m.entries.length, 5);
  assert.equal(m.get(1), 'ONE');
  assert.equal(m.get('1'), 'string one');
  assert.equal(m.get(new Uint8Array([1])), 'bytes');
  assert.equal(m.get([1, 2]), 'array');
  assert.equal(m.get(-0), 'minus zero');
  assert.equal(m.get(0), undefined);
  assert.equal(m.has(2), false);
  assert.equal(new CborMap([[NaN, 1]]).get(NaN), 1);
  assert.throws(() => new CborTag(-1, 0), RangeError);
  assert.throws(() => new CborTag(1.5, 0), TypeError);
  assert.throws(() => new CborTag('1' as never, 0), TypeError);
  assert.equal(new CborTag(Number.MAX_SAFE_INTEGER, 0).tag, Number.MAX_SAFE_INTEGER);
  assertSame(decode(encode(new CborTag(Number.MAX_SAFE_INTEGER, 'x'))), new CborTag(Number.MAX_SAFE_INTEGER, 'x'), 'big tag');
});

test('decodeFirst walks a CBOR sequence; decode refuses trailing bytes', () => {
  const parts = [encode(1), encode({ a: [1, 2] }), encode('z')];
  const seq = new Uint8Array(Buffer.concat(parts));
  const got: CborValue[] = [];
  for (let o = 0; o < seq.length; ) {
    const r = decodeFirst(seq.subarray(o));
    got.push(r.value);
    o += r.offset;
  }
  assert.equal(got.length, 3);
  assertSame(got[1], { a: [1, 2] }, 'second');
  assert.throws(() => decode(seq), (e: unknown) => hasCode('E_CBOR_TRAILING')(e) && (e as Coded).offset === 1);
});

test('decoded byte strings are copies, not views of the input', () => {
  const input = fromHex('4401020304');
  const b = decode(input) as Uint8Array;
  input[1] = 99;
  assert.equal(toHex(b), '01020304');
  assert.equal(b.byteOffset, 0);
  assert.equal(b.buffer.byteLength, 4);
});

test('wrong-type arguments and options give TypeError / RangeError naming them', () => {
  for (const bad of ['a0', [0xa0], undefined, null, new ArrayBuffer(1), new Uint16Array(1)])
    for (const f of [decode, decodeFirst])
      assert.throws(() => f(bad as unknown as Uint8Array), (e: unknown) => e instanceof TypeError && /"bytes"/.test((e as Error).message));
  const one = fromHex('00');
  assert.throws(() => decode(one, { maxDepth: 'x' as never }), (e: unknown) => e instanceof TypeError && /"maxDepth"/.test((e as Error).message));
  assert.throws(() => decode(one, { maxDepth: -1 }), (e: unknown) => e instanceof RangeError && /"maxDepth"/.test((e as Error).message));
  assert.throws(() => decode(one, { maxLength: 1.5 }), (e: unknown) => e instanceof TypeError && /"maxLength"/.test((e as Error).message));
  assert.throws(() => decode(one, { maxInputLength: -2 }), (e: unknown) => e instanceof RangeError && /"maxInputLength"/.test((e as Error).message));
  assert.throws(() => decode(one, { allowIndefinite: 1 as never }), (e: unknown) => e instanceof TypeError && /"allowIndefinite"/.test((e as Error).message));
  assert.throws(() => decode(one, { requireDeterministic: 'yes' as never }), (e: unknown) => e instanceof TypeError && /"requireDeterministic"/.test((e as Error).message));
  assert.throws(() => decode(one, 5 as never), (e: unknown) => e instanceof TypeError && /"opts"/.test((e as Error).message));
});

// ---------------------------------------------------------------------------------------------
// Random values against cbor-x

// Tags cbor-x leaves alone (it interprets 0-6, 14, 15, 27-29, 51, 64-87, 258, 259, ...).
const PLAIN_TAGS = [32, 33, 35, 36, 37, 100, 1000, 1001, 55800, 70000];

function randString(r: ReturnType<typeof rng>): string {
  const n = r.below(4) === 0 ? r.below(300) : r.below(12);
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = r.below(4);
    const cp = k === 0 ? 0x20 + r.below(95) : k === 1 ? 0x80 + r.below(0x780) : k === 2 ? 0x800 + r.below(0xd000) : 0x10000 + r.below(0x100000);
    s += String.fromCodePoint(cp >= 0xd800 && cp < 0xe000 ? cp + 0x800 : cp);
  }
  return s;
}

function randNumber(r: ReturnType<typeof rng>): number {
  const dv = new DataView(new ArrayBuffer(8));
  let v: number;
  switch (r.below(7)) {
    case 0: v = r.below(60) - 30; break;
    case 1: v = Math.floor((r.next() & 0x1fffff) * 4294967296 + r.next()) / Math.pow(2, r.below(54)); v = Math.floor(v) * (r.below(2) ? -1 : 1); break;
    case 2: dv.setUint32(0, r.next()); dv.setUint32(4, r.next()); v = dv.getFloat64(0); break;
    case 3: dv.setUint32(0, r.next()); v = dv.getFloat32(0); break;
    case 4: v = refHalf(r.below(65536)); break;
    case 5: v = [NaN, Infinity, -Infinity, 0.5, -1.5, 1e300, 5e-324][r.below(7)]; break;
    default: v = (r.next() - 2147483648) / 1000;
  }
  return Object.is(v, -0) ? 0 : v; // cbor-x writes −0 as the integer 0
}

function randKey(r: ReturnType<typeof rng>): CborValue {
  const k = r.below(5);
  if (k === 0) return r.below(50) - 25;
  if (k === 1) return randNumber(r);
  if (k === 2) return r.bytes(r.below(4));
  return randString(r);
}

function randValue(r: ReturnType<typeof rng>, depth: number): CborValue {
  switch (r.below(depth < 4 ? 11 : 6)) {
    case 0: case 1: return randNumber(r);
    case 2: return randString(r);
    case 3: return r.bytes(r.below(5) === 0 ? r.below(400) : r.below(10));
    case 4: return [true, false, null, undefined][r.below(4)];
    case 5: return r.below(60) - 30;
    case 6: case 7: return Array.from({ length: r.below(6) === 0 ? r.below(40) : r.below(5) }, () => randValue(r, depth + 1));
    case 8: {
      const m = new CborMap();
      const n = r.below(6);
      for (let i = 0; i < n; i++) {
        const k = randKey(r);
        if (!m.has(k)) m.entries.push([k, randValue(r, depth + 1)]);
      }
      return m;
    }
    case 9: {
      const o: Record<string, CborValue> = {};
      for (let i = r.below(5); i > 0; i--) o[randString(r)] = randValue(r, depth + 1);
      return o;
    }
    default: return new CborTag(PLAIN_TAGS[r.below(PLAIN_TAGS.length)], randValue(r, depth + 1));
  }
}

function toX(v: CborValue): unknown {
  if (Array.isArray(v)) return v.map(toX);
  if (v instanceof CborMap) return new Map(v.entries.map(([k, x]) => [toX(k), toX(x)]));
  if (v instanceof CborTag) return new Tag(toX(v.value), v.tag);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) o[k] = toX((v as Record<string, CborValue>)[k]);
    return o;
  }
  return v;
}

function fromX(v: unknown): CborValue {
  if (typeof v === 'bigint') {
    assert.ok(v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER));
    return Number(v);
  }
  if (Array.isArray(v)) return v.map(fromX);
  if (v instanceof Map) return new CborMap([...v.entries()].map(([k, x]) => [fromX(k), fromX(x)]));
  if (v instanceof Tag) return new CborTag(v.tag, fromX(v.value));
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (v !== null && typeof v === 'object') throw new Error('unexpected cbor-x value ' + String(v));
  return v as CborValue;
}

test('random values: our encoding decodes identically in cbor-x, with keys in bytewise order', () => {
  const r = rng(0xc0b0);
  for (let i = 0; i < 3000; i++) {
    const v = randValue(r, 0);
    const bytes = encode(v);
    assertSame(fromX(xDec.decode(bytes)), v, 'value ' + i);
    assertSame(decode(bytes, { requireDeterministic: true }), v, 'self ' + i);
  }
});

test('random maps: key order equals sorting the keys cbor-x encodes', () => {
  const r = rng(0x50f7);
  for (let i = 0; i < 1000; i++) {
    const m = new CborMap();
    for (let n = 1 + r.below(12); n > 0; n--) {
      const k = r.below(2) ? randString(r) : r.below(2) ? r.below(100000) - 50000 : r.bytes(r.below(3));
      if (!m.has(k)) m.entries.push([k, i]);
    }
    const want = m.entries.map(([k]) => Buffer.from(xEnc.encode(toX(k)))).sort(Buffer.compare).map((b) => b.toString('hex'));
    const got = [...(xDec.decode(encode(m)) as Map<unknown, unknown>).keys()].map((k) => Buffer.from(xEnc.encode(k)).toString('hex'));
    assert.deepEqual(got, want, 'map ' + i);
  }
});

test('random values: cbor-x encodings decode to the same values and re-encode canonically', () => {
  const r = rng(0xdec0);
  for (let i = 0; i < 3000; i++) {
    const v = randValue(r, 0);
    const theirs = xEnc.encode(toX(v));
    const got = decode(theirs);
    assertSame(got, v, 'value ' + i);
    assert.equal(toHex(encode(got)), toHex(encode(v)), 'canonical ' + i);
  }
});

// ---------------------------------------------------------------------------------------------
// Truncation and mutation

test('truncation at every byte offset gives E_CBOR_TRUNCATED, never a value', () => {
  const r = rng(7);
  const samples: [Uint8Array, DecodeOptions][] = [
    [fromHex('a26161016162820203'), {}],
    [fromHex('bf61610161629f0203ffff'), { allowIndefinite: true }],
    [fromHex('5f42010243030405ff'), { allowIndefinite: true }],
    [fromHex('c1fb41d452d9ec200000'), {}],
    [fromHex('64f0908591'), {}],
  ];
  for (let i = 0; i < 20; i++) samples.push([encode(randValue(r, 0)), { requireDeterministic: true }]);
  for (const [bytes, opts] of samples)
    for (let n = 0; n < bytes.length; n++)
      assert.throws(() => decode(bytes.subarray(0, n), opts), hasCode('E_CBOR_TRUNCATED'), toHex(bytes) + ' cut at ' + n);
});

test('random mutations and random bytes only ever raise coded CBOR errors', () => {
  const r = rng(0xbad);
  const optsList: DecodeOptions[] = [{}, { allowIndefinite: true }, { requireDeterministic: true }, { maxDepth: 3, maxLength: 8 }];
  let decoded = 0;
  let rejected = 0;
  const tryDecode = (b: Uint8Array) => {
    for (const opts of optsList) {
      try {
        decode(b, opts);
        decoded++;
      } catch (e) {
        const c = e as Coded;
        if (!(c instanceof Error) || c.constructor !== Error || !/^E_CBOR_/.test(String(c.code)) || typeof c.offset !== 'number')
          assert.fail('uncoded error for ' + toHex(b) + ': ' + String(c && c.stack));
        rejected++;
      }
    }
  };
  for (let i = 0; i < 400; i++) {
    const base = encode(randValue(r, 0));
    for (let j = 0; j < 20; j++) {
      const b = Array.from(base);
      for (let k = 1 + r.below(3); k > 0; k--) {
        const at = r.below(b.length + 1);
        const op = r.below(4);
        if (op === 0 && at < b.length) b[at] = r.next() & 255;
        else if (op === 1) b.splice(at, 0, r.next() & 255);
        else if (op === 2) b.splice(at, 1);
        else b[Math.min(at, b.length - 1)] ^= 1 << r.below(8);
      }
      tryDecode(Uint8Array.from(b));
    }
  }
  for (let i = 0; i < 5000; i++) tryDecode(r.bytes(1 + r.below(24)));
  assert.ok(decoded > 1000 && rejected > 1000, 'both outcomes exercised: ' + decoded + ' / ' + rejected);
});
