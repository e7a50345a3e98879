// A simulated Modbus RTU energy meter on a SerialLink's peripheral port: it answers read
// requests (function 03/04) addressed to it with the registers of a profile (the same JSON the
// device uses), encoded here independently of the core's decoder, from a physical model (a
// household load curve with noise, energy integrated over time so totals only grow).
//
// As a real slave ([AP] = MODBUS Application Protocol V1.1b3 §7): unsupported function codes get
// exception 01, registers outside the map (or in gaps wider than the profile's maxGap) get 02, a
// quantity of 0 or more than the profile's maxRegs gets 03, requests for other addresses are
// ignored, broadcasts (address 0) get no answer. Faults to switch on: answer latency, noise bytes
// before the answer, a corrupt CRC, random corruption, truncation, no answer, answering as another
// address, "busy" (06) answers.
import type { PeripheralPort } from '../io/serial-link.js';
import type { ModbusProfile, ProfileQuantity } from '../../firmware/core/sources/modbus/profile.js';
import { householdLoadW, prng } from '../sources/profiles.js';

/** CRC-16/MODBUS, bit by bit ([SL] Appendix B), independent of the core's table version. */
export function crc16Bitwise(data: Uint8Array, end = data.length): number {
  let c = 0xffff;
  for (let i = 0; i < end; i++) {
    c ^= data[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  }
  return c;
}

/** Appends the CRC (low byte first) to a frame body. */
export function withCrc(body: number[] | Uint8Array): Uint8Array {
  const f = new Uint8Array(body.length + 2);
  f.set(body);
  const c = crc16Bitwise(f, body.length);
  f[body.length] = c & 0xff;
  f[body.length + 1] = c >>> 8;
  return f;
}

export interface ModbusMeterFaults {
  /** Delay between a request and the answer, ms (real meters: 10..100). */
  latencyMs: number;
  /** Random bytes sent right before each answer. */
  noiseBytes: number;
  /** Flip the CRC of every answer. */
  corruptCrc: boolean;
  /** Probability (0..1) that an answer gets 1..3 random byte changes after its CRC was computed. */
  corruptRate: number;
  /** Drop this many bytes from the end of every answer. */
  truncate: number;
  /** Never answer. */
  silent: boolean;
  /** Answer with this address instead of the meter's own (another slave answering). */
  answerAs: number | undefined;
  /** Answer this many following requests with exception 06 SERVER DEVICE BUSY. */
  busyAnswers: number;
}

export interface ModbusMeterOptions extends Partial<ModbusMeterFaults> {
  address: number;
  profile: ModbusProfile;
  seed?: number;
  /** Simulation clock, ms since the epoch (energy integrates over it). Default Date.now. */
  now?: () => number;
  /** Import energy at start, Wh. */
  startWh?: number;
  /** Export energy at start, Wh. */
  startExportWh?: number;
}

export interface ModbusMeterStats {
  requests: number;
  answers: number;
  exceptions: number;
  /** Well-formed requests for another address. */
  ignored: number;
  /** Bytes dropped while looking for a request. */
  noise: number;
}

interface Encoded {
  words: number[];
  served: number | boolean;
}

const TYPE_WORDS: Record<string, number> = { u16: 1, s16: 1, u32_abcd: 2, u32_cdab: 2, s32_abcd: 2, s32_cdab: 2, f32_abcd: 2, f32_cdab: 2 };

/**
 * A silence longer than this between request bytes starts a new frame. A real slave uses 1.5
 * character times; the simulated link has no wire timing and a loaded test machine can stall
 * its timers for tens of ms, so the simulation is generous.
 */
const SILENCE_RESET_MS = 250;

export class ModbusMeter {
  readonly address: number;
  readonly profile: ModbusProfile;
  readonly faults: ModbusMeterFaults;
  readonly stats: ModbusMeterStats = { requests: 0, answers: 0, exceptions: 0, ignored: 0, noise: 0 };
  /** The value each quantity carried in its latest answer, as the register encodes it (after its resolution). */
  readonly served: Record<string, number | boolean> = {};
  /** Physical state. */
  importWh: number;
  exportWh: number;
  alarm = false;
  private readonly port: PeripheralPort;
  private readonly rnd: () => number;
  private readonly now: () => number;
  private lastT: number;
  private rx: number[] = [];
  private lastRx = 0;
  private readonly readable: Record<number, Set<number>> = {};

  constructor(port: PeripheralPort, o: ModbusMeterOptions) {
    this.port = port;
    this.address = o.address;
    this.profile = o.profile;
    this.rnd = prng(o.seed ?? 1);
    this.now = o.now ?? (() => Date.now());
    this.lastT = this.now();
    this.importWh = o.startWh ?? 1_234_500;
    this.exportWh = o.startExportWh ?? 56_700;
    this.faults = {
      latencyMs: o.latencyMs ?? 5,
      noiseBytes: o.noiseBytes ?? 0,
      corruptCrc: o.corruptCrc ?? false,
      corruptRate: o.corruptRate ?? 0,
      truncate: o.truncate ?? 0,
      silent: o.silent ?? false,
      answerAs: o.answerAs,
      busyAnswers: o.busyAnswers ?? 0,
    };
    this.buildReadable();
    // Several meters may share one port (a multi-drop bus): each sees every byte.
    const prev = port.onData;
    port.onData = (d) => {
      prev(d);
      this.receive(d);
    };
  }

  /** Registers a read may touch: the quantities' own, plus gaps of at most maxGap between them. */
  private buildReadable(): void {
    const maxGap = this.profile.maxGap ?? 0;
    const byFc: Record<number, ProfileQuantity[]> = {};
    for (const q of this.profile.quantities) (byFc[q.fc] ??= []).push(q);
    for (const fc of Object.keys(byFc).map(Number)) {
      const set = new Set<number>();
      const qs = byFc[fc].slice().sort((a, b) => a.addr - b.addr);
      let prevEnd = -1;
      for (const q of qs) {
        const end = q.addr + TYPE_WORDS[q.type];
        if (prevEnd >= 0 && q.addr > prevEnd && q.addr - prevEnd <= maxGap) for (let r = prevEnd; r < q.addr; r++) set.add(r);
        for (let r = q.addr; r < end; r++) set.add(r);
        prevEnd = Math.max(prevEnd, end);
      }
      this.readable[fc] = set;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Physical model

  private advance(): void {
    const t = this.now();
    const dt = Math.max(0, t - this.lastT);
    this.lastT = t;
    const p = householdLoadW((t / 3_600_000) % 24, this.rnd);
    this.importWh += (p * dt) / 3_600_000;
    this.loadW = p;
  }

  private loadW = 500;

  /** The physical value of a quantity now, by its SenML name (base name, then phase suffix). */
  physical(n: string): number | boolean {
    const m = /^([a-z]+(?:_[a-z]+)?)(?:_l([123]))?$/.exec(n);
    const base = m ? m[1] : n;
    const phase = m && m[2] ? Number(m[2]) : 0;
    const r = this.rnd();
    const share = phase ? 1 / 3 + (phase - 2) * 0.05 : 1;
    const pf = 0.93 + 0.06 * r;
    const u = 230 + (phase - 2) * 0.7 + (this.rnd() - 0.5) * 4;
    const p = this.loadW * share * (1 + (this.rnd() - 0.5) * 0.02);
    switch (base) {
      case 'u':
        return u;
      case 'i':
        return p / u / pf;
      case 'i_n':
        return 0.2 + r * 0.3;
      case 'p':
        return p;
      case 'q':
        return p * Math.tan(Math.acos(pf));
      case 'pf':
        return pf;
      case 'f':
        return 50 + (r - 0.5) * 0.1;
      case 'e':
        return this.importWh;
      case 'e_exp':
        return this.exportWh;
      case 'e_tot':
        return this.importWh + this.exportWh;
      case 'alarm':
        return this.alarm;
      default:
        return Math.floor(r * 10000) / 100;
    }
  }

  /** Encodes a physical value into the quantity's registers; `served` is what they now say. */
  encode(q: ProfileQuantity, phys: number | boolean): Encoded {
    const scale = q.scale ?? 1;
    if (q.flag) return { words: [phys ? 0xffff : 0], served: !!phys };
    const x = (phys as number) / scale;
    const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
    let words: number[];
    let served: number;
    switch (q.type) {
      case 'u16':
      case 's16': {
        const raw = q.type === 'u16' ? clamp(Math.round(x), 0, 0xffff) : clamp(Math.round(x), -0x8000, 0x7fff);
        words = [raw & 0xffff];
        served = decimal(raw * scale);
        break;
      }
      case 'u32_abcd':
      case 'u32_cdab':
      case 's32_abcd':
      case 's32_cdab': {
        const signed = q.type.startsWith('s');
        const raw = signed ? clamp(Math.round(x), -0x80000000, 0x7fffffff) : clamp(Math.round(x), 0, 0xffffffff);
        const u = raw < 0 ? raw + 0x100000000 : raw;
        const hi = Math.floor(u / 65536);
        const lo = u % 65536;
        words = q.type.endsWith('cdab') ? [lo, hi] : [hi, lo];
        served = decimal(raw * scale);
        break;
      }
      default: {
        const dv = new DataView(new ArrayBuffer(4));
        dv.setFloat32(0, x);
        const hi = dv.getUint16(0);
        const lo = dv.getUint16(2);
        words = q.type === 'f32_cdab' ? [lo, hi] : [hi, lo];
        served = dv.getFloat32(0) * scale;
      }
    }
    if (q.decimals !== undefined) served = Number(served.toFixed(q.decimals));
    return { words, served: served === 0 ? 0 : served };
  }

  // -------------------------------------------------------------------------------------------
  // The wire

  private receive(d: Uint8Array): void {
    const t = Date.now();
    if (this.rx.length && t - this.lastRx > SILENCE_RESET_MS) {
      this.stats.noise += this.rx.length;
      this.rx = [];
    }
    this.lastRx = t;
    for (const b of d) this.rx.push(b);
    for (;;) {
      if (this.rx.length < 8) return;
      const buf = Uint8Array.from(this.rx);
      const fc = buf[1];
      // [AP] §6.11, §6.12: write-multiple requests carry a byte count at offset 6.
      const len = (fc === 15 || fc === 16) && buf.length >= 7 ? 9 + buf[6] : 8;
      if (len <= buf.length && crc16Bitwise(buf, len - 2) === (buf[len - 2] | (buf[len - 1] << 8))) {
        this.rx.splice(0, len);
        this.request(buf.subarray(0, len));
        continue;
      }
      if (len > buf.length && len <= 256) return; // a write-multiple request still arriving
      this.rx.shift();
      this.stats.noise++;
    }
  }

  private request(req: Uint8Array): void {
    const addr = req[0];
    if (addr !== this.address) {
      if (addr !== 0) this.stats.ignored++;
      return;
    }
    this.stats.requests++;
    if (this.faults.silent) return;
    const fc = req[1];
    const fcs = new Set(this.profile.quantities.map((q) => q.fc));
    if (!fcs.has(fc)) return this.answer(this.exception(fc, 1));
    if (this.faults.busyAnswers > 0) {
      this.faults.busyAnswers--;
      return this.answer(this.exception(fc, 6));
    }
    const start = (req[2] << 8) | req[3];
    const count = (req[4] << 8) | req[5];
    if (count < 1 || count > Math.min(125, this.profile.maxRegs ?? 125)) return this.answer(this.exception(fc, 3));
    const ok = this.readable[fc];
    for (let r = start; r < start + count; r++) if (!ok.has(r)) return this.answer(this.exception(fc, 2));
    this.advance();
    const regs = new Map<number, number>();
    for (const q of this.profile.quantities) {
      if (q.fc !== fc) continue;
      const w = TYPE_WORDS[q.type];
      if (q.addr + w <= start || q.addr >= start + count) continue;
      const e = this.encode(q, this.physical(q.n));
      e.words.forEach((v, k) => regs.set(q.addr + k, v));
      this.served[q.n] = e.served;
    }
    const body = [addr, fc, 2 * count];
    for (let r = start; r < start + count; r++) {
      const v = regs.get(r) ?? 0;
      body.push(v >> 8, v & 0xff);
    }
    this.answer(withCrc(body));
  }

  private exception(fc: number, code: number): Uint8Array {
    this.stats.exceptions++;
    return withCrc([this.address, fc | 0x80, code]);
  }

  private answer(frame: Uint8Array): void {
    const f = this.faults;
    let out = frame;
    if (f.answerAs !== undefined) {
      const body = Array.from(out.subarray(0, out.length - 2));
      body[0] = f.answerAs;
      out = withCrc(body);
    }
    if (f.corruptCrc) out[out.length - 1] ^= 0x5a;
    if (f.corruptRate > 0 && this.rnd() < f.corruptRate) {
      const n = 1 + Math.floor(this.rnd() * 3);
      for (let k = 0; k < n; k++) out[Math.floor(this.rnd() * out.length)] ^= 1 + Math.floor(this.rnd() * 255);
    }
    if (f.truncate > 0) out = out.subarray(0, Math.max(0, out.length - f.truncate));
    const noise = new Uint8Array(f.noiseBytes);
    for (let k = 0; k < noise.length; k++) noise[k] = Math.floor(this.rnd() * 256);
    const wire = new Uint8Array(noise.length + out.length);
    wire.set(noise);
    wire.set(out, noise.length);
    this.stats.answers++;
    setTimeout(() => this.port.write(wire), f.latencyMs);
  }
}

/** The decimal a scaled integer register stands for (2257 x 0.1 is 225.7, not 225.70000000000002). */
function decimal(x: number): number {
  return Number(x.toPrecision(12));
}
