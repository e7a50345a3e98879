// host.io over Espruino's peripherals (ECMA-419 shapes, see core/host.ts):
//   serial  Serial2/Serial3 (src/jswrap_serial.c): setup(baud, {rx, tx, bytesize, parity,
//           stopbits}); data events carry binary strings. ESP32 has no RS485 direction pin, so
//           DE is driven here: high, write, wait until the UART has shifted every byte out
//           (bytes x bits per frame / baud, rounded up, + deGuardMs), low. Writes while DE is
//           high extend that wait.
//   i2c     I2C1/I2C2 (src/jswrap_i2c.c): writeTo/readFrom with {address, stop}; a NACK (an
//           exception there) becomes E_I2C_NACK.
//   onewire new OneWire(pin) (src/jswrap_onewire.c): ROM ids are 16-hex-digit strings, family
//           code first; select() there already sends a reset.
//   watch   setWatch(fn, pin, {repeat, edge, debounce}) (src/jswrap_io.c): ESP32 forces the
//           pull-up; the callback's `time` (getTime() seconds, the interrupt's time) becomes
//           uptime ms through the clock.
//   output  digitalWrite.
//   udp     require("dgram"): send() needs a string (E.toString), messages are strings.
// Every object here follows ECMA-419: read() undefined when empty, write() all or throw,
// close() idempotent and silent afterwards.
import type { IO, Serial, SerialOptions, I2C, I2COptions, OneWire, OneWireOptions, Watch, WatchOptions, DigitalOutput, Udp, UdpOptions, Datagram, Timers, Log } from '../core/host.js';
import { err, abytes, aint } from '../core/util/errors.js';
import type { EspruinoE, SerialPort, I2CPort, OneWireBus, WatchEvent, DgramModule, DgramSocket } from './espruino.js';
import type { DeviceClock } from './clock.js';

declare const E: EspruinoE;
declare function require(name: string): unknown;
declare function digitalWrite(pin: string, level: number): void;
declare function pinMode(pin: string, mode: string): void;
declare function setWatch(fn: (e: WatchEvent) => void, pin: string, o: { repeat: boolean; edge: string; debounce: number }): number;
declare function clearWatch(id: number): void;
declare const global: { [name: string]: unknown };
declare const OneWire: { new (pin: string): OneWireBus };

export const IO_DEFAULTS = {
  /** Unread serial bytes kept; beyond them the oldest are dropped (and counted). */
  serialMaxBuffered: 4096,
  /** Extra time DE stays high after the last stop bit, ms (well below Modbus's 3.5 chars). */
  deGuardMs: 1,
  /** Datagrams buffered before read(); beyond it new ones are dropped. */
  udpMaxQueue: 16,
};

export interface EspruinoIOOptions {
  clock: DeviceClock;
  timers: Timers;
  log?: Log;
  serialMaxBuffered?: number;
  deGuardMs?: number;
  udpMaxQueue?: number;
}

export interface EspruinoIO extends IO {
  stats(): { serialDropped: number; udpDropped: number };
}

function port<T>(name: string, what: string, known: string[]): T {
  let ok = false;
  for (let i = 0; i < known.length; i++) if (known[i] === name) ok = true;
  const p = ok ? (global[name] as T | undefined) : undefined;
  if (!p) throw err('E_IO_PORT', what + ' "' + name + '" does not exist on this board (expected one of ' + known.join(', ') + ')');
  return p;
}

function hexRom(rom: Uint8Array): string {
  const H = '0123456789abcdef';
  let s = '';
  for (let i = 0; i < rom.length; i++) s += H.charAt(rom[i] >> 4) + H.charAt(rom[i] & 15);
  return s;
}

function romBytes(s: string): Uint8Array {
  const b = new Uint8Array(8);
  for (let i = 0; i < 8; i++) b[i] = parseInt(s.substr(2 * i, 2), 16) & 255;
  return b;
}

/** Bits on the wire per character: start + data + parity + stop. */
export function frameBits(bits: number, parity: string, stopBits: number): number {
  return 1 + bits + (parity === 'none' ? 0 : 1) + stopBits;
}

export function espruinoIO(o: EspruinoIOOptions): EspruinoIO {
  const maxSerial = o.serialMaxBuffered === undefined ? IO_DEFAULTS.serialMaxBuffered : o.serialMaxBuffered;
  const deGuard = o.deGuardMs === undefined ? IO_DEFAULTS.deGuardMs : o.deGuardMs;
  const maxUdp = o.udpMaxQueue === undefined ? IO_DEFAULTS.udpMaxQueue : o.udpMaxQueue;
  const open: { [name: string]: boolean } = {};
  const stats = { serialDropped: 0, udpDropped: 0 };

  function serial(so: SerialOptions): Serial {
    const p = port<SerialPort>(so.port, 'serial port', ['Serial1', 'Serial2', 'Serial3']);
    if (open[so.port]) throw err('E_SERIAL_BUSY', 'serial port ' + so.port + ' is already open');
    const bits = so.bits === undefined ? 8 : so.bits;
    const parity = so.parity === undefined ? 'none' : so.parity;
    const stopBits = so.stopBits === undefined ? 1 : so.stopBits;
    const fb = frameBits(bits, parity, stopBits);
    let baud = aint('baud', so.baud, 300, 5000000);
    function setup(): void {
      p.setup(baud, { rx: so.rx, tx: so.tx, bytesize: bits, parity: parity === 'none' ? null : parity, stopbits: stopBits });
    }
    setup();
    open[so.port] = true;
    let chunks: Uint8Array[] = [];
    let buffered = 0;
    let closed = false;
    let deTimer: unknown;
    let deUntil = 0;
    if (so.de) digitalWrite(so.de, 0);
    p.on('data', function (d: string) {
      if (closed) return;
      chunks.push(E.toUint8Array(d));
      buffered += d.length;
      while (buffered > maxSerial && chunks.length > 1) {
        buffered -= chunks[0].length;
        stats.serialDropped += chunks[0].length;
        chunks.shift();
      }
      if (so.onReadable) so.onReadable(buffered);
    });
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
        if (closed) throw err('E_SERIAL_CLOSED', 'write on closed serial port ' + so.port);
        if (!so.de) {
          p.write(data);
          return;
        }
        const de = so.de;
        digitalWrite(de, 1);
        p.write(data);
        // The UART drains after write() returns: keep DE high until the last stop bit is out.
        const now = o.clock.uptime();
        const until = (deUntil > now ? deUntil : now) + Math.ceil((data.length * fb * 1000) / baud);
        deUntil = until;
        o.timers.clearTimeout(deTimer);
        deTimer = o.timers.setTimeout(function () {
          deTimer = undefined;
          if (!closed) digitalWrite(de, 0);
        }, until - now + deGuard);
      },
      setBaud: function (b: number): void {
        baud = aint('baud', b, 300, 5000000);
        if (!closed) setup();
      },
      close: function (): void {
        if (closed) return;
        closed = true;
        chunks = [];
        buffered = 0;
        o.timers.clearTimeout(deTimer);
        if (so.de) digitalWrite(so.de, 0);
        p.removeAllListeners('data');
        if (p.unsetup) p.unsetup();
        open[so.port] = false;
      },
    };
  }

  const i2cSetup: { [bus: string]: string } = {};
  function i2c(io: I2COptions): I2C {
    const name = io.bus || 'I2C1';
    const bus = port<I2CPort>(name, 'I2C bus', ['I2C1', 'I2C2']);
    const address = aint('address', io.address, 0, 127);
    const key = (io.scl || '') + '/' + (io.sda || '') + '/' + (io.hz || 0);
    // One setup per bus: several devices share it, and re-setup would reset the peripheral.
    if (i2cSetup[name] === undefined) {
      bus.setup({ scl: io.scl, sda: io.sda, bitrate: io.hz });
      i2cSetup[name] = key;
    } else if (i2cSetup[name] !== key) throw err('E_I2C_CONFIG', 'I2C bus ' + name + ' is already set up with other pins or speed (' + i2cSetup[name] + ')');
    let closed = false;
    function nack(e: unknown): Error {
      return err('E_I2C_NACK', 'I2C ' + name + ' 0x' + address.toString(16) + ': ' + ((e as Error).message || String(e)));
    }
    return {
      write: function (data: Uint8Array, stop?: boolean): void {
        abytes('data', data);
        if (closed) throw err('E_I2C_CLOSED', 'I2C device closed');
        try {
          bus.writeTo({ address: address, stop: stop !== false }, data);
        } catch (e) {
          throw nack(e);
        }
      },
      read: function (count: number, stop?: boolean): Uint8Array {
        aint('count', count, 0, 255);
        if (closed) throw err('E_I2C_CLOSED', 'I2C device closed');
        let r: Uint8Array;
        try {
          r = bus.readFrom({ address: address, stop: stop !== false }, count);
        } catch (e) {
          throw nack(e);
        }
        return r instanceof Uint8Array ? r : new Uint8Array(r);
      },
      close: function (): void {
        closed = true;
      },
    };
  }

  function onewire(w: OneWireOptions): OneWire {
    const ow = new OneWire(w.pin);
    let closed = false;
    function live(): void {
      if (closed) throw err('E_ONEWIRE_CLOSED', '1-Wire on ' + w.pin + ' is closed');
    }
    return {
      reset: function (): boolean {
        live();
        return !!ow.reset();
      },
      search: function (): Uint8Array[] {
        live();
        const ids = ow.search() || [];
        const out: Uint8Array[] = [];
        for (let i = 0; i < ids.length; i++) if (typeof ids[i] === 'string' && ids[i].length === 16) out.push(romBytes(ids[i]));
        return out;
      },
      select: function (rom: Uint8Array): void {
        abytes('rom', rom, 8);
        live();
        ow.select(hexRom(rom));
      },
      skip: function (): void {
        live();
        ow.skip();
      },
      write: function (data: Uint8Array, power?: boolean): void {
        abytes('data', data);
        live();
        ow.write(data, !!power);
      },
      read: function (count: number): Uint8Array {
        aint('count', count, 0, 255);
        live();
        const r = ow.read(count);
        if (r instanceof Uint8Array) return r;
        return typeof r === 'number' ? new Uint8Array([r]) : new Uint8Array(r);
      },
      close: function (): void {
        closed = true;
      },
    };
  }

  function watch(wo: WatchOptions): Watch {
    aint('debounceMs', wo.debounceMs, 0, 10000);
    if (wo.edge !== 'rising' && wo.edge !== 'falling' && wo.edge !== 'both')
      throw err('E_TYPE', '"edge" expected rising, falling or both, got ' + JSON.stringify(wo.edge), TypeError);
    if (wo.pull !== undefined) pinMode(wo.pin, wo.pull === 'up' ? 'input_pullup' : wo.pull === 'down' ? 'input_pulldown' : 'input');
    let closed = false;
    const id = setWatch(
      function (e: WatchEvent) {
        if (closed) return;
        wo.onEdge({ rising: !!e.state, time: o.clock.uptimeAt(e.time) });
      },
      wo.pin,
      { repeat: true, edge: wo.edge, debounce: wo.debounceMs },
    );
    return {
      close: function (): void {
        if (closed) return;
        closed = true;
        clearWatch(id);
      },
    };
  }

  function output(oo: { pin: string }): DigitalOutput {
    let closed = false;
    return {
      write: function (level: 0 | 1): void {
        if (closed) throw err('E_IO_CLOSED', 'output ' + oo.pin + ' is closed');
        digitalWrite(oo.pin, level ? 1 : 0);
      },
      close: function (): void {
        closed = true;
      },
    };
  }

  function udp(uo: UdpOptions): Udp {
    const dg = require('dgram') as DgramModule;
    const s: DgramSocket = dg.createSocket('udp4');
    const q: Datagram[] = [];
    let closed = false;
    s.on('message', function (msg: string, rinfo: { address: string; port: number }) {
      if (closed) return;
      if (q.length >= maxUdp) {
        stats.udpDropped++;
        return;
      }
      q.push({ data: E.toUint8Array(msg), address: rinfo.address, port: rinfo.port });
      if (uo.onReadable) uo.onReadable(q.length);
    });
    s.on('error', function (e: { message?: string }) {
      if (!closed && uo.onError) uo.onError(err('E_UDP', 'udp: ' + (e && e.message ? e.message : String(e))));
    });
    // A client (port 0) needs no bind: Espruino's dgram receives answers to what it sent.
    if (uo.port) s.bind(uo.port);
    return {
      read: function (): Datagram | undefined {
        return q.shift();
      },
      write: function (data: Uint8Array, address: string, p: number): void {
        abytes('data', data);
        if (closed) throw err('E_UDP_CLOSED', 'udp socket closed');
        const str = E.toString(data);
        if (str === undefined) throw err('E_NOMEM', 'udp write of ' + data.length + ' bytes: no memory');
        s.send(str, aint('port', p, 1, 65535), address);
      },
      close: function (): void {
        if (closed) return;
        closed = true;
        q.length = 0;
        s.close();
      },
    };
  }

  return {
    serial: serial,
    i2c: i2c,
    onewire: onewire,
    watch: watch,
    output: output,
    udp: udp,
    stats: function () {
      return { serialDropped: stats.serialDropped, udpDropped: stats.udpDropped };
    },
  };
}
