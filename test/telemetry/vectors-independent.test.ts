// Checks the published envelope vectors WITHOUT the core's code: only @noble/secp256k1,
// @noble/hashes and cbor-x, as an independent implementation would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as secp from '@noble/secp256k1';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { Decoder, Encoder, Tag } from 'cbor-x';

secp.hashes.sha256 = sha256;
secp.hashes.hmacSha256 = (k: Uint8Array, m: Uint8Array) => hmac(sha256, k, m);

const vectors = JSON.parse(readFileSync('test/vectors/envelope/batches.json', 'utf8'));
const dec = new Decoder({ mapsAsObjects: false, useRecords: false } as any);
const enc = new Encoder({ tagUint8Array: false, mapsAsObjects: false, useRecords: false, variableMapSize: true } as any);

test('vectors file has cases', () => {
  assert.ok(vectors.valid.length >= 5);
});

for (const v of vectors.valid) {
  test('independent check: ' + v.description, () => {
    const msg = hexToBytes(v.messageHex);
    const cose = dec.decode(msg);
    assert.ok(cose instanceof Tag, 'tag');
    assert.equal(cose.tag, 18);
    const [prot, unprot, payload, sig] = cose.value;
    assert.equal(bytesToHex(prot), 'a101382e', 'protected header {1: -47}');
    assert.ok(unprot instanceof Map);
    assert.deepEqual([...unprot.keys()], [4]);
    const kid = unprot.get(4);
    // Address: keccak-256 of the uncompressed key without 0x04, last 20 bytes.
    const pub = secp.getPublicKey(hexToBytes(v.privateKey), false);
    assert.equal(bytesToHex(pub), v.publicKey);
    assert.equal(bytesToHex(keccak_256(pub.subarray(1)).subarray(12)), bytesToHex(kid));
    assert.equal(bytesToHex(kid), v.address);
    // Sig_structure per RFC 9052 §4.4, encoded by cbor-x.
    const sigStruct = enc.encode(['Signature1', prot, new Uint8Array(0), payload]);
    const h = sha256(sigStruct);
    assert.equal(bytesToHex(h), v.signingHash);
    assert.equal(bytesToHex(payload), v.payloadHex);
    assert.equal(bytesToHex(sha256(payload)), v.payloadHash);
    assert.ok(secp.verify(sig, h, pub, { prehash: false }), 'signature verifies');
    // Deterministic RFC 6979 signature: noble produces the same bytes.
    const mine = secp.sign(h, hexToBytes(v.privateKey), { prehash: false });
    assert.equal(bytesToHex(mine), bytesToHex(sig));
    assert.equal(bytesToHex(sig), v.signature);
    // Payload fields as documented.
    const p = dec.decode(payload);
    assert.ok(p instanceof Map);
    const b = v.batch;
    assert.equal(p.get(0), 1);
    assert.equal(p.get(1), b.boot);
    assert.equal(p.get(2), b.seq);
    assert.equal(bytesToHex(p.get(3)), b.prev);
    assert.equal(p.has(4), b.pseq !== b.seq - 1);
    if (p.has(4)) assert.equal(p.get(4), b.pseq);
    assert.equal(p.get(5), b.synced ? 1 : 0);
    assert.equal(p.get(6), b.up);
    // SenML resolution (RFC 8428 §4.6): base name, time, unit and sum carry over; the pack is
    // in canonical order (name, then time), docs/wire-format.md.
    const recs = p.get(7);
    const want = [...b.readings].sort((x: any, y: any) => (x.n !== y.n ? (x.n < y.n ? -1 : 1) : x.t - y.t));
    assert.equal(recs.length, want.length);
    let bn = '';
    let bt = 0;
    let bu: string | undefined;
    let bs = 0;
    recs.forEach((r: Map<number, any>, i: number) => {
      for (const k of r.keys()) assert.ok([-2, -3, -4, -6, 0, 1, 2, 3, 4, 5, 6].includes(k), 'label ' + k);
      if (r.has(-2)) bn = r.get(-2);
      if (r.has(-3)) bt = r.get(-3);
      if (r.has(-4)) bu = r.get(-4);
      if (r.has(-6)) bs = r.get(-6);
      const w = want[i];
      assert.equal(bn + (r.get(0) ?? ''), w.n);
      assert.equal(bt + (r.get(6) ?? 0), w.t, w.n + '.t');
      assert.equal(r.get(1) ?? bu, w.u, w.n + '.u');
      assert.equal(r.has(5) ? bs + r.get(5) : undefined, w.s, w.n + '.s');
      for (const [label, key] of [[2, 'v'], [3, 'vs'], [4, 'vb']] as const) assert.equal(r.get(label), w[key], w.n + '.' + key);
    });
    const health = p.get(8);
    const hk: Record<string, number> = { queue: 0, dropped: 1, oldestS: 2, freeMem: 3, reconnects: 4 };
    for (const k of Object.keys(hk)) assert.equal(health.get(hk[k]), b.health[k], 'health.' + k);
    if (b.drop) assert.deepEqual(p.get(9), [b.drop.count, b.drop.firstSeq, b.drop.lastSeq]);
    else assert.equal(p.has(9), false);
    // Deterministic encoding: keys ascending (all small uints here), so the first-byte order holds.
    assert.deepEqual([...p.keys()], [...p.keys()].sort((x: number, y: number) => x - y));
  });
}
