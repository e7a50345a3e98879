// Latency on a link: every chunk, both ways, arrives "ms" later. Virtual time: a delay in the
// devices' own link layer (platform/link-delay.ts) counted in virtual ms, so a slow link costs no
// real time and the devices' timeouts see it exactly. Real time: the link proxy delays the chunks
// (real sockets, real timing).
import { AT, LINK, type FaultModule, type FaultSpec } from './types.js';

export interface LatencySpec extends FaultSpec {
  type: 'latency';
  link: string;
  at: number;
  for?: number;
  ms: number;
}

export const latency: FaultModule<LatencySpec> = {
  type: 'latency',
  doc: 'a link adds "ms" of one-way delay from "at", for "for" (default: to the end)',
  fields: { link: LINK, at: AT, for: { t: 'duration', min: 1 }, ms: { t: 'int', min: 0, max: 10_000, req: true } },
  install(s, ctx) {
    const link = ctx.link(s.link);
    ctx.at(s.at, () => {
      link.setLatency(s.ms);
      ctx.note('link ' + s.link + ' latency ' + s.ms + ' ms');
    });
    if (s.for !== undefined)
      ctx.at(s.at + s.for, () => {
        link.setLatency(0);
        ctx.note('link ' + s.link + ' latency 0');
      });
  },
  end(s, ctx) {
    ctx.link(s.link).setLatency(0);
  },
};
