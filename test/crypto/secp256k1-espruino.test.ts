// secp256k1 timings in the real Espruino interpreter (its Linux build, named by ESPRUINO;
// skipped without it), on the shipped bundle dist/core.js: time per signature and per job
// step, and installGTable, with the device's slots (E.convolve, native SHA-256, the table
// read from a Storage file) and with the portable fallbacks, printed as diagnostics and held
// to generous bounds. That the signatures are byte-identical to Node is the conformance
// suite's job (test/bundle/conformance.test.ts); the few checked here only guard the timings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as noble from '@noble/secp256k1';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { buildGTable } from '../../firmware/core/crypto/secp256k1/gtable.js';
import { runEspruino, skipReason } from '../harness/espruino-real.js';
import { shippedBundle } from '../bundle/hosts.js';

noble.hashes.sha256 = sha256;
noble.hashes.hmacSha256 = (k, m) => hmac(sha256, k, m);

const skip = skipReason();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let built: Promise<string> | undefined;
/** dist/core.js (built when stale; CORE_BUNDLE names another), with `S` naming its DepinCore. */
function bundle(): Promise<string> {
  built ??= shippedBundle().then((b) => readFileSync(b.path, 'utf8') + '\nvar S = DepinCore;\n');
  return built;
}

interface Case {
  priv: string;
  msg: string;
  want: string;
  pub: string;
}

function cases(n: number): Case[] {
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    const priv = sha256(new Uint8Array([i, 0xe5]));
    const msg = sha256(new Uint8Array([i, 0x5e]));
    const s = noble.sign(msg, priv, { prehash: false, format: 'recovered' });
    out.push({ priv: hex(priv), msg: hex(msg), want: hex(s), pub: hex(noble.getPublicKey(priv)) });
  }
  return out;
}

/** The device script: slots as the platform installs them, then signatures, jobs and timings. */
function script(lib: string, opts: { convolve: boolean; nativeSha: boolean; storageTable: boolean; n: number }): string {
  const table = Buffer.from(buildGTable()).toString('base64');
  return (
    lib +
    `
function hx(s){var b=new Uint8Array(s.length/2);for(var i=0;i<b.length;i++)b[i]=parseInt(s.substr(2*i,2),16);return b;}
function th(b){var s="";for(var i=0;i<b.length;i++)s+=(b[i]<16?"0":"")+b[i].toString(16);return s;}
${opts.convolve ? 'S.installConvolve(E.convolve);' : ''}
${opts.nativeSha ? 'S.installSha256(function(d){ return new Uint8Array(require("crypto").SHA256(d)); });' : ''}
var tab = E.toUint8Array(atob("${table}"));
${opts.storageTable ? 'var st=require("Storage"); st.write("gtab", tab); tab = new Uint8Array(st.readArrayBuffer("gtab"));' : ''}
var t0=getTime(); S.installGTable(tab); var tInstall=getTime()-t0;
var cases=${JSON.stringify(cases(opts.n))};
var ok=0, times=[], maxStep=0, steps=0;
for (var c=0;c<cases.length;c++){
  var priv=hx(cases[c].priv), msg=hx(cases[c].msg);
  var t=getTime(); var sig=S.sign(msg, priv); times.push(getTime()-t);
  var got=(sig.recovery<16?"0":"")+sig.recovery.toString(16)+th(sig.compact);
  var job=S.createSignJob(msg, priv), n=0;
  for(;;){var a=getTime(); var d=job.step(); var dt=getTime()-a; if(dt>maxStep)maxStep=dt; n++; if(d)break;}
  steps=n;
  if (got===cases[c].want && th(job.result().compact)===th(sig.compact)) ok++; else print("MISMATCH "+c+" "+got);
}
var pub=th(S.getPublicKey(hx(cases[0].priv)));
var vok=S.verify(hx(cases[0].want).subarray(1), hx(cases[0].msg), hx(cases[0].pub));
times.sort(function(a,b){return a-b;});
print(JSON.stringify({ok:ok, n:cases.length, pub:pub, verify:vok, minMs:times[0]*1000, medianMs:times[times.length>>1]*1000,
  maxStepMs:maxStep*1000, steps:steps, installMs:tInstall*1000, convolve:S.convolveInstalled()}));
`
  );
}

async function runCase(lib: string, opts: { convolve: boolean; nativeSha: boolean; storageTable: boolean; n: number }) {
  const r = await runEspruino(script(lib, opts), { timeoutMs: 120_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  assert.ok(line, 'no result line; output:\n' + r.stdout.slice(-3000) + r.stderr);
  return JSON.parse(line);
}

test('Espruino (dist/core.js): timings with the device slots', { skip }, async () => {
  const lib = await bundle();
  const n = 3;
  const res = await runCase(lib, { convolve: true, nativeSha: true, storageTable: true, n });
  const c0 = cases(1)[0];
  assert.equal(res.ok, n);
  assert.equal(res.pub, c0.pub);
  assert.equal(res.verify, true);
  assert.equal(res.convolve, true);
  console.log(
    '# espruino (' + process.env.ESPRUINO + '), E.convolve + native SHA-256, table from Storage: sign min ' +
      res.minMs.toFixed(1) + ' ms, median ' + res.medianMs.toFixed(1) + ' ms; job ' + res.steps + ' steps, longest ' +
      res.maxStepMs.toFixed(1) + ' ms; installGTable ' + res.installMs.toFixed(1) + ' ms',
  );
  // Generous bounds (the machine running the tests may be busy): the targets are 300 ms per
  // signature and 20 ms per step in the -Og build.
  assert.ok(res.minMs < 900, 'sign ' + res.minMs + ' ms');
  assert.ok(res.maxStepMs < 60, 'longest step ' + res.maxStepMs + ' ms');
});

test('Espruino (dist/core.js): timings with the portable fallbacks (no E.convolve, JavaScript SHA-256)', { skip }, async () => {
  const lib = await bundle();
  const res = await runCase(lib, { convolve: false, nativeSha: false, storageTable: false, n: 1 });
  assert.equal(res.ok, 1);
  assert.equal(res.verify, true);
  assert.equal(res.convolve, false);
  console.log('# espruino portable paths: sign ' + res.minMs.toFixed(1) + ' ms; job longest step ' + res.maxStepMs.toFixed(1) + ' ms over ' + res.steps + ' steps');
});
