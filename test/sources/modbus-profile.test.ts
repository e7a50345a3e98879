// Meter profiles: the JSON files, the generated built-in module, the schema's errors, request
// planning (as few reads as the bounds allow) and the field vectors' requests from the plans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkProfile, compileProfile, planReads, PROFILE_LIMITS, UNITS, type ModbusProfile } from '../../firmware/core/sources/modbus/profile.js';
import { builtinProfile, BUILTIN_PROFILES } from '../../firmware/core/sources/modbus/profiles/builtin.js';
import { buildReadRequest, MODBUS, TYPE_NAMES } from '../../firmware/core/sources/modbus/decoder.js';
import { prng } from '../../agent-sim/sources/profiles.js';
import { generateBuiltin, readProfiles, BUILTIN_PATH } from './modbus-gen-profiles.js';
import { VECTORS } from './modbus-frames.js';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');

test('profiles/builtin.ts is generated from the JSON files (run modbus-gen-profiles.ts after editing one)', () => {
  assert.equal(readFileSync(BUILTIN_PATH, 'utf8'), generateBuiltin());
});

test('every JSON profile is valid, cites its source, and matches its built-in copy', () => {
  const files = readProfiles();
  assert.deepEqual(files.map((f) => f.json.name).sort(), ['dds238', 'ddsu666', 'pzem004t', 'sdm120', 'sdm630']);
  assert.deepEqual(BUILTIN_PROFILES, files.map((f) => f.json.name));
  for (const { file, json } of files) {
    assert.equal(file, json.name + '.json');
    assert.deepEqual(checkProfile(json, file).errors, [], file);
    assert.ok(typeof json.source === 'string' && json.source.length > 40, file + ' cites no source');
    for (const q of json.quantities) assert.ok(typeof q.doc === 'string' && q.doc.length > 0, file + ' ' + q.n + ' has no doc');
    // The device copy drops only the documentation fields.
    const strip = (p: any) => ({ ...p, source: undefined, notes: undefined, quantities: p.quantities.map((q: any) => ({ ...q, doc: undefined })) });
    assert.deepEqual(JSON.parse(JSON.stringify(strip(builtinProfile(json.name)))), JSON.parse(JSON.stringify(strip(json))));
  }
  assert.equal(builtinProfile('nope'), undefined);
  // A fresh copy per call: changing one does not change the next.
  builtinProfile('sdm120')!.quantities[0].addr = 99;
  assert.equal(builtinProfile('sdm120')!.quantities[0].addr, 0);
});

test('every SenML name, unit and kind the profiles use is documented in docs/sources/modbus.md', () => {
  const doc = readFileSync(new URL('../../docs/sources/modbus.md', import.meta.url), 'utf8');
  for (const { json } of readProfiles())
    for (const q of json.quantities) {
      const kind = q.flag ? 'vb' : q.total ? 's' : 'v';
      const row = new RegExp('^\\| `' + q.n.replace(/_l[123]$/, '_lN') + '` \\| ' + (q.unit ? '`' + q.unit.replace('/', '\\/') + '`' : '-') + ' \\| ' + kind + ' \\|', 'm');
      assert.match(doc, row, json.name + ' ' + q.n);
    }
});

test('profile schema errors name the field and the rule', () => {
  const good = (): any => JSON.parse(JSON.stringify(builtinProfile('pzem004t')));
  const cases: [(p: any) => void, string][] = [
    [(p) => (p.quantities[1].type = 'f32'), 'p.quantities[1].type: expected one of ' + TYPE_NAMES.join(', ') + ', got "f32"'],
    [(p) => (p.quantities[1].type = 'u23_abcd'), 'p.quantities[1].type: expected one of ' + TYPE_NAMES.join(', ') + ', got "u23_abcd"; did you mean "u32_abcd"?'],
    [(p) => (p.quantities[0].fc = 6), 'p.quantities[0].fc: expected an integer in 3..4, got 6'],
    [(p) => (p.quantities[0].addr = 65536), 'p.quantities[0].addr: expected an integer in 0..65535, got 65536'],
    [(p) => (p.quantities[1].addr = 65535), 'p.quantities[1].addr: a u32_cdab needs 2 registers, so at most 65534, got 65535'],
    [(p) => (p.quantities[2].n = 'u'), 'p.quantities[2].n: "u" is already used by quantities[0]'],
    [(p) => (p.quantities[2].n = 'P'), 'p.quantities[2].n: lower-case letters, digits and _, starting with a letter, got "P"'],
    [(p) => (p.quantities[2].n = 'a_very_long_name'), 'p.quantities[2].n: at most 12 characters, got 16'],
    [(p) => (p.quantities[0].scale = 0), 'p.quantities[0].scale: expected a non-zero number, got 0'],
    [(p) => (p.quantities[0].scale = 2e9), 'p.quantities[0].scale: expected a number in -1000000000..1000000000, got 2000000000'],
    [(p) => (p.quantities[3].unit = 'kWh'), 'p.quantities[3].unit: expected one of ' + UNITS.join(', ') + ', got "kWh"; did you mean "Wh"?'],
    [(p) => (p.quantities[6].total = true), 'p.quantities[6].flag: a flag cannot also be a total'],
    [(p) => (p.quantities[6].unit = 'V'), 'p.quantities[6].flag: a flag has no unit or decimals'],
    [(p) => (p.quantities[0].decimals = 10), 'p.quantities[0].decimals: expected an integer in 0..9, got 10'],
    [(p) => (p.quantities[0].adr = 1), 'p.quantities[0].adr: unknown option; did you mean "addr"?'],
    [(p) => delete p.quantities[0].fc, 'p.quantities[0].fc: required option missing'],
    [(p) => (p.maxRegs = 1), 'p.quantities[1].type: a u32_cdab needs 2 registers but maxRegs is 1'],
    [(p) => (p.maxRegs = 126), 'p.maxRegs: expected an integer in 1..125, got 126'],
    [(p) => (p.maxGap = -1), 'p.maxGap: expected an integer in 0..124, got -1'],
    [(p) => (p.quantities = []), 'p.quantities: expected at least one quantity'],
    [(p) => (p.quantities = 'u'), 'p.quantities: expected an array, got "u"'],
    [(p) => (p.name = 'PZEM'), 'p.name: lower-case letters, digits, _ and - only, got "PZEM"'],
    [(p) => delete p.name, 'p.name: required option missing'],
  ];
  for (const [edit, msg] of cases) {
    const p = good();
    edit(p);
    const r = checkProfile(p, 'p');
    assert.ok(r.errors.includes(msg), 'expected ' + JSON.stringify(msg) + ', got ' + JSON.stringify(r.errors));
  }
  // The bound on quantities: 48 pass, 49 are refused.
  const many = (n: number) => ({ name: 'many', quantities: Array.from({ length: n }, (_, k) => ({ n: 'q' + k, fc: 3, addr: k, type: 'u16' })) });
  assert.deepEqual(checkProfile(many(PROFILE_LIMITS.MAX_QUANTITIES), 'p').errors, []);
  assert.deepEqual(checkProfile(many(PROFILE_LIMITS.MAX_QUANTITIES + 1), 'p').errors, ['p.quantities: at most 48 items, got 49']);
  assert.deepEqual(checkProfile(null, 'p').errors, ['p: expected an object, got null']);
  assert.throws(() => compileProfile({ name: 'x', quantities: [] }, 'map'), (e: any) => e.code === 'E_PROFILE' && /map\.quantities: expected at least one quantity/.test(e.message));
});

test('planning: as few reads as maxRegs and maxGap allow', () => {
  const plan = (name: string, maxRegs?: number, maxGap?: number, only?: string[]) => {
    const p = compileProfile(builtinProfile(name), name);
    return planReads(p, maxRegs ?? p.maxRegs, maxGap ?? p.maxGap, only).map((g) => [g.fc, g.addr, g.count, g.members.length]);
  };
  // SDM120: 0x0000-0x001F (five floats, gaps of 4 and 10), 0x0046-0x004B, 0x0156.
  assert.deepEqual(plan('sdm120'), [[4, 0x00, 32, 5], [4, 0x46, 6, 3], [4, 0x156, 2, 1]]);
  // SDM630: 0x0000-0x004B in one read of 76 (gaps up to 16), then 0x00E0 and 0x0156.
  assert.deepEqual(plan('sdm630'), [[4, 0x00, 76, 18], [4, 0xe0, 2, 1], [4, 0x156, 2, 1]]);
  assert.deepEqual(plan('ddsu666'), [[3, 0x2000, 16, 6], [3, 0x4000, 12, 2]]);
  assert.deepEqual(plan('dds238'), [[3, 0, 18, 9]]);
  assert.deepEqual(plan('pzem004t'), [[4, 0, 10, 7]]);
  // Tighter bounds split: no gaps allowed, or at most 2 registers per read.
  assert.deepEqual(plan('sdm120', 80, 0), [[4, 0x00, 2, 1], [4, 0x06, 2, 1], [4, 0x0c, 2, 1], [4, 0x18, 2, 1], [4, 0x1e, 2, 1], [4, 0x46, 6, 3], [4, 0x156, 2, 1]]);
  assert.deepEqual(plan('pzem004t', 2, 0), [[4, 0, 1, 1], [4, 1, 2, 1], [4, 3, 2, 1], [4, 5, 2, 1], [4, 7, 2, 2], [4, 9, 1, 1]]);
  assert.throws(() => plan('pzem004t', 1, 0), (e: any) => e.code === 'E_CONFIG' && /maxRegs: 1 is less than the 2 registers of "i" \(u32_cdab\)/.test(e.message));
  assert.deepEqual(plan('pzem004t', 1, 0, ['u', 'f', 'pf', 'alarm']), [[4, 0, 1, 1], [4, 7, 1, 1], [4, 8, 1, 1], [4, 9, 1, 1]]);
  // A selection reads only what it names, once each.
  assert.deepEqual(plan('sdm120', undefined, undefined, ['e', 'u', 'e']), [[4, 0, 2, 1], [4, 0x48, 2, 1]]);
  assert.throws(() => plan('sdm120', undefined, undefined, ['u', 'volts']), (e: any) => e.code === 'E_CONFIG' && /only\[1\]: profile "sdm120" has no quantity "volts" \(known: u, i, p, q, pf, f, e, e_exp, e_tot\)/.test(e.message));
});

test('planning property: random profiles; every read within the bounds, every quantity covered once', () => {
  const rnd = prng(11);
  for (let t = 0; t < 300; t++) {
    const n = 1 + Math.floor(rnd() * 30);
    const qs = [];
    for (let k = 0; k < n; k++) qs.push({ n: 'q' + k, fc: rnd() < 0.5 ? 3 : 4, addr: Math.floor(rnd() * 300), type: TYPE_NAMES[Math.floor(rnd() * TYPE_NAMES.length)] });
    const p = compileProfile({ name: 'r', quantities: qs }, 'r');
    const maxRegs = 2 + Math.floor(rnd() * 124);
    const maxGap = Math.floor(rnd() * 20);
    const groups = planReads(p, maxRegs, maxGap);
    const seen = new Array(n).fill(0);
    for (const g of groups) {
      assert.ok(g.count >= 1 && g.count <= maxRegs, 'count ' + g.count + ' > ' + maxRegs);
      for (const m of g.members) {
        const q = p.q[m];
        assert.equal(q.fc, g.fc);
        assert.ok(q.addr >= g.addr && q.addr + q.words <= g.addr + g.count);
        seen[m]++;
      }
      // No gap inside a read wider than maxGap.
      const covered = new Array(g.count).fill(false);
      for (const m of g.members) for (let w = 0; w < p.q[m].words; w++) covered[p.q[m].addr - g.addr + w] = true;
      let run = 0;
      for (const c of covered) {
        run = c ? 0 : run + 1;
        assert.ok(run <= maxGap);
      }
    }
    assert.deepEqual(seen, new Array(n).fill(1));
  }
});

test('the field vectors\' requests come out of the plans byte-identical', () => {
  const req = (name: string, only: string[]) => {
    const p = compileProfile(builtinProfile(name), name);
    const [g] = planReads(p, p.maxRegs, p.maxGap, only);
    return hex(buildReadRequest(1, g.fc, g.addr, g.count));
  };
  const fv = (d: string) => VECTORS.requests.find((r) => r.source.endsWith(d))!.hex;
  assert.equal(req('sdm120', ['u']), fv('sdm_read_voltage_L1_req'));
  assert.equal(req('sdm630', ['u_l1']), fv('sdm_read_voltage_L1_req'));
  assert.equal(req('sdm120', ['e']), fv('sdm_read_import_kwh_req'));
  assert.equal(req('sdm120', ['e_tot']), fv('sdm_read_total_kwh_req'));
  assert.equal(req('ddsu666', ['u']), fv('ddsu666_voltage_req_fc03'));
  assert.equal(req('ddsu666', ['e']), fv('ddsu666_import_req_fc03'));
  const p = compileProfile(builtinProfile('pzem004t'), 'pzem004t');
  const [g] = planReads(p, p.maxRegs, p.maxGap);
  assert.equal(hex(buildReadRequest(1, g.fc, g.addr, g.count)), fv('pzem004t_req'));
  assert.equal(MODBUS.MAX_READ_REGISTERS, 125);
});

test('an embedded map compiles like a built-in one; decimal scales divide exactly', () => {
  const map: ModbusProfile = { name: 'custom', maxRegs: 4, quantities: [{ n: 'u', fc: 4, addr: 0, type: 'u16', scale: 0.1, unit: 'V' }, { n: 'e', fc: 4, addr: 2, type: 'u32_cdab', scale: 0.001, unit: 'Wh', total: true }] };
  const p = compileProfile(map, 'map');
  assert.equal(p.q[0].div, 10);
  assert.equal(p.q[1].div, 1000);
  assert.equal(p.q[1].kind, 1);
  assert.equal(p.model, 'custom');
  assert.equal(p.maxGap, 0);
  // A scale that is not 1/integer multiplies.
  const q = compileProfile({ name: 'x', quantities: [{ n: 'a', fc: 3, addr: 0, type: 'u16', scale: 0.4 }] }, 'x').q[0];
  assert.equal(q.div, 0);
  assert.equal(q.mul, 0.4);
});
