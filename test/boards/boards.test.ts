// Board files: every boards/*.json validates against boards/schema.json (with a validator for the
// schema's own keywords) and against validateBoard(); broken boards are rejected by both, naming
// the field; the cross-field rules only validateBoard() can state; and the facts in the files and
// in board.ts's tables agree with the Espruino and Espressif sources (test/vectors/boards).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BOARD_LIMITS, CHIPS, ESPRUINO_BUILDS, checkBoard, pinNumber, rngAddress, validateBoard, type Board } from '../../firmware/espruino/board.js';
import { schemaKeywords, validateJsonSchema } from './json-schema-subset.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BOARDS_DIR = join(ROOT, 'boards');
const schema = JSON.parse(readFileSync(join(BOARDS_DIR, 'schema.json'), 'utf8'));
const FACTS = JSON.parse(readFileSync(join(ROOT, 'test/vectors/boards/espruino-esp32-facts.json'), 'utf8'));

const files = readdirSync(BOARDS_DIR).filter((f) => f.endsWith('.json') && f !== 'schema.json').sort();
const raw: Record<string, any> = {};
for (const f of files) raw[f.slice(0, -5)] = JSON.parse(readFileSync(join(BOARDS_DIR, f), 'utf8'));
const clone = (id: string): any => structuredClone(raw[id]);
const num = (pins: string[]) => pins.map(pinNumber).sort((a, b) => a - b);

test('the boards the brief asks for exist', () => {
  for (const id of ['esp32-devkitc', 'lolin-d1-mini-esp32', 'esp32-c3-supermini', 'esp32-s3-devkitc-1', 'm5stack-atom-lite']) assert.ok(raw[id], id);
});

test('the schema uses only keywords the test validator implements', () => {
  assert.deepEqual(schemaKeywords(schema), []);
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
});

test('the test validator is not vacuous: it rejects what the schema forbids', () => {
  const b = clone('esp32-devkitc');
  assert.deepEqual(validateJsonSchema(schema, b), []);
  b.chip = 'esp8266';
  b.extra = 1;
  delete b.name;
  const e = validateJsonSchema(schema, b);
  assert.ok(e.some((m) => m.startsWith('/chip: enum')), e.join('\n'));
  assert.ok(e.some((m) => m.startsWith('/extra: additionalProperties')), e.join('\n'));
  assert.ok(e.some((m) => m.startsWith('/name: required')), e.join('\n'));
});

for (const f of files) {
  const id = f.slice(0, -5);
  test(id + ': valid against boards/schema.json and validateBoard(); id matches the file name', () => {
    assert.deepEqual(validateJsonSchema(schema, raw[id]), []);
    assert.deepEqual(checkBoard(raw[id]), []);
    const b = validateBoard(raw[id]);
    assert.equal(b.id, id);
  });
}

// ---------------------------------------------------------------------------------------------
// Broken boards. `schema`: whether the JSON Schema can see the mistake (structure) or only
// validateBoard can (a rule across fields or against the chip tables).

interface Mutation {
  why: string;
  board: string;
  mutate: (b: any) => void;
  /** validateBoard's message starts with this (the field path) and contains `says`. */
  field: string;
  says?: string;
  schema: boolean;
}

const MUTATIONS: Mutation[] = [
  { why: 'missing chip', board: 'esp32-devkitc', mutate: (b) => delete b.chip, field: 'chip', says: 'required field missing', schema: true },
  { why: 'unknown chip', board: 'esp32-devkitc', mutate: (b) => (b.chip = 'esp8266'), field: 'chip', says: 'expected one of esp32, esp32c3, esp32s3', schema: true },
  { why: 'typo in a top-level field', board: 'esp32-devkitc', mutate: (b) => ((b.role = b.roles), delete b.roles), field: 'role', says: 'did you mean "roles"', schema: true },
  { why: 'lower-case RNG register', board: 'esp32-s3-devkitc-1', mutate: (b) => (b.rngRegister = b.rngRegister.toLowerCase()), field: 'rngRegister', says: 'upper-case hex', schema: true },
  { why: 'pin named the Arduino way', board: 'esp32-devkitc', mutate: (b) => (b.roles.meterUart.rx = 'GPIO16'), field: 'roles.meterUart.rx', says: 'D0..D48', schema: true },
  { why: 'pin listed twice', board: 'esp32-devkitc', mutate: (b) => b.gpio.pins.push('D0'), field: 'gpio.pins[32]', says: 'listed twice', schema: true },
  { why: 'unknown severity', board: 'esp32-devkitc', mutate: (b) => (b.restricted[0].severity = 'fatal'), field: 'restricted[0].severity', says: 'error, warning', schema: true },
  { why: 'JsVars out of range', board: 'esp32-devkitc', mutate: (b) => (b.firmware.jsVars = 100), field: 'firmware.jsVars', says: '1024..65535', schema: true },
  { why: 'two flash images', board: 'esp32-devkitc', mutate: (b) => b.firmware.images.pop(), field: 'firmware.images', says: 'expected 3 images', schema: true },
  { why: 'P1 without inverter', board: 'esp32-devkitc', mutate: (b) => (b.roles.p1.inverterRequired = false), field: 'roles.p1.inverterRequired', says: 'cannot invert', schema: true },
  { why: 'plain http source', board: 'esp32-devkitc', mutate: (b) => (b.sources[0].url = 'http://example.com'), field: 'sources[0].url', says: 'https://', schema: true },
  { why: 'unknown LED kind', board: 'esp32-s3-devkitc-1', mutate: (b) => (b.roles.statusLed.kind = 'rgb'), field: 'roles.statusLed.kind', says: 'gpio, addressable', schema: true },
  { why: 's0 not a list', board: 'esp32-devkitc', mutate: (b) => (b.roles.s0 = { pin: 'D32' }), field: 'roles.s0', says: 'array', schema: true },
  { why: 'console on Serial2', board: 'esp32-devkitc', mutate: (b) => (b.console.port = 'Serial2'), field: 'console.port', says: 'Serial1', schema: true },
  { why: 'a port Espruino never has', board: 'esp32-devkitc', mutate: (b) => (b.ports.Serial4 = { kind: 'serial' }), field: 'ports.Serial4', says: 'Serial1..Serial3', schema: true },
  { why: 'a role paired with itself', board: 'esp32-devkitc', mutate: (b) => b.alternatives.push(['p1', 'p1']), field: 'alternatives[0]', says: 'two different role names', schema: true },
  { why: 'upper-case id', board: 'esp32-devkitc', mutate: (b) => (b.id = 'ESP32'), field: 'id', says: 'lower-case', schema: true },
  { why: 'unverified fact without its flag', board: 'esp32-devkitc', mutate: (b) => delete b.restricted[0].verified, field: 'restricted[0].verified', says: 'required', schema: true },

  { why: 'RNG register of another chip', board: 'esp32-devkitc', mutate: (b) => (b.rngRegister = '0x600260B0'), field: 'rngRegister', says: 'is 0x60035144', schema: false },
  { why: 'crypto claimed for ESP32_IDF4', board: 'esp32-devkitc', mutate: (b) => (b.firmware.espruinoBoard = 'ESP32_IDF4'), field: 'firmware.crypto', says: 'leaves out the crypto library', schema: false },
  { why: 'ESP32 build on a C3', board: 'esp32-c3-supermini', mutate: (b) => (b.firmware.espruinoBoard = 'ESP32'), field: 'firmware.espruinoBoard', says: 'build for esp32', schema: false },
  { why: 'C3 bootloader at the ESP32 offset', board: 'esp32-c3-supermini', mutate: (b) => (b.firmware.images[0].offset = '0x1000'), field: 'firmware.images[0]', says: 'bootloader.bin at 0x0', schema: false },
  { why: 'role on a flash pin', board: 'esp32-devkitc', mutate: (b) => (b.roles.oneWire.pin = 'D6'), field: 'roles.oneWire.pin', says: 'D6 is reserved on esp32-devkitc: connected to the SPI flash', schema: false },
  { why: 'input-only pin driving RS485 TX', board: 'esp32-devkitc', mutate: (b) => (b.roles.meterUart.tx = 'D34'), field: 'roles.meterUart.tx', says: 'input-only', schema: false },
  { why: 'S0 on a pin without pull-up, no external one declared', board: 'esp32-devkitc', mutate: (b) => (b.roles.s0[0].pin = 'D34'), field: 'roles.s0[0].pin', says: 'externalPullUp', schema: false },
  { why: 'S0 on a pin Espruino cannot watch', board: 'esp32-s3-devkitc-1', mutate: (b) => (b.roles.s0[0].pin = 'D7'), field: 'roles.s0[0].pin', says: 'cannot be watched', schema: false },
  { why: 'two roles on one pin', board: 'esp32-devkitc', mutate: (b) => (b.roles.oneWire.pin = 'D32'), field: 'roles.oneWire.pin', says: 'is also roles.s0[0].pin', schema: false },
  { why: 'shared pins without declaring the roles alternatives', board: 'esp32-c3-supermini', mutate: (b) => (b.alternatives = []), field: 'roles.p1.rx', says: 'alternatives', schema: false },
  { why: "P1 on a port whose default TX is a flash pin (PICO-D4's D17)", board: 'm5stack-atom-lite', mutate: (b) => (b.roles.p1.port = 'Serial3'), field: 'roles.p1.port', says: 'default TX D17, reserved', schema: false },
  { why: 'strapping pin in a role without a note', board: 'esp32-devkitc', mutate: (b) => delete b.roles.button.note, field: 'roles.button.pin', says: 'needs care', schema: false },
  { why: 'source id that does not exist', board: 'esp32-devkitc', mutate: (b) => (b.restricted[0].source = 'nope'), field: 'restricted[0].source', says: 'no entry in sources', schema: false },
  { why: 'pin the chip does not have', board: 'esp32-c3-supermini', mutate: (b) => (b.roles.oneWire.pin = 'D30'), field: 'roles.oneWire.pin', says: 'not a GPIO of the esp32c3', schema: false },
  { why: 'Serial3 on a C3', board: 'esp32-c3-supermini', mutate: (b) => (b.ports.Serial3 = { kind: 'serial', defaultRx: 'D16', defaultTx: 'D17' }), field: 'ports.Serial3', says: 'esp32c3 build has Serial1, Serial2, I2C1', schema: false },
  { why: 'setWatch limits that are not Espruino\'s', board: 'esp32-devkitc', mutate: (b) => b.gpio.noWatch.pins.pop(), field: 'gpio.noWatch.pins', says: 'GPIO6, 7, 8, 9, 10, 11, 12', schema: false },
  { why: 'input-only list missing a pin', board: 'esp32-devkitc', mutate: (b) => b.gpio.inputOnly.pins.pop(), field: 'gpio.inputOnly.pins', says: 'input-only pins', schema: false },
  { why: 'addressable LED driven as a GPIO', board: 'm5stack-atom-lite', mutate: (b) => (b.roles.statusLed.driver = 'gpio'), field: 'roles.statusLed.driver', says: 'neopixel', schema: false },
  { why: 'GPIO LED without polarity', board: 'esp32-c3-supermini', mutate: (b) => delete b.roles.statusLed.activeLow, field: 'roles.statusLed.activeLow', says: 'required for kind gpio', schema: false },
  { why: 'role pin not reachable on the board', board: 'm5stack-atom-lite', mutate: (b) => (b.roles.oneWire.pin = 'D18'), field: 'roles.oneWire.pin', says: 'not in gpio.pins', schema: false },
  { why: 'a second console port', board: 'esp32-devkitc', mutate: (b) => (b.ports.Serial2.console = true), field: 'ports.Serial2.console', says: 'expected false', schema: false },
  { why: 'P1 on the console port', board: 'esp32-devkitc', mutate: (b) => (b.ports.Serial2.console = true), field: 'roles.p1.port', says: 'not a free serial port', schema: false },
];

for (const m of MUTATIONS) {
  test('broken board rejected (' + m.why + '): ' + m.field, () => {
    const b = clone(m.board);
    m.mutate(b);
    const errs = checkBoard(b);
    const hit = errs.find((e) => e.startsWith(m.field + ':') && (!m.says || e.includes(m.says)));
    assert.ok(hit, 'expected "' + m.field + ': ...' + (m.says ?? '') + '" in:\n  ' + errs.join('\n  '));
    assert.throws(() => validateBoard(b), (e: any) => e.code === 'E_BOARD' && e.message.includes(hit!));
    const s = validateJsonSchema(schema, b);
    if (m.schema) assert.ok(s.length > 0, 'the JSON Schema should reject this too');
    else assert.deepEqual(s, [], 'structurally valid: only validateBoard can see this');
  });
}

test('validateBoard: not an object', () => {
  for (const v of [null, 1, 'board', [raw['esp32-devkitc']]]) assert.throws(() => validateBoard(v), (e: any) => e.code === 'E_BOARD' && /board: expected an object/.test(e.message));
});

test('validateBoard reports every problem at once, not the first', () => {
  const b = clone('esp32-devkitc');
  b.chip = 'esp8266';
  b.firmware.jsVars = 1;
  b.roles.s0[0].pin = 'X1';
  const e = checkBoard(b);
  for (const f of ['chip:', 'firmware.jsVars:', 'roles.s0[0].pin:']) assert.ok(e.some((m) => m.startsWith(f)), f + ' in ' + e.join(' | '));
});

test('list bounds: the schema states BOARD_LIMITS, and both reject one entry past each bound', () => {
  const cases: [keyof typeof BOARD_LIMITS, string, string, (b: any) => any[], () => unknown][] = [
    ['MAX_S0', 'roles.s0', '/roles/s0', (b) => b.roles.s0, () => ({ pin: 'D13' })],
    ['MAX_RESTRICTED', 'restricted', '/restricted', (b) => b.restricted, () => ({ pins: [], severity: 'warning', reason: 'x', verified: false, source: 'devkitc-guide' })],
    ['MAX_ALTERNATIVES', 'alternatives', '/alternatives', (b) => b.alternatives, () => ['p1', 's0']],
    ['MAX_SOURCES', 'sources', '/sources', (b) => b.sources, () => ({ id: 'x', title: 'x', url: 'https://example.com' })],
    ['MAX_NOTES', 'notes', '/notes', (b) => b.notes, () => 'x'],
  ];
  const schemaMax: Record<string, number> = {
    MAX_S0: schema.$defs.roles.properties.s0.maxItems,
    MAX_RESTRICTED: schema.properties.restricted.maxItems,
    MAX_ALTERNATIVES: schema.properties.alternatives.maxItems,
    MAX_SOURCES: schema.properties.sources.maxItems,
    MAX_NOTES: schema.properties.notes.maxItems,
  };
  for (const [name, field, pointer, list, item] of cases) {
    assert.equal(schemaMax[name], BOARD_LIMITS[name], name);
    for (const extra of [0, 1]) {
      const b = clone('esp32-devkitc');
      const l = list(b);
      while (l.length < BOARD_LIMITS[name] + extra) l.push(item());
      const countError = checkBoard(b).some((e) => e.startsWith(field + ': expected an array'));
      const schemaError = validateJsonSchema(schema, b).some((e) => e === pointer + ': maxItems ' + BOARD_LIMITS[name]);
      assert.equal(countError, extra === 1, name + ' +' + extra + ' (board.ts)');
      assert.equal(schemaError, extra === 1, name + ' +' + extra + ' (schema)');
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Facts against the sources

const boards: Board[] = Object.keys(raw).map((id) => validateBoard(raw[id]));

test('build table agrees with the Espruino board files', () => {
  for (const v of FACTS.espruino.builds) {
    const b = ESPRUINO_BUILDS[v.board];
    assert.ok(b, v.board);
    assert.equal(b.chip, v.chip, v.board);
    assert.equal(b.crypto, v.librariesIncludeCrypto, v.board + ' crypto');
    assert.equal(b.binaryPattern, v.binaryName, v.board);
    assert.equal(b.jsVars, v.variables, v.board);
    assert.deepEqual(b.images.map((i) => [i.offset, i.file]), v.images, v.board);
  }
  assert.deepEqual(Object.keys(ESPRUINO_BUILDS).sort(), FACTS.espruino.builds.map((v: any) => v.board).sort());
});

test('chip table agrees with esp-idf, esptool and Espruino', () => {
  for (const chip of ['esp32', 'esp32c3', 'esp32s3']) {
    const c = CHIPS[chip];
    assert.equal('0x' + c.rngRegister.toString(16).toUpperCase().padStart(8, '0'), FACTS.chips.rngRegister[chip], chip);
    assert.equal(c.bootloaderOffset, FACTS.chips.bootloaderOffset[chip], chip);
    assert.deepEqual(c.noWatch, FACTS.espruino.canWatch[chip].refused, chip);
    assert.deepEqual(c.ports, FACTS.espruino.ports[chip], chip);
    assert.deepEqual(c.inputOnly, FACTS.chips.inputOnlyNoPull[chip], chip);
  }
});

for (const b of boards) {
  test(b.id + ': firmware, RNG, console and ports match the sources', () => {
    const v = FACTS.espruino.builds.find((x: any) => x.board === b.firmware.espruinoBoard);
    assert.ok(v.inReleaseZip, b.id + ' should use a released build');
    assert.equal(b.firmware.crypto, v.librariesIncludeCrypto);
    assert.equal(b.firmware.jsVars, v.variables);
    assert.equal(b.firmware.storageBytes, v.savedCode.pages * v.savedCode.pageSize);
    assert.equal(b.firmware.firmwareMaxBytes, v.flashMax);
    assert.deepEqual(b.firmware.images.map((i) => [i.offset, i.file]), v.images);
    assert.equal(b.rngRegister, FACTS.chips.rngRegister[b.chip]);
    assert.equal(rngAddress(b), parseInt(FACTS.chips.rngRegister[b.chip].slice(2), 16));
    assert.equal(b.console.transport === 'usb-serial-jtag', FACTS.espruino.consoleOnUsbSerialJtag[b.chip]);
    assert.deepEqual(Object.keys(b.ports).sort(), [...FACTS.espruino.ports[b.chip]].sort());
    for (const s of ['Serial2', 'Serial3'])
      if (b.ports[s]) assert.deepEqual([b.ports[s].defaultTx, b.ports[s].defaultRx], [FACTS.espruino.uartDefaults[s].tx, FACTS.espruino.uartDefaults[s].rx], s);
    for (const [bus, d] of Object.entries(FACTS.espruino.i2cDefaults[b.chip] as Record<string, { sda: string; scl: string }>))
      assert.deepEqual([b.ports[bus].defaultSda, b.ports[bus].defaultScl], [d.sda, d.scl], bus);
    assert.deepEqual(num(b.gpio.noWatch.pins), FACTS.espruino.canWatch[b.chip].refused);
  });

  test(b.id + ': strapping, flash, USB and input-only pins are restricted as the datasheets say', () => {
    const severity = (n: number) => b.restricted.find((r) => r.pins.includes('D' + n))?.severity;
    for (const n of FACTS.chips.strapping[b.chip]) {
      const s = severity(n);
      const role = [b.roles.button?.pin, b.roles.statusLed?.pin].includes('D' + n);
      assert.ok(s === 'warning' || (s === 'error' && !role), 'strapping GPIO' + n + ' is ' + s);
    }
    const flashKey = b.chip !== 'esp32' ? b.chip : b.module.includes('PICO-D4') ? 'esp32-pico-d4' : 'esp32-wroom-32';
    for (const n of FACTS.chips.flashPins[flashKey]) assert.equal(severity(n), 'error', 'flash GPIO' + n);
    for (const n of FACTS.chips.usbPins[b.chip] ?? []) assert.equal(severity(n), 'error', 'USB GPIO' + n);
    for (const n of FACTS.chips.octalPsramPins[b.chip] ?? []) assert.equal(severity(n), 'error', 'octal PSRAM GPIO' + n);
    const exposedInputOnly = FACTS.chips.inputOnlyNoPull[b.chip].filter((n: number) => b.gpio.pins.includes('D' + n));
    assert.deepEqual(num(b.gpio.inputOnly.pins), exposedInputOnly);
    assert.deepEqual(num(b.gpio.noPull.pins), exposedInputOnly);
    if (b.console.transport === 'uart-bridge') for (const p of b.console.pins) assert.equal(severity(pinNumber(p)), 'error', 'console ' + p);
  });

  test(b.id + ': every fact names a source entry; unverified facts are flagged, not hidden', () => {
    const ids = new Set(b.sources.map((s) => s.id));
    const facts = [b.gpio, b.gpio.inputOnly, b.gpio.noPull, b.gpio.noWatch, ...b.restricted, b.roles.statusLed, b.roles.button].filter(Boolean) as { verified: boolean; source: string }[];
    for (const f of facts) {
      assert.equal(typeof f.verified, 'boolean');
      assert.ok(ids.has(f.source), f.source);
    }
    for (const s of b.sources) assert.match(s.url, /^https:\/\//);
  });
}

test('the addressable LEDs (Atom Lite SK6812 on G27, S3 DevKitC-1 WS2812 on GPIO38) go through neopixel', () => {
  const atom = boards.find((b) => b.id === 'm5stack-atom-lite')!;
  assert.deepEqual([atom.roles.statusLed?.pin, atom.roles.statusLed?.kind, atom.roles.statusLed?.chipset, atom.roles.statusLed?.driver], ['D27', 'addressable', 'SK6812', 'neopixel']);
  const s3 = boards.find((b) => b.id === 'esp32-s3-devkitc-1')!;
  assert.deepEqual([s3.roles.statusLed?.pin, s3.roles.statusLed?.kind, s3.roles.statusLed?.driver], ['D38', 'addressable', 'neopixel']);
});

test('every P1 role needs the hardware inverter and every board assigns one meter interface or more', () => {
  for (const b of boards) {
    if (b.roles.p1) assert.equal(b.roles.p1.inverterRequired, true, b.id);
    assert.ok(b.roles.meterUart || b.roles.p1 || b.roles.s0.length, b.id);
  }
});
