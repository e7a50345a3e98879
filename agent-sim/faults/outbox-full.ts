// Outbox full: the devices of a link get a tiny outbox (maxEntries), and the link becomes
// unreachable (connections refused, open ones reset) for "for". The devices go on sampling and
// sealing; once the outbox holds maxEntries batches the oldest is dropped, and every later batch
// carries a signed drop report naming what was dropped, until one is acknowledged. The verifier
// then sees explained gaps, never unexplained ones.
import { AT, FOR, LINK, type FaultModule, type FaultSpec } from './types.js';

export interface OutboxFullSpec extends FaultSpec {
  type: 'outbox-full';
  link: string;
  at: number;
  for: number;
  maxEntries: number;
}

export const outboxFull: FaultModule<OutboxFullSpec> = {
  type: 'outbox-full',
  doc: 'the link\'s devices get an outbox of "maxEntries" batches and the link refuses connections for "for"',
  fields: { link: LINK, at: AT, for: FOR, maxEntries: { t: 'int', min: 1, max: 255, def: 4 } },
  prepare(s, ctx) {
    for (const i of ctx.linkDevices(s.link)) ctx.agentOverride(i, { outbox: { maxEntries: s.maxEntries } });
  },
  install(s, ctx) {
    const { proxy, devices } = ctx.link(s.link);
    ctx.at(s.at, () => {
      proxy.refuse();
      const n = proxy.drop();
      ctx.note('link ' + s.link + ' unreachable (' + n + ' connections reset, ' + devices.length + ' devices with outboxes of ' + s.maxEntries + ')');
    });
    ctx.at(s.at + s.for, () => {
      proxy.restore();
      ctx.note('link ' + s.link + ' reachable again');
    });
  },
  end(s, ctx) {
    const { proxy } = ctx.link(s.link);
    if (proxy.mode() !== 'pass') proxy.restore();
  },
};
