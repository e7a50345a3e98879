// The firmware build: a sample core (fixtures/sample-core) through tsc, rollup, terser and the
// passes gives a bundle the checker accepts, minified or not, that computes what the
// TypeScript computes; without the hoisting pass the same text is rejected. TypeScript helpers
// fail the build at their .ts line. The real build writes dist/, prints its sizes, honours
// --board, and writes the G table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkSource } from '../../scripts/espruino-check.mjs';
import { BUILD, buildFirmware } from '../../scripts/build-firmware.mjs';
import { createMembrane, loadBundleInEspruinoVm } from '../harness/espruino-vm.js';
import * as sampleTs from './fixtures/sample-core/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SAMPLE = 'test/build/fixtures/sample-core/tsconfig.json';
const check = checkSource as (code: string, file?: string) => { construct: string; line: number; message: string }[];

interface BuildResult {
  written: { core: string; gtable?: string };
  sizes: { bundle: number; minified: number; gzip: number; gtable?: number };
  moved: number;
  declared: number;
  repaired: { from: string; to: string }[];
  stages: { bundled: string; minified: string; final: string };
}
const build = buildFirmware as (o: object) => Promise<BuildResult>;

const tmp = mkdtempSync(join(tmpdir(), 'build-firmware-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

type Sample = typeof sampleTs;

/** Everything the sample exports, called the same way on either implementation. */
async function exercise(core: Sample) {
  const c = new core.Counter(5);
  c.inc();
  c.inc(3);
  let failure: { code?: string; message: string; isError: boolean } | undefined;
  try {
    core.fail('X1');
  } catch (e) {
    failure = { code: (e as { code?: string }).code, message: (e as Error).message, isError: e instanceof Error };
  }
  const buf = new Uint8Array(4);
  const returned = core.fillCounter(buf);
  const seen: [string, Uint8Array][] = [];
  return {
    constants: [core.HALF, core.THIRD, core.TINY, core.BIG],
    tableHex: core.tableHex(),
    earlyValue: core.earlyValue(),
    counter: [c.value, c instanceof core.Counter, core.Counter.made > 0],
    kinds: [core.kindName(core.Kind.B), core.Kind.A],
    closures: core.closures(),
    optional: [core.optional({ a: { b: 5 } }), core.optional({}), core.optional()],
    template: core.template('a', 1),
    destructure: core.destructure({ x: 2, y: 3 }, [10, 4]),
    accessor: core.accessor(),
    later2: core.later2(),
    hex: core.toHex(new Uint8Array([0, 15, 16, 255])),
    failure,
    filled: [buf, returned === buf],
    delayed: await core.delayed(21),
    withHost: [core.withHost({ log: (m, d) => (seen.push([m, d]), d.length) }), seen],
  };
}

for (const minify of [true, false]) {
  test('sample core ' + (minify ? 'minified' : 'unminified') + ': passes the checker and computes what the TypeScript computes', async () => {
    const r = await build({ tsconfig: SAMPLE, outRoot: join(tmp, minify ? 'min' : 'plain'), minify });
    const text = readFileSync(r.written.core, 'utf8');
    assert.equal(text, r.stages.final);
    assert.deepEqual(check(text), []);
    assert.ok(r.moved > 0, 'the sample needs hoisting');
    if (minify) assert.deepEqual(r.repaired.map((x) => x.to), ['(3/10)'], '0.3 is read inexactly by Espruino');
    const { core, context } = loadBundleInEspruinoVm(r.written.core);
    const viaBundle = await exercise(createMembrane(context).fromVm(core) as Sample);
    assert.deepEqual(viaBundle, await exercise(sampleTs));
  });
}

test('terser output before the passes is rejected: a function used above its declaration, an inexact literal', async () => {
  const r = await build({ tsconfig: SAMPLE, outRoot: join(tmp, 'min2'), minify: true });
  const before = [...new Set(check(r.stages.minified).map((f) => f.construct))].sort();
  assert.deepEqual(before, ['number literal', 'use before declaration']);
  assert.deepEqual(check(r.stages.final), []);
});

test('TypeScript helpers fail the build, naming each construct at its .ts line', async () => {
  await assert.rejects(build({ tsconfig: 'test/build/fixtures/helpers/tsconfig.json', outRoot: join(tmp, 'helpers') }), (e: Error) => {
    assert.match(e.message, /test\/build\/fixtures\/helpers\/index\.ts:4:1 __extends: class \.\.\. extends/);
    assert.match(e.message, /index\.ts:8:14 __spreadArray: spread/);
    assert.match(e.message, /index\.ts:11:12 __assign: object spread/);
    return true;
  });
  assert.equal(existsSync(join(tmp, 'helpers', 'core.js')), false);
});

test('--board puts the output in dist/<board>/', async () => {
  const r = await build({ tsconfig: SAMPLE, outRoot: join(tmp, 'boards'), board: 'esp32-test' });
  assert.equal(r.written.core, join(tmp, 'boards', 'esp32-test', 'core.js'));
  await assert.rejects(build({ tsconfig: SAMPLE, outRoot: join(tmp, 'boards'), board: '../escape' }), /--board expected a name/);
});

test('CLI refuses unknown arguments before building', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build-firmware.mjs'), '--frobnicate'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown argument "--frobnicate"/);
});

test('the real build: dist/core.js, sizes printed, G table written when gtable.ts exists', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build-firmware.mjs')], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  const m = /dist\/core\.js: bundle (\d+) B \([\d.]+ KiB\), minified (\d+) B \([\d.]+ KiB\), gzip (\d+) B/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const core = readFileSync(join(ROOT, 'dist/core.js'));
  assert.equal(Number(m[2]), core.length);
  assert.ok(Number(m[3]) < Number(m[2]) && Number(m[2]) < Number(m[1]));
  const gtableTs = join(ROOT, BUILD.gtableSource);
  if (existsSync(gtableTs)) {
    assert.match(r.stdout, /dist\/secp256k1-gtable\.bin: 16384 B/);
    assert.equal(readFileSync(join(ROOT, 'dist', BUILD.gtableName)).length, BUILD.gtableBytes);
  } else assert.match(r.stdout, /G table: skipped/);
});
