// docs/hardware.md carries one pin table per board. The tables are rendered from boards/*.json
// by boardSection() below; the doc must contain each rendering verbatim, so a board file edit
// that forgets the doc fails here. To refresh: node --import tsx test/boards/docs.test.ts --print
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateBoard, type Board } from '../../firmware/espruino/board.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const IDS = ['esp32-devkitc', 'lolin-d1-mini-esp32', 'esp32-c3-supermini', 'esp32-s3-devkitc-1', 'm5stack-atom-lite'];

export function boardSection(b: Board): string {
  const r = b.roles;
  const rows: [string, string][] = [];
  const led = r.statusLed;
  rows.push(['Status LED', !led ? 'none' : led.kind === 'gpio' ? led.pin + (led.activeLow ? ' (active low)' : ' (active high)') : led.pin + ' (' + led.chipset + ' ' + led.colorOrder + ', via neopixel)']);
  rows.push(['Button', r.button ? r.button.pin + (r.button.activeLow ? ' (active low)' : ' (active high)') : 'none']);
  rows.push(['I2C (`@i2c`)', r.i2c ? r.i2c.bus + ': SDA ' + r.i2c.sda + ', SCL ' + r.i2c.scl : 'none']);
  rows.push(['RS485 meter UART (`@meterUart`)', r.meterUart ? r.meterUart.port + ': RX ' + r.meterUart.rx + ', TX ' + r.meterUart.tx + ', DE ' + r.meterUart.de : 'none']);
  rows.push(['P1 (`@p1`)', r.p1 ? r.p1.port + ': RX ' + r.p1.rx + ' (after the inverter), Data Request ' + r.p1.requestPin + '; TX parked on ' + b.ports[r.p1.port].defaultTx : 'none']);
  rows.push(['S0 (`@s0[i]`)', r.s0.length ? r.s0.map((s, i) => i + ': ' + s.pin + (s.externalPullUp ? ' (external pull-up)' : '')).join(', ') : 'none']);
  rows.push(['1-Wire (`@oneWire`)', r.oneWire ? r.oneWire.pin : 'none']);
  rows.push(['Console', b.console.port + ' over ' + b.console.transport + (b.console.bridge ? ' (' + b.console.bridge + ')' : '') + ', pins ' + b.console.pins.join('/')]);
  for (const x of b.restricted) rows.push([x.severity === 'error' ? 'Never use' : 'Use with care', x.pins.join(', ') + ': ' + x.reason + (x.verified ? '' : ' (unverified)')]);
  if (b.gpio.noWatch.pins.some((p) => b.gpio.pins.includes(p))) rows.push(['No setWatch', b.gpio.noWatch.pins.filter((p) => b.gpio.pins.includes(p)).join(', ')]);
  if (b.gpio.inputOnly.pins.length) rows.push(['Input only, no pull-up', b.gpio.inputOnly.pins.join(', ')]);
  if (r.meterUart && r.p1 && b.alternatives.length) rows.push(['Alternatives', b.alternatives.map((a) => a.join(' or ')).join('; ')]);
  return (
    '### ' + b.name + ' (`' + b.id + '`)\n\n' +
    'Espruino build `' + b.firmware.espruinoBoard + '` (' + b.firmware.binaryPattern.replace('%v', '2v29') + ', crypto ' + (b.firmware.crypto ? 'yes' : 'no') + ', ' +
    b.firmware.jsVars + ' JsVars, ' + b.firmware.storageBytes / 1024 + ' KB Storage). Pin list ' + (b.gpio.verified ? 'from ' : 'unverified, from ') + b.gpio.source + '.\n\n' +
    '| Role | Pins |\n|---|---|\n' + rows.map(([a, c]) => '| ' + a + ' | ' + c + ' |').join('\n') + '\n'
  );
}

const boards = IDS.map((id) => validateBoard(JSON.parse(readFileSync(join(ROOT, 'boards', id + '.json'), 'utf8'))));

if (process.argv.includes('--print')) for (const b of boards) console.log(boardSection(b));

test('docs/hardware.md has the current pin table of every board', () => {
  const doc = readFileSync(join(ROOT, 'docs/hardware.md'), 'utf8');
  for (const b of boards) assert.ok(doc.includes(boardSection(b)), b.id + ': re-render with node --import tsx test/boards/docs.test.ts --print');
});

test('docs/hardware.md gives each chip family the flash offsets of its board files', () => {
  const doc = readFileSync(join(ROOT, 'docs/hardware.md'), 'utf8');
  for (const b of boards) {
    const cmd = b.firmware.images.map((i) => i.offset + ' ' + i.file).join(' ');
    assert.ok(doc.includes(cmd), b.id + ': ' + cmd);
  }
});
