// Section 7: sources. Parse time per frame/telegram on Node (each component's decodeOnce over
// its benchFrames, from test/sources/<name>-frames.ts), and the bytes of code each component
// adds to the device bundle: its own modules (files in firmware/core/sources/<name>/),
// bundled and minified as the build does, with the shared core (codecs, schema, session) left
// out because every firmware carries it anyway.
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { rates, type Section, type Table } from './table.js';
import { ensureBundle } from '../test/harness/espruino-vm.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ES5 = join(ROOT, 'build/core-es5/sources');

interface FramesModule {
  benchFrames(): { label: string; bytes: Uint8Array }[];
  decodeOnce(bytes: Uint8Array): unknown;
}

/** Minified and gzipped bytes of one component's own modules (ES5, as tsc emitted them). */
async function componentBytes(name: string): Promise<{ min: number; gzip: number; files: number }> {
  const { rollup } = await import('rollup');
  const { minify } = await import('terser');
  const own = join(ES5, name) + '/';
  const bundle = await rollup({
    input: join(ES5, name, 'driver.js'),
    external: (id, importer) => {
      const abs = importer && id.startsWith('.') ? resolve(dirname(importer), id) : id;
      return !abs.startsWith(own);
    },
    onwarn: () => {},
  });
  const { output } = await bundle.generate({ format: 'es' });
  await bundle.close();
  const code = output[0].code;
  const m = await minify(code, { ecma: 5, module: true, compress: { hoist_funs: false, passes: 2 }, mangle: { reserved: ['of'] } });
  const min = Buffer.byteLength(m.code ?? '');
  return { min, gzip: gzipSync(m.code ?? '').length, files: readdirSync(join(ES5, name)).filter((f) => f.endsWith('.js')).length };
}

export const sourcesSection: Section = {
  name: 'sources',
  title: '7. Sources: parse time and code size',
  async run(opts) {
    await ensureBundle(); // builds build/core-es5 too
    const names = readdirSync(ES5).filter((n) => existsSync(join(ES5, n, 'driver.js'))).sort();
    const parseRows: Table['rows'] = [];
    const sizeRows: Table['rows'] = [];
    for (const name of names) {
      const framesPath = join(ROOT, 'test/sources', name + '-frames.ts');
      if (existsSync(framesPath)) {
        const mod = (await import(pathToFileURL(framesPath).href)) as FramesModule;
        const frames = mod.benchFrames();
        for (const f of frames) mod.decodeOnce(f.bytes); // warm and prove each decodes
        const total = frames.reduce((a, f) => a + f.bytes.length, 0);
        const [r] = rates(opts, [() => { for (const f of frames) mod.decodeOnce(f.bytes); }]);
        const perFrameUs = 1e6 / (r.opsPerSec * frames.length);
        parseRows.push({
          source: name,
          frames: frames.length,
          meanBytes: total / frames.length,
          us: perFrameUs,
          mbs: (r.opsPerSec * total) / 1e6,
          examples: frames.slice(0, 3).map((f) => f.label).join('; ').slice(0, 60),
        });
      }
      const b = await componentBytes(name);
      sizeRows.push({ source: name, files: b.files, min: b.min, gzip: b.gzip });
    }
    const minTotal = sizeRows.reduce((a, r) => a + (r.min as number), 0);
    return {
      tables: [
        {
          title: 'Parse time per frame on Node (push + checks + decode of one complete frame, as decodeOnce does)',
          columns: [
            { key: 'source', header: 'source' },
            { key: 'frames', header: 'frames' },
            { key: 'meanBytes', header: 'mean frame B' },
            { key: 'us', header: 'us/frame', digits: 2 },
            { key: 'mbs', header: 'MB/s', digits: 1 },
            { key: 'examples', header: 'frames (first)' },
          ],
          rows: parseRows,
          notes: [
            'Frames from test/sources/<name>-frames.ts (vectors from specs and public captures). s0 and device have no frames.',
            'On the device: the Espruino Linux build measured 0.1-1.2 ms per sensor frame and 12-17 ms per DSMR 5 telegram (-Os, x86);',
            '  ESP32 is slower by an unmeasured factor.',
          ],
        },
        {
          title: 'Code each source adds to the device bundle (its own modules, minified ES5; shared core excluded)',
          columns: [
            { key: 'source', header: 'source' },
            { key: 'files', header: 'modules' },
            { key: 'min', header: 'minified B' },
            { key: 'gzip', header: 'gzip B' },
          ],
          rows: sizeRows,
          notes: ['All ' + sizeRows.length + ' sources: ' + minTotal + ' B minified. The device runs code from Storage (flash), so this costs flash, not RAM, until a config creates the source.'],
        },
      ],
      targets: [],
    };
  },
};
