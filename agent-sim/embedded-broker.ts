// The embedded MQTT broker (aedes, in process) that agent-sim starts when no --broker is given,
// on a free loopback port. Tests use the same one.
import net from 'node:net';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** The live broker; replaced by restart(). */
  broker: Aedes;
  /** Stop the broker and drop every client connection. */
  close(): Promise<void>;
  /** Close, then start a fresh broker on the same port (state kept only with `persistence`). */
  restart(opts?: { downMs?: number }): Promise<void>;
}

/**
 * `setup` runs on every broker instance (also after restart), e.g. to attach hooks.
 * `persistence` (an aedes persistence object) is reused by every instance, so sessions,
 * subscriptions and QoS 1 queues survive restart() as a broker restarted over durable storage.
 */
export async function startEmbeddedBroker(opts: { port?: number; setup?: (b: Aedes) => void; persistence?: unknown } = {}): Promise<EmbeddedBroker> {
  let port = opts.port ?? 0;
  let server: net.Server | undefined;
  let sockets = new Set<net.Socket>();

  async function up(): Promise<Aedes> {
    const broker = await Aedes.createBroker(opts.persistence ? { persistence: opts.persistence as never } : {});
    opts.setup?.(broker);
    const srv = net.createServer((s) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      broker.handle(s);
    });
    await new Promise<void>((ok, fail) => srv.once('error', fail).listen(port, '127.0.0.1', ok));
    port = (srv.address() as net.AddressInfo).port;
    server = srv;
    return broker;
  }

  async function down(broker: Aedes): Promise<void> {
    const srv = server;
    server = undefined;
    await new Promise<void>((ok) => broker.close(() => ok()));
    for (const s of sockets) s.destroy();
    sockets = new Set();
    if (srv) await new Promise<void>((ok) => srv.close(() => ok()));
  }

  const h: EmbeddedBroker = {
    url: '',
    port: 0,
    broker: await up(),
    close: () => down(h.broker),
    async restart(r = {}) {
      await down(h.broker);
      await new Promise((ok) => setTimeout(ok, r.downMs ?? 0));
      h.broker = await up();
    },
  };
  h.port = port;
  h.url = 'mqtt://127.0.0.1:' + port;
  return h;
}

