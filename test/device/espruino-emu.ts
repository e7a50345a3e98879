// An emulated ESP32 running Espruino 2v29, in a Node vm context: the Espruino-shaped language
// of test/harness/espruino-vm.ts (what Espruino lacks is removed, E helpers as there) plus the
// device APIs the platform layer (firmware/espruino) calls, each with the quirk that would
// bite on the device:
//   timers      setTimeout/setInterval ids are reused as Espruino reuses them (last live id + 1,
//               removed after the callback), clearTimeout(undefined) throws, clearTimeout()
//               clears every timer; an exception in a callback is printed ("Uncaught ...") and
//               the loop goes on, as on the device.
//   getTime     seconds since "boot" (ESP32 starts near 0), setTime() moves it.
//   Storage     the simulator's FlashStorage (agent-sim/platform/flash-storage.ts: erased-bytes
//               rule, trash, compaction) behind Espruino's API: names silently truncated to 28
//               chars, read() returns a binary string, write() takes strings or typed arrays.
//   net         real Node sockets that deliver binary strings in 536-byte chunks, and write()
//               that stringifies a typed array ("1,2,3", as Socket.write does): code that
//               forgets E.toString sends garbage and fails.
//   dgram       real UDP sockets; send() insists on a string; messages are strings.
//   crypto      SHA256 returning an ArrayBuffer, hashing `.length` BYTES of a typed array.
//   typed arrays slice() and filter() return plain Arrays (as 2v29 does; firmware/espruino/
//               shims.ts repairs slice on the device).
//   E           CRC32, srand/hwRand and Math.random as Espruino's fixed-seed generator
//               (src/jsutils.c rand(), seeds 0xDEADBEEF/0xCAFEBABE), watchdog (a missed kick
//               "resets" the device: recorded, and the device stops), reboot, setPassword,
//               lockConsole.
//   peek32      only the board's RNG register: a seeded stream while the radio is on, a constant
//               while it is off (a harness convention that makes sampling with the radio off
//               fail the repetition test); any other address throws.
//   Wifi        a station that "connects" after a delay; tests can drop the link and make joins
//               fail silently (ESP32's connect never calls back for a missing AP).
//   Serial2/3, I2C1/2, OneWire, setWatch/digitalWrite: wired to agent-sim's SerialLink,
//               I2CBus, OneWireBus and a pin model when a test attaches them.
// Everything the vm code receives is made in the vm realm (typed arrays, arrays, objects), so
// `instanceof Uint8Array` checks in core behave as on the device.
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import vm from 'node:vm';
import { createEspruinoContext } from '../harness/espruino-vm.js';
import type { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import type { SerialLink } from '../../agent-sim/io/serial-link.js';
import type { I2CBus } from '../../agent-sim/io/i2c-bus.js';
import type { OneWireBus } from '../../agent-sim/io/onewire-bus.js';
import type { Serial } from '../../firmware/core/host.js';

/** ESP32 lwIP delivers TCP data to Espruino in chunks of at most one MSS. */
export const ESP32_CHUNK = 536;
/** Espruino truncates Storage names to this (jsfNameFromVar). */
export const STORAGE_NAME_CHARS = 28;

export interface EmuWifiOptions {
  /** Join time, ms (default 50). */
  connectDelayMs?: number;
  /** RSSI reported while connected (default -61). */
  rssi?: number;
  /** Whether a Wifi module exists at all (default true; false: like the Linux build). */
  present?: boolean;
}

export interface EmuOptions {
  flash: FlashStorage;
  /** Hardware RNG register of the emulated chip (peek32 answers only there). */
  rngRegister: number;
  /** Seed of the emulated RNG register's stream (a different device: a different seed). */
  seed: number;
  /** getTime() at power-on, seconds (ESP32: 0). */
  bootTime?: number;
  wifi?: EmuWifiOptions;
  serial?: Record<string, SerialLink>;
  i2c?: Record<string, I2CBus>;
  onewire?: Record<string, OneWireBus>;
  /** process.env.BOARD (default ESP32). */
  board?: string;
  /** Every printed line. */
  onPrint?(line: string): void;
  /** Called when a Storage file is written (name, whole file after the write). */
  onStorageWrite?(name: string, file: Uint8Array): void;
}

export interface EmuEvent {
  at: number;
  what: string;
}

export interface EmuDevice {
  context: vm.Context;
  /** Runs code in the device (the console). */
  eval(code: string): unknown;
  /** JSON.stringify(expr) evaluated in the device, parsed here. */
  json<T = unknown>(expr: string): T;
  printed: string[];
  uncaught: string[];
  events: EmuEvent[];
  /** peek32 reads of the RNG register, with the radio on / off. */
  rngReads: { on: number; off: number };
  /** E.srand seeds, in order, with the number of net.connect calls made before each. */
  srand: { seed: number; connectsBefore: number }[];
  connects: number;
  watchdog: { enabled: boolean; timeoutS: number; kicks: number; fired: boolean };
  console: { password?: string; locked: boolean };
  rebootRequested: boolean;
  wifi: {
    radio: boolean;
    connected: boolean;
    joins: number;
    /** Drops the association (emits "disconnected"); the next `failJoins` joins never answer. */
    drop(failJoins?: number): void;
  };
  pins: Record<string, { level: number; history: { level: number; t: number }[] }>;
  /** Drives an input pin (watches fire with debounce, like setWatch). */
  setPin(pin: string, level: 0 | 1): void;
  getTime(): number;
  /** Power cut: timers stop, sockets die (RST), nothing more runs. */
  powerOff(): void;
  readonly on: boolean;
}

// ---------------------------------------------------------------------------------------------
// The part that runs inside the context: objects and arrays are created here.

const EMU = String.raw`(function (N) {
  var g = globalThis;
  var mods = {};
  // Espruino 2v29: slice() and filter() of a typed array return a plain Array.
  var TAP = Object.getPrototypeOf(Uint8Array.prototype), arraySlice = Array.prototype.slice, arrayFilter = Array.prototype.filter;
  Object.defineProperty(TAP, 'slice', { configurable: true, writable: true, value: function slice(a, b) { return arraySlice.call(this, a, b); } });
  Object.defineProperty(TAP, 'filter', { configurable: true, writable: true, value: function filter(f, t) { return arrayFilter.call(this, f, t); } });
  function Emitter() {}
  Emitter.prototype.on = function (ev, fn) {
    if (!this._ev) this._ev = {};
    (this._ev[ev] = this._ev[ev] || []).push(fn);
    return this;
  };
  Emitter.prototype.emit = function (ev) {
    var l = this._ev && this._ev[ev];
    if (!l) return;
    var args = Array.prototype.slice.call(arguments, 1);
    for (var i = 0; i < l.length; i++) l[i].apply(this, args);
  };
  Emitter.prototype.removeAllListeners = function (ev) {
    if (!this._ev) return;
    if (ev === undefined) this._ev = {}; else delete this._ev[ev];
  };
  // Bytes of anything Espruino iterates (jsvIterateCallback): strings, numbers, arrays, typed arrays.
  function bin(v) {
    if (typeof v === 'string') return v;
    return E.toString(v);
  }
  // E.* beyond the prelude's toString/toUint8Array/convolve.
  var mw = 0xDEADBEEF >>> 0, mz = 0xCAFEBABE >>> 0;
  function rand() {
    mz = (36969 * (mz & 65535) + (mz >>> 16)) >>> 0;
    mw = (18000 * (mw & 65535) + (mw >>> 16)) >>> 0;
    return (((mz << 16) + mw) >>> 0) & 0x7fffffff;
  }
  E.srand = function (seed) { seed = seed >>> 0; mw = ((seed & 0xffff) | (seed << 16)) >>> 0; mz = ((seed & 0xffff0000) | (seed >>> 16)) >>> 0; N.srand(seed); };
  E.hwRand = function () { return rand(); };
  Math.random = function () { return rand() / 2147483648; };
  E.CRC32 = function (d) { return N.crc32(bin(d)); };
  E.enableWatchdog = function (t, auto) { N.watchdog(+t, !!auto); };
  E.kickWatchdog = function () { N.kick(); };
  E.reboot = function () { N.reboot(); };
  E.setPassword = function (p) { N.setPassword(String(p)); };
  E.lockConsole = function () { N.lockConsole(); };
  g.print = function () { N.print(Array.prototype.map.call(arguments, String).join(' ')); };
  g.console = { log: g.print, warn: g.print, error: g.print, info: g.print, debug: g.print };
  g.getTime = function () { return N.getTime(); };
  g.setTime = function (t) { N.setTime(+t); };
  g.peek32 = function (a) { return N.peek32(a >>> 0); };
  g.global = g;
  // Timers: ids and semantics from the Node side.
  g.setTimeout = function (fn, ms) { var a = Array.prototype.slice.call(arguments, 2); return N.timer(function () { fn.apply(undefined, a); }, +ms || 0, false); };
  g.setInterval = function (fn, ms) { var a = Array.prototype.slice.call(arguments, 2); return N.timer(function () { fn.apply(undefined, a); }, +ms || 0, true); };
  g.clearTimeout = function () { N.clear(arguments.length, arguments[0], 'Timeout'); };
  g.clearInterval = function () { N.clear(arguments.length, arguments[0], 'Interval'); };
  g.process = { env: JSON.parse(N.env()), memory: function () { return JSON.parse(N.memory()); } };
  // Storage
  function nm(n) { return String(n).substr(0, ${STORAGE_NAME_CHARS}); }
  mods.Storage = {
    read: function (n, o, l) { var s = N.stRead(nm(n), o | 0, l | 0); return s === null ? undefined : s; },
    readArrayBuffer: function (n) { var s = N.stRead(nm(n), 0, 0); return s === null ? undefined : E.toUint8Array(s).buffer; },
    readJSON: function (n) { var s = N.stRead(nm(n), 0, 0); return s === null ? undefined : JSON.parse(s); },
    write: function (n, d, o, z) {
      var s;
      if (typeof d === 'string') s = d;
      else if (d && typeof d === 'object' && typeof d.length !== 'number' && !(d instanceof ArrayBuffer)) { s = JSON.stringify(d); o = 0; z = 0; }
      else s = E.toString(d);
      return N.stWrite(nm(n), s, o | 0, z | 0);
    },
    writeJSON: function (n, v) { return N.stWrite(nm(n), JSON.stringify(v), 0, 0); },
    erase: function (n) { N.stErase(nm(n)); },
    list: function (re) { var a = JSON.parse(N.stList()); return re ? a.filter(function (x) { return x.match(re); }) : a; },
    getFree: function () { return N.stFree(); },
    compact: function () { N.stCompact(); }
  };
  // net / tls: one Emitter per socket; events come from the Node side.
  function Socket() {}
  Socket.prototype = Object.create(Emitter.prototype);
  Socket.prototype.write = function (d) { N.netWrite(this._id, typeof d === 'string' ? d : String(d)); return false; };
  Socket.prototype.end = function (d) { if (d !== undefined) this.write(d); N.netEnd(this._id); };
  function connect(opts, cb, tls) {
    if (typeof opts !== 'object' || !opts) throw new Error('Expecting Options to be an Object');
    var s = new Socket();
    if (cb) s.on('connect', cb);
    s._id = N.netConnect(String(opts.host), opts.port | 0, !!tls, function (ev, arg) {
      if (ev === 'error') s.emit('error', JSON.parse(arg));
      else if (ev === 'close') s.emit('close', arg);
      else s.emit(ev, arg);
    });
    return s;
  }
  mods.net = { connect: function (o, cb) { return connect(o, cb, false); } };
  mods.tls = { connect: function (o, cb) { return connect(o, cb, true); } };
  // dgram
  function Dgram() {}
  Dgram.prototype = Object.create(Emitter.prototype);
  Dgram.prototype.send = function (buf, a, b, c, d) {
    if (typeof buf !== 'string') throw new Error('dgram send: ASSERT(jsvIsString(buffer)) failed');
    if (c !== undefined) { buf = buf.substr(a | 0, b | 0); a = c; b = d; }
    N.udpSend(this._id, buf, a | 0, String(b));
  };
  Dgram.prototype.bind = function (port, cb) { N.udpBind(this._id, port | 0); if (cb) N.later(cb); return this; };
  Dgram.prototype.close = function () { N.udpClose(this._id); };
  mods.dgram = { createSocket: function () {
    var s = new Dgram();
    s._id = N.udpCreate(function (ev, msg, addr, port) {
      if (ev === 'message') s.emit('message', msg, { address: addr, port: port, size: msg.length });
      else s.emit(ev, msg ? JSON.parse(msg) : undefined);
    });
    return s;
  } };
  // crypto: SHA256 hashes .length BYTES of a typed array (not its byteLength).
  mods.crypto = { SHA256: function (d) {
    var s;
    if (typeof d === 'string') s = d;
    else if (d instanceof ArrayBuffer) s = E.toString(new Uint8Array(d));
    else s = E.toString(new Uint8Array(d.buffer, d.byteOffset, d.length));
    return E.toUint8Array(N.sha256(s)).buffer;
  } };
  // Wifi
  if (N.hasWifi()) {
    var W = new Emitter();
    W.connect = function (ssid, o, cb) { N.wifiConnect(String(ssid), o && o.password !== undefined ? String(o.password) : '', cb ? function (e) { cb(e); } : function () {}); };
    W.disconnect = function (cb) { N.wifiDisconnect(); if (cb) N.later(cb); };
    W.getDetails = function (cb) { var d = JSON.parse(N.wifiDetails()); if (cb) N.later(function () { cb(d); }); return d; };
    W.getStatus = W.getDetails;
    W.setConfig = function (c) { N.wifiConfig(JSON.stringify(c)); };
    W.scan = function (cb) { N.wifiScan(function () { cb(null, []); }); };
    mods.Wifi = W;
    N.wifiEmitter(function (ev, d) { W.emit(ev, d ? JSON.parse(d) : undefined); });
  }
  // Peripherals
  function SerialPort(name) { this._name = name; }
  SerialPort.prototype = Object.create(Emitter.prototype);
  SerialPort.prototype.setup = function (baud, o) {
    var self = this;
    o = o || {};
    N.serialSetup(this._name, +baud, o.bytesize || 8, o.parity === null || o.parity === undefined ? 'none' : String(o.parity), o.stopbits || 1,
      function (s) { self.emit('data', s); });
  };
  SerialPort.prototype.write = function () { N.serialWrite(this._name, E.toString.apply(E, arguments)); };
  SerialPort.prototype.print = function (s) { this.write(String(s)); };
  SerialPort.prototype.unsetup = function () { N.serialUnsetup(this._name); };
  JSON.parse(N.serialPorts()).forEach(function (n) { g[n] = new SerialPort(n); });
  function I2CPort(name) { this._name = name; }
  I2CPort.prototype.setup = function (o) { N.i2cSetup(this._name, JSON.stringify(o || {})); };
  I2CPort.prototype.writeTo = function (a, d) {
    var addr = typeof a === 'object' ? a.address : a, stop = typeof a === 'object' ? a.stop !== false : true;
    N.i2cWrite(this._name, addr | 0, E.toString.apply(E, Array.prototype.slice.call(arguments, 1)), stop);
  };
  I2CPort.prototype.readFrom = function (a, n) {
    var addr = typeof a === 'object' ? a.address : a, stop = typeof a === 'object' ? a.stop !== false : true;
    return E.toUint8Array(N.i2cRead(this._name, addr | 0, n | 0, stop));
  };
  JSON.parse(N.i2cPorts()).forEach(function (n) { g[n] = new I2CPort(n); });
  g.OneWire = function (pin) { this._pin = String(pin); };
  g.OneWire.prototype.reset = function () { return N.owReset(this._pin); };
  g.OneWire.prototype.search = function () { return JSON.parse(N.owSearch(this._pin)); };
  g.OneWire.prototype.select = function (rom) { if (typeof rom !== 'string' || rom.length !== 16) throw new TypeError('Invalid OneWire device address'); N.owSelect(this._pin, rom); };
  g.OneWire.prototype.skip = function () { N.owSkip(this._pin); };
  g.OneWire.prototype.write = function (d, p) { N.owWrite(this._pin, E.toString(d), !!p); };
  g.OneWire.prototype.read = function (n) { if (n === undefined) return E.toUint8Array(N.owRead(this._pin, 1))[0]; return E.toUint8Array(N.owRead(this._pin, n | 0)); };
  g.digitalWrite = function (p, v) { N.pinWrite(String(p), v ? 1 : 0); };
  g.digitalRead = function (p) { return N.pinRead(String(p)); };
  g.pinMode = function (p, m) { N.pinMode(String(p), String(m)); };
  g.setWatch = function (fn, pin, o) {
    o = o || {};
    return N.watch(String(pin), o.edge || 'both', +o.debounce || 0, !!o.repeat, function (state, time, last) { fn({ state: state, time: time, lastTime: last }); });
  };
  g.clearWatch = function (id) { N.clearWatch(id); };
  g.require = function (name) {
    if (mods.hasOwnProperty(name)) return mods[name];
    throw new Error('Module "' + name + '" not found');
  };
})`;

// ---------------------------------------------------------------------------------------------
// The Node side

function latin1(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}
function str(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) | 0;
}

interface Timer {
  id: number;
  fn: () => void;
  ms: number;
  repeat: boolean;
  h: NodeJS.Timeout;
}

/** Boots `code` (dist/<board>/app.js) on an emulated device. */
export function bootEspruinoVm(code: string, o: EmuOptions): EmuDevice {
  const { context } = createEspruinoContext({ filename: 'app.js' });
  const t0 = performance.now();
  let timeOffset = (o.bootTime ?? 0) * 1000;
  let on = true;
  const printed: string[] = [];
  const uncaught: string[] = [];
  const events: EmuEvent[] = [];
  const getTime = () => (performance.now() - t0 + timeOffset) / 1000;
  const event = (what: string) => events.push({ at: getTime(), what });
  const print = (line: string) => {
    printed.push(line);
    o.onPrint?.(line);
  };
  /** Runs a device callback as Espruino's event loop does: an exception is printed, not fatal. */
  const run = (fn: () => void) => {
    if (!on) return;
    try {
      fn();
    } catch (e) {
      const m = 'Uncaught ' + ((e as Error)?.stack ?? String(e));
      uncaught.push(m);
      print(m);
    }
  };

  // ---- timers (jsinteractive.c: ids = last live id + 1; removed after the callback) ----
  const timers: Timer[] = [];
  const nextId = () => (timers.length ? timers[timers.length - 1].id + 1 : 1);
  const removeTimer = (t: Timer) => {
    const i = timers.indexOf(t);
    if (i >= 0) timers.splice(i, 1);
    clearTimeout(t.h);
  };
  const schedule = (t: Timer) => {
    t.h = setTimeout(() => {
      if (!on || timers.indexOf(t) < 0) return;
      run(t.fn);
      if (t.repeat && timers.indexOf(t) >= 0) schedule(t);
      else if (timers.indexOf(t) >= 0 && !t.repeat) removeTimer(t);
    }, t.ms);
  };

  // ---- RNG register ----
  let rngCtr = 0;
  let rngBuf = Buffer.alloc(0);
  let rngAt = 0;
  const rngReads = { on: 0, off: 0 };
  const nextRngWord = () => {
    if (rngAt + 4 > rngBuf.length) {
      rngBuf = createHash('sha256').update('rng:' + o.seed + ':' + rngCtr++).digest();
      rngAt = 0;
    }
    const w = rngBuf.readUInt32LE(rngAt);
    rngAt += 4;
    return w;
  };

  // ---- Wi-Fi ----
  const wifiPresent = o.wifi?.present !== false;
  const wifiState = { radio: false, connected: false, joins: 0, failJoins: 0, powersave: '' };
  let wifiEmit: ((ev: string, d?: string) => void) | undefined;
  const wifiDelay = o.wifi?.connectDelayMs ?? 50;

  // ---- sockets ----
  const sockets = new Map<number, { s: net.Socket; emit: (ev: string, arg?: unknown) => void }>();
  let sockId = 0;
  const udps = new Map<number, { s: dgram.Socket; emit: (ev: string, msg?: string, addr?: string, port?: number) => void }>();
  let udpId = 0;
  const srand: { seed: number; connectsBefore: number }[] = [];
  let connects = 0;

  // ---- watchdog ----
  const dog = { enabled: false, timeoutS: 0, kicks: 0, fired: false, last: 0, timer: undefined as NodeJS.Timeout | undefined };
  const consoleState = { password: undefined as string | undefined, locked: false };
  let rebootRequested = false;

  // ---- pins ----
  const pins: Record<string, { level: number; history: { level: number; t: number }[]; mode?: string }> = {};
  const pin = (p: string) => (pins[p] ??= { level: 1, history: [] });
  const watches = new Map<number, { pin: string; edge: string; debounce: number; repeat: boolean; fn: (s: boolean, t: number, l: number) => void; reported: number; timer?: NodeJS.Timeout; last: number }>();
  let watchId = 0;

  // ---- serial ----
  const serialOpen = new Map<string, Serial>();

  const N = {
    srand: (seed: number) => {
      srand.push({ seed, connectsBefore: connects });
      event('srand');
    },
    crc32: (s: string) => crc32(latin1(s)),
    watchdog: (t: number, auto: boolean) => {
      dog.enabled = true;
      dog.timeoutS = t;
      dog.last = performance.now();
      if (auto) return;
      clearInterval(dog.timer);
      dog.timer = setInterval(() => {
        if (!on) return clearInterval(dog.timer);
        if (performance.now() - dog.last > t * 1000) {
          dog.fired = true;
          event('watchdog reset');
          print('WATCHDOG RESET');
          powerOff();
        }
      }, 100);
    },
    kick: () => {
      dog.kicks++;
      dog.last = performance.now();
    },
    reboot: () => {
      rebootRequested = true;
      event('reboot');
      powerOff();
    },
    setPassword: (p: string) => {
      consoleState.password = p;
    },
    lockConsole: () => {
      consoleState.locked = true;
    },
    print,
    getTime,
    setTime: (t: number) => {
      timeOffset += t * 1000 - (performance.now() - t0 + timeOffset);
      event('setTime');
    },
    peek32: (addr: number) => {
      if (addr !== o.rngRegister) throw new Error('peek32(0x' + addr.toString(16) + '): address not emulated (only the RNG register 0x' + o.rngRegister.toString(16) + ')');
      if (!wifiState.radio) {
        rngReads.off++;
        return 0x3fd00000; // radio off: a constant here, so the repetition test trips
      }
      rngReads.on++;
      return nextRngWord();
    },
    timer: (fn: () => void, ms: number, repeat: boolean) => {
      const t: Timer = { id: nextId(), fn, ms: Math.max(0, ms), repeat, h: undefined as unknown as NodeJS.Timeout };
      timers.push(t);
      schedule(t);
      return t.id;
    },
    clear: (argc: number, id: unknown, kind: string) => {
      if (argc === 0) {
        for (const t of timers.slice()) removeTimer(t);
        return;
      }
      if (id === undefined) throw new Error('clear' + kind + '(undefined) not allowed. Use clear' + kind + '() instead');
      const t = timers.find((x) => x.id === id);
      if (t) removeTimer(t);
    },
    later: (fn: () => void) => void setTimeout(() => run(fn), 0),
    env: () => JSON.stringify({ VERSION: '2v29', BOARD: o.board ?? 'ESP32', MODULES: 'Flash,Storage,net,dgram,http,NetworkJS,Wifi,TelnetServer,crypto,neopixel' }),
    memory: () => JSON.stringify({ free: 12000, usage: 4383, total: 16383, history: 0, gc: 0, gctime: 0, blocksize: 14 }),
    // Storage
    stRead: (name: string, off: number, len: number) => {
      const f = o.flash.read(name, off, len);
      return f === undefined ? null : str(f);
    },
    stWrite: (name: string, s: string, off: number, size: number) => {
      try {
        o.flash.write(name, latin1(s), off, size || undefined);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'E_NOT_ERASED') throw new Error('File already written with different data');
        if (code === 'E_EMPTY') throw new Error("Can't create zero length file");
        return false;
      }
      o.onStorageWrite?.(name, o.flash.read(name) as Uint8Array);
      return true;
    },
    stErase: (name: string) => o.flash.erase(name),
    stList: () => JSON.stringify(o.flash.list()),
    stFree: () => o.flash.getFree(),
    stCompact: () => o.flash.compact(),
    // net
    netConnect: (host: string, port: number, tls: boolean, emit: (ev: string, arg?: unknown) => void) => {
      if (tls) throw new Error('tls: not emulated');
      connects++;
      event('net.connect ' + host + ':' + port);
      const id = ++sockId;
      const s = net.connect({ host, port });
      s.setNoDelay(true);
      const fire = (ev: string, arg?: unknown) => run(() => emit(ev, arg));
      let connected = false;
      s.on('connect', () => {
        connected = true;
        fire('connect');
      });
      s.on('data', (b: Buffer) => {
        for (let i = 0; i < b.length; i += ESP32_CHUNK) fire('data', b.subarray(i, i + ESP32_CHUNK).toString('latin1'));
      });
      s.on('error', (e: NodeJS.ErrnoException) => fire('error', JSON.stringify({ code: e.code === 'ECONNREFUSED' ? -9 : -10, message: e.message })));
      s.on('close', () => {
        sockets.delete(id);
        // Espruino: an error before "connected" is not followed by a close event.
        if (connected) fire('close', false);
      });
      sockets.set(id, { s, emit });
      return id;
    },
    netWrite: (id: number, data: string) => {
      const x = sockets.get(id);
      if (x && !x.s.destroyed) x.s.write(Buffer.from(data, 'latin1'));
    },
    netEnd: (id: number) => {
      sockets.get(id)?.s.end();
    },
    // dgram
    udpCreate: (emit: (ev: string, msg?: string, addr?: string, port?: number) => void) => {
      const id = ++udpId;
      const s = dgram.createSocket('udp4');
      s.on('message', (m, r) => run(() => emit('message', m.toString('latin1'), r.address, r.port)));
      s.on('error', (e) => run(() => emit('error', JSON.stringify({ message: e.message }))));
      s.on('close', () => run(() => emit('close')));
      udps.set(id, { s, emit });
      return id;
    },
    udpSend: (id: number, msg: string, port: number, addr: string) => {
      udps.get(id)?.s.send(Buffer.from(msg, 'latin1'), port, addr);
    },
    udpBind: (id: number, port: number) => {
      udps.get(id)?.s.bind(port);
    },
    udpClose: (id: number) => {
      const x = udps.get(id);
      udps.delete(id);
      try {
        x?.s.close();
      } catch {
        /* closed */
      }
    },
    sha256: (s: string) => createHash('sha256').update(latin1(s)).digest().toString('latin1'),
    // Wifi
    hasWifi: () => wifiPresent,
    wifiEmitter: (fn: (ev: string, d?: string) => void) => {
      wifiEmit = (ev, d) => run(() => fn(ev, d));
    },
    wifiConnect: (ssid: string, _pw: string, cb: (e: string | null) => void) => {
      wifiState.radio = true;
      wifiState.joins++;
      event('wifi.connect ' + ssid);
      if (wifiState.failJoins > 0) {
        wifiState.failJoins--;
        return; // ESP32: no callback for a missing AP, the station keeps trying
      }
      setTimeout(() => {
        if (!on || !wifiState.radio) return;
        wifiState.connected = true;
        run(() => cb(null));
        wifiEmit?.('connected', JSON.stringify({ ip: '192.168.1.23' }));
      }, wifiDelay);
    },
    wifiDisconnect: () => {
      wifiState.connected = false;
      wifiState.radio = false;
    },
    wifiDetails: () => JSON.stringify(wifiState.connected ? { status: 'connected', rssi: o.wifi?.rssi ?? -61, ssid: 'test' } : { status: wifiState.radio ? 'connecting' : 'off' }),
    wifiConfig: (c: string) => {
      wifiState.powersave = JSON.parse(c).powersave ?? wifiState.powersave;
    },
    wifiScan: (cb: () => void) => {
      wifiState.radio = true;
      setTimeout(() => run(cb), 100);
    },
    // Serial
    serialPorts: () => JSON.stringify(Object.keys(o.serial ?? {})),
    serialSetup: (name: string, baud: number, bits: number, parity: string, stop: number, deliver: (s: string) => void) => {
      const link = o.serial?.[name];
      if (!link) throw new Error(name + ' is not wired in this emulation');
      serialOpen.get(name)?.close();
      const p = parity === 'o' ? 'odd' : parity === 'e' ? 'even' : (parity as 'none' | 'even' | 'odd');
      let port: Serial | undefined = undefined;
      port = link.open({
        port: name,
        baud,
        bits: bits as 7 | 8,
        parity: p,
        stopBits: stop as 1 | 2,
        onReadable: () => {
          const d = port?.read();
          if (d) run(() => deliver(str(d)));
        },
      });
      serialOpen.set(name, port);
    },
    serialWrite: (name: string, s: string) => {
      const p = serialOpen.get(name);
      if (!p) throw new Error(name + ' written before setup');
      p.write(latin1(s));
    },
    serialUnsetup: (name: string) => {
      serialOpen.get(name)?.close();
      serialOpen.delete(name);
    },
    // I2C
    i2cPorts: () => JSON.stringify(Object.keys(o.i2c ?? {})),
    i2cSetup: (_name: string, _o: string) => {},
    i2cWrite: (name: string, addr: number, s: string, stop: boolean) => {
      try {
        o.i2c![name].open({ address: addr }).write(latin1(s), stop);
      } catch (e) {
        throw new Error('I2C got NACK: ' + (e as Error).message);
      }
    },
    i2cRead: (name: string, addr: number, n: number, stop: boolean) => {
      try {
        return str(o.i2c![name].open({ address: addr }).read(n, stop));
      } catch (e) {
        throw new Error('I2C got NACK: ' + (e as Error).message);
      }
    },
    // OneWire
    owReset: (p: string) => !!o.onewire?.[p]?.open({ pin: p }).reset(),
    owSearch: (p: string) => JSON.stringify((o.onewire?.[p]?.open({ pin: p }).search() ?? []).map((r) => Buffer.from(r).toString('hex'))),
    owSelect: (p: string, rom: string) => o.onewire?.[p]?.open({ pin: p }).select(new Uint8Array(Buffer.from(rom, 'hex'))),
    owSkip: (p: string) => o.onewire?.[p]?.open({ pin: p }).skip(),
    owWrite: (p: string, s: string, power: boolean) => o.onewire?.[p]?.open({ pin: p }).write(latin1(s), power),
    owRead: (p: string, n: number) => str(o.onewire?.[p]?.open({ pin: p }).read(n) ?? new Uint8Array(n).fill(255)),
    // pins
    pinWrite: (p: string, v: number) => {
      const x = pin(p);
      x.level = v;
      x.history.push({ level: v, t: getTime() });
    },
    pinRead: (p: string) => pin(p).level,
    pinMode: (p: string, m: string) => {
      pin(p).mode = m;
    },
    watch: (p: string, edge: string, debounce: number, repeat: boolean, fn: (s: boolean, t: number, l: number) => void) => {
      const id = ++watchId;
      watches.set(id, { pin: p, edge, debounce, repeat, fn, reported: pin(p).level, last: getTime() });
      return id;
    },
    clearWatch: (id: number) => {
      const w = watches.get(id);
      if (w?.timer) clearTimeout(w.timer);
      watches.delete(id);
    },
  };

  function setPin(p: string, level: 0 | 1): void {
    const x = pin(p);
    if (x.level === level) return;
    x.level = level;
    const edgeTime = getTime();
    for (const [id, w] of watches) {
      if (w.pin !== p) continue;
      const fire = () => {
        w.timer = undefined;
        if (x.level === w.reported) return;
        w.reported = x.level;
        const rising = x.level === 1;
        if (w.edge !== 'both' && (w.edge === 'rising') !== rising) return;
        const last = w.last;
        w.last = edgeTime;
        run(() => w.fn(rising, edgeTime, last));
        if (!w.repeat) watches.delete(id);
      };
      if (w.timer) clearTimeout(w.timer);
      if (w.debounce > 0) w.timer = setTimeout(fire, w.debounce);
      else fire();
    }
  }

  function powerOff(): void {
    if (!on) return;
    on = false;
    for (const t of timers.splice(0)) clearTimeout(t.h);
    for (const { s } of sockets.values()) s.destroy();
    sockets.clear();
    for (const { s } of udps.values()) {
      try {
        s.close();
      } catch {
        /* closed */
      }
    }
    udps.clear();
    for (const w of watches.values()) if (w.timer) clearTimeout(w.timer);
    watches.clear();
    for (const p of serialOpen.values()) p.close();
    serialOpen.clear();
    clearInterval(dog.timer);
    wifiState.radio = false;
    wifiState.connected = false;
  }

  const install = vm.runInContext(EMU, context, { filename: 'espruino-emu.js' }) as (n: typeof N) => void;
  install(N);
  const dev: EmuDevice = {
    context,
    eval: (c) => vm.runInContext(c, context),
    json: <T>(expr: string) => {
      const s = vm.runInContext('JSON.stringify(' + expr + ')', context) as string | undefined;
      return (s === undefined ? undefined : JSON.parse(s)) as T;
    },
    printed,
    uncaught,
    events,
    rngReads,
    srand,
    get connects() {
      return connects;
    },
    watchdog: dog,
    console: consoleState,
    get rebootRequested() {
      return rebootRequested;
    },
    wifi: {
      get radio() {
        return wifiState.radio;
      },
      get connected() {
        return wifiState.connected;
      },
      get joins() {
        return wifiState.joins;
      },
      drop(failJoins = 0) {
        wifiState.connected = false;
        wifiState.failJoins = failJoins;
        wifiEmit?.('disconnected', JSON.stringify({ reason: '200', msg: 'beacon_timeout' }));
      },
    },
    pins,
    setPin,
    getTime,
    powerOff,
    get on() {
      return on;
    },
  } as EmuDevice;
  // The app: its last statement, DepinApp.start(<board>), boots the device.
  run(() => vm.runInContext(code, context, { filename: 'app.js' }));
  return dev;
}
