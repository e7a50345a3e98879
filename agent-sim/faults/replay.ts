// Replay: an attacker (a client of the broker) republishes genuine messages it captured earlier,
// byte for byte, on their own topics. The signature is the device's, so the verifier can only
// recognise them by (device, seq): each must be a duplicate, stored once. The ledger counts a
// batch accepted twice as a failure.
import { AT, type FaultModule, type FaultSpec } from './types.js';
import type { DeviceSelector } from '../scenario/check.js';

export interface ReplaySpec extends FaultSpec {
  type: 'replay';
  at: number;
  count: number;
  devices?: DeviceSelector;
}

export const replay: FaultModule<ReplaySpec> = {
  type: 'replay',
  doc: '"count" genuine messages sealed before "at" are published again, unchanged',
  fields: { at: AT, count: { t: 'int', min: 1, max: 100_000, req: true }, devices: { t: 'devices', doc: 'whose messages (default: any)' } },
  prepare(_s, ctx) {
    ctx.keepMessages();
  },
  install(s, ctx) {
    const rnd = ctx.rng();
    const only = s.devices === undefined ? undefined : new Set(ctx.select(s.devices).map((d) => ctx.indexOf(d)));
    ctx.at(s.at, async () => {
      const pool = ctx.ledger.keptMessages().filter((m) => !only || only.has(m.index));
      if (!pool.length) {
        ctx.note('replay: nothing captured yet');
        return;
      }
      const a = await ctx.attacker();
      for (let k = 0; k < s.count; k++) {
        const m = pool[Math.floor(rnd() * pool.length)];
        await a.publish(ctx.prefix + '/' + m.device + '/tele', m.bytes);
      }
      ctx.note('replay: ' + s.count + ' genuine message(s) published again');
    });
  },
};
