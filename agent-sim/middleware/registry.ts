// Device registry file: which keys may publish, under which address, and which are revoked.
//   { "devices": [{ "address": "<40 hex>", "publicKey": "<130 hex, 04...>", "label": "...", "revoked": false }] }
// The simulator's provisioning writes it (addDevice + writeRegistry); the verifier loads it at
// start and on reload. Every entry is checked: the address must be the key's address.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { addressFromPublicKey } from '../../firmware/core/telemetry/envelope.js';
import { toHex, fromHex } from '../../firmware/core/util/bytes.js';

export interface RegistryDevice {
  /** keccak-256(publicKey without 0x04)[12:], 40 lowercase hex digits. */
  address: string;
  /** Uncompressed secp256k1 key, 65 bytes as 130 lowercase hex digits. */
  publicKey: string;
  label?: string;
  revoked?: boolean;
}

export interface Registry {
  devices: RegistryDevice[];
}

/** Parsed entry, keyed by address in a DeviceIndex. */
export interface DeviceEntry {
  address: string;
  publicKey: Uint8Array;
  label: string;
  revoked: boolean;
}
export type DeviceIndex = Map<string, DeviceEntry>;

function fail(path: string, msg: string): never {
  const e = new Error('registry' + (path ? ' ' + path : '') + ': ' + msg) as Error & { code: string };
  e.code = 'E_REGISTRY';
  throw e;
}

function hexField(v: unknown, bytes: number, where: string): Uint8Array {
  if (typeof v !== 'string' || v.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(v))
    fail(where, 'expected ' + bytes * 2 + ' hex digits, got ' + JSON.stringify(v));
  return fromHex(v);
}

/** Checks a registry object and returns it normalised (lowercase hex, label and revoked filled). */
export function validateRegistry(obj: unknown): Registry {
  if (obj === null || typeof obj !== 'object' || !Array.isArray((obj as Registry).devices))
    fail('', 'expected an object { "devices": [...] }');
  const out: Registry = { devices: [] };
  const seen = new Set<string>();
  (obj as Registry).devices.forEach((d, i) => {
    const where = 'devices[' + i + ']';
    if (d === null || typeof d !== 'object') fail(where, 'expected an object');
    const pub = hexField(d.publicKey, 65, where + '.publicKey');
    if (pub[0] !== 4) fail(where + '.publicKey', 'expected an uncompressed key (04 prefix)');
    const addr = toHex(addressFromPublicKey(pub));
    if (d.address !== undefined) {
      hexField(d.address, 20, where + '.address');
      if (d.address.toLowerCase() !== addr) fail(where + '.address', 'is ' + d.address + ' but the public key hashes to ' + addr);
    }
    if (d.label !== undefined && typeof d.label !== 'string') fail(where + '.label', 'expected a string');
    if (d.revoked !== undefined && typeof d.revoked !== 'boolean') fail(where + '.revoked', 'expected true or false');
    if (seen.has(addr)) fail(where, 'address ' + addr + ' is listed twice');
    seen.add(addr);
    out.devices.push({ address: addr, publicKey: toHex(pub), label: d.label || '', revoked: d.revoked === true });
  });
  return out;
}

export function readRegistry(path: string): Registry {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return fail(path, 'cannot read: ' + (e as Error).message);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    return fail(path, 'not JSON: ' + (e as Error).message);
  }
  try {
    return validateRegistry(obj);
  } catch (e) {
    return fail(path, (e as Error).message.replace(/^registry: /, ''));
  }
}

/** Writes atomically (temp file + rename) so a verifier reloading meanwhile never reads half a file. */
export function writeRegistry(path: string, reg: Registry): void {
  const clean = validateRegistry(reg);
  const tmp = path + '.tmp-' + process.pid;
  writeFileSync(tmp, JSON.stringify(clean, null, 2) + '\n');
  renameSync(tmp, path);
}

/**
 * Adds a device (or updates label/revoked of the one with the same key) and returns its entry.
 * `publicKey`: 65-byte uncompressed key as bytes or hex. Mutates `reg`.
 */
export function addDevice(
  reg: Registry,
  dev: { publicKey: Uint8Array | string; label?: string; revoked?: boolean },
): RegistryDevice {
  const pub = typeof dev.publicKey === 'string' ? hexField(dev.publicKey, 65, 'publicKey') : dev.publicKey;
  const entry = validateRegistry({ devices: [{ publicKey: toHex(pub), label: dev.label, revoked: dev.revoked }] }).devices[0];
  const i = reg.devices.findIndex((d) => d.address.toLowerCase() === entry.address);
  if (i >= 0) reg.devices[i] = entry;
  else reg.devices.push(entry);
  return entry;
}

/** Marks a device revoked; false when the address is not registered. */
export function revokeDevice(reg: Registry, address: string): boolean {
  const a = address.toLowerCase();
  const d = reg.devices.find((x) => x.address.toLowerCase() === a);
  if (!d) return false;
  d.revoked = true;
  return true;
}

export function indexRegistry(reg: Registry): DeviceIndex {
  const clean = validateRegistry(reg);
  const m: DeviceIndex = new Map();
  for (const d of clean.devices)
    m.set(d.address, { address: d.address, publicKey: fromHex(d.publicKey), label: d.label || '', revoked: d.revoked === true });
  return m;
}
