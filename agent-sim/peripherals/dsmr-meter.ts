// A simulated DSMR smart meter on a SerialLink's peripheral port: it writes real P1 telegrams
// (DSMR 5: every 1 s, 115200 8N1, CRC; DSMR 4: every 10 s; DSMR 2.2: every 10 s, 9600 7E1, no
// CRC, gas as 0-1:24.3.0 with its value on the next line) while its Data Request line is high,
// from a household load profile with optional solar export. Totals only grow; per-phase powers
// sum to the totals; currents are power / voltage.
//
// Faults (a probability per telegram, or forced for the next one): a wrong CRC digit, a flipped
// byte inside the telegram, a truncated telegram, interleaving (a new telegram starts mid-way
// through one), noise bytes between telegrams. Every telegram is recorded with the SenML values
// a correct reader must produce from it (computed here from the meter's own integers, not by
// the core's decoder) and whether it went out intact.
import type { PeripheralPort } from '../io/serial-link.js';
import type { SimPin } from '../io/pins.js';
import type { SourceValue } from '../../firmware/core/sources/source.js';
import { householdLoadW, prng } from '../sources/profiles.js';

export type DsmrFault = 'crc' | 'bitflip' | 'truncate' | 'interleave' | 'noise';

export interface DsmrMeterOptions {
  version?: '2.2' | '4' | '5';
  /** Real time between telegrams (default 1000 for DSMR 5, 10000 otherwise). */
  periodMs?: number;
  /** Simulated time per telegram for the load profile and the totals (default periodMs). */
  stepMs?: number;
  /** Wall clock of the simulation (ms since epoch) at the first telegram (default 2024-01-15 06:00 UTC). */
  startTime?: number;
  seed?: number;
  /** Only send while this pin is high (P1 Data Request). */
  requestPin?: SimPin;
  /** Peak solar power in W (exported when it exceeds the load); 0 for none. */
  solarW?: number;
  /** Send the CRC without zero padding ("!B9F") when it is below 0x1000. */
  unpaddedCrc?: boolean;
  /** Fault probabilities per telegram, 0..1. */
  faults?: Partial<Record<DsmrFault, number>>;
  timers?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void };
}

export interface SentTelegram {
  seq: number;
  /** Went out complete and uncorrupted. */
  intact: boolean;
  fault?: DsmrFault;
  text: string;
  values: SourceValue[];
}

/** CRC-16/ARC written bit by bit, independent of the core's table-driven one. */
export function p1Crc(s: string): number {
  let c = 0;
  for (let i = 0; i < s.length; i++) {
    c ^= s.charCodeAt(i) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  }
  return c;
}

function pad(n: number, w: number): string {
  let s = String(n);
  while (s.length < w) s = '0' + s;
  return s;
}

/** An integer count of 1/10^dec units written with `intDigits` before the point: fixed(4426, 6, 3) = "000004.426". */
function fixed(count: number, intDigits: number, dec: number): string {
  let div = 1;
  for (let i = 0; i < dec; i++) div *= 10;
  const i = Math.floor(count / div);
  const f = count - i * div;
  return pad(i, intDigits) + (dec ? '.' + pad(f, dec) : '');
}

function stamp(t: number, withDst: boolean): string {
  const d = new Date(t);
  const s =
    pad(d.getUTCFullYear() % 100, 2) + pad(d.getUTCMonth() + 1, 2) + pad(d.getUTCDate(), 2) + pad(d.getUTCHours(), 2) + pad(d.getUTCMinutes(), 2) + pad(d.getUTCSeconds(), 2);
  if (!withDst) return s;
  const m = d.getUTCMonth() + 1;
  return s + (m >= 4 && m <= 10 ? 'S' : 'W');
}

export class DsmrMeter {
  readonly version: '2.2' | '4' | '5';
  readonly periodMs: number;
  readonly sent: SentTelegram[] = [];
  /** Forced faults, consumed one per telegram before the random ones. */
  readonly forced: DsmrFault[] = [];
  /** Register values: Wh (float, the meter shows floor), gas in litres. */
  readonly reg = { imp1: 1_234_567, imp2: 2_345_678, exp1: 12_345, exp2: 23_456, gasL: 4_567_891, pfShort: 3, pfLong: 1 };
  private readonly port: PeripheralPort;
  private readonly o: DsmrMeterOptions;
  private readonly rnd: () => number;
  private readonly stepMs: number;
  private readonly timers: NonNullable<DsmrMeterOptions['timers']>;
  private t: number;
  private seq = 0;
  private timer: unknown;
  private gasAt = 0;
  private gasReadL = 0;

  constructor(port: PeripheralPort, o: DsmrMeterOptions = {}) {
    this.port = port;
    this.o = o;
    this.version = o.version ?? '5';
    this.periodMs = o.periodMs ?? (this.version === '5' ? 1000 : 10000);
    this.stepMs = o.stepMs ?? this.periodMs;
    this.t = o.startTime ?? Date.UTC(2024, 0, 15, 6, 0, 0);
    this.rnd = prng(o.seed ?? 7);
    this.timers = o.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    port.setSettings(this.version === '2.2' ? { baud: 9600, bits: 7, parity: 'even', stopBits: 1 } : { baud: 115200, bits: 8, parity: 'none', stopBits: 1 });
    this.captureGas();
  }

  start(): void {
    if (this.timer !== undefined) return;
    const tick = () => {
      this.timer = this.timers.setTimeout(tick, this.periodMs);
      if (this.o.requestPin && this.o.requestPin.level !== 1) return;
      this.emit();
    };
    this.timer = this.timers.setTimeout(tick, this.periodMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Telegrams that went out intact. */
  intact(): SentTelegram[] {
    return this.sent.filter((s) => s.intact);
  }

  private captureGas(): void {
    // DSMR 5 reads the gas meter every 5 minutes, DSMR 4 and 2.2 every hour (capture time on the boundary).
    const every = this.version === '5' ? 300_000 : 3_600_000;
    const at = Math.floor(this.t / every) * every;
    if (at !== this.gasAt) {
      this.gasAt = at;
      this.gasReadL = Math.floor(this.reg.gasL);
    }
  }

  /** Advances the profile by one step and returns the next telegram and its expected values. */
  build(): { text: string; values: SourceValue[] } {
    const dt = this.stepMs;
    this.t += dt;
    const hour = (this.t / 3_600_000) % 24;
    const load = householdLoadW(hour, this.rnd);
    const sun = Math.max(0, Math.sin(((hour - 6) / 12) * Math.PI));
    const pv = (this.o.solarW ?? 0) * sun;
    // Per phase: the load splits unevenly, solar evenly.
    const share = [0.5, 0.3, 0.2];
    const u = [0, 0, 0];
    const pImpL = [0, 0, 0];
    const pExpL = [0, 0, 0];
    const iL = [0, 0, 0];
    let net = 0;
    for (let k = 0; k < 3; k++) {
      u[k] = 2280 + Math.floor(this.rnd() * 50); // tenths of V: 228.0 .. 232.9
      const n = Math.round(load * share[k] - pv / 3);
      pImpL[k] = Math.max(0, n);
      pExpL[k] = Math.max(0, -n);
      net += n;
      // DSMR 5 writes currents with 2 decimals (hundredths), DSMR 4 whole amperes.
      const amps = Math.abs(n) / (u[k] / 10);
      iL[k] = this.version === '5' ? Math.round(amps * 100) : Math.round(amps);
    }
    const pImp = Math.max(0, net);
    const pExp = Math.max(0, -net);
    const d = new Date(this.t);
    const lowTariff = d.getUTCHours() >= 23 || d.getUTCHours() < 7 || d.getUTCDay() === 0 || d.getUTCDay() === 6;
    const tariff = lowTariff ? 1 : 2;
    const dWhImp = (pImp * dt) / 3_600_000;
    const dWhExp = (pExp * dt) / 3_600_000;
    if (tariff === 1) {
      this.reg.imp1 += dWhImp;
      this.reg.exp1 += dWhExp;
    } else {
      this.reg.imp2 += dWhImp;
      this.reg.exp2 += dWhExp;
    }
    this.reg.gasL += (load > 1500 ? 0.4 : 0.05) * (dt / 1000);
    this.captureGas();
    const e = [Math.floor(this.reg.imp1), Math.floor(this.reg.imp2), Math.floor(this.reg.exp1), Math.floor(this.reg.exp2)];
    const v22 = this.version === '2.2';
    const L: string[] = [];
    const values: SourceValue[] = [];
    const ts = stamp(this.t, true);
    if (v22) {
      L.push('/ISk5\\2MT382-1004', '', '0-0:96.1.1(00000000000000)');
    } else {
      L.push(this.version === '5' ? '/ISk5\\2MT382-1000' : '/KFM5KAIFA-METER', '', '1-3:0.2.8(' + (this.version === '5' ? '50' : '42') + ')', '0-0:1.0.0(' + ts + ')');
      L.push('0-0:96.1.1(4B384547303034303436333935353037)');
      values.push({ n: 'ts', vs: ts });
    }
    const eNames = ['e_t1', 'e_t2', 'e_exp_t1', 'e_exp_t2'];
    const eIds = ['1-0:1.8.1', '1-0:1.8.2', '1-0:2.8.1', '1-0:2.8.2'];
    for (let k = 0; k < 4; k++) {
      L.push(eIds[k] + '(' + fixed(e[k], v22 ? 5 : 6, 3) + '*kWh)');
      values.push({ n: eNames[k], u: 'Wh', s: e[k] });
    }
    L.push('0-0:96.14.0(' + pad(tariff, 4) + ')');
    values.push({ n: 'tariff', v: tariff });
    if (v22) {
      // DSMR 2.2 writes kW with 2 decimals: 10 W resolution.
      const imp10 = Math.round(pImp / 10);
      const exp10 = Math.round(pExp / 10);
      L.push('1-0:1.7.0(' + fixed(imp10, 4, 2) + '*kW)', '1-0:2.7.0(' + fixed(exp10, 4, 2) + '*kW)');
      values.push({ n: 'p_imp', u: 'W', v: imp10 * 10 }, { n: 'p_exp', u: 'W', v: exp10 * 10 });
      L.push('0-0:17.0.0(0999.00*kW)', '0-0:96.3.10(1)', '0-0:96.13.1()', '0-0:96.13.0()');
      L.push('0-1:24.1.0(3)', '0-1:96.1.0(000000000000)');
      const gs = stamp(this.gasAt, false);
      L.push('0-1:24.3.0(' + gs + ')(00)(60)(1)(0-1:24.2.1)(m3)', '(' + fixed(this.gasReadL, 5, 3) + ')', '0-1:24.4.0(1)');
      values.push({ n: 'gas1', u: 'm3', s: this.gasReadL / 1000 }, { n: 'gas1_ts', vs: gs });
    } else {
      L.push('1-0:1.7.0(' + fixed(pImp, 2, 3) + '*kW)', '1-0:2.7.0(' + fixed(pExp, 2, 3) + '*kW)');
      values.push({ n: 'p_imp', u: 'W', v: pImp }, { n: 'p_exp', u: 'W', v: pExp });
      L.push('0-0:96.7.21(' + pad(this.reg.pfShort, 5) + ')', '0-0:96.7.9(' + pad(this.reg.pfLong, 5) + ')');
      values.push({ n: 'pf_short', s: this.reg.pfShort }, { n: 'pf_long', s: this.reg.pfLong });
      L.push('1-0:99.97.0(0)(0-0:96.7.19)');
      const ph = ['32', '52', '72'];
      for (let k = 0; k < 3; k++) {
        L.push('1-0:' + ph[k] + '.32.0(00000)');
        values.push({ n: 'sag_l' + (k + 1), s: 0 });
      }
      for (let k = 0; k < 3; k++) {
        L.push('1-0:' + ph[k] + '.36.0(00000)');
        values.push({ n: 'swell_l' + (k + 1), s: 0 });
      }
      L.push('0-0:96.13.0()');
      if (this.version === '5') {
        for (let k = 0; k < 3; k++) {
          L.push('1-0:' + ph[k] + '.7.0(' + fixed(u[k], 4, 1) + '*V)');
          values.push({ n: 'u_l' + (k + 1), u: 'V', v: u[k] / 10 });
        }
      }
      const cur = ['31', '51', '71'];
      for (let k = 0; k < 3; k++) {
        L.push('1-0:' + cur[k] + '.7.0(' + (this.version === '5' ? fixed(iL[k], 1, 2) : pad(iL[k], 3)) + '*A)');
        values.push({ n: 'i_l' + (k + 1), u: 'A', v: this.version === '5' ? iL[k] / 100 : iL[k] });
      }
      const imp = ['21', '41', '61'];
      const exp = ['22', '42', '62'];
      for (let k = 0; k < 3; k++) {
        L.push('1-0:' + imp[k] + '.7.0(' + fixed(pImpL[k], 2, 3) + '*kW)');
        values.push({ n: 'p_imp_l' + (k + 1), u: 'W', v: pImpL[k] });
      }
      for (let k = 0; k < 3; k++) {
        L.push('1-0:' + exp[k] + '.7.0(' + fixed(pExpL[k], 2, 3) + '*kW)');
        values.push({ n: 'p_exp_l' + (k + 1), u: 'W', v: pExpL[k] });
      }
      const gs = stamp(this.gasAt, true);
      L.push('0-1:24.1.0(003)', '0-1:96.1.0(3232323241424344313233343536373839)', '0-1:24.2.1(' + gs + ')(' + fixed(this.gasReadL, 5, 3) + '*m3)');
      values.push({ n: 'gas1', u: 'm3', s: this.gasReadL / 1000 }, { n: 'gas1_ts', vs: gs });
    }
    const body = L.join('\r\n') + '\r\n!';
    if (v22) return { text: body + '\r\n', values };
    const crc = p1Crc(body);
    const hex = crc.toString(16).toUpperCase();
    return { text: body + (this.o.unpaddedCrc ? hex : ('000' + hex).slice(-4)) + '\r\n', values };
  }

  private pickFault(): DsmrFault | undefined {
    if (this.forced.length) return this.forced.shift();
    const f = this.o.faults;
    if (!f) return undefined;
    for (const k of ['crc', 'bitflip', 'truncate', 'interleave', 'noise'] as DsmrFault[]) {
      const p = f[k] ?? 0;
      if (p > 0 && this.rnd() < p) return k;
    }
    return undefined;
  }

  private write(s: string): void {
    const b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
    this.port.write(b);
  }

  private record(text: string, values: SourceValue[], intact: boolean, fault?: DsmrFault): void {
    this.sent.push({ seq: this.seq++, intact, fault, text, values });
    if (this.sent.length > 2000) this.sent.shift();
  }

  /** Sends one telegram now (with a fault when one is due). */
  emit(): void {
    const fault = this.pickFault();
    const { text, values } = this.build();
    const bang = text.lastIndexOf('!');
    if (!fault) {
      this.record(text, values, true);
      this.write(text);
      return;
    }
    if (fault === 'noise') {
      // Noise between telegrams: bytes with no '/' among them, then an intact telegram.
      let n = '';
      const k = 1 + Math.floor(this.rnd() * 40);
      for (let i = 0; i < k; i++) {
        let c = Math.floor(this.rnd() * 256);
        if (c === 0x2f) c = 0x2e;
        n += String.fromCharCode(c);
      }
      this.record(text, values, true, fault);
      this.write(n + text);
      return;
    }
    if (fault === 'crc') {
      if (this.version === '2.2') {
        // No CRC to corrupt: damage the end marker instead ("!" followed by a non-hex character).
        const bad = text.substring(0, bang + 1) + 'Z\r\n';
        this.record(bad, values, false, fault);
        this.write(bad);
        return;
      }
      const digit = bang + 1 + Math.floor(this.rnd() * (text.length - bang - 3));
      const was = text.charAt(digit);
      const hexes = '0123456789ABCDEF';
      const now = hexes.charAt((hexes.indexOf(was) + 1 + Math.floor(this.rnd() * 15)) % 16);
      const bad = text.substring(0, digit) + now + text.substring(digit + 1);
      this.record(bad, values, false, fault);
      this.write(bad);
      return;
    }
    if (fault === 'bitflip') {
      // Any byte between '/' and '!' changes. With a CRC any replacement is caught; without one
      // (DSMR 2.2) it becomes 'Z', which no value, identifier or line end can hold.
      const at = 1 + Math.floor(this.rnd() * (bang - 1));
      let c: number;
      if (this.version === '2.2') c = 0x5a;
      else {
        c = Math.floor(this.rnd() * 256);
        if (c === text.charCodeAt(at)) c ^= 0x01;
        if (c === 0x2f || c === 0x21) c = 0x5a; // a '/' would restart the frame, a '!' end it: other faults
      }
      if (c === text.charCodeAt(at)) c = 0x59;
      const bad = text.substring(0, at) + String.fromCharCode(c) + text.substring(at + 1);
      this.record(bad, values, false, fault);
      this.write(bad);
      return;
    }
    // Cut before the telegram is complete: without a CRC before the '!', with one before its last digit.
    const maxCut = this.version === '2.2' ? bang : text.length - 3;
    const cut = 1 + Math.floor(this.rnd() * maxCut);
    const part = text.substring(0, cut);
    this.record(part, values, false, fault);
    if (fault === 'truncate') {
      this.write(part);
      return;
    }
    // interleave: the next telegram starts before this one ended.
    const next = this.build();
    this.record(next.text, next.values, true);
    this.write(part + next.text);
  }
}
