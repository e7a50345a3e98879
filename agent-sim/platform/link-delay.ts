// Network latency on a device's link, in the time of the simulation: every chunk written is
// handed to the real socket `delay()` ms later, every chunk received is handed to the device
// `delay()` ms after it arrived, the connection completes after a round trip, and a close or an
// error from the peer comes after the data before it. Order is kept in each direction even when
// the delay changes. Timers are the time base's, so in virtual time a latency of seconds costs no
// real time: the wait is a jump of the clock (a link proxy's real latency would instead hold
// the clock while it lasts, see virtual-time.ts rule 3).
//
// Placement: device callbacks -> power domain -> linkDelay -> in-flight tracking -> socket. A
// delayed write is not in flight until it reaches the socket, so the clock may jump to it;
// an answer is taken off the socket at once (the tracker sees it and stops holding time) and
// queued here for its delay.
import type { Socket, SocketFactory, Timers } from '../../firmware/core/host.js';
import { err } from '../../firmware/core/util/errors.js';

export function linkDelay(factory: SocketFactory, timers: Timers, now: () => number, delay: () => number): SocketFactory {
  return (o) => {
    let closed = false;
    let inbox: Uint8Array[] = [];
    let lastOut = 0;
    let lastIn = 0;
    // Due times only grow, so each direction stays in order when the delay shrinks.
    const later = (last: number, fn: () => void): number => {
      const t = now();
      const at = Math.max(last, t + Math.max(0, delay()));
      timers.setTimeout(fn, at - t);
      return at;
    };
    let s: Socket | undefined;
    const inner = factory({
      ...o,
      onConnect() {
        if (closed) return;
        // The handshake took a round trip: one way here, the other before the device hears.
        timers.setTimeout(() => !closed && o.onConnect?.(), 2 * Math.max(0, delay()));
      },
      onReadable() {
        if (closed || !s) return;
        const b = s.read();
        if (!b) return;
        lastIn = later(lastIn, () => {
          if (closed) return;
          inbox.push(b);
          o.onReadable?.(b.length);
        });
      },
      onError(e) {
        if (closed) return;
        lastIn = later(lastIn, () => !closed && o.onError?.(e));
      },
      onClose() {
        if (closed) return;
        lastIn = later(lastIn, () => !closed && o.onClose?.());
      },
    });
    s = inner;
    return {
      read(): Uint8Array | undefined {
        if (!inbox.length) return undefined;
        if (inbox.length === 1) {
          const b = inbox[0];
          inbox = [];
          return b;
        }
        let n = 0;
        for (const c of inbox) n += c.length;
        const out = new Uint8Array(n);
        let at = 0;
        for (const c of inbox) {
          out.set(c, at);
          at += c.length;
        }
        inbox = [];
        return out;
      },
      write(d: Uint8Array): void {
        if (closed) throw err('E_SOCKET_CLOSED', 'write of ' + d.length + ' bytes on a closed socket');
        const copy = d.slice();
        lastOut = later(lastOut, () => {
          if (closed) return;
          try {
            inner.write(copy);
          } catch {
            // The peer went away meanwhile: its close or error reaches the device in order.
          }
        });
      },
      close(): void {
        if (closed) return;
        closed = true;
        inbox = [];
        inner.close();
      },
    };
  };
}
