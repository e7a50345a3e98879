// A small SNTPv4 server (RFC 4330 §5 server side) on 127.0.0.1 for the device tests: answers
// with this process's clock, or misbehaves on request (kiss-o'-death, leap alarm, wrong
// originate, silence) so the client's checks can be seen to work.
import dgram from 'node:dgram';

const NTP_UNIX_OFFSET_S = 2208988800;

export type SntpFault = 'none' | 'silent' | 'kod' | 'leap-alarm' | 'bad-originate' | 'client-mode';

export interface SntpServer {
  port: number;
  /** Requests received. */
  requests: number;
  fault: SntpFault;
  /** Added to the served time, ms. */
  skewMs: number;
  close(): Promise<void>;
}

function putTs(b: Buffer, off: number, unixMs: number): void {
  const t = unixMs / 1000 + NTP_UNIX_OFFSET_S;
  const s = Math.floor(t);
  b.writeUInt32BE(s >>> 0, off);
  b.writeUInt32BE(Math.floor((t - s) * 2 ** 32) >>> 0, off + 4);
}

export async function startSntpServer(o: { fault?: SntpFault; skewMs?: number } = {}): Promise<SntpServer> {
  const sock = dgram.createSocket('udp4');
  const srv: SntpServer = {
    port: 0,
    requests: 0,
    fault: o.fault ?? 'none',
    skewMs: o.skewMs ?? 0,
    close: () => new Promise<void>((ok) => sock.close(() => ok())),
  };
  sock.on('message', (req, r) => {
    srv.requests++;
    if (srv.fault === 'silent' || req.length < 48) return;
    const rx = Date.now() + srv.skewMs;
    const b = Buffer.alloc(48);
    const li = srv.fault === 'leap-alarm' ? 3 : 0;
    const mode = srv.fault === 'client-mode' ? 3 : 4;
    b[0] = (li << 6) | (((req[0] >> 3) & 7) << 3) | mode;
    b[1] = srv.fault === 'kod' ? 0 : 2; // stratum
    b[2] = 6; // poll
    b[3] = 0xec; // precision
    if (srv.fault === 'kod') b.write('RATE', 12, 'ascii');
    else b.write('GPS\0', 12, 'ascii');
    putTs(b, 16, rx - 1000); // reference
    req.copy(b, 24, 40, 48); // originate = client's transmit
    if (srv.fault === 'bad-originate') b[31] ^= 1;
    putTs(b, 32, rx);
    putTs(b, 40, Date.now() + srv.skewMs);
    sock.send(b, r.port, r.address);
  });
  await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', ok));
  srv.port = sock.address().port;
  return srv;
}
