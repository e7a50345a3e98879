// A deterministic device for unit tests of the agent loop: virtual time (timers run by
// advance()), an in-memory FlashStorage that survives "reboots", scripted entropy, and an MQTT
// broker faked at the packet level (core codec) behind the host's socket factory. A power cut
// injected with FlashStorage.cutPowerAfter() stops every timer and socket of that boot at once.
import type { Host, Socket, SocketOptions, Entropy } from '../../firmware/core/host.js';
import { createParser, encode, type Packet, type PublishPacket } from '../../firmware/core/codec/mqtt.js';
import { FlashStorage, isPowerCut } from '../../agent-sim/platform/flash-storage.js';
import { Agent, type AgentConfig } from '../../firmware/core/session/agent.js';
import type { Source, SourceValue } from '../../firmware/core/sources/source.js';
import { createHash } from 'node:crypto';

/** Scripted entropy: the given blocks first, then SHA-256(seed || counter). */
export function scriptedEntropy(blocks: Uint8Array[] = [], seed = 'fake'): Entropy & { calls: number } {
  let ctr = 0;
  const e = {
    calls: 0,
    randomBytes(n: number): Uint8Array {
      e.calls++;
      const b = blocks.shift();
      if (b) return b.slice(0, n);
      const out = new Uint8Array(n);
      for (let o = 0; o < n; o += 32) out.set(createHash('sha256').update(seed + ':' + ctr++).digest().subarray(0, Math.min(32, n - o)), o);
      return out;
    },
  };
  return e;
}

/** The broker side of the fake link: answers CONNECT, SUBSCRIBE, PUBLISH QoS 1 and PINGREQ. */
export class FakeBroker {
  /** Every PUBLISH the device sent, in order (resends included). */
  readonly published: (PublishPacket & { at: number })[] = [];
  /** Every byte the device ever wrote, per connection. */
  readonly wire: Uint8Array[] = [];
  readonly packets: Packet[] = [];
  /** Withhold PUBACKs (they queue in `held`) until releaseAcks(). */
  holdAcks = false;
  /** Refuse connections: the socket reports an error and closes. */
  down = false;
  held: number[] = [];
  conns: FakeSocket[] = [];
  constructor(readonly dev: VirtualDevice) {}

  tele(): (PublishPacket & { at: number })[] {
    return this.published.filter((p) => p.topic.endsWith('/tele'));
  }
  /** Send the withheld PUBACKs (the oldest n, or all) on the live connection. */
  releaseAcks(n = this.held.length): void {
    const c = this.live();
    const ids = this.held.splice(0, n);
    if (c) for (const id of ids) c.reply({ type: 'puback', packetId: id });
  }
  /** Deliver a message to the device (QoS 1), as the broker forwards a subscription's topic. */
  deliver(topic: string, payload: Uint8Array, packetId: number): void {
    this.live()?.reply({ type: 'publish', topic, payload, qos: 1, retain: false, dup: false, packetId });
  }
  live(): FakeSocket | undefined {
    return this.conns.filter((c) => !c.closed).pop();
  }
  onPacket(c: FakeSocket, p: Packet): void {
    this.packets.push(p);
    switch (p.type) {
      case 'connect':
        return c.reply({ type: 'connack', sessionPresent: false, returnCode: 0 });
      case 'subscribe':
        return c.reply({ type: 'suback', packetId: p.packetId, granted: p.subscriptions.map(() => 1) });
      case 'publish':
        this.published.push({ ...p, at: this.dev.now });
        if (p.qos === 1) {
          if (this.holdAcks) this.held.push(p.packetId as number);
          else c.reply({ type: 'puback', packetId: p.packetId as number });
        }
        return;
      case 'pingreq':
        return c.reply({ type: 'pingresp' });
      case 'disconnect':
        return c.peerClose();
      default:
        return;
    }
  }
}

export class FakeSocket implements Socket {
  closed = false;
  private inbox: Uint8Array[] = [];
  private parser = createParser({ maxPacketSize: 1 << 20, onPacket: (p) => this.broker.onPacket(this, p) });
  constructor(
    private readonly broker: FakeBroker,
    private readonly dev: VirtualDevice,
    private readonly o: SocketOptions,
  ) {
    dev.later(1, () => {
      if (this.closed) return;
      if (broker.down) {
        this.closed = true;
        o.onError?.(new Error('connect ECONNREFUSED (fake)'));
        return;
      }
      o.onConnect?.();
    });
  }
  read(): Uint8Array | undefined {
    if (!this.inbox.length) return undefined;
    const all = new Uint8Array(Buffer.concat(this.inbox));
    this.inbox = [];
    return all;
  }
  write(data: Uint8Array): void {
    if (this.closed) throw new Error('write on a closed socket (fake)');
    this.broker.wire.push(data.slice());
    this.parser.push(data);
  }
  close(): void {
    this.closed = true;
  }
  /** Broker -> device, 1 ms later (never re-entrant into the client's own write). */
  reply(p: Packet): void {
    const b = encode(p);
    this.dev.later(1, () => {
      if (this.closed) return;
      this.inbox.push(b);
      this.o.onReadable?.(b.length);
    });
  }
  peerClose(): void {
    this.dev.later(1, () => {
      if (this.closed) return;
      this.closed = true;
      this.o.onClose?.();
    });
  }
}

/**
 * One simulated device: virtual clock and timers, flash that outlives boots, a fake broker.
 * boot() makes a new Agent over the same flash (a reboot); a power cut (explicit, or a torn
 * write) kills every timer of the current boot.
 */
export class VirtualDevice {
  now = 0;
  synced = true;
  readonly storage: FlashStorage;
  readonly broker: FakeBroker;
  readonly logs: { level: string; msg: string }[] = [];
  entropy: Entropy;
  agent!: Agent;
  /** Exceptions out of callbacks other than power cuts. */
  readonly uncaught: unknown[] = [];
  private timers: { id: number; at: number; fn: () => void; epoch: number }[] = [];
  private nextId = 1;
  private epoch = 0;
  private powered = false;

  constructor(opts: { storage?: FlashStorage; entropy?: Entropy } = {}) {
    this.storage = opts.storage ?? new FlashStorage();
    this.entropy = opts.entropy ?? scriptedEntropy();
    this.broker = new FakeBroker(this);
  }

  get poweredOff(): boolean {
    return !this.powered;
  }

  /** Schedule on the current boot's timer list (used by the fake sockets too). */
  later(ms: number, fn: () => void): number {
    const t = { id: this.nextId++, at: this.now + ms, fn, epoch: this.epoch };
    this.timers.push(t);
    return t.id;
  }

  host(): Host {
    const self = this;
    return {
      clock: { now: () => 1.7e12 + self.now, uptime: () => self.now, synced: () => self.synced },
      timers: {
        setTimeout: (fn: () => void, ms: number) => self.later(ms, fn),
        clearTimeout: (h: unknown) => {
          self.timers = self.timers.filter((t) => t.id !== h);
        },
      },
      entropy: { randomBytes: (n: number) => self.entropy.randomBytes(n) },
      storage: this.storage,
      socket: (o: SocketOptions) => {
        const s = new FakeSocket(self.broker, self, o);
        self.broker.conns.push(s);
        return s;
      },
      log: (level, msg) => void self.logs.push({ level, msg }),
    };
  }

  /** Power on and construct the agent (not started). */
  boot(config: AgentConfig, sources: Source[]): Agent {
    this.powerCut();
    this.storage.reboot();
    this.epoch++;
    this.powered = true;
    this.agent = new Agent(this.host(), config, sources);
    return this.agent;
  }

  /** Everything in RAM stops: timers of this boot are dropped, sockets go silent. */
  powerCut(): void {
    if (!this.powered) return;
    this.powered = false;
    this.timers = [];
    for (const c of this.broker.conns) c.closed = true;
  }

  /** Run due timers in time order up to now + ms. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let due: (typeof this.timers)[0] | undefined;
      for (const t of this.timers) if (t.at <= end && (!due || t.at < due.at || (t.at === due.at && t.id < due.id))) due = t;
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.now = due.at;
      if (due.epoch !== this.epoch || !this.powered) continue;
      try {
        due.fn();
      } catch (e) {
        if (isPowerCut(e)) this.powerCut();
        else this.uncaught.push(e);
      }
      if (this.storage.poweredOff) this.powerCut();
    }
    this.now = end;
  }

  /** Advance in small steps until cond() holds; throws after maxMs of virtual time. */
  runUntil(what: string, cond: () => boolean, maxMs = 60000, step = 10): void {
    const end = this.now + maxMs;
    while (!cond()) {
      if (this.now >= end) throw new Error('virtual time ' + maxMs + ' ms passed waiting for ' + what);
      this.advance(step);
    }
  }
}

/** A source answering at once with `make(n)` for the n-th read (n from 0). */
export function countingSource(id: string, intervalMs: number, make: (n: number) => SourceValue[]): Source & { reads: number } {
  const s = {
    id,
    intervalMs,
    reads: 0,
    read(done: (e: Error | undefined, v?: SourceValue[]) => void) {
      done(undefined, make(s.reads++));
    },
  };
  return s;
}

export function baseConfig(over: Partial<AgentConfig> = {}): AgentConfig {
  return {
    prefix: 'depin',
    broker: { host: 'fake', port: 1883, keepAliveS: 30, reconnect: { minMs: 100, maxMs: 1000, factor: 2 } },
    batchMaxReadings: 4,
    batchMaxAgeMs: 60000,
    maxPendingReadings: 64,
    publishWindow: 2,
    operators: [],
    firmware: 'test',
    board: 'test',
    ...over,
  };
}
