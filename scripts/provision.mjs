#!/usr/bin/env node
// Provisions a flashed device: writes its config to Storage, lets it make its key, reads its
// identity back over the console and registers it with the verifier.
//
//   WIFI_PASSWORD=... node scripts/provision.mjs --board <id> --port </dev/ttyUSB0 | tcp://host:port>
//     --ssid <ssid> --broker mqtt[s]://[user@]host[:port] [--sources <config.json>] [--registry <path>]
//     [--label <text>] [--prefix depin] [--sntp pool.ntp.org,...] [--baud <n>] [--timeout <s>] [--quiet]
//
// 1. The config (firmware/espruino/main.ts documents it) is assembled from the arguments and the
//    optional sources file (an array of sources, or an object with "sources" and any of
//    "agent", "sntp", "watchdogS", "log", "button", "console") and checked before anything is
//    sent: main.ts checkConfig (format), board.ts analyzeDeviceConfig (a reserved, shared or
//    input-only pin, a port the chip lacks: errors; strapping pins: warnings) and each source
//    against its component's schema. A config that fails is never written.
// 2. Probe: the device must run the matching Espruino build and hold the app (.bootcde).
// 3. The config goes to Storage "depin.cfg" (`--storage`, base64 in echo-off lines), then load()
//    restarts the app, which makes its key on first boot from the hardware RNG (radio on).
// 4. Identity: a watcher on the device prints the agent's address and public key once it runs
//    (DepinApp.app().agent), with the CRC-32 of the config it read; the address must be the
//    keccak-256 address of that key.
// 5. Registry: addDevice + writeRegistry (agent-sim/middleware/registry.ts), when --registry is
//    given. A config with console.lock is written without the lock first and with it after the
//    identity was read (a locked console cannot be read back).
//
// The Wi-Fi password comes from $WIFI_PASSWORD (empty: an open network) or a prompt without echo
// on a terminal; the MQTT password from $MQTT_PASSWORD. Neither is printed, logged, passed on a
// command line, or kept: the config travels through a 0600 temp file that is deleted at once.
//
// As a module: provision(opts) -> { address, publicKey, config (passwords redacted), registry },
// buildConfig(opts), checkProvisioningConfig(board, config), parseBroker(url), PROVISION_DEFAULTS.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import { MANIFEST, FitError } from './manifest.mjs';
import { probeDevice } from './flash.mjs';
import { DeviceError, TOOLS, checkPortReachable, cliBase, espruinoToolsBoard, marker, noAnswer, runEspruinoCli } from './espruino-tools.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const PROVISION_DEFAULTS = {
  prefix: 'depin',
  sntpServers: ['pool.ntp.org'],
  /** Used when no sources file is given: the device's own counters (RSSI, heap, uptime). */
  sources: [{ id: 'dev', type: 'device', intervalMs: 60000 }],
  /**
   * Agent settings written explicitly (AGENT_DEFAULTS of firmware/core/session/agent.ts): the
   * agent reads publishWindow unchecked (maxQueued = publishWindow + 4), so the config always
   * carries it.
   */
  agent: { batchMaxReadings: 48, batchMaxAgeMs: 300000, maxPendingReadings: 512, publishWindow: 4, operators: [] },
  /** Key generation needs >= 1 s of RNG with the radio on, then up to 30 s waiting for Wi-Fi before SNTP. */
  identityTimeoutMs: 120000,
  mqttPorts: { mqtt: 1883, mqtts: 8883 },
};

export class ConfigError extends Error {
  constructor(message, problems) {
    super(message);
    this.name = 'ConfigError';
    this.code = 'E_CONFIG';
    this.problems = problems ?? [];
  }
}

async function tsm(path) {
  const { tsImport } = await import('tsx/esm/api');
  return tsImport(pathToFileURL(join(ROOT, path)).href, import.meta.url);
}

/** mqtt://[user@]host[:port] or mqtts://... -> the agent's broker options. */
export function parseBroker(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('BROKER expected mqtt://host:port or mqtts://host:port, got ' + JSON.stringify(url));
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (!(scheme in PROVISION_DEFAULTS.mqttPorts)) throw new ConfigError('BROKER: expected the scheme mqtt:// or mqtts://, got ' + JSON.stringify(u.protocol));
  if (!u.hostname) throw new ConfigError('BROKER: no host in ' + JSON.stringify(url));
  if ((u.pathname && u.pathname !== '/') || u.search || u.hash) throw new ConfigError('BROKER: expected no path or query, got ' + JSON.stringify(url));
  if (u.password) throw new ConfigError('BROKER: put the MQTT password in $MQTT_PASSWORD, not in the URL (it would show in the process list)');
  const b = { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : PROVISION_DEFAULTS.mqttPorts[scheme], tls: scheme === 'mqtts' };
  if (u.username) b.username = decodeURIComponent(u.username);
  return b;
}

/** Reads the sources file: an array, or an object with "sources" and other config sections. */
function readSourcesFile(path) {
  let j;
  try {
    j = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError('SOURCES ' + path + ': ' + (e.code === 'ENOENT' ? 'no such file' : 'not JSON: ' + e.message));
  }
  if (Array.isArray(j)) return { sources: j };
  if (j === null || typeof j !== 'object') throw new ConfigError('SOURCES ' + path + ': expected an array of sources or an object with "sources"');
  const allowed = ['sources', 'agent', 'sntp', 'watchdogS', 'log', 'button', 'console', 'v'];
  const bad = Object.keys(j).filter((k) => !allowed.includes(k));
  if (bad.length) throw new ConfigError('SOURCES ' + path + ': unknown section' + (bad.length > 1 ? 's ' : ' ') + bad.join(', ') + ' (allowed: ' + allowed.join(', ') + ')');
  if (j.wifi !== undefined) throw new ConfigError('SOURCES ' + path + ': Wi-Fi comes from WIFI_SSID and $WIFI_PASSWORD, not from the file');
  return j;
}

/**
 * The device config from the provisioning options (see module comment). Passwords are taken
 * as given (the caller reads them from the environment or a prompt).
 * @param {{ ssid: string, password?: string, broker?: string, mqttPassword?: string, sources?: string | object,
 *   prefix?: string, sntp?: string[] | null }} o
 */
export function buildConfig(o) {
  const file = typeof o.sources === 'string' ? readSourcesFile(o.sources) : Array.isArray(o.sources) ? { sources: o.sources } : o.sources ?? {};
  const fileAgent = file.agent ?? {};
  if (fileAgent !== null && typeof fileAgent !== 'object') throw new ConfigError('agent: expected an object');
  let broker;
  if (o.broker) broker = parseBroker(o.broker);
  else if (fileAgent.broker) broker = fileAgent.broker;
  else throw new ConfigError('BROKER is required (mqtt://host:port)');
  if (o.mqttPassword) broker = { ...broker, password: o.mqttPassword };
  if (typeof o.ssid !== 'string' || o.ssid === '') throw new ConfigError('WIFI_SSID is required');
  const wifi = { ssid: o.ssid };
  if (o.password) wifi.password = o.password;
  const defaults = JSON.parse(JSON.stringify(PROVISION_DEFAULTS.agent));
  const agent = { prefix: PROVISION_DEFAULTS.prefix, ...defaults, ...fileAgent, broker };
  if (o.prefix) agent.prefix = o.prefix;
  const c = { v: 1, wifi, agent, sources: file.sources ?? PROVISION_DEFAULTS.sources };
  const sntp = o.sntp === null ? undefined : file.sntp ?? (o.sntp ? { servers: o.sntp } : { servers: PROVISION_DEFAULTS.sntpServers });
  if (sntp) c.sntp = sntp;
  for (const k of ['watchdogS', 'log', 'button', 'console']) if (file[k] !== undefined) c[k] = file[k];
  return c;
}

/** The config with passwords replaced, for printing. */
export function redact(c) {
  const r = JSON.parse(JSON.stringify(c));
  if (r.wifi?.password !== undefined) r.wifi.password = '(set)';
  if (r.agent?.broker?.password !== undefined) r.agent.broker.password = '(set)';
  if (r.console?.password !== undefined) r.console.password = '(set)';
  return r;
}

/**
 * Every check the device would run on the config, here, before anything is sent: format
 * (main.ts checkConfig), pins and ports on the board (board.ts analyzeDeviceConfig) and each
 * source's schema (core checkSourceConfigs, after role references are resolved). Throws
 * ConfigError with every problem; returns the warnings.
 */
export async function checkProvisioningConfig(board, config) {
  const [{ checkConfig }, { analyzeDeviceConfig }, { checkSourceConfigs }, { ALL_SOURCES }] = await Promise.all([
    tsm('firmware/espruino/main.ts'),
    tsm('firmware/espruino/board.ts'),
    tsm('firmware/core/sources/registry.ts'),
    tsm('firmware/core/sources/index.ts'),
  ]);
  const problems = [];
  try {
    checkConfig(config);
  } catch (e) {
    problems.push(...String(e.message).replace(/^invalid config:\n\s*/, '').split('\n').map((s) => s.trim()).filter(Boolean));
  }
  const pins = analyzeDeviceConfig(board, config);
  problems.push(...pins.errors);
  if (!pins.errors.length) problems.push(...checkSourceConfigs(ALL_SOURCES, pins.config.sources));
  const bytes = Buffer.byteLength(JSON.stringify(config));
  if (bytes > MANIFEST.configMaxBytes) problems.push('the config is ' + bytes + ' bytes; at most ' + MANIFEST.configMaxBytes + ' (the Storage reserve counts that much)');
  if (problems.length) throw new ConfigError('config rejected for ' + board.id + ' (nothing was written):\n  ' + problems.join('\n  '), problems);
  return pins.warnings;
}

/** Asks for a password on the terminal without echoing it. */
export function promptHidden(question) {
  return new Promise((ok, fail) => {
    const stdin = process.stdin;
    if (!stdin.isTTY) return fail(new ConfigError('no terminal to ask for the Wi-Fi password: set WIFI_PASSWORD (empty for an open network)'));
    process.stderr.write(question);
    let s = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', on);
      process.stderr.write('\n');
      if (err) fail(err);
      else ok(s);
    };
    const on = (d) => {
      for (const ch of d) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new ConfigError('cancelled'));
        if (ch === '\u007f' || ch === '\b') s = s.slice(0, -1);
        else s += ch;
      }
    };
    stdin.on('data', on);
  });
}

/** Writes `data` to Storage `name` on the device with the CLI (`--storage`), then runs `after`. */
async function writeStorageFile({ port, baud, boardJson, name, data, after, timeoutMs, cli }) {
  const dir = mkdtempSync(join(tmpdir(), 'depin-prov-'));
  const file = join(dir, 'cfg.json');
  try {
    writeFileSync(file, data, { mode: 0o600 });
    chmodSync(file, 0o600);
    const args = [...cliBase({ boardJson, port, baud }), '--storage', name + ':' + file, '-e', after + ';print("' + TOOLS.marker + 'written "+JSON.stringify(' + JSON.stringify(name) + '))'];
    return await runEspruinoCli(args, { timeoutMs, until: (tag) => tag === 'written', cli });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A watcher on the device: prints the identity once the agent runs (or why it failed). */
function identityExpr(configName) {
  const m = TOOLS.marker;
  return 'var _pw=setInterval(function(){var a=typeof DepinApp!=="undefined"&&DepinApp.app?DepinApp.app():undefined;if(!a)return;' +
    'if(a.agent){clearInterval(_pw);var k=a.agent.publicKey,h="";for(var i=0;i<k.length;i++)h+=(k[i]<16?"0":"")+k[i].toString(16);' +
    'var c=require("Storage").read(' + JSON.stringify(configName) + ');' +
    'print("' + m + 'identity "+JSON.stringify({address:a.agent.addressHex,publicKey:h,state:a.state,board:a.board,config:c===undefined?null:[c.length,E.CRC32(c)>>>0]}));}' +
    'else if(a.state==="failed"||a.state==="unprovisioned"){clearInterval(_pw);print("' + m + 'failed "+JSON.stringify({state:a.state,errors:a.errors}));}},250)';
}

/**
 * Provisions the device on `port` (see module comment).
 * @param {{ board: string, port: string, ssid: string, password?: string, broker?: string, mqttPassword?: string,
 *   sources?: string | object, registry?: string, label?: string, prefix?: string, sntp?: string[] | null,
 *   baud?: number, timeoutMs?: number, identityTimeoutMs?: number, log?: (s: string) => void, cli?: string }} o
 */
export async function provision(o) {
  const log = o.log ?? (() => {});
  const { validateBoard } = await tsm('firmware/espruino/board.ts');
  const boardPath = join(ROOT, 'boards', String(o.board) + '.json');
  if (typeof o.board !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(o.board) || !existsSync(boardPath)) throw new ConfigError('BOARD expected a board id (boards/<id>.json), got ' + JSON.stringify(o.board));
  const board = validateBoard(JSON.parse(readFileSync(boardPath, 'utf8')));
  const { FILES } = await tsm('firmware/espruino/main.ts');

  // 1. config, checked before anything is sent
  const config = buildConfig(o);
  const warnings = await checkProvisioningConfig(board, config);
  for (const w of warnings) log('warning: ' + w);
  const lock = config.console?.lock === true;
  const first = lock ? { ...config, console: undefined } : config;
  if (lock) delete first.console;

  // 2. probe
  const dir = mkdtempSync(join(tmpdir(), 'depin-board-'));
  try {
    const boardJson = join(dir, 'espruino-board.json');
    writeFileSync(boardJson, JSON.stringify(espruinoToolsBoard(board)));
    const baud = o.baud ?? board.console.baud;
    const timeoutMs = o.timeoutMs ?? TOOLS.probeTimeoutMs;
    await checkPortReachable(o.port);
    const probe = await probeDevice({ port: o.port, baud, boardJson, timeoutMs, log, cli: o.cli });
    if (probe.board !== board.firmware.espruinoBoard)
      throw new DeviceError('E_DEVICE', o.port + ' runs Espruino for ' + probe.board + ', not ' + board.firmware.espruinoBoard + ' (' + board.id + '): wrong BOARD or wrong Espruino build');
    if (!probe.files.includes(MANIFEST.bootName))
      throw new DeviceError('E_DEVICE', o.port + ' has no app in Storage (' + MANIFEST.bootName + '): flash it first (make flash BOARD=' + board.id + ' PORT=' + o.port + ')');

    // 3. config -> Storage, restart
    const write = async (cfg) => {
      const text = JSON.stringify(cfg);
      const r = await writeStorageFile({ port: o.port, baud, boardJson, name: FILES.config, data: text, after: 'load()', timeoutMs, cli: o.cli });
      if (marker(r, 'written') !== FILES.config) throw noAnswer(r, o.port, 'writing the config', timeoutMs);
      return { bytes: Buffer.byteLength(text), crc: crc32(Buffer.from(text)) >>> 0 };
    };
    log('writing the config (' + FILES.config + ') and restarting the app');
    let written = await write(first);

    // 4. identity
    const idTimeout = o.identityTimeoutMs ?? PROVISION_DEFAULTS.identityTimeoutMs;
    log('waiting for the device to make or load its key (up to ' + Math.round(idTimeout / 1000) + ' s)');
    const r = await runEspruinoCli([...cliBase({ boardJson, port: o.port, baud }), '--sleep', String(Math.ceil(idTimeout / 1000)), '-e', identityExpr(FILES.config)], {
      timeoutMs: idTimeout + 5000,
      until: (tag) => tag === 'identity' || tag === 'failed',
      cli: o.cli,
    });
    const failed = marker(r, 'failed');
    if (failed) throw new DeviceError('E_IDENTITY', 'the app did not start (state ' + failed.state + '):\n  ' + (failed.errors ?? []).join('\n  '));
    const id = marker(r, 'identity');
    if (!id || typeof id !== 'object') throw noAnswer(r, o.port, 'waiting for the identity', idTimeout);
    if (!id.config || id.config[0] !== written.bytes || id.config[1] !== written.crc)
      throw new DeviceError('E_VERIFY', 'the config on the device differs from the one written (' + JSON.stringify(id.config) + ' vs [' + written.bytes + ',' + written.crc + '])');
    const { addressFromPublicKey } = await tsm('firmware/core/telemetry/envelope.ts');
    const pub = Buffer.from(String(id.publicKey), 'hex');
    if (pub.length !== 65 || pub[0] !== 4) throw new DeviceError('E_IDENTITY', 'the device reported a public key that is not 65 bytes 04...: ' + id.publicKey);
    const addr = Buffer.from(addressFromPublicKey(new Uint8Array(pub))).toString('hex');
    if (addr !== id.address) throw new DeviceError('E_IDENTITY', 'the device reports address ' + id.address + ' but its public key hashes to ' + addr);
    log('device ' + addr + ' (public key ' + id.publicKey.slice(0, 18) + '...)');

    if (lock) {
      log('locking the console (second config write)');
      written = await write(config);
    }

    // 5. registry
    let registry;
    if (o.registry) {
      const { readRegistry, writeRegistry, addDevice } = await tsm('agent-sim/middleware/registry.ts');
      const path = resolve(o.registry);
      const reg = existsSync(path) ? readRegistry(path) : { devices: [] };
      const entry = addDevice(reg, { publicKey: id.publicKey, label: o.label ?? board.id });
      writeRegistry(path, reg);
      registry = { path, entry, devices: reg.devices.length };
      log('registered in ' + path + ' (' + reg.devices.length + ' device' + (reg.devices.length === 1 ? '' : 's') + ')');
    }
    return { address: addr, publicKey: id.publicKey, state: id.state, config: redact(config), warnings, registry, probe };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(argv) {
  const o = { quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(a + ' expects a value');
      return v;
    };
    if (a === '--board') o.board = val();
    else if (a === '--port') o.port = val();
    else if (a === '--ssid') o.ssid = val();
    else if (a === '--broker') o.broker = val();
    else if (a === '--sources') o.sources = val() || undefined;
    else if (a === '--registry') o.registry = val() || undefined;
    else if (a === '--label') o.label = val() || undefined;
    else if (a === '--prefix') o.prefix = val() || undefined;
    else if (a === '--sntp') {
      const v = val();
      o.sntp = v === 'none' ? null : v.split(',').filter(Boolean);
    } else if (a === '--baud') o.baud = Number(val());
    else if (a === '--timeout') o.identityTimeoutMs = Number(val()) * 1000;
    else if (a === '--quiet') o.quiet = true;
    else throw new ConfigError('unknown argument ' + JSON.stringify(a) + ' (see the head of scripts/provision.mjs)');
  }
  if (!o.board) throw new ConfigError('--board is required (make provision BOARD=<id> ...)');
  if (!o.port) throw new ConfigError('--port is required (PORT=/dev/ttyUSB0 or tcp://host:port)');
  if (o.baud !== undefined && !(Number.isInteger(o.baud) && o.baud > 0)) throw new ConfigError('--baud expects a positive integer');
  if (o.identityTimeoutMs !== undefined && !(o.identityTimeoutMs > 0)) throw new ConfigError('--timeout expects seconds > 0');
  return o;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const say = o.quiet ? () => {} : (s) => process.stdout.write('provision: ' + s + '\n');
    let password = process.env.WIFI_PASSWORD;
    if (password === undefined && o.ssid) password = await promptHidden('Wi-Fi password for "' + o.ssid + '" (empty for an open network): ');
    const r = await provision({ ...o, password, mqttPassword: process.env.MQTT_PASSWORD, log: say });
    process.stdout.write('address    ' + r.address + '\npublic key ' + r.publicKey + '\n' + (r.registry ? 'registry   ' + r.registry.path + '\n' : 'registry   (not updated: give --registry / REGISTRY=)\n'));
  } catch (e) {
    const known = e instanceof ConfigError || e instanceof DeviceError || e instanceof FitError || e?.code === 'E_REGISTRY';
    process.stderr.write((known ? 'provision: ' + e.message : e.stack) + '\n');
    if (known && e.output?.length) process.stderr.write('  device said:\n    ' + e.output.join('\n    ') + '\n');
    process.exit(1);
  }
}
