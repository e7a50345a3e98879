// Devices lose power at seeded random points. "torn": the cut lands inside a flash write (the
// device's next 1..steps write steps: an outbox frame, a chain head, a counter reservation,
// whatever comes), which FlashStorage.cutPowerAfter tears as the device's flash would; otherwise
// the cut comes between two steps (SimDevice.powerCut). Either way RAM is gone: readings not
// sealed yet are lost (the ledger counts them), no DISCONNECT or FIN is sent, and the device
// boots again after "off" from what its flash holds.
import { AT, type FaultModule, type FaultSpec } from './types.js';
import type { DeviceSelector } from '../scenario/check.js';
import type { SimDevice } from '../fleet.js';

export interface PowerLossSpec extends FaultSpec {
  type: 'power-loss';
  devices: DeviceSelector;
  at: number;
  for?: number;
  count: number;
  off: number;
  torn: boolean;
  steps: number;
}

export const powerLoss: FaultModule<PowerLossSpec> = {
  type: 'power-loss',
  doc: '"count" power cuts per device at random times in [at, at+for), torn inside a flash write or between writes, power back after "off"',
  fields: {
    devices: { t: 'devices', req: true },
    at: AT,
    for: { t: 'duration', min: 1, doc: 'window of the cuts (default: to the end)' },
    count: { t: 'int', min: 1, max: 10_000, def: 1, doc: 'cuts per device' },
    off: { t: 'duration', min: 0, def: 10_000, doc: 'time without power' },
    torn: { t: 'bool', def: true, doc: 'cut inside a flash write' },
    steps: { t: 'int', min: 1, max: 1000, def: 4, doc: 'torn: the cut tears one of the next 1..steps write steps' },
  },
  install(s, ctx) {
    const rnd = ctx.rng();
    const window = s.for ?? ctx.endMs - ctx.startMs - s.at;
    const mine = new Set<SimDevice>(ctx.select(s.devices));
    let pending = 0;
    ctx.onPowerCut((d) => {
      if (!mine.has(d)) return;
      ctx.time.timers.setTimeout(() => {
        if (d.poweredOff) ctx.bootDevice(d);
      }, s.off);
    });
    for (const d of mine) {
      const times: number[] = [];
      for (let k = 0; k < s.count; k++) times.push(s.at + Math.floor(rnd() * window));
      times.sort((a, b) => a - b);
      for (const t of times) {
        const steps = 1 + Math.floor(rnd() * s.steps);
        ctx.at(t, () => {
          if (d.poweredOff) return; // still off from the previous cut
          if (s.torn) {
            d.storage.cutPowerAfter(steps);
            pending++;
          } else d.powerCut();
        });
      }
    }
    ctx.finalCheck('power-loss (' + (s.torn ? 'torn writes' : 'between writes') + ', ' + mine.size + ' devices): the cuts happened', () => {
      let cuts = 0;
      for (const d of mine) cuts += d.cuts;
      return { ok: cuts >= 1, want: '>= 1 cut', got: cuts + ' cuts' + (s.torn ? ' (' + pending + ' torn writes armed)' : '') };
    });
  },
  end(s, ctx) {
    for (const d of ctx.select(s.devices)) {
      d.storage.disarm();
      if (d.poweredOff) ctx.bootDevice(d);
    }
  },
};
