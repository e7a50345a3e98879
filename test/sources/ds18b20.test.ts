import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  maximCrc8,
  ds18b20Decode,
  ds18b20RomCheck,
  ds18b20RomHex,
  ds18b20RomName,
  ds18b20RomFromHex,
} from '../../firmware/core/sources/ds18b20/decoder.js';
import { ds18b20Source } from '../../firmware/core/sources/ds18b20/driver.js';
import { DS18B20_SCHEMA, DS18B20_MAX_SENSORS, DS18B20_MAX_CONVERT_POLLS } from '../../firmware/core/sources/ds18b20/schema.js';
import { validate } from '../../firmware/core/config/schema.js';
import { Ds18b20Sim, dallasCrc, romFor } from '../../agent-sim/peripherals/ds18b20.js';
import { rig, readOnce, val, prng, hex, type TestRig } from './sensor-host.js';
import { benchFrames, decodeOnce } from './ds18b20-frames.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/ds18b20.json', import.meta.url), 'utf8'));
const FIELD = JSON.parse(readFileSync('/work/shared/vectors/field-vectors.json', 'utf8')).sensors;

test('CRC-8 and ROM vectors: AN27 example, ROM checks, names', () => {
  assert.equal(maximCrc8(hex(FIELD.maxim_crc8_example.in), 0, 7), parseInt(FIELD.maxim_crc8_example.crc, 16));
  for (const v of V.roms) {
    const rom = hex(v.rom);
    if (v.crc) assert.equal(maximCrc8(rom, 0, 7), parseInt(v.crc, 16), v.name);
    assert.equal(ds18b20RomCheck(rom), v.check, v.name);
    if (v.reading_name) {
      assert.equal(ds18b20RomName(rom), v.reading_name);
      assert.equal(ds18b20RomHex(rom), v.hex);
      assert.deepEqual(ds18b20RomFromHex(v.hex.toUpperCase()), rom);
    }
  }
  assert.equal(ds18b20RomFromHex('28ff641e0f16039'), undefined);
  assert.equal(ds18b20RomFromHex('28ff641e0f16039g'), undefined);
  assert.equal(ds18b20RomCheck(new Uint8Array(7)), 'crc');
});

test('scratchpad vectors: datasheet Table 1, public captures, masking, and every rejection', () => {
  for (const v of V.valid) {
    const d = ds18b20Decode(hex(v.scratchpad));
    assert.equal(d.status, 'ok', v.name);
    assert.equal(d.t, v.t, v.name);
    assert.equal(d.resolution, v.resolution, v.name);
  }
  for (const v of V.invalid) assert.equal(ds18b20Decode(hex(v.scratchpad)).status, v.status, v.name);
  assert.equal(ds18b20Decode(hex(FIELD.ds18b20_poweron_scratchpad_85C.frame)).status, 'poweron');
});

test('every single-byte corruption of every valid scratchpad is rejected (exhaustive)', () => {
  let n = 0;
  for (const v of V.valid) {
    const good = hex(v.scratchpad);
    for (let i = 0; i < 9; i++)
      for (let x = 1; x < 256; x++) {
        const b = good.slice();
        b[i] ^= x;
        assert.notEqual(ds18b20Decode(b).status, 'ok', v.name + ' byte ' + i + ' ^ ' + x);
        n++;
      }
  }
  assert.equal(n, V.valid.length * 9 * 255);
});

test('fuzz: 60,000 random and mutated scratchpads; an accepted one is always a valid, plausible scratchpad', (t) => {
  const rnd = prng(18);
  const base = V.valid.map((v: { scratchpad: string }) => hex(v.scratchpad));
  let randomOk = 0;
  let mutatedOk = 0;
  for (let n = 0; n < 60000; n++) {
    let b: Uint8Array;
    if (n % 2) {
      b = new Uint8Array(9);
      for (let i = 0; i < 9; i++) b[i] = Math.floor(rnd() * 256);
    } else {
      b = base[n % base.length].slice();
      const k = 2 + Math.floor(rnd() * 4);
      for (let j = 0; j < k; j++) b[Math.floor(rnd() * 9)] ^= 1 + Math.floor(rnd() * 255);
    }
    const d = ds18b20Decode(b);
    if (d.status !== 'ok') continue;
    assert.equal(dallasCrc(b, 8), b[8]);
    assert.equal(b[4] & 0x9f, 0x1f);
    assert.ok(d.t >= -55 && d.t <= 125 && d.t !== 85);
    if (n % 2) randomOk++;
    else if (!base.some((x: Uint8Array) => x.every((y, i) => y === b[i]))) mutatedOk++;
  }
  t.diagnostic('accepted: random ' + randomOk + ' / 30000, multi-byte mutations ' + mutatedOk + ' / 30000');
  assert.ok(randomOk <= 10);
  assert.ok(mutatedOk <= 30000 / 256);
});

test('simulator: power-on scratchpad is the field vector; ROM CRCs valid', () => {
  const sim = new Ds18b20Sim(() => 0, romFor('0000075a8d2b'));
  assert.deepEqual(sim.scratchpad(), hex(FIELD.ds18b20_poweron_scratchpad_85C.frame));
  assert.deepEqual(sim.rom, hex(V.roms[1].rom));
});

interface Bus {
  r: TestRig;
  sims: Ds18b20Sim[];
  src: ReturnType<typeof ds18b20Source.create>;
}

function setup(serials: string[], cfg: Record<string, unknown> = {}): Bus {
  const r = rig();
  const bus = r.sim.oneWireBus('D4');
  const sims = serials.map((s, i) => {
    const sim = new Ds18b20Sim(r.vt.now, romFor(s), i + 1);
    bus.attach(sim);
    return sim;
  });
  const v = validate(DS18B20_SCHEMA, { pin: 'D4', ...cfg }, 'ds');
  assert.deepEqual(v.errors, []);
  return { r, sims, src: ds18b20Source.create(r.host, 'temps', 60000, v.value) };
}

test('round trip: three sensors found by search, named t_<serial>, values equal the truth to the resolution', () => {
  const { r, sims, src } = setup(['03160f1e64ff', '0000075a8d2b', '00000a1b2c3d']);
  try {
    const truth = [21.5, -10.0625, 99.9];
    sims.forEach((s, i) => (s.temperature = truth[i]));
    const res = readOnce(r.vt, src);
    assert.equal(res.err, undefined);
    assert.equal(res.ms, 760, '750 ms (12 bit) + 10 ms margin');
    assert.deepEqual(
      res.values!.map((v) => v.n),
      ['t_0000075a8d2b', 't_00000a1b2c3d', 't_03160f1e64ff'],
    );
    assert.ok(res.values!.every((v) => v.u === 'Cel'));
    assert.equal(val(res.values, 't_03160f1e64ff'), 21.5);
    assert.equal(val(res.values, 't_0000075a8d2b'), -10.0625);
    assert.equal(val(res.values, 't_00000a1b2c3d'), 99.875);
    for (const s of sims) assert.equal(s.conversions, 1, 'one Convert T for the whole bus (Skip ROM)');
    sims[0].temperature = -55;
    sims[1].temperature = 125;
    sims[2].temperature = 0.03;
    const again = readOnce(r.vt, src);
    assert.deepEqual(again.values!.map((v) => v.v), [125, 0, -55]);
    assert.deepEqual(src.stats!(), {
      reads: 2, ok: 6, noPresence: 0, searches: 1, badRom: 0, otherFamily: 0, overflow: 0, absent: 0, crc: 0, config: 0,
      poweron: 0, range: 0, resolution: 0, stuck: 0, slow: 0, notReady: 0, configWrites: 0,
    });
  } finally {
    r.done();
  }
});

test('resolution 9: scratchpad written once (TH/TL kept), 94 ms wait, undefined bits cleared', () => {
  const { r, sims, src } = setup(['0000075a8d2b'], { resolution: 9 });
  try {
    sims[0].temperature = 23.4375; // 12-bit code 0x177; at 9 bits 23.0 or 23.5
    const res = readOnce(r.vt, src);
    assert.equal(res.err, undefined);
    assert.equal(res.ms, 104);
    assert.equal(val(res.values, 't_0000075a8d2b'), 23);
    const sp = sims[0].scratchpad();
    assert.deepEqual([sp[2], sp[3], sp[4]], [0x4b, 0x46, 0x1f]);
    for (let i = 0; i < 5; i++) assert.equal(readOnce(r.vt, src).err, undefined);
    assert.equal(src.stats!().configWrites, 1);
    assert.deepEqual(sims[0].commands.filter((c) => c === 0x4e).length, 1);
  } finally {
    r.done();
  }
});

test('configured list: custom names; a missing sensor is counted and the others delivered; none -> E_NO_DEVICE', () => {
  const present = romFor('0000075a8d2b');
  const absent = romFor('00000a1b2c3d');
  const { r, src } = setup(['0000075a8d2b'], {
    sensors: [
      { rom: Buffer.from(present).toString('hex'), name: 'inlet' },
      { rom: Buffer.from(absent).toString('hex').toUpperCase() },
    ],
  });
  try {
    const res = readOnce(r.vt, src);
    assert.equal(res.err, undefined);
    assert.deepEqual(res.values!.map((v) => v.n), ['inlet']);
    assert.equal(src.stats!().absent, 1);
    assert.equal(src.stats!().searches, 0);
  } finally {
    r.done();
  }
  const none = setup([], { sensors: [{ rom: Buffer.from(absent).toString('hex') }] });
  try {
    const res = readOnce(none.r.vt, none.src);
    assert.equal(res.err?.code, 'E_NO_DEVICE');
    assert.equal(none.src.stats!().noPresence, 1);
  } finally {
    none.r.done();
  }
  const empty = setup([]);
  try {
    assert.equal(readOnce(empty.r.vt, empty.src).err?.code, 'E_NO_DEVICE');
  } finally {
    empty.r.done();
  }
});

test('the power-on +85 Cel scratchpad is never a reading: read too early, or a part that resets during conversion', () => {
  const { r, sims, src } = setup(['0000075a8d2b'], { parasite: true, convertMarginMs: 0 });
  try {
    // parasite power: no polling possible; a slow part is read before its first conversion ends
    sims[0].faults.convertFactor = 1.2;
    let res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_POWER_ON');
    assert.equal(res.values, undefined);
    assert.equal(sims[0].poweredConversions, 1, 'strong pull-up during Convert T');
    sims[0].faults.convertFactor = 0.8;
    r.vt.advance(1000);
    res = readOnce(r.vt, src);
    assert.equal(res.err, undefined);
    sims[0].faults.neverConverts = true;
    res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_POWER_ON');
    assert.equal(src.stats!().poweron, 2);
  } finally {
    r.done();
  }
});

test('slow clones: polled until done (counted), or E_NOT_READY; faults: bad CRC, stuck', () => {
  const { r, sims, src } = setup(['0000075a8d2b'], { convertPolls: 4, stuckReads: 3 });
  try {
    sims[0].faults.convertFactor = 1.1; // 825 ms: 760 + 3 polls of 25 ms
    let res = readOnce(r.vt, src);
    assert.equal(res.err, undefined);
    assert.equal(res.ms, 760 + 3 * 25);
    assert.equal(src.stats!().slow, 1);
    sims[0].faults.convertFactor = 2;
    res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_NOT_READY');
    assert.equal(res.ms, 760 + 4 * 25);
    sims[0].faults.convertFactor = 0.8;
    r.vt.advance(2000);
    sims[0].faults.badCrc = true;
    res = readOnce(r.vt, src);
    assert.equal(res.err?.code, 'E_CRC');
    sims[0].faults.badCrc = false;
    sims[0].temperature = 22; // differs from the 21.5 read before
    sims[0].faults.stuck = true;
    assert.equal(readOnce(r.vt, src).err, undefined);
    sims[0].temperature = 40;
    assert.equal(readOnce(r.vt, src).err, undefined);
    assert.equal(readOnce(r.vt, src).err?.code, 'E_STUCK');
    sims[0].faults.stuck = false;
    res = readOnce(r.vt, src);
    assert.equal(val(res.values, 't_0000075a8d2b'), 40);
    const st = src.stats!();
    assert.deepEqual([st.crc, st.stuck, st.notReady, st.slow], [1, 1, 1, 2]);
  } finally {
    r.done();
  }
});

test('a power glitch resets a part to 12 bits: detected, rewritten, back to 9-bit readings', () => {
  const { r, sims, src } = setup(['0000075a8d2b'], { resolution: 9 });
  try {
    assert.equal(readOnce(r.vt, src).err, undefined);
    sims[0].powerOn(); // back to the EEPROM configuration 0x7F (12 bit)
    const glitch = readOnce(r.vt, src);
    assert.equal(glitch.err?.code, 'E_NOT_READY', 'a 12-bit conversion outlasts the 9-bit wait and its polls');
    r.vt.advance(1000);
    const back = readOnce(r.vt, src);
    assert.equal(back.err, undefined);
    assert.equal(sims[0].resolution(), 9);
    assert.equal(src.stats!().configWrites, 2);
  } finally {
    r.done();
  }
});

test('search: bad ROM CRCs and other families ignored; maxSensors keeps the lowest serials; re-search after a sensor leaves', () => {
  const { r, sims, src } = setup(['0000000000a3', '0000000000a1', '0000000000a2'], { maxSensors: 2 });
  const bus = r.sim.oneWireBus('D4');
  try {
    bus.attach(new Ds18b20Sim(r.vt.now, romFor('0000000000a0', 0x28, true)));
    bus.attach(new Ds18b20Sim(r.vt.now, romFor('0000000000a0', 0x10)));
    let res = readOnce(r.vt, src);
    assert.deepEqual(res.values!.map((v) => v.n), ['t_0000000000a1', 't_0000000000a2']);
    let st = src.stats!();
    assert.deepEqual([st.badRom, st.otherFamily, st.overflow], [1, 1, 1]);
    bus.detach(sims[1]); // a1 leaves
    res = readOnce(r.vt, src);
    assert.deepEqual(res.values!.map((v) => v.n), ['t_0000000000a2']);
    assert.equal(src.stats!().absent, 1);
    res = readOnce(r.vt, src);
    assert.deepEqual(res.values!.map((v) => v.n), ['t_0000000000a2', 't_0000000000a3']);
    st = src.stats!();
    assert.equal(st.searches, 2);
  } finally {
    r.done();
  }
});

test('fuzz the driver: 1,500 reads with random scratchpad corruption; values only from valid scratchpads', (t) => {
  const { r, sims, src } = setup(['0000075a8d2b', '00000a1b2c3d'], { resolution: 10 });
  const rnd = prng(99);
  const tally: Record<string, number> = {};
  try {
    for (let n = 0; n < 1500; n++) {
      const seen: Uint8Array[] = [];
      for (const s of sims) {
        s.temperature = -55 + rnd() * 180;
        s.faults.mutate = (b) => {
          const k = Math.floor(rnd() * 3);
          for (let j = 0; j < k; j++) b[Math.floor(rnd() * 9)] ^= 1 + Math.floor(rnd() * 255);
          seen.push(b.slice());
        };
      }
      const res = readOnce(r.vt, src);
      assert.equal(res.calls, 1);
      tally[res.err?.code ?? 'ok'] = (tally[res.err?.code ?? 'ok'] ?? 0) + 1;
      for (const v of res.values ?? []) {
        // the value must come from one of the scratchpads read, and that one must be valid
        const from = seen.filter((b) => ds18b20Decode(b).status === 'ok' && ds18b20Decode(b).t === v.v);
        assert.ok(from.length > 0, 'value ' + v.v + ' from no valid scratchpad');
      }
    }
  } finally {
    r.done();
  }
  t.diagnostic('outcomes ' + JSON.stringify(tally) + ' stats ' + JSON.stringify(src.stats!()));
  assert.ok(tally.ok > 700);
});

test('schema and create errors name the field', () => {
  assert.deepEqual(
    validate(
      DS18B20_SCHEMA,
      { resolution: 8, maxSensors: 17, convertPolls: 41, sensors: [{ rom: '28ff641e0f16039' }, { rom: '28ff641e0f160390', name: 'a-b' }, { name: 'x' }] },
      's',
    ).errors,
    [
      's.pin: required option missing',
      's.resolution: expected an integer in 9..12, got 8',
      's.sensors[0].rom: 16 hex digits in bus order, family first ("28...", CRC last), as a 1-Wire search prints it, got "28ff641e0f16039"',
      's.sensors[1].name: letters, digits and _ only, got "a-b"',
      's.sensors[2].rom: required option missing',
      's.maxSensors: expected an integer in 1..16, got 17',
      's.convertPolls: expected an integer in 0..40, got 41',
    ],
  );
  assert.deepEqual(validate(DS18B20_SCHEMA, { pin: 'D4', sensors: new Array(17).fill({ rom: '28ff641e0f160390' }) }, 's').errors, ['s.sensors: at most 16 items, got 17']);
  const r = rig();
  try {
    const make = (sensors: unknown) => ds18b20Source.create(r.host, 'x', 1000, validate(DS18B20_SCHEMA, { pin: 'D4', sensors }, '').value);
    assert.throws(() => make([{ rom: '28ff641e0f160391' }]), /sensors\[0\]\.rom: CRC byte does not match the ROM, got "28ff641e0f160391"/);
    assert.throws(() => make([{ rom: '021cb801000000a2' }]), /sensors\[0\]\.rom: family 0x02 is not a DS18B20/);
    assert.throws(() => make([{ rom: '28ff641e0f160390' }, { rom: '282b8d5a070000ce', name: 't_03160f1e64ff' }]), /sensors\[1\]: name "t_03160f1e64ff" is used twice/);
    assert.throws(() => ds18b20Source.create({ ...r.host, io: {} }, 'x', 1000, validate(DS18B20_SCHEMA, { pin: 'D4' }, '').value), { code: 'E_NO_IO' });
  } finally {
    r.done();
  }
});

test('bounds at their limits: 16 configured sensors, 16 kept of 17 found, 40 conversion polls', () => {
  const serials = Array.from({ length: 17 }, (_, i) => (0x100 + i).toString(16).padStart(12, '0'));
  const listed = setup(serials.slice(0, 16), { sensors: serials.slice(0, 16).map((s) => ({ rom: Buffer.from(romFor(s)).toString('hex') })) });
  try {
    assert.equal(readOnce(listed.r.vt, listed.src).values!.length, DS18B20_MAX_SENSORS);
  } finally {
    listed.r.done();
  }
  const found = setup(serials, { maxSensors: DS18B20_MAX_SENSORS, convertPolls: DS18B20_MAX_CONVERT_POLLS });
  try {
    const res = readOnce(found.r.vt, found.src);
    assert.equal(res.values!.length, 16);
    assert.equal(found.src.stats!().overflow, 1);
    for (const s of found.sims) s.faults.convertFactor = 10;
    const slow = readOnce(found.r.vt, found.src);
    assert.equal(slow.err?.code, 'E_NOT_READY');
    assert.equal(slow.ms, 760 + 40 * 25);
  } finally {
    found.r.done();
  }
});

test('stop(): no callback after it', () => {
  const { r, src } = setup(['0000075a8d2b']);
  try {
    let calls = 0;
    src.read(() => calls++);
    src.stop!();
    r.vt.advance(2000);
    assert.equal(calls, 0);
  } finally {
    r.done();
  }
});

test('bench helpers', () => {
  for (const f of benchFrames()) assert.equal((decodeOnce(f.bytes) as { status: string }).status, 'ok');
});
