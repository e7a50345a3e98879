// MQTT 3.1.1 session client for the device: one connection at a time, QoS 0 and 1, a bounded
// QoS 1 in-flight window and a bounded queue behind it, keep-alive, and reconnection with
// full-jitter backoff. Bytes go through codec/mqtt.ts; sockets, timers, time and randomness
// come from the host, so this file runs unchanged on Espruino and on Node.
//
// States (`client.state`) and what moves between them:
//
//   DISCONNECTED --start()--> CONNECTING        a socket is opened; CONNECT goes out on onConnect;
//                                               connectTimeoutMs covers socket + CONNACK
//   CONNECTING --CONNACK 0--> CONNECTED         subscriptions are (re)sent when the broker has no
//                                               session, unacknowledged QoS 1 publishes are resent
//                                               with DUP=1 under their packet ids [MQTT-4.4.0-1],
//                                               then the queue drains into the window
//   CONNECTING --CONNACK 1..5, connect timeout,
//                socket error/close, malformed--> BACKOFF
//   CONNECTED --keep-alive timeout, socket error/close,
//               malformed or unexpected packet--> BACKOFF
//   BACKOFF --timer--> CONNECTING               delay = random(0, min(maxMs, minMs * factor^n)),
//                                               n failed attempts since the last CONNACK 0;
//                                               refusals that retrying cannot fix (CONNACK 1, 2,
//                                               4, 5) wait maxMs
//   any --stop()--> DISCONNECTED                DISCONNECT is sent first when CONNECTED
//
// Nothing here throws into a socket or timer callback: failures close the connection, are
// counted in `stats` and logged, and the client reconnects. Publishes, their packet ids and
// subscriptions survive reconnects and stop()/start().

import type { Clock, Entropy, Log, Socket, SocketFactory, TimerHandle, Timers } from '../host.js';
import { err, abytes, aint, RANGE_ERROR } from '../util/errors.js';
import { createParser, encode, CONNACK_CODES, SUBACK_FAILURE } from '../codec/mqtt.js';
import type { ConnectPacket, Packet, Parser, PublishPacket } from '../codec/mqtt.js';

// ---------------------------------------------------------------------------------------------
// Configuration

export type MqttState = 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED' | 'BACKOFF';

export interface MqttReconnect {
  /** First backoff ceiling. */
  minMs: number;
  /** Largest delay; also the wait after a refusal that retrying cannot fix. */
  maxMs: number;
  /** Growth of the ceiling per failed attempt. */
  factor: number;
}

export interface MqttWill {
  topic: string;
  payload: Uint8Array;
  qos?: 0 | 1;
  retain?: boolean;
}

export interface MqttClientOptions {
  host: string;
  port: number;
  tls?: boolean;
  /** PEM CA where the platform verifies (Node). */
  ca?: string;
  clientId: string;
  username?: string;
  password?: Uint8Array;
  /** false (default): the broker keeps subscriptions and unacknowledged messages across links. */
  cleanSession?: boolean;
  /** Seconds; PINGREQ after this long without traffic either way. 0 disables keep-alive. */
  keepAliveS?: number;
  /** A PINGREQ unanswered (by any packet) this long means the link is dead. */
  pingTimeoutMs?: number;
  /** From opening the socket to CONNACK. */
  connectTimeoutMs?: number;
  /** QoS 1 publishes sent and not yet acknowledged. */
  maxInflight?: number;
  /** Publishes waiting behind the window (or for a connection); beyond it publish() throws. */
  maxQueued?: number;
  /** Subscriptions kept for resubscribing, and unsubscribes awaiting their ack. */
  maxSubscriptions?: number;
  /** Largest packet sent or accepted, fixed header included. */
  maxPacketSize?: number;
  reconnect?: Partial<MqttReconnect>;
  will?: MqttWill;
  /** Incoming PUBLISH; QoS 1 is acknowledged after this returns. */
  onMessage?(topic: string, payload: Uint8Array, packet: PublishPacket): void;
  /** A QoS 1 publish was acknowledged by PUBACK (QoS 0: written to the socket). */
  onAck?(handle: number): void;
  onState?(state: MqttState, reason: string): void;
}

/** Defaults for every bound; each is overridable in MqttClientOptions. */
export const MQTT_CLIENT_DEFAULTS = {
  keepAliveS: 60,
  pingTimeoutMs: 10000,
  connectTimeoutMs: 15000,
  maxInflight: 8,
  maxQueued: 32,
  maxSubscriptions: 8,
  maxPacketSize: 16384,
  reconnect: { minMs: 1000, maxMs: 60000, factor: 2 },
};

/** CONNACK codes worth retrying at the normal pace (3.2.2.3): only 3, server unavailable. */
const CONNACK_SERVER_UNAVAILABLE = 3;
/** PUBLISH DUP flag in the first byte (3.3.1.1). */
const DUP_BIT = 8;

export type MqttDisconnectReason =
  | 'socket_closed'
  | 'socket_error'
  | 'connect_timeout'
  | 'keepalive_timeout'
  | 'refused'
  | 'malformed'
  | 'too_large'
  | 'protocol'
  | 'stopped';

export interface MqttStats {
  /** Connection attempts (sockets opened). */
  attempts: number;
  /** CONNACK 0 received. */
  connects: number;
  /** CONNACK 0 after the first one. */
  reconnects: number;
  /** CONNACK with a refusal, and the last refusal's code (0: none yet). */
  refused: number;
  lastRefusal: number;
  /** Malformed packets received (each closed the connection). */
  malformed: number;
  disconnects: Record<MqttDisconnectReason, number>;
  lastReason: string;
  /** Delay chosen for the pending reconnect. */
  backoffMs: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  inflight: number;
  queued: number;
}

// ---------------------------------------------------------------------------------------------
// Internal records

interface Outgoing {
  handle: number;
  /** Packet id, 0 for QoS 0. */
  id: number;
  /** The encoded PUBLISH; only the DUP bit changes on resend. */
  bytes: Uint8Array;
  sent: boolean;
  done?: (handle: number) => void;
}

interface Sub {
  topic: string;
  qos: 0 | 1;
  /** Packet id of the SUBSCRIBE awaiting its SUBACK, 0 when none. */
  id: number;
  /** Granted QoS once acknowledged, -1 before. */
  granted: number;
  cb?: (e: Error | undefined, granted: number) => void;
}

interface Unsub {
  topic: string;
  id: number;
  sent: boolean;
  cb?: (e: Error | undefined) => void;
}

interface Conn {
  sock: Socket | undefined;
  parser: Parser;
  timer: TimerHandle | undefined;
}

function str(name: string, v: unknown): string {
  if (typeof v !== 'string') throw err('E_TYPE', '"' + name + '" expected string, got ' + typeof v, TypeError);
  return v;
}

function num(name: string, v: unknown, def: number, min: number, max: number): number {
  return aint(name, v === undefined ? def : v, min, max);
}

// ---------------------------------------------------------------------------------------------
// The client

export class MqttClient {
  state: MqttState = 'DISCONNECTED';
  readonly stats: MqttStats;

  private readonly socket: SocketFactory;
  private readonly timers: Timers;
  private readonly clock: Clock;
  private readonly entropy: Entropy;
  private readonly log: Log;
  private readonly o: MqttClientOptions;
  private readonly keepAliveMs: number;
  private readonly pingTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxInflight: number;
  private readonly maxQueued: number;
  private readonly maxSubs: number;
  private readonly maxPacketSize: number;
  private readonly backoff: MqttReconnect;

  private conn: Conn | undefined;
  private retryTimer: TimerHandle | undefined;
  private attempt = 0;
  private inflight: Outgoing[] = [];
  private queue: Outgoing[] = [];
  private subs: Sub[] = [];
  private unsubs: Unsub[] = [];
  private seq = 0;
  private nextId = 0;
  private lastIn = 0;
  private lastOut = 0;
  private pingAt = 0;

  constructor(host: { socket: SocketFactory; timers: Timers; clock: Clock; entropy: Entropy; log: Log }, options: MqttClientOptions) {
    if (host === null || typeof host !== 'object') throw err('E_TYPE', '"host" expected object, got ' + typeof host, TypeError);
    if (options === null || typeof options !== 'object') throw err('E_TYPE', '"options" expected object, got ' + typeof options, TypeError);
    this.socket = host.socket;
    this.timers = host.timers;
    this.clock = host.clock;
    this.entropy = host.entropy;
    this.log = host.log;
    const D = MQTT_CLIENT_DEFAULTS;
    const o = options;
    str('host', o.host);
    aint('port', o.port, 1, 65535);
    str('clientId', o.clientId);
    if (o.username !== undefined) str('username', o.username);
    if (o.password !== undefined) abytes('password', o.password);
    this.keepAliveMs = num('keepAliveS', o.keepAliveS, D.keepAliveS, 0, 65535) * 1000;
    this.pingTimeoutMs = num('pingTimeoutMs', o.pingTimeoutMs, D.pingTimeoutMs, 1, 3600000);
    this.connectTimeoutMs = num('connectTimeoutMs', o.connectTimeoutMs, D.connectTimeoutMs, 1, 3600000);
    this.maxInflight = num('maxInflight', o.maxInflight, D.maxInflight, 1, 65535);
    this.maxQueued = num('maxQueued', o.maxQueued, D.maxQueued, 0, 65535);
    this.maxSubs = num('maxSubscriptions', o.maxSubscriptions, D.maxSubscriptions, 0, 1000);
    this.maxPacketSize = num('maxPacketSize', o.maxPacketSize, D.maxPacketSize, 64, 268435460);
    const r = o.reconnect || {};
    const minMs = num('reconnect.minMs', r.minMs, D.reconnect.minMs, 1, 86400000);
    const maxMs = num('reconnect.maxMs', r.maxMs, D.reconnect.maxMs, minMs, 86400000);
    const factor = r.factor === undefined ? D.reconnect.factor : r.factor;
    if (typeof factor !== 'number' || !(factor >= 1 && factor <= 100))
      throw err('E_RANGE', '"reconnect.factor" expected a number in 1..100, got ' + String(factor), RANGE_ERROR);
    this.backoff = { minMs: minMs, maxMs: maxMs, factor: factor };
    if (o.will !== undefined && o.will !== null && typeof o.will === 'object') aint('will.qos', o.will.qos || 0, 0, 1);
    this.o = o;
    // Encoding CONNECT once checks the remaining fields (client id rules, Will, lengths) up front.
    encode(this.connectPacket());
    this.stats = {
      attempts: 0,
      connects: 0,
      reconnects: 0,
      refused: 0,
      lastRefusal: 0,
      malformed: 0,
      disconnects: { socket_closed: 0, socket_error: 0, connect_timeout: 0, keepalive_timeout: 0, refused: 0, malformed: 0, too_large: 0, protocol: 0, stopped: 0 },
      lastReason: '',
      backoffMs: 0,
      packetsIn: 0,
      packetsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      inflight: 0,
      queued: 0,
    };
  }

  // ---- public API ----

  /** Begin connecting (and keep reconnecting) until stop(). No-op unless DISCONNECTED. */
  start(): void {
    if (this.state !== 'DISCONNECTED') return;
    this.attempt = 0;
    this.open();
  }

  /** Send DISCONNECT when connected, close, and stay DISCONNECTED. Queued publishes are kept. */
  stop(): void {
    if (this.state === 'DISCONNECTED') return;
    if (this.state === 'CONNECTED') this.send({ type: 'disconnect' }); // a failed write schedules a retry, cleared next
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.conn) this.fail('stopped', 'stop()');
    else this.setState('DISCONNECTED', 'stop()');
  }

  /** True when publish() would accept one more message. */
  canPublish(): boolean {
    return this.queue.length < this.maxQueued;
  }

  /**
   * Queue a publish; returns its handle (1, 2, ...). QoS 1 completes on PUBACK, QoS 0 once
   * written; then `done(handle)` and options.onAck(handle) run. Throws E_MQTT_QUEUE_FULL when
   * maxQueued messages already wait, E_MQTT_TOO_LARGE above maxPacketSize.
   */
  publish(topic: string, payload: Uint8Array, opts?: { qos?: 0 | 1; retain?: boolean }, done?: (handle: number) => void): number {
    const qos = opts && opts.qos !== undefined ? aint('qos', opts.qos, 0, 1) : 0;
    if (!this.canPublish())
      throw err('E_MQTT_QUEUE_FULL', 'publish queue full: ' + this.queue.length + ' waiting (maxQueued ' + this.maxQueued + '), ' + this.inflight.length + ' in flight (maxInflight ' + this.maxInflight + ')');
    const id = qos ? this.allocId() : 0;
    const bytes = encode({ type: 'publish', topic: topic, payload: payload, qos: qos as 0 | 1, retain: !!(opts && opts.retain), dup: false, packetId: qos ? id : undefined });
    if (bytes.length > this.maxPacketSize)
      throw err('E_MQTT_TOO_LARGE', 'PUBLISH of ' + bytes.length + ' bytes exceeds maxPacketSize ' + this.maxPacketSize, RANGE_ERROR);
    const rec: Outgoing = { handle: ++this.seq, id: id, bytes: bytes, sent: false, done: done };
    this.queue.push(rec);
    this.pump();
    this.count();
    return rec.handle;
  }

  /** Subscribe (kept and re-sent after reconnects); cb gets the granted QoS or an error on 0x80. */
  subscribe(topic: string, qos?: 0 | 1, cb?: (e: Error | undefined, granted: number) => void): void {
    const q = aint('qos', qos === undefined ? 0 : qos, 0, 1) as 0 | 1;
    encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topic: topic, qos: q }] }); // validates the filter
    let s = this.findSub(topic);
    if (!s) {
      if (this.subs.length >= this.maxSubs)
        throw err('E_MQTT_TOO_MANY_SUBS', 'subscribe "' + topic + '": ' + this.subs.length + ' subscriptions already (maxSubscriptions ' + this.maxSubs + ')');
      s = { topic: topic, qos: q, id: 0, granted: -1 };
      this.subs.push(s);
    }
    s.qos = q;
    s.granted = -1;
    s.cb = cb;
    if (this.state === 'CONNECTED') this.sendSubscribe(s);
  }

  /** Unsubscribe; sent now when connected, else on the next connect if the broker kept the session. */
  unsubscribe(topic: string, cb?: (e: Error | undefined) => void): void {
    str('topic', topic);
    if (this.unsubs.length >= this.maxSubs)
      throw err('E_MQTT_TOO_MANY_SUBS', 'unsubscribe "' + topic + '": ' + this.unsubs.length + ' unsubscribes pending (maxSubscriptions ' + this.maxSubs + ')');
    const s = this.findSub(topic);
    if (s) this.subs.splice(this.subs.indexOf(s), 1);
    const u: Unsub = { topic: topic, id: this.allocId(), sent: false, cb: cb };
    this.unsubs.push(u);
    if (this.state === 'CONNECTED') this.sendUnsubscribe(u);
  }

  // ---- connection lifecycle ----

  private setState(s: MqttState, reason: string): void {
    this.state = s;
    this.announce(s, reason);
  }

  private announce(s: MqttState, reason: string): void {
    const cb = this.o.onState;
    if (cb) this.safe('onState', () => cb(s, reason));
  }

  private connectPacket(): Packet {
    const o = this.o;
    const p: ConnectPacket = { type: 'connect', clientId: o.clientId, keepAlive: this.keepAliveMs / 1000, clean: !!o.cleanSession };
    if (o.username !== undefined) p.username = o.username;
    if (o.password !== undefined) p.password = o.password;
    const w = o.will;
    if (w) p.will = { topic: w.topic, payload: w.payload, qos: w.qos || 0, retain: !!w.retain };
    return p;
  }

  private open(): void {
    const self = this;
    this.retryTimer = undefined;
    this.setState('CONNECTING', 'attempt ' + (this.attempt + 1));
    this.stats.attempts++;
    const conn: Conn = {
      sock: undefined,
      parser: createParser({ maxPacketSize: this.maxPacketSize, onPacket: (p) => self.onPacket(conn, p) }),
      timer: undefined,
    };
    this.conn = conn;
    conn.timer = this.later(this.connectTimeoutMs, () => {
      if (self.conn === conn) self.fail('connect_timeout', 'no CONNACK within ' + self.connectTimeoutMs + ' ms');
    });
    try {
      conn.sock = this.socket({
        host: this.o.host,
        port: this.o.port,
        tls: this.o.tls,
        ca: this.o.ca,
        onConnect: () => self.guard(conn, () => self.send(self.connectPacket())),
        onReadable: () => self.guard(conn, () => self.onReadable(conn)),
        onError: (e) => self.guard(conn, () => self.fail('socket_error', e && e.message ? e.message : String(e))),
        onClose: () => self.guard(conn, () => self.fail('socket_closed', 'closed by peer')),
      });
    } catch (e) {
      this.fail('socket_error', (e as Error).message);
    }
  }

  /** Run a socket callback for `conn` only while it is current; nothing escapes. */
  private guard(conn: Conn, fn: () => void): void {
    if (this.conn !== conn) return;
    try {
      fn();
    } catch (e) {
      this.log('error', 'mqtt: internal error: ' + ((e as Error).stack || e));
      if (this.conn === conn) this.fail('protocol', 'internal error: ' + (e as Error).message);
    }
  }

  private safe(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log('error', 'mqtt: ' + what + ' callback threw: ' + ((e as Error).message || e));
    }
  }

  private later(ms: number, fn: () => void): TimerHandle {
    const self = this;
    return this.timers.setTimeout(() => {
      try {
        fn();
      } catch (e) {
        self.log('error', 'mqtt: timer: ' + ((e as Error).stack || e));
      }
    }, ms);
  }

  private onReadable(conn: Conn): void {
    let data = conn.sock && conn.sock.read();
    while (data !== undefined && this.conn === conn) {
      this.stats.bytesIn += data.length;
      try {
        conn.parser.push(data);
      } catch (e) {
        const c = (e as { code?: string }).code;
        if (this.conn !== conn) return;
        if (c === 'E_MQTT_MALFORMED') this.stats.malformed++;
        this.fail(c === 'E_MQTT_TOO_LARGE' ? 'too_large' : c === 'E_MQTT_MALFORMED' ? 'malformed' : 'protocol', (e as Error).message);
        return;
      }
      data = this.conn === conn && conn.sock ? conn.sock.read() : undefined;
    }
  }

  /** The connection failed or was stopped: close it, keep all state, and schedule a retry. */
  private fail(reason: MqttDisconnectReason, detail: string, wait?: number): void {
    const conn = this.conn;
    if (!conn) return;
    this.conn = undefined;
    if (conn.timer !== undefined) this.timers.clearTimeout(conn.timer);
    try {
      if (conn.sock) conn.sock.close();
    } catch (e) {
      // Closing a broken socket may throw on some platforms; it is gone either way.
    }
    this.pingAt = 0;
    this.stats.disconnects[reason]++;
    this.stats.lastReason = reason + ': ' + detail;
    for (let i = 0; i < this.subs.length; i++) this.subs[i].id = 0;
    for (let i = 0; i < this.unsubs.length; i++) this.unsubs[i].sent = false;
    if (reason === 'stopped') {
      this.log('info', 'mqtt: stopped');
      this.setState('DISCONNECTED', detail);
      return;
    }
    const delay = wait !== undefined ? wait : this.jitter();
    this.attempt++;
    this.stats.backoffMs = delay;
    this.log(reason === 'refused' || reason === 'malformed' ? 'error' : 'warn', 'mqtt: ' + reason + ' (' + detail + '); retry in ' + delay + ' ms');
    this.setState('BACKOFF', reason);
    const self = this;
    this.retryTimer = this.later(delay, () => {
      if (self.state === 'BACKOFF') self.open();
    });
  }

  /** Full jitter: uniform in [0, min(maxMs, minMs * factor^attempt)). */
  private jitter(): number {
    const b = this.backoff;
    let cap = b.minMs;
    for (let i = 0; i < this.attempt && cap < b.maxMs; i++) cap *= b.factor;
    if (cap > b.maxMs) cap = b.maxMs;
    const r = this.entropy.randomBytes(4);
    const u = (r[0] * 16777216 + r[1] * 65536 + r[2] * 256 + r[3]) / 4294967296;
    return Math.floor(u * cap);
  }

  private connected(sessionPresent: boolean): void {
    const conn = this.conn as Conn;
    if (conn.timer !== undefined) this.timers.clearTimeout(conn.timer);
    conn.timer = undefined;
    this.attempt = 0;
    this.stats.connects++;
    if (this.stats.connects > 1) this.stats.reconnects++;
    this.log('info', 'mqtt: connected to ' + this.o.host + ':' + this.o.port + (sessionPresent ? ' (session present)' : ''));
    // The state is set now (pump() sends only when CONNECTED) but announced at the end: a
    // publish from onState must not land in the resend loop below and go out twice.
    this.state = 'CONNECTED';
    const now = this.clock.uptime();
    this.lastIn = now;
    this.lastOut = now;
    this.armKeepAlive(conn);
    for (let i = 0; i < this.subs.length && this.conn === conn; i++) {
      const s = this.subs[i];
      if (!sessionPresent || s.granted < 0) this.sendSubscribe(s);
    }
    for (let i = 0; i < this.unsubs.length && this.conn === conn; i++) {
      const u = this.unsubs[i];
      if (sessionPresent) this.sendUnsubscribe(u);
      else this.finishUnsub(u); // a new session has no subscription to remove
    }
    if (!sessionPresent) this.unsubs = [];
    // [MQTT-4.4.0-1] resend unacknowledged publishes, in order, with their original ids.
    for (let i = 0; i < this.inflight.length && this.conn === conn; i++) {
      const rec = this.inflight[i];
      if (rec.sent) rec.bytes[0] |= DUP_BIT;
      rec.sent = true;
      this.write(rec.bytes);
    }
    this.pump();
    if (this.conn === conn) this.announce('CONNECTED', sessionPresent ? 'session present' : 'new session');
  }

  // ---- keep-alive ----

  private armKeepAlive(conn: Conn): void {
    if (this.keepAliveMs === 0) return;
    const now = this.clock.uptime();
    const due = this.pingAt ? this.pingAt + this.pingTimeoutMs : Math.min(this.lastIn, this.lastOut) + this.keepAliveMs;
    const self = this;
    conn.timer = this.later(due > now ? due - now : 0, () => {
      if (self.conn === conn) self.checkKeepAlive(conn);
    });
  }

  private checkKeepAlive(conn: Conn): void {
    const now = this.clock.uptime();
    if (this.pingAt && now - this.pingAt >= this.pingTimeoutMs) {
      this.fail('keepalive_timeout', 'no answer to PINGREQ within ' + this.pingTimeoutMs + ' ms');
      return;
    }
    if (!this.pingAt && (now - this.lastIn >= this.keepAliveMs || now - this.lastOut >= this.keepAliveMs)) {
      this.pingAt = now;
      if (!this.send({ type: 'pingreq' })) return;
    }
    this.armKeepAlive(conn);
  }

  // ---- sending ----

  private write(bytes: Uint8Array): boolean {
    const conn = this.conn;
    if (!conn || !conn.sock) return false;
    try {
      conn.sock.write(bytes);
    } catch (e) {
      this.fail('socket_error', 'write: ' + (e as Error).message);
      return false;
    }
    this.stats.packetsOut++;
    this.stats.bytesOut += bytes.length;
    this.lastOut = this.clock.uptime();
    return true;
  }

  private send(p: Packet): boolean {
    return this.write(encode(p));
  }

  /** Move queued publishes into the window while connected. */
  private pump(): void {
    while (this.state === 'CONNECTED' && this.queue.length) {
      const rec = this.queue[0];
      if (rec.id && this.inflight.length >= this.maxInflight) break;
      this.queue.shift();
      if (rec.id) {
        this.inflight.push(rec);
        rec.sent = true;
        if (!this.write(rec.bytes)) break;
      } else if (this.write(rec.bytes)) {
        this.complete(rec);
      } else {
        this.queue.unshift(rec);
        break;
      }
    }
    this.count();
  }

  private complete(rec: Outgoing): void {
    const done = rec.done;
    const onAck = this.o.onAck;
    if (done) this.safe('publish done', () => done(rec.handle));
    if (onAck) this.safe('onAck', () => onAck(rec.handle));
  }

  private count(): void {
    this.stats.inflight = this.inflight.length;
    this.stats.queued = this.queue.length;
  }

  private idInUse(id: number): boolean {
    const lists: { id: number }[][] = [this.inflight, this.queue, this.subs, this.unsubs];
    for (let l = 0; l < lists.length; l++) for (let i = 0; i < lists[l].length; i++) if (lists[l][i].id === id) return true;
    return false;
  }

  /** Next free packet id in 1..65535 [MQTT-2.3.1-2]; ids in use are bounded far below that. */
  private allocId(): number {
    do this.nextId = this.nextId >= 65535 ? 1 : this.nextId + 1;
    while (this.idInUse(this.nextId));
    return this.nextId;
  }

  private findSub(topic: string): Sub | undefined {
    for (let i = 0; i < this.subs.length; i++) if (this.subs[i].topic === topic) return this.subs[i];
    return undefined;
  }

  private sendSubscribe(s: Sub): void {
    s.id = this.allocId();
    this.send({ type: 'subscribe', packetId: s.id, subscriptions: [{ topic: s.topic, qos: s.qos }] });
  }

  private sendUnsubscribe(u: Unsub): void {
    u.sent = true;
    this.send({ type: 'unsubscribe', packetId: u.id, topics: [u.topic] });
  }

  private finishUnsub(u: Unsub): void {
    const cb = u.cb;
    if (cb) this.safe('unsubscribe', () => cb(undefined));
  }

  // ---- receiving: one handler per packet type ----

  private onPacket(conn: Conn, p: Packet): void {
    if (this.conn !== conn) return; // closed while the rest of a chunk was parsed
    this.stats.packetsIn++;
    this.lastIn = this.clock.uptime();
    this.pingAt = 0; // any packet proves the link alive
    if (this.state === 'CONNECTING') {
      if (p.type !== 'connack') return this.fail('protocol', '[MQTT-3.2.0-1] expected CONNACK first, got ' + p.type.toUpperCase());
      if (p.returnCode === 0) return this.connected(p.sessionPresent);
      this.stats.refused++;
      this.stats.lastRefusal = p.returnCode;
      const transient = p.returnCode === CONNACK_SERVER_UNAVAILABLE;
      return this.fail('refused', 'CONNACK ' + p.returnCode + ' (' + CONNACK_CODES[p.returnCode] + ')', transient ? undefined : this.backoff.maxMs);
    }
    switch (p.type) {
      case 'publish':
        return this.onPublish(p);
      case 'puback':
        for (let i = 0; i < this.inflight.length; i++) {
          if (this.inflight[i].id === p.packetId) {
            const rec = this.inflight.splice(i, 1)[0];
            this.complete(rec);
            return this.pump();
          }
        }
        return this.log('debug', 'mqtt: PUBACK for unknown id ' + p.packetId);
      case 'suback':
        return this.onSuback(p.packetId, p.granted[0]);
      case 'unsuback':
        for (let i = 0; i < this.unsubs.length; i++) {
          if (this.unsubs[i].id === p.packetId) return this.finishUnsub(this.unsubs.splice(i, 1)[0]);
        }
        return;
      case 'pingresp':
        return;
      default:
        return this.fail('protocol', 'unexpected ' + p.type.toUpperCase() + ' from the broker');
    }
  }

  private onPublish(p: PublishPacket): void {
    if (p.qos === 2) return this.fail('protocol', 'QoS 2 PUBLISH, but no subscription asked for more than QoS 1');
    const cb = this.o.onMessage;
    if (cb) this.safe('onMessage', () => cb(p.topic, p.payload, p));
    if (p.qos === 1 && this.state === 'CONNECTED') this.send({ type: 'puback', packetId: p.packetId as number });
  }

  private onSuback(id: number, granted: number): void {
    for (let i = 0; i < this.subs.length; i++) {
      const s = this.subs[i];
      if (s.id !== id) continue;
      s.id = 0;
      const cb = s.cb;
      s.cb = undefined;
      if (granted === SUBACK_FAILURE) {
        this.subs.splice(i, 1);
        this.log('error', 'mqtt: subscription to "' + s.topic + '" refused by the broker');
        if (cb) this.safe('subscribe', () => cb(err('E_MQTT_SUB_REFUSED', 'broker refused the subscription to "' + s.topic + '" (SUBACK 0x80)'), granted));
      } else {
        s.granted = granted;
        if (cb) this.safe('subscribe', () => cb(undefined, granted));
      }
      return;
    }
  }
}
