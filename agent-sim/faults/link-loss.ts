// A lossy link: what heavy packet loss does to long-lived TCP connections is reset them. The
// link's proxy resets every open link (RST both ways) at seeded random times, exponentially
// spaced with mean "every", between "at" and "at" + "for". Devices reconnect and resend what was
// not acknowledged; the broker may have acknowledged a batch whose PUBACK was lost, so the
// verifier sees it twice (a duplicate, stored once).
import { AT, FOR, LINK, type FaultModule, type FaultSpec } from './types.js';

export interface LinkLossSpec extends FaultSpec {
  type: 'link-loss';
  link: string;
  at: number;
  for: number;
  every: number;
}

export const linkLoss: FaultModule<LinkLossSpec> = {
  type: 'link-loss',
  doc: 'a link\'s TCP connections are reset at random times (mean interval "every") during [at, at+for)',
  fields: { link: LINK, at: AT, for: FOR, every: { t: 'duration', min: 100, req: true } },
  install(s, ctx) {
    const rnd = ctx.rng();
    const { proxy } = ctx.link(s.link);
    let t = s.at;
    for (;;) {
      t += Math.max(1, Math.round(-Math.log(1 - rnd()) * s.every));
      if (t >= s.at + s.for) break;
      ctx.at(t, () => {
        const n = proxy.drop();
        ctx.note('link ' + s.link + ': ' + n + ' connection(s) reset');
      });
    }
  },
};
