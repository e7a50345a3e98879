// A simulated electricity meter with an IEC 62056-21 optical port, mode C data readout, on a
// SerialLink's peripheral port. It listens at 300 baud 7E1 for "/?[address]!" CR LF, answers
// after its reaction time with "/XXXZident", waits for ACK '0' Z '0' CR LF, switches to the baud
// rate of Z and sends STX data "!" CR LF ETX BCC, then returns to 300 baud. A host that does not
// switch its own baud rate in time receives garbage (the SerialLink garbles bytes between ends
// whose settings differ), as it would on a real line.
//
// Faults: a wrong BCC, no answer to the request, a meter that does not switch baud rate, a data
// message cut short, an identification with a mode B letter instead of a mode C digit. Every data
// message is recorded with the SenML values a correct reader must take from it, computed here
// from the meter's own integers (not by the core's decoder).
import type { PeripheralPort } from '../io/serial-link.js';
import type { SourceValue } from '../../firmware/core/sources/source.js';
import { householdLoadW, prng } from '../sources/profiles.js';

export type IecFault = 'bcc' | 'silent' | 'noSwitch' | 'truncate' | 'modeB';

export interface IecMeterOptions {
  /** Flag id, 3 letters (default "ISK"). */
  manufacturer?: string;
  /** Identification after Z (default "ME382-1003"). */
  ident?: string;
  /** Baud rate character, mode C '0'..'6' (default '5' = 9600). */
  z?: string;
  /** Only answer requests carrying this address (requests without one are answered too). */
  address?: string;
  /** Reaction time tr, ms (IEC 62056-21: 200..1500; default 250). */
  trMs?: number;
  /** How long the meter waits for the acknowledgement before returning to idle (default 1500). */
  ackTimeoutMs?: number;
  /** Send the data message in this many pieces, `pieceGapMs` apart (a slow meter or line). */
  pieces?: number;
  pieceGapMs?: number;
  /** Simulated time advanced per readout, ms (default 15 min). */
  stepMs?: number;
  startTime?: number;
  seed?: number;
  faults?: Partial<Record<IecFault, number>>;
  timers?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void };
}

export interface SentReadout {
  seq: number;
  intact: boolean;
  fault?: IecFault;
  values: SourceValue[];
}

const BAUDS = [300, 600, 1200, 2400, 4800, 9600, 19200];

/** Block check character written independently of the core: XOR, 7 bits. */
export function iecBcc(s: string): number {
  let x = 0;
  for (let i = 0; i < s.length; i++) x ^= s.charCodeAt(i);
  return x & 0x7f;
}

function pad(n: number, w: number): string {
  let s = String(Math.abs(n));
  while (s.length < w) s = '0' + s;
  return (n < 0 ? '-' : '') + s;
}

function fixed(count: number, intDigits: number, dec: number): string {
  let div = 1;
  for (let i = 0; i < dec; i++) div *= 10;
  const neg = count < 0;
  const a = Math.abs(count);
  const i = Math.floor(a / div);
  return (neg ? '-' : '') + pad(i, intDigits) + (dec ? '.' + pad(a - i * div, dec) : '');
}

export class IecMeter {
  readonly sent: SentReadout[] = [];
  readonly forced: IecFault[] = [];
  /** Requests answered, acknowledgements seen. */
  readonly counts = { requests: 0, acks: 0, ignored: 0 };
  /** Energy registers in Wh. */
  readonly reg = { imp1: 4_100_200, imp2: 3_050_400, exp: 120_000, historic: 7_000_000 };
  state: 'idle' | 'ack' | 'sending' = 'idle';
  private readonly port: PeripheralPort;
  private readonly o: IecMeterOptions;
  private readonly rnd: () => number;
  private readonly timers: NonNullable<IecMeterOptions['timers']>;
  private line = '';
  private t: number;
  private seq = 0;
  private ackTimer: unknown;
  private fault: IecFault | undefined;

  constructor(port: PeripheralPort, o: IecMeterOptions = {}) {
    this.port = port;
    this.o = o;
    this.rnd = prng(o.seed ?? 11);
    this.t = o.startTime ?? Date.UTC(2024, 2, 4, 17, 0, 0);
    this.timers = o.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    port.setSettings({ baud: 300, bits: 7, parity: 'even', stopBits: 1 });
    port.onData = (d) => this.receive(d);
  }

  intact(): SentReadout[] {
    return this.sent.filter((s) => s.intact);
  }

  private write(s: string): void {
    const b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0x7f;
    this.port.write(b);
  }

  private pickFault(): IecFault | undefined {
    if (this.forced.length) return this.forced.shift();
    const f = this.o.faults;
    if (!f) return undefined;
    for (const k of ['bcc', 'silent', 'noSwitch', 'truncate', 'modeB'] as IecFault[]) {
      const p = f[k] ?? 0;
      if (p > 0 && this.rnd() < p) return k;
    }
    return undefined;
  }

  private receive(d: Uint8Array): void {
    for (const b of d) {
      const c = b & 0x7f;
      if (c === 0x2f || c === 0x06) this.line = '';
      this.line += String.fromCharCode(c);
      if (this.line.length > 64) this.line = this.line.slice(-64);
      if (c === 0x0a) {
        const l = this.line;
        this.line = '';
        this.onLine(l);
      }
    }
  }

  private onLine(l: string): void {
    const tr = this.o.trMs ?? 250;
    if (this.state === 'idle' && l.startsWith('/?') && l.endsWith('!\r\n')) {
      const addr = l.substring(2, l.length - 3);
      if (addr && this.o.address !== undefined && addr !== this.o.address) {
        this.counts.ignored++;
        return;
      }
      this.counts.requests++;
      this.fault = this.pickFault();
      if (this.fault === 'silent') {
        this.record([], false);
        return;
      }
      const z = this.fault === 'modeB' ? 'E' : (this.o.z ?? '5');
      this.state = 'ack';
      this.timers.setTimeout(() => {
        this.write('/' + (this.o.manufacturer ?? 'ISK') + z + (this.o.ident ?? 'ME382-1003') + '\r\n');
        this.ackTimer = this.timers.setTimeout(() => {
          // No acknowledgement: back to idle (a mode B letter is never acknowledged by a mode C reader).
          if (this.fault === 'modeB') this.record([], false);
          this.state = 'idle';
        }, this.o.ackTimeoutMs ?? 1500);
      }, tr);
      return;
    }
    if (this.state === 'ack' && l.length === 6 && l.charCodeAt(0) === 0x06 && l.endsWith('\r\n')) {
      this.timers.clearTimeout(this.ackTimer);
      this.counts.acks++;
      const zi = l.charCodeAt(2) - 48;
      if (l.charAt(1) !== '0' || l.charAt(3) !== '0' || zi < 0 || zi > 6) {
        this.state = 'idle';
        return;
      }
      this.state = 'sending';
      this.timers.setTimeout(() => this.sendData(BAUDS[zi]), tr);
    }
  }

  /** The data block for the next readout and the values a reader must take from it. */
  build(): { block: string; values: SourceValue[] } {
    const dt = this.o.stepMs ?? 900_000;
    this.t += dt;
    const hour = (this.t / 3_600_000) % 24;
    const load = Math.round(householdLoadW(hour, this.rnd));
    const d = new Date(this.t);
    const t1 = d.getUTCHours() >= 22 || d.getUTCHours() < 6;
    if (t1) this.reg.imp1 += (load * dt) / 3_600_000;
    else this.reg.imp2 += (load * dt) / 3_600_000;
    // Whole Wh with 3 decimals of kWh; the total is the sum of the tariff registers.
    const e1 = Math.floor(this.reg.imp1);
    const e2 = Math.floor(this.reg.imp2);
    const u = [2291 + Math.floor(this.rnd() * 30), 2301 + Math.floor(this.rnd() * 30), 2285 + Math.floor(this.rnd() * 30)];
    const share = [0.45, 0.35, 0.2];
    const i = share.map((s, k) => Math.round(((load * s) / (u[k] / 10)) * 100));
    const hz = 4990 + Math.floor(this.rnd() * 20);
    const L: string[] = [];
    const values: SourceValue[] = [];
    L.push('F.F(00000000)');
    values.push({ n: 'ff', vs: '00000000' });
    L.push('0.0.0(71234567)', '0.9.1(' + pad(d.getUTCHours(), 2) + pad(d.getUTCMinutes(), 2) + '00)', '0.9.2(' + pad(d.getUTCFullYear() % 100, 2) + pad(d.getUTCMonth() + 1, 2) + pad(d.getUTCDate(), 2) + ')');
    L.push('1.8.0(' + fixed(e1 + e2, 6, 3) + '*kWh)');
    values.push({ n: 'e', u: 'Wh', s: e1 + e2 });
    L.push('1.8.1(' + fixed(e1, 6, 3) + '*kWh)');
    values.push({ n: 'e_t1', u: 'Wh', s: e1 });
    L.push('1.8.2(' + fixed(e2, 6, 3) + '*kWh)');
    values.push({ n: 'e_t2', u: 'Wh', s: e2 });
    // A stored billing period: present in every real readout, never a current value.
    L.push('1.8.0*03(' + fixed(this.reg.historic, 6, 3) + ')');
    L.push('2.8.0(' + fixed(this.reg.exp, 6, 3) + '*kWh)');
    values.push({ n: 'e_exp', u: 'Wh', s: this.reg.exp });
    L.push('16.7.0(' + fixed(load, 2, 3) + '*kW)');
    values.push({ n: 'p', u: 'W', v: load });
    for (let k = 0; k < 3; k++) {
      L.push(['32', '52', '72'][k] + '.7.0(' + fixed(u[k], 3, 1) + '*V)');
      values.push({ n: 'u_l' + (k + 1), u: 'V', v: u[k] / 10 });
    }
    for (let k = 0; k < 3; k++) {
      L.push(['31', '51', '71'][k] + '.7.0(' + fixed(i[k], 3, 2) + '*A)');
      values.push({ n: 'i_l' + (k + 1), u: 'A', v: i[k] / 100 });
    }
    L.push('14.7.0(' + fixed(hz, 2, 2) + '*Hz)');
    values.push({ n: 'f', u: 'Hz', v: hz / 100 });
    L.push('C.1.0(71234567)', '0.2.0(V1.02)');
    return { block: L.join('\r\n') + '\r\n!\r\n', values };
  }

  private record(values: SourceValue[], intact: boolean): void {
    this.sent.push({ seq: this.seq++, intact, fault: this.fault, values });
  }

  private sendData(baud: number): void {
    const fault = this.fault;
    if (fault !== 'noSwitch') this.port.setSettings({ baud });
    const { block, values } = this.build();
    const etxPart = block + '\x03';
    let bccChar = iecBcc(etxPart);
    if (fault === 'bcc') bccChar ^= 0x01;
    let msg = '\x02' + etxPart + String.fromCharCode(bccChar);
    if (fault === 'truncate') msg = msg.substring(0, 1 + Math.floor(this.rnd() * (msg.length - 2)));
    this.record(values, !fault);
    const pieces = Math.max(1, this.o.pieces ?? 1);
    const size = Math.ceil(msg.length / pieces);
    const sendPiece = (k: number) => {
      this.write(msg.substring(k * size, (k + 1) * size));
      if (k + 1 < pieces) {
        this.timers.setTimeout(() => sendPiece(k + 1), this.o.pieceGapMs ?? 100);
        return;
      }
      // The SerialLink fixes each byte's fate when it is written; back to 300 baud for the next request.
      this.port.setSettings({ baud: 300 });
      this.state = 'idle';
    };
    sendPiece(0);
  }
}
