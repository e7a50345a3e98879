// The broker goes down and comes back on the same port. Mosquitto: SIGKILL ("kill": no clean
// shutdown, what it had not saved is lost, as in a crash) or SIGTERM ("graceful": it saves its
// persistence database first). aedes (in process): every client link is closed and a new
// instance starts over the same persistence object; both modes are the same for it.
// Devices see their links close (or connections refused while it is down), back off and
// reconnect; unacknowledged batches are resent from their outboxes.
import { AT, type FaultModule, type FaultSpec } from './types.js';

export interface BrokerRestartSpec extends FaultSpec {
  type: 'broker-restart';
  at: number;
  down: number;
  mode: 'kill' | 'graceful';
}

export const brokerRestart: FaultModule<BrokerRestartSpec> = {
  type: 'broker-restart',
  doc: 'the broker is stopped (kill or graceful) and started again on the same port after "down"',
  fields: {
    at: { ...AT, req: true },
    down: { t: 'duration', min: 0, def: 0, doc: 'time the broker stays down' },
    mode: { t: 'string', enum: ['kill', 'graceful'], def: 'graceful' },
  },
  install(s, ctx) {
    ctx.at(s.at, async () => {
      ctx.note('broker ' + ctx.broker.kind + ' stopped (' + s.mode + ')');
      await ctx.broker.stop(s.mode);
      if (s.down === 0) {
        await ctx.broker.start();
        ctx.note('broker up again');
      }
    });
    if (s.down > 0)
      ctx.at(s.at + s.down, async () => {
        await ctx.broker.start();
        ctx.note('broker up again');
      });
  },
  async end(_s, ctx) {
    if (!ctx.broker.up()) {
      await ctx.broker.start();
      ctx.note('broker started for the drain');
    }
  },
};
