#!/usr/bin/env node
// The firmware manifest: what `make firmware BOARD=<id>` leaves in dist/<board>/ for flashing,
// and the check that it fits the board.
//
//   node scripts/manifest.mjs --board <id> [--board-file <path>] [--dist <dir>] [--measure | --no-measure] [--quiet]
//
// Runs after scripts/build-firmware.mjs --board <id> (which writes dist/<board>/app.js and the G
// table). Writes dist/<board>/manifest.json and dist/<board>/espruino-board.json (the board file
// EspruinoTools reads with --board, so uploads never fetch one), or fails, naming what does not
// fit, and removes both so a stale manifest cannot be flashed.
//
// Fit checks (all must pass):
// - Storage: every file the device keeps, each as Espruino stores it (a 32-byte header plus the
//   data rounded up to 4 bytes: src/jsflash.h JsfFileHeader, JSF_ALIGNMENT on ESP32), must fit
//   the board's Storage area: the uploaded files (.bootcde = app.js, gtab = the G table) and a
//   reserve for what the running agent writes (config, key, chain/command logs, counters, the
//   outbox at its configured maximum, source state). RUNTIME_STORAGE lists the parts.
// - JsVars: an estimate of the variables the app needs must not exceed the board's JsVars
//   (ESP32 16383, C3 4095). See estimateJsVars(): boot cost (measured in the real interpreter
//   when ESPRUINO names one, else a model from the benchmark) plus the running agent's share.
// - Names: Storage names are at most 28 characters.
// Modules the app requires that the board's Espruino build lacks are listed as warnings (the
// app may guard them, as main.ts does for crypto); nothing is ever downloaded for them.
//
// As a module: makeManifest(opts), readManifest(dir), verifyDist(manifest, dir), estimateJsVars(o),
// runtimeStorage(), storageFootprint(bytes), benchFigures(path), MANIFEST, JSVARS_MODEL, FitError.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32, gzipSync } from 'node:zlib';
import { ESPRUINO_MODULES, espruinoToolsBoard, requiredModules } from './espruino-tools.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Names, format and Espruino's Storage layout. */
export const MANIFEST = {
  format: 1,
  name: 'manifest.json',
  toolsBoard: 'espruino-board.json',
  appFile: 'app.js',
  gtableFile: 'secp256k1-gtable.bin',
  /** Espruino runs this Storage file at boot (src/jsflash.c jsfLoadBootCodeFromFlash). */
  bootName: '.bootcde',
  /** JsfFileHeader: u32 size + 28-char name (src/jsflash.h). */
  storageHeader: 32,
  /** JSF_ALIGNMENT on ESP32 (src/jsutils.h). */
  storageAlign: 4,
  /** JsfFileName (src/jsflash.h). */
  maxName: 28,
  /** Largest device config provisioning writes (depin.cfg); the Storage reserve counts it. */
  configMaxBytes: 4096,
  /** Above this share of the board's JsVars the manifest carries a warning. */
  jsVarsWarnFraction: 0.85,
};

/**
 * The JsVars model and its provenance. Counts, not bytes: the Linux build's variables are 27
 * bytes and an ESP32's 14, and a long string needs more ESP32 variables, so counts from the Linux
 * build are a lower bound for the device.
 */
export const JSVARS_MODEL = {
  /**
   * bench/espruino.ts "Espruino JsVars" row (bench/out/latest.json, 2026-11-25, Espruino 2v29.277
   * Linux -Og): process.memory().usage after a GC with nothing loaded (before), after evaluating
   * dist/core.js from its Storage string (flashCode: code stays in flash), over `chars` of
   * bundle. Used when bench/out/latest.json is absent (it is not committed).
   */
  benchFallback: { before: 510, flashCode: 3794, load: 8076, peak: 8820, chars: 115942, source: 'bench/out/latest.json of 2026-11-25 (fallback copy)' },
  /**
   * The per-character model under-estimated both app builds measured in the real interpreter
   * (unprovisioned boot from .bootcde, 2026-11-25): 4850 vs 5246 JsVars for the device-only app
   * (153223 chars), 7593 vs 9067 for the full app (250070 chars). The model is scaled by this.
   */
  modelMargin: 1.2,
  /**
   * The running agent's share above the unprovisioned boot, measured in the real interpreter
   * (2v29.277 Linux -Og, 2026-11-25): device-only app booted from Storage with the G table in
   * Storage, a "device" source every 300 ms, batches of 2 signed, MQTT reconnecting:
   * 5246 JsVars unprovisioned, 7385-7689 running, peak 8087 while signing -> 2841. Sources
   * with their own buffers (DSMR telegrams, Modbus frames) add to it.
   */
  runtimeVars: 2841,
  /** Seconds the measuring run lets the app boot before reading process.memory(). */
  measureBootMs: 1500,
  /** The Linux build's Storage (espruino.flash) holds 256 KB: larger apps cannot be measured there. */
  linuxStorageBytes: 262144,
  measureTimeoutMs: 60000,
};

/** Storage the running device writes besides the uploaded files (bytes, headers included). */
export async function runtimeStorage() {
  const { tsImport } = await import('tsx/esm/api');
  const imp = (p) => tsImport(pathToFileURL(join(ROOT, p)).href, import.meta.url);
  const [{ OUTBOX_DEFAULTS }, { COUNTERS_DEFAULTS }, { FILES }] = await Promise.all([
    imp('firmware/core/session/outbox.ts'),
    imp('firmware/core/session/counters.ts'),
    imp('firmware/espruino/main.ts'),
  ]);
  const fp = storageFootprint;
  // agent.ts STATE_FILE_BYTES (not exported): the chain and command StateLogs, two files each.
  const STATE_FILE_BYTES = 512;
  const parts = {
    ['config (' + FILES.config + ', at most ' + MANIFEST.configMaxBytes + ' B)']: fp(MANIFEST.configMaxBytes),
    ['key (' + FILES.key + ')']: fp(32),
    'chain and command logs (chn0/1, cmd0/1)': 4 * fp(STATE_FILE_BYTES),
    ['counters (' + COUNTERS_DEFAULTS.file + '0/1)']: 2 * fp(COUNTERS_DEFAULTS.fileBytes),
    ['outbox (maxBytes, ' + OUTBOX_DEFAULTS.prefix + '*/' + OUTBOX_DEFAULTS.metaFile + '*)']: OUTBOX_DEFAULTS.maxBytes,
    'source state (S0 totals, ...): allowance': 8 * fp(1024),
  };
  let total = 0;
  for (const k in parts) total += parts[k];
  return { parts, total, files: FILES };
}

/** Bytes a Storage file of `bytes` occupies: header + data rounded up to the alignment. */
export function storageFootprint(bytes) {
  return MANIFEST.storageHeader + Math.ceil(bytes / MANIFEST.storageAlign) * MANIFEST.storageAlign;
}

export class FitError extends Error {
  constructor(message, problems, code = 'E_FIT') {
    super(message);
    this.name = 'FitError';
    this.code = code;
    this.problems = problems ?? [];
  }
}

/** The benchmark's JsVars figures (bench/out/latest.json), or the recorded copy. */
export function benchFigures(path = join(ROOT, 'bench/out/latest.json')) {
  try {
    const j = JSON.parse(readFileSync(path, 'utf8'));
    let row;
    let chars;
    for (const s of j.sections ?? []) {
      for (const t of s.tables ?? []) {
        const m = /dist\/core\.js \((\d+) chars\)/.exec(t.title ?? '');
        if (m) chars = Number(m[1]);
        if (/JsVars/.test(t.title ?? '')) row = (t.rows ?? []).find((r) => typeof r.flashCode === 'number' && typeof r.before === 'number');
      }
    }
    if (row && chars) return { before: row.before, flashCode: row.flashCode, load: row.load, peak: row.peak, chars, source: relative(ROOT, path) + ' (' + (j.machine?.date ?? '?') + ', ' + row.bin + ')' };
  } catch {
    /* absent or unreadable: the recorded copy */
  }
  return { ...JSVARS_MODEL.benchFallback };
}

/**
 * JsVars estimate for an app of `appChars` characters run from Storage:
 *   boot    = measured unprovisioned boot (real interpreter), or
 *             (before + (flashCode - before) / chars * appChars) * modelMargin   (benchmark model)
 *   total   = boot + runtimeVars (the running agent, signing included)
 * @param {{ appChars: number, bench?: object, measured?: { usage: number, interpreter: string } }} o
 */
export function estimateJsVars(o) {
  const b = o.bench ?? benchFigures();
  const perChar = (b.flashCode - b.before) / b.chars;
  const modelBoot = Math.round((b.before + perChar * o.appChars) * JSVARS_MODEL.modelMargin);
  const boot = o.measured ? o.measured.usage : modelBoot;
  const total = boot + JSVARS_MODEL.runtimeVars;
  return {
    total,
    method: o.measured ? 'measured' : 'model',
    boot,
    runtime: JSVARS_MODEL.runtimeVars,
    model: { before: b.before, perChar: Number(perChar.toFixed(5)), appChars: o.appChars, margin: JSVARS_MODEL.modelMargin, boot: modelBoot, bench: b.source },
    measured: o.measured ?? null,
    explain:
      (o.measured
        ? 'boot: ' + o.measured.usage + ' JsVars measured after booting app.js from Storage (unprovisioned) in ' + o.measured.interpreter
        : 'boot: model (' + b.before + ' + ' + perChar.toFixed(4) + ' JsVars/char x ' + o.appChars + ' chars) x ' + JSVARS_MODEL.modelMargin +
          ' = ' + modelBoot + ' (per-char cost of code kept in flash from the benchmark: ' + b.source + ')') +
      '; running agent incl. signing: +' + JSVARS_MODEL.runtimeVars + ' (measured in the Linux build); Linux counts are a lower bound for an ESP32',
  };
}

/**
 * Boots app.js from Storage in the real Espruino interpreter (its Linux build) and reads
 * process.memory().usage once the app has settled (unprovisioned: no config). Throws FitError
 * E_BOOT when the app does not start there (a syntax error the device would hit too).
 */
export async function measureBootJsVars(appPath, espruino) {
  const size = readFileSync(appPath).length;
  if (storageFootprint(size) > JSVARS_MODEL.linuxStorageBytes - 64)
    return { skipped: 'app.js (' + size + ' B) does not fit the Linux build\'s ' + JSVARS_MODEL.linuxStorageBytes + '-byte Storage' };
  const dir = mkdtempSync(join(tmpdir(), 'depin-measure-'));
  try {
    copyFileSync(appPath, join(dir, 'app.js'));
    const write = 'var s=require("fs").readFileSync("app.js");require("Storage").write(".bootcde",s);print("DEPIN:written "+require("Storage").read(".bootcde").length);';
    const w = await runInterpreter(espruino, ['-e', write], dir);
    if (!w.includes('DEPIN:written ' + size)) throw new FitError('could not write app.js into the interpreter\'s Storage:\n' + tail(w), [], 'E_MEASURE');
    const probe = 'setTimeout(function(){process.memory();var m=process.memory();var a=typeof DepinApp!=="undefined"&&DepinApp.app?DepinApp.app():undefined;' +
      'print("DEPIN:boot "+JSON.stringify({usage:m.usage,total:m.total,state:a?a.state:null,errors:a?a.errors:null,version:process.env.VERSION}));},' + JSVARS_MODEL.measureBootMs + ');';
    const r = await runInterpreter(espruino, ['-e', probe], dir);
    const m = /DEPIN:boot (\{.*\})/.exec(r);
    const uncaught = r.split('\n').filter((l) => /Uncaught|SyntaxError|ReferenceError/.test(l)).slice(0, 4);
    if (!m) throw new FitError('the app did not report in the real Espruino interpreter:\n' + tail(r), [], 'E_BOOT');
    const b = JSON.parse(m[1]);
    if (b.state === null || uncaught.length)
      throw new FitError('app.js does not start in the real Espruino interpreter (' + espruino + '); the device would fail the same way:\n  ' +
        (uncaught.length ? uncaught.join('\n  ') : 'DepinApp is not defined after loading .bootcde'), uncaught, 'E_BOOT');
    return { usage: b.usage, state: b.state, interpreter: 'Espruino ' + b.version + ' (Linux build)' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function tail(text) {
  return text.split('\n').map((l) => l.slice(0, 200)).filter((l) => l.trim() && !l.startsWith('espruino:')).slice(-8).join('\n');
}

function runInterpreter(bin, args, cwd) {
  return new Promise((ok, fail) => {
    const c = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.setEncoding('latin1');
    c.stdout.on('data', (d) => {
      out += d;
      if (out.length > 1 << 20) out = out.slice(-(1 << 19));
    });
    c.stderr.on('data', () => {});
    const t = setTimeout(() => c.kill('SIGKILL'), JSVARS_MODEL.measureTimeoutMs);
    c.on('error', (e) => {
      clearTimeout(t);
      fail(new FitError('cannot run the Espruino interpreter ' + bin + ': ' + e.message, [], 'E_MEASURE'));
    });
    c.on('close', () => {
      clearTimeout(t);
      // eslint-disable-next-line no-control-regex
      ok(out.replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''));
    });
  });
}

function sha256(b) {
  return createHash('sha256').update(b).digest('hex');
}

function git(args) {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

async function loadBoardFile(board, boardFile, boardData) {
  let obj = boardData;
  const path = boardFile ? resolve(boardFile) : join(ROOT, 'boards', board + '.json');
  if (obj === undefined) {
    if (!existsSync(path)) throw new FitError('no board file ' + relative(ROOT, path), [], 'E_BOARD');
    obj = JSON.parse(readFileSync(path, 'utf8'));
  }
  const { tsImport } = await import('tsx/esm/api');
  const { validateBoard } = await tsImport(pathToFileURL(join(ROOT, 'firmware/espruino/board.ts')).href, import.meta.url);
  try {
    return validateBoard(obj);
  } catch (e) {
    throw new FitError(e.message, [], 'E_BOARD');
  }
}

function writeAtomic(path, text) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = path + '.' + process.pid + '.tmp';
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/**
 * Builds and checks the manifest of dist/<board>/ (or `dir`), writes manifest.json and
 * espruino-board.json there, and returns the manifest. Throws FitError when the build does not
 * fit the board (after removing any earlier manifest of that directory).
 * @param {{ board: string, boardFile?: string, boardData?: object, dir?: string, gtable?: string,
 *   measure?: boolean, espruino?: string, bench?: object, log?: (s: string) => void }} o
 *   gtable: the G table file (default <dir>/secp256k1-gtable.bin, else dist/secp256k1-gtable.bin).
 *   measure: boot the app in the real interpreter (default: when `espruino` or $ESPRUINO is set).
 */
export async function makeManifest(o) {
  const log = o.log ?? (() => {});
  if (typeof o.board !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(o.board))
    throw new FitError('--board expected a board id (boards/<id>.json), got ' + JSON.stringify(o.board), [], 'E_BOARD');
  const dir = resolve(o.dir ?? join(ROOT, 'dist', o.board));
  const manifestPath = join(dir, MANIFEST.name);
  const toolsPath = join(dir, MANIFEST.toolsBoard);
  const clear = () => {
    rmSync(manifestPath, { force: true });
    rmSync(toolsPath, { force: true });
  };
  const board = await loadBoardFile(o.board, o.boardFile, o.boardData);
  if (board.id !== o.board) throw new FitError('board file id ' + JSON.stringify(board.id) + ' does not match --board ' + o.board, [], 'E_BOARD');

  const appPath = join(dir, MANIFEST.appFile);
  if (!existsSync(appPath)) {
    clear();
    throw new FitError(relative(ROOT, appPath) + ' does not exist: build it first (node scripts/build-firmware.mjs --board ' + o.board + ')', [], 'E_MISSING');
  }
  let gtablePath = o.gtable ?? join(dir, MANIFEST.gtableFile);
  if (!o.gtable && !existsSync(gtablePath)) gtablePath = join(ROOT, 'dist', MANIFEST.gtableFile);
  if (!existsSync(gtablePath)) {
    clear();
    throw new FitError('no G table (' + relative(ROOT, join(dir, MANIFEST.gtableFile)) + '): build it first (node scripts/build-firmware.mjs --board ' + o.board + ')', [], 'E_MISSING');
  }
  const app = readFileSync(appPath);
  const gtable = readFileSync(gtablePath);
  const rt = await runtimeStorage();
  const files = [
    { storage: MANIFEST.bootName, path: relative(dir, appPath) || MANIFEST.appFile, bytes: app.length, sha256: sha256(app), crc32: crc32(app) >>> 0, storageBytes: storageFootprint(app.length),
      role: 'the app (platform layer + core, board embedded); Espruino runs it from flash at boot' },
    { storage: rt.files.gtable, path: relative(dir, gtablePath), bytes: gtable.length, sha256: sha256(gtable), crc32: crc32(gtable) >>> 0, storageBytes: storageFootprint(gtable.length),
      role: 'secp256k1 fixed-base table, read memory-mapped (main.ts FILES.gtable)' },
  ];
  const problems = [];
  const warnings = [];

  // Storage
  const uploaded = files.reduce((n, f) => n + f.storageBytes, 0);
  const needed = uploaded + rt.total;
  const capacity = board.firmware.storageBytes;
  if (needed > capacity)
    problems.push('Storage: needs ' + needed + ' bytes (' + files.map((f) => f.storage + ' ' + f.storageBytes).join(', ') + ', runtime reserve ' + rt.total +
      ') but ' + board.id + ' has ' + capacity + ' (over by ' + (needed - capacity) + ')');
  for (const f of files) if (f.storage.length > MANIFEST.maxName) problems.push('Storage name ' + JSON.stringify(f.storage) + ' is longer than ' + MANIFEST.maxName + ' characters');

  // Modules
  const code = app.toString('latin1');
  const requires = await requiredModules(code);
  const have = ESPRUINO_MODULES[board.firmware.espruinoBoard] ?? [];
  const missing = requires.filter((m) => !have.includes(m));
  if (missing.length) warnings.push('the app requires ' + missing.join(', ') + ', which the ' + board.firmware.espruinoBoard + ' build does not have (it must guard them; nothing is downloaded)');
  for (let i = 0; i < code.length; i++) {
    const c = code.charCodeAt(i);
    if (c > 126 || (c < 32 && c !== 10 && c !== 9 && c !== 13)) {
      problems.push('app.js has a byte ' + c + ' at ' + i + ': EspruinoTools replaces control characters with "?" when it sends code (core/codeWriter.js)');
      break;
    }
  }

  // JsVars
  const espruino = o.espruino ?? process.env.ESPRUINO;
  const measure = o.measure ?? Boolean(espruino && espruino.trim());
  let measured;
  let measureNote;
  if (measure) {
    if (!espruino) throw new FitError('--measure needs the Espruino Linux build: set ESPRUINO to its path', [], 'E_MEASURE');
    log('measuring: booting app.js from Storage in ' + espruino);
    let m;
    try {
      m = await measureBootJsVars(appPath, espruino.trim());
    } catch (e) {
      clear();
      throw e;
    }
    if (m.skipped) measureNote = m.skipped;
    else measured = { usage: m.usage, interpreter: m.interpreter, state: m.state };
  }
  const est = estimateJsVars({ appChars: app.length, bench: o.bench, measured });
  if (measureNote) est.explain += ' (not measured: ' + measureNote + ')';
  const limit = board.firmware.jsVars;
  if (est.total > limit)
    problems.push('JsVars: the app needs about ' + est.total + ' (' + est.explain + ') but the ' + board.firmware.espruinoBoard + ' build of ' + board.id + ' has ' + limit +
      ' (over by ' + (est.total - limit) + '): build fewer components (--components) or use a board with more JsVars');
  else if (est.total > limit * MANIFEST.jsVarsWarnFraction)
    warnings.push('JsVars: about ' + est.total + ' of ' + limit + ' (' + Math.round((100 * est.total) / limit) + '%): little room for source buffers');

  if (problems.length) {
    clear();
    throw new FitError('firmware for ' + board.id + ' does not fit:\n  ' + problems.join('\n  '), problems);
  }

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const { tsImport } = await import('tsx/esm/api');
  const { FIRMWARE } = await tsImport(pathToFileURL(join(ROOT, 'firmware/espruino/main.ts')).href, import.meta.url);
  const dirty = git(['status', '--porcelain', '--', 'firmware', 'boards', 'scripts/build-firmware.mjs', 'scripts/espruino-check.mjs']);
  const manifest = {
    format: MANIFEST.format,
    board: board.id,
    boardName: board.name,
    chip: board.chip,
    espruino: { build: board.firmware.espruinoBoard, version: '2v29', crypto: board.firmware.crypto, binary: board.firmware.binaryPattern.replace('%v', '2v29') },
    firmware: { id: FIRMWARE, version: pkg.version, commit: git(['rev-parse', 'HEAD']) ?? null, dirty: dirty === undefined ? null : dirty !== '', builtAt: new Date().toISOString() },
    files,
    bundle: { appBytes: app.length, gzipBytes: gzipSync(app, { level: 9 }).length, requires, modulesMissing: missing },
    storage: {
      header: MANIFEST.storageHeader,
      align: MANIFEST.storageAlign,
      uploadedBytes: uploaded,
      runtimeReserveBytes: rt.total,
      runtimeReserve: rt.parts,
      totalBytes: needed,
      capacityBytes: capacity,
      freeAfterBytes: capacity - needed,
      fits: true,
    },
    jsVars: { limit, estimate: est.total, share: Number((est.total / limit).toFixed(3)), fits: true, ...est },
    limits: { jsVars: limit, storageBytes: capacity, flashBytes: board.firmware.flashBytes, firmwareMaxBytes: board.firmware.firmwareMaxBytes, consoleBaud: board.console.baud, consoleTransport: board.console.transport },
    upload: { toolsBoard: MANIFEST.toolsBoard, boot: MANIFEST.bootName, configName: rt.files.config, keyName: rt.files.key },
    warnings,
  };
  writeAtomic(toolsPath, JSON.stringify(espruinoToolsBoard(board), null, 2) + '\n');
  writeAtomic(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** Parses dist/<board>/manifest.json; E_MISSING when there is none. */
export function readManifest(dir) {
  const p = join(dir, MANIFEST.name);
  if (!existsSync(p)) throw new FitError('no ' + relative(ROOT, p) + ': run `make firmware BOARD=<board>` first (it builds, checks the fit and writes the manifest)', [], 'E_MISSING');
  const m = JSON.parse(readFileSync(p, 'utf8'));
  if (m.format !== MANIFEST.format) throw new FitError(relative(ROOT, p) + ': manifest format ' + m.format + ', expected ' + MANIFEST.format + ' (rebuild with make firmware)', [], 'E_MISSING');
  return m;
}

/**
 * Checks every file the manifest lists against the directory (size and SHA-256) and returns
 * them with their bytes; E_STALE when a file changed after the manifest was made.
 */
export function verifyDist(manifest, dir) {
  const out = [];
  for (const f of manifest.files) {
    const p = resolve(dir, f.path);
    if (!existsSync(p)) throw new FitError(relative(ROOT, p) + ' (Storage "' + f.storage + '") is missing: rebuild with make firmware BOARD=' + manifest.board, [], 'E_STALE');
    const b = readFileSync(p);
    if (b.length !== f.bytes || sha256(b) !== f.sha256)
      throw new FitError(relative(ROOT, p) + ' changed after its manifest was written (' + b.length + ' B, manifest says ' + f.bytes + '): run make firmware BOARD=' + manifest.board + ' again', [], 'E_STALE');
    out.push({ ...f, file: p, data: b });
  }
  return out;
}

function parseArgs(argv) {
  const o = { quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new FitError(a + ' expects a value', [], 'E_USAGE');
      return v;
    };
    if (a === '--board') o.board = val();
    else if (a === '--board-file') o.boardFile = val();
    else if (a === '--dist') o.dir = val();
    else if (a === '--gtable') o.gtable = val();
    else if (a === '--measure') o.measure = true;
    else if (a === '--no-measure') o.measure = false;
    else if (a === '--quiet') o.quiet = true;
    else throw new FitError('unknown argument ' + JSON.stringify(a) + ' (usage: manifest.mjs --board <id> [--board-file <path>] [--dist <dir>] [--measure|--no-measure] [--quiet])', [], 'E_USAGE');
  }
  if (!o.board) throw new FitError('--board <id> is required', [], 'E_USAGE');
  return o;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const say = o.quiet ? () => {} : (s) => process.stdout.write(s + '\n');
    const m = await makeManifest({ ...o, log: say });
    const kb = (n) => (n / 1024).toFixed(1) + ' KiB';
    say(relative(process.cwd(), join(o.dir ?? join(ROOT, 'dist', o.board), MANIFEST.name)) + ': ' + m.board + ' (' + m.espruino.build + ')');
    for (const f of m.files) say('  ' + (f.storage + '            ').slice(0, 10) + ' ' + f.bytes + ' B (' + f.storageBytes + ' in Storage)  ' + f.path);
    say('  Storage  ' + m.storage.totalBytes + ' of ' + m.storage.capacityBytes + ' B (' + kb(m.storage.uploadedBytes) + ' uploaded, ' + kb(m.storage.runtimeReserveBytes) + ' runtime reserve), ' + kb(m.storage.freeAfterBytes) + ' left');
    say('  JsVars   ~' + m.jsVars.estimate + ' of ' + m.jsVars.limit + ' (' + Math.round(m.jsVars.share * 100) + '%, ' + m.jsVars.method + ')');
    for (const w of m.warnings) say('  warning: ' + w);
  } catch (e) {
    process.stderr.write((e instanceof FitError ? 'manifest: ' + e.message : e.stack) + '\n');
    process.exit(1);
  }
}
