// A fake Espruino device on a TCP port: the console of an ESP32 running Espruino 2v29, for
// exercising flashing and provisioning (the `espruino` CLI) without hardware.
//
// The console follows src/jsinteractive.c (Espruino 2v29), checked against the real interpreter
// (its Linux build behind a pipe):
//   prompt      ">" after each executed line while echo is on; "password>" when locked
//   echo        typed characters are echoed; Enter prints "\r\n", then "=<result>\r\n" and ">"
//   DLE (0x10)  at the start of a line: that line runs without echo, without "=result", and the
//               prompt comes back only if the line printed something (its input line was removed)
//   ESC LF      (Alt-Enter) a newline that does not execute; unbalanced brackets do the same,
//               showing the ":" continuation prompt; ESC [ <n> d (line numbers) is ignored
//   Ctrl-C      clears the input line ("\r\x1b[J>")
//   echo(0/1)   turns echo, results and prompts off and on
//   reset()     after the line: a fresh interpreter without running .bootcde, then the banner
//   load([f])   after the line: a fresh interpreter that runs .bootcde (or f) from Storage
//   E.reboot()  a power-on: .bootcde runs; so does the watchdog biting, via the emulation
//   watchdog    survives reset() and load() in its mode (JSIS_WATCHDOG_AUTO is in
//               JSIS_SOFTINIT_MASK): a "kick it yourself" watchdog left behind by an app bites
//               after reset() unless something switches it to automatic kicking
//   async output (timers) removes the prompt ("\r\x1b[J"), prints, and shows it again
//   errors      "Uncaught <Name>: <message>"
//   process.env answered like an ESP32 2v29 build of the board (BOARD, VERSION, MODULES, STORAGE)
//   atob/btoa   binary strings, as Espruino's
// Code runs in the emulated ESP32 of test/device/espruino-emu.ts (an Espruino-shaped vm with its
// device APIs: Storage on the simulator's FlashStorage with Espruino's write rules, timers,
// Wi-Fi, hardware RNG register, watchdog), so an uploaded app really boots here.
// Not emulated: the packet protocol (DLE SOH), tab completion, history, the debugger, save().
// The TCP port stands in for a serial line: a reboot keeps the connection (Espruino's own telnet
// server would drop it).
//
//   node --import tsx agent-sim/fake-espruino.ts [--board esp32-devkitc] [--port 2323] [--seed 1]
//     prints "fake espruino <board> listening on tcp://127.0.0.1:<port>"; try
//     make flash BOARD=esp32-devkitc PORT=tcp://127.0.0.1:<port>
import net from 'node:net';
import vm from 'node:vm';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FlashStorage } from './platform/flash-storage.js';
import { bootEspruinoVm, type EmuDevice, type EmuWifiOptions } from '../test/device/espruino-emu.js';
import { ESPRUINO_MODULES, ESPRUINO_VERSION } from '../scripts/espruino-tools.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Bounds of the fake. */
export const FAKE_ESPRUINO_DEFAULTS = {
  /** Bytes of console traffic kept in each direction (for tests and error messages). */
  keepBytes: 1 << 20,
  /** Input line limit; Espruino's grows until memory runs out, this one refuses beyond. */
  maxLineBytes: 1 << 20,
  /** How often the fake looks for a device that powered itself off (E.reboot, watchdog). */
  rebootPollMs: 20,
};

/** The part of a board file the fake needs. */
export interface FakeBoard {
  id: string;
  chip: string;
  rngRegister: string;
  firmware: { espruinoBoard: string; storageBytes: number; flashBytes: number; jsVars: number };
}

export interface FakeEspruinoOptions {
  /** Board id (boards/<id>.json) or board object; default esp32-devkitc. */
  board?: string | FakeBoard;
  /** The device's flash; default an empty FlashStorage of the board's Storage size. */
  flash?: FlashStorage;
  host?: string;
  /** TCP port (0: any free one). */
  port?: number;
  /** Seed of the emulated hardware RNG register (a different device: a different seed). */
  seed?: number;
  wifi?: EmuWifiOptions;
  /** Accept connections but never answer (a port with no Espruino behind it). */
  silent?: boolean;
  /** Every line the device prints (console output, split at newlines). */
  onOutput?(line: string): void;
}

export interface StorageWriteRecord {
  name: string;
  offset: number;
  /** Size given to a creating write (write(name, data, 0, size)). */
  size?: number;
  length: number;
  ok: boolean;
}

export interface FakeEspruino {
  url: string;
  port: number;
  flash: FlashStorage;
  /** Every Storage write, in order (successful or refused). */
  writes: StorageWriteRecord[];
  erases: string[];
  /** Lines executed at the console (code, without DLE). */
  executed: string[];
  /** Console traffic: what arrived and what was sent (latin1, bounded). */
  received(): string;
  sent(): string;
  /** Printed lines of the device (print/console.log, async or not). */
  printed: string[];
  counts: { resets: number; loads: number; boots: number; reboots: number; connections: number };
  /** The emulated device running now. */
  device(): EmuDevice;
  /** Runs code on the device (not through the console). */
  eval(code: string): unknown;
  /** Cuts the power and powers on again (.bootcde runs). */
  powerCycle(): void;
  close(): Promise<void>;
}

const BANNER =
  '\x1b[?7l\n' +
  ' ____                 _ \n' +
  '|  __|___ ___ ___ _ _|_|___ ___ \n' +
  '|  __|_ -| . |  _| | | |   | . |\n' +
  '|____|___|  _|_| |___|_|_|_|___|\n' +
  '         |_| espruino.com\n' +
  ' ' + ESPRUINO_VERSION + ' (c) 2026 G.Williams\n' +
  '\n' +
  'Espruino is Open Source. Our work is supported\n' +
  'only by sales of official boards and donations:\n' +
  'http://espruino.com/Donate\n';

function loadBoard(b: string | FakeBoard | undefined): FakeBoard {
  if (b && typeof b === 'object') return b;
  const id = b ?? 'esp32-devkitc';
  return JSON.parse(readFileSync(join(ROOT, 'boards', id + '.json'), 'utf8')) as FakeBoard;
}

/** process.env of an ESP32-family Espruino 2v29 build, as the device answers it. */
export function fakeProcessEnv(board: FakeBoard): Record<string, unknown> {
  const build = board.firmware.espruinoBoard as keyof typeof ESPRUINO_MODULES;
  return {
    VERSION: ESPRUINO_VERSION,
    GIT_COMMIT: 'fake0000',
    BOARD: build,
    RAM: board.chip === 'esp32' ? 532480 : 409600,
    FLASH: 0,
    SPIFLASH: board.firmware.flashBytes,
    STORAGE: board.firmware.storageBytes,
    SERIAL: '246f28c0ffee',
    CONSOLE: 'Serial1',
    MODULES: (ESPRUINO_MODULES[build] ?? []).join(','),
    EXPTR: 1073484860,
  };
}

// ---------------------------------------------------------------------------------------------
// Result formatting (jsfPrintJSON with JSON_SOME_NEWLINES | JSON_PRETTY | JSON_DROP_QUOTES, simplified)

function show(v: unknown, depth = 0): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  const t = typeof v;
  if (t === 'string') return JSON.stringify(v);
  if (t === 'number' || t === 'boolean') return String(v);
  if (t === 'function') return 'function () { ... }';
  const o = v as { constructor?: { name?: string }; length?: number };
  const ctor = o.constructor?.name ?? '';
  if (/^(Uint|Int|Float)\w*Array$|^ArrayBuffer$/.test(ctor)) return 'new ' + ctor + '(' + ((o as { length?: number; byteLength?: number }).length ?? (o as { byteLength: number }).byteLength) + ')';
  if (depth > 2) return '...';
  if (Array.isArray(v)) return '[ ' + v.map((x) => show(x, depth + 1)).join(', ') + ' ]';
  const keys = Object.keys(v as object);
  if (keys.length === 0) return '{ }';
  return '{ ' + keys.map((k) => k + ': ' + show((v as Record<string, unknown>)[k], depth + 1)).join(', ') + ' }';
}

/**
 * Net bracket depth of `code` as Espruino's lexer counts it (strings, template literals,
 * comments and regular expressions skipped); an unfinished string or comment counts as open.
 */
export function countBrackets(code: string): number {
  let n = 0;
  let i = 0;
  let prev = ''; // last significant token class: 'id', 'num', ')', or an operator char
  while (i < code.length) {
    const c = code[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '/' && code[i + 1] === '/') {
      while (i < code.length && code[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && code[i + 1] === '*') {
      const e = code.indexOf('*/', i + 2);
      if (e < 0) return n + 1;
      i = e + 2;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      i++;
      while (i < code.length && code[i] !== c) i += code[i] === '\\' ? 2 : 1;
      if (i >= code.length) return n + 1;
      i++;
      prev = 'id';
      continue;
    }
    if (c === '/' && !(prev === 'id' || prev === 'num' || prev === ')')) {
      // a regular expression literal
      i++;
      let cls = false;
      while (i < code.length && (cls || code[i] !== '/')) {
        if (code[i] === '\\') i++;
        else if (code[i] === '[') cls = true;
        else if (code[i] === ']') cls = false;
        else if (code[i] === '\n') break;
        i++;
      }
      i++;
      while (i < code.length && /[a-z]/.test(code[i])) i++;
      prev = 'id';
      continue;
    }
    if (/[A-Za-z0-9_$]/.test(c)) {
      const s = i;
      while (i < code.length && /[A-Za-z0-9_$.]/.test(code[i])) i++;
      const w = code.slice(s, i);
      prev = /^(return|typeof|case|do|else|in|of|new|delete|void|throw)$/.test(w) ? '(' : /^[0-9]/.test(w) ? 'num' : 'id';
      continue;
    }
    if (c === '(' || c === '{' || c === '[') n++;
    else if (c === ')' || c === '}' || c === ']') n--;
    prev = c === ')' || c === ']' || c === '}' ? ')' : c;
    i++;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------

interface Todo {
  kind: 'reset' | 'load';
  file?: string;
}

/** Starts the fake device's console on a TCP port. */
export async function startFakeEspruino(o: FakeEspruinoOptions = {}): Promise<FakeEspruino> {
  const board = loadBoard(o.board);
  const rng = parseInt(board.rngRegister.slice(2), 16);
  const flash = o.flash ?? new FlashStorage({ capacity: board.firmware.storageBytes });
  const env = fakeProcessEnv(board);
  const writes: StorageWriteRecord[] = [];
  const erases: string[] = [];
  const executed: string[] = [];
  const printed: string[] = [];
  const counts = { resets: 0, loads: 0, boots: 0, reboots: 0, connections: 0 };
  let rx = '';
  let tx = '';
  const keep = (s: string, add: string) => {
    s += add;
    return s.length > FAKE_ESPRUINO_DEFAULTS.keepBytes ? s.slice(-FAKE_ESPRUINO_DEFAULTS.keepBytes) : s;
  };

  // Record every Storage write and erase, whatever calls them.
  const origWrite = flash.write.bind(flash);
  flash.write = (name: string, data: Uint8Array, offset?: number, size?: number) => {
    const rec: StorageWriteRecord = { name, offset: offset ?? 0, size, length: data.length, ok: false };
    writes.push(rec);
    origWrite(name, data, offset, size);
    rec.ok = true;
  };
  const origErase = flash.erase.bind(flash);
  flash.erase = (name: string) => {
    erases.push(name);
    origErase(name);
  };

  // ---- console state (jsinteractive.c) ----
  let sock: net.Socket | undefined;
  let line = '';
  let echoOn = true; // echo(0/1): JSIS_ECHO_OFF
  let echoOffForLine = false; // DLE: JSIS_ECHO_OFF_FOR_LINE
  let removed = true; // inputLineRemoved: the prompt is not on screen
  let esc: '' | 'esc' | 'csi' | 'ss3' = '';
  let lastWasCR = false;
  let todo: Todo | undefined;
  let outLine = '';
  let executing = false; // a console line or boot code is running
  let returnQueued = false;

  const write = (s: string) => {
    const crlf = s.replace(/\r?\n/g, '\r\n');
    tx = keep(tx, crlf);
    if (sock && !sock.destroyed) sock.write(Buffer.from(crlf, 'latin1'));
    outLine += s.replace(/\r/g, '');
    let i;
    while ((i = outLine.indexOf('\n')) >= 0) {
      o.onOutput?.(outLine.slice(0, i));
      outLine = outLine.slice(i + 1);
    }
  };
  const echo = () => echoOn && !echoOffForLine;
  const locked = () => !!dev && dev.console.locked;
  const showInputLine = () => echo() && !removed && !locked();
  const removeInputLine = () => {
    if (removed) return;
    removed = true;
    if (echo()) write('\r\x1b[J');
  };
  const returnInputLine = () => {
    if (!removed) return;
    removed = false;
    if (echo()) write((locked() ? 'password' : '') + '>' + line.replace(/\n/g, '\n:'));
  };
  /** Output of the device (print, errors): the prompt steps aside. */
  const out = (text: string) => {
    removeInputLine();
    write(text);
  };

  // ---- the device ----
  let dev: EmuDevice;
  let tearingDown = false;
  let watchdog: { timeoutS: number; auto: boolean } | undefined;
  const installExtras = (d: EmuDevice) => {
    const F = {
      reset: () => void (todo = { kind: 'reset' }),
      load: (f?: string) => void (todo = { kind: 'load', file: f }),
      echo: (on: unknown) => {
        echoOn = !!on;
      },
      watchdog: (t: number, auto: boolean) => {
        watchdog = { timeoutS: t, auto };
      },
      atob: (s: string) => Buffer.from(s, 'base64').toString('latin1'),
      btoa: (s: string) => Buffer.from(s, 'latin1').toString('base64'),
      // Storage.getStats() of 2v29 (jswrap_storage.c): the fields the real interpreter reports.
      stats: () => {
        const st = flash.stats();
        return JSON.stringify({ totalBytes: st.capacity, freeBytes: st.free, fileBytes: st.used, fileCount: st.files, trashBytes: st.garbage, trashCount: 0 });
      },
    };
    (d.context as Record<string, unknown>).__fake = F;
    d.eval(
      '(function (F, env) { var g = globalThis;' +
        ' g.reset = function () { F.reset(); };' +
        ' g.load = function (f) { F.load(f === undefined ? undefined : String(f)); };' +
        ' g.echo = function (b) { F.echo(b); };' +
        ' g.save = function () { throw new Error("save() is not emulated here: code lives in Storage (.bootcde)"); };' +
        ' g.atob = function (s) { return F.atob(String(s)); };' +
        ' g.btoa = function (s) { return F.btoa(String(s)); };' +
        ' require("Storage").getStats = function () { return JSON.parse(F.stats()); };' +
        ' var ew = E.enableWatchdog; E.enableWatchdog = function (t, auto) { F.watchdog(+t, auto === undefined || !!auto); ew(t, auto); };' +
        ' E.setBootCode = function (c, always) { require("Storage").write(always ? ".bootrst" : ".bootcde", String(c)); };' +
        ' process.env = JSON.parse(env);' +
        ' delete g.__fake; })(__fake, ' + JSON.stringify(JSON.stringify(env)) + ')',
    );
  };
  const runCode = (code: string, filename: string): { value?: unknown; error?: unknown } => {
    const was = executing;
    executing = true;
    try {
      return { value: vm.runInContext(code, dev.context, { filename }) };
    } catch (e) {
      return { error: e };
    } finally {
      executing = was;
    }
  };
  const uncaught = (e: unknown) => {
    const err = e as { name?: string; message?: string };
    out('Uncaught ' + (err && typeof err === 'object' ? (err.name ?? 'Error') + ': ' + (err.message ?? '') : String(e)) + '\n');
  };
  /**
   * A fresh interpreter. reset() and load() keep the watchdog running in its mode (Espruino keeps
   * JSIS_WATCHDOG_AUTO across a soft reset and the hardware timer keeps counting); a power-on
   * (reboot, watchdog reset) starts without one.
   */
  const newDevice = (soft: boolean) => {
    const keepDog = soft ? watchdog : undefined;
    watchdog = undefined;
    tearingDown = true;
    if (dev && dev.on) dev.powerOff();
    tearingDown = false;
    flash.reboot();
    dev = bootEspruinoVm('', {
      flash,
      rngRegister: rng,
      seed: o.seed ?? 1,
      wifi: o.wifi,
      board: board.firmware.espruinoBoard,
      onPrint: (l) => {
        printed.push(l);
        out(l + '\n');
        // Output from a timer: the idle loop shows the prompt again (jsiConsoleReturnInputLine).
        if (!executing && !returnQueued) {
          returnQueued = true;
          setImmediate(() => {
            returnQueued = false;
            if (!executing) returnInputLine();
          });
        }
      },
    });
    installExtras(dev);
    if (keepDog) dev.eval('E.enableWatchdog(' + keepDog.timeoutS + ',' + keepDog.auto + ')');
    counts.boots++;
  };
  /** Power-on or load(): run the boot file from Storage; the banner only when there is no code. */
  const boot = (file: string | undefined, banner: boolean) => {
    newDevice(!banner);
    const name = file ?? '.bootcde';
    const code = flash.read(name);
    if (code) {
      const r = runCode(Buffer.from(code).toString('latin1'), name);
      if (r.error !== undefined) uncaught(r.error);
    } else if (banner) {
      write(BANNER + '\n');
      removed = true;
    }
  };
  const doTodo = () => {
    while (todo) {
      const t = todo;
      todo = undefined;
      line = '';
      if (t.kind === 'reset') {
        counts.resets++;
        newDevice(true);
        // jsiSemiInit prints the banner itself (not as output of a line), then the prompt.
        write(BANNER + '\n');
        removed = true;
      } else {
        counts.loads++;
        boot(t.file, false);
      }
      returnInputLine();
    }
  };

  const execute = () => {
    if (showInputLine()) write('\n');
    if (!echoOffForLine) removed = true;
    const code = line.replace(/\s+$/, '');
    line = '';
    executed.push(code);
    if (code !== '') {
      const r = runCode(code, 'REPL');
      // Espruino's value of a line is its last statement's, and a function declaration's is the function.
      const decl = /^\s*function\s+([A-Za-z_$][\w$]*)\s*\(/.exec(code);
      if (r.error === undefined && r.value === undefined && decl && /\}\s*;?$/.test(code)) r.value = runCode(decl[1], 'REPL').value;
      if (r.error !== undefined) uncaught(r.error);
      else if (echo()) write('=' + show(r.value) + '\n');
    }
    echoOffForLine = false;
    doTodo();
    returnInputLine();
  };

  const handleNewLine = (exec: boolean) => {
    if (exec && countBrackets(line) <= 0) return execute();
    if (showInputLine()) write('\n:');
    line += '\n';
  };

  const handleChar = (ch: string) => {
    const c = ch.charCodeAt(0);
    if (locked()) {
      if (ch === '\r' || ch === '\n') {
        const ok = line === dev.console.password;
        line = '';
        if (ok) {
          dev.console.locked = false;
          write('\n  Logged in.\n');
          removed = true;
          returnInputLine();
        } else write('\n  Invalid password\npassword>');
      } else if (line.length < 20) line += ch;
      return;
    }
    if (esc === 'esc') {
      esc = '';
      if (c === 91) esc = 'csi';
      else if (c === 79) esc = 'ss3';
      else if (c === 10) handleNewLine(false);
      return;
    }
    if (esc === 'csi') {
      if (c >= 48 && c <= 57) return; // digits of ESC [ <n> d (line number) or ESC [ <n> ~
      esc = '';
      return; // the final byte: cursor keys, line numbers: nothing to do here
    }
    if (esc === 'ss3') {
      esc = '';
      return;
    }
    if (c === 0) return;
    if (c === 3) {
      // Ctrl-C: clear the input line
      removeInputLine();
      line = '';
      echoOffForLine = false;
      returnInputLine();
      return;
    }
    if (c === 16) {
      if (line === '') echoOffForLine = true;
      return;
    }
    if (c === 27) {
      esc = 'esc';
      return;
    }
    if (c === 13 || c === 10) {
      if (c === 10 && lastWasCR) return;
      handleNewLine(true);
      return;
    }
    if (c === 8 || c === 127) {
      if (line.length && line[line.length - 1] !== '\n') {
        line = line.slice(0, -1);
        if (showInputLine()) write('\b \b');
      }
      return;
    }
    if (line.length >= FAKE_ESPRUINO_DEFAULTS.maxLineBytes) return;
    line += ch;
    if (showInputLine()) write(ch);
  };

  const feed = (data: Buffer) => {
    const s = data.toString('latin1');
    rx = keep(rx, s);
    if (o.silent) return;
    for (const ch of s) {
      handleChar(ch);
      lastWasCR = ch === '\r';
    }
  };

  // Power-on: .bootcde runs if present, else the banner; then the prompt.
  boot(undefined, true);
  removed = true;
  returnInputLine();
  // A device that powered itself off (E.reboot, a watchdog reset) starts again.
  const watcher = setInterval(() => {
    if (!tearingDown && dev && !dev.on) {
      counts.reboots++;
      line = '';
      echoOffForLine = false;
      removed = true;
      boot(undefined, true);
      returnInputLine();
    }
  }, FAKE_ESPRUINO_DEFAULTS.rebootPollMs);

  const server = net.createServer((s) => {
    counts.connections++;
    if (sock && !sock.destroyed) sock.destroy(); // one console
    sock = s;
    s.setNoDelay(true);
    s.on('data', feed);
    s.on('error', () => {});
    s.on('close', () => {
      if (sock === s) sock = undefined;
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => ok());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: 'tcp://' + (o.host ?? '127.0.0.1') + ':' + port,
    port,
    flash,
    writes,
    erases,
    executed,
    received: () => rx,
    sent: () => tx,
    printed,
    counts,
    device: () => dev,
    eval: (code) => dev.eval(code),
    powerCycle: () => {
      dev.powerOff();
    },
    close: async () => {
      clearInterval(watcher);
      tearingDown = true;
      if (dev.on) dev.powerOff();
      sock?.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const opt = (n: string) => {
    const i = args.indexOf(n);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const boardId = opt('--board') ?? 'esp32-devkitc';
  const f = await startFakeEspruino({ board: boardId, port: Number(opt('--port') ?? 0), seed: Number(opt('--seed') ?? 1), onOutput: (l) => process.stdout.write('device: ' + l + '\n') });
  process.stdout.write('fake espruino ' + boardId + ' listening on ' + f.url + '\n');
  const stop = () => void f.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
