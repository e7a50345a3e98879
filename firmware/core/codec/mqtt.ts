// MQTT 3.1.1 wire codec (OASIS Standard, 29 October 2014). Pure: bytes in, packet objects out
// and back; no IO, no timers, no session state (that is session/mqtt-client.ts). The parser
// resumes across chunks of any size and never buffers more than `maxPacketSize`.
// Clause ids such as [MQTT-2.2.2-1] are the spec's normative statements; plain section numbers
// (MQTT 2.2.3) cite rules the spec states without an id.

import { err, abytes, aint, RANGE_ERROR } from '../util/errors.js';
import type { CodedError } from '../util/errors.js';
import { utf8Encode, utf8Decode } from '../util/bytes.js';

// ---------------------------------------------------------------------------------------------
// Constants

/** Packet type names by fixed-header bits 7-4 (2.2.1, Table 2.1). 0 and 15 are reserved. */
const TYPE_NAMES = 'reserved connect connack publish puback pubrec pubrel pubcomp subscribe suback unsubscribe unsuback pingreq pingresp disconnect reserved'.split(' ');
/** Required fixed-header flags per type (2.2.2, Table 2.2); PUBLISH (3) carries DUP/QoS/RETAIN. */
const TYPE_FLAGS = new Uint8Array([0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0]);
const PUBLISH = 3;
/** PUBLISH fixed-header bits (3.3.1). */
const FLAG_DUP = 8;
const FLAG_RETAIN = 1;
/** Remaining Length: at most 4 bytes of 7 bits (2.2.3). */
export const MQTT_MAX_REMAINING_LENGTH = 268435455;
/** Largest whole packet: type byte + 4 length bytes + the largest Remaining Length. */
export const MQTT_MAX_PACKET_SIZE = 268435460;
/** UTF-8 strings and binary fields carry a 16-bit length (1.5.3); packet ids are 16-bit (2.3.1). */
const MAX_U16 = 65535;
/** CONNECT variable header (3.1.2.1, 3.1.2.2): protocol name "MQTT", level 4 = 3.1.1. */
const PROTOCOL_NAME = 'MQTT';
export const MQTT_PROTOCOL_LEVEL = 4;
/** CONNECT flag bits (3.1.2.3, Figure 3.4). */
const CF_USERNAME = 0x80;
const CF_PASSWORD = 0x40;
const CF_WILL_RETAIN = 0x20;
const CF_WILL = 0x04;
const CF_CLEAN = 0x02;
const CF_RESERVED = 0x01;
/** CONNACK return codes (3.2.2.3, Table 3.1); 6-255 are reserved. */
export const CONNACK_CODES = [
  'accepted',
  'unacceptable protocol version',
  'identifier rejected',
  'server unavailable',
  'bad user name or password',
  'not authorized',
];
/** SUBACK return code for a refused subscription (3.9.3); 0-2 are the granted QoS. */
export const SUBACK_FAILURE = 0x80;

/** What makes a packet malformed, each quoting its clause; decode errors carry these texts. */
const RULE = {
  TYPE: '[MQTT 2.2.1] packet types 0 and 15 are reserved',
  FLAGS: '[MQTT-2.2.2-1] reserved fixed-header flags must be as in Table 2.2',
  LENGTH: '[MQTT 2.2.3] Remaining Length takes at most 4 bytes',
  SIZE: '[MQTT 2.2.3] Remaining Length must match the packet contents',
  PACKET_ID: '[MQTT-2.3.1-1] packet identifier must be non-zero',
  UTF8: '[MQTT-1.5.3-1] strings must be well-formed UTF-8',
  NUL: '[MQTT-1.5.3-2] strings must not contain U+0000',
  PROTOCOL: '[MQTT-3.1.2-1] protocol name must be "MQTT"',
  LEVEL: '[MQTT-3.1.2-2] protocol level must be 4 (MQTT 3.1.1)',
  CONNECT_RESERVED: '[MQTT-3.1.2-3] CONNECT reserved flag must be 0',
  WILL_QOS_ZERO: '[MQTT-3.1.2-13] Will QoS must be 0 without the Will flag',
  WILL_QOS: '[MQTT-3.1.2-14] Will QoS must not be 3',
  WILL_RETAIN: '[MQTT-3.1.2-15] Will Retain must be 0 without the Will flag',
  PASSWORD: '[MQTT-3.1.2-22] password flag requires the user name flag',
  CLIENT_ID: '[MQTT-3.1.3-7] an empty client id requires clean session',
  CONNACK_FLAGS: '[MQTT 3.2.2.1] CONNACK flag bits 7-1 are reserved and must be 0',
  CONNACK_SESSION: '[MQTT-3.2.2-4] Session Present must be 0 with a non-zero return code',
  CONNACK_CODE: '[MQTT 3.2.2.3] CONNACK return codes 6-255 are reserved',
  DUP: '[MQTT-3.3.1-2] DUP must be 0 for QoS 0',
  QOS: '[MQTT-3.3.1-4] QoS must not be 3',
  TOPIC_WILDCARD: '[MQTT-3.3.2-2] topic names must not contain wildcards',
  TOPIC_EMPTY: '[MQTT-4.7.3-1] topic names and filters must be at least one character',
  FILTER: '[MQTT-4.7.1-2] "#" must be last and alone in its level, "+" alone in its level',
  SUB_EMPTY: '[MQTT-3.8.3-3] SUBSCRIBE must carry at least one topic filter',
  SUB_QOS: '[MQTT-3-8.3-4] requested QoS must be 0, 1 or 2 with reserved bits 0',
  SUBACK_CODE: '[MQTT-3.9.3-2] SUBACK return codes must be 0, 1, 2 or 0x80',
  UNSUB_EMPTY: '[MQTT-3.10.3-2] UNSUBSCRIBE must carry at least one topic filter',
};

function malformed(rule: string, detail: string): CodedError {
  return err('E_MQTT_MALFORMED', rule + ': ' + detail);
}
function invalid(rule: string, detail: string): CodedError {
  return err('E_MQTT_INVALID', rule + ': ' + detail, RANGE_ERROR);
}

// ---------------------------------------------------------------------------------------------
// Packet objects

export type QoS = 0 | 1 | 2;
export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
}
export interface ConnectPacket {
  type: 'connect';
  clientId: string;
  /** Seconds; 0 disables keep-alive (3.1.2.10). */
  keepAlive: number;
  clean: boolean;
  username?: string;
  password?: Uint8Array;
  will?: Will;
}
export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  returnCode: number;
}
export interface PublishPacket {
  type: 'publish';
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present exactly when qos > 0. */
  packetId?: number;
}
export interface IdPacket {
  type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp' | 'unsuback';
  packetId: number;
}
export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: { topic: string; qos: QoS }[];
}
export interface SubackPacket {
  type: 'suback';
  packetId: number;
  /** Granted QoS per filter, or SUBACK_FAILURE. */
  granted: number[];
}
export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  topics: string[];
}
export interface EmptyPacket {
  type: 'pingreq' | 'pingresp' | 'disconnect';
}
export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | IdPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | EmptyPacket;

// ---------------------------------------------------------------------------------------------
// Encoding

function typeNumber(name: string): number {
  for (let i = 1; i < 15; i++) if (TYPE_NAMES[i] === name) return i;
  throw err('E_TYPE', '"type" expected an MQTT packet type name, got ' + String(name), TypeError);
}

/** UTF-8 bytes of a string field, checked for length and U+0000. */
function strBytes(name: string, s: unknown): Uint8Array {
  if (typeof s !== 'string') throw err('E_TYPE', '"' + name + '" expected string, got ' + typeof s, TypeError);
  if (s.indexOf('\u0000') >= 0) throw invalid(RULE.NUL, '"' + name + '"');
  const b = utf8Encode(s);
  if (b.length > MAX_U16) throw err('E_RANGE', '"' + name + '" expected at most 65535 UTF-8 bytes, got ' + b.length, RANGE_ERROR);
  return b;
}

function topicName(name: string, t: unknown): Uint8Array {
  const b = strBytes(name, t);
  if (b.length === 0) throw invalid(RULE.TOPIC_EMPTY, '"' + name + '" is empty');
  if ((t as string).indexOf('+') >= 0 || (t as string).indexOf('#') >= 0) throw invalid(RULE.TOPIC_WILDCARD, '"' + name + '" is ' + t);
  return b;
}

function topicFilter(name: string, f: unknown): Uint8Array {
  const b = strBytes(name, f);
  if (b.length === 0) throw invalid(RULE.TOPIC_EMPTY, '"' + name + '" is empty');
  const levels = (f as string).split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    const hash = l.indexOf('#') >= 0;
    if ((hash && (l !== '#' || i !== levels.length - 1)) || (l.indexOf('+') >= 0 && l !== '+'))
      throw invalid(RULE.FILTER, '"' + name + '" is ' + f);
  }
  return b;
}

function aqos(name: string, q: unknown): QoS {
  return aint(name, q, 0, 2) as QoS;
}

function abool(name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw err('E_TYPE', '"' + name + '" expected boolean, got ' + typeof v, TypeError);
  return v;
}

/** Sequential writer over one preallocated buffer. */
interface Out {
  b: Uint8Array;
  o: number;
}
function u8(w: Out, v: number): void {
  w.b[w.o++] = v;
}
function u16(w: Out, v: number): void {
  w.b[w.o++] = v >> 8;
  w.b[w.o++] = v & 255;
}
function field(w: Out, data: Uint8Array): void {
  u16(w, data.length);
  w.b.set(data, w.o);
  w.o += data.length;
}

/** Allocate header + `rem` bytes and write the fixed header (2.2). */
function start(first: number, rem: number): Out {
  if (rem > MQTT_MAX_REMAINING_LENGTH)
    throw err('E_RANGE', 'packet expected at most ' + MQTT_MAX_REMAINING_LENGTH + ' bytes after the fixed header, got ' + rem, RANGE_ERROR);
  let n = 1;
  for (let r = rem; r >= 128; r = Math.floor(r / 128)) n++;
  const w: Out = { b: new Uint8Array(1 + n + rem), o: 0 };
  u8(w, first);
  let r = rem;
  do {
    let d = r % 128;
    r = Math.floor(r / 128);
    if (r > 0) d |= 128;
    u8(w, d);
  } while (r > 0);
  return w;
}

function packetIdOf(p: { packetId?: unknown }): number {
  return aint('packetId', p.packetId, 1, MAX_U16);
}

/** Encode one packet into a fresh Uint8Array; throws TypeError/RangeError naming the field. */
export function encode(p: Packet): Uint8Array {
  if (p === null || typeof p !== 'object') throw err('E_TYPE', '"packet" expected object, got ' + typeof p, TypeError);
  const t = typeNumber(p.type);
  const fixed = t << 4;
  switch (p.type) {
    case 'connect': {
      const id = strBytes('clientId', p.clientId);
      const clean = abool('clean', p.clean);
      if (id.length === 0 && !clean) throw invalid(RULE.CLIENT_ID, '"clientId" is empty');
      const keepAlive = aint('keepAlive', p.keepAlive, 0, MAX_U16);
      const name = utf8Encode(PROTOCOL_NAME);
      let flags = clean ? CF_CLEAN : 0;
      let rem = 2 + name.length + 4 + 2 + id.length;
      const will = p.will;
      let wt: Uint8Array | undefined, wp: Uint8Array | undefined;
      if (will !== undefined) {
        if (will === null || typeof will !== 'object') throw err('E_TYPE', '"will" expected object, got ' + typeof will, TypeError);
        wt = topicName('will.topic', will.topic);
        wp = abytes('will.payload', will.payload);
        if (wp.length > MAX_U16) throw err('E_RANGE', '"will.payload" expected at most 65535 bytes, got ' + wp.length, RANGE_ERROR);
        flags |= CF_WILL | (aqos('will.qos', will.qos) << 3) | (abool('will.retain', will.retain) ? CF_WILL_RETAIN : 0);
        rem += 4 + wt.length + wp.length;
      }
      let user: Uint8Array | undefined, pass: Uint8Array | undefined;
      if (p.username !== undefined) {
        user = strBytes('username', p.username);
        flags |= CF_USERNAME;
        rem += 2 + user.length;
      }
      if (p.password !== undefined) {
        pass = abytes('password', p.password);
        if (user === undefined) throw invalid(RULE.PASSWORD, '"password" given without "username"');
        if (pass.length > MAX_U16) throw err('E_RANGE', '"password" expected at most 65535 bytes, got ' + pass.length, RANGE_ERROR);
        flags |= CF_PASSWORD;
        rem += 2 + pass.length;
      }
      const w = start(fixed, rem);
      field(w, name);
      u8(w, MQTT_PROTOCOL_LEVEL);
      u8(w, flags);
      u16(w, keepAlive);
      field(w, id);
      if (wt && wp) field(w, wt), field(w, wp);
      if (user) field(w, user);
      if (pass) field(w, pass);
      return w.b;
    }
    case 'connack': {
      const code = aint('returnCode', p.returnCode, 0, CONNACK_CODES.length - 1);
      const sp = abool('sessionPresent', p.sessionPresent);
      if (sp && code !== 0) throw invalid(RULE.CONNACK_SESSION, 'return code ' + code);
      const w = start(fixed, 2);
      u8(w, sp ? 1 : 0);
      u8(w, code);
      return w.b;
    }
    case 'publish': {
      const topic = topicName('topic', p.topic);
      const payload = abytes('payload', p.payload);
      const qos = aqos('qos', p.qos);
      const dup = abool('dup', p.dup);
      if (dup && qos === 0) throw invalid(RULE.DUP, '"dup" is true');
      const id = qos > 0 ? packetIdOf(p) : 0;
      const w = start(fixed | (dup ? FLAG_DUP : 0) | (qos << 1) | (abool('retain', p.retain) ? FLAG_RETAIN : 0), 2 + topic.length + (qos > 0 ? 2 : 0) + payload.length);
      field(w, topic);
      if (qos > 0) u16(w, id);
      w.b.set(payload, w.o);
      return w.b;
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback': {
      const w = start(fixed | TYPE_FLAGS[t], 2);
      u16(w, packetIdOf(p));
      return w.b;
    }
    case 'subscribe': {
      const id = packetIdOf(p);
      const subs = p.subscriptions;
      if (!Array.isArray(subs) || subs.length === 0) throw invalid(RULE.SUB_EMPTY, '"subscriptions" is empty');
      const filters: Uint8Array[] = [];
      let rem = 2;
      for (let i = 0; i < subs.length; i++) {
        if (subs[i] === null || typeof subs[i] !== 'object')
          throw err('E_TYPE', '"subscriptions[' + i + ']" expected object, got ' + typeof subs[i], TypeError);
        filters.push(topicFilter('subscriptions[' + i + '].topic', subs[i].topic));
        aqos('subscriptions[' + i + '].qos', subs[i].qos);
        rem += 3 + filters[i].length;
      }
      const w = start(fixed | TYPE_FLAGS[t], rem);
      u16(w, id);
      for (let i = 0; i < subs.length; i++) field(w, filters[i]), u8(w, subs[i].qos);
      return w.b;
    }
    case 'suback': {
      const id = packetIdOf(p);
      const g = p.granted;
      if (!Array.isArray(g) || g.length === 0) throw invalid(RULE.SUBACK_CODE, '"granted" is empty');
      for (let i = 0; i < g.length; i++)
        if (g[i] !== 0 && g[i] !== 1 && g[i] !== 2 && g[i] !== SUBACK_FAILURE) throw invalid(RULE.SUBACK_CODE, '"granted[' + i + ']" is ' + g[i]);
      const w = start(fixed, 2 + g.length);
      u16(w, id);
      for (let i = 0; i < g.length; i++) u8(w, g[i]);
      return w.b;
    }
    case 'unsubscribe': {
      const id = packetIdOf(p);
      const ts = p.topics;
      if (!Array.isArray(ts) || ts.length === 0) throw invalid(RULE.UNSUB_EMPTY, '"topics" is empty');
      const filters: Uint8Array[] = [];
      let rem = 2;
      for (let i = 0; i < ts.length; i++) {
        filters.push(topicFilter('topics[' + i + ']', ts[i]));
        rem += 2 + filters[i].length;
      }
      const w = start(fixed | TYPE_FLAGS[t], rem);
      u16(w, id);
      for (let i = 0; i < filters.length; i++) field(w, filters[i]);
      return w.b;
    }
    default:
      return start(fixed, 0).b;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding one complete packet: fixed-header byte + the Remaining Length bytes.

/** Sequential reader over one packet body; every read is bounds-checked. */
interface In {
  b: Uint8Array;
  o: number;
  name: string;
}
function need(r: In, n: number): void {
  if (r.o + n > r.b.length) throw malformed(RULE.SIZE, r.name + ' ends after ' + r.b.length + ' bytes, wanted ' + (r.o + n));
}
function rd8(r: In): number {
  need(r, 1);
  return r.b[r.o++];
}
function rd16(r: In): number {
  need(r, 2);
  const v = (r.b[r.o] << 8) | r.b[r.o + 1];
  r.o += 2;
  return v;
}
function rdBytes(r: In): Uint8Array {
  const n = rd16(r);
  need(r, n);
  const v = r.b.subarray(r.o, r.o + n);
  r.o += n;
  return v;
}
/** U+0100 in UTF-8: decodes where strings hold wide characters, fails where they are truncated. */
const WIDE_PROBE = new Uint8Array([0xc4, 0x80]);

/**
 * Strict UTF-8 decode for platforms whose String.fromCharCode keeps only the low byte
 * (Espruino on ESP32): characters above U+00FF become '?'. Refusing such a topic instead would
 * drop the connection, and the broker would redeliver the same message after every reconnect.
 * Ill-formed input is still undefined.
 */
function narrowText(b: Uint8Array): string | undefined {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i++];
    if (c < 0x80) {
      s += String.fromCharCode(c);
      continue;
    }
    const need = (c & 0xe0) === 0xc0 ? 1 : (c & 0xf0) === 0xe0 ? 2 : (c & 0xf8) === 0xf0 ? 3 : 0;
    if (need === 0 || i + need > b.length) return undefined;
    let cp = c & (0x3f >> need);
    for (let k = 0; k < need; k++) {
      const d = b[i++];
      if ((d & 0xc0) !== 0x80) return undefined;
      cp = (cp << 6) | (d & 63);
    }
    if (cp < (need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
    s += cp <= 0xff ? String.fromCharCode(cp) : '?';
  }
  return s;
}

function rdStr(r: In, what: string): string {
  const b = rdBytes(r);
  let s = utf8Decode(b);
  if (s === undefined && utf8Decode(WIDE_PROBE) === undefined) s = narrowText(b);
  if (s === undefined) throw malformed(RULE.UTF8, r.name + ' ' + what);
  if (s.indexOf('\u0000') >= 0) throw malformed(RULE.NUL, r.name + ' ' + what);
  return s;
}
function rdId(r: In): number {
  const id = rd16(r);
  if (id === 0) throw malformed(RULE.PACKET_ID, r.name);
  return id;
}
function end(r: In): void {
  if (r.o !== r.b.length) throw malformed(RULE.SIZE, r.name + ' has ' + (r.b.length - r.o) + ' unexpected trailing bytes');
}
function rdQos(r: In, rule: string, what: string): QoS {
  const q = rd8(r);
  if (q > 2) throw malformed(rule, r.name + ' ' + what + ' byte is ' + q);
  return q as QoS;
}

/** Validate the first byte of a packet (type and flags) as soon as it arrives. */
function checkFirst(first: number): void {
  const t = first >> 4;
  const flags = first & 15;
  if (t === 0 || t === 15) throw malformed(RULE.TYPE, 'got ' + t);
  if (t === PUBLISH) {
    const qos = (flags >> 1) & 3;
    if (qos === 3) throw malformed(RULE.QOS, 'PUBLISH flags ' + flags);
    if (qos === 0 && flags & FLAG_DUP) throw malformed(RULE.DUP, 'PUBLISH flags ' + flags);
  } else if (flags !== TYPE_FLAGS[t]) throw malformed(RULE.FLAGS, TYPE_NAMES[t].toUpperCase() + ' flags ' + flags + ', expected ' + TYPE_FLAGS[t]);
}

function decodeBody(first: number, body: Uint8Array): Packet {
  const t = first >> 4;
  const type = TYPE_NAMES[t];
  const r: In = { b: body, o: 0, name: type.toUpperCase() };
  let p: Packet;
  switch (type) {
    case 'connect': {
      const proto = rdStr(r, 'protocol name');
      if (proto !== PROTOCOL_NAME) throw malformed(RULE.PROTOCOL, 'got "' + proto + '"');
      const level = rd8(r);
      if (level !== MQTT_PROTOCOL_LEVEL) throw malformed(RULE.LEVEL, 'got ' + level);
      const flags = rd8(r);
      if (flags & CF_RESERVED) throw malformed(RULE.CONNECT_RESERVED, 'flags ' + flags);
      const wq = (flags >> 3) & 3;
      if (!(flags & CF_WILL) && wq) throw malformed(RULE.WILL_QOS_ZERO, 'flags ' + flags);
      if (!(flags & CF_WILL) && flags & CF_WILL_RETAIN) throw malformed(RULE.WILL_RETAIN, 'flags ' + flags);
      if (wq === 3) throw malformed(RULE.WILL_QOS, 'flags ' + flags);
      if (flags & CF_PASSWORD && !(flags & CF_USERNAME)) throw malformed(RULE.PASSWORD, 'flags ' + flags);
      const c: ConnectPacket = { type: 'connect', clientId: '', keepAlive: rd16(r), clean: (flags & CF_CLEAN) !== 0 };
      c.clientId = rdStr(r, 'client id');
      if (flags & CF_WILL) {
        const topic = rdStr(r, 'will topic');
        c.will = { topic: topic, payload: rdBytes(r), qos: wq as QoS, retain: (flags & CF_WILL_RETAIN) !== 0 };
      }
      if (flags & CF_USERNAME) c.username = rdStr(r, 'user name');
      if (flags & CF_PASSWORD) c.password = rdBytes(r);
      p = c;
      break;
    }
    case 'connack': {
      const f = rd8(r);
      const code = rd8(r);
      if (f & 0xfe) throw malformed(RULE.CONNACK_FLAGS, 'got ' + f);
      if (code >= CONNACK_CODES.length) throw malformed(RULE.CONNACK_CODE, 'got ' + code);
      if (f && code) throw malformed(RULE.CONNACK_SESSION, 'return code ' + code);
      p = { type: 'connack', sessionPresent: f === 1, returnCode: code };
      break;
    }
    case 'publish': {
      const qos = ((first >> 1) & 3) as QoS;
      const topic = rdStr(r, 'topic');
      if (topic.length === 0) throw malformed(RULE.TOPIC_EMPTY, 'PUBLISH topic');
      if (topic.indexOf('+') >= 0 || topic.indexOf('#') >= 0) throw malformed(RULE.TOPIC_WILDCARD, 'got ' + topic);
      const pub: PublishPacket = { type: 'publish', topic: topic, payload: body, qos: qos, retain: (first & FLAG_RETAIN) !== 0, dup: (first & FLAG_DUP) !== 0 };
      if (qos > 0) pub.packetId = rdId(r);
      pub.payload = body.subarray(r.o);
      r.o = body.length;
      p = pub;
      break;
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      p = { type: type, packetId: rdId(r) } as IdPacket;
      break;
    case 'subscribe': {
      const s: SubscribePacket = { type: 'subscribe', packetId: rdId(r), subscriptions: [] };
      if (r.o === body.length) throw malformed(RULE.SUB_EMPTY, 'no topic filter');
      while (r.o < body.length) {
        const topic = rdStr(r, 'topic filter');
        s.subscriptions.push({ topic: topic, qos: rdQos(r, RULE.SUB_QOS, 'requested QoS') });
      }
      p = s;
      break;
    }
    case 'suback': {
      const s: SubackPacket = { type: 'suback', packetId: rdId(r), granted: [] };
      if (r.o === body.length) throw malformed(RULE.SUBACK_CODE, 'no return code');
      while (r.o < body.length) {
        const g = rd8(r);
        if (g > 2 && g !== SUBACK_FAILURE) throw malformed(RULE.SUBACK_CODE, 'got ' + g);
        s.granted.push(g);
      }
      p = s;
      break;
    }
    case 'unsubscribe': {
      const u: UnsubscribePacket = { type: 'unsubscribe', packetId: rdId(r), topics: [] };
      if (r.o === body.length) throw malformed(RULE.UNSUB_EMPTY, 'no topic filter');
      while (r.o < body.length) u.topics.push(rdStr(r, 'topic filter'));
      p = u;
      break;
    }
    default:
      p = { type: type } as EmptyPacket;
  }
  end(r);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Resumable parser

export interface ParserOptions {
  /** Hard bound on one whole packet (fixed header included); larger is E_MQTT_TOO_LARGE. */
  maxPacketSize: number;
  /** Called once per complete packet, in order. Must not throw. */
  onPacket(p: Packet): void;
}
export interface Parser {
  /**
   * Feed bytes as they arrive, split anywhere. Throws E_MQTT_MALFORMED (message quotes the
   * clause) or E_MQTT_TOO_LARGE; after that every push throws the same error until reset().
   */
  push(chunk: Uint8Array): void;
  /** Forget any partial packet and a previous error (for a new connection). */
  reset(): void;
  /** Bytes held of a packet not yet complete (0 between packets). */
  pending(): number;
}

const EMPTY = new Uint8Array(0);

export function createParser(opts: ParserOptions): Parser {
  if (opts === null || typeof opts !== 'object') throw err('E_TYPE', '"opts" expected object, got ' + typeof opts, TypeError);
  const max = aint('maxPacketSize', opts.maxPacketSize, 2, MQTT_MAX_PACKET_SIZE);
  const onPacket = opts.onPacket;
  if (typeof onPacket !== 'function') throw err('E_TYPE', '"onPacket" expected function, got ' + typeof onPacket, TypeError);
  // stage 0: want the first byte; 1: Remaining Length bytes; 2: body bytes.
  let stage = 0;
  let first = 0;
  let len = 0;
  let mul = 1;
  let lenBytes = 0;
  let body = EMPTY;
  let have = 0;
  let failed: CodedError | undefined;

  function reset(): void {
    stage = 0;
    body = EMPTY;
    failed = undefined;
  }
  function fail(e: CodedError): never {
    body = EMPTY;
    failed = e;
    throw e;
  }
  function complete(b: Uint8Array): void {
    stage = 0;
    body = EMPTY;
    let p: Packet;
    try {
      p = decodeBody(first, b);
    } catch (e) {
      return fail(e as CodedError);
    }
    onPacket(p);
  }
  function push(chunk: Uint8Array): void {
    abytes('chunk', chunk);
    if (failed) throw failed;
    const n = chunk.length;
    let i = 0;
    while (i < n && !failed) {
      if (stage === 0) {
        first = chunk[i++];
        try {
          checkFirst(first);
        } catch (e) {
          fail(e as CodedError);
        }
        len = 0;
        mul = 1;
        lenBytes = 0;
        stage = 1;
      } else if (stage === 1) {
        const d = chunk[i++];
        len += (d & 127) * mul;
        mul *= 128;
        lenBytes++;
        if (d & 128) {
          if (lenBytes === 4) fail(malformed(RULE.LENGTH, 'a fifth length byte follows'));
          continue;
        }
        if (1 + lenBytes + len > max)
          fail(err('E_MQTT_TOO_LARGE', TYPE_NAMES[first >> 4].toUpperCase() + ' of ' + (1 + lenBytes + len) + ' bytes exceeds maxPacketSize ' + max, RANGE_ERROR));
        if (len === 0) complete(EMPTY);
        else {
          body = new Uint8Array(len);
          have = 0;
          stage = 2;
        }
      } else {
        const take = Math.min(n - i, len - have);
        body.set(take === n && i === 0 ? chunk : chunk.subarray(i, i + take), have);
        have += take;
        i += take;
        if (have === len) complete(body);
      }
    }
  }
  function pending(): number {
    return stage === 0 ? 0 : stage === 1 ? 1 + lenBytes : 1 + lenBytes + have;
  }
  return { push: push, reset: reset, pending: pending };
}

/** Decode exactly one complete packet (tests, tools). Throws E_MQTT_MALFORMED on leftovers. */
export function decode(bytes: Uint8Array, maxPacketSize?: number): Packet {
  const out: Packet[] = [];
  const p = createParser({ maxPacketSize: maxPacketSize || MQTT_MAX_PACKET_SIZE, onPacket: (x) => out.push(x) });
  p.push(bytes);
  if (out.length !== 1 || p.pending()) throw malformed(RULE.SIZE, out.length ? 'trailing bytes after the packet' : 'incomplete packet of ' + bytes.length + ' bytes');
  return out[0];
}
