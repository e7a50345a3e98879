// Device counters: uptime, free memory, Wi-Fi RSSI and reconnects through the optional host.net.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceSource, type DeviceNet, type DeviceSource } from '../../firmware/core/sources/device/driver.js';
import { createSources, checkSourceConfigs } from '../../firmware/core/sources/registry.js';
import type { SourceValue } from '../../firmware/core/sources/source.js';
import { SimWifi } from '../../agent-sim/peripherals/wifi.js';
import { VirtualClock, virtualHost } from './virtual-clock.js';

function readNow(src: DeviceSource): SourceValue[] {
  let out: SourceValue[] | undefined;
  src.read((e, v) => {
    assert.equal(e, undefined);
    out = v;
  });
  return out!;
}
const get = (vs: SourceValue[], n: string) => vs.find((x) => x.n === n);

function make(net: DeviceNet | undefined, freeMemory?: () => number, cfg: Record<string, unknown> = {}) {
  const vc = new VirtualClock();
  const { host } = virtualHost(vc, {}, undefined, { freeMemory });
  (host as { net?: DeviceNet }).net = net;
  const [src] = createSources(host, [deviceSource], [{ id: 'dev', type: 'device', ...cfg }]);
  return { vc, src: src as DeviceSource };
}

test('uptime in whole seconds, free memory in bytes, Wi-Fi RSSI and reconnects from host.net', () => {
  const vc0 = new VirtualClock();
  const wifi = new SimWifi({ now: vc0.now, dropsPerHour: 0, seed: 2 });
  const { vc, src } = make(wifi, () => 123456.7);
  vc.advance(61500);
  vc0.advance(61500);
  const vs = readNow(src);
  assert.deepEqual(get(vs, 'up'), { n: 'up', u: 's', v: 61 });
  assert.deepEqual(get(vs, 'mem'), { n: 'mem', u: 'B', v: 123456 });
  const r = get(vs, 'rssi')!;
  assert.equal(r.u, 'dBm');
  assert.ok((r.v as number) <= -40 && (r.v as number) >= -90, 'rssi ' + r.v);
  assert.deepEqual(get(vs, 'recon'), { n: 'recon', s: 0 });
});

test('a Wi-Fi drop: no RSSI while down, one more reconnect after; random drops over a day', () => {
  const vc = new VirtualClock();
  const wifi = new SimWifi({ now: vc.now, seed: 3 });
  const { host } = virtualHost(vc, {});
  (host as { net?: DeviceNet }).net = wifi;
  const [src] = createSources(host, [deviceSource], [{ id: 'dev', type: 'device' }]) as DeviceSource[];
  vc.advance(5000);
  wifi.drop(8000);
  vc.advance(3000);
  assert.equal(get(readNow(src), 'rssi'), undefined);
  assert.equal(get(readNow(src), 'recon')!.s, 0);
  vc.advance(7000);
  assert.ok(get(readNow(src), 'rssi'));
  assert.equal(get(readNow(src), 'recon')!.s, 1);
  const busy = new SimWifi({ now: vc.now, dropsPerHour: 2, seed: 4 });
  (host as { net?: DeviceNet }).net = busy;
  let prev = 0;
  for (let h = 0; h < 24; h++) {
    vc.advance(3600000);
    const k = get(readNow(src), 'recon')!.s as number;
    assert.ok(k >= prev);
    prev = k;
  }
  assert.ok(prev >= 30 && prev <= 70, 'about 2 drops per hour: ' + prev);
});

test('without host.net or freeMemory only uptime is reported; wifi: false leaves Wi-Fi out', () => {
  assert.deepEqual(readNow(make(undefined).src).map((v) => v.n), ['up']);
  const vc = new VirtualClock();
  const { src } = make(new SimWifi({ now: vc.now }), () => 1000, { wifi: false });
  assert.deepEqual(readNow(src).map((v) => v.n), ['up', 'mem']);
});

test('platform answers out of range are dropped and counted; a reconnect count that goes down stays monotonic', () => {
  let rssi: number | undefined = 5;
  let rc = 3;
  let mem = NaN;
  const net: DeviceNet = { rssi: () => rssi, reconnects: () => rc };
  const { src } = make(net, () => mem);
  let vs = readNow(src);
  assert.deepEqual(vs.map((v) => v.n), ['up', 'recon']);
  assert.equal(src.stats().badRssi, 1);
  assert.equal(src.stats().badMem, 1);
  rssi = -128;
  mem = -1;
  readNow(src);
  assert.equal(src.stats().badRssi, 2);
  assert.equal(src.stats().badMem, 2);
  rssi = -127;
  mem = 0;
  vs = readNow(src);
  assert.equal(get(vs, 'rssi')!.v, -127);
  assert.equal(get(vs, 'mem')!.v, 0);
  rssi = 0;
  assert.equal(get(readNow(src), 'rssi')!.v, 0);
  rc = 1; // the platform restarted its count
  assert.equal(get(readNow(src), 'recon')!.s, 4);
  rc = 2;
  assert.equal(get(readNow(src), 'recon')!.s, 5);
  assert.equal(src.stats().reconnectResets, 1);
  rc = 2.5;
  assert.equal(get(readNow(src), 'recon'), undefined);
  assert.equal(src.stats().badReconnects, 1);
});

test('schema: only the common options and wifi', () => {
  assert.deepEqual(checkSourceConfigs([deviceSource], [{ id: 'd', type: 'device', wifi: 'yes', rsi: 1 }]), [
    'sources[0].rsi: unknown option [device]',
    'sources[0].wifi: expected true or false, got "yes" [device]',
  ]);
  assert.deepEqual(checkSourceConfigs([deviceSource], [{ id: 'd', type: 'device', intervalMs: 100 }]), []);
});
