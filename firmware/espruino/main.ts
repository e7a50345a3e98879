// The device's boot: Storage config -> native accelerators -> Wi-Fi -> hardware entropy (radio
// on) -> E.srand -> SNTP -> sources -> Agent -> watchdog. scripts/build-firmware.mjs bundles
// this module with core into dist/<board>/app.js and appends `DepinApp.start(<board JSON>)`,
// so the board file is embedded and the boot runs when the code is loaded (from Storage as
// .bootcde on a flashed device: code in flash costs no JsVars).
//
// The config is a JSON Storage file written by provisioning (CONFIG_FILE):
//   { "v": 1,
//     "wifi": { "ssid": "...", "password": "...", "powersave": "none" },   (optional on Linux)
//     "agent": { "prefix": "depin", "broker": { "host": "...", "port": 1883, "tls": false },
//                "batchMaxReadings": 24, "batchMaxAgeMs": 300000, "operators": [] },
//     "sources": [ { "id": "dev", "type": "device", "intervalMs": 60000 }, ... ],
//     "sntp": { "servers": ["pool.ntp.org"], "resyncS": 21600 },
//     "watchdogS": 30, "log": "info",
//     "console": { "lock": true, "password": "..." },
//     "button": { "longPressMs": 5000, "confirmWindowMs": 10000 } }
// Anything missing that the device cannot run without (agent.broker) leaves it in state
// "unprovisioned" with the error pattern on the LED, waiting for a config.
import type { Host, Log, LogLevel, Udp, UdpOptions } from '../core/host.js';
import { err } from '../core/util/errors.js';
import { utf8Decode } from '../core/util/bytes.js';
import { validate, nearest, type Schema } from '../core/config/schema.js';
import { installSha256 } from '../core/crypto/sha256.js';
import { installConvolve, installGTable, gTableInstalled } from '../core/crypto/secp256k1/index.js';
import { installCrc32 } from '../core/session/flash-log.js';
import { Agent, type AgentConfig } from '../core/session/agent.js';
import { createSources } from '../core/sources/registry.js';
import type { Board } from './board.js';
import { analyzeDeviceConfig } from './board.js';
import type { EspruinoE, EspruinoProcess, CryptoModule } from './espruino.js';
import { espruinoStorage, type EspruinoStorage } from './storage.js';
import { espruinoSocketFactory } from './socket.js';
import { espruinoClock, type DeviceClock } from './clock.js';
import { espruinoTimers, type EspruinoTimers } from './timers.js';
import { hardwareEntropy, type HardwareEntropy } from './entropy.js';
import { wifiModule, espruinoWifi, type WifiLink, type DeviceNet } from './wifi.js';
import { espruinoIO, type EspruinoIO } from './io.js';
import { sntpQuery } from './sntp.js';
import { statusLed, watchdog, factoryButton, WATCHDOG_DEFAULTS, type StatusLed, type Watchdog } from './status.js';
import { COMPONENTS } from './components.js';
import { installShims, type ShimReport } from './shims.js';
import { builtinModule } from './modules.js';

declare const E: EspruinoE;
declare const process: EspruinoProcess;
declare function print(s: string): void;

// ---------------------------------------------------------------------------------------------
// Names and defaults

export const FIRMWARE = 'depin-agent/0.1.0';
/** Storage files (<= 28 chars). The agent's own files (key, chn, cmd, outbox, counters) are its business. */
export const FILES = { config: 'depin.cfg', gtable: 'gtab', key: 'key' };

export const BOOT_DEFAULTS = {
  /** Wait this long for Wi-Fi before querying SNTP anyway (it may fail; the agent starts regardless). */
  sntpWaitWifiMs: 30000,
  /** SNTP resync period; failures retry after retryS. */
  sntpResyncS: 21600,
  sntpRetryS: 300,
  /** How often the LED follows the link state. */
  statusPollMs: 1000,
  /** A boot that failed for a reason a restart may cure (radio, entropy, agent) reboots after this. */
  rebootAfterFailureS: 60,
};

const LEVELS: { [l: string]: number } = { debug: 0, info: 1, warn: 2, error: 3 };

const PLATFORM_SCHEMA: { [k: string]: Schema } = {
  wifi: {
    ssid: { type: 'string', maxLength: 32, required: true },
    password: { type: 'string', maxLength: 64 },
    powersave: { type: 'string', maxLength: 8, oneOf: ['none', 'ps-poll', 'min', 'max'] },
    joinTimeoutMs: { type: 'int', min: 1000, max: 600000 },
    minBackoffMs: { type: 'int', min: 10, max: 3600000 },
    maxBackoffMs: { type: 'int', min: 10, max: 3600000 },
  },
  sntp: {
    servers: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 4, required: true },
    timeoutMs: { type: 'int', min: 100, max: 60000 },
    attempts: { type: 'int', min: 1, max: 100 },
    resyncS: { type: 'int', min: 60, max: 604800 },
    port: { type: 'int', min: 1, max: 65535 },
  },
  console: {
    lock: { type: 'bool', default: false },
    password: { type: 'string', maxLength: 20 },
  },
  button: {
    longPressMs: { type: 'int', min: 100, max: 60000 },
    confirmWindowMs: { type: 'int', min: 1000, max: 120000 },
  },
};
const TOP_KEYS = ['v', 'wifi', 'agent', 'sources', 'sntp', 'watchdogS', 'log', 'console', 'button'];

export interface DeviceConfig {
  v: number;
  wifi?: { ssid: string; password?: string; powersave?: string; joinTimeoutMs?: number; minBackoffMs?: number; maxBackoffMs?: number };
  agent: Partial<AgentConfig>;
  sources: unknown[];
  sntp?: { servers: string[]; timeoutMs?: number; attempts?: number; resyncS?: number; port?: number };
  watchdogS?: number;
  log?: LogLevel;
  console?: { lock: boolean; password?: string };
  button?: { longPressMs?: number; confirmWindowMs?: number };
}

/** Checks a parsed config; returns it, or throws one E_CONFIG error listing every problem. */
export function checkConfig(c: unknown): DeviceConfig {
  const errors: string[] = [];
  if (c === null || typeof c !== 'object' || c instanceof Array) throw err('E_CONFIG', 'config: expected a JSON object');
  const o = c as { [k: string]: unknown };
  for (const k in o) {
    if (!o.hasOwnProperty(k) || TOP_KEYS.indexOf(k) >= 0) continue;
    const near = nearest(k, TOP_KEYS);
    errors.push(k + ': unknown option' + (near ? '; did you mean "' + near + '"?' : ''));
  }
  if (o.v !== 1) errors.push('v: expected 1 (config format version), got ' + JSON.stringify(o.v));
  const out: { [k: string]: unknown } = { v: 1 };
  for (const k in PLATFORM_SCHEMA) {
    if (!PLATFORM_SCHEMA.hasOwnProperty(k) || o[k] === undefined) continue;
    const r = validate(PLATFORM_SCHEMA[k], o[k], k);
    for (let i = 0; i < r.errors.length; i++) errors.push(r.errors[i]);
    out[k] = r.value;
  }
  const a = o.agent as { [k: string]: unknown } | undefined;
  if (!a || typeof a !== 'object') errors.push('agent: required option missing (prefix, broker, ...)');
  else if (!a.broker || typeof a.broker !== 'object') errors.push('agent.broker: required option missing ({ "host": ..., "port": ... })');
  out.agent = a;
  if (o.sources !== undefined && !(o.sources instanceof Array)) errors.push('sources: expected an array');
  out.sources = o.sources || [];
  if (o.watchdogS !== undefined && (typeof o.watchdogS !== 'number' || Math.floor(o.watchdogS) !== o.watchdogS || o.watchdogS < 0 || o.watchdogS > 3600))
    errors.push('watchdogS: expected an integer in 0..3600 (0: off), got ' + JSON.stringify(o.watchdogS));
  out.watchdogS = o.watchdogS;
  if (o.log !== undefined && LEVELS[o.log as string] === undefined) errors.push('log: expected debug, info, warn or error, got ' + JSON.stringify(o.log));
  out.log = o.log;
  const con = out.console as { lock?: boolean; password?: string } | undefined;
  if (con && con.lock && !con.password) errors.push('console.password: required when console.lock is true');
  if (errors.length) throw err('E_CONFIG', 'invalid config:\n  ' + errors.join('\n  '));
  return out as unknown as DeviceConfig;
}

// ---------------------------------------------------------------------------------------------
// The app

export interface BootTimes {
  /** ms from start() to each step, by the platform clock. */
  config?: number;
  accel?: number;
  entropy?: number;
  sntp?: number;
  agent?: number;
}

export interface App {
  state: string;
  board: string;
  boot: BootTimes;
  host?: Host & { net?: DeviceNet };
  agent?: Agent;
  wifi?: WifiLink;
  entropy?: HardwareEntropy;
  clock: DeviceClock;
  /** The platform's own timers (LED, Wi-Fi, SNTP, boot steps): they do not feed the watchdog. */
  timers: EspruinoTimers;
  /** The agent's timers (host.timers): every callback kicks the watchdog. */
  agentTimers: EspruinoTimers;
  led: StatusLed;
  dog?: Watchdog;
  io?: EspruinoIO;
  /** Native slots installed at boot. */
  accel: { sha256: boolean; convolve: boolean; crc32: boolean; gtable: string };
  /** Builtins repaired at boot (shims.ts). */
  shims: ShimReport;
  errors: string[];
  stop(): void;
}

let current: App | undefined;

/** The running app (tests and the console: DepinApp.app().agent.stats()). */
export function app(): App | undefined {
  return current;
}

function makeLog(min: LogLevel): Log {
  const m = LEVELS[min];
  return function (level: LogLevel, msg: string): void {
    if (LEVELS[level] >= m) print(level + ': ' + msg);
  };
}

/** Native helpers into core's slots. Each slot checks known answers and refuses a bad one. */
function installAccel(a: App, storage: EspruinoStorage, log: Log): void {
  const crypto = builtinModule('crypto') as CryptoModule | undefined;
  if (crypto && typeof crypto.SHA256 === 'function') {
    const H = crypto.SHA256;
    try {
      // SHA256 hashes `.length` BYTES of a typed array: a Uint8Array is what we pass.
      installSha256(function (d: Uint8Array) {
        return new Uint8Array(H(d));
      });
      a.accel.sha256 = true;
    } catch (e) {
      log('warn', 'native SHA-256 refused: ' + (e as Error).message);
    }
  } else log('info', 'no require("crypto").SHA256 on this build: portable SHA-256');
  if (typeof E.convolve === 'function') {
    try {
      installConvolve(E.convolve);
      a.accel.convolve = true;
    } catch (e) {
      log('warn', 'E.convolve refused: ' + (e as Error).message);
    }
  }
  if (typeof E.CRC32 === 'function') {
    try {
      installCrc32(function (b: Uint8Array) {
        return E.CRC32(b);
      });
      a.accel.crc32 = true;
    } catch (e) {
      log('warn', 'E.CRC32 refused: ' + (e as Error).message);
    }
  }
  const g = storage.mapped(FILES.gtable);
  if (g) {
    try {
      installGTable(g);
      a.accel.gtable = 'storage';
    } catch (e) {
      log('error', 'G table in Storage "' + FILES.gtable + '" refused: ' + (e as Error).message);
    }
  }
  if (!gTableInstalled()) log('warn', 'no G table in Storage "' + FILES.gtable + '": it will be built in RAM (16 KB) at the first signature');
}

function loadConfig(storage: EspruinoStorage): DeviceConfig | undefined {
  const b = storage.read(FILES.config);
  if (!b) return undefined;
  const text = utf8Decode(b);
  if (text === undefined) throw err('E_CONFIG', 'Storage "' + FILES.config + '" is not UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw err('E_CONFIG', 'Storage "' + FILES.config + '" is not JSON: ' + (e as Error).message);
  }
  return checkConfig(parsed);
}

/** Boots the device on `board` (the board file, embedded by the build). */
export function start(board: Board): App {
  if (current) current.stop();
  const shims = installShims();
  let dog: Watchdog | undefined;
  // Only the agent's own timers feed the watchdog (its age tick runs at least every second):
  // the LED blinking or Wi-Fi retrying must not keep a wedged agent alive.
  const timers = espruinoTimers();
  const agentTimers = espruinoTimers(function () {
    if (dog) dog.kick();
  });
  const clock = espruinoClock();
  const t0 = clock.uptime();
  const led = statusLed(board && board.roles ? board.roles.statusLed : undefined, timers);
  let log = makeLog('info');
  const storage = espruinoStorage();
  const a: App = {
    state: 'booting',
    board: board && board.id,
    boot: {},
    clock: clock,
    timers: timers,
    agentTimers: agentTimers,
    led: led,
    accel: { sha256: false, convolve: false, crc32: false, gtable: 'none' },
    shims: shims,
    errors: [],
    stop: function () {
      if (a.agent) a.agent.stop();
      if (a.wifi) a.wifi.stop();
      led.set('off');
      a.state = 'stopped';
    },
  };
  current = a;
  const since = function (): number {
    return Math.round(clock.uptime() - t0);
  };
  /** A failed boot: error LED; a reboot later unless nothing would change (a bad config). */
  function fail(where: string, e: unknown, reboot?: boolean): void {
    const msg = where + ': ' + ((e as Error).message || String(e));
    a.errors.push(msg);
    a.state = 'failed';
    log('error', msg + (reboot === false ? '' : '; rebooting in ' + BOOT_DEFAULTS.rebootAfterFailureS + ' s'));
    led.set('error');
    if (reboot === false || (e as { code?: string }).code === 'E_CONFIG') return;
    timers.setTimeout(function () {
      E.reboot();
    }, BOOT_DEFAULTS.rebootAfterFailureS * 1000);
  }

  led.set('connecting');
  let cfg: DeviceConfig | undefined;
  try {
    cfg = loadConfig(storage);
  } catch (e) {
    fail('config', e, false);
    return a;
  }
  a.boot.config = since();
  if (!cfg) {
    a.state = 'unprovisioned';
    log('error', 'no config in Storage "' + FILES.config + '": provision this device');
    led.set('error');
    return a;
  }
  const c = cfg;
  if (c.log) log = makeLog(c.log);
  installAccel(a, storage, log);
  a.boot.accel = since();

  // Wi-Fi: absent on the Linux build (the host's network is simply there).
  const W = wifiModule();
  if (W && c.wifi) {
    try {
      a.wifi = espruinoWifi(W, c.wifi, timers, log);
      a.wifi.start();
    } catch (e) {
      fail('wifi', e);
      return a;
    }
  } else if (W) log('warn', 'no "wifi" in the config: not joining any network');
  else log('info', 'no Wifi module on this build (' + (process.env.BOARD || '?') + '): using the host network as is');

  const linux = process.env.BOARD === 'LINUX';
  try {
    a.entropy = hardwareEntropy(linux ? 'linux' : board.chip, { timers: timers, log: log, now: clock.uptime });
  } catch (e) {
    fail('entropy', e);
    return a;
  }
  const wifi = a.wifi;
  const ent = a.entropy;
  const io = espruinoIO({ clock: clock, timers: agentTimers, log: log });
  a.io = io;
  a.state = 'entropy';
  ent.collect(
    function () {
      return wifi ? wifi.radioOn() : false;
    },
    function (e?: Error) {
      if (e) return fail('entropy', e);
      a.boot.entropy = since();
      // Espruino's TLS seeds its DRBG from the same generator as Math.random: reseed it from
      // the hardware before any connection (and Math.random is at least per-device now).
      E.srand(ent.seed());
      log('info', 'entropy ready from ' + ent.source() + ' in ' + a.boot.entropy + ' ms');
      syncTime();
    },
  );

  function syncTime(): void {
    const s = c.sntp;
    if (!s || !io.udp) return startAgent();
    a.state = 'sntp';
    let waited = 0;
    function go(): void {
      if (wifi && !wifi.connected() && waited < BOOT_DEFAULTS.sntpWaitWifiMs) {
        waited += 250;
        timers.setTimeout(go, 250);
        return;
      }
      query(function () {
        a.boot.sntp = since();
        startAgent();
      });
    }
    go();
  }

  function query(then?: () => void): void {
    const s = c.sntp;
    if (!s || !io.udp) return;
    const udp = io.udp as (o: UdpOptions) => Udp;
    sntpQuery(
      {
        servers: s.servers,
        udp: udp,
        timers: timers,
        localMs: clock.now,
        nonce: function () {
          const b = ent.randomBytes(2);
          return (b[0] << 8) | b[1];
        },
        timeoutMs: s.timeoutMs,
        attempts: s.attempts,
        port: s.port,
      },
      function (e, r) {
        let next = s.resyncS === undefined ? BOOT_DEFAULTS.sntpResyncS : s.resyncS;
        if (e || !r) {
          log('warn', 'sntp: ' + (e ? e.message : 'no result') + (clock.synced() ? '' : '; batches carry relative times until a sync'));
          next = BOOT_DEFAULTS.sntpRetryS;
        } else {
          clock.setWall(clock.now() + r.offsetMs);
          log('info', 'sntp: clock set from ' + r.server + ' (offset ' + Math.round(r.offsetMs) + ' ms, delay ' + Math.round(r.delayMs) + ' ms, stratum ' + r.stratum + ')');
        }
        timers.setTimeout(function () {
          query();
        }, next * 1000);
        if (then) then();
      },
    );
  }

  function startAgent(): void {
    a.state = 'starting';
    const sources = c.sources;
    const pins = analyzeDeviceConfig(board, { sources: sources });
    for (let i = 0; i < pins.warnings.length; i++) log('warn', pins.warnings[i]);
    if (pins.errors.length) return fail('sources', err('E_CONFIG', 'pin/port problems:\n  ' + pins.errors.join('\n  ')), false);
    const host: Host & { net?: DeviceNet } = {
      clock: clock,
      timers: agentTimers,
      entropy: ent,
      storage: storage,
      socket: espruinoSocketFactory({ timers: agentTimers, log: log }),
      log: log,
      accel: {},
      io: io,
      freeMemory: function (): number {
        const m = process.memory(false);
        return m.free * (m.blocksize || 14);
      },
    };
    if (wifi) host.net = wifi.net;
    a.host = host;
    const agentCfg = {} as AgentConfig;
    const given = c.agent as { [k: string]: unknown };
    for (const k in given) if (given.hasOwnProperty(k)) (agentCfg as unknown as { [k: string]: unknown })[k] = given[k];
    agentCfg.firmware = FIRMWARE + ' (espruino ' + (process.env.VERSION || '?') + ')';
    agentCfg.board = board.id;
    try {
      const list = createSources(host, COMPONENTS, (pins.config as { sources: unknown[] }).sources);
      a.agent = new Agent(host, agentCfg, list);
      a.agent.start();
    } catch (e) {
      return fail('agent', e);
    }
    try {
      dog = watchdog(c.watchdogS === undefined ? WATCHDOG_DEFAULTS.timeoutS : c.watchdogS);
      a.dog = dog;
    } catch (e) {
      log('error', 'watchdog: ' + ((e as Error).message || e));
    }
    a.boot.agent = since();
    a.state = 'running';
    log('info', 'agent ' + a.agent.addressHex + ' started in ' + a.boot.agent + ' ms (' + list0(a) + ')');
    const con = c.console;
    if (con && con.lock && con.password) {
      E.setPassword(con.password);
      E.lockConsole();
    }
    follow();
    buttons();
  }

  function follow(): void {
    const ag = a.agent;
    if (!ag || a.state !== 'running') return;
    const st = ag.client.state;
    led.set(st === 'CONNECTED' ? 'online' : 'connecting');
    timers.setTimeout(follow, BOOT_DEFAULTS.statusPollMs);
  }

  function buttons(): void {
    const b = board.roles ? board.roles.button : null;
    if (!b || !io.watch) return;
    const w = io.watch;
    const bc = c.button || {};
    try {
      factoryButton(
        b,
        w,
        timers,
        {
          resetConfig: function () {
            storage.erase(FILES.config);
            E.reboot();
          },
          resetIdentity: function () {
            storage.erase(FILES.config);
            storage.erase((c.agent.files && c.agent.files.key) || FILES.key);
            E.reboot();
          },
          led: led,
          log: log,
        },
        bc.longPressMs,
        bc.confirmWindowMs,
      );
    } catch (e) {
      log('warn', 'button: ' + ((e as Error).message || e));
    }
  }

  return a;
}

function list0(a: App): string {
  return 'sha256 ' + (a.accel.sha256 ? 'native' : 'js') + ', convolve ' + a.accel.convolve + ', crc32 ' + a.accel.crc32 + ', gtable ' + a.accel.gtable;
}

// The platform pieces, for the console and the device tests (DepinApp.<name>): they are in the
// bundle anyway, so exporting them costs nothing.
export { espruinoStorage, STORAGE_NAME_MAX } from './storage.js';
export { espruinoSocketFactory, SOCKET_DEFAULTS } from './socket.js';
export { espruinoTimers } from './timers.js';
export { espruinoClock, CLOCK_DEFAULTS } from './clock.js';
export { hardwareEntropy, RNG_REGISTERS, ENTROPY_DEFAULTS } from './entropy.js';
export { espruinoWifi, wifiModule, WIFI_DEFAULTS } from './wifi.js';
export { espruinoIO, IO_DEFAULTS, frameBits } from './io.js';
export { sntpQuery, sntpRequest, sntpParse, SNTP, SNTP_DEFAULTS } from './sntp.js';
export { statusLed, watchdog, factoryButton, LED_PATTERNS, BUTTON_DEFAULTS, WATCHDOG_DEFAULTS } from './status.js';
export { installShims } from './shims.js';
export { builtinModule } from './modules.js';
