// A TCP proxy between devices and their broker that misbehaves on request, the way real links do:
// it stalls (a black hole: no FIN, no RST, nothing arrives either way), refuses new connections
// (a broker host that is down), resets every open link (an abrupt loss), and adds latency. Tests
// use it to prove the agent's keep-alive, reconnect and resend paths; the fleet simulator's fault
// injection uses the same object.
//
// API
//   const p = await startLinkProxy({ targetPort: broker.port });   // listens on 127.0.0.1:<free>
//   p.port, p.host, p.url           point the devices here (mqtt://127.0.0.1:<port>)
//   p.blackhole()                   open links go silent both ways; new connections are accepted
//                                   locally but never reach the target (like a SYN into a dead
//                                   route that a local NAT answered). Nothing is closed.
//   p.restore()                     forwarding resumes. Bytes held meanwhile are delivered in
//                                   order, as TCP retransmissions would once the route is back;
//                                   an end (FIN) seen meanwhile follows its data; a link an
//                                   endpoint reset meanwhile (RST, destroy, error) is reset on
//                                   the other side too, and what was held for it is discarded.
//                                   Deferred upstream connections are opened now.
//   p.refuse()                      new connections are reset at once; open links keep working
//                                   (restore() ends this too)
//   p.drop()                        reset every open link on both sides now; returns how many
//   p.setLatency(ms)                one-way delay added to every chunk in both directions
//   p.mode()                        'pass' | 'blackhole' | 'refuse'
//   p.stats()                       { accepted, refused, open, dropped, resets, bytesUp, bytesDown, held }
//   await p.close()                 reset all links and stop listening (idempotent)
//
// Bounds: `maxHeldBytes` (default 4 MiB) per link and direction; a link that would hold more is
// reset (counted in stats().resets), so a black hole cannot grow memory without limit.
// Sockets are half-open capable (allowHalfOpen), so the proxy itself never sends a FIN the
// endpoints did not send.

import net from 'node:net';

export type LinkMode = 'pass' | 'blackhole' | 'refuse';

export interface LinkProxyOptions {
  /** Where links go (default 127.0.0.1). */
  targetHost?: string;
  targetPort: number;
  /** Where the proxy listens (default 127.0.0.1, port 0 = a free one). */
  listenHost?: string;
  listenPort?: number;
  /** One-way delay added to every chunk, in ms (default 0). */
  latencyMs?: number;
  /** Bytes held per link and direction (black hole or latency) before the link is reset. */
  maxHeldBytes?: number;
}

export interface LinkProxyStats {
  /** Connections accepted from devices (refused ones not counted). */
  accepted: number;
  /** Connections reset at once in 'refuse' mode. */
  refused: number;
  /** Links open now. */
  open: number;
  /** Links reset by drop(). */
  dropped: number;
  /** Links reset because an endpoint reset, the target refused, or a bound was hit. */
  resets: number;
  /** Bytes forwarded device -> target and target -> device. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes held now over all links (black-holed or delayed). */
  held: number;
}

export interface LinkProxy {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  mode(): LinkMode;
  blackhole(): void;
  restore(): void;
  refuse(): void;
  drop(): number;
  setLatency(ms: number): void;
  stats(): LinkProxyStats;
  close(): Promise<void>;
}

export const LINK_PROXY_DEFAULTS = {
  targetHost: '127.0.0.1',
  listenHost: '127.0.0.1',
  latencyMs: 0,
  maxHeldBytes: 4 * 1024 * 1024,
};

/** What travels one way on a link: data, an end (FIN) or a reset. */
type Item = { at: number; data?: Buffer; end?: true; reset?: true };

interface Dir {
  q: Item[];
  held: number;
  timer: NodeJS.Timeout | undefined;
}

interface Link {
  down: net.Socket;
  up: net.Socket | undefined;
  upReady: boolean;
  toUp: Dir;
  toDown: Dir;
  gone: boolean;
  /** An endpoint reset while the route was black-holed: its held bytes never arrive. */
  resetInHole: boolean;
}

function rangeInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RangeError('link proxy: "' + name + '" expected an integer in ' + min + '..' + max + ', got ' + String(v));
  return v;
}

function reset(s: net.Socket | undefined): void {
  if (!s || s.destroyed) return;
  // RST rather than FIN: the peer learns the link is gone without a clean close.
  if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
  else s.destroy();
}

export async function startLinkProxy(opts: LinkProxyOptions): Promise<LinkProxy> {
  if (!opts || typeof opts !== 'object') throw new TypeError('link proxy: options expected an object');
  const targetHost = opts.targetHost ?? LINK_PROXY_DEFAULTS.targetHost;
  const targetPort = rangeInt('targetPort', opts.targetPort, 1, 65535);
  const listenHost = opts.listenHost ?? LINK_PROXY_DEFAULTS.listenHost;
  const listenPort = rangeInt('listenPort', opts.listenPort ?? 0, 0, 65535);
  let latency = rangeInt('latencyMs', opts.latencyMs ?? LINK_PROXY_DEFAULTS.latencyMs, 0, 3600000);
  const maxHeld = rangeInt('maxHeldBytes', opts.maxHeldBytes ?? LINK_PROXY_DEFAULTS.maxHeldBytes, 1, 2 ** 31);

  let mode: LinkMode = 'pass';
  let closed = false;
  const links = new Set<Link>();
  const st = { accepted: 0, refused: 0, dropped: 0, resets: 0, bytesUp: 0, bytesDown: 0 };

  const newDir = (): Dir => ({ q: [], held: 0, timer: undefined });

  function kill(l: Link, counted: boolean): void {
    if (l.gone) return;
    l.gone = true;
    links.delete(l);
    for (const d of [l.toUp, l.toDown]) {
      if (d.timer) clearTimeout(d.timer);
      d.timer = undefined;
      d.q = [];
      d.held = 0;
    }
    if (counted) st.resets++;
    reset(l.down);
    reset(l.up);
  }

  function enqueue(l: Link, d: Dir, item: Item): void {
    if (l.gone) return;
    if (item.data) {
      d.held += item.data.length;
      if (d.held > maxHeld) return kill(l, true);
    }
    d.q.push(item);
    pump(l, d);
  }

  /** Deliver what is due, in order, unless the route is black-holed or the far end not ready. */
  function pump(l: Link, d: Dir): void {
    if (l.gone || mode === 'blackhole') return;
    const toUp = d === l.toUp;
    const dst = toUp ? l.up : l.down;
    if (!dst || (toUp && !l.upReady)) return;
    while (d.q.length && !l.gone) {
      const it = d.q[0];
      const wait = it.at - Date.now();
      if (wait > 0) {
        if (!d.timer)
          d.timer = setTimeout(() => {
            d.timer = undefined;
            pump(l, d);
          }, wait);
        return;
      }
      d.q.shift();
      if (it.reset) return kill(l, true);
      if (it.end) {
        if (!dst.destroyed) dst.end();
        continue;
      }
      const data = it.data as Buffer;
      d.held -= data.length;
      if (toUp) st.bytesUp += data.length;
      else st.bytesDown += data.length;
      if (!dst.destroyed && dst.writable) dst.write(data);
    }
  }

  function wire(l: Link, src: net.Socket, d: Dir): void {
    let ended = false;
    src.on('data', (b: Buffer) => enqueue(l, d, { at: Date.now() + latency, data: b }));
    src.on('end', () => {
      ended = true;
      enqueue(l, d, { at: Date.now() + latency, end: true });
    });
    src.on('error', () => undefined); // 'close' follows
    src.on('close', () => {
      // A close without a FIN is a reset. Sent into a black hole, neither the reset nor the
      // bytes before it arrive (the sender's stack gave them up); otherwise it follows its data.
      // After a FIN the other side is ended in order already.
      if (!ended) {
        if (mode === 'blackhole') l.resetInHole = true;
        else enqueue(l, d, { at: Date.now() + latency, reset: true });
      } else if (l.up && l.down && l.up.destroyed && l.down.destroyed) kill(l, false);
    });
  }

  function connectUp(l: Link): void {
    if (l.up || l.gone) return;
    const up = net.connect({ host: targetHost, port: targetPort, allowHalfOpen: true });
    up.setNoDelay(true);
    l.up = up;
    up.once('connect', () => {
      l.upReady = true;
      pump(l, l.toUp);
      pump(l, l.toDown);
    });
    wire(l, up, l.toDown);
    pump(l, l.toDown);
  }

  const server = net.createServer({ allowHalfOpen: true }, (down) => {
    if (closed || mode === 'refuse') {
      st.refused++;
      down.on('error', () => undefined);
      reset(down);
      return;
    }
    st.accepted++;
    down.setNoDelay(true);
    const l: Link = { down, up: undefined, upReady: false, toUp: newDir(), toDown: newDir(), gone: false, resetInHole: false };
    links.add(l);
    wire(l, down, l.toUp);
    if (mode === 'pass') connectUp(l);
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(listenPort, listenHost, () => ok()));
  const port = (server.address() as net.AddressInfo).port;

  function restore(): void {
    mode = 'pass';
    for (const l of [...links]) {
      if (l.resetInHole) {
        kill(l, true);
        continue;
      }
      connectUp(l);
      pump(l, l.toUp);
      pump(l, l.toDown);
    }
  }

  return {
    host: listenHost,
    port,
    url: 'mqtt://' + listenHost + ':' + port,
    mode: () => mode,
    blackhole() {
      mode = 'blackhole';
    },
    restore,
    refuse() {
      if (mode === 'blackhole') restore();
      mode = 'refuse';
    },
    drop() {
      let n = 0;
      for (const l of [...links]) {
        kill(l, false);
        n++;
      }
      st.dropped += n;
      return n;
    },
    setLatency(ms: number) {
      latency = rangeInt('latencyMs', ms, 0, 3600000);
    },
    stats() {
      let held = 0;
      for (const l of links) held += l.toUp.held + l.toDown.held;
      return { ...st, open: links.size, held };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const l of [...links]) kill(l, false);
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
