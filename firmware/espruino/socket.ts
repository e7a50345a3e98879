// The host SocketFactory over Espruino's require("net") / require("tls") sockets
// (libs/network/jswrap_net.c, socketserver.c), in the ECMA-419 shape core expects:
// - data arrives as binary strings (one char per byte; 536-byte chunks on ESP32): each chunk
//   becomes a Uint8Array with E.toUint8Array and is buffered until read();
// - Socket.write() stringifies its argument with toString(), so a Uint8Array would go out as
//   the TEXT "1,2,3": write() sends E.toString(bytes), the binary string of the same bytes;
// - connect() can throw synchronously (the Linux build: "Unable to create socket" when the
//   peer refuses): the error is delivered through onError on the next tick instead, as an
//   ECMA-419 constructor does, so the caller sees one failure path;
// - Espruino cannot pause a socket, so the receive buffer is bounded: past maxBuffered unread
//   bytes the socket is closed with E_SOCKET_OVERFLOW (core reads on every onReadable, so this
//   only trips when something is badly wrong);
// - onClose fires once, never after close(); close() is idempotent.
// TLS is transport only: Espruino's require("tls") verifies no certificate (the `ca` option is
// ignored here), sends no usable SNI and seeds its DRBG from E.srand's generator. Telemetry
// authenticity rests on the COSE signatures (docs/wire-format.md), never on this channel.
import type { Log, Socket, SocketFactory, SocketOptions, Timers } from '../core/host.js';
import { err, abytes, describe, RANGE_ERROR } from '../core/util/errors.js';
import type { EspruinoE, NetModule, NetSocket } from './espruino.js';

declare const E: EspruinoE;
declare function require(name: string): unknown;

export const SOCKET_DEFAULTS = {
  /** Unread received bytes at which the socket is closed (Espruino has no flow control). */
  maxBuffered: 16384,
};

export interface EspruinoSocketOptions {
  maxBuffered?: number;
  timers: Timers;
  log?: Log;
  /** Modules to use instead of require("net") / require("tls") (tests). */
  net?: NetModule;
  tls?: NetModule;
}

function errorOf(e: unknown, what: string): Error {
  if (e instanceof Error) return e;
  const o = e as { code?: number; message?: string } | undefined;
  const x = err('E_SOCKET', what + ': ' + (o && o.message ? o.message : String(e)) + (o && o.code !== undefined ? ' (code ' + o.code + ')' : ''));
  return x;
}

export function espruinoSocketFactory(o: EspruinoSocketOptions): SocketFactory {
  const maxBuffered = o.maxBuffered === undefined ? SOCKET_DEFAULTS.maxBuffered : o.maxBuffered;
  const timers = o.timers;
  let tlsWarned = false;

  return function connect(so: SocketOptions): Socket {
    if (!so || typeof so.host !== 'string') throw err('E_TYPE', '"host" expected a string, got ' + describe(so && so.host), TypeError);
    if (typeof so.port !== 'number' || Math.floor(so.port) !== so.port || so.port < 1 || so.port > 65535)
      throw err('E_RANGE', '"port" expected 1..65535, got ' + String(so.port), RANGE_ERROR);
    let chunks: Uint8Array[] = [];
    let buffered = 0;
    let closed = false; // by close(): no callbacks after it
    let ended = false; // the link is gone: onClose delivered (or about to be)
    let sock: NetSocket | undefined;

    function finish(): void {
      if (closed || ended) return;
      ended = true;
      if (so.onClose) so.onClose();
    }
    function fail(e: Error): void {
      if (closed || ended) return;
      if (so.onError) so.onError(e);
      // An error before "connected" is not followed by a close event (jswrap_net.c): the link
      // is over either way, so report it closed once.
      finish();
    }

    const mod: NetModule = so.tls ? o.tls || (require('tls') as NetModule) : o.net || (require('net') as NetModule);
    if (so.tls && !tlsWarned && o.log) {
      tlsWarned = true;
      o.log('warn', 'tls: Espruino verifies no certificate; the link is transport only (telemetry is signed)');
    }
    try {
      sock = mod.connect({ host: so.host, port: so.port }, function () {
        if (!closed && !ended && so.onConnect) so.onConnect();
      });
    } catch (e) {
      const ex = errorOf(e, 'connect to ' + so.host + ':' + so.port + ' failed');
      timers.setTimeout(function () {
        fail(ex);
      }, 0);
    }
    if (sock) {
      const s = sock;
      s.on('data', function (d: string) {
        if (closed || ended) return;
        chunks.push(E.toUint8Array(d));
        buffered += d.length;
        if (buffered > maxBuffered) {
          fail(err('E_SOCKET_OVERFLOW', buffered + ' unread bytes exceed maxBuffered ' + maxBuffered));
          try {
            s.end();
          } catch (e) {
            /* already gone */
          }
          return;
        }
        if (so.onReadable) so.onReadable(buffered);
      });
      s.on('error', function (e) {
        fail(errorOf(e, 'socket ' + so.host + ':' + so.port));
      });
      s.on('close', function () {
        finish();
      });
    }

    return {
      read: function (): Uint8Array | undefined {
        if (buffered === 0) return undefined;
        let out: Uint8Array;
        if (chunks.length === 1) out = chunks[0];
        else {
          out = new Uint8Array(buffered);
          let at = 0;
          for (let i = 0; i < chunks.length; i++) {
            out.set(chunks[i], at);
            at += chunks[i].length;
          }
        }
        chunks = [];
        buffered = 0;
        return out;
      },
      write: function (data: Uint8Array): void {
        abytes('data', data);
        if (closed || ended || !sock) throw err('E_SOCKET_CLOSED', 'write of ' + data.length + ' bytes on a closed socket');
        const str = E.toString(data);
        if (str === undefined) throw err('E_NOMEM', 'write of ' + data.length + ' bytes: no memory for the binary string');
        sock.write(str);
      },
      close: function (): void {
        if (closed) return;
        closed = true;
        chunks = [];
        buffered = 0;
        if (sock && !ended) {
          try {
            sock.end();
          } catch (e) {
            /* the link died already */
          }
        }
      },
    };
  };
}
