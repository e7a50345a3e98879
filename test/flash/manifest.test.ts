// The firmware manifest (scripts/manifest.mjs): what it records, and the fit checks that make
// `make firmware` fail for a board the result does not fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { makeManifest, readManifest, verifyDist, storageFootprint, runtimeStorage, estimateJsVars, FitError, JSVARS_MODEL, MANIFEST } from '../../scripts/manifest.mjs';
import { FlashStorage } from '../../agent-sim/platform/flash-storage.js';
import { FILES } from '../../firmware/espruino/main.js';
import { skipReason, espruinoPath } from '../harness/espruino-real.js';

const BENCH = JSVARS_MODEL.benchFallback;
const devkitc = () => JSON.parse(readFileSync(new URL('../../boards/esp32-devkitc.json', import.meta.url), 'utf8'));

/** A dist directory with an app of at least `chars` characters (ES5, requiring `modules`) and a G table. */
function fixture(chars: number, modules = ['Storage']): { dir: string; app: Buffer; gtable: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
  let code = modules.map((m) => 'var m_' + m.replace(/\W/g, '') + '=require("' + m + '");').join('') + 'var DepinApp={app:function(){return {state:"unprovisioned",errors:[]};}};';
  let i = 0;
  while (code.length < chars) code += 'function f' + i + '(a){return a+' + i++ + ';}';
  const app = Buffer.from(code + '\n', 'latin1');
  const gtable = randomBytes(16384);
  writeFileSync(join(dir, 'app.js'), app);
  writeFileSync(join(dir, 'secp256k1-gtable.bin'), gtable);
  return { dir, app, gtable };
}

test('Storage footprint: a 32-byte header plus the data rounded up to 4 bytes, as the flash simulator accounts it', () => {
  for (const n of [1, 2, 3, 4, 5, 1023, 1024, 16384, 250001]) {
    const f = new FlashStorage();
    const before = f.getFree();
    f.write('x', new Uint8Array(n).fill(7));
    assert.equal(storageFootprint(n), before - f.getFree(), n + ' bytes');
  }
});

test('the manifest lists each Storage file with size, hash and CRC, the Storage budget, the JsVars estimate and the limits', async () => {
  const { dir, app, gtable } = fixture(20000, ['Storage', 'crypto']);
  try {
    const m = await makeManifest({ board: 'esp32-devkitc', dir, measure: false, bench: BENCH });
    assert.equal(m.board, 'esp32-devkitc');
    assert.equal(m.espruino.build, 'ESP32');
    assert.deepEqual(m.files.map((f) => f.storage), [MANIFEST.bootName, FILES.gtable]);
    assert.equal(m.files[0].storage, '.bootcde');
    for (const [f, b] of [[m.files[0], app], [m.files[1], gtable]] as const) {
      assert.equal(f.bytes, b.length);
      assert.equal(f.sha256, createHash('sha256').update(b).digest('hex'));
      assert.equal(f.crc32, crc32(b) >>> 0);
      assert.equal(f.storageBytes, 32 + Math.ceil(b.length / 4) * 4);
    }
    const rt = await runtimeStorage();
    assert.equal(m.storage.uploadedBytes, m.files[0].storageBytes + m.files[1].storageBytes);
    assert.equal(m.storage.runtimeReserveBytes, rt.total);
    assert.equal(m.storage.totalBytes, m.storage.uploadedBytes + rt.total);
    assert.equal(m.storage.capacityBytes, 917504);
    assert.equal(m.storage.freeAfterBytes, 917504 - m.storage.totalBytes);
    assert.equal(m.limits.jsVars, 16383);
    assert.equal(m.limits.consoleBaud, 115200);
    assert.deepEqual(m.bundle.requires, ['Storage', 'crypto']);
    assert.deepEqual(m.bundle.modulesMissing, []);
    // The model: (before + per-char cost x chars) x margin, plus the running agent.
    const perChar = (BENCH.flashCode - BENCH.before) / BENCH.chars;
    assert.equal(m.jsVars.method, 'model');
    assert.equal(m.jsVars.boot, Math.round((BENCH.before + perChar * app.length) * JSVARS_MODEL.modelMargin));
    assert.equal(m.jsVars.estimate, m.jsVars.boot + JSVARS_MODEL.runtimeVars);
    assert.ok(m.jsVars.fits && m.storage.fits);
    assert.ok(m.firmware.id.startsWith('depin-agent/'));
    // The board file for the espruino CLI: version (so it writes Storage files) and built-in modules.
    const tb = JSON.parse(readFileSync(join(dir, MANIFEST.toolsBoard), 'utf8'));
    assert.equal(tb.info.binary_version, '2v29');
    assert.equal(tb.BOARD, 'ESP32');
    assert.ok(tb.MODULES.split(',').includes('Storage') && tb.info.builtin_modules.includes('Wifi'));
    assert.equal(tb.chip.saved_code.pages * tb.chip.saved_code.page_size, 917504);
    assert.deepEqual(readManifest(dir), m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a build too big for the board\'s Storage is rejected, naming the numbers, and leaves no manifest', async () => {
  const { dir } = fixture(20000);
  try {
    await makeManifest({ board: 'esp32-devkitc', dir, measure: false, bench: BENCH });
    assert.ok(existsSync(join(dir, MANIFEST.name)));
    const small = devkitc();
    small.firmware.storageBytes = 65536; // the smallest Storage a board file may declare
    await assert.rejects(makeManifest({ board: 'esp32-devkitc', boardData: small, dir, measure: false, bench: BENCH }), (e: FitError) => {
      assert.equal(e.code, 'E_FIT');
      assert.match(e.message, /firmware for esp32-devkitc does not fit/);
      assert.match(e.message, /Storage: needs \d+ bytes \(\.bootcde \d+, gtab 16416, runtime reserve \d+\) but esp32-devkitc has 65536 \(over by \d+\)/);
      return true;
    });
    assert.equal(existsSync(join(dir, MANIFEST.name)), false, 'the earlier manifest was removed');
    assert.equal(existsSync(join(dir, MANIFEST.toolsBoard)), false);
    assert.throws(() => readManifest(dir), /run `make firmware/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JsVars: the same app fits an ESP32 (16383) and not a C3 build (4095)', async () => {
  // Smallest app whose estimate exceeds 4095 with the benchmark model.
  const perChar = (BENCH.flashCode - BENCH.before) / BENCH.chars;
  const chars = Math.ceil(((4095 - JSVARS_MODEL.runtimeVars) / JSVARS_MODEL.modelMargin - BENCH.before) / perChar) + 200;
  const { dir } = fixture(chars);
  try {
    const ok = await makeManifest({ board: 'esp32-devkitc', dir, measure: false, bench: BENCH });
    assert.ok(ok.jsVars.estimate > 4095 && ok.jsVars.estimate < 16383);
    await assert.rejects(makeManifest({ board: 'esp32-c3-supermini', dir, measure: false, bench: BENCH }), (e: FitError) => {
      assert.match(e.message, /JsVars: the app needs about \d+ .* but the ESP32C3_IDF4 build of esp32-c3-supermini has 4095 \(over by \d+\)/);
      return true;
    });
    // Just below the limit it fits, with a warning once above 85 %.
    const est = estimateJsVars({ appChars: chars - 400, bench: BENCH });
    assert.ok(est.total <= 4095, String(est.total));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('modules the build lacks are warnings (nothing is fetched); control characters are refused', async () => {
  const { dir } = fixture(3000, ['Storage', 'crypto', 'MyModule']);
  try {
    const idf4 = devkitc();
    idf4.firmware.espruinoBoard = 'ESP32_IDF4';
    idf4.firmware.crypto = false;
    idf4.firmware.images[1].file = 'partition-table.bin';
    idf4.firmware.images[2].file = 'espruino-esp32.bin';
    const m = await makeManifest({ board: 'esp32-devkitc', boardData: idf4, dir, measure: false, bench: BENCH });
    assert.deepEqual(m.bundle.modulesMissing, ['crypto', 'MyModule']);
    assert.match(m.warnings[0], /requires crypto, MyModule, which the ESP32_IDF4 build does not have/);
    writeFileSync(join(dir, 'app.js'), 'print("a\x01b")\n');
    await assert.rejects(makeManifest({ board: 'esp32-devkitc', dir, measure: false, bench: BENCH }), /byte 1 at 8: EspruinoTools replaces control characters/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file changed after its manifest is refused as stale; a missing build is named', async () => {
  const { dir } = fixture(3000);
  try {
    const m = await makeManifest({ board: 'esp32-devkitc', dir, measure: false, bench: BENCH });
    assert.equal(verifyDist(m, dir).length, 2);
    writeFileSync(join(dir, 'app.js'), readFileSync(join(dir, 'app.js'), 'latin1').replace('f0', 'g0'), 'latin1');
    assert.throws(() => verifyDist(m, dir), (e: FitError) => e.code === 'E_STALE' && /changed after its manifest/.test(e.message));
    rmSync(join(dir, 'app.js'));
    await assert.rejects(makeManifest({ board: 'esp32-devkitc', dir, measure: false }), (e: FitError) => e.code === 'E_MISSING' && /build-firmware\.mjs --board esp32-devkitc/.test(e.message));
    await assert.rejects(makeManifest({ board: 'no-such-board', dir, measure: false }), (e: FitError) => e.code === 'E_BOARD');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with the real interpreter: boot JsVars are measured, and an app Espruino cannot parse fails the build', { skip: skipReason(), timeout: 30000 }, async () => {
  const { dir } = fixture(20000);
  try {
    const m = await makeManifest({ board: 'esp32-devkitc', dir, espruino: espruinoPath(), bench: BENCH });
    assert.equal(m.jsVars.method, 'measured');
    assert.ok(m.jsVars.measured!.usage > BENCH.before, JSON.stringify(m.jsVars.measured));
    assert.equal(m.jsVars.boot, m.jsVars.measured!.usage);
    // `of` is a keyword to Espruino's lexer (for..of): a minifier that names a function `of` breaks the device.
    writeFileSync(join(dir, 'app.js'), 'function of(a){return a}\nvar DepinApp={app:function(){return {state:"x",errors:[]};}};\n');
    await assert.rejects(makeManifest({ board: 'esp32-devkitc', dir, espruino: espruinoPath() }), (e: FitError) => {
      assert.equal(e.code, 'E_BOOT');
      assert.match(e.message, /does not start in the real Espruino interpreter[\s\S]*SyntaxError/);
      return true;
    });
    assert.equal(existsSync(join(dir, MANIFEST.name)), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
