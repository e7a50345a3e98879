// Node implementation of the host SocketFactory (firmware/core/host.ts): TCP through node:net,
// TLS through node:tls, in the ECMA-419 shape core expects. Received chunks are buffered until
// read(); reading pauses past a bound so a slow consumer cannot grow memory without limit.
// close() is idempotent and silences every callback; pending writes get a short flush first.

import net from 'node:net';
import tls from 'node:tls';
import type { Socket, SocketFactory, SocketOptions } from '../../firmware/core/host.js';
import { err } from '../../firmware/core/util/errors.js';

export interface NodeSocketFactoryOptions {
  /** Unread bytes at which the socket stops reading until read() is called. Default 1 MiB. */
  maxBuffered?: number;
  /** After close(), time for queued writes to flush before the socket is destroyed. Default 1000. */
  closeFlushMs?: number;
}

export function createNodeSocketFactory(options: NodeSocketFactoryOptions = {}): SocketFactory {
  const maxBuffered = options.maxBuffered ?? 1 << 20;
  const closeFlushMs = options.closeFlushMs ?? 1000;

  return function connect(o: SocketOptions): Socket {
    if (!o || typeof o.host !== 'string') throw err('E_TYPE', '"host" expected string, got ' + typeof o?.host, TypeError);
    if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw err('E_RANGE', '"port" expected 1..65535, got ' + o.port, RangeError);
    const s: net.Socket = o.tls
      ? tls.connect({ host: o.host, port: o.port, ca: o.ca, servername: net.isIP(o.host) ? undefined : o.host })
      : net.connect({ host: o.host, port: o.port });
    s.setNoDelay(true);
    let chunks: Uint8Array[] = [];
    let buffered = 0;
    let paused = false;
    let closed = false; // by us: no callbacks after this
    let ended = false; // onClose delivered

    s.once(o.tls ? 'secureConnect' : 'connect', () => {
      if (!closed) o.onConnect?.();
    });
    s.on('data', (b: Buffer) => {
      if (closed) return;
      // A plain Uint8Array view (no copy), so core never sees Buffer's different slice().
      chunks.push(new Uint8Array(b.buffer, b.byteOffset, b.length));
      buffered += b.length;
      if (buffered >= maxBuffered && !paused) {
        paused = true;
        s.pause();
      }
      o.onReadable?.(buffered);
    });
    s.on('error', (e: Error) => {
      if (!closed && !ended) o.onError?.(e);
    });
    s.on('close', () => {
      if (closed || ended) return;
      ended = true;
      o.onClose?.();
    });

    return {
      read(): Uint8Array | undefined {
        if (buffered === 0) return undefined;
        let out: Uint8Array;
        if (chunks.length === 1) out = chunks[0];
        else {
          out = new Uint8Array(buffered);
          let at = 0;
          for (const c of chunks) out.set(c, at), (at += c.length);
        }
        chunks = [];
        buffered = 0;
        if (paused && !closed) {
          paused = false;
          s.resume();
        }
        return out;
      },
      write(data: Uint8Array): void {
        if (!(data instanceof Uint8Array)) throw err('E_TYPE', '"data" expected Uint8Array', TypeError);
        if (closed || ended || s.destroyed) throw err('E_SOCKET_CLOSED', 'write of ' + data.length + ' bytes on a closed socket');
        s.write(Buffer.from(data)); // a copy: the caller may reuse its buffer
      },
      close(): void {
        if (closed) return;
        closed = true;
        chunks = [];
        buffered = 0;
        if (s.connecting || s.destroyed) return void s.destroy();
        s.end();
        const t = setTimeout(() => s.destroy(), closeFlushMs);
        t.unref();
        s.once('close', () => clearTimeout(t));
      },
    };
  };
}
