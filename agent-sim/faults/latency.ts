// Latency on a link: its proxy delays every chunk, both ways, by "ms" real milliseconds.
// Real time: what the devices feel. Virtual time: requests hold the clock while they wait (the
// runner raises ioGraceMs to 4x the latency), so the delay costs real time and exercises real
// socket timing (PUBACKs later, segments coalesced) but is zero in virtual time.
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
  prepare(s, ctx) {
    ctx.needIoGrace(4 * s.ms + 200);
  },
  install(s, ctx) {
    const { proxy } = ctx.link(s.link);
    ctx.at(s.at, () => {
      proxy.setLatency(s.ms);
      ctx.note('link ' + s.link + ' latency ' + s.ms + ' ms');
    });
    if (s.for !== undefined)
      ctx.at(s.at + s.for, () => {
        proxy.setLatency(0);
        ctx.note('link ' + s.link + ' latency 0');
      });
  },
  end(s, ctx) {
    ctx.link(s.link).proxy.setLatency(0);
  },
};
