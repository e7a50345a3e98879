// Types of the Espruino 2v29 APIs the platform layer uses (src/jswrap_*.c, libs/network,
// libs/crypto). Types only: this module emits nothing. Each platform module declares the few
// globals it touches with `declare`, so the bundle refers to Espruino's own globals by name and
// the Node type check (root tsconfig.json, which has @types/node) sees no clash.

/** The `E` object (src/jswrap_espruino.c). */
export interface EspruinoE {
  /** Bytes of its arguments as a binary string; undefined when no flat string fits in memory. */
  toString(...data: unknown[]): string | undefined;
  toUint8Array(...data: unknown[]): Uint8Array;
  convolve(a: ArrayLike<number>, b: ArrayLike<number>, offset: number): number;
  CRC32(data: unknown): number;
  /** Seeds the generator behind Math.random, E.hwRand and TLS's DRBG (src/jsutils.c). */
  srand(seed: number): void;
  hwRand(): number;
  enableWatchdog(timeoutS: number, isAuto?: boolean): void;
  kickWatchdog(): void;
  setPassword(password: string): void;
  lockConsole(): void;
  reboot(): void;
  /** fs library (Linux build, SD cards): a file handle with read(n) -> binary string. */
  openFile?(path: string, mode: string): { read(n: number): string | undefined; close(): void } | undefined;
}

/** require("Storage") (src/jswrap_storage.c). */
export interface StorageModule {
  read(name: string, offset?: number, length?: number): string | undefined;
  readArrayBuffer(name: string): ArrayBuffer | undefined;
  write(name: string, data: unknown, offset?: number, size?: number): boolean;
  erase(name: string): void;
  list(regex?: RegExp): string[];
  getFree(): number;
  compact(): void;
}

/** A socket of require("net") / require("tls") (libs/network/jswrap_net.c). */
export interface NetSocket {
  on(event: 'data', fn: (data: string) => void): void;
  on(event: 'close', fn: (hadError: boolean) => void): void;
  on(event: 'error', fn: (e: { code?: number; message?: string }) => void): void;
  write(data: string): boolean;
  end(): void;
}

export interface NetModule {
  connect(options: { host: string; port: number }, onConnect: () => void): NetSocket;
}

/** require("dgram").createSocket("udp4") (libs/network/jswrap_net.c). */
export interface DgramSocket {
  on(event: 'message', fn: (msg: string, rinfo: { address: string; port: number; size: number }) => void): void;
  on(event: 'close', fn: () => void): void;
  on(event: 'error', fn: (e: { code?: number; message?: string }) => void): void;
  /** `buffer` must be a string (jswrap_dgram_socket_send asserts it). */
  send(buffer: string, port: number, address: string): void;
  bind(port: number, onBound?: () => void): DgramSocket;
  close(): void;
}

export interface DgramModule {
  createSocket(type: string): DgramSocket;
}

/** require("crypto") (libs/crypto/jswrap_crypto.c): SHA256 returns an ArrayBuffer. */
export interface CryptoModule {
  SHA256?(data: unknown): ArrayBuffer;
}

/** require("Wifi") on ESP32 (libs/network/jswrap_wifi.c, libs/network/esp32). */
export interface WifiModule {
  connect(ssid: string, options: { password?: string }, callback: (err: string | null) => void): void;
  disconnect(callback?: () => void): void;
  getDetails(callback?: (d: WifiDetails) => void): WifiDetails | undefined;
  setConfig(settings: { powersave?: string }): void;
  scan(callback: (err: string | null, aps?: unknown[]) => void): void;
  on(event: string, fn: (details?: unknown) => void): void;
}

export interface WifiDetails {
  status?: string;
  rssi?: number;
  ssid?: string;
}

/** process (src/jswrap_process.c). */
export interface EspruinoProcess {
  memory(gc?: boolean): { free: number; usage: number; total: number; blocksize?: number };
  env: { VERSION?: string; BOARD?: string; MODULES?: string; [k: string]: unknown };
}

/** Serial1..3 (src/jswrap_serial.c). */
export interface SerialPort {
  setup(baud: number, options?: { rx?: unknown; tx?: unknown; bytesize?: number; parity?: string | null; stopbits?: number }): void;
  write(data: unknown): void;
  on(event: 'data', fn: (data: string) => void): void;
  removeAllListeners(event?: string): void;
  unsetup?(): void;
}

/** I2C1 / I2C2 (src/jswrap_i2c.c). */
export interface I2CPort {
  setup(options: { scl?: unknown; sda?: unknown; bitrate?: number }): void;
  writeTo(address: number | { address: number; stop: boolean }, data: unknown): void;
  readFrom(address: number | { address: number; stop: boolean }, quantity: number): Uint8Array;
}

/** new OneWire(pin) (src/jswrap_onewire.c). ROM ids are 16 hex digits, LSB first. */
export interface OneWireBus {
  reset(): boolean;
  search(command?: number): string[];
  select(rom: string): void;
  skip(): void;
  write(data: unknown, power?: boolean): void;
  read(count?: number): number | number[] | Uint8Array;
}

/** The event setWatch hands its callback (src/jsinteractive.c): times in getTime() seconds. */
export interface WatchEvent {
  state: boolean;
  time: number;
  lastTime?: number;
}

/** Wraps a require() so a missing module (Linux build: no Wifi) reads as undefined. */
export type Require = (name: string) => unknown;
