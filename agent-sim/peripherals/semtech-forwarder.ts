// A simulated LoRa gateway's packet forwarder speaking the Semtech UDP protocol v2
// (Lora-net/packet_forwarder PROTOCOL.TXT) over real datagram sockets: PUSH_DATA with `rxpk`
// bursts and a `stat` report every statIntervalMs, PULL_DATA keep-alives, a random token per
// datagram, and ACK accounting as lora_pkt_fwd.c does it (an ACK counts when version, token
// and identifier match; one not received within ackTimeoutMs is missing; `ackr` in the next
// stat is the share of PUSH_DATA acknowledged in the interval).
//
// It records everything it sent that a correct server must count (the sums of its stat
// reports, rxpk per SF, RSSI/SNR per packet), so tests compare the server's readings with it.
// Faults: send any bytes (sendRaw), JSON with the reference forwarder's own "stat":? bug,
// wrong version, truncation, noise; latency on the way back is the server's.
import dgram from 'node:dgram';
import { prng } from '../sources/profiles.js';

/** EU868 default channels (LoRaWAN Regional Parameters RP002 EU863-870 + the usual 5 extra). */
export const EU868_CHANNELS_MHZ = [868.1, 868.3, 868.5, 867.1, 867.3, 867.5, 867.7, 867.9];

export interface ForwarderOptions {
  server: { address: string; port: number };
  /** Gateway EUI, 8 bytes (default aa555a0000000101, the reference's example). */
  eui?: Uint8Array;
  statIntervalMs?: number;
  pullIntervalMs?: number;
  /** Mean time between rxpk bursts (ms) and packets per burst (1..burstMax). */
  burstIntervalMs?: number;
  burstMax?: number;
  /** PUSH_TIMEOUT_MS of lora_pkt_fwd.c is 100. */
  ackTimeoutMs?: number;
  channelsMhz?: number[];
  /** Share of received packets with a bad CRC (counted in rxnb, not rxok; forwarded with stat -1). */
  crcErrorRate?: number;
  /** Downlinks per stat interval (as if another server sent them), for the dwnb/txnb sums. */
  downlinksPerStat?: number;
  /** Extra fields in stat (sx1302_hal adds temp; GPS gateways add lati/long/alti). */
  temp?: boolean;
  gps?: { lati: number; long: number; alti: number };
  seed?: number;
}

export interface SentPacket {
  rssi: number;
  lsnr?: number;
  sf: number;
  khz: number;
}

export class SemtechForwarder {
  readonly o: ForwarderOptions;
  readonly eui: Uint8Array;
  private sock: dgram.Socket;
  private rnd: () => number;
  private pending = new Map<number, { id: number; iv: number; timer: NodeJS.Timeout; done: (ok: boolean) => void }>();
  /** Stat interval number: an ACK counts toward the ackr of the interval its datagram was sent in. */
  private ivNo = 0;
  private timers: NodeJS.Timeout[] = [];
  private running = false;
  // Interval counters, as lora_pkt_fwd keeps them between two stat reports.
  private iv = { rxnb: 0, rxok: 0, rxfw: 0, pushSent: 0, pushAcked: 0 };
  /** What the forwarder sent in valid datagrams: the totals a server must reach. */
  readonly sent = { rxnb: 0, rxok: 0, rxfw: 0, dwnb: 0, txnb: 0, stat: 0, push: 0, pull: 0, raw: 0 };
  readonly packets: SentPacket[] = [];
  readonly acks = { push: 0, pull: 0, missing: 0, wrong: 0 };
  /** Datagrams the server sent that were not an ACK for anything pending. */
  readonly stray: Uint8Array[] = [];
  lastAckr = 100;

  constructor(o: ForwarderOptions) {
    this.o = o;
    this.eui = o.eui ?? new Uint8Array([0xaa, 0x55, 0x5a, 0x00, 0x00, 0x00, 0x01, 0x01]);
    this.rnd = prng(o.seed ?? 1);
    this.sock = dgram.createSocket('udp4');
    this.sock.on('message', (m) => this.onMessage(new Uint8Array(m)));
  }

  /** Binds the forwarder's socket (an ephemeral port on loopback). */
  async open(): Promise<void> {
    await new Promise<void>((ok) => this.sock.bind(0, '127.0.0.1', () => ok()));
  }

  /** Runs the forwarder's loops: rxpk bursts, stat reports, PULL_DATA keep-alives. */
  start(): this {
    if (this.running) return this;
    this.running = true;
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      this.timers.push(t as unknown as NodeJS.Timeout);
    };
    every(this.o.statIntervalMs ?? 30000, () => void this.sendStat());
    every(this.o.pullIntervalMs ?? 10000, () => void this.sendPull());
    const burst = () => {
      if (!this.running) return;
      void this.sendRxpk(1 + Math.floor(this.rnd() * (this.o.burstMax ?? 4)));
      const mean = this.o.burstIntervalMs ?? 2000;
      this.timers.push(setTimeout(burst, -Math.log(1 - this.rnd() * 0.999) * mean));
    };
    this.timers.push(setTimeout(burst, 0));
    return this;
  }

  stop(): void {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  close(): void {
    this.stop();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    this.sock.close();
  }

  // ---- datagrams ------------------------------------------------------------------------------

  private header(id: number, token: number): Uint8Array {
    const h = new Uint8Array(12);
    h[0] = 2;
    h[1] = token >> 8;
    h[2] = token & 255;
    h[3] = id;
    h.set(this.eui, 4);
    return h;
  }

  private token(): number {
    let t: number;
    do t = Math.floor(this.rnd() * 65536);
    while (this.pending.has(t));
    return t;
  }

  /** Sends a datagram with a fresh token and resolves true when its ACK came in time. */
  private send(id: number, json: string | undefined): Promise<boolean> {
    const token = this.token();
    const h = this.header(id, token);
    const body = json === undefined ? new Uint8Array(0) : new Uint8Array(Buffer.from(json, 'ascii'));
    const d = new Uint8Array(h.length + body.length);
    d.set(h);
    d.set(body, h.length);
    return new Promise((done) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        this.acks.missing++;
        done(false);
      }, this.o.ackTimeoutMs ?? 100);
      this.pending.set(token, { id, iv: this.ivNo, timer, done });
      this.sock.send(d, this.o.server.port, this.o.server.address);
    });
  }

  private onMessage(m: Uint8Array): void {
    if (m.length !== 4 || m[0] !== 2) {
      this.stray.push(m);
      return;
    }
    const token = (m[1] << 8) | m[2];
    const p = this.pending.get(token);
    if (!p) {
      this.stray.push(m);
      return;
    }
    const want = p.id === 0 ? 1 : p.id === 2 ? 4 : -1;
    if (m[3] !== want) {
      this.acks.wrong++;
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(token);
    if (p.id === 0) {
      this.acks.push++;
      if (p.iv === this.ivNo) this.iv.pushAcked++;
    } else this.acks.pull++;
    p.done(true);
  }

  /** Any bytes, unaccounted (fault injection); resolves with the server's answer, if any. */
  sendRaw(bytes: Uint8Array): void {
    this.sent.raw++;
    this.sock.send(bytes, this.o.server.port, this.o.server.address);
  }

  /** A PUSH_DATA with `json` as given (for malformed payloads); counted as sent, not as data. */
  pushJson(json: string): Promise<boolean> {
    this.iv.pushSent++;
    return this.send(0, json);
  }

  sendPull(): Promise<boolean> {
    this.sent.pull++;
    return this.send(2, undefined);
  }

  /** One PUSH_DATA with `n` received packets (some with CRC errors, per crcErrorRate). */
  sendRxpk(n: number): Promise<boolean> {
    const chans = this.o.channelsMhz ?? EU868_CHANNELS_MHZ;
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      const sf = 7 + Math.floor(this.rnd() * 6);
      const mhz = chans[Math.floor(this.rnd() * chans.length)];
      const rssi = -Math.round(40 + this.rnd() * 80);
      const lsnr = Math.round((-15 + this.rnd() * 25) * 10) / 10;
      const bad = this.rnd() < (this.o.crcErrorRate ?? 0);
      this.iv.rxnb++;
      if (!bad) this.iv.rxok++;
      this.iv.rxfw++;
      this.packets.push({ rssi, lsnr, sf, khz: Math.round(mhz * 1000) });
      const size = 10 + Math.floor(this.rnd() * 40);
      const data = Buffer.alloc(size, 0x40 + i).toString('base64');
      // Field order and formats as lora_pkt_fwd.c prints them.
      parts.push(
        '{"tmst":' + Math.floor(this.rnd() * 4294967295) + ',"chan":' + chans.indexOf(mhz) + ',"rfch":0,"freq":' + mhz.toFixed(6) +
          ',"stat":' + (bad ? -1 : 1) + ',"modu":"LORA","datr":"SF' + sf + 'BW125","codr":"4/5","lsnr":' + lsnr.toFixed(1) +
          ',"rssi":' + rssi + ',"size":' + size + ',"data":"' + data + '"}',
      );
    }
    this.sent.push++;
    this.iv.pushSent++;
    return this.send(0, '{"rxpk":[' + parts.join(',') + ']}');
  }

  /** The `stat` JSON for the interval now ending (resets the interval counters). */
  statJson(): string {
    const iv = this.iv;
    const dl = this.o.downlinksPerStat ?? 0;
    const dwnb = dl > 0 ? Math.floor(this.rnd() * (dl + 1)) : 0;
    const txnb = dwnb > 0 ? dwnb - Math.floor(this.rnd() * 2) : 0;
    const ackr = iv.pushSent ? (100 * iv.pushAcked) / iv.pushSent : 0;
    this.lastAckr = Math.round(ackr * 10) / 10;
    const now = new Date();
    const time = now.toISOString().replace('T', ' ').substr(0, 19) + ' GMT';
    let s = '{"stat":{"time":"' + time + '"';
    if (this.o.gps) s += ',"lati":' + this.o.gps.lati.toFixed(5) + ',"long":' + this.o.gps.long.toFixed(5) + ',"alti":' + this.o.gps.alti;
    s += ',"rxnb":' + iv.rxnb + ',"rxok":' + iv.rxok + ',"rxfw":' + iv.rxfw + ',"ackr":' + ackr.toFixed(1) + ',"dwnb":' + dwnb + ',"txnb":' + txnb;
    if (this.o.temp) s += ',"temp":' + (30 + this.rnd() * 10).toFixed(1);
    s += '}}';
    this.sent.rxnb += iv.rxnb;
    this.sent.rxok += iv.rxok;
    this.sent.rxfw += iv.rxfw;
    this.sent.dwnb += dwnb;
    this.sent.txnb += txnb;
    this.sent.stat++;
    this.iv = { rxnb: 0, rxok: 0, rxfw: 0, pushSent: 0, pushAcked: 0 };
    this.ivNo++;
    return s;
  }

  sendStat(): Promise<boolean> {
    const json = this.statJson();
    this.sent.push++;
    this.iv.pushSent++;
    return this.send(0, json);
  }
}
