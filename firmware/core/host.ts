// The host: everything core may touch, provided by a platform (firmware/espruino, agent-sim).
// Core never imports Node or Espruino; it receives one plain host object (ECMA-419's "host
// provider" idea). IO objects follow the ECMA-419 IO class pattern: constructed from an options
// object carrying callbacks, `read()` returns undefined when nothing is buffered, `write()` takes
// all or throws, `close()` is idempotent and no callback fires after it.

/** Wall clock and monotonic uptime. On the device, `now()` is meaningless until `synced()`. */
export interface Clock {
  /** Milliseconds since the Unix epoch as the platform believes it. */
  now(): number;
  /** Milliseconds since boot; monotonic, never jumps. */
  uptime(): number;
  /** True once the wall clock was set from a trusted source (SNTP, broker). */
  synced(): boolean;
}

export type TimerHandle = unknown;

export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
}

/** Cryptographically strong random bytes. Never Math.random / E.hwRand on ESP32 (fixed seed). */
export interface Entropy {
  randomBytes(n: number): Uint8Array;
}

/** ECMA-419-style TCP/TLS socket. Data is pulled with read() after onReadable. */
export interface SocketOptions {
  host: string;
  port: number;
  /** TLS transport. Authenticity of telemetry never rests on it (see docs/wire-format.md). */
  tls?: boolean;
  /** PEM CA for TLS on platforms that verify (Node). Espruino verifies nothing. */
  ca?: string;
  onConnect?(): void;
  /** `count` bytes are buffered; call read(). */
  onReadable?(count: number): void;
  onError?(e: Error): void;
  /** Peer closed or the link died. Fires once; not after close(). */
  onClose?(): void;
}

export interface Socket {
  /** Everything buffered so far, or undefined when empty. */
  read(): Uint8Array | undefined;
  /** Queues all bytes or throws. */
  write(data: Uint8Array): void;
  close(): void;
}

export type SocketFactory = (opts: SocketOptions) => Socket;

/**
 * Flash storage with Espruino's rules (src/jswrap_storage.c): named files, names <= 28 chars
 * (Espruino silently truncates longer ones: core checks names first). A write with no offset or
 * offset 0 creates or replaces the file, preallocated to `size` bytes filled with 0xFF when
 * `size` is given; a write at offset > 0 goes into the existing file, only into still-erased
 * bytes (flash can only clear bits). Replaced files become garbage until compact().
 * Power cuts: an offset write may leave a prefix of its bytes; a replace may leave the old file,
 * no file at all, or the new file holding only the start of its data (Espruino erases the old
 * copy first). Core's flash logs (session/flash-log.ts) are built for exactly that.
 */
export interface Storage {
  /** The file, or `length` bytes from `offset` (Espruino's Storage.read(name, offset, length)). */
  read(name: string, offset?: number, length?: number): Uint8Array | undefined;
  /** See above. Throws on failure (the Espruino adapter turns write()'s false into an error). */
  write(name: string, data: Uint8Array, offset?: number, size?: number): void;
  erase(name: string): void;
  /** Names starting with `prefix` (the Espruino adapter filters itself: Espruino takes a RegExp). */
  list(prefix?: string): string[];
  /** Bytes free for new files (after a compact()). */
  getFree(): number;
  compact?(): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface Log {
  (level: LogLevel, msg: string): void;
}

/**
 * Optional native accelerators. Outputs are checked at start-up against known answers, so a
 * broken slot fails loudly instead of producing bad signatures.
 */
export interface Accel {
  /** SHA-256 of `data` (Espruino: require("crypto").SHA256). */
  sha256?(data: Uint8Array): Uint8Array;
  /**
   * Native dot product E.convolve(a, b, offset): sum over i of a[i] * b[(i + offset) % b.length]
   * computed in double precision. Used for 256-bit field products on the device.
   */
  convolve?(a: ArrayLike<number>, b: ArrayLike<number>, offset: number): number;
}

// ---------------------------------------------------------------------------------------------
// Peripheral IO (ECMA-419 shapes). Pins and ports are the board's names ("D22", "Serial2"); the
// board file maps roles to them. Everything is optional: a platform provides what it has.

export interface SerialOptions {
  /** Board port name, e.g. "Serial2" (Espruino) or a simulated link's name. */
  port: string;
  baud: number;
  bits?: 7 | 8;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
  rx?: string;
  tx?: string;
  /** RS485 driver-enable pin: driven high while transmitting (manual on Espruino). */
  de?: string;
  onReadable?(count: number): void;
  onError?(e: Error): void;
}

export interface Serial {
  read(): Uint8Array | undefined;
  /** Queues all bytes (with the RS485 direction pin handled) or throws. */
  write(data: Uint8Array): void;
  /** Changes the baud rate in place (IEC 62056-21 mode C switches after the handshake). */
  setBaud(baud: number): void;
  close(): void;
}

export interface I2COptions {
  /** Bus name ("I2C1"), or pins. */
  bus?: string;
  sda?: string;
  scl?: string;
  hz?: number;
  /** 7-bit device address. */
  address: number;
}

/** Synchronous, as Espruino's I2C is. A missing device (NACK) throws a coded error. */
export interface I2C {
  write(data: Uint8Array, stop?: boolean): void;
  read(count: number, stop?: boolean): Uint8Array;
  close(): void;
}

export interface OneWireOptions {
  pin: string;
}

/** Maxim 1-Wire master (Espruino's OneWire class). */
export interface OneWire {
  /** Reset pulse; true when a presence pulse answered. */
  reset(): boolean;
  /** ROM codes (8 bytes each) of the devices on the bus. */
  search(): Uint8Array[];
  select(rom: Uint8Array): void;
  skip(): void;
  write(data: Uint8Array, power?: boolean): void;
  read(count: number): Uint8Array;
  close(): void;
}

export interface EdgeEvent {
  /** Level after the edge. */
  rising: boolean;
  /** Uptime in ms when the edge happened (interrupt time, not callback time). */
  time: number;
}

export interface WatchOptions {
  pin: string;
  edge: 'rising' | 'falling' | 'both';
  /** Software debounce (Espruino setWatch debounce), ms; 0 for none. */
  debounceMs: number;
  pull?: 'up' | 'down' | 'none';
  onEdge(e: EdgeEvent): void;
}

export interface Watch {
  close(): void;
}

export interface DigitalOutput {
  write(level: 0 | 1): void;
  close(): void;
}

export interface UdpOptions {
  port: number;
  address?: string;
  onReadable?(count: number): void;
  onError?(e: Error): void;
}

export interface Datagram {
  data: Uint8Array;
  address: string;
  port: number;
}

export interface Udp {
  read(): Datagram | undefined;
  write(data: Uint8Array, address: string, port: number): void;
  close(): void;
}

export interface IO {
  serial?(o: SerialOptions): Serial;
  i2c?(o: I2COptions): I2C;
  onewire?(o: OneWireOptions): OneWire;
  watch?(o: WatchOptions): Watch;
  output?(o: { pin: string }): DigitalOutput;
  udp?(o: UdpOptions): Udp;
}

/** The network link's own counters (Wi-Fi on the device), for the `device` source. */
export interface DeviceNet {
  /** Signal strength in dBm while associated, else undefined. */
  rssi(): number | undefined;
  /** Link reconnects since boot. */
  reconnects(): number;
}

/** The host object a platform hands to core. */
export interface Host {
  clock: Clock;
  timers: Timers;
  entropy: Entropy;
  storage: Storage;
  socket: SocketFactory;
  log: Log;
  accel?: Accel;
  /** Free memory in bytes if the platform can tell (Espruino: process.memory()). */
  freeMemory?(): number;
  /** Peripheral IO the board has. */
  io?: IO;
  net?: DeviceNet;
}
