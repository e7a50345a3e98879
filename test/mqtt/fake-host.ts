// A deterministic host for session tests: virtual time, timers run by advance(), sockets the
// test drives by hand (open, feed bytes, close), entropy with a chosen byte.
import type { Socket, SocketOptions } from '../../firmware/core/host.js';
import { createParser, encode } from '../../firmware/core/codec/mqtt.js';
import type { Packet } from '../../firmware/core/codec/mqtt.js';

export class FakeSocket implements Socket {
  written: Uint8Array[] = [];
  inbox: Uint8Array[] = [];
  closed = false;
  constructor(readonly opts: SocketOptions) {}
  read(): Uint8Array | undefined {
    if (!this.inbox.length) return undefined;
    const all = new Uint8Array(Buffer.concat(this.inbox));
    this.inbox = [];
    return all;
  }
  write(data: Uint8Array): void {
    if (this.closed) throw new Error('write after close');
    this.written.push(data.slice());
  }
  close(): void {
    this.closed = true;
  }
  // ---- test side ----
  open(): void {
    this.opts.onConnect?.();
  }
  feed(bytes: Uint8Array | Packet): void {
    const b = bytes instanceof Uint8Array ? bytes : encode(bytes);
    this.inbox.push(b);
    this.opts.onReadable?.(b.length);
  }
  /** Everything the client wrote, decoded. */
  packets(): Packet[] {
    const out: Packet[] = [];
    const p = createParser({ maxPacketSize: 1 << 20, onPacket: (x) => out.push(x) });
    for (const w of this.written) p.push(w);
    return out;
  }
  types(): string[] {
    return this.packets().map((p) => p.type);
  }
}

export function fakeHost(opts: { randomByte?: number } = {}) {
  let now = 0;
  let nextId = 1;
  let timers: { id: number; at: number; fn: () => void }[] = [];
  const sockets: FakeSocket[] = [];
  const logs: { level: string; msg: string }[] = [];
  const env = {
    sockets,
    logs,
    randomByte: opts.randomByte ?? 0xff,
    now: () => now,
    /** Pending timer delays from now, soonest first. */
    pending: () => timers.map((t) => t.at - now).sort((a, b) => a - b),
    advance(ms: number): void {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
    last: (): FakeSocket => sockets[sockets.length - 1],
    host: {
      socket: (o: SocketOptions) => {
        const s = new FakeSocket(o);
        sockets.push(s);
        return s;
      },
      timers: {
        setTimeout: (fn: () => void, ms: number) => {
          const t = { id: nextId++, at: now + ms, fn };
          timers.push(t);
          return t.id;
        },
        clearTimeout: (h: unknown) => {
          timers = timers.filter((t) => t.id !== h);
        },
      },
      clock: { now: () => 1.7e12 + now, uptime: () => now, synced: () => true },
      entropy: { randomBytes: (n: number) => new Uint8Array(n).fill(env.randomByte) },
      log: (level: string, msg: string) => void logs.push({ level, msg }),
    },
  };
  return env;
}
