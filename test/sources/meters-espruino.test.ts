// The dsmr and iec62056 components as the device runs them: their core modules transpiled to
// ES5 and bundled (rollup, then the firmware build's hoisting passes), checked by the Espruino
// gate, and - when ESPRUINO names an Espruino Linux build - run in the real interpreter on every
// public vector, with timings. This is where Espruino's own number parsing shows: its
// parseFloat reads "0001727" as octal (983), which the decoder must never hand it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { rollup } from 'rollup';
import { checkSource } from '../../scripts/espruino-check.mjs';
import { hoistFunctionDeclarations, hoistVarDeclarations } from '../../scripts/build-firmware.mjs';
import { runEspruino, skipReason } from '../harness/espruino-real.js';
import { scaleDecimal } from '../../firmware/core/sources/dsmr/obis.js';

const CORE = new URL('../../firmware/core/', import.meta.url);

/** ES5 IIFE of the two components (global `M`), built the way the firmware build builds core. */
async function bundle(): Promise<string> {
  const entry = `
export { createDsmrReader, createP1Framer, crc16 } from './sources/dsmr/decoder.js';
export { createIecParser, decodeReadout, bcc } from './sources/iec62056/decoder.js';
export { dsmrSource } from './sources/dsmr/driver.js';
export { iec62056Source } from './sources/iec62056/driver.js';
`;
  const b = await rollup({
    input: 'entry.js',
    onwarn() {},
    plugins: [
      {
        name: 'core-es5',
        resolveId(id: string, from?: string) {
          if (id === 'entry.js') return id;
          const base = from === 'entry.js' || !from ? new URL('entry.js', CORE) : new URL(from, 'file://');
          return new URL(id, base).href.replace(/^file:\/\//, '');
        },
        load(id: string) {
          if (id === 'entry.js') return entry;
          const src = readFileSync(id.replace(/\.js$/, '.ts'), 'utf8');
          return ts.transpileModule(src, { compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.ES2015, removeComments: true } }).outputText;
        },
      },
    ],
  });
  const { output } = await b.generate({ format: 'iife', name: 'M' });
  return hoistVarDeclarations(hoistFunctionDeclarations(output[0].code).code).code;
}

function jsString(s: string): string {
  let o = '"';
  for (const c of s) {
    const k = c.charCodeAt(0);
    o += k >= 32 && k < 127 && c !== '"' && c !== '\\' ? c : '\\x' + k.toString(16).padStart(2, '0');
  }
  return o + '"';
}

test('the bundled components pass the Espruino gate', async () => {
  const code = await bundle();
  assert.deepEqual(checkSource(code, 'meters-bundle.js'), []);
});

test('scaleDecimal never hands a zero-padded integer to parseFloat (octal on Espruino)', () => {
  // Emulate Espruino 2v29: an all-digit string with a leading zero is read as octal when it can be.
  const real = globalThis.parseFloat;
  const seen: string[] = [];
  globalThis.parseFloat = ((s: string) => {
    seen.push(s);
    if (/^0[0-7]+$/.test(s)) return parseInt(s, 8);
    return real(s);
  }) as typeof parseFloat;
  try {
    assert.equal(scaleDecimal('00013', 0), 13);
    assert.equal(scaleDecimal('0001.727', 3), 1727);
    assert.equal(scaleDecimal('000000.000', 3), 0);
    assert.equal(scaleDecimal('0010', 0), 10);
  } finally {
    globalThis.parseFloat = real;
  }
  for (const s of seen) assert.ok(!/^0\d/.test(s), 'parseFloat got ' + s);
});

const skip = skipReason();

test('on the real interpreter: every vector decodes to its values; timings', { skip }, async () => {
  const dsmr = JSON.parse(readFileSync(new URL('../vectors/sources/dsmr.json', import.meta.url), 'utf8'));
  const iec = JSON.parse(readFileSync(new URL('../vectors/sources/iec62056.json', import.meta.url), 'utf8'));
  const V = dsmr.valid.map((v: { name: string; telegram: string; options: object; values: object[] }) =>
    '{name:' + jsString(v.name) + ',t:' + jsString(v.telegram) + ',opt:' + JSON.stringify(v.options) + ',want:' + JSON.stringify(v.values) + '}');
  const R = iec.readouts.map((r: { name: string; message: string; values: object[] }) => '{name:' + jsString(r.name) + ',m:' + jsString(r.message) + ',want:' + JSON.stringify(r.values) + '}');
  const script =
    (await bundle()) +
    `
function u8(s){var b=new Uint8Array(s.length);for(var i=0;i<s.length;i++)b[i]=s.charCodeAt(i)&255;return b;}
var V=[${V.join(',\n')}];
var R=[${R.join(',\n')}];
var out={ok:0,bad:[],ms:{}};
function same(a,b){ if(a.length!==b.length) return false; for(var i=0;i<a.length;i++){ var x=a[i],y=b[i]; if(x.n!==y.n||x.u!==y.u||x.v!==y.v||x.s!==y.s||x.vs!==y.vs) return false; } return true; }
V.forEach(function(v){
  var got=null; var o={onTelegram:function(t){got=t;}}; for (var k in v.opt) o[k]=v.opt[k];
  var r=M.createDsmrReader(o); r.push(u8(v.t));
  if (got && same(got.values, v.want)) out.ok++; else out.bad.push(v.name+': '+(got?JSON.stringify(got.values):'none'));
});
R.forEach(function(v){
  var got=null; var p=M.createIecParser({onIdentification:function(){},onBlock:function(b,n){got=M.decodeReadout(b,n);},onBad:function(){}});
  p.expectData(); p.push(u8(v.m));
  if (got && same(got.values, v.want)) out.ok++; else out.bad.push(v.name+': '+(got?JSON.stringify(got.values):'none'));
});
function time(label, n, fn){ var t0=getTime(); for (var i=0;i<n;i++) fn(); out.ms[label]=Math.round((getTime()-t0)*1000/n*10)/10; }
var f5=u8(V[0].t), r5=M.createDsmrReader({onTelegram:function(){}});
time('dsmr5 field telegram 890 B', 10, function(){ r5.push(f5); });
time('crc16 890 B', 10, function(){ M.crc16(f5); });
var fr=M.createP1Framer(3000,function(){});
time('dsmr5 framing only 890 B', 10, function(){ fr.push(f5); });
var fl=u8(V.filter(function(v){return v.name==='fluvius_emucs171';})[0].t), rf=M.createDsmrReader({peaks:true,onTelegram:function(){}});
time('fluvius telegram with peaks 1059 B', 10, function(){ rf.push(fl); });
var lg=u8(R[1].m), pg=M.createIecParser({onIdentification:function(){},onBlock:function(b,n){M.decodeReadout(b,n);},onBad:function(){}});
time('iec Landis+Gyr readout 4552 B', 5, function(){ pg.expectData(); pg.push(lg); });
var lo=u8(R[0].m), pl=M.createIecParser({onIdentification:function(){},onBlock:function(b,n){M.decodeReadout(b,n);},onBad:function(){}});
time('iec Logarex readout 658 B', 10, function(){ pl.expectData(); pl.push(lo); });
// The sources on a host whose serial port is a script: DSMR bytes in 64-byte chunks; an
// IEC 62056-21 meter answering the request and the acknowledgement, the baud switch recorded.
var clock={now:function(){return getTime()*1000;},uptime:function(){return getTime()*1000;},synced:function(){return true;}};
var timers={setTimeout:function(f,ms){return setTimeout(f,ms);},clearTimeout:function(h){clearTimeout(h);}};
var chunks=[], dOpts=null;
var dHost={clock:clock,timers:timers,io:{serial:function(o){dOpts=o;return {read:function(){return chunks.shift();},write:function(){},setBaud:function(){},close:function(){}};}}};
var dsrc=M.dsmrSource.create(dHost,'p1',10000,{port:'Serial2',version:'5',maxTelegramBytes:3000,maxAgeMs:30000,readTimeoutMs:12000,requestMode:'continuous',peaks:false});
for (var o=0;o<f5.length;o+=64){ chunks.push(f5.subarray(o,o+64)); dOpts.onReadable(64); }
dsrc.read(function(e,v){ out.dsmrDriver = e ? e.message : same(v, V[0].want); });
var iOpts=null, bauds=[], inbox=[];
function send(s){ inbox.push(u8(s)); iOpts.onReadable(s.length); }
var iHost={clock:clock,timers:timers,io:{serial:function(o){iOpts=o;return {
  read:function(){return inbox.shift();},
  write:function(d){ var s=''; for (var i=0;i<d.length;i++) s+=String.fromCharCode(d[i]);
    if (s==='/?!\\r\\n') setTimeout(function(){ send('/?!\\r\\n/LOG5LK13BE803039\\r\\n'); }, 20);
    else if (s==='\\x06050\\r\\n') setTimeout(function(){ var m=R[0].m; for (var k=0;k<m.length;k+=100) send(m.substring(k,k+100)); }, 40); },
  setBaud:function(b){ bauds.push(b); }, close:function(){}};}}};
var isrc=M.iec62056Source.create(iHost,'d0',60000,{port:'Serial1',address:'',identTimeoutMs:3000,ackDelayMs:20,switchDelayMs:10,charTimeoutMs:1500,dataTimeoutMs:60000,retries:0,retryDelayMs:1500,maxReadoutBytes:8192});
isrc.read(function(e,v){ out.iecDriver = e ? e.message : same(v, R[0].want); out.bauds = bauds; print('RESULT '+JSON.stringify(out)); });
`;
  const r = await runEspruino(script, { timeoutMs: 120_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, r.stdout.slice(-2000));
  const res = JSON.parse(line.substring(7));
  assert.deepEqual(res.bad, []);
  assert.equal(res.ok, dsmr.valid.length + iec.readouts.length);
  assert.equal(res.dsmrDriver, true);
  assert.equal(res.iecDriver, true);
  // 300 for the request, 9600 after the acknowledgement, 300 again when done.
  assert.deepEqual(res.bauds, [300, 9600, 300]);
  console.log('# espruino timings (ms per call): ' + JSON.stringify(res.ms));
});
