// A network partition on a link: its proxy turns into a black hole (no FIN, no RST, nothing
// arrives either way, new connections accepted locally and never forwarded), then forwarding
// resumes and what was held is delivered. The devices find out by their MQTT keep-alive; in
// virtual time the link counts as cut, so its requests never hold the clock.
import { AT, FOR, LINK, type FaultModule, type FaultSpec } from './types.js';

export interface PartitionSpec extends FaultSpec {
  type: 'partition';
  link: string;
  at: number;
  for: number;
}

export const partition: FaultModule<PartitionSpec> = {
  type: 'partition',
  doc: 'a link becomes a black hole for "for", then forwards again (held bytes delivered in order)',
  fields: { link: LINK, at: AT, for: FOR },
  install(s, ctx) {
    const { proxy, devices } = ctx.link(s.link);
    ctx.at(s.at, () => {
      proxy.blackhole();
      ctx.note('link ' + s.link + ' partitioned (' + devices.length + ' devices)');
    });
    ctx.at(s.at + s.for, () => {
      if (proxy.mode() === 'blackhole') proxy.restore();
      ctx.note('link ' + s.link + ' restored');
    });
  },
  end(s, ctx) {
    const { proxy } = ctx.link(s.link);
    if (proxy.mode() === 'blackhole') proxy.restore();
  },
};
