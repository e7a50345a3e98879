// MQTT 3.1.1 codec: table vectors both ways, every split point, the size bound at its limit,
// a cross-check against mqtt-packet (MQTT.js's codec) and seeded mutation fuzzing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { encode, decode, createParser, MQTT_MAX_PACKET_SIZE } from '../../firmware/core/codec/mqtt.js';
import type { Packet, QoS } from '../../firmware/core/codec/mqtt.js';
import { VALID, INVALID, REMAINING_LENGTH, rng } from './vectors.js';

function parseAll(chunks: Uint8Array[], maxPacketSize = 1 << 20): Packet[] {
  const out: Packet[] = [];
  const p = createParser({ maxPacketSize, onPacket: (x) => out.push(x) });
  for (const c of chunks) p.push(c);
  assert.equal(p.pending(), 0, 'no partial packet left');
  return out;
}

function chunksOf(b: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function throwsCode(fn: () => unknown, code: string, clause?: string): void {
  assert.throws(fn, (e: any) => {
    assert.equal(e.code, code, e.message);
    if (clause) assert.ok(e.message.includes('[' + clause + ']'), 'message "' + e.message + '" should quote [' + clause + ']');
    return true;
  });
}

test('valid vectors decode to their packet and encode to their bytes', () => {
  assert.ok(VALID.length >= 20);
  for (const v of VALID) {
    assert.deepEqual(decode(v.bytes), v.packet, v.name);
    assert.deepEqual(encode(v.packet), v.bytes, v.name);
  }
});

test('every vector decodes when split at every byte position, and byte by byte', () => {
  for (const v of VALID) {
    for (let i = 0; i <= v.bytes.length; i++) {
      assert.deepEqual(parseAll([v.bytes.subarray(0, i), v.bytes.subarray(i)]), [v.packet], v.name + ' split at ' + i);
    }
    assert.deepEqual(parseAll(chunksOf(v.bytes, 1)), [v.packet], v.name + ' byte by byte');
  }
});

test('a stream of many packets in one chunk, in 536-byte chunks (Espruino), and random chunks', () => {
  const packets: Packet[] = [];
  const parts: Uint8Array[] = [];
  for (let r = 0; r < 30; r++) for (const v of VALID) packets.push(v.packet), parts.push(v.bytes);
  const stream = concat(parts);
  assert.ok(stream.length > 536 * 5);
  assert.deepEqual(parseAll([stream]), packets);
  assert.deepEqual(parseAll(chunksOf(stream, 536)), packets);
  const rand = rng(7);
  for (let trial = 0; trial < 20; trial++) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < stream.length; ) {
      const n = 1 + Math.floor(rand() * 700);
      chunks.push(stream.subarray(i, i + n));
      i += n;
    }
    assert.deepEqual(parseAll(chunks), packets, 'trial ' + trial);
  }
});

test('invalid vectors fail with E_MQTT_MALFORMED quoting the clause, at every split', () => {
  assert.ok(INVALID.length >= 30);
  for (const v of INVALID) {
    throwsCode(() => decode(v.bytes), 'E_MQTT_MALFORMED', v.clause);
    for (let i = 0; i <= v.bytes.length; i++) {
      throwsCode(() => parseAll([v.bytes.subarray(0, i), v.bytes.subarray(i)]), 'E_MQTT_MALFORMED', v.clause);
    }
  }
});

test('a reserved first byte fails at once, before any length or body arrives', () => {
  const p = createParser({ maxPacketSize: 100, onPacket: () => assert.fail('no packet') });
  throwsCode(() => p.push(new Uint8Array([0x41])), 'E_MQTT_MALFORMED', 'MQTT-2.2.2-1');
});

test('after an error the parser keeps failing until reset()', () => {
  const got: Packet[] = [];
  const p = createParser({ maxPacketSize: 100, onPacket: (x) => got.push(x) });
  throwsCode(() => p.push(new Uint8Array([0xd0, 0x00, 0x41, 0x02])), 'E_MQTT_MALFORMED', 'MQTT-2.2.2-1');
  assert.deepEqual(got, [{ type: 'pingresp' }], 'the packet before the bad one was delivered');
  throwsCode(() => p.push(new Uint8Array([0xd0, 0x00])), 'E_MQTT_MALFORMED', 'MQTT-2.2.2-1');
  p.reset();
  p.push(new Uint8Array([0xd0, 0x00]));
  assert.equal(got.length, 2);
});

test('Remaining Length boundaries (Table 2.4): decoded exactly, encoded minimally', () => {
  for (const c of REMAINING_LENGTH) {
    const total = 1 + c.bytes.length + c.value;
    // Decoding: with the bound one byte short, the error names the size read from the length.
    if (total - 1 >= 2) {
      const small = createParser({ maxPacketSize: total - 1, onPacket: () => assert.fail('no packet') });
      assert.throws(
        () => small.push(concat([Uint8Array.of(0x30), c.bytes])),
        (e: any) => e.code === 'E_MQTT_TOO_LARGE' && e.message.includes(' of ' + total + ' bytes '),
      );
    }
    if (c.value > 2097152) continue; // 256 MiB packets are not built here
    const p: Packet = c.value === 0 ? { type: 'pingreq' } : { type: 'publish', topic: 't', payload: new Uint8Array(c.value - 3), qos: 0, retain: false, dup: false };
    const bytes = encode(p);
    assert.equal(bytes.length, total);
    assert.deepEqual(bytes.subarray(1, 1 + c.bytes.length), c.bytes, 'length ' + c.value);
    assert.deepEqual(parseAll(chunksOf(bytes, 536), total), [p]);
  }
});

test('maxPacketSize: a packet of exactly the bound passes, one byte more fails before buffering', () => {
  const max = 300;
  const fit: Packet = { type: 'publish', topic: 'a/b', payload: new Uint8Array(max - 3 - 5).fill(7), qos: 0, retain: false, dup: false };
  const bytes = encode(fit);
  assert.equal(bytes.length, max);
  assert.deepEqual(parseAll([bytes], max), [fit]);
  const over = encode({ ...fit, payload: new Uint8Array(max - 7) });
  assert.equal(over.length, max + 1);
  const p = createParser({ maxPacketSize: max, onPacket: () => assert.fail('no packet') });
  p.push(over.subarray(0, 1));
  throwsCode(() => p.push(over.subarray(1, 3)), 'E_MQTT_TOO_LARGE');
  // A hostile length claiming 256 MiB is refused from the header alone.
  const q = createParser({ maxPacketSize: 1 << 16, onPacket: () => assert.fail('no packet') });
  throwsCode(() => q.push(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f)), 'E_MQTT_TOO_LARGE');
});

// ---- cross-check against mqtt-packet (the codec under MQTT.js) ----

function toMP(p: Packet): any {
  const buf = (b: Uint8Array) => Buffer.from(b);
  switch (p.type) {
    case 'connect':
      return {
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: p.clean, clientId: p.clientId, keepalive: p.keepAlive,
        ...(p.username !== undefined ? { username: p.username } : {}),
        ...(p.password !== undefined ? { password: buf(p.password) } : {}),
        ...(p.will ? { will: { topic: p.will.topic, payload: buf(p.will.payload), qos: p.will.qos, retain: p.will.retain } } : {}),
      };
    case 'connack':
      return { cmd: 'connack', returnCode: p.returnCode, sessionPresent: p.sessionPresent };
    case 'publish':
      return { cmd: 'publish', topic: p.topic, payload: buf(p.payload), qos: p.qos, retain: p.retain, dup: p.dup, ...(p.qos ? { messageId: p.packetId } : {}) };
    case 'subscribe':
      return { cmd: 'subscribe', messageId: p.packetId, subscriptions: p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })) };
    case 'suback':
      return { cmd: 'suback', messageId: p.packetId, granted: p.granted };
    case 'unsubscribe':
      return { cmd: 'unsubscribe', messageId: p.packetId, unsubscriptions: p.topics };
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': case 'unsuback':
      return { cmd: p.type, messageId: p.packetId };
    default:
      return { cmd: p.type };
  }
}

function fromMP(m: any): Packet {
  const u8 = (b: Buffer) => new Uint8Array(b);
  switch (m.cmd) {
    case 'connect': {
      const c: any = { type: 'connect', clientId: m.clientId, keepAlive: m.keepalive, clean: m.clean };
      if (m.will) c.will = { topic: m.will.topic, payload: u8(m.will.payload), qos: m.will.qos, retain: m.will.retain };
      if (m.username !== undefined) c.username = m.username;
      if (m.password !== undefined) c.password = u8(m.password);
      return c;
    }
    case 'connack':
      return { type: 'connack', sessionPresent: m.sessionPresent, returnCode: m.returnCode };
    case 'publish': {
      const p: any = { type: 'publish', topic: m.topic, payload: u8(m.payload), qos: m.qos, retain: m.retain, dup: m.dup };
      if (m.qos) p.packetId = m.messageId;
      return p;
    }
    case 'subscribe':
      return { type: 'subscribe', packetId: m.messageId, subscriptions: m.subscriptions.map((s: any) => ({ topic: s.topic, qos: s.qos })) };
    case 'suback':
      return { type: 'suback', packetId: m.messageId, granted: m.granted };
    case 'unsubscribe':
      return { type: 'unsubscribe', packetId: m.messageId, topics: m.unsubscriptions };
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': case 'unsuback':
      return { type: m.cmd, packetId: m.messageId } as Packet;
    default:
      return { type: m.cmd } as Packet;
  }
}

function mpParse(bytes: Uint8Array): Packet[] {
  const out: Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (m: any) => out.push(fromMP(m)));
  parser.on('error', (e: Error) => {
    throw e;
  });
  parser.parse(Buffer.from(bytes));
  return out;
}

test('vectors agree with mqtt-packet: its generate() gives our bytes, its parser our packets', () => {
  for (const v of VALID) {
    assert.deepEqual(new Uint8Array(mqttPacket.generate(toMP(v.packet))), v.bytes, v.name);
    assert.deepEqual(mpParse(v.bytes), [v.packet], v.name);
  }
});

const CHARS = ['a', 'b', 'z', '0', '/', '-', '_', ' ', 'é', 'ü', '€', '漢', '😀'];

function randomPacket(r: () => number): Packet {
  const int = (n: number) => Math.floor(r() * n);
  const str = (min: number, max: number, alphabet = CHARS) => {
    let s = '';
    for (let n = min + int(max - min + 1); n > 0; n--) s += alphabet[int(alphabet.length)];
    return s;
  };
  const bytes = (max: number) => {
    const b = new Uint8Array(int(max + 1));
    for (let i = 0; i < b.length; i++) b[i] = int(256);
    return b;
  };
  const qos = () => int(3) as QoS;
  const id = () => 1 + int(65535);
  const filter = () => {
    const levels: string[] = [];
    for (let n = 1 + int(4); n > 0; n--) levels.push(r() < 0.2 ? '+' : str(1, 5));
    if (r() < 0.3) levels.push('#');
    return levels.join('/');
  };
  switch (int(9)) {
    case 0: {
      const clean = r() < 0.5;
      const c: Packet = { type: 'connect', clientId: str(clean ? 0 : 1, 23), keepAlive: int(65536), clean };
      if (r() < 0.5) c.will = { topic: str(1, 20), payload: bytes(40), qos: qos(), retain: r() < 0.5 };
      if (r() < 0.5) {
        c.username = str(0, 10);
        if (r() < 0.5) c.password = bytes(20);
      }
      return c;
    }
    case 1: {
      const code = int(6);
      return { type: 'connack', sessionPresent: code === 0 && r() < 0.5, returnCode: code };
    }
    case 2:
    case 3: {
      const q = qos();
      const p: Packet = { type: 'publish', topic: str(1, 30), payload: bytes(r() < 0.05 ? 20000 : 300), qos: q, retain: r() < 0.5, dup: q > 0 && r() < 0.5 };
      if (q) p.packetId = id();
      return p;
    }
    case 4:
      return { type: (['puback', 'pubrec', 'pubrel', 'pubcomp', 'unsuback'] as const)[int(5)], packetId: id() };
    case 5: {
      const subs = [];
      for (let n = 1 + int(4); n > 0; n--) subs.push({ topic: filter(), qos: qos() });
      return { type: 'subscribe', packetId: id(), subscriptions: subs };
    }
    case 6: {
      const g = [];
      for (let n = 1 + int(5); n > 0; n--) g.push([0, 1, 2, 128][int(4)]);
      return { type: 'suback', packetId: id(), granted: g };
    }
    case 7: {
      const t = [];
      for (let n = 1 + int(4); n > 0; n--) t.push(filter());
      return { type: 'unsubscribe', packetId: id(), topics: t };
    }
    default:
      return { type: (['pingreq', 'pingresp', 'disconnect'] as const)[int(3)] };
  }
}

test('2000 random packets: our encoding equals mqtt-packet generate(), and both parsers agree', () => {
  const r = rng(42);
  const packets: Packet[] = [];
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 2000; i++) {
    const p = randomPacket(r);
    const ours = encode(p);
    assert.deepEqual(ours, new Uint8Array(mqttPacket.generate(toMP(p))), JSON.stringify(toMP(p)).slice(0, 200));
    packets.push(p);
    parts.push(ours);
  }
  const stream = concat(parts);
  assert.deepEqual(parseAll(chunksOf(stream, 536)), packets);
  assert.deepEqual(mpParse(stream), packets);
});

test('mutated input (seeded, 20000 cases) only ever fails with our coded errors', () => {
  const r = rng(1234);
  const seeds = VALID.map((v) => v.bytes);
  const counts: Record<string, number> = { ok: 0, E_MQTT_MALFORMED: 0, E_MQTT_TOO_LARGE: 0 };
  for (let i = 0; i < 20000; i++) {
    // Two to four valid packets, then flips, inserts, deletes and truncation.
    const parts: Uint8Array[] = [];
    for (let n = 2 + Math.floor(r() * 3); n > 0; n--) parts.push(seeds[Math.floor(r() * seeds.length)]);
    const b = Array.from(concat(parts));
    for (let m = 1 + Math.floor(r() * 4); m > 0; m--) {
      const at = Math.floor(r() * b.length);
      const op = Math.floor(r() * 4);
      if (op === 0) b[at] ^= 1 << Math.floor(r() * 8);
      else if (op === 1) b[at] = Math.floor(r() * 256);
      else if (op === 2) b.splice(at, 0, Math.floor(r() * 256));
      else b.splice(at, 1);
    }
    const bytes = Uint8Array.from(b);
    const got: Packet[] = [];
    const parser = createParser({ maxPacketSize: 256, onPacket: (x) => got.push(x) });
    try {
      for (const c of chunksOf(bytes, 1 + Math.floor(r() * 40))) parser.push(c);
      counts.ok++;
    } catch (e: any) {
      assert.ok(e.code === 'E_MQTT_MALFORMED' || e.code === 'E_MQTT_TOO_LARGE', 'unexpected ' + e.stack);
      assert.ok(/^\[MQTT[- ][0-9.-]+\] /.test(e.message) || e.code === 'E_MQTT_TOO_LARGE', e.message);
      counts[e.code]++;
    }
    // Whatever decoded is a packet our encoder either reproduces or rejects with a coded error.
    for (const p of got) {
      let again: Uint8Array;
      try {
        again = encode(p);
      } catch (e: any) {
        assert.ok(e.code === 'E_MQTT_INVALID' || e.code === 'E_RANGE', e.stack);
        continue;
      }
      assert.deepEqual(decode(again), p);
    }
  }
  assert.ok(counts.ok > 1000 && counts.E_MQTT_MALFORMED > 1000 && counts.E_MQTT_TOO_LARGE > 100, JSON.stringify(counts));
});

test('encode refuses packets that break the spec, naming the field', () => {
  const pub = { type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 0, retain: false, dup: false } as const;
  throwsCode(() => encode({ ...pub, topic: 'a/#' }), 'E_MQTT_INVALID', 'MQTT-3.3.2-2');
  throwsCode(() => encode({ ...pub, topic: '+' }), 'E_MQTT_INVALID', 'MQTT-3.3.2-2');
  throwsCode(() => encode({ ...pub, topic: '' }), 'E_MQTT_INVALID', 'MQTT-4.7.3-1');
  throwsCode(() => encode({ ...pub, topic: 'a\u0000' }), 'E_MQTT_INVALID', 'MQTT-1.5.3-2');
  throwsCode(() => encode({ ...pub, dup: true }), 'E_MQTT_INVALID', 'MQTT-3.3.1-2');
  throwsCode(() => encode({ ...pub, qos: 1 }), 'E_TYPE');
  throwsCode(() => encode({ ...pub, qos: 1, packetId: 0 }), 'E_RANGE');
  throwsCode(() => encode({ ...pub, qos: 1, packetId: 65536 }), 'E_RANGE');
  throwsCode(() => encode({ ...pub, qos: 3 as QoS }), 'E_RANGE');
  throwsCode(() => encode({ ...pub, topic: 'x'.repeat(65536) }), 'E_RANGE');
  throwsCode(() => encode({ type: 'connect', clientId: '', keepAlive: 0, clean: false }), 'E_MQTT_INVALID', 'MQTT-3.1.3-7');
  throwsCode(() => encode({ type: 'connect', clientId: 'a', keepAlive: 65536, clean: true }), 'E_RANGE');
  throwsCode(() => encode({ type: 'connect', clientId: 'a', keepAlive: 1, clean: true, password: new Uint8Array(1) }), 'E_MQTT_INVALID', 'MQTT-3.1.2-22');
  throwsCode(() => encode({ type: 'connack', sessionPresent: true, returnCode: 5 }), 'E_MQTT_INVALID', 'MQTT-3.2.2-4');
  throwsCode(() => encode({ type: 'subscribe', packetId: 1, subscriptions: [] }), 'E_MQTT_INVALID', 'MQTT-3.8.3-3');
  for (const f of ['a/#/b', 'a#', 'a/b+', '+a'])
    throwsCode(() => encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topic: f, qos: 0 }] }), 'E_MQTT_INVALID', 'MQTT-4.7.1-2');
  throwsCode(() => encode({ type: 'suback', packetId: 1, granted: [3] }), 'E_MQTT_INVALID', 'MQTT-3.9.3-2');
  throwsCode(() => encode({ type: 'unsubscribe', packetId: 1, topics: [] }), 'E_MQTT_INVALID', 'MQTT-3.10.3-2');
});

test('wrong types at the public boundary are TypeErrors naming the field', () => {
  const isType = (fn: () => unknown, field: string) =>
    assert.throws(fn, (e: any) => e.code === 'E_TYPE' && e instanceof TypeError && e.message.includes('"' + field + '"'));
  isType(() => encode(null as any), 'packet');
  isType(() => encode({ type: 'nope' } as any), 'type');
  isType(() => encode({ type: 'publish', topic: 1, payload: new Uint8Array(0), qos: 0 } as any), 'topic');
  isType(() => encode({ type: 'publish', topic: 't', payload: 'x', qos: 0 } as any), 'payload');
  isType(() => encode({ type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 0, retain: 1 } as any), 'retain');
  isType(() => encode({ type: 'connect', clientId: 'a', keepAlive: 1, clean: true, will: 5 } as any), 'will');
  isType(() => encode({ type: 'subscribe', packetId: 1, subscriptions: [null] } as any), 'subscriptions[0]');
  isType(() => createParser(null as any), 'opts');
  isType(() => createParser({ maxPacketSize: 10 } as any), 'onPacket');
  isType(() => createParser({ maxPacketSize: '10', onPacket() {} } as any), 'maxPacketSize');
  assert.throws(() => createParser({ maxPacketSize: 1, onPacket() {} }), RangeError);
  assert.throws(() => createParser({ maxPacketSize: MQTT_MAX_PACKET_SIZE + 1, onPacket() {} }), RangeError);
  isType(() => createParser({ maxPacketSize: 10, onPacket() {} }).push([1, 2] as any), 'chunk');
  isType(() => decode('x' as any), 'chunk');
});

test('where String.fromCharCode truncates (Espruino), wide characters in topics decode as ?', () => {
  const real = String.fromCharCode;
  const utf8 = VALID.find((v) => v.name === 'PUBLISH with a multi-byte UTF-8 topic')!;
  String.fromCharCode = (...codes: number[]) => real(...codes.map((c) => c & 255));
  try {
    assert.equal((decode(utf8.bytes) as any).topic, '\u00fc/?');
    const emoji = encode({ type: 'publish', topic: 'a/\u{1F600}/\u00e9', payload: new Uint8Array(0), qos: 0, retain: false, dup: false });
    assert.equal((decode(emoji) as any).topic, 'a/?/\u00e9');
    for (const v of INVALID.filter((x) => x.clause === 'MQTT-1.5.3-1')) throwsCode(() => decode(v.bytes), 'E_MQTT_MALFORMED', 'MQTT-1.5.3-1');
  } finally {
    String.fromCharCode = real;
  }
  assert.equal((decode(utf8.bytes) as any).topic, '\u00fc/\u20ac');
});
