// UDP for the simulator: real datagram sockets (node:dgram) in the ECMA-419 shape.
import dgram from 'node:dgram';
import type { Udp, UdpOptions, Datagram } from '../../firmware/core/host.js';

/** Largest number of datagrams buffered before read(); beyond it new ones are dropped and counted. */
export const UDP_MAX_QUEUE = 256;

export function openUdp(o: UdpOptions): Udp & { dropped: number; bound: Promise<number> } {
  const sock = dgram.createSocket('udp4');
  const queue: Datagram[] = [];
  let closed = false;
  const u = {
    dropped: 0,
    bound: new Promise<number>((ok, fail) => {
      sock.once('error', fail);
      sock.bind(o.port, o.address ?? '127.0.0.1', () => {
        sock.off('error', fail);
        ok(sock.address().port);
      });
    }),
    read() {
      return queue.shift();
    },
    write(data: Uint8Array, address: string, port: number) {
      sock.send(data, port, address);
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
    },
  };
  sock.on('message', (msg, rinfo) => {
    if (closed) return;
    if (queue.length >= UDP_MAX_QUEUE) {
      u.dropped++;
      return;
    }
    queue.push({ data: new Uint8Array(msg), address: rinfo.address, port: rinfo.port });
    o.onReadable?.(queue.length);
  });
  sock.on('error', (e) => o.onError?.(e));
  return u;
}
