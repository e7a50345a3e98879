// checkDeviceConfig: a device config's pins and ports against a board file. Reserved pins are
// rejected naming the pin and why; a pin or port used twice is rejected unless the sources share
// a bus; input-only pins cannot drive; S0 on a pin without pull-up warns; ports the chip lacks
// are rejected; Espruino's default pins count when a pin is left out; role references resolve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  analyzeDeviceConfig,
  checkDeviceConfig,
  isWarning,
  resolveDeviceConfig,
  resolveRef,
  validateBoard,
  WARNING_MARK,
  type Board,
} from '../../firmware/espruino/board.js';
import { checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import { s0Source } from '../../firmware/core/sources/s0/driver.js';
import { modbusSource } from '../../firmware/core/sources/modbus/driver.js';
import { dsmrSource } from '../../firmware/core/sources/dsmr/driver.js';
import { sht31Source } from '../../firmware/core/sources/sht31/driver.js';
import { ds18b20Source } from '../../firmware/core/sources/ds18b20/driver.js';
import { BUILTIN_PROFILES } from '../../firmware/core/sources/modbus/profiles/builtin.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const IDS = ['esp32-devkitc', 'lolin-d1-mini-esp32', 'esp32-c3-supermini', 'esp32-s3-devkitc-1', 'm5stack-atom-lite'];
const B: Record<string, Board> = {};
for (const id of IDS) B[id] = validateBoard(JSON.parse(readFileSync(join(ROOT, 'boards', id + '.json'), 'utf8')));
const devkitc = B['esp32-devkitc'];
const c3 = B['esp32-c3-supermini'];
const s3 = B['esp32-s3-devkitc-1'];
const atom = B['m5stack-atom-lite'];

const errorsOf = (b: Board, sources: object[]) => analyzeDeviceConfig(b, { sources }).errors;
const warningsOf = (b: Board, sources: object[]) => analyzeDeviceConfig(b, { sources }).warnings;
const PROFILE = BUILTIN_PROFILES[0];

test('a reserved pin is rejected with the pin and the reason (the brief\'s example)', () => {
  assert.deepEqual(checkDeviceConfig(devkitc, { sources: [{ id: 'm', type: 's0', pin: 'D6' }] }), ['sources[0].pin: D6 is reserved on esp32-devkitc: connected to the SPI flash']);
});

test('every never-use pin of every board is rejected, with its reason', () => {
  let n = 0;
  for (const b of Object.values(B))
    for (const r of b.restricted) {
      if (r.severity !== 'error') continue;
      for (const p of r.pins) {
        const e = errorsOf(b, [{ id: 'x', type: 'ds18b20', pin: p }]);
        assert.deepEqual(e, ['sources[0].pin: ' + p + ' is reserved on ' + b.id + ': ' + r.reason], b.id + ' ' + p);
        n++;
      }
    }
  assert.ok(n >= 50, 'checked ' + n + ' pins');
});

test('USB pins on C3 (18/19) and S3 (19/20), octal PSRAM on S3 (35-37), flash on the PICO-D4 (16/17)', () => {
  assert.match(errorsOf(c3, [{ id: 'a', type: 's0', pin: 'D18' }])[0], /D18 is reserved on esp32-c3-supermini: USB D-\/D\+/);
  assert.match(errorsOf(s3, [{ id: 'a', type: 's0', pin: 'D20' }])[0], /D20 is reserved on esp32-s3-devkitc-1: USB D-\/D\+/);
  assert.match(errorsOf(s3, [{ id: 'a', type: 's0', pin: 'D36' }])[0], /D36 is reserved .*octal PSRAM/);
  assert.match(errorsOf(atom, [{ id: 'a', type: 'ds18b20', pin: 'D16' }])[0], /D16 is reserved on m5stack-atom-lite: connected to the flash inside the ESP32-PICO-D4/);
});

test('strapping pins given literally warn; the same pin through a board role does not', () => {
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 's0', pin: 'D15' }]), []);
  assert.deepEqual(warningsOf(devkitc, [{ id: 'a', type: 's0', pin: 'D15' }]), [
    'sources[0].pin' + WARNING_MARK + 'D15 is a pin to use with care on esp32-devkitc: strapping pin (SDIO slave timing; MTDO low at reset also silences the ROM boot log)',
  ]);
  // D12 on a WROOM-32 is worse than a warning: it picks the flash voltage.
  assert.match(errorsOf(devkitc, [{ id: 'a', type: 's0', pin: 'D12' }])[0], /D12 is reserved on esp32-devkitc: strapping pin MTDI/);
  // The D1 mini's LED sits on strapping pin D2; the board file vouches for it, so @statusLed is quiet ...
  const d1 = B['lolin-d1-mini-esp32'];
  assert.equal(resolveRef(d1, '@statusLed', 'pin').value, 'D2');
});

test('a pin of the status LED or button is the agent\'s', () => {
  assert.deepEqual(errorsOf(c3, [{ id: 'a', type: 's0', pin: 'D8' }]), ['sources[0].pin: D8 is the status LED on esp32-c3-supermini (the agent drives it)']);
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 's0', pin: '@button' }]), ['sources[0].pin: D0 is the button on esp32-devkitc (the agent reads it)']);
});

test('a pin used by two sources is rejected, naming both', () => {
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 's0', pin: 'D25' }, { id: 'b', type: 'ds18b20', pin: 'D25' }]), ['sources[1].pin: D25 is already used by sources[0].pin']);
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 'modbus', port: 'Serial2', rx: 'D25', tx: 'D26', de: 'D25', profile: PROFILE }]), [
    'sources[0].de: D25 is already used by sources[0].rx',
  ]);
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 's0', pin: 'D26' }, { id: 'b', type: 'modbus', port: '@meterUart', de: 'D26', profile: PROFILE }]), [
    'sources[1].de: D26 is already used by sources[0].pin',
  ]);
});

test('sources on one bus share it: two meters on one RS485 line, two sensors on I2C1, two DS18B20 on one wire', () => {
  assert.deepEqual(
    checkDeviceConfig(devkitc, {
      sources: [
        { id: 'm1', type: 'modbus', port: '@meterUart', address: 1, profile: PROFILE },
        { id: 'm2', type: 'modbus', port: '@meterUart', address: 2, profile: PROFILE },
        { id: 't1', type: 'sht31', bus: '@i2c' },
        { id: 't2', type: 'bme280', bus: 'I2C1', sda: 'D21', scl: 'D22' },
        { id: 'w1', type: 'ds18b20', pin: '@oneWire' },
        { id: 'w2', type: 'ds18b20', pin: 'D23' },
      ],
    }),
    [],
  );
  // ... but a P1 reader cannot share the Modbus port, nor a Modbus bus a DSMR pin.
  assert.deepEqual(errorsOf(devkitc, [{ id: 'm', type: 'modbus', port: 'Serial3', profile: PROFILE }, { id: 'p', type: 'dsmr', port: 'Serial3' }]), [
    'sources[1].port: Serial3 is already used by sources[0].port',
    "sources[1].rx: not given, so Espruino uses Serial3's default rx D16, already used by Serial3's default rx (sources[0].rx)",
    "sources[1].tx: not given, so Espruino uses Serial3's default tx D17, already used by Serial3's default tx (sources[0].tx)",
  ]);
});

test('an input-only pin cannot drive a line', () => {
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 'modbus', port: 'Serial2', rx: 'D34', tx: 'D35', de: 'D25', profile: PROFILE }]), [
    'sources[0].tx: D35 is input-only on esp32-devkitc (GPIO34-39 are input-only: no output driver), and tx drives the line',
  ]);
  assert.match(errorsOf(devkitc, [{ id: 'a', type: 'ds18b20', pin: 'D36' }])[0], /D36 is input-only/);
  assert.match(errorsOf(devkitc, [{ id: 'a', type: 'dsmr', port: 'Serial2', rx: 'D25', requestPin: 'D39' }])[0], /requestPin: D39 is input-only/);
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 'dsmr', port: 'Serial2', rx: 'D39', requestPin: 'D25' }]), [], 'RX on an input-only pin is fine');
});

test('S0 on a pin without pull-up warns, unless the config says the pull-up is external', () => {
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 's0', pin: 'D34' }]), []);
  const w = warningsOf(devkitc, [{ id: 'a', type: 's0', pin: 'D34' }]);
  assert.equal(w.length, 1);
  assert.ok(isWarning(w[0]));
  assert.match(w[0], /^sources\[0\]\.pin: warning: D34 has no internal pull-up on esp32-devkitc .*fit 10k to 3\.3 V and set pull: "none"$/);
  assert.deepEqual(checkDeviceConfig(devkitc, { sources: [{ id: 'a', type: 's0', pin: 'D34', pull: 'none' }] }), []);
  // A DS18B20 there fails for another reason (it must drive the line).
  assert.match(errorsOf(devkitc, [{ id: 'a', type: 'ds18b20', pin: 'D34' }])[0], /input-only/);
});

test('S0 on a pin Espruino cannot watch is rejected', () => {
  assert.deepEqual(errorsOf(s3, [{ id: 'a', type: 's0', pin: 'D7' }]), [
    "sources[0].pin: D7 cannot be watched on esp32-s3-devkitc-1: Espruino's jshCanWatch() refuses D6-D12 on every target but the C3 (an ESP32 SPI-flash rule; on the S3 these are ordinary GPIO, but setWatch throws)",
  ]);
  assert.deepEqual(errorsOf(s3, [{ id: 'a', type: 'ds18b20', pin: 'D7' }]), [], '1-Wire does not use setWatch');
});

test('ports: Serial3 on a C3 does not exist, Serial1 is the console, an I2C bus is not a UART', () => {
  assert.deepEqual(errorsOf(c3, [{ id: 'p', type: 'dsmr', port: 'Serial3' }]), [
    'sources[0].port: Serial3 does not exist on esp32-c3-supermini (free serial ports of the esp32c3 build: Serial2); did you mean "Serial2"?',
  ]);
  assert.deepEqual(errorsOf(devkitc, [{ id: 'p', type: 'dsmr', port: 'Serial1', rx: 'D25' }]), ['sources[0].port: Serial1 is the Espruino console on esp32-devkitc (uart-bridge)']);
  assert.deepEqual(errorsOf(devkitc, [{ id: 'p', type: 'dsmr', port: 'I2C1', rx: 'D25' }]), ['sources[0].port: I2C1 is an I2C bus, expected a serial port']);
  assert.deepEqual(errorsOf(s3, [{ id: 't', type: 'sht31', bus: 'I2C3' }]), [
    'sources[0].bus: I2C3 does not exist on esp32-s3-devkitc-1 (free I2C buses of the esp32s3 build: I2C1, I2C2); did you mean "I2C1"?',
  ]);
});

test("pins left out are Espruino's defaults, and are checked too", () => {
  // SHT31 on the C3 without sda/scl: Espruino's I2C1 defaults are the LED and the BOOT button.
  assert.deepEqual(errorsOf(c3, [{ id: 't', type: 'sht31' }]), [
    "sources[0].sda: not given, so Espruino uses I2C1's default sda D8, the status LED on esp32-c3-supermini (the agent drives it)",
    "sources[0].scl: not given, so Espruino uses I2C1's default scl D9, the button on esp32-c3-supermini (the agent reads it)",
  ]);
  // P1 on the Atom's Serial3: no tx in a DSMR config, and Serial3's default TX is a flash pin.
  assert.deepEqual(errorsOf(atom, [{ id: 'p', type: 'dsmr', port: 'Serial3', rx: 'D33' }]), [
    "sources[0].tx: not given, so Espruino uses Serial3's default tx D17, reserved on m5stack-atom-lite: connected to the flash inside the ESP32-PICO-D4",
  ]);
  // I2C2 on the S3 defaults SCL to D19, a USB pin.
  assert.match(errorsOf(s3, [{ id: 't', type: 'sht31', bus: 'I2C2' }]).join('\n'), /scl: not given, so Espruino uses I2C2's default scl D19, reserved .*USB/);
  // The default TX that P1 leaves to Espruino collides with a pin another source uses.
  assert.deepEqual(errorsOf(devkitc, [{ id: 'w', type: 'ds18b20', pin: 'D4' }, { id: 'p', type: 'dsmr', port: '@p1' }]), [
    "sources[1].tx: not given, so Espruino uses Serial2's default tx D4, already used by sources[0].pin",
  ]);
});

test('pins that are not GPIOs or not on the board', () => {
  assert.deepEqual(errorsOf(c3, [{ id: 'a', type: 's0', pin: 'D30' }]), ['sources[0].pin: D30 is not a GPIO of the esp32c3']);
  assert.deepEqual(errorsOf(atom, [{ id: 'a', type: 's0', pin: 'D18' }]), ['sources[0].pin: D18 is not broken out on m5stack-atom-lite']);
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 's0', pin: 'GPIO4' }]), ['sources[0].pin: expected a pin name such as "D4", got "GPIO4"']);
  assert.deepEqual(errorsOf(devkitc, [{ id: 'a', type: 's0', pin: 'D04' }]), ['sources[0].pin: expected a pin name such as "D4", got "D04"']);
});

// ---------------------------------------------------------------------------------------------
// Role references

test('role references resolve to the board file\'s pins and ports', () => {
  assert.equal(resolveRef(devkitc, '@s0[0]', 'pin').value, 'D32');
  assert.equal(resolveRef(devkitc, '@s0[3]', 'pin').value, 'D26');
  assert.equal(resolveRef(devkitc, '@oneWire', 'pin').value, 'D23');
  assert.equal(resolveRef(devkitc, '@meterUart.de', 'pin').value, 'D18');
  assert.equal(resolveRef(devkitc, '@i2c.scl', 'pin').value, 'D22');
  assert.equal(resolveRef(devkitc, '@p1.requestPin', 'pin').value, 'D27');
  assert.equal(resolveRef(devkitc, '@meterUart', 'port').value, 'Serial3');
  assert.equal(resolveRef(c3, '@p1', 'port').value, 'Serial2');
  assert.equal(resolveRef(s3, '@i2c', 'bus').value, 'I2C1');
  assert.equal(resolveRef(atom, '@statusLed', 'pin').value, 'D27');
});

test('a port reference fills the source\'s absent pins from the role; explicit pins win', () => {
  const r = resolveDeviceConfig(devkitc, {
    name: 'kept',
    sources: [
      { id: 'm', type: 'modbus', port: '@meterUart', profile: PROFILE },
      { id: 'n', type: 'modbus', port: '@meterUart', de: 'D19', profile: PROFILE },
      { id: 'p', type: 'dsmr', port: '@p1' },
      { id: 't', type: 'sht31', bus: '@i2c' },
      { id: 's', type: 's0', pin: '@s0[1]' },
    ],
  });
  assert.deepEqual(r.errors, []);
  const c = r.config as { name: string; sources: Record<string, unknown>[] };
  assert.equal(c.name, 'kept');
  assert.deepEqual(c.sources[0], { id: 'm', type: 'modbus', port: 'Serial3', rx: 'D16', tx: 'D17', de: 'D18', profile: PROFILE });
  assert.equal(c.sources[1].de, 'D19');
  assert.deepEqual(c.sources[2], { id: 'p', type: 'dsmr', port: 'Serial2', rx: 'D35', requestPin: 'D27' }, 'DSMR has no tx field: none is filled');
  assert.deepEqual(c.sources[3], { id: 't', type: 'sht31', bus: 'I2C1', sda: 'D21', scl: 'D22' });
  assert.deepEqual(c.sources[4], { id: 's', type: 's0', pin: 'D33' });
});

test('bad references are rejected, naming the field', () => {
  const cases: [Board, object, string][] = [
    [devkitc, { id: 'a', type: 'modbus', port: '@metreUart' }, 'sources[0].port: unknown role "@metreUart"; did you mean "@meterUart"? (roles: @statusLed, @button, @i2c, @meterUart, @p1, @s0, @oneWire)'],
    [devkitc, { id: 'a', type: 's0', pin: '@statusLed' }, 'sources[0].pin: @statusLed is not assigned on esp32-devkitc'],
    [devkitc, { id: 'a', type: 's0', pin: '@s0[4]' }, 'sources[0].pin: @s0[4]: esp32-devkitc assigns 4 S0 inputs'],
    [devkitc, { id: 'a', type: 's0', pin: '@s0' }, 'sources[0].pin: @s0: name one input, @s0[0]..@s0[3]'],
    [devkitc, { id: 'a', type: 's0', pin: '@oneWire[0]' }, 'sources[0].pin: @oneWire[0]: only @s0 takes an index'],
    [devkitc, { id: 'a', type: 'ds18b20', pin: '@meterUart' }, 'sources[0].pin: @meterUart has several pins; use @meterUart.rx, @meterUart.tx, @meterUart.de'],
    [devkitc, { id: 'a', type: 'ds18b20', pin: '@meterUart.txd' }, 'sources[0].pin: @meterUart.txd: @meterUart has pins rx, tx, de; did you mean "@meterUart.tx"?'],
    [devkitc, { id: 'a', type: 'modbus', port: '@i2c' }, 'sources[0].port: @i2c is not a serial port role; use @meterUart or @p1'],
    [devkitc, { id: 'a', type: 'sht31', bus: '@meterUart' }, 'sources[0].bus: @meterUart is not a bus role; use @i2c'],
    [devkitc, { id: 'a', type: 'modbus', port: '@meterUart.rx' }, 'sources[0].port: @meterUart.rx is not a serial port role; use @meterUart or @p1'],
    [devkitc, { id: 'a', type: 's0', pin: '@s0[x]' }, 'sources[0].pin: malformed reference "@s0[x]": expected @s0[<index>]'],
    [devkitc, { id: 'a', type: 's0', pin: '@' }, 'sources[0].pin: malformed reference "@": expected @role, @role.member or @s0[<index>]'],
    [devkitc, { id: 'a', type: 's0', pin: '@oneWire.' }, 'sources[0].pin: malformed reference "@oneWire.": expected a member after "."'],
    [c3, { id: 'a', type: 's0', pin: '@s0[2]' }, 'sources[0].pin: @s0[2]: esp32-c3-supermini assigns 2 S0 inputs'],
  ];
  for (const [b, src, msg] of cases) {
    assert.deepEqual(resolveDeviceConfig(b, { sources: [src] }).errors, [msg]);
    assert.ok(checkDeviceConfig(b, { sources: [src] }).includes(msg), msg);
  }
});

test('references through roles skip the board\'s vouched strapping warnings but not the S0 pull-up one', () => {
  // The C3 LED on D8 is a strapping pin; @statusLed used as a pin would be the agent's anyway.
  // The Atom's button D39 has no internal pull-up: an S0 there through a reference still warns.
  const b = structuredClone(atom) as Board;
  b.roles.button = null;
  b.roles.s0.push({ pin: 'D39', externalPullUp: true });
  const v = validateBoard(b);
  const a = analyzeDeviceConfig(v, { sources: [{ id: 's', type: 's0', pin: '@s0[1]' }] });
  assert.deepEqual(a.errors, []);
  assert.equal(a.warnings.length, 1);
  assert.match(a.warnings[0], /D39 has no internal pull-up/);
});

// ---------------------------------------------------------------------------------------------
// Each board's own role assignment is a working device

function roleConfig(b: Board, meter: 'modbus' | 'dsmr'): Record<string, unknown>[] {
  const s: Record<string, unknown>[] = [];
  b.roles.s0.forEach((_, i) => s.push({ id: 's' + i, type: 's0', pin: '@s0[' + i + ']' }));
  if (meter === 'modbus' && b.roles.meterUart) s.push({ id: 'mb', type: 'modbus', port: '@meterUart', profile: PROFILE });
  if (meter === 'dsmr' && b.roles.p1) s.push({ id: 'p1', type: 'dsmr', port: '@p1' });
  if (b.roles.i2c) s.push({ id: 'th', type: 'sht31', bus: '@i2c' });
  if (b.roles.oneWire) s.push({ id: 'ds', type: 'ds18b20', pin: '@oneWire' });
  return s;
}

const COMPONENTS = [s0Source, modbusSource, dsmrSource, sht31Source, ds18b20Source];

for (const id of IDS) {
  for (const meter of ['modbus', 'dsmr'] as const) {
    test(id + ': every role at once (' + meter + ') passes the pin check, and the resolved config passes core validation', () => {
      const b = B[id];
      const cfg = { sources: roleConfig(b, meter) };
      assert.deepEqual(checkDeviceConfig(b, cfg), []);
      const r = resolveDeviceConfig(b, cfg);
      assert.deepEqual(r.errors, []);
      const sources = (r.config as { sources: Record<string, unknown>[] }).sources;
      for (const s of sources) for (const v of Object.values(s)) assert.ok(typeof v !== 'string' || !v.startsWith('@'), JSON.stringify(s));
      assert.deepEqual(checkSourceConfigs(COMPONENTS, sources), []);
    });
  }
}

test('boards with alternatives reject Modbus and P1 together; the others take both', () => {
  for (const id of IDS) {
    const b = B[id];
    const both = [{ id: 'mb', type: 'modbus', port: '@meterUart', profile: PROFILE }, { id: 'p1', type: 'dsmr', port: '@p1' }];
    const e = errorsOf(b, both);
    if (b.alternatives.length) assert.ok(e.length > 0, id);
    else assert.deepEqual(e, [], id);
  }
});

test('shapes: not an array, non-object entries, the bare array form', () => {
  assert.deepEqual(checkDeviceConfig(devkitc, { sources: 'x' }), ['sources: expected an array']);
  assert.deepEqual(checkDeviceConfig(devkitc, 42), ['sources: expected an array']);
  assert.deepEqual(checkDeviceConfig(devkitc, [null, 'x', { id: 'a', type: 's0', pin: 'D6' }]), ['sources[2].pin: D6 is reserved on esp32-devkitc: connected to the SPI flash']);
  assert.deepEqual(checkDeviceConfig(devkitc, { sources: [{ id: 'a', type: 's0', pin: 25 }] }), [], 'a wrong type is the core schema\'s to report');
  assert.deepEqual(checkDeviceConfig(devkitc, { sources: [{ id: 'u', type: 'semtech', port: 1700 }, { id: 'd', type: 'device' }] }), []);
});

test('unknown source types: pin fields are recognised by name', () => {
  assert.deepEqual(errorsOf(devkitc, [{ id: 'x', type: 'future', port: 'Serial2', rx: 'D6', tx: 'D25' }]), ['sources[0].rx: D6 is reserved on esp32-devkitc: connected to the SPI flash']);
});
