#!/usr/bin/env node
// Uploads a built firmware (dist/<board>/, made by `make firmware BOARD=<board>`) to a device
// running Espruino, with the `espruino` CLI, offline:
//
//   node scripts/flash.mjs --board <id> --port </dev/ttyUSB0 | tcp://host:port> [--dist <dir>]
//     [--baud <n>] [--fast | --slow] [--timeout <s>] [--force] [--quiet]
//
// 1. The manifest (dist/<board>/manifest.json) is read and every file it lists is checked
//    against its SHA-256: nothing stale or unchecked is uploaded.
// 2. Probe: one expression on the device reports Espruino's version and build, its Storage and
//    whether our app runs; a running agent is stopped and the watchdog switched to automatic
//    kicking (the upload resets the interpreter, and the app kicks the watchdog itself).
//    A device of another Espruino build is refused (--force uploads anyway).
// 3. Upload: the CLI resets the interpreter, writes the G table ("gtab") and the app as
//    ".bootcde" into Storage, and load()s it, so the code runs from flash at every boot. The
//    board file for the CLI is dist/<board>/espruino-board.json (no download of board data, no
//    module lookup: MODULE_URL empty, HTTP(S) refused by scripts/espruino-offline.cjs).
//    Serial ports get the CLI's throttled writes (a pause after each Storage write, small
//    blocks): the console has no reliable flow control. tcp:// ports get unthrottled writes
//    (TCP has flow control); --fast / --slow override.
// 4. Verify: the device reports length and CRC-32 of each file; they must equal the manifest.
//
// As a module: flash(opts) -> { manifest, probe, files, ms }, FLASH_DEFAULTS.
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readManifest, verifyDist, storageFootprint, FitError, MANIFEST } from './manifest.mjs';
import {
  DeviceError, TOOLS, checkPortReachable, cliBase, filesExpr, marker, noAnswer, parsePort, probeExpr, quiesceExpr, runEspruinoCli,
} from './espruino-tools.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const FLASH_DEFAULTS = {
  /** Watchdog timeout while the device has no app to kick it (upload, until load()). */
  watchdogS: 60,
  probeTimeoutMs: TOOLS.probeTimeoutMs,
  uploadTimeoutMs: TOOLS.uploadTimeoutMs,
  /** Reading back 2 files' CRC-32 (the app may be booting meanwhile). */
  verifyTimeoutMs: TOOLS.probeTimeoutMs,
};

/**
 * Probes the device on `port` (see module comment, step 2). Exported for provisioning.
 * @returns {Promise<{ version: string, board: string, free: number, stats: object | null, files: string[], sizes: object, app: { state: string, board: string } | null }>}
 */
export async function probeDevice({ port, baud, boardJson, names = [], quiesce = false, timeoutMs = FLASH_DEFAULTS.probeTimeoutMs, log = () => {}, cli }) {
  const sizes = names.length
    ? ';print("' + TOOLS.marker + 'sizes "+JSON.stringify(' + JSON.stringify(names) + '.map(function(n){var s=require("Storage").read(n);return s===undefined?-1:s.length;})))'
    : '';
  const expr = (quiesce ? quiesceExpr(FLASH_DEFAULTS.watchdogS) : '') + sizes + ';' + probeExpr();
  const r = await runEspruinoCli([...cliBase({ boardJson, port, baud }), '-e', expr], { timeoutMs, until: (tag) => tag === 'probe', cli });
  const p = marker(r, 'probe');
  if (!p || typeof p !== 'object') throw noAnswer(r, port, 'probing', timeoutMs);
  const s = marker(r, 'sizes');
  const sizeMap = {};
  if (Array.isArray(s)) names.forEach((n, i) => (sizeMap[n] = s[i]));
  log('device: Espruino ' + p.version + ' (' + p.board + '), Storage free ' + p.free + ' B, ' + p.files.length + ' files' + (p.app ? ', app ' + p.app.state : ''));
  return { ...p, sizes: sizeMap };
}

/**
 * Flashes dist/<board>/ to the device on `port`.
 * @param {{ board: string, port: string, dist?: string, baud?: number, fast?: boolean, force?: boolean,
 *   timeoutMs?: number, uploadTimeoutMs?: number, log?: (s: string) => void, cli?: string }} o
 *   timeoutMs: the probe's; uploadTimeoutMs: the whole upload's (default 10 minutes).
 */
export async function flash(o) {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  if (typeof o.board !== 'string' || !o.board) throw new FitError('BOARD is required (a boards/<id>.json id)', [], 'E_USAGE');
  const dir = resolve(o.dist ?? join(ROOT, 'dist', o.board));
  const manifest = readManifest(dir);
  if (manifest.board !== o.board) throw new FitError(relative(ROOT, dir) + ' holds firmware for ' + manifest.board + ', not ' + o.board, [], 'E_STALE');
  if (!manifest.storage?.fits || !manifest.jsVars?.fits) throw new FitError('the manifest says this firmware does not fit ' + o.board, [], 'E_FIT');
  const files = verifyDist(manifest, dir);
  const boardJson = join(dir, manifest.upload.toolsBoard);
  const p = parsePort(o.port);
  const baud = o.baud ?? manifest.limits.consoleBaud;
  const fast = o.fast ?? p.kind === 'tcp';
  await checkPortReachable(o.port);
  const names = files.map((f) => f.storage);

  // 2. probe
  const probe = await probeDevice({ port: o.port, baud, boardJson, names, quiesce: true, timeoutMs: o.timeoutMs ?? FLASH_DEFAULTS.probeTimeoutMs, log, cli: o.cli });
  if (probe.board !== manifest.espruino.build) {
    const msg = o.port + ' runs Espruino for ' + probe.board + ', but this firmware is for ' + manifest.espruino.build + ' (' + manifest.boardName + '): flash the matching Espruino build (docs/flashing.md) or give the right BOARD';
    if (!o.force) throw new DeviceError('E_DEVICE', msg);
    log('warning: ' + msg + ' (--force: uploading anyway)');
  }
  if (!String(probe.version).startsWith(manifest.espruino.version)) log('warning: the device runs Espruino ' + probe.version + '; the firmware is built and checked for ' + manifest.espruino.version);
  if (probe.stats && typeof probe.stats.totalBytes === 'number') {
    let ours = 0;
    for (const n of names) if (probe.sizes[n] >= 0) ours += storageFootprint(probe.sizes[n]);
    const others = probe.stats.fileBytes - ours;
    const need = others + manifest.storage.uploadedBytes;
    if (need > probe.stats.totalBytes)
      throw new DeviceError('E_DEVICE', 'the device Storage cannot take the upload: ' + others + ' B of other files + ' + manifest.storage.uploadedBytes + ' B to write > ' +
        probe.stats.totalBytes + ' B; erase unneeded files first (require("Storage").list())');
  }

  // 3. upload
  const appFile = files.find((f) => f.storage === MANIFEST.bootName);
  if (!appFile) throw new FitError('the manifest lists no ' + MANIFEST.bootName, [], 'E_STALE');
  const args = [
    ...cliBase({ boardJson, port: o.port, baud }),
    '--config', 'SAVE_ON_SEND=1', // "Direct to flash": .bootcde, then load()
    '--config', 'LOAD_STORAGE_FILE=1',
    '--config', 'RESET_BEFORE_SEND=true',
    '--config', 'MINIFICATION_LEVEL=',
    '--config', 'PRETOKENISE=0',
    '--config', 'SET_TIME_ON_WRITE=false',
    '--config', 'SERIAL_THROTTLE_SEND=' + (fast ? 2 : 1),
    '--config', 'STORAGE_UPLOAD_METHOD=' + (fast ? 1 : 0),
  ];
  for (const f of files) if (f !== appFile) args.push('--storage', f.storage + ':' + f.file);
  args.push(appFile.file);
  log('uploading ' + files.map((f) => f.storage + ' (' + f.bytes + ' B)').join(', ') + ' to ' + o.port + (fast ? '' : ' (throttled serial writes: about 2 minutes)'));
  const t1 = performance.now();
  const uploadTimeoutMs = o.uploadTimeoutMs ?? FLASH_DEFAULTS.uploadTimeoutMs;
  const up = await runEspruinoCli(args, { timeoutMs: uploadTimeoutMs, cli: o.cli });
  if (!up.uploaded) {
    const e = noAnswer(up, o.port, 'uploading', uploadTimeoutMs);
    throw new DeviceError(e.code === 'E_NO_ANSWER' ? 'E_NO_ANSWER' : 'E_VERIFY', 'upload did not complete: ' + e.message, { output: e.output });
  }
  const uploadMs = Math.round(performance.now() - t1);

  // 4. verify
  const v = await runEspruinoCli([...cliBase({ boardJson, port: o.port, baud }), '-e', filesExpr(names)], { timeoutMs: FLASH_DEFAULTS.verifyTimeoutMs, until: (tag) => tag === 'files', cli: o.cli });
  const got = marker(v, 'files');
  if (!Array.isArray(got)) throw noAnswer(v, o.port, 'reading back the files', FLASH_DEFAULTS.verifyTimeoutMs);
  const bad = [];
  const out = [];
  files.forEach((f, i) => {
    const g = got[i];
    if (!g) bad.push(f.storage + ': missing on the device');
    else if (g[1] !== f.bytes) bad.push(f.storage + ': ' + g[1] + ' bytes on the device, ' + f.bytes + ' in ' + f.path);
    else if (g[2] !== null && g[2] !== f.crc32) bad.push(f.storage + ': CRC-32 ' + g[2] + ' on the device, ' + f.crc32 + ' in ' + f.path);
    out.push({ storage: f.storage, bytes: f.bytes, crc32: f.crc32, checked: g && g[2] !== null ? 'crc32' : 'length' });
  });
  if (bad.length) throw new DeviceError('E_VERIFY', 'the files on the device differ from dist/' + o.board + ':\n  ' + bad.join('\n  ') + '\n(flash again; over serial, try a lower --baud)');
  const ms = Math.round(performance.now() - t0);
  log('verified ' + out.map((f) => f.storage + ' ' + f.bytes + ' B ' + f.checked).join(', ') + '; upload ' + (uploadMs / 1000).toFixed(1) + ' s, total ' + (ms / 1000).toFixed(1) + ' s');
  return { manifest, probe, files: out, ms, uploadMs, fast };
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
    else if (a === '--port') o.port = val();
    else if (a === '--dist') o.dist = val();
    else if (a === '--baud') o.baud = Number(val());
    else if (a === '--fast') o.fast = true;
    else if (a === '--slow') o.fast = false;
    else if (a === '--timeout') o.timeoutMs = Number(val()) * 1000;
    else if (a === '--force') o.force = true;
    else if (a === '--quiet') o.quiet = true;
    else throw new FitError('unknown argument ' + JSON.stringify(a) + ' (usage: flash.mjs --board <id> --port <path|tcp://host:port> [--dist <dir>] [--baud <n>] [--fast|--slow] [--timeout <s>] [--force])', [], 'E_USAGE');
  }
  if (!o.board) throw new FitError('--board <id> is required (make flash BOARD=<id> PORT=...)', [], 'E_USAGE');
  if (!o.port) throw new FitError('--port is required (make flash BOARD=' + o.board + ' PORT=/dev/ttyUSB0, or PORT=tcp://host:port)', [], 'E_USAGE');
  if (o.baud !== undefined && !(Number.isInteger(o.baud) && o.baud > 0)) throw new FitError('--baud expects a positive integer', [], 'E_USAGE');
  if (o.timeoutMs !== undefined && !(o.timeoutMs > 0)) throw new FitError('--timeout expects seconds > 0', [], 'E_USAGE');
  return o;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const say = o.quiet ? () => {} : (s) => process.stdout.write('flash: ' + s + '\n');
    await flash({ ...o, log: say });
  } catch (e) {
    const known = e instanceof FitError || e instanceof DeviceError;
    process.stderr.write((known ? 'flash: ' + e.message : e.stack) + '\n');
    if (known && e.output?.length) process.stderr.write('  device said:\n    ' + e.output.join('\n    ') + '\n');
    process.exit(1);
  }
}
