// Board files (boards/<id>.json, schema boards/schema.json): what a board is, which pins it
// never lends out and why, and which pins the project assigns to each role. Two jobs:
//   validateBoard(obj)                  -> Board, or one E_BOARD error listing every problem
//   checkDeviceConfig(board, config)    -> string[] (errors, then warnings marked ": warning: ")
// Platform-free and Espruino-safe (no regex, no Map/Set, functions declared before use): the
// device runs checkDeviceConfig when a config arrives, before it opens a port.
//
// Role references. A source config may name a board role instead of a pin or port:
//   "port": "@meterUart"   the role's port; its pins (rx, tx, de) fill the source's absent pin fields
//   "port": "@p1"          likewise (rx, requestPin)
//   "bus":  "@i2c"         the role's bus; fills sda and scl
//   "pin":  "@oneWire"     a role with one pin: statusLed, button, oneWire
//   "pin":  "@s0[1]"       the second S0 input (0-based)
//   "de":   "@meterUart.de", "sda": "@i2c.sda"   one named pin of a role
// Explicit fields win over filled ones. Resolve first (resolveDeviceConfig), then hand the
// result to core's checkSourceConfigs: the core schema only knows literal pin names.
import { err } from '../core/util/errors.js';
import { nearest } from '../core/config/schema.js';

// ---------------------------------------------------------------------------------------------
// Types

export type Chip = 'esp32' | 'esp32c3' | 'esp32s3';

export interface PinSet {
  pins: string[];
  reason: string;
  verified: boolean;
  source: string;
}

export interface Restriction extends PinSet {
  /** error: never usable; warning: usable with care (strapping pins), configs get a warning. */
  severity: 'error' | 'warning';
}

export interface PortInfo {
  kind: 'serial' | 'i2c';
  console?: boolean;
  defaultRx?: string;
  defaultTx?: string;
  defaultSda?: string;
  defaultScl?: string;
  source?: string;
}

export interface StatusLedRole {
  pin: string;
  kind: 'gpio' | 'addressable';
  activeLow?: boolean;
  chipset?: 'WS2812' | 'SK6812';
  colorOrder?: 'GRB' | 'RGB';
  /** gpio: digitalWrite; neopixel: require("neopixel").write(pin, [g, r, b]). */
  driver: 'gpio' | 'neopixel';
  verified: boolean;
  source: string;
  note?: string;
}

export interface ButtonRole {
  pin: string;
  activeLow: boolean;
  verified: boolean;
  source: string;
  note?: string;
}

export interface Roles {
  statusLed: StatusLedRole | null;
  button: ButtonRole | null;
  i2c: { bus: string; sda: string; scl: string; note?: string } | null;
  meterUart: { port: string; rx: string; tx: string; de: string; note?: string } | null;
  p1: { port: string; rx: string; requestPin: string; inverterRequired: true; note?: string } | null;
  s0: { pin: string; externalPullUp?: boolean; note?: string }[];
  oneWire: { pin: string; note?: string } | null;
}

export interface Board {
  id: string;
  name: string;
  chip: Chip;
  module: string;
  firmware: {
    espruinoBoard: string;
    binaryPattern: string;
    crypto: boolean;
    jsVars: number;
    storageBytes: number;
    flashBytes: number;
    firmwareMaxBytes: number;
    images: { offset: string; file: string }[];
    esptool: { chip: Chip; flashMode: string; flashFreq: string };
    source: string;
  };
  rngRegister: string;
  console: { port: string; transport: 'uart-bridge' | 'usb-serial-jtag'; bridge?: string; pins: string[]; baud: number; source: string; note?: string };
  ports: { [name: string]: PortInfo };
  gpio: { pins: string[]; verified: boolean; source: string; inputOnly: PinSet; noPull: PinSet; noWatch: PinSet };
  restricted: Restriction[];
  roles: Roles;
  alternatives: string[][];
  sources: { id: string; title: string; url: string }[];
  notes?: string[];
}

// ---------------------------------------------------------------------------------------------
// Chip and build tables. Every board file is checked against these, so a fact lives here once.

interface ChipInfo {
  /** Inclusive GPIO number ranges the chip has. */
  gpio: number[][];
  /** Hardware RNG data register, esp-idf components/soc/<chip>/include/soc/wdev_reg.h. */
  rngRegister: number;
  /** Input-only GPIOs without pull resistors (ESP32 datasheet: GPIO34-39). */
  inputOnly: number[];
  /** Pins Espruino's jshCanWatch() refuses (targets/esp32/jshardware.c). */
  noWatch: number[];
  /** Espruino port objects the build has (boards/<board>.py usart and i2c counts). */
  ports: string[];
  /** Second-stage bootloader offset in flash (esptool docs; Espruino README_flash*.txt). */
  bootloaderOffset: string;
}

export const CHIPS: { [chip: string]: ChipInfo } = {
  esp32: {
    gpio: [[0, 19], [21, 23], [25, 27], [32, 39]],
    rngRegister: 0x60035144,
    inputOnly: [34, 35, 36, 37, 38, 39],
    noWatch: [6, 7, 8, 9, 10, 11, 12],
    ports: ['Serial1', 'Serial2', 'Serial3', 'I2C1', 'I2C2'],
    bootloaderOffset: '0x1000',
  },
  esp32c3: {
    gpio: [[0, 21]],
    rngRegister: 0x600260b0,
    inputOnly: [],
    noWatch: [18, 19],
    ports: ['Serial1', 'Serial2', 'I2C1'],
    bootloaderOffset: '0x0',
  },
  esp32s3: {
    gpio: [[0, 21], [26, 48]],
    rngRegister: 0x6003507c,
    inputOnly: [],
    noWatch: [6, 7, 8, 9, 10, 11, 12],
    ports: ['Serial1', 'Serial2', 'Serial3', 'I2C1', 'I2C2'],
    bootloaderOffset: '0x0',
  },
};

interface BuildInfo {
  chip: Chip;
  /** The board file lists CRYPTO in its libraries (ESP32_IDF4 has it commented out). */
  crypto: boolean;
  binaryPattern: string;
  /** The board file's 'variables'. */
  jsVars: number;
  /** Flash images and offsets: README_flash*.txt, make/targets/ESP32*.make. */
  images: { offset: string; file: string }[];
}

/** Espruino 2v29 boards/*.py for the ESP32 family (espruino/Espruino). */
export const ESPRUINO_BUILDS: { [board: string]: BuildInfo } = {
  ESP32: {
    chip: 'esp32',
    crypto: true,
    binaryPattern: 'espruino_%v_esp32.bin',
    jsVars: 16383,
    images: [{ offset: '0x1000', file: 'bootloader.bin' }, { offset: '0x8000', file: 'partitions_espruino.bin' }, { offset: '0x10000', file: 'espruino_esp32.bin' }],
  },
  ESP32_IDF4: {
    chip: 'esp32',
    crypto: false,
    binaryPattern: 'espruino_%v_esp32.bin',
    jsVars: 16383,
    images: [{ offset: '0x1000', file: 'bootloader.bin' }, { offset: '0x8000', file: 'partition-table.bin' }, { offset: '0x10000', file: 'espruino-esp32.bin' }],
  },
  ESP32C3_IDF4: {
    chip: 'esp32c3',
    crypto: true,
    binaryPattern: 'espruino_%v_esp32c3.bin',
    jsVars: 4095,
    images: [{ offset: '0x0', file: 'bootloader.bin' }, { offset: '0x8000', file: 'partition-table.bin' }, { offset: '0x10000', file: 'espruino-esp32c3.bin' }],
  },
  ESP32S3_IDF4: {
    chip: 'esp32s3',
    crypto: true,
    binaryPattern: 'espruino_%v_esp32s3.bin',
    jsVars: 16383,
    images: [{ offset: '0x0', file: 'bootloader.bin' }, { offset: '0x8000', file: 'partition-table.bin' }, { offset: '0x10000', file: 'espruino-esp32s3.bin' }],
  },
};

export const ROLE_NAMES = ['statusLed', 'button', 'i2c', 'meterUart', 'p1', 's0', 'oneWire'];

/** Pin members of each role (a role with one pin calls it `pin`). */
const ROLE_PINS: { [role: string]: string[] } = {
  statusLed: ['pin'],
  button: ['pin'],
  oneWire: ['pin'],
  s0: ['pin'],
  i2c: ['sda', 'scl'],
  meterUart: ['rx', 'tx', 'de'],
  p1: ['rx', 'requestPin'],
};

/** Roles the agent itself drives: a source may not take their pins. */
const FIRMWARE_ROLES: { [role: string]: string } = { statusLed: 'the status LED', button: 'the button' };
const FIRMWARE_USE: { [role: string]: string } = { statusLed: 'the agent drives it', button: 'the agent reads it' };

/** Role pins that drive a line. */
const ROLE_OUTPUTS: { [role: string]: string[] } = {
  statusLed: ['pin'],
  i2c: ['sda', 'scl'],
  meterUart: ['tx', 'de'],
  p1: ['requestPin'],
  oneWire: ['pin'],
};

// How each source type uses pins. in: read only; out: driven; io: open-drain bus (needs an
// output driver). watch: read through setWatch. share 'port': sources of this type may share
// one port/bus and its pins (Modbus multi-drop, several I2C sensors); share 'pin': may share
// one pin (several DS18B20 on one 1-Wire line).
export interface PinFieldUse {
  dir: 'in' | 'out' | 'io';
  watch?: boolean;
}
export interface SourceIO {
  port?: 'serial';
  bus?: 'i2c';
  /** The bus the source's schema fills in when the config leaves `bus` out. */
  defaultBus?: string;
  pins: { [field: string]: PinFieldUse };
  share?: 'port' | 'pin';
}

const IN: PinFieldUse = { dir: 'in' };
const OUT: PinFieldUse = { dir: 'out' };
const IO: PinFieldUse = { dir: 'io' };

export const SOURCE_IO: { [type: string]: SourceIO } = {
  s0: { pins: { pin: { dir: 'in', watch: true } } },
  modbus: { port: 'serial', pins: { rx: IN, tx: OUT, de: OUT }, share: 'port' },
  dsmr: { port: 'serial', pins: { rx: IN, requestPin: OUT } },
  sht31: { bus: 'i2c', defaultBus: 'I2C1', pins: { sda: IO, scl: IO }, share: 'port' },
  bme280: { bus: 'i2c', defaultBus: 'I2C1', pins: { sda: IO, scl: IO }, share: 'port' },
  ds18b20: { pins: { pin: IO }, share: 'pin' },
  iec62056: { port: 'serial', pins: { rx: IN, tx: OUT } },
  pms5003: { port: 'serial', pins: { rx: IN, tx: OUT } },
  sds011: { port: 'serial', pins: { rx: IN, tx: OUT } },
  s8: { port: 'serial', pins: { rx: IN, tx: OUT } },
  // No pins: `port` of semtech is a UDP port number.
  semtech: { pins: {} },
  device: { pins: {} },
};

/** Unknown source types: pin fields recognised by name, no sharing. */
const GENERIC_IO: SourceIO = { port: 'serial', bus: 'i2c', pins: { pin: IN, rx: IN, tx: OUT, de: OUT, requestPin: OUT, sda: IO, scl: IO } };

/** Bounds of a board file; boards/schema.json states the same maxItems. */
export const BOARD_LIMITS = {
  MAX_S0: 8,
  MAX_RESTRICTED: 32,
  MAX_ALTERNATIVES: 8,
  MAX_SOURCES: 32,
  MAX_NOTES: 16,
};

/** Marks a warning in checkDeviceConfig's output: "<path>: warning: <text>". */
export const WARNING_MARK = ': warning: ';

// ---------------------------------------------------------------------------------------------
// Small helpers

type Obj = { [k: string]: unknown };

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !(v instanceof Array);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return v instanceof Array ? 'an array' : 'an object';
}

function contains(list: unknown[], v: unknown): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === v) return true;
  return false;
}

/** GPIO number of an Espruino pin name "D<n>", or -1. */
export function pinNumber(name: unknown): number {
  if (typeof name !== 'string' || name.length < 2 || name.length > 3 || name.charAt(0) !== 'D') return -1;
  let n = 0;
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  if (name.length === 3 && name.charAt(1) === '0') return -1;
  return n;
}

function chipHasGpio(chip: ChipInfo, n: number): boolean {
  for (let i = 0; i < chip.gpio.length; i++) if (n >= chip.gpio[i][0] && n <= chip.gpio[i][1]) return true;
  return false;
}

function isHex(s: string): boolean {
  if (s.length < 3 || s.charAt(0) !== '0' || s.charAt(1) !== 'x') return false;
  for (let i = 2; i < s.length; i++) {
    const c = s.charAt(i);
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

function isSlug(s: string): boolean {
  if (s.length === 0 || s.charAt(0) === '-' || s.charAt(s.length - 1) === '-') return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (c === '-') {
      if (s.charAt(i + 1) === '-') return false;
    } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

/** The hardware RNG register as a number, for peek32(). */
export function rngAddress(board: Board): number {
  return parseInt(board.rngRegister.substring(2), 16);
}

// ---------------------------------------------------------------------------------------------
// Structure: a hand-written mirror of boards/schema.json (test/boards pins the two together).

interface V {
  e: string[];
}

function known(v: V, path: string, o: Obj, fields: string[], required: string[]): void {
  const pre = path ? path + '.' : '';
  for (const k in o) {
    if (!o.hasOwnProperty(k) || contains(fields, k)) continue;
    const near = nearest(k, fields);
    v.e.push(pre + k + ': unknown field' + (near ? '; did you mean "' + near + '"?' : ''));
  }
  for (let i = 0; i < required.length; i++) if (o[required[i]] === undefined) v.e.push(pre + required[i] + ': required field missing');
}

function str(v: V, path: string, x: unknown, min: number, max: number): boolean {
  if (x === undefined) return false;
  if (typeof x !== 'string') {
    v.e.push(path + ': expected a string, got ' + show(x));
    return false;
  }
  if (x.length < min || x.length > max) {
    v.e.push(path + ': expected ' + min + '..' + max + ' characters, got ' + x.length);
    return false;
  }
  return true;
}

function oneOf(v: V, path: string, x: unknown, options: string[]): boolean {
  if (x === undefined) return false;
  if (!contains(options, x)) {
    const near = typeof x === 'string' ? nearest(x, options) : undefined;
    v.e.push(path + ': expected one of ' + options.join(', ') + ', got ' + show(x) + (near ? '; did you mean "' + near + '"?' : ''));
    return false;
  }
  return true;
}

function bool(v: V, path: string, x: unknown): void {
  if (x !== undefined && typeof x !== 'boolean') v.e.push(path + ': expected true or false, got ' + show(x));
}

function int(v: V, path: string, x: unknown, min: number, max: number): void {
  if (x === undefined) return;
  if (typeof x !== 'number' || x !== x || Math.floor(x) !== x || x < min || x > max)
    v.e.push(path + ': expected an integer in ' + min + '..' + max + ', got ' + show(x));
}

function pin(v: V, path: string, x: unknown): void {
  if (x === undefined) return;
  const n = pinNumber(x);
  if (n < 0 || n > 48) v.e.push(path + ': expected a pin name D0..D48, got ' + show(x));
}

function pinList(v: V, path: string, x: unknown): void {
  if (x === undefined) return;
  if (!(x instanceof Array)) {
    v.e.push(path + ': expected an array of pin names, got ' + show(x));
    return;
  }
  for (let i = 0; i < x.length; i++) {
    pin(v, path + '[' + i + ']', x[i]);
    for (let j = 0; j < i; j++) if (x[j] === x[i]) v.e.push(path + '[' + i + ']: ' + show(x[i]) + ' is listed twice');
  }
}

function slug(v: V, path: string, x: unknown): void {
  if (str(v, path, x, 1, 40) && !isSlug(x as string)) v.e.push(path + ': expected lower-case words joined by "-", got ' + show(x));
}

function objectAt(v: V, path: string, x: unknown): x is Obj {
  if (x === undefined) return false;
  if (!isObj(x)) {
    v.e.push(path + ': expected an object, got ' + show(x));
    return false;
  }
  return true;
}

function nullableObject(v: V, path: string, x: unknown): x is Obj {
  if (x === null || x === undefined) return false;
  return objectAt(v, path, x);
}

function pinSet(v: V, path: string, x: unknown): void {
  if (!objectAt(v, path, x)) return;
  known(v, path, x, ['pins', 'reason', 'verified', 'source'], ['pins', 'reason', 'verified', 'source']);
  pinList(v, path + '.pins', x.pins);
  str(v, path + '.reason', x.reason, 1, 300);
  bool(v, path + '.verified', x.verified);
  slug(v, path + '.source', x.source);
}

function structure(v: V, b: Obj): void {
  const top = ['$schema', 'id', 'name', 'chip', 'module', 'firmware', 'rngRegister', 'console', 'ports', 'gpio', 'restricted', 'roles', 'alternatives', 'sources', 'notes'];
  known(v, '', b, top, top.slice(1, 14));
  if (b.$schema !== undefined && typeof b.$schema !== 'string') v.e.push('$schema: expected a string, got ' + show(b.$schema));
  slug(v, 'id', b.id);
  str(v, 'name', b.name, 1, 120);
  oneOf(v, 'chip', b.chip, ['esp32', 'esp32c3', 'esp32s3']);
  str(v, 'module', b.module, 1, 160);
  if (str(v, 'rngRegister', b.rngRegister, 10, 10) && !isHex(b.rngRegister as string))
    v.e.push('rngRegister: expected 0x and 8 upper-case hex digits, got ' + show(b.rngRegister));

  const f = b.firmware;
  if (objectAt(v, 'firmware', f)) {
    const ff = ['espruinoBoard', 'binaryPattern', 'crypto', 'jsVars', 'storageBytes', 'flashBytes', 'firmwareMaxBytes', 'images', 'esptool', 'source'];
    known(v, 'firmware', f, ff, ff);
    oneOf(v, 'firmware.espruinoBoard', f.espruinoBoard, ['ESP32', 'ESP32_IDF4', 'ESP32C3_IDF4', 'ESP32S3_IDF4']);
    oneOf(v, 'firmware.binaryPattern', f.binaryPattern, ['espruino_%v_esp32.bin', 'espruino_%v_esp32c3.bin', 'espruino_%v_esp32s3.bin']);
    bool(v, 'firmware.crypto', f.crypto);
    int(v, 'firmware.jsVars', f.jsVars, 1024, 65535);
    int(v, 'firmware.storageBytes', f.storageBytes, 65536, 16777216);
    int(v, 'firmware.flashBytes', f.flashBytes, 1048576, 33554432);
    int(v, 'firmware.firmwareMaxBytes', f.firmwareMaxBytes, 262144, 4194304);
    slug(v, 'firmware.source', f.source);
    if (f.images !== undefined) {
      if (!(f.images instanceof Array) || f.images.length !== 3) v.e.push('firmware.images: expected 3 images (bootloader, partition table, app), got ' + show(f.images));
      else
        for (let i = 0; i < f.images.length; i++) {
          const p = 'firmware.images[' + i + ']';
          const im = f.images[i];
          if (!objectAt(v, p, im)) continue;
          known(v, p, im, ['offset', 'file'], ['offset', 'file']);
          if (str(v, p + '.offset', im.offset, 3, 12) && !isHex(im.offset as string)) v.e.push(p + '.offset: expected 0x and upper-case hex digits, got ' + show(im.offset));
          if (str(v, p + '.file', im.file, 5, 64) && (im.file as string).substring((im.file as string).length - 4) !== '.bin')
            v.e.push(p + '.file: expected a .bin file name, got ' + show(im.file));
        }
    }
    if (objectAt(v, 'firmware.esptool', f.esptool)) {
      known(v, 'firmware.esptool', f.esptool, ['chip', 'flashMode', 'flashFreq'], ['chip', 'flashMode', 'flashFreq']);
      oneOf(v, 'firmware.esptool.chip', f.esptool.chip, ['esp32', 'esp32c3', 'esp32s3']);
      oneOf(v, 'firmware.esptool.flashMode', f.esptool.flashMode, ['dio', 'qio', 'dout']);
      oneOf(v, 'firmware.esptool.flashFreq', f.esptool.flashFreq, ['40m', '80m']);
    }
  }

  const c = b.console;
  if (objectAt(v, 'console', c)) {
    known(v, 'console', c, ['port', 'transport', 'bridge', 'pins', 'baud', 'source', 'note'], ['port', 'transport', 'pins', 'baud', 'source']);
    oneOf(v, 'console.port', c.port, ['Serial1']);
    oneOf(v, 'console.transport', c.transport, ['uart-bridge', 'usb-serial-jtag']);
    str(v, 'console.bridge', c.bridge, 0, 80);
    pinList(v, 'console.pins', c.pins);
    int(v, 'console.baud', c.baud, 9600, 921600);
    slug(v, 'console.source', c.source);
    str(v, 'console.note', c.note, 1, 400);
  }

  if (objectAt(v, 'ports', b.ports)) {
    for (const name in b.ports) {
      if (!b.ports.hasOwnProperty(name)) continue;
      const p = 'ports.' + name;
      if (!contains(['Serial1', 'Serial2', 'Serial3', 'I2C1', 'I2C2'], name)) v.e.push(p + ': expected a port name Serial1..Serial3 or I2C1..I2C2');
      const po = b.ports[name];
      if (!objectAt(v, p, po)) continue;
      known(v, p, po, ['kind', 'console', 'defaultRx', 'defaultTx', 'defaultSda', 'defaultScl', 'source'], ['kind']);
      oneOf(v, p + '.kind', po.kind, ['serial', 'i2c']);
      bool(v, p + '.console', po.console);
      pin(v, p + '.defaultRx', po.defaultRx);
      pin(v, p + '.defaultTx', po.defaultTx);
      pin(v, p + '.defaultSda', po.defaultSda);
      pin(v, p + '.defaultScl', po.defaultScl);
      if (po.source !== undefined) slug(v, p + '.source', po.source);
    }
  }

  const g = b.gpio;
  if (objectAt(v, 'gpio', g)) {
    const gf = ['pins', 'verified', 'source', 'inputOnly', 'noPull', 'noWatch'];
    known(v, 'gpio', g, gf, gf);
    pinList(v, 'gpio.pins', g.pins);
    bool(v, 'gpio.verified', g.verified);
    slug(v, 'gpio.source', g.source);
    pinSet(v, 'gpio.inputOnly', g.inputOnly);
    pinSet(v, 'gpio.noPull', g.noPull);
    pinSet(v, 'gpio.noWatch', g.noWatch);
  }

  if (b.restricted !== undefined) {
    if (!(b.restricted instanceof Array) || b.restricted.length > BOARD_LIMITS.MAX_RESTRICTED)
      v.e.push('restricted: expected an array of at most ' + BOARD_LIMITS.MAX_RESTRICTED + ' entries, got ' + show(b.restricted));
    else
      for (let i = 0; i < b.restricted.length; i++) {
        const p = 'restricted[' + i + ']';
        const r = b.restricted[i];
        if (!objectAt(v, p, r)) continue;
        const rf = ['pins', 'severity', 'reason', 'verified', 'source'];
        known(v, p, r, rf, rf);
        pinList(v, p + '.pins', r.pins);
        oneOf(v, p + '.severity', r.severity, ['error', 'warning']);
        str(v, p + '.reason', r.reason, 1, 300);
        bool(v, p + '.verified', r.verified);
        slug(v, p + '.source', r.source);
      }
  }

  const ro = b.roles;
  if (objectAt(v, 'roles', ro)) {
    known(v, 'roles', ro, ROLE_NAMES, ROLE_NAMES);
    const led = ro.statusLed;
    if (nullableObject(v, 'roles.statusLed', led)) {
      known(v, 'roles.statusLed', led, ['pin', 'kind', 'activeLow', 'chipset', 'colorOrder', 'driver', 'verified', 'source', 'note'], ['pin', 'kind', 'driver', 'verified', 'source']);
      pin(v, 'roles.statusLed.pin', led.pin);
      oneOf(v, 'roles.statusLed.kind', led.kind, ['gpio', 'addressable']);
      bool(v, 'roles.statusLed.activeLow', led.activeLow);
      oneOf(v, 'roles.statusLed.chipset', led.chipset, ['WS2812', 'SK6812']);
      oneOf(v, 'roles.statusLed.colorOrder', led.colorOrder, ['GRB', 'RGB']);
      oneOf(v, 'roles.statusLed.driver', led.driver, ['gpio', 'neopixel']);
      bool(v, 'roles.statusLed.verified', led.verified);
      slug(v, 'roles.statusLed.source', led.source);
      str(v, 'roles.statusLed.note', led.note, 1, 400);
    }
    const btn = ro.button;
    if (nullableObject(v, 'roles.button', btn)) {
      known(v, 'roles.button', btn, ['pin', 'activeLow', 'verified', 'source', 'note'], ['pin', 'activeLow', 'verified', 'source']);
      pin(v, 'roles.button.pin', btn.pin);
      bool(v, 'roles.button.activeLow', btn.activeLow);
      bool(v, 'roles.button.verified', btn.verified);
      slug(v, 'roles.button.source', btn.source);
      str(v, 'roles.button.note', btn.note, 1, 400);
    }
    const i2c = ro.i2c;
    if (nullableObject(v, 'roles.i2c', i2c)) {
      known(v, 'roles.i2c', i2c, ['bus', 'sda', 'scl', 'note'], ['bus', 'sda', 'scl']);
      oneOf(v, 'roles.i2c.bus', i2c.bus, ['I2C1', 'I2C2']);
      pin(v, 'roles.i2c.sda', i2c.sda);
      pin(v, 'roles.i2c.scl', i2c.scl);
      str(v, 'roles.i2c.note', i2c.note, 1, 400);
    }
    const mu = ro.meterUart;
    if (nullableObject(v, 'roles.meterUart', mu)) {
      known(v, 'roles.meterUart', mu, ['port', 'rx', 'tx', 'de', 'note'], ['port', 'rx', 'tx', 'de']);
      oneOf(v, 'roles.meterUart.port', mu.port, ['Serial2', 'Serial3']);
      pin(v, 'roles.meterUart.rx', mu.rx);
      pin(v, 'roles.meterUart.tx', mu.tx);
      pin(v, 'roles.meterUart.de', mu.de);
      str(v, 'roles.meterUart.note', mu.note, 1, 400);
    }
    const p1 = ro.p1;
    if (nullableObject(v, 'roles.p1', p1)) {
      known(v, 'roles.p1', p1, ['port', 'rx', 'requestPin', 'inverterRequired', 'note'], ['port', 'rx', 'requestPin', 'inverterRequired']);
      oneOf(v, 'roles.p1.port', p1.port, ['Serial2', 'Serial3']);
      pin(v, 'roles.p1.rx', p1.rx);
      pin(v, 'roles.p1.requestPin', p1.requestPin);
      if (p1.inverterRequired !== undefined && p1.inverterRequired !== true)
        v.e.push('roles.p1.inverterRequired: expected true (Espruino cannot invert UART RX on ESP32), got ' + show(p1.inverterRequired));
      str(v, 'roles.p1.note', p1.note, 1, 400);
    }
    if (ro.s0 !== undefined) {
      if (!(ro.s0 instanceof Array) || ro.s0.length > BOARD_LIMITS.MAX_S0)
        v.e.push('roles.s0: expected an array of at most ' + BOARD_LIMITS.MAX_S0 + ' inputs, got ' + show(ro.s0) + (ro.s0 instanceof Array ? ' of ' + ro.s0.length : ''));
      else
        for (let i = 0; i < ro.s0.length; i++) {
          const p = 'roles.s0[' + i + ']';
          const s = ro.s0[i];
          if (!objectAt(v, p, s)) continue;
          known(v, p, s, ['pin', 'externalPullUp', 'note'], ['pin']);
          pin(v, p + '.pin', s.pin);
          bool(v, p + '.externalPullUp', s.externalPullUp);
          str(v, p + '.note', s.note, 1, 400);
        }
    }
    const ow = ro.oneWire;
    if (nullableObject(v, 'roles.oneWire', ow)) {
      known(v, 'roles.oneWire', ow, ['pin', 'note'], ['pin']);
      pin(v, 'roles.oneWire.pin', ow.pin);
      str(v, 'roles.oneWire.note', ow.note, 1, 400);
    }
  }

  if (b.alternatives !== undefined) {
    if (!(b.alternatives instanceof Array) || b.alternatives.length > BOARD_LIMITS.MAX_ALTERNATIVES)
      v.e.push('alternatives: expected an array of at most ' + BOARD_LIMITS.MAX_ALTERNATIVES + ' role pairs, got ' + show(b.alternatives));
    else
      for (let i = 0; i < b.alternatives.length; i++) {
        const a = b.alternatives[i];
        const p = 'alternatives[' + i + ']';
        if (!(a instanceof Array) || a.length !== 2 || a[0] === a[1]) {
          v.e.push(p + ': expected two different role names, got ' + show(a));
          continue;
        }
        oneOf(v, p + '[0]', a[0], ROLE_NAMES);
        oneOf(v, p + '[1]', a[1], ROLE_NAMES);
      }
  }

  if (b.sources !== undefined) {
    if (!(b.sources instanceof Array) || b.sources.length < 1 || b.sources.length > BOARD_LIMITS.MAX_SOURCES)
      v.e.push('sources: expected an array of 1..' + BOARD_LIMITS.MAX_SOURCES + ' entries, got ' + show(b.sources));
    else
      for (let i = 0; i < b.sources.length; i++) {
        const p = 'sources[' + i + ']';
        const s = b.sources[i];
        if (!objectAt(v, p, s)) continue;
        known(v, p, s, ['id', 'title', 'url'], ['id', 'title', 'url']);
        slug(v, p + '.id', s.id);
        str(v, p + '.title', s.title, 1, 200);
        if (str(v, p + '.url', s.url, 9, 300) && (s.url as string).substring(0, 8) !== 'https://') v.e.push(p + '.url: expected an https:// URL, got ' + show(s.url));
      }
  }

  if (b.notes !== undefined) {
    if (!(b.notes instanceof Array) || b.notes.length > BOARD_LIMITS.MAX_NOTES) v.e.push('notes: expected an array of at most ' + BOARD_LIMITS.MAX_NOTES + ' strings, got ' + show(b.notes));
    else for (let i = 0; i < b.notes.length; i++) str(v, 'notes[' + i + ']', b.notes[i], 1, 600);
  }
}

// ---------------------------------------------------------------------------------------------
// Meaning: the rules a schema cannot state.

interface RolePin {
  role: string;
  path: string;
  pin: string;
  /** The role object, for its note. */
  owner: Obj;
  member: string;
}

/** Every pin a role assigns, with its path. */
function rolePins(roles: Roles): RolePin[] {
  const out: RolePin[] = [];
  for (let i = 0; i < ROLE_NAMES.length; i++) {
    const name = ROLE_NAMES[i];
    const r = (roles as unknown as Obj)[name];
    if (name === 's0') {
      const list = r as Obj[];
      for (let j = 0; j < list.length; j++) out.push({ role: 's0', path: 'roles.s0[' + j + '].pin', pin: list[j].pin as string, owner: list[j], member: 'pin' });
      continue;
    }
    if (r === null) continue;
    const members = ROLE_PINS[name];
    for (let j = 0; j < members.length; j++)
      out.push({ role: name, path: 'roles.' + name + '.' + members[j], pin: (r as Obj)[members[j]] as string, owner: r as Obj, member: members[j] });
  }
  return out;
}

function restrictionOf(b: Board, p: string): Restriction | undefined {
  for (let i = 0; i < b.restricted.length; i++) if (contains(b.restricted[i].pins, p)) return b.restricted[i];
  return undefined;
}

function alternative(b: Board, r1: string, r2: string): boolean {
  for (let i = 0; i < b.alternatives.length; i++) {
    const a = b.alternatives[i];
    if ((a[0] === r1 && a[1] === r2) || (a[0] === r2 && a[1] === r1)) return true;
  }
  return false;
}

function sameNumbers(listed: string[], expected: number[], only: string[] | undefined): boolean {
  let want = 0;
  for (let i = 0; i < expected.length; i++) if (!only || contains(only, 'D' + expected[i])) want++;
  if (listed.length !== want) return false;
  for (let i = 0; i < listed.length; i++) if (!contains(expected, pinNumber(listed[i]))) return false;
  return true;
}

function meaning(v: V, b: Board): void {
  const chip = CHIPS[b.chip];
  const build = ESPRUINO_BUILDS[b.firmware.espruinoBoard];
  const f = b.firmware;
  if (build.chip !== b.chip) v.e.push('firmware.espruinoBoard: ' + f.espruinoBoard + ' is a build for ' + build.chip + ', the board is ' + b.chip);
  else {
    if (f.crypto !== build.crypto)
      v.e.push('firmware.crypto: Espruino board ' + f.espruinoBoard + (build.crypto ? ' includes' : ' leaves out') + ' the crypto library, got ' + f.crypto);
    if (f.binaryPattern !== build.binaryPattern) v.e.push('firmware.binaryPattern: ' + f.espruinoBoard + ' builds ' + build.binaryPattern + ', got ' + show(f.binaryPattern));
    if (f.jsVars !== build.jsVars) v.e.push('firmware.jsVars: ' + f.espruinoBoard + ' has variables ' + build.jsVars + ', got ' + f.jsVars);
    for (let i = 0; i < build.images.length; i++) {
      const im = f.images[i];
      if (im.offset !== build.images[i].offset || im.file !== build.images[i].file)
        v.e.push('firmware.images[' + i + ']: ' + f.espruinoBoard + ' flashes ' + build.images[i].file + ' at ' + build.images[i].offset + ', got ' + im.file + ' at ' + im.offset);
    }
  }
  if (f.images[0].offset !== chip.bootloaderOffset) v.e.push('firmware.images[0].offset: the ' + b.chip + ' bootloader goes at ' + chip.bootloaderOffset + ', got ' + f.images[0].offset);
  if (f.esptool.chip !== b.chip) v.e.push('firmware.esptool.chip: expected ' + b.chip + ', got ' + f.esptool.chip);
  if (f.storageBytes + f.firmwareMaxBytes > f.flashBytes) v.e.push('firmware.storageBytes: Storage and firmware (' + (f.storageBytes + f.firmwareMaxBytes) + ' bytes) exceed the flash (' + f.flashBytes + ')');
  if (rngAddress(b) !== chip.rngRegister) v.e.push('rngRegister: the ' + b.chip + ' RNG data register is 0x' + chip.rngRegister.toString(16).toUpperCase() + ', got ' + b.rngRegister);

  // Source references.
  const ids: string[] = [];
  for (let i = 0; i < b.sources.length; i++) {
    if (contains(ids, b.sources[i].id)) v.e.push('sources[' + i + '].id: ' + show(b.sources[i].id) + ' is used twice');
    ids.push(b.sources[i].id);
  }
  const refs: string[][] = [['firmware.source', f.source], ['console.source', b.console.source], ['gpio.source', b.gpio.source],
    ['gpio.inputOnly.source', b.gpio.inputOnly.source], ['gpio.noPull.source', b.gpio.noPull.source], ['gpio.noWatch.source', b.gpio.noWatch.source]];
  for (let i = 0; i < b.restricted.length; i++) refs.push(['restricted[' + i + '].source', b.restricted[i].source]);
  for (const name in b.ports) if (b.ports.hasOwnProperty(name) && b.ports[name].source !== undefined) refs.push(['ports.' + name + '.source', b.ports[name].source as string]);
  if (b.roles.statusLed) refs.push(['roles.statusLed.source', b.roles.statusLed.source]);
  if (b.roles.button) refs.push(['roles.button.source', b.roles.button.source]);
  for (let i = 0; i < refs.length; i++) if (!contains(ids, refs[i][1])) v.e.push(refs[i][0] + ': no entry in sources has id ' + show(refs[i][1]));

  // Every pin named anywhere is a GPIO of the chip.
  const named: string[][] = [];
  const addAll = function (path: string, list: string[]) {
    for (let i = 0; i < list.length; i++) named.push([path + '[' + i + ']', list[i]]);
  };
  addAll('console.pins', b.console.pins);
  addAll('gpio.pins', b.gpio.pins);
  addAll('gpio.inputOnly.pins', b.gpio.inputOnly.pins);
  addAll('gpio.noPull.pins', b.gpio.noPull.pins);
  addAll('gpio.noWatch.pins', b.gpio.noWatch.pins);
  for (let i = 0; i < b.restricted.length; i++) addAll('restricted[' + i + '].pins', b.restricted[i].pins);
  const pf = ['defaultRx', 'defaultTx', 'defaultSda', 'defaultScl'];
  for (const name in b.ports) {
    if (!b.ports.hasOwnProperty(name)) continue;
    for (let j = 0; j < pf.length; j++) {
      const p = (b.ports[name] as unknown as Obj)[pf[j]];
      if (p !== undefined) named.push(['ports.' + name + '.' + pf[j], p as string]);
    }
  }
  const rp = rolePins(b.roles);
  for (let i = 0; i < rp.length; i++) named.push([rp[i].path, rp[i].pin]);
  for (let i = 0; i < named.length; i++)
    if (!chipHasGpio(chip, pinNumber(named[i][1]))) v.e.push(named[i][0] + ': ' + named[i][1] + ' is not a GPIO of the ' + b.chip);

  // GPIO facts agree with the chip and Espruino.
  if (!sameNumbers(b.gpio.inputOnly.pins, chip.inputOnly, b.gpio.pins))
    v.e.push('gpio.inputOnly.pins: expected the ' + b.chip + ' input-only pins the board exposes (' + (chip.inputOnly.length ? 'GPIO' + chip.inputOnly.join(', ') : 'none') + ')');
  if (!sameNumbers(b.gpio.noPull.pins, chip.inputOnly, b.gpio.pins))
    v.e.push('gpio.noPull.pins: expected the ' + b.chip + ' pins without pull resistors the board exposes (' + (chip.inputOnly.length ? 'GPIO' + chip.inputOnly.join(', ') : 'none') + ')');
  if (!sameNumbers(b.gpio.noWatch.pins, chip.noWatch, undefined))
    v.e.push('gpio.noWatch.pins: Espruino refuses setWatch on GPIO' + chip.noWatch.join(', ') + ' for ' + b.chip);
  for (let i = 0; i < b.restricted.length; i++)
    for (let j = 0; j < b.restricted[i].pins.length; j++) {
      const p = b.restricted[i].pins[j];
      for (let k = 0; k < i; k++) if (contains(b.restricted[k].pins, p)) v.e.push('restricted[' + i + '].pins[' + j + ']: ' + p + ' is already in restricted[' + k + ']');
    }

  // Ports.
  for (const name in b.ports) {
    if (!b.ports.hasOwnProperty(name)) continue;
    const po = b.ports[name];
    if (!contains(chip.ports, name)) v.e.push('ports.' + name + ': the ' + b.chip + ' build has ' + chip.ports.join(', '));
    const kind = name.charAt(0) === 'S' ? 'serial' : 'i2c';
    if (po.kind !== kind) v.e.push('ports.' + name + '.kind: expected ' + kind + ', got ' + po.kind);
    if ((name === b.console.port) !== (po.console === true)) v.e.push('ports.' + name + '.console: expected ' + (name === b.console.port) + ' (console.port is ' + b.console.port + ')');
  }
  if (!b.ports[b.console.port]) v.e.push('ports.' + b.console.port + ': the console port must be listed');

  // Roles: where each pin sits.
  for (let i = 0; i < rp.length; i++) {
    const r = rp[i];
    if (!contains(b.gpio.pins, r.pin)) {
      v.e.push(r.path + ': ' + r.pin + ' is not in gpio.pins (not reachable on ' + b.id + ')');
      continue;
    }
    const res = restrictionOf(b, r.pin);
    if (res && res.severity === 'error') v.e.push(r.path + ': ' + r.pin + ' is reserved on ' + b.id + ': ' + res.reason);
    if (res && res.severity === 'warning' && r.owner.note === undefined)
      v.e.push(r.path + ': ' + r.pin + ' needs care (' + res.reason + '): say in roles.' + r.role + '.note why it is fine here');
    const outs = ROLE_OUTPUTS[r.role];
    if (outs && contains(outs, r.member) && contains(b.gpio.inputOnly.pins, r.pin))
      v.e.push(r.path + ': ' + r.pin + ' is input-only (' + b.gpio.inputOnly.reason + ') and ' + r.role + '.' + r.member + ' drives it');
    if ((r.role === 's0' || r.role === 'button') && contains(b.gpio.noWatch.pins, r.pin)) v.e.push(r.path + ': ' + r.pin + ' cannot be watched: ' + b.gpio.noWatch.reason);
    if (r.role === 's0' && contains(b.gpio.noPull.pins, r.pin) && r.owner.externalPullUp !== true)
      v.e.push(r.path + ': ' + r.pin + ' has no internal pull-up: set externalPullUp: true (and fit 10k to 3.3 V)');
    if (r.role === 'button' && contains(b.gpio.noPull.pins, r.pin) && r.owner.note === undefined)
      v.e.push(r.path + ': ' + r.pin + ' has no internal pull-up: say in roles.button.note what pulls it');
    for (let j = 0; j < i; j++) {
      const o = rp[j];
      if (o.pin !== r.pin) continue;
      if (o.role === r.role) v.e.push(r.path + ': ' + r.pin + ' is also ' + o.path);
      else if (!alternative(b, o.role, r.role))
        v.e.push(r.path + ': ' + r.pin + ' is also ' + o.path + '; list ["' + o.role + '", "' + r.role + '"] in alternatives if a device uses one or the other');
    }
  }
  const led = b.roles.statusLed;
  if (led) {
    if (led.kind === 'gpio') {
      if (led.activeLow === undefined) v.e.push('roles.statusLed.activeLow: required for kind gpio');
      if (led.driver !== 'gpio') v.e.push('roles.statusLed.driver: kind gpio is driven by gpio, got ' + led.driver);
      if (led.chipset !== undefined || led.colorOrder !== undefined) v.e.push('roles.statusLed: chipset and colorOrder belong to kind addressable');
    } else {
      if (led.chipset === undefined || led.colorOrder === undefined) v.e.push('roles.statusLed: kind addressable needs chipset and colorOrder');
      if (led.driver !== 'neopixel') v.e.push('roles.statusLed.driver: an addressable LED is driven by neopixel, got ' + led.driver);
      if (led.activeLow !== undefined) v.e.push('roles.statusLed.activeLow: meaningless for kind addressable');
    }
  }
  const serialRoles = ['meterUart', 'p1'];
  for (let i = 0; i < serialRoles.length; i++) {
    const r = (b.roles as unknown as Obj)[serialRoles[i]] as Obj | null;
    if (!r) continue;
    const path = 'roles.' + serialRoles[i] + '.port';
    const po = b.ports[r.port as string];
    if (!po) v.e.push(path + ': ' + r.port + ' is not in ports');
    else if (po.kind !== 'serial' || po.console) v.e.push(path + ': ' + r.port + ' is not a free serial port');
  }
  const mu = b.roles.meterUart;
  const p1 = b.roles.p1;
  if (mu && p1 && mu.port === p1.port && !alternative(b, 'meterUart', 'p1'))
    v.e.push('roles.p1.port: ' + p1.port + ' is also roles.meterUart.port; list ["meterUart", "p1"] in alternatives if a device uses one or the other');
  if (p1 && b.ports[p1.port]) {
    // P1 has no TX, so Espruino's default TX of the port is driven: it must be harmless.
    const tx = b.ports[p1.port].defaultTx;
    if (tx === undefined) v.e.push('ports.' + p1.port + '.defaultTx: required, roles.p1 leaves TX to Espruino');
    else {
      const res = restrictionOf(b, tx);
      if (res && res.severity === 'error') v.e.push('roles.p1.port: with no tx Espruino drives ' + p1.port + "'s default TX " + tx + ', reserved on ' + b.id + ': ' + res.reason);
      for (let i = 0; i < rp.length; i++)
        if (rp[i].pin === tx && rp[i].role !== 'p1' && !alternative(b, 'p1', rp[i].role))
          v.e.push('roles.p1.port: with no tx Espruino drives ' + p1.port + "'s default TX " + tx + ', which is ' + rp[i].path);
    }
  }
  const i2c = b.roles.i2c;
  if (i2c) {
    const po = b.ports[i2c.bus];
    if (!po || po.kind !== 'i2c') v.e.push('roles.i2c.bus: ' + i2c.bus + ' is not an I2C port of ' + b.id);
  }
  for (let i = 0; i < b.alternatives.length; i++)
    for (let j = 0; j < i; j++) {
      const a = b.alternatives[i];
      const o = b.alternatives[j];
      if ((a[0] === o[0] && a[1] === o[1]) || (a[0] === o[1] && a[1] === o[0])) v.e.push('alternatives[' + i + ']: same pair as alternatives[' + j + ']');
    }
}

/** Every problem of a board object; [] when it is a valid Board. */
export function checkBoard(obj: unknown): string[] {
  const v: V = { e: [] };
  if (!isObj(obj)) return ['board: expected an object, got ' + show(obj)];
  structure(v, obj);
  if (v.e.length) return v.e;
  meaning(v, obj as unknown as Board);
  return v.e;
}

/** The board, or one E_BOARD error listing every problem (each names its field). */
export function validateBoard(obj: unknown): Board {
  const e = checkBoard(obj);
  if (e.length) {
    const id = isObj(obj) && typeof obj.id === 'string' ? ' ' + obj.id : '';
    throw err('E_BOARD', 'invalid board' + id + ':\n  ' + e.join('\n  '));
  }
  return obj as Board;
}

// ---------------------------------------------------------------------------------------------
// Role references

interface Ref {
  value?: string;
  /** Set when a port or bus came from a role: its pins fill absent fields. */
  role?: Obj;
  error?: string;
}

function isIdent(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_';
}

/** Resolves "@role", "@role.member" or "@s0[i]" for a field of kind pin, port (serial) or bus (I2C). */
export function resolveRef(board: Board, ref: string, kind: 'pin' | 'port' | 'bus'): Ref {
  let i = 1;
  let name = '';
  while (i < ref.length && isIdent(ref.charAt(i))) name += ref.charAt(i++);
  let index = -1;
  if (ref.charAt(i) === '[') {
    i++;
    let digits = '';
    while (i < ref.length && ref.charAt(i) >= '0' && ref.charAt(i) <= '9') digits += ref.charAt(i++);
    if (ref.charAt(i) !== ']' || digits.length === 0 || digits.length > 2) return { error: 'malformed reference ' + show(ref) + ': expected @s0[<index>]' };
    i++;
    index = parseInt(digits, 10);
  }
  let member = '';
  if (ref.charAt(i) === '.') {
    i++;
    while (i < ref.length && isIdent(ref.charAt(i))) member += ref.charAt(i++);
    if (member.length === 0) return { error: 'malformed reference ' + show(ref) + ': expected a member after "."' };
  }
  if (i !== ref.length || name.length === 0) return { error: 'malformed reference ' + show(ref) + ': expected @role, @role.member or @s0[<index>]' };
  if (!contains(ROLE_NAMES, name)) {
    const near = nearest(name, ROLE_NAMES);
    return { error: 'unknown role ' + show('@' + name) + (near ? '; did you mean "@' + near + '"?' : '') + ' (roles: @' + ROLE_NAMES.join(', @') + ')' };
  }
  let role = (board.roles as unknown as Obj)[name] as Obj | null;
  if (name === 's0') {
    const list = board.roles.s0;
    if (index < 0) return { error: ref + ': name one input, @s0[0]..@s0[' + (list.length - 1) + ']' };
    if (index >= list.length) return { error: ref + ': ' + board.id + ' assigns ' + list.length + ' S0 input' + (list.length === 1 ? '' : 's') };
    role = list[index] as unknown as Obj;
  } else if (index >= 0) return { error: ref + ': only @s0 takes an index' };
  if (role === null) return { error: '@' + name + ' is not assigned on ' + board.id };
  const members = ROLE_PINS[name];
  if (kind === 'port' || kind === 'bus') {
    const field = kind === 'port' ? 'port' : 'bus';
    const want = kind === 'port' ? '@meterUart or @p1' : '@i2c';
    if (member || role[field] === undefined) return { error: ref + ' is not a ' + (kind === 'port' ? 'serial port' : 'bus') + ' role; use ' + want };
    return { value: role[field] as string, role: role };
  }
  if (!member) {
    if (members.length === 1) return { value: role.pin as string };
    return { error: ref + ' has several pins; use @' + name + '.' + members.join(', @' + name + '.') };
  }
  if (!contains(members, member)) {
    const near = nearest(member, members);
    return { error: ref + ': @' + name + ' has pins ' + members.join(', ') + (near ? '; did you mean "@' + name + '.' + near + '"?' : '') };
  }
  return { value: role[member] as string };
}

interface Resolved {
  source: Obj;
  /** field -> the reference it came from, for fields a role supplied. */
  via: { [field: string]: string };
}

function ioOf(type: unknown): SourceIO {
  return typeof type === 'string' && SOURCE_IO.hasOwnProperty(type) ? SOURCE_IO[type] : GENERIC_IO;
}

function resolveSource(board: Board, c: Obj, path: string, errors: string[]): Resolved {
  const out: Obj = {};
  const via: { [field: string]: string } = {};
  const io = ioOf(c.type);
  for (const k in c) if (c.hasOwnProperty(k)) out[k] = c[k];
  for (const k in c) {
    if (!c.hasOwnProperty(k)) continue;
    const val = c[k];
    if (typeof val !== 'string' || val.charAt(0) !== '@') continue;
    const kind = k === 'port' ? 'port' : k === 'bus' ? 'bus' : 'pin';
    const r = resolveRef(board, val, kind);
    if (r.error !== undefined) {
      errors.push(path + '.' + k + ': ' + r.error);
      continue;
    }
    out[k] = r.value;
    via[k] = val;
    if (r.role) {
      for (const m in io.pins) {
        if (!io.pins.hasOwnProperty(m) || c[m] !== undefined || r.role[m] === undefined) continue;
        out[m] = r.role[m];
        via[m] = val + '.' + m;
      }
    }
  }
  return { source: out, via: via };
}

function sourcesOf(config: unknown): unknown {
  return isObj(config) ? config.sources : config;
}

/**
 * The config with every role reference replaced by the board's pin or port, and absent pin
 * fields filled from a referenced port's role. Errors name the field.
 */
export function resolveDeviceConfig(board: Board, config: unknown): { config: unknown; errors: string[] } {
  const errors: string[] = [];
  const list = sourcesOf(config);
  if (!(list instanceof Array)) return { config: config, errors: ['sources: expected an array'] };
  const out: unknown[] = [];
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    out.push(isObj(c) ? resolveSource(board, c, 'sources[' + i + ']', errors).source : c);
  }
  if (!isObj(config)) return { config: out, errors: errors };
  const copy: Obj = {};
  for (const k in config) if (config.hasOwnProperty(k)) copy[k] = config[k];
  copy.sources = out;
  return { config: copy, errors: errors };
}

// ---------------------------------------------------------------------------------------------
// Pin check of a device config

interface Use {
  /** "sources[0].rx", or the role that owns the pin. */
  owner: string;
  /** Uses with the same non-empty key may share the pin or port. */
  share: string;
}

interface Check {
  board: Board;
  errors: string[];
  warnings: string[];
  pins: { [pin: string]: Use };
  ports: { [port: string]: Use };
}

function firmwareOwner(b: Board, p: string): string | undefined {
  for (const role in FIRMWARE_ROLES) {
    if (!FIRMWARE_ROLES.hasOwnProperty(role)) continue;
    const r = (b.roles as unknown as Obj)[role] as Obj | null;
    if (r && r.pin === p) return FIRMWARE_ROLES[role] + ' on ' + b.id + ' (' + FIRMWARE_USE[role] + ')';
  }
  return undefined;
}

function claim(k: Check, p: string, path: string, owner: string, share: string, lead: string): void {
  const prev = k.pins[p];
  if (!prev) {
    k.pins[p] = { owner: owner, share: share };
    return;
  }
  if (share && prev.share === share) return;
  k.errors.push(path + ': ' + lead + 'already used by ' + prev.owner);
}

/**
 * One pin use. `implicit` names the port whose Espruino default this is (the field was left
 * out); `viaRole` marks pins the board file assigned, whose strapping caveats it vouched for.
 */
function checkPin(k: Check, path: string, field: string, value: unknown, use: PinFieldUse, share: string, viaRole: boolean, implicit: string, pull: unknown): void {
  const b = k.board;
  if (typeof value !== 'string') return; // the core schema reports the type
  const n = pinNumber(value);
  const lead = implicit ? 'not given, so Espruino uses ' + implicit + "'s default " + field + ' ' + value + ', ' : value + ' is ';
  if (n < 0) {
    k.errors.push(path + ': expected a pin name such as "D4", got ' + show(value));
    return;
  }
  if (!chipHasGpio(CHIPS[b.chip], n)) {
    k.errors.push(path + ': ' + lead + 'not a GPIO of the ' + b.chip);
    return;
  }
  const res = restrictionOf(b, value);
  if (res && res.severity === 'error') {
    k.errors.push(path + ': ' + lead + 'reserved on ' + b.id + ': ' + res.reason);
    return;
  }
  if (!implicit && !contains(b.gpio.pins, value)) {
    k.errors.push(path + ': ' + value + ' is not broken out on ' + b.id);
    return;
  }
  const fw = firmwareOwner(b, value);
  if (fw) {
    k.errors.push(path + ': ' + lead + fw);
    return;
  }
  if (res && !viaRole) k.warnings.push(path + WARNING_MARK + lead + 'a pin to use with care on ' + b.id + ': ' + res.reason);
  if (use.dir !== 'in' && contains(b.gpio.inputOnly.pins, value))
    k.errors.push(path + ': ' + lead + 'input-only on ' + b.id + ' (' + b.gpio.inputOnly.reason + '), and ' + field + ' drives the line');
  if (use.watch) {
    if (contains(b.gpio.noWatch.pins, value)) k.errors.push(path + ': ' + value + ' cannot be watched on ' + b.id + ': ' + b.gpio.noWatch.reason);
    if (contains(b.gpio.noPull.pins, value) && pull !== 'none')
      k.warnings.push(path + WARNING_MARK + value + ' has no internal pull-up on ' + b.id + ' (' + b.gpio.noPull.reason + '); fit 10k to 3.3 V and set pull: "none"');
  }
  claim(k, value, path, implicit ? implicit + "'s default " + field + ' (' + path + ')' : path, share, lead);
}

function checkPortField(k: Check, path: string, name: unknown, kind: 'serial' | 'i2c', share: string): PortInfo | undefined {
  const b = k.board;
  if (typeof name !== 'string') return undefined;
  const po = b.ports[name];
  if (!po) {
    const names: string[] = [];
    for (const n in b.ports) if (b.ports.hasOwnProperty(n) && !b.ports[n].console && b.ports[n].kind === kind) names.push(n);
    const near = nearest(name, names);
    k.errors.push(path + ': ' + name + ' does not exist on ' + b.id + ' (free ' + (kind === 'i2c' ? 'I2C buses' : 'serial ports') + ' of the ' + b.chip + ' build: ' +
      names.join(', ') + ')' + (near ? '; did you mean "' + near + '"?' : ''));
    return undefined;
  }
  if (po.kind !== kind) {
    k.errors.push(path + ': ' + name + ' is ' + (po.kind === 'i2c' ? 'an I2C bus' : 'a serial port') + ', expected ' + (kind === 'i2c' ? 'an I2C bus' : 'a serial port'));
    return undefined;
  }
  if (po.console) {
    k.errors.push(path + ': ' + name + ' is the Espruino console on ' + b.id + ' (' + b.console.transport + ')');
    return undefined;
  }
  const prev = k.ports[name];
  if (prev && !(share && prev.share === share)) k.errors.push(path + ': ' + name + ' is already used by ' + prev.owner);
  if (!prev) k.ports[name] = { owner: path, share: share };
  return po;
}

const DEFAULT_FIELDS: { [field: string]: string } = { rx: 'defaultRx', tx: 'defaultTx', sda: 'defaultSda', scl: 'defaultScl' };

function checkSource(k: Check, r: Resolved, path: string): void {
  const c = r.source;
  const io = ioOf(c.type);
  const type = typeof c.type === 'string' ? c.type : '?';
  let po: PortInfo | undefined;
  let portName = '';
  let portKey = '';
  if (io.port && c.port !== undefined) {
    portName = c.port as string;
    portKey = io.share === 'port' ? type + ':' + portName : '';
    po = checkPortField(k, path + '.port', c.port, 'serial', portKey);
  }
  const bus = c.bus !== undefined ? c.bus : io.defaultBus;
  if (io.bus && bus !== undefined) {
    portName = bus as string;
    portKey = io.share === 'port' ? 'i2c:' + portName : '';
    po = checkPortField(k, path + '.bus', bus, 'i2c', portKey);
  }
  // Espruino sets up both lines of a UART and an I2C bus: a pin the source type has no field
  // for is still taken, at the port's default.
  const fields: { [field: string]: PinFieldUse } = {};
  for (const f in io.pins) if (io.pins.hasOwnProperty(f)) fields[f] = io.pins[f];
  if (po && po.kind === 'serial') {
    if (!fields.rx) fields.rx = IN;
    if (!fields.tx) fields.tx = OUT;
  }
  if (po && po.kind === 'i2c') {
    if (!fields.sda) fields.sda = IO;
    if (!fields.scl) fields.scl = IO;
  }
  for (const f in fields) {
    if (!fields.hasOwnProperty(f)) continue;
    const use = fields[f];
    let value = c[f];
    let implicit = '';
    if (value === undefined) {
      const df = DEFAULT_FIELDS[f];
      if (!po || !df || (po as unknown as Obj)[df] === undefined) continue;
      value = (po as unknown as Obj)[df];
      implicit = portName;
    }
    let share = '';
    if (io.share === 'port' && portKey) share = portKey + ':' + f;
    if (io.share === 'pin') share = type + ':' + f;
    checkPin(k, path + '.' + f, f, value, use, share, r.via[f] !== undefined, implicit, c.pull === undefined ? 'up' : c.pull);
  }
}

/** Errors and warnings of a device config's pin and port use on this board. */
export function analyzeDeviceConfig(board: Board, config: unknown): { errors: string[]; warnings: string[]; config: unknown } {
  const k: Check = { board: board, errors: [], warnings: [], pins: {}, ports: {} };
  const list = sourcesOf(config);
  if (!(list instanceof Array)) return { errors: ['sources: expected an array'], warnings: [], config: config };
  const resolved: unknown[] = [];
  const rs: (Resolved | undefined)[] = [];
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    const r = isObj(c) ? resolveSource(board, c, 'sources[' + i + ']', k.errors) : undefined;
    rs.push(r);
    resolved.push(r ? r.source : c);
  }
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i];
    if (r) checkSource(k, r, 'sources[' + i + ']');
  }
  let out: unknown = resolved;
  if (isObj(config)) {
    const copy: Obj = {};
    for (const key in config) if (config.hasOwnProperty(key)) copy[key] = config[key];
    copy.sources = resolved;
    out = copy;
  }
  return { errors: k.errors, warnings: k.warnings, config: out };
}

/**
 * Pin and port problems of a device config ({ sources: [...] } or the array) on this board:
 * errors first, then warnings (each "<path>: warning: ..."). [] when the config fits.
 */
export function checkDeviceConfig(board: Board, config: unknown): string[] {
  const a = analyzeDeviceConfig(board, config);
  return a.errors.concat(a.warnings);
}

/** True for a warning line of checkDeviceConfig. */
export function isWarning(line: string): boolean {
  return line.indexOf(WARNING_MARK) >= 0;
}
