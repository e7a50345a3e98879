// Section 4: the real device bundle (dist/core.js, built by ensureBundle) in the real Espruino
// interpreter (its Linux build, named by ESPRUINO; ESPRUINO_OS may name a second build, e.g. -Os).
// The device's configuration: the bundle and the 16 KB G table are Storage files (written by a
// first interpreter run into espruino.flash, then read back by the measuring run), E.convolve and
// the native crypto.SHA256 are installed in the core's slots.
//
// Measured inside the interpreter with getTime(): ms per sign() (median), every job.step() of
// signing jobs with the default budget (longest), ms per encodePayload + seal of a 16-sample
// batch; JsVars (process.memory(), after a garbage collection) before and after loading the
// bundle and at every step boundary while signing. Every signature and sealed message is
// compared byte for byte with the Node core's output.
//
// The Linux build cannot memory-map its flash: a string read from Storage stays a flash string
// whose every access is a file read, so code evaluated from it runs several times slower there
// than on an ESP32 (memory-mapped flash behind a cache). The bundle is therefore evaluated twice:
// from the Storage string, to count the JsVars the device pays when its code stays in flash, and,
// for every timing, from a RAM copy (as code uploaded to RAM). Its variables are also larger than
// an ESP32's (see blocksize): compare counts, not bytes.
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { sign, encodePayload, seal, deviceAddress, toHex } from '../firmware/core/index.js';
import { runEspruino, skipReason } from '../test/harness/espruino-real.js';
import { ensureBundle } from '../test/harness/espruino-vm.js';
import { energyBatch } from '../test/telemetry/envelope-cases.js';
import { target, okCell, type Section, type Table, type TargetResult, type RunOptions } from './table.js';

export const ESPRUINO_TARGETS = {
  /** ms per signature in the -Og Linux build (issue 2). */
  signMs: 300,
  /** Longest single job.step() with the default budget, ms. */
  stepMs: 20,
};

/** Storage file names in the interpreter's flash (<= 28 chars). */
const FILES = { bundle: 'core.js', table: 'gtab' };
/** Per-run wall-clock bound of the interpreter. */
const RUN_TIMEOUT_MS = 180_000;

interface Counts {
  signs: number;
  jobs: number;
  seals: number;
}
const COUNTS: Counts = { signs: 10, jobs: 6, seals: 5 };
const QUICK_COUNTS: Counts = { signs: 2, jobs: 1, seals: 1 };

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The build a binary is, from its (resolved) file name: "-Og", "-Os", or "?". */
export function buildFlavour(path: string): string {
  let name = basename(path);
  try {
    name = basename(realpathSync(path));
  } catch {
    /* keep the given name */
  }
  const m = /-O([0-3gsz])\b/.exec(name);
  return m ? '-O' + m[1] : '?';
}

function writerScript(bundle: string, table: Uint8Array): string {
  return (
    'var st=require("Storage");\n' +
    'st.write(' + JSON.stringify(FILES.table) + ', E.toUint8Array(atob("' + Buffer.from(table).toString('base64') + '")));\n' +
    'st.write(' + JSON.stringify(FILES.bundle) + ', ' + JSON.stringify(bundle) + ');\n' +
    'print(JSON.stringify({written:st.list(), free:st.getFree()}));\n'
  );
}

interface Inputs {
  cases: { priv: string; msg: string; want: string }[];
  seal: { priv: string; kid: string; batch: unknown; want: string };
}

function inputs(n: number): Inputs {
  const cases = [];
  for (let i = 0; i < n; i++) {
    const priv = sha256(new Uint8Array([i, 0xe5]));
    const msg = sha256(new Uint8Array([i, 0x5e]));
    cases.push({ priv: hex(priv), msg: hex(msg), want: hex(sign(msg, priv).compact) });
  }
  const priv = sha256(new Uint8Array([0x5e, 0xa1]));
  const kid = deviceAddress(priv);
  const b = energyBatch(16, 43);
  const want = hex(seal(encodePayload(b), priv, kid));
  return { cases, seal: { priv: hex(priv), kid: hex(kid), batch: { ...b, prev: hex(b.prev) }, want } };
}

function benchScript(inp: Inputs, c: Counts): string {
  return `
function hx(s){var b=new Uint8Array(s.length/2);for(var i=0;i<b.length;i++)b[i]=parseInt(s.substr(2*i,2),16);return b;}
function th(b){var s="";for(var i=0;i<b.length;i++)s+=(b[i]<16?"0":"")+b[i].toString(16);return s;}
function med(a){a=a.slice().sort(function(x,y){return x-y;});return a[a.length>>1];}
var mem0=process.memory();
var st=require("Storage");
eval(st.read(${JSON.stringify(FILES.bundle)}));
var memFlash=process.memory();
DepinCore=undefined;
var memFreed=process.memory();
var tl=getTime();
eval(E.toString(E.toUint8Array(st.read(${JSON.stringify(FILES.bundle)}))));
var loadMs=(getTime()-tl)*1000;
var mem1=process.memory();
var C=DepinCore;
var hasConv=typeof E.convolve==="function";
if(hasConv)C.installConvolve(E.convolve);
var hasSha=false;
try{var cr=require("crypto");if(cr&&cr.SHA256){C.installSha256(function(d){return new Uint8Array(cr.SHA256(d));});hasSha=true;}}catch(e){}
var tab=new Uint8Array(st.readArrayBuffer(${JSON.stringify(FILES.table)}));
var ti=getTime();C.installGTable(tab);var installMs=(getTime()-ti)*1000;
var mem2=process.memory();
var cases=${JSON.stringify(inp.cases)};
var bad=[];
var signMs=[];
for(var k=0;k<${c.signs};k++){
  var cs=cases[k%cases.length];var priv=hx(cs.priv),msg=hx(cs.msg);
  var t=getTime();var sig=C.sign(msg,priv);signMs.push((getTime()-t)*1000);
  if(th(sig.compact)!==cs.want)bad.push("sign "+k);
}
var maxStep=0,jobMax=[],steps=[],peak=0,stepSum=[];
for(var j=0;j<${c.jobs};j++){
  var cj=cases[j%cases.length];
  var job=C.createSignJob(hx(cj.msg),hx(cj.priv)),n=0,sum=0,jm=0;
  for(;;){var a=getTime();var d=job.step();var dt=(getTime()-a)*1000;sum+=dt;if(dt>jm)jm=dt;n++;
    var u=process.memory().usage;if(u>peak)peak=u;if(d)break;}
  if(jm>maxStep)maxStep=jm;
  steps.push(n);stepSum.push(sum);jobMax.push(jm);
  if(th(job.result().compact)!==cj.want)bad.push("job "+j);
}
var S=${JSON.stringify(inp.seal)};
var sp=hx(S.priv),skid=hx(S.kid),B=S.batch;B.prev=hx(B.prev);
var encMs=[],sealMs=[],out;
for(var q=0;q<${c.seals};q++){
  var t1=getTime();var pl=C.encodePayload(B);var t2=getTime();out=C.seal(pl,sp,skid);var t3=getTime();
  encMs.push((t2-t1)*1000);sealMs.push((t3-t2)*1000);
}
if(th(out)!==S.want)bad.push("seal");
var mem3=process.memory();
print("RESULT "+JSON.stringify({version:process.env.VERSION,convolve:hasConv&&C.convolveInstalled(),nativeSha:hasSha,bad:bad,
 loadMs:loadMs,installMs:installMs,signMedianMs:med(signMs),signMinMs:Math.min.apply(null,signMs),signMaxMs:Math.max.apply(null,signMs),signs:signMs.length,
 maxStepMs:maxStep,medianJobMaxStepMs:med(jobMax),stepsPerSign:med(steps),jobMedianMs:med(stepSum),jobs:steps.length,
 encodeMedianMs:med(encMs),sealMedianMs:med(sealMs),seals:sealMs.length,sealBytes:out.length,
 memBefore:mem0.usage,memFlashCode:memFlash.usage,memFreed:memFreed.usage,memAfterLoad:mem1.usage,memAfterSetup:mem2.usage,memPeakSigning:peak,memEnd:mem3.usage,memTotal:mem3.total,blocksize:mem3.blocksize}));
`;
}

interface BinaryResult {
  label: string;
  path: string;
  flavour: string;
  r: Record<string, number | string | boolean | string[]>;
}

async function measureBinary(bin: string, label: string, bundle: string, table: Uint8Array, inp: Inputs, counts: Counts): Promise<BinaryResult> {
  const saved = process.env.ESPRUINO;
  // runEspruino reads the binary from ESPRUINO at call time; both runs share one cwd (one flash).
  process.env.ESPRUINO = bin;
  const dir = mkdtempSync(join(tmpdir(), 'bench-espruino-'));
  try {
    const w = await runEspruino(writerScript(bundle, table), { cwd: dir, timeoutMs: RUN_TIMEOUT_MS });
    if (!/"written"/.test(w.stdout)) throw new Error('writing Storage failed in ' + bin + ':\n' + w.stdout.slice(-1500) + w.stderr.slice(-500));
    const r = await runEspruino(benchScript(inp, counts), { cwd: dir, timeoutMs: RUN_TIMEOUT_MS });
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error('no result from ' + bin + ':\n' + r.stdout.slice(-2000) + r.stderr.slice(-500));
    const res = JSON.parse(line.slice(7));
    if (res.bad.length) throw new Error(bin + ': outputs differ from the Node core: ' + res.bad.join(', '));
    return { label, path: bin, flavour: buildFlavour(bin), r: res };
  } finally {
    if (saved === undefined) delete process.env.ESPRUINO;
    else process.env.ESPRUINO = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}

export const espruinoSection: Section = {
  name: 'espruino',
  title: '4. Espruino (real interpreter, real bundle)',
  async run(opts: RunOptions) {
    const why = skipReason();
    if (why !== undefined) {
      return {
        skipped: why,
        tables: [],
        targets: [
          { section: 'espruino', name: 'ms per signature', target: '<= ' + ESPRUINO_TARGETS.signMs + ' ms (-Og)', value: null, ok: null, note: 'skipped' },
          { section: 'espruino', name: 'longest signing step', target: '<= ' + ESPRUINO_TARGETS.stepMs + ' ms', value: null, ok: null, note: 'skipped' },
        ],
      };
    }
    const counts = opts.quick ? QUICK_COUNTS : COUNTS;
    const bundlePath = await ensureBundle();
    const bundle = readFileSync(bundlePath, 'utf8');
    const table = new Uint8Array(readFileSync(join(bundlePath, '..', 'secp256k1-gtable.bin')));
    const inp = inputs(Math.max(counts.signs, counts.jobs));
    const bins: [string, string][] = [['ESPRUINO', process.env.ESPRUINO as string]];
    const extra = process.env.ESPRUINO_OS;
    const notes: string[] = [];
    if (extra && extra.trim()) {
      const r2 = skipReason({ ESPRUINO: extra });
      if (r2 === undefined) bins.push(['ESPRUINO_OS', extra.trim()]);
      else notes.push('ESPRUINO_OS not measured: ' + r2.replace(/^ESPRUINO=/, 'ESPRUINO_OS='));
    }
    const results: BinaryResult[] = [];
    for (const [label, bin] of bins) results.push(await measureBinary(bin, label, bundle, table, inp, counts));

    const targets: TargetResult[] = [];
    const main = results[0];
    const isOg = main.flavour === '-Og';
    const signMs = main.r.signMedianMs as number;
    // A single longest step on a shared machine can be an OS preemption: judge the median over
    // jobs of each job's longest step, and show the overall maximum beside it.
    const stepMs = main.r.medianJobMaxStepMs as number;
    targets.push({ ...target('espruino', 'ms per signature (' + basename(main.path) + ', ' + main.flavour + ')', signMs, '<=', ESPRUINO_TARGETS.signMs, '<= ' + ESPRUINO_TARGETS.signMs + ' ms (-Og)'), ...(isOg ? {} : { note: 'binary is not named -Og' }) });
    targets.push(target('espruino', 'longest signing step, median over jobs (' + main.flavour + ')', stepMs, '<=', ESPRUINO_TARGETS.stepMs, '<= ' + ESPRUINO_TARGETS.stepMs + ' ms'));

    const timing: Table['rows'] = [];
    const memory: Table['rows'] = [];
    for (const b of results) {
      const r = b.r;
      const bin = basename(b.path) + ' (' + b.flavour + ', ' + r.version + ')';
      const isMain = b === main;
      const t = (v: number, limit: number) => (isMain ? okCell(v <= limit) : '');
      timing.push({ bin, measure: 'sign() median (min-max of ' + r.signs + ')', ms: r.signMedianMs as number, spread: (r.signMinMs as number).toFixed(1) + '-' + (r.signMaxMs as number).toFixed(1), target: isMain ? '<= ' + ESPRUINO_TARGETS.signMs + (isOg ? '' : ' (target is for -Og)') : '', ok: t(r.signMedianMs as number, ESPRUINO_TARGETS.signMs) });
      timing.push({ bin, measure: 'longest job.step(), default budget: median over ' + r.jobs + ' jobs (' + r.stepsPerSign + ' steps each); max', ms: r.medianJobMaxStepMs as number, spread: 'max ' + (r.maxStepMs as number).toFixed(1), target: isMain ? '<= ' + ESPRUINO_TARGETS.stepMs : '', ok: t(r.medianJobMaxStepMs as number, ESPRUINO_TARGETS.stepMs) });
      timing.push({ bin, measure: 'signing job, sum of its steps (median)', ms: r.jobMedianMs as number, spread: '', target: '', ok: '' });
      timing.push({ bin, measure: 'encodePayload, 16 samples (median of ' + r.seals + ')', ms: r.encodeMedianMs as number, spread: '', target: '', ok: '' });
      timing.push({ bin, measure: 'seal, 16 samples (' + r.sealBytes + ' B; median of ' + r.seals + ')', ms: r.sealMedianMs as number, spread: '', target: '', ok: '' });
      timing.push({ bin, measure: 'eval bundle (RAM copy of the Storage file)', ms: r.loadMs as number, spread: '', target: '', ok: '' });
      timing.push({ bin, measure: 'installGTable (checks)', ms: r.installMs as number, spread: '', target: '', ok: '' });
      memory.push({
        bin,
        before: r.memBefore as number,
        flashCode: (r.memFlashCode as number) - (r.memBefore as number),
        load: r.memAfterLoad as number,
        loadDelta: (r.memAfterLoad as number) - (r.memFreed as number),
        setup: r.memAfterSetup as number,
        peak: r.memPeakSigning as number,
        end: r.memEnd as number,
        block: r.blocksize as number,
      });
    }
    return {
      tables: [
        {
          title: 'Espruino: dist/core.js (' + bundle.length + ' chars) with E.convolve ' + (main.r.convolve ? 'installed' : 'MISSING') + ', native SHA-256 ' + (main.r.nativeSha ? 'installed' : 'MISSING') + ', G table from Storage',
          columns: [
            { key: 'bin', header: 'binary' },
            { key: 'measure', header: 'measure' },
            { key: 'ms', header: 'ms', digits: 1 },
            { key: 'spread', header: 'spread ms' },
            { key: 'target', header: 'target ms' },
            { key: 'ok', header: 'ok' },
          ],
          rows: timing,
          notes: [
            'ESPRUINO=' + main.path + (results[1] ? '; ESPRUINO_OS=' + results[1].path : '') + '. Times from getTime() inside the interpreter; outputs byte-identical to the Node core.',
            'Code runs from a RAM copy: the Linux build reads flash strings through file I/O, which a memory-mapped ESP32 does not.',
            ...notes,
          ],
        },
        {
          title: 'Espruino JsVars (process.memory().usage after a GC)',
          columns: [
            { key: 'bin', header: 'binary' },
            { key: 'before', header: 'bench script only vars' },
            { key: 'flashCode', header: 'bundle cost, code in Storage vars' },
            { key: 'loadDelta', header: 'bundle cost, code in RAM vars' },
            { key: 'load', header: 'bundle loaded (RAM) vars' },
            { key: 'setup', header: 'slots+table vars' },
            { key: 'peak', header: 'peak signing vars' },
            { key: 'end', header: 'after seals vars' },
            { key: 'block', header: 'bytes/var' },
          ],
          rows: memory,
          notes: [
            'Peak signing: highest usage seen at job.step() boundaries (live data between steps, not temporaries inside a step).',
            'Code in Storage: eval of the Storage string, functions keep pointing into flash (the device case). Code in RAM: eval of a RAM copy (used for all timings here).',
          ],
        },
      ],
      targets,
    };
  },
};
