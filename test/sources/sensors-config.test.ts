// The five sensor components through the registry: every config example in their docs pages
// validates, and createSources builds working sources from them on simulated IO.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkSourceConfigs, createSources } from '../../firmware/core/sources/registry.js';
import { pms5003Source } from '../../firmware/core/sources/pms5003/driver.js';
import { sds011Source } from '../../firmware/core/sources/sds011/driver.js';
import { bme280Source } from '../../firmware/core/sources/bme280/driver.js';
import { sht31Source } from '../../firmware/core/sources/sht31/driver.js';
import { ds18b20Source } from '../../firmware/core/sources/ds18b20/driver.js';
import { SerialLink } from '../../agent-sim/io/serial-link.js';
import { Pms5003Sim } from '../../agent-sim/peripherals/pms5003.js';
import { Sds011Sim } from '../../agent-sim/peripherals/sds011.js';
import { Bme280Sim } from '../../agent-sim/peripherals/bme280.js';
import { Sht31Sim } from '../../agent-sim/peripherals/sht31.js';
import { Ds18b20Sim, romFor } from '../../agent-sim/peripherals/ds18b20.js';
import { rig, readOnce } from './sensor-host.js';

const COMPONENTS = [pms5003Source, sds011Source, bme280Source, sht31Source, ds18b20Source];

function examples(name: string): Record<string, unknown>[] {
  const md = readFileSync(new URL('../../docs/sources/' + name + '.md', import.meta.url), 'utf8');
  const out: Record<string, unknown>[] = [];
  for (const m of md.matchAll(/```json\n([\s\S]*?)```/g)) out.push(JSON.parse(m[1]));
  return out;
}

test('every config example in the docs validates against its component', () => {
  let n = 0;
  for (const c of COMPONENTS) {
    const ex = examples(c.type);
    assert.ok(ex.length >= 1, c.type);
    for (const cfg of ex) {
      assert.equal(cfg.type, c.type);
      assert.deepEqual(checkSourceConfigs(COMPONENTS, [cfg]), [], c.type + ' ' + JSON.stringify(cfg));
      n++;
    }
  }
  assert.ok(n >= 6);
});

test('createSources builds all five from the docs examples; each reads from its simulated device', () => {
  const r = rig();
  const sims: { stop(): void }[] = [];
  try {
    // one UART per serial sensor, one I2C bus shared by the BME280 (0x76) and the SHT31 (0x44)
    const pmsCfg = { ...examples('pms5003')[0], port: 'Serial2' };
    const sdsCfg = { ...examples('sds011')[0], port: 'Serial3' };
    const l2 = new SerialLink('Serial2', { baud: 9600 });
    const l3 = new SerialLink('Serial3', { baud: 9600 });
    r.sim.serial.set('Serial2', l2);
    r.sim.serial.set('Serial3', l3);
    sims.push(new Pms5003Sim(l2, r.vt.now), new Sds011Sim(l3, r.vt.now));
    r.sim.i2cBus('I2C1').attach(0x76, new Bme280Sim(r.vt.now));
    r.sim.i2cBus('I2C1').attach(0x44, new Sht31Sim(r.vt.now));
    const bus = r.sim.oneWireBus('D4');
    bus.attach(new Ds18b20Sim(r.vt.now, romFor('0000075a8d2b')));
    bus.attach(new Ds18b20Sim(r.vt.now, romFor('03160f1e64ff')));
    const cfgs = [pmsCfg, sdsCfg, examples('bme280')[0], examples('sht31')[0], examples('ds18b20')[0]];
    const sources = createSources(r.host, COMPONENTS, cfgs);
    const names: string[] = [];
    for (const s of sources) {
      const res = readOnce(r.vt, s);
      assert.equal(res.err, undefined, s.id + ' ' + String(res.err));
      for (const v of res.values!) names.push(s.id + '/' + v.n);
    }
    assert.deepEqual(names, [
      'air/pm1', 'air/pm25', 'air/pm10', 'air/n03', 'air/n05', 'air/n1', 'air/n25', 'air/n5', 'air/n10',
      'pm/pm25', 'pm/pm10',
      'env/t', 'env/pres', 'env/rh',
      'th/t', 'th/rh',
      'temps/t_0000075a8d2b', 'temps/t_03160f1e64ff',
    ]);
    for (const s of sources) s.stop!();
  } finally {
    for (const s of sims) s.stop();
    r.done();
  }
});
