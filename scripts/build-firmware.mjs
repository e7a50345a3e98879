#!/usr/bin/env node
// Builds the device bundle: firmware/core (TypeScript) -> one ES5 file Espruino runs.
//
//   node scripts/build-firmware.mjs [--board <name> [--components <type,type>]] [--no-minify] [--quiet]
//
// With --board <name> the device app is built too: firmware/espruino/main.ts (the platform
// layer) with core, through the same steps (its own tsconfig, firmware/espruino/tsconfig.json),
// into dist/<board>/app.js, ending in `DepinApp.start(<boards/<name>.json>)`: loading the file
// (from Storage as .bootcde on the device) boots it. The checker accepts the Espruino globals
// the platform layer needs (APP_GLOBALS); core itself is still built and checked without them.
//
// 1. tsc -p firmware/core/tsconfig.json (ES5, ES modules, noEmitHelpers) -> build/core-es5/.
//    A TypeScript helper in the output (__extends, __awaiter, ...) fails the build, naming the
//    construct and the .ts line to rewrite.
// 2. rollup: build/core-es5/index.js -> one IIFE assigning the global `DepinCore`.
// 3. terser, ES5 output, ASCII only, hoist_funs off.
// 4. Hoisting passes: every function declaration moves to the top of its function (after the
//    directives), and a `var` used above its first declaration is declared there too. That is
//    JavaScript's own hoisting made explicit, because Espruino does not hoist: a function
//    called above its declaration is a ReferenceError there, and a var assigned above its
//    `var` statement lands in an outer scope.
// 5. Number pass: a literal Espruino would read inexactly (its parser accumulates digits in
//    doubles, so `0.3` != 0.3 there; terser folds 3/10 into .3) becomes an exact expression.
// 6. scripts/espruino-check.mjs on the final text; any finding fails the build.
// 7. dist/[<board>/]core.js, and secp256k1-gtable.bin when firmware/core/crypto/secp256k1/
//    gtable.ts exists (its buildGTable(): the 16 KB fixed-base table stored on the device).
//
// As a module: buildFirmware(opts), buildApp(opts), loadBoard(name, data?), hoistFunctionDeclarations(code), hoistVarDeclarations(code),
// repairNumberLiterals(code), checkModules(emitted, maps).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Parser } from 'acorn';
import * as walk from 'acorn-walk';
import { checkSource, definedMemberNames, espruinoExactNumberText, espruinoNumberValue, formatFinding, lateVarDeclarations, TS_HELPERS } from './espruino-check.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Paths and names of the build, relative to the repository root. */
export const BUILD = {
  tsconfig: 'firmware/core/tsconfig.json',
  /** tsc output; also where rollup's entry lives. */
  es5Dir: 'build/core-es5',
  entry: 'index.js',
  /** Global the IIFE assigns on the device. */
  globalName: 'DepinCore',
  outRoot: 'dist',
  bundleName: 'core.js',
  gtableSource: 'firmware/core/crypto/secp256k1/gtable.ts',
  gtableName: 'secp256k1-gtable.bin',
  /** buildGTable() must return exactly this many bytes. */
  gtableBytes: 16384,
  /** The device app (--board): platform layer + core. Entry relative to the repository root. */
  appTsconfig: 'firmware/espruino/tsconfig.json',
  appEntry: 'firmware/espruino/main.ts',
  appGlobalName: 'DepinApp',
  appName: 'app.js',
  /** The app's list of source components; --components replaces it with a shorter one. */
  appComponents: 'firmware/espruino/components.ts',
  /** Board files, boards/<name>.json, checked by firmware/espruino/board.ts validateBoard(). */
  boardsDir: 'boards',
  boardModule: 'firmware/espruino/board.ts',
};

/**
 * Espruino globals the platform layer (firmware/espruino) may use; core may not (its own
 * bundle is checked without them, and its tsconfig has no declarations for them).
 */
export const APP_GLOBALS = ['require', 'process', 'global', 'globalThis', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval',
  'E', 'print', 'getTime', 'setTime', 'peek32', 'setWatch', 'clearWatch', 'digitalWrite', 'digitalRead', 'pinMode', 'OneWire',
  'Serial1', 'Serial2', 'Serial3', 'I2C1', 'I2C2', 'console'];

/** Board fields the device does not need (bibliography, prose): left out of app.js. */
const BOARD_OMIT = ['$schema', 'sources', 'notes'];

export class BuildError extends Error {
  constructor(message, findings) {
    super(message);
    this.name = 'BuildError';
    this.findings = findings ?? [];
  }
}

// ---------------------------------------------------------------------------------------------
// 1. TypeScript

/** Where in the .ts sources each helper-needing construct is, by helper name. */
function helperSites(ts, sf) {
  const sites = [];
  const add = (helpers, node, what) => {
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    for (const h of helpers) sites.push({ helper: h, line: line + 1, column: character + 1, what });
  };
  const visit = (node) => {
    const K = ts.SyntaxKind;
    if ((node.kind === K.ClassDeclaration || node.kind === K.ClassExpression) && node.heritageClauses?.some((h) => h.token === K.ExtendsKeyword))
      add(['__extends'], node, 'class ... extends ...: use composition or a constructor function whose prototype you fill');
    if (ts.isFunctionLike(node) && ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Async)
      add(['__awaiter', '__generator'], node, 'async function: return a Promise and chain then()');
    if (ts.isFunctionLike(node) && node.asteriskToken) add(['__generator', '__values'], node, 'generator: use a callback or an index');
    if (node.kind === K.SpreadElement) add(['__spreadArray', '__spread', '__spreadArrays', '__read'], node, 'spread: use concat(), apply() or a loop');
    if (node.kind === K.SpreadAssignment) add(['__assign'], node, 'object spread: copy the fields explicitly');
    if (node.kind === K.BindingElement && node.dotDotDotToken && node.parent.kind === K.ObjectBindingPattern)
      add(['__rest'], node, 'object rest: copy the fields explicitly');
    if (node.kind === K.ArrayBindingPattern) add(['__read'], node, 'array destructuring: index the array');
    if (node.kind === K.ForOfStatement) add(['__values', '__read'], node, 'for-of: use an index loop');
    if (node.kind === K.TaggedTemplateExpression) add(['__makeTemplateObject'], node, 'tagged template: call a function');
    if (node.kind === K.Decorator) add(['__decorate', '__param', '__metadata', '__esDecorate', '__runInitializers'], node, 'decorator');
    if (node.kind === K.PrivateIdentifier) add(['__classPrivateFieldGet', '__classPrivateFieldSet', '__classPrivateFieldIn'], node, '#private: use a plain field');
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return sites;
}

async function compileCore(tsconfig, log, fresh = false, entry = undefined) {
  const ts = (await import('typescript')).default;
  const configPath = resolve(ROOT, tsconfig);
  const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new BuildError(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } };
  const cfg = ts.getParsedCommandLineOfConfigFile(configPath, {}, host);
  const outDir = resolve(cfg.options.outDir);
  const rootDir = cfg.options.rootDir ? resolve(cfg.options.rootDir) : dirname(configPath);
  // Only what index.ts reaches goes into the firmware, so only that is compiled here: a file
  // under firmware/core that nothing imports yet cannot break the device build (the full
  // folder is still type-checked by `tsc -p firmware/core/tsconfig.json --noEmit`).
  const entryTs = entry ? resolve(ROOT, entry) : join(rootDir, BUILD.entry.replace(/\.js$/, '.ts'));
  if (!existsSync(entryTs)) throw new BuildError('entry ' + relative(ROOT, entryTs) + ' does not exist');
  // Incremental: a rebuild re-checks and re-emits only what changed (build info in outDir).
  // Source maps only serve the diagnostics below (a finding in build/core-es5/x.js is reported
  // at its line in x.ts); they are not bundled.
  const tsBuildInfoFile = join(outDir, '.tsbuildinfo');
  if (fresh) rmSync(tsBuildInfoFile, { force: true });
  const builder = ts.createIncrementalProgram({
    rootNames: [entryTs],
    options: { ...cfg.options, sourceMap: true, incremental: true, tsBuildInfoFile },
  });
  const program = builder.getProgram();
  const fmtHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' };
  const diags = ts.getPreEmitDiagnostics(builder).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (diags.length) throw new BuildError('tsc (' + tsconfig + ') failed:\n' + ts.formatDiagnostics(diags, fmtHost));
  let written = 0;
  const res = builder.emit(undefined, (fileName, text) => {
    writeAtomic(fileName, text);
    written++;
  });
  if (res.emitSkipped) throw new BuildError('tsc emitted nothing:\n' + ts.formatDiagnostics(res.diagnostics, fmtHost));
  // Every module of the program, emitted now or unchanged since the last build.
  const emitted = new Map(); // absolute .js path -> text
  const maps = new Map(); // absolute .js path -> parsed source map
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile || relative(rootDir, sf.fileName).startsWith('..')) continue;
    const js = join(outDir, relative(rootDir, sf.fileName)).replace(/\.ts$/, '.js');
    if (!existsSync(js) || !existsSync(js + '.map')) {
      if (fresh) throw new BuildError('tsc did not emit ' + relative(ROOT, js));
      return compileCore(tsconfig, log, true, entry);
    }
    emitted.set(js, readFileSync(js, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n'));
    maps.set(js, JSON.parse(readFileSync(js + '.map', 'utf8')));
  }

  // Helpers: with noEmitHelpers they are bare names in the output. Name the .ts construct.
  const problems = [];
  for (const [file, text] of emitted) {
    const used = new Set();
    for (const m of text.matchAll(/\b(__[A-Za-z]+)\b/g)) if (m[1] in TS_HELPERS) used.add(m[1]);
    if (!used.size) continue;
    const tsFile = join(rootDir, relative(outDir, file)).replace(/\.js$/, '.ts');
    const sf = program.getSourceFile(tsFile);
    const sites = sf ? helperSites(ts, sf) : [];
    for (const h of used) {
      const mine = sites.filter((s) => s.helper === h);
      const rel = relative(ROOT, tsFile);
      if (mine.length) for (const s of mine) problems.push(rel + ':' + s.line + ':' + s.column + ' ' + h + ': ' + s.what);
      else {
        const line = text.slice(0, text.indexOf(h)).split('\n').length;
        problems.push(relative(ROOT, file) + ':' + line + ' ' + h + ': TypeScript helper for ' + TS_HELPERS[h] + ' (rewrite it in ' + rel + ')');
      }
    }
  }
  if (problems.length)
    throw new BuildError('TypeScript needs runtime helpers Espruino does not have (noEmitHelpers); rewrite these constructs:\n  ' + problems.join('\n  '));
  log('tsc: ' + emitted.size + ' modules (' + written + ' files written) -> ' + relative(ROOT, outDir));
  const entryJs = join(outDir, relative(rootDir, entryTs)).replace(/\.ts$/, '.js');
  return { emitted, maps, outDir, entryJs };
}

// ---------------------------------------------------------------------------------------------
// Diagnostics: the checker on each tsc output module, mapped back to the .ts line

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Decodes a v3 source map's `mappings` into per-line [genCol, src, srcLine, srcCol] segments. */
function decodeMappings(mappings) {
  const lines = [];
  let src = 0;
  let sl = 0;
  let sc = 0;
  for (const line of mappings.split(';')) {
    const segs = [];
    let gc = 0;
    for (const seg of line.split(',')) {
      if (!seg) continue;
      const v = [];
      let shift = 0;
      let acc = 0;
      for (const ch of seg) {
        const d = B64.indexOf(ch);
        acc += (d & 31) << shift;
        if (d & 32) shift += 5;
        else {
          v.push(acc & 1 ? -(acc >>> 1) : acc >>> 1);
          acc = 0;
          shift = 0;
        }
      }
      gc += v[0];
      if (v.length >= 4) {
        src += v[1];
        sl += v[2];
        sc += v[3];
        segs.push([gc, src, sl, sc]);
      }
    }
    lines.push(segs);
  }
  return lines;
}

function mapBack(map, line, column) {
  map.decoded ??= decodeMappings(map.mappings);
  const segs = map.decoded[line - 1] ?? [];
  let best;
  for (const s of segs) if (s[0] <= column - 1) best = s;
  if (!best) best = segs[0];
  if (!best) return undefined;
  return { source: map.sources[best[1]], line: best[2] + 1, column: best[3] + 1 };
}

/**
 * Method names of the host interfaces (firmware/core/host.ts): the platform provides objects
 * with these methods (OneWire.search(), Serial.setBaud(), ...), so calling them is not calling
 * a builtin Espruino lacks.
 */
export function hostMemberNames() {
  const text = readFileSync(join(ROOT, 'firmware/core/host.ts'), 'utf8');
  const names = new Set();
  for (const m of text.matchAll(/^\s+([A-Za-z_$][\w$]*)\??\(/gm)) names.add(m[1]);
  return [...names];
}

/**
 * Checks each ES5 module tsc emitted, with its import/export syntax blanked out (positions
 * kept) and function declarations taken as hoisted, and reports findings at .ts positions.
 */
export function checkModules(emitted, maps, extraGlobals = []) {
  const out = [];
  const knownMembers = new Set(hostMemberNames());
  for (const text of emitted.values()) {
    try {
      for (const n of definedMemberNames(text)) knownMembers.add(n);
    } catch {
      /* a module acorn cannot parse is reported below */
    }
  }
  for (const [file, text] of emitted) {
    let ast;
    try {
      ast = Parser.parse(text, { ecmaVersion: 2015, sourceType: 'module' });
    } catch {
      continue;
    }
    const chars = text.split('');
    const blank = (a, b) => {
      for (let i = a; i < b; i++) if (chars[i] !== '\n') chars[i] = ' ';
    };
    const imported = [];
    for (const n of ast.body) {
      if (n.type === 'ImportDeclaration') {
        for (const sp of n.specifiers) imported.push(sp.local.name);
        blank(n.start, n.end);
      } else if (n.type === 'ExportNamedDeclaration' || n.type === 'ExportDefaultDeclaration') {
        if (n.declaration) blank(n.start, n.declaration.start);
        else blank(n.start, n.end);
      } else if (n.type === 'ExportAllDeclaration') blank(n.start, n.end);
    }
    const map = maps.get(file);
    for (const f of checkSource(chars.join(''), relative(ROOT, file), { allowGlobals: imported.concat(extraGlobals), assumeHoisted: true, knownMembers: [...knownMembers] })) {
      const m = map && mapBack(map, f.line, f.column);
      if (m) out.push({ ...f, file: relative(ROOT, resolve(dirname(file), map.sourceRoot ?? '', m.source)), line: m.line, column: m.column });
      else out.push(f);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 2. rollup, from memory (no stale files from an earlier build can leak in)

async function bundle(emitted, outDir, warn, entryJs = join(outDir, BUILD.entry), name = BUILD.globalName, footer = undefined, replace = new Map()) {
  const { rollup } = await import('rollup');
  const memory = {
    name: 'tsc-output',
    resolveId(source, importer) {
      if (!importer) return resolve(source);
      if (source.startsWith('.')) return resolve(dirname(importer), source);
      return null;
    },
    load(id) {
      if (replace.has(id)) return replace.get(id);
      if (emitted.has(id)) return emitted.get(id);
      throw new BuildError('bundle: ' + relative(ROOT, id) + ' is imported but tsc did not emit it');
    },
  };
  const b = await rollup({
    input: entryJs,
    plugins: [memory],
    treeshake: true,
    onwarn(w) {
      if (w.code === 'UNRESOLVED_IMPORT') throw new BuildError('bundle: ' + w.message + ' (core may import only its own files)');
      warn('rollup: ' + w.message);
    },
  });
  const { output } = await b.generate({
    format: 'iife',
    name,
    footer,
    freeze: false, // Object.freeze does not exist on Espruino
    esModule: false,
    generatedCode: 'es5',
    indent: false,
    sourcemap: false,
  });
  await b.close();
  return output[0].code;
}

// ---------------------------------------------------------------------------------------------
// 3. terser

/** Identifiers Espruino 2v29 cannot use as names although ES5 allows them. */
export const ESPRUINO_RESERVED = ['of'];

async function minifyEs5(code, compressExtra = {}) {
  const { minify } = await import('terser');
  const r = await minify(code, {
    ecma: 5,
    ie8: false,
    safari10: false,
    module: false,
    toplevel: false, // keep the global DepinCore
    compress: {
      ecma: 5,
      hoist_funs: false,
      hoist_vars: false,
      unsafe: false,
      unsafe_math: false,
      keep_fargs: true,
      passes: 1,
      ...compressExtra,
    },
    // Espruino's lexer takes `of` as a keyword (for-of), so a variable terser names `of` is a
    // syntax error on the device although every ES5 engine accepts it.
    mangle: { toplevel: false, reserved: ESPRUINO_RESERVED },
    format: { ecma: 5, ascii_only: true, comments: false, semicolons: true },
    sourceMap: false,
  });
  return r.code;
}

// ---------------------------------------------------------------------------------------------
// 4. Hoisting pass

const parseLoose = (code) => Parser.parse(code, { ecmaVersion: 'latest', sourceType: 'script', allowReserved: true, allowReturnOutsideFunction: false });

/**
 * Moves every function declaration to the top of its enclosing function body or program
 * (after the directives), keeping the declarations' order and the other statements' order:
 * exactly the hoisting JavaScript does, written out for an interpreter that does not do it.
 * Declarations inside blocks are left alone (the checker rejects them). Splices source text,
 * so comments and formatting around the moved statements travel with them.
 * @returns {{ code: string, moved: number }}
 */
export function hoistFunctionDeclarations(code) {
  const ast = parseLoose(code);
  const regions = []; // { start, end, stmts: [{ node, gap }], order }
  let moved = 0;
  walk.full(ast, (node) => {
    const isFn = node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression';
    const body = node.type === 'Program' ? node.body : isFn && node.body.type === 'BlockStatement' ? node.body.body : undefined;
    if (!body) return;
    let i = 0;
    while (i < body.length && body[i].type === 'ExpressionStatement' && typeof body[i].directive === 'string') i++;
    const rest = body.slice(i);
    const firstOther = rest.findIndex((s) => s.type !== 'FunctionDeclaration');
    if (firstOther < 0 || !rest.slice(firstOther).some((s) => s.type === 'FunctionDeclaration')) return;
    // Each statement owns the text between the previous statement and itself (its comments).
    const stmts = rest.map((s, k) => ({ node: s, gapStart: k === 0 ? s.start : rest[k - 1].end }));
    const fns = stmts.filter((s) => s.node.type === 'FunctionDeclaration');
    const others = stmts.filter((s) => s.node.type !== 'FunctionDeclaration');
    moved += rest.slice(firstOther).filter((s) => s.type === 'FunctionDeclaration').length;
    const prev = i > 0 ? body[i - 1] : undefined;
    regions.push({ start: rest[0].start, end: rest[rest.length - 1].end, order: [...fns, ...others], afterDirective: prev });
  });
  if (!regions.length) return { code, moved: 0 };
  regions.sort((a, b) => a.start - b.start);

  // Text of [start, end) with every region inside it rewritten (regions nest).
  const render = (start, end) => {
    let out = '';
    let pos = start;
    for (const r of regions) {
      if (r.start < pos || r.end > end) continue; // outside, or inside one already rendered
      out += code.slice(pos, r.start) + renderRegion(r);
      pos = r.end;
    }
    return out + code.slice(pos, end);
  };
  const renderRegion = (r) => {
    let out = '';
    if (r.afterDirective && !code.slice(r.afterDirective.start, r.afterDirective.end).endsWith(';')) out += ';';
    r.order.forEach((s) => {
      // Each statement keeps the text before it (comments, line breaks); the first statement of
      // the original order has none of its own, so one line break stands in for it.
      const gap = s.gapStart === s.node.start && s !== r.order[0] && code.slice(r.start, r.end).includes('\n') ? '\n' : code.slice(s.gapStart, s.node.start);
      let text = render(s.node.start, s.node.end);
      // Statements that met ASI at a neighbour that moved away get an explicit ';' (an extra
      // one after a block is an empty statement).
      if (s.node.type !== 'FunctionDeclaration' && !text.endsWith(';')) text += ';';
      out += gap + text;
    });
    return out;
  };
  return { code: render(0, code.length), moved };
}

/**
 * Declares at the top of each function body (after the directives) every `var` name it uses:
 * JavaScript's var hoisting written out. Espruino creates a var only when its statement runs,
 * so a name read above its `var` (terser turns one of two `var k` into a bare assignment,
 * trusting hoisting) or declared in a branch that did not run resolves to an outer binding
 * (in the bundle, some other module-level name terser also called k). `var k;` first is the
 * same program in JavaScript.
 * @returns {{ code: string, declared: number }}
 */
export function hoistVarDeclarations(code) {
  const late = lateVarDeclarations(code, { all: true });
  if (!late.length) return { code, declared: 0 };
  const inserts = late.map(({ fn, names }) => {
    const body = fn.type === 'Program' ? fn.body : fn.body.body;
    let i = 0;
    while (i < body.length && body[i].type === 'ExpressionStatement' && typeof body[i].directive === 'string') i++;
    const text = 'var ' + names.join(',') + ';';
    if (i > 0) {
      const d = body[i - 1];
      return { at: d.end, text: (code.slice(d.start, d.end).endsWith(';') ? '' : ';') + text };
    }
    return { at: fn.type === 'Program' ? 0 : fn.body.start + 1, text };
  });
  inserts.sort((a, b) => b.at - a.at);
  let out = code;
  for (const x of inserts) out = out.slice(0, x.at) + x.text + out.slice(x.at);
  return { code: out, declared: late.reduce((n, l) => n + l.names.length, 0) };
}

// ---------------------------------------------------------------------------------------------
// 5. Number pass

/**
 * Rewrites numeric literals that Espruino would read as a different double (see
 * espruinoNumberValue) into an exact expression, e.g. `.3` -> `(3/10)`.
 * @returns {{ code: string, repaired: {from: string, to: string}[] }}
 */
export function repairNumberLiterals(code) {
  const ast = parseLoose(code);
  const edits = [];
  walk.ancestor(ast, {
    Literal(node, _st, anc) {
      if (typeof node.value !== 'number') return;
      const parent = anc[anc.length - 2];
      if (parent && parent.type === 'Property' && parent.key === node && !parent.computed) return;
      const v = espruinoNumberValue(node.raw);
      if (v !== undefined && Object.is(v, node.value)) return;
      const to = espruinoExactNumberText(node.value);
      if (to !== undefined) edits.push({ start: node.start, end: node.end, from: node.raw, to });
    },
  });
  edits.sort((a, b) => b.start - a.start);
  let out = code;
  for (const e of edits) out = out.slice(0, e.start) + e.to + out.slice(e.end);
  return { code: out, repaired: edits.map((e) => ({ from: e.from, to: e.to })).reverse() };
}

// ---------------------------------------------------------------------------------------------
// 7. G table

async function buildGTable() {
  const src = join(ROOT, BUILD.gtableSource);
  if (!existsSync(src)) return undefined;
  const { tsImport } = await import('tsx/esm/api');
  const mod = await tsImport(pathToFileURL(src).href, import.meta.url);
  if (typeof mod.buildGTable !== 'function') throw new BuildError(BUILD.gtableSource + ' must export buildGTable(): Uint8Array');
  const t = mod.buildGTable();
  if (!(t instanceof Uint8Array) || t.length !== BUILD.gtableBytes)
    throw new BuildError('buildGTable() expected a Uint8Array of ' + BUILD.gtableBytes + ' bytes, got ' +
      (t instanceof Uint8Array ? t.length + ' bytes' : typeof t));
  return t;
}

// ---------------------------------------------------------------------------------------------

function writeAtomic(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = path + '.' + process.pid + '.tmp';
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * Runs the whole build. Throws BuildError (with `findings` when the checker rejected the
 * output). Returns what it wrote and the sizes.
 * @param {{ board?: string, minify?: boolean, outRoot?: string, tsconfig?: string, log?: (s: string) => void,
 *   entry?: string, out?: string, boardData?: object, app?: boolean, components?: string[] }} [opts]
 *   tsconfig: another project to build the same way (tests use fixtures); its index.ts is the entry.
 *   board: also builds the device app (buildApp) into `out` (default dist/<board>/app.js) from
 *   `entry` (default firmware/espruino/main.ts) with boards/<board>.json (or `boardData`)
 *   embedded; app: false skips it.
 */
export async function buildFirmware(opts = {}) {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const minify = opts.minify !== false;
  if (opts.board !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(opts.board))
    throw new BuildError('--board expected a name of letters, digits, "_", "." or "-", got ' + JSON.stringify(opts.board));
  const outDir = resolve(ROOT, opts.outRoot ?? BUILD.outRoot, opts.board ?? '');

  const times = {};
  let tPrev = t0;
  const lap = (k) => {
    const t = performance.now();
    times[k] = Math.round(t - tPrev);
    tPrev = t;
  };
  const { emitted, maps, outDir: es5Dir } = await compileCore(opts.tsconfig ?? BUILD.tsconfig, log);
  lap('tsc');
  const bundled = await bundle(emitted, es5Dir, log);
  lap('rollup');
  const outFile = join(outDir, BUILD.bundleName);
  const { minified, fin } = await finishBundle({ bundled, minify, emitted, maps, outFile, lap, rejectedName: 'core.rejected.js' });
  const written = { core: outFile };
  const sizes = { bundle: Buffer.byteLength(bundled), minified: Buffer.byteLength(fin.code), gzip: gzipSync(fin.code, { level: 9 }).length };

  const gtable = opts.tsconfig === undefined ? await buildGTable() : undefined;
  lap('gtable');
  if (gtable) {
    written.gtable = join(outDir, BUILD.gtableName);
    writeAtomic(written.gtable, gtable);
    sizes.gtable = gtable.length;
  }
  let app;
  if (opts.board !== undefined && opts.tsconfig === undefined && opts.app !== false) {
    app = await buildApp({ board: opts.board, boardData: opts.boardData, entry: opts.entry, out: opts.out ?? join(outDir, BUILD.appName), minify, log, components: opts.components });
    written.app = app.out;
    sizes.app = app.sizes;
    times.app = app.ms;
    tPrev = performance.now();
  }
  const ms = Math.round(performance.now() - t0);
  // stages: the text before the last passes, for tests and for reading what each pass did.
  return { written, sizes, times, moved: fin.moved, declared: fin.declared, repaired: fin.repaired, ms, gtableSkipped: !gtable, stages: { bundled, minified, final: fin.code }, app };
}

/** terser (unless minify is false), the passes and the checker; writes outFile or throws. */
async function finishBundle({ bundled, minify, emitted, maps, outFile, lap = () => {}, rejectedName, allowGlobals, compress }) {
  const minified = minify ? await minifyEs5(bundled, compress) : bundled;
  lap('terser');
  const finish = (code) => {
    const h = hoistFunctionDeclarations(code);
    const v = hoistVarDeclarations(h.code);
    const n = repairNumberLiterals(v.code);
    return { code: n.code, moved: h.moved, declared: v.declared, repaired: n.repaired };
  };
  const fin = finish(minified);
  lap('passes');
  const opts = { knownMembers: hostMemberNames(), ...(allowGlobals ? { allowGlobals } : {}) };
  const findings = checkSource(fin.code, relative(ROOT, outFile), opts);
  lap('check');
  if (findings.length) {
    const rejected = join(ROOT, 'build', rejectedName);
    writeAtomic(rejected, fin.code);
    let why = '';
    if (minify && checkSource(finish(bundled).code, 'unminified', opts).length === 0)
      why = '\n(the unminified bundle passes: terser introduced these; adjust its options in scripts/build-firmware.mjs)';
    const inSource = checkModules(emitted, maps, allowGlobals);
    const where = inSource.length
      ? '\nin the TypeScript sources:\n  ' + inSource.map(formatFinding).join('\n  ')
      : '\n(no single module shows them: they come from bundling; build with --no-minify to read them)';
    throw new BuildError(
      'Espruino check failed on the bundle (kept as ' + relative(ROOT, rejected) + '):\n  ' +
        findings.map(formatFinding).join('\n  ') + why + where, findings);
  }
  writeAtomic(outFile, fin.code);
  return { minified, fin };
}

// ---------------------------------------------------------------------------------------------
// 8. The device app (--board)

/**
 * boards/<name>.json (or `data`), checked by firmware/espruino/board.ts validateBoard(), as the
 * object literal embedded in app.js: ASCII only, prose and bibliography left out.
 */
export async function loadBoard(name, data) {
  let obj = data;
  if (obj === undefined) {
    const path = join(ROOT, BUILD.boardsDir, name + '.json');
    if (!existsSync(path)) {
      const known = existsSync(join(ROOT, BUILD.boardsDir))
        ? readdirSync(join(ROOT, BUILD.boardsDir)).filter((f) => f.endsWith('.json') && f !== 'schema.json').map((f) => f.slice(0, -5))
        : [];
      throw new BuildError('--board ' + name + ': no board file ' + relative(ROOT, path) + ' (known: ' + (known.join(', ') || 'none') + ')');
    }
    try {
      obj = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new BuildError(relative(ROOT, path) + ' is not JSON: ' + e.message);
    }
  }
  const { tsImport } = await import('tsx/esm/api');
  const mod = await tsImport(pathToFileURL(join(ROOT, BUILD.boardModule)).href, import.meta.url);
  let board;
  try {
    board = mod.validateBoard(obj);
  } catch (e) {
    throw new BuildError('board ' + name + ': ' + e.message);
  }
  const slim = {};
  for (const k of Object.keys(board)) if (!BOARD_OMIT.includes(k)) slim[k] = board[k];
  const wide = [];
  const literal = JSON.stringify(slim).replace(/[\u0080-\uffff]/g, (ch) => {
    const c = ch.charCodeAt(0);
    if (c > 0xff) {
      wide.push(ch);
      return '?';
    }
    return '\\u00' + c.toString(16).padStart(2, '0');
  });
  return { board, literal, wide };
}

/**
 * Builds the device app: `entry` (default firmware/espruino/main.ts) with core through tsc
 * (firmware/espruino/tsconfig.json), rollup (global DepinApp), terser and the passes, checked
 * with the platform's globals allowed, ending in DepinApp.start(<board>).
 * @param {{ board: string, boardData?: object, entry?: string, out?: string, minify?: boolean, tsconfig?: string,
 *   components?: string[], compress?: object, log?: (s: string) => void }} opts
 *   components: source types to carry instead of every one (firmware/espruino/components.ts).
 *   compress: extra terser compress options (experiments; the default is the core's).
 */
export async function buildApp(opts) {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  if (typeof opts.board !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(opts.board))
    throw new BuildError('--board expected a name of letters, digits, "_", "." or "-", got ' + JSON.stringify(opts.board));
  const out = resolve(ROOT, opts.out ?? join(BUILD.outRoot, opts.board, BUILD.appName));
  const { literal, wide } = await loadBoard(opts.board, opts.boardData);
  if (wide.length) log('board ' + opts.board + ': ' + wide.length + ' character(s) above \\xFF replaced by "?" (ESP32 builds keep only the low byte)');
  const { emitted, maps, outDir: es5Dir, entryJs } = await compileCore(opts.tsconfig ?? BUILD.appTsconfig, log, false, opts.entry ?? BUILD.appEntry);
  const footer = BUILD.appGlobalName + '.start(' + literal + ');';
  const replace = new Map();
  if (opts.components !== undefined) {
    // A firmware for one kind of device: only these components (each <type>/driver.ts exports
    // <type>Source), so the others cost no flash at all.
    const list = [...new Set(opts.components)];
    const bad = list.filter((c) => typeof c !== 'string' || !/^[a-z][a-z0-9]*$/.test(c) || !existsSync(join(ROOT, 'firmware/core/sources', c, 'driver.ts')));
    if (bad.length || !list.length)
      throw new BuildError('--components expected source types with a firmware/core/sources/<type>/driver.ts, got ' + JSON.stringify(bad.length ? bad : list));
    const compJs = join(es5Dir, relative(join(ROOT, 'firmware'), join(ROOT, BUILD.appComponents))).replace(/\.ts$/, '.js');
    replace.set(compJs, list.map((c) => "import { " + c + "Source } from '../core/sources/" + c + "/driver.js';\n").join('') +
      'export var COMPONENTS = [' + list.map((c) => c + 'Source').join(', ') + '];\n');
  }
  const bundled = await bundle(emitted, es5Dir, log, entryJs, BUILD.appGlobalName, footer, replace);
  const { fin } = await finishBundle({
    bundled, minify: opts.minify !== false, emitted, maps, outFile: out, rejectedName: 'app.rejected.js', allowGlobals: APP_GLOBALS,
    compress: opts.compress,
  });
  const sizes = { bundle: Buffer.byteLength(bundled), minified: Buffer.byteLength(fin.code), gzip: gzipSync(fin.code, { level: 9 }).length };
  log(relative(ROOT, out) + ': ' + emitted.size + ' modules, ' + sizes.minified + ' B');
  return { out, sizes, modules: emitted.size, ms: Math.round(performance.now() - t0), code: fin.code };
}

function parseArgs(argv) {
  const o = { minify: true, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-minify') o.minify = false;
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--board') {
      o.board = argv[++i];
      if (o.board === undefined) throw new BuildError('--board expects a name');
    } else if (a.startsWith('--board=')) o.board = a.slice(8);
    else if (a === '--components') {
      const v = argv[++i];
      if (v === undefined) throw new BuildError('--components expects a comma-separated list of source types');
      o.components = v.split(',');
    } else if (a.startsWith('--components=')) o.components = a.slice(13).split(',');
    else throw new BuildError('unknown argument ' + JSON.stringify(a) + ' (usage: build-firmware.mjs [--board <name> [--components a,b]] [--no-minify] [--quiet])');
  }
  return o;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const r = await buildFirmware({ ...o, log: o.quiet ? undefined : (s) => process.stdout.write(s + '\n') });
    const rel = (p) => relative(process.cwd(), p).split(sep).join('/');
    const kb = (n) => n + ' B (' + (n / 1024).toFixed(1) + ' KiB)';
    if (!o.quiet) {
      process.stdout.write(
        rel(r.written.core) + ': bundle ' + kb(r.sizes.bundle) + ', ' + (o.minify ? 'minified ' : 'final ') + kb(r.sizes.minified) +
          ', gzip ' + kb(r.sizes.gzip) + '\n' +
          '  hoisted ' + r.moved + ' function declaration' + (r.moved === 1 ? '' : 's') + ' and ' + r.declared + ' var' + (r.declared === 1 ? '' : 's') + ', repaired ' + r.repaired.length +
          ' number literal' + (r.repaired.length === 1 ? '' : 's') + (r.repaired.length ? ' (' + r.repaired.map((x) => x.from + ' -> ' + x.to).join(', ') + ')' : '') + '\n' +
          (r.written.gtable ? rel(r.written.gtable) + ': ' + kb(r.sizes.gtable) + '\n' : '  G table: skipped (' + BUILD.gtableSource + ' does not exist yet)\n') +
          (r.written.app ? rel(r.written.app) + ': ' + r.app.modules + ' modules, bundle ' + kb(r.sizes.app.bundle) + ', ' + (o.minify ? 'minified ' : 'final ') +
            kb(r.sizes.app.minified) + ', gzip ' + kb(r.sizes.app.gzip) + ' (runs from Storage as .bootcde)\n' : '') +
          '  done in ' + r.ms + ' ms (' + Object.entries(r.times).map(([k, v]) => k + ' ' + v).join(', ') + ')\n');
    }
  } catch (e) {
    process.stderr.write((e instanceof BuildError ? 'build-firmware: ' + e.message : e.stack) + '\n');
    process.exit(1);
  }
}
