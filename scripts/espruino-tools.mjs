// The device side of flashing and provisioning: the `espruino` CLI (EspruinoTools, npm package
// `espruino`) run offline against one console port, and the few expressions we evaluate there.
//
// EspruinoTools facts this module relies on (espruino 0.1.67, read from node_modules/espruino):
// - `--board file.json` (bin/espruino-cli.js setupConfig): the file's keys are merged into the
//   tools' environment, `info.binary_version` sets VERSION (core/env.js setFirmwareVersion) and
//   ENV_ON_CONNECT is turned off, so nothing asks the device for process.env and nothing fetches
//   www.espruino.com/json/<BOARD>.json. A VERSION of 1v96 or later is what makes "Save on Send"
//   write Storage files instead of E.setBootCode (plugins/saveOnSend.js).
// - `MODULES` (a string) is the definitive list of built-in modules (core/modules.js isBuiltIn);
//   a require("x") of anything else is looked up in ./modules (plugins/localModules.js) and then
//   downloaded from MODULE_URL. We pass MODULE_URL empty and refuse a bundle that requires a
//   module the build does not have, before anything is sent.
// - `-n` means "do not connect" (used with -o), not "no network"; `-b` is the baud rate (the
//   tools default to 9600); `--no-ble` is needed on machines without D-Bus (node-ble throws).
// - With a file and SAVE_ON_SEND=1 the code goes to Storage as ".bootcde" in 1024-byte
//   `require("Storage").write(...)` lines after `reset()`, then `load()` boots it; every
//   `--storage name:file` becomes `require("Storage").write(name, atob(...), offset[, size])`
//   lines placed before the code (core/utils.js getUploadFileCode).
// - With only `-e expr` the device is not reset; the expression runs as one echo-off line.
// - The CLI exits 0 whatever happened ("Unable to connect!", "Prompt not detected"), so every
//   step here proves its result from what the device printed: lines "DEPIN:<tag> <json>".
//
// Every CLI run goes through `node --require scripts/espruino-offline.cjs`: HTTP(S) requests
// throw, so an upload can never fetch a board file, a module or a compiler result.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** Paths and bounds of a CLI run; every one can be overridden per call. */
export const TOOLS = {
  /** EspruinoTools' command-line entry point. */
  cli: () => require.resolve('espruino/bin/espruino-cli.js'),
  /** Preloaded into the CLI: makes HTTP(S) throw. */
  offlineGuard: join(ROOT, 'scripts/espruino-offline.cjs'),
  /** Lines the device prints for us start with this. */
  marker: 'DEPIN:',
  /** Prefix the CLI puts in front of every line the device prints (bin/espruino-cli.js). */
  devicePrefix: '--] ',
  /** A probe or read-back: connect, one expression, its answer. */
  probeTimeoutMs: 20000,
  /** A whole upload (app + G table) over a throttled serial line takes ~2 minutes. */
  uploadTimeoutMs: 10 * 60 * 1000,
  /** After the CLI says "Upload Complete" it waits for 0.5 s of silence; a running app may never be silent. */
  afterUploadMs: 3000,
  /** Kept from the CLI's output for error messages. */
  keepLines: 400,
};

/**
 * Built-in modules of each Espruino 2v29 build (process.env.MODULES), from the libraries its
 * boards/<BOARD>.py lists (espruino/Espruino): NET -> net, dgram, http; TLS -> tls; TELNET ->
 * TelnetServer (commented out on the C3); CRYPTO -> crypto; NEOPIXEL -> neopixel; FILESYSTEM ->
 * fs; the ESP32 network library -> Wifi; Flash, Storage, heatshrink and timer are in every build
 * without SAVE_ON_FLASH.
 */
export const ESPRUINO_MODULES = {
  ESP32: ['Flash', 'Storage', 'heatshrink', 'timer', 'fs', 'net', 'dgram', 'http', 'tls', 'Wifi', 'TelnetServer', 'crypto', 'neopixel'],
  ESP32_IDF4: ['Flash', 'Storage', 'heatshrink', 'timer', 'fs', 'net', 'dgram', 'http', 'tls', 'Wifi', 'TelnetServer', 'neopixel'],
  ESP32C3_IDF4: ['Flash', 'Storage', 'heatshrink', 'timer', 'fs', 'net', 'dgram', 'http', 'tls', 'Wifi', 'crypto', 'neopixel'],
  ESP32S3_IDF4: ['Flash', 'Storage', 'heatshrink', 'timer', 'fs', 'net', 'dgram', 'http', 'tls', 'Wifi', 'TelnetServer', 'crypto', 'neopixel'],
};

/** The Espruino release the firmware is built and checked against. */
export const ESPRUINO_VERSION = '2v29';
/** Storage area of every ESP32-family build: boards/ESP32*.py saved_code (224 pages of 4 KB at 0x320000). */
const SAVED_CODE = { address: 0x320000, page_size: 4096, pages: 224 };

export class DeviceError extends Error {
  /**
   * @param {string} code E_PORT (cannot open), E_NO_ANSWER (no console), E_LOCKED, E_DEVICE (it answered: wrong board, no app, ...), E_VERIFY
   * @param {string} message
   * @param {{ output?: string[] }} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'DeviceError';
    this.code = code;
    this.output = extra.output ?? [];
  }
}

/**
 * The board file EspruinoTools reads with `--board`: what the tools look at (VERSION through
 * info.binary_version, MODULES, chip.saved_code for --ohex), generated from boards/<id>.json.
 * @param {{ id: string, name: string, chip: string, firmware: { espruinoBoard: string, jsVars: number, storageBytes: number, binaryPattern: string }, console: { baud: number } }} board
 */
export function espruinoToolsBoard(board) {
  const build = board.firmware.espruinoBoard;
  const modules = ESPRUINO_MODULES[build];
  if (!modules) throw new DeviceError('E_DEVICE', 'no module list for the Espruino build ' + JSON.stringify(build));
  return {
    BOARD: build,
    VERSION: ESPRUINO_VERSION,
    MODULES: modules.join(','),
    CONSOLE: 'Serial1',
    info: {
      name: board.name,
      id: board.id,
      binary_version: ESPRUINO_VERSION,
      binary_name: board.firmware.binaryPattern.replace('%v', ESPRUINO_VERSION),
      builtin_modules: modules.slice(),
      variables: board.firmware.jsVars,
      default_console: 'EV_SERIAL1',
      default_console_baudrate: String(board.console.baud),
    },
    chip: {
      family: 'ESP32',
      part: board.chip.toUpperCase(),
      saved_code: { address: SAVED_CODE.address, page_size: SAVED_CODE.page_size, pages: Math.floor(board.firmware.storageBytes / SAVED_CODE.page_size) },
    },
  };
}

/**
 * Module names a bundle passes to require() as a string literal, found the way EspruinoTools
 * finds them (tokens `require` `(` <string>), so exactly what the tools would try to resolve.
 */
export async function requiredModules(code) {
  const { tokenizer } = await import('acorn');
  const found = [];
  let state = 0;
  for (const t of tokenizer(code, { ecmaVersion: 2020 })) {
    if (state === 0 && t.type.label === 'name' && t.value === 'require') state = 1;
    else if (state === 1 && t.type.label === '(') state = 2;
    else if (state === 2 && t.type.label === 'string') {
      if (!found.includes(t.value)) found.push(t.value);
      state = 0;
    } else state = 0;
  }
  return found;
}

/**
 * The port as the CLI takes it: a serial device path or tcp://host[:port] (default port 23,
 * as EspruinoTools). Throws E_PORT for anything else.
 */
export function parsePort(port) {
  if (typeof port !== 'string' || port === '') throw new DeviceError('E_PORT', 'PORT expected a serial device (/dev/ttyUSB0) or tcp://host:port, got ' + JSON.stringify(port));
  if (port.startsWith('tcp://')) {
    const rest = port.slice(6);
    const m = /^(\[[^\]]+\]|[^:/]+)(?::(\d+))?$/.exec(rest);
    if (!m) throw new DeviceError('E_PORT', 'PORT expected tcp://host:port, got ' + JSON.stringify(port));
    const p = m[2] === undefined ? 23 : Number(m[2]);
    if (!(p >= 1 && p <= 65535)) throw new DeviceError('E_PORT', 'PORT ' + port + ': TCP port expected in 1..65535');
    return { kind: 'tcp', host: m[1].replace(/^\[|\]$/g, ''), port: p, url: 'tcp://' + m[1] + ':' + p };
  }
  if (port.includes('://')) throw new DeviceError('E_PORT', 'PORT expected a serial device path or tcp://host:port, got ' + JSON.stringify(port));
  return { kind: 'serial', path: port, url: port };
}

/**
 * Checks the port can be opened at all, so a wrong port fails in a second with a plain reason
 * instead of through the CLI (which retries a missing serial port and never gives up on a
 * refused TCP connection).
 */
export async function checkPortReachable(port, timeoutMs = 5000) {
  const p = parsePort(port);
  if (p.kind === 'serial') {
    if (!existsSync(p.path)) throw new DeviceError('E_PORT', p.path + ' does not exist: is the board plugged in? (USB-UART bridges show up as /dev/ttyUSB*, USB Serial/JTAG as /dev/ttyACM*)');
    return p;
  }
  await new Promise((ok, fail) => {
    const s = net.connect({ host: p.host, port: p.port });
    const timer = setTimeout(() => {
      s.destroy();
      fail(new DeviceError('E_PORT', p.url + ': no TCP connection within ' + timeoutMs + ' ms'));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.end();
      s.destroy();
      ok();
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      fail(new DeviceError('E_PORT', p.url + ': ' + (e.code === 'ECONNREFUSED' ? 'connection refused (nothing listens there)' : e.message)));
    });
  });
  return p;
}

/** Removes terminal control sequences and CRs from a line the CLI printed. */
function clean(line) {
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

/**
 * Runs the espruino CLI once. Resolves with what it printed; never rejects for the device's
 * sake (the caller reads the markers), only when the CLI cannot be started.
 * @param {string[]} args
 * @param {{ timeoutMs?: number, until?: (tag: string, value: unknown) => boolean, onLine?: (line: string) => void,
 *   afterUploadMs?: number, env?: NodeJS.ProcessEnv, cli?: string }} [o]
 *   until: stop the CLI (kill it) once a marker for which this returns true was printed.
 */
export function runEspruinoCli(args, o = {}) {
  const timeoutMs = o.timeoutMs ?? TOOLS.probeTimeoutMs;
  const cli = o.cli ?? TOOLS.cli();
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, ['--require', TOOLS.offlineGuard, cli, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lines = [];
    const deviceLines = [];
    const markers = [];
    let stderr = '';
    let partial = '';
    let uploaded = false;
    let stopped = '';
    let timer;
    let afterTimer;
    const stop = (why) => {
      if (stopped) return;
      stopped = why;
      child.kill('SIGTERM');
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, 1000).unref();
    };
    const onLine = (raw) => {
      const line = clean(raw);
      lines.push(line);
      if (lines.length > TOOLS.keepLines) lines.shift();
      o.onLine?.(line);
      if (!line.startsWith(TOOLS.devicePrefix)) {
        if (line.trim() === 'Upload Complete') {
          uploaded = true;
          afterTimer = setTimeout(() => stop('done'), o.afterUploadMs ?? TOOLS.afterUploadMs);
        }
        return;
      }
      const dev = line.slice(TOOLS.devicePrefix.length);
      deviceLines.push(dev);
      if (deviceLines.length > TOOLS.keepLines) deviceLines.shift();
      const at = dev.indexOf(TOOLS.marker);
      if (at < 0) return;
      const rest = dev.slice(at + TOOLS.marker.length);
      const sp = rest.indexOf(' ');
      const tag = sp < 0 ? rest : rest.slice(0, sp);
      let value;
      try {
        value = sp < 0 ? undefined : JSON.parse(rest.slice(sp + 1));
      } catch {
        value = { unparsed: rest.slice(sp + 1) };
      }
      markers.push({ tag, value });
      if (o.until?.(tag, value)) stop('marker');
    };
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (d) => {
      partial += d;
      let i;
      while ((i = partial.indexOf('\n')) >= 0) {
        onLine(partial.slice(0, i));
        partial = partial.slice(i + 1);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.length > 65536) stderr = stderr.slice(-65536);
    });
    child.stdin.end();
    timer = setTimeout(() => stop('timeout'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      clearTimeout(afterTimer);
      fail(new DeviceError('E_PORT', 'cannot run the espruino CLI (' + cli + '): ' + e.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(afterTimer);
      if (partial) onLine(partial);
      ok({ lines, deviceLines, markers, stderr, code, timedOut: stopped === 'timeout', uploaded, stopped });
    });
  });
}

/** The common CLI arguments: local board file, port, baud, no Bluetooth, nothing fetched. */
export function cliBase({ boardJson, port, baud }) {
  return ['--board', boardJson, '-p', port, '-b', String(baud), '--no-ble', '--config', 'MODULE_URL=', '--config', 'COMPILATION=false'];
}

/** Last marker with this tag, or undefined. */
export function marker(result, tag) {
  for (let i = result.markers.length - 1; i >= 0; i--) if (result.markers[i].tag === tag) return result.markers[i].value;
  return undefined;
}

/**
 * Why there was no answer, from what the run printed: a locked console, nothing at all, or an
 * Espruino that answered something else. Returns a DeviceError to throw.
 */
export function noAnswer(result, port, what, timeoutMs) {
  const dev = result.deviceLines.filter((l) => l.trim() !== '' && l.trim() !== '>');
  const tail = dev.slice(-8);
  if (result.deviceLines.some((l) => /password>\s*$/.test(l)) || result.lines.some((l) => /password>\s*$/.test(l)))
    return new DeviceError('E_LOCKED', port + ': the console is locked (E.lockConsole): log in with the console password in a terminal (npx espruino -p ' + port + '), or long-press the button to reset the config, then retry', { output: tail });
  if (/Unable to connect|not found|RECEIVE ERROR/.test(result.stderr + result.lines.join('\n'))) {
    const why = result.stderr.split('\n').filter((l) => /Unable|not found|ERROR/.test(l)).slice(0, 3).join('; ');
    const hint = /not found/.test(why)
      ? ' (the CLI opens only serial ports its serial library lists, i.e. USB serial devices; bridge anything else to tcp://, e.g. with ser2net or socat TCP-LISTEN)'
      : '';
    return new DeviceError('E_PORT', port + ': the espruino CLI could not open the port: ' + why + hint, { output: tail });
  }
  if (dev.length === 0)
    return new DeviceError('E_NO_ANSWER', port + ': no Espruino console answered ' + (what ? 'while ' + what + ' ' : '') + 'within ' + Math.round(timeoutMs / 1000) + ' s' +
      (result.timedOut ? ' (timed out)' : '') + '. Check the port and cable, the baud rate, that no other program (a serial monitor, the Web IDE) holds the port, and that Espruino is flashed on the board (docs/flashing.md)', { output: tail });
  return new DeviceError('E_DEVICE', port + ': the device answered but not as expected ' + (what ? 'while ' + what : '') + '; its last output:\n  ' + tail.join('\n  '), { output: tail });
}

// ---------------------------------------------------------------------------------------------
// Expressions evaluated on the device (one line each; ES5; only what Espruino 2v29 has)

/** What the device is: Espruino version and build, Storage state, whether our app is loaded. */
export function probeExpr() {
  return 'print("' + TOOLS.marker + 'probe "+JSON.stringify((function(){var S=require("Storage"),a=typeof DepinApp!=="undefined"&&DepinApp.app?DepinApp.app():undefined;' +
    'return {version:process.env.VERSION,board:process.env.BOARD,modules:process.env.MODULES,free:S.getFree(),stats:S.getStats?S.getStats():null,files:S.list(),' +
    'app:a?{state:a.state,board:a.board}:null};})()))';
}

/**
 * Stops a running agent before an upload and turns the watchdog to automatic kicking: the app
 * runs it in "kick me yourself" mode, and after reset() nothing of the app is left to kick it
 * (Espruino keeps the watchdog and its mode across reset(): JSIS_WATCHDOG_AUTO is in
 * JSIS_SOFTINIT_MASK, src/jsinteractive.h). Wi-Fi stays up (the console may be on it).
 */
export function quiesceExpr(watchdogS) {
  return 'if(typeof DepinApp!=="undefined"&&DepinApp.app&&DepinApp.app()){var _a=DepinApp.app();if(_a.dog)E.enableWatchdog(' + watchdogS + ',true);if(_a.agent)_a.agent.stop();}';
}

/** Length and CRC-32 of Storage files, to compare with what was meant to be written. */
export function filesExpr(names) {
  return 'print("' + TOOLS.marker + 'files "+JSON.stringify(' + JSON.stringify(names) +
    '.map(function(n){var s=require("Storage").read(n);return s===undefined?null:[n,s.length,typeof E.CRC32==="function"?E.CRC32(s)>>>0:null];})))';
}
