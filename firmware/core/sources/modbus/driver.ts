// Modbus RTU master over the host's serial port, and the energy meter source built on it.
//
// ModbusMaster owns one RS485 bus: one transaction on the wire at a time, each preceded by the
// [SL] §2.5.1.1 silent interval (3.5 characters since the bus last carried a byte), answered
// within a deadline (the request's and the answer's wire time plus `timeoutMs`), retried a
// bounded number of times. Several sources (meters at different addresses on one bus) share a
// master through acquireMaster(): their reads queue instead of colliding on the port.
//
// The RS485 driver-enable pin is the platform's business: the master passes the configured `de`
// pin to host.io.serial(), and the platform raises it around each write. On Node's simulated
// link it is ignored; on Espruino, whose Serial has no RS485 mode (docs: ESP32 Serial2/3 have no
// direction pin), the platform drives it manually (digitalWrite high, write, then low once the
// bytes' wire time has passed).
import type { Host, Serial, TimerHandle } from '../../host.js';
import { err, type CodedError } from '../../util/errors.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import {
  MODBUS,
  PARSE,
  RtuResponseParser,
  buildReadRequest,
  charBits,
  charTimeMs,
  interFrameGapMs,
  readResponseLength,
  exceptionName,
  isTransientException,
} from './decoder.js';
import { compileProfile, planReads, decodeGroup, type CompiledProfile, type ReadGroup } from './profile.js';
import { builtinProfile, BUILTIN_PROFILES } from './profiles/builtin.js';
import { MODBUS_SCHEMA, MODBUS_LIMITS } from './schema.js';

export interface LineSettings {
  port: string;
  baud: number;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
  rx?: string;
  tx?: string;
  de?: string;
}

export interface ReadOptions {
  timeoutMs: number;
  retries: number;
}

export type ReadCallback = (e: CodedError | undefined, registers?: Uint16Array) => void;

interface Txn {
  slave: number;
  fc: number;
  addr: number;
  count: number;
  timeoutMs: number;
  retries: number;
  attempts: number;
  cb: ReadCallback;
  cancelled: boolean;
}

export const BUS_LIMITS = {
  /** Transactions queued on one bus: one per source sharing it (each has one read in flight). */
  MAX_QUEUE: 16,
};

export interface MasterStats {
  requests: number;
  retries: number;
  timeouts: number;
  /** Exception answers (any code). */
  exceptions: number;
  /** Bytes that arrived while no request was waiting (late answers, line noise). */
  staleBytes: number;
  serialErrors: number;
  /** Reads refused because the queue was full. */
  queueFull: number;
}

function lineName(l: LineSettings): string {
  return l.port + ' ' + l.baud + ' 8' + l.parity.charAt(0).toUpperCase() + l.stopBits;
}

function hex4(n: number): string {
  const s = n.toString(16);
  return '0x' + '0000'.substr(s.length) + s;
}

/** One RS485 bus. Reads queue; one is on the wire at a time. */
export class ModbusMaster {
  readonly line: LineSettings;
  readonly parser: RtuResponseParser;
  readonly stats: MasterStats = { requests: 0, retries: 0, timeouts: 0, exceptions: 0, staleBytes: 0, serialErrors: 0, queueFull: 0 };
  private readonly host: Host;
  private readonly serial: Serial;
  private readonly charMs: number;
  private readonly gapMs: number;
  private readonly queue: Txn[] = [];
  private cur: Txn | undefined;
  private timer: TimerHandle | undefined;
  private waiting = false;
  /** Uptime before which the bus is not silent long enough for a new frame. */
  private quietAt = 0;
  private closed = false;

  constructor(host: Host, line: LineSettings) {
    const io = host.io;
    if (!io || !io.serial) throw err('E_NO_SERIAL', 'this platform has no serial ports (host.io.serial) for Modbus on ' + line.port);
    this.host = host;
    this.line = line;
    const bits = charBits(8, line.parity, line.stopBits);
    this.charMs = charTimeMs(line.baud, bits);
    this.gapMs = interFrameGapMs(line.baud, bits);
    this.parser = new RtuResponseParser();
    const self = this;
    this.serial = io.serial({
      port: line.port,
      baud: line.baud,
      bits: 8,
      parity: line.parity,
      stopBits: line.stopBits,
      rx: line.rx,
      tx: line.tx,
      de: line.de,
      onReadable: function () {
        self.onReadable();
      },
      onError: function () {
        self.stats.serialErrors++;
      },
    });
  }

  /** Silent interval between frames, ms ([SL] §2.5.1.1). */
  gap(): number {
    return this.gapMs;
  }

  /** Wire time of n bytes, ms. */
  wireMs(n: number): number {
    return n * this.charMs;
  }

  /**
   * Queues a read of `count` registers; `cb` gets the registers or a coded error
   * (E_TIMEOUT, E_MODBUS_EXCEPTION with `exception`, E_BUSY, E_SERIAL...). Returns a handle
   * for cancel().
   */
  read(slave: number, fc: number, addr: number, count: number, o: ReadOptions, cb: ReadCallback): unknown {
    if (this.closed) {
      cb(err('E_CLOSED', 'Modbus bus ' + this.line.port + ' is closed'));
      return undefined;
    }
    // Check the request now, so a bad one fails here rather than inside a timer.
    buildReadRequest(slave, fc, addr, count);
    if (this.queue.length >= BUS_LIMITS.MAX_QUEUE) {
      this.stats.queueFull++;
      cb(err('E_BUSY', 'Modbus bus ' + this.line.port + ': ' + BUS_LIMITS.MAX_QUEUE + ' reads already queued'));
      return undefined;
    }
    const t: Txn = { slave: slave, fc: fc, addr: addr, count: count, timeoutMs: o.timeoutMs, retries: o.retries, attempts: 0, cb: cb, cancelled: false };
    this.queue.push(t);
    this.pump();
    return t;
  }

  /** Drops a queued read; a read on the wire finishes silently (its answer is discarded). */
  cancel(handle: unknown): void {
    const t = handle as Txn;
    if (!t) return;
    t.cancelled = true;
    const i = this.queue.indexOf(t);
    if (i >= 0) this.queue.splice(i, 1);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    this.queue.length = 0;
    this.cur = undefined;
    this.serial.close();
  }

  private now(): number {
    return this.host.clock.uptime();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.host.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private pump(): void {
    if (this.cur || this.closed) return;
    const t = this.queue.shift();
    if (!t) return;
    this.cur = t;
    this.schedule();
  }

  /**
   * Sends the current request once the bus has been silent for the inter-frame gap; bytes that
   * arrive meanwhile push the moment back, so the timer re-checks before sending.
   */
  private schedule(): void {
    const wait = this.quietAt - this.now();
    if (wait > 0) {
      const self = this;
      this.timer = this.host.timers.setTimeout(function () {
        self.timer = undefined;
        self.schedule();
      }, Math.ceil(wait));
    } else this.send();
  }

  private send(): void {
    const t = this.cur;
    if (!t || this.closed) return;
    // Whatever is buffered now answers nothing we asked (a late answer to an abandoned attempt).
    const stale = this.serial.read();
    if (stale) this.stats.staleBytes += stale.length;
    t.attempts++;
    if (t.attempts > 1) this.stats.retries++;
    this.parser.expect(t.slave, t.fc, t.count);
    const req = buildReadRequest(t.slave, t.fc, t.addr, t.count);
    try {
      this.serial.write(req);
    } catch (e) {
      this.stats.serialErrors++;
      const m = e && (e as Error).message ? (e as Error).message : String(e);
      return this.finish(err('E_SERIAL', 'Modbus write on ' + this.line.port + ' failed: ' + m));
    }
    this.stats.requests++;
    const txMs = this.wireMs(req.length);
    this.quietAt = this.now() + txMs + this.gapMs;
    this.waiting = true;
    const self = this;
    this.timer = this.host.timers.setTimeout(function () {
      self.timer = undefined;
      self.onTimeout();
    }, Math.ceil(txMs + this.wireMs(readResponseLength(t.count)) + t.timeoutMs));
  }

  private onReadable(): void {
    if (this.closed) return;
    const d = this.serial.read();
    if (!d || !d.length) return;
    // The bus carried bytes: the next frame waits for a full silent interval from now.
    this.quietAt = this.now() + this.gapMs;
    const t = this.cur;
    if (!this.waiting || !t) {
      this.stats.staleBytes += d.length;
      return;
    }
    const r = this.parser.push(d);
    if (r === PARSE.NEED_MORE) return;
    this.waiting = false;
    this.clearTimer();
    if (r === PARSE.REGISTERS) return this.finish(undefined, this.parser.registers);
    const code = this.parser.exception;
    this.stats.exceptions++;
    if (isTransientException(code) && t.attempts <= t.retries) return this.schedule();
    const e = err('E_MODBUS_EXCEPTION', 'slave ' + t.slave + ' answered FC' + (t.fc < 10 ? '0' : '') + t.fc + ' ' + hex4(t.addr) + '+' + t.count +
      ' with exception ' + (code < 16 ? '0' : '') + code.toString(16) + ' ' + exceptionName(code)) as CodedError & { exception: number };
    e.exception = code;
    this.finish(e);
  }

  private onTimeout(): void {
    const t = this.cur;
    this.waiting = false;
    if (!t) return;
    this.stats.timeouts++;
    if (t.attempts <= t.retries) return this.schedule();
    this.finish(err('E_TIMEOUT', 'slave ' + t.slave + ' on ' + this.line.port + ' did not answer FC' + (t.fc < 10 ? '0' : '') + t.fc + ' ' + hex4(t.addr) + '+' + t.count +
      ' (' + t.attempts + ' attempts, ' + t.timeoutMs + ' ms each beyond wire time)'));
  }

  private finish(e: CodedError | undefined, regs?: Uint16Array): void {
    const t = this.cur;
    this.cur = undefined;
    this.waiting = false;
    if (t && !t.cancelled) t.cb(e, regs);
    this.pump();
  }
}

// ---------------------------------------------------------------------------------------------
// Buses shared by sources: one master per (host, port). Line settings must agree.

interface BusEntry {
  host: Host;
  master: ModbusMaster;
  users: number;
}

const BUSES: BusEntry[] = [];

function sameLine(a: LineSettings, b: LineSettings): boolean {
  return a.baud === b.baud && a.parity === b.parity && a.stopBits === b.stopBits && a.rx === b.rx && a.tx === b.tx && a.de === b.de;
}

/** The master of `line.port` on this host, opened on first use. */
export function acquireMaster(host: Host, line: LineSettings): ModbusMaster {
  for (let i = 0; i < BUSES.length; i++) {
    const b = BUSES[i];
    if (b.host !== host || b.master.line.port !== line.port) continue;
    if (!sameLine(b.master.line, line))
      throw err('E_CONFIG', 'port ' + line.port + ' is already a Modbus bus at ' + lineName(b.master.line) + (b.master.line.de ? ' de ' + b.master.line.de : '') +
        '; this source asks for ' + lineName(line) + (line.de ? ' de ' + line.de : '') + ' (sources on one bus must agree)');
    b.users++;
    return b.master;
  }
  const m = new ModbusMaster(host, line);
  BUSES.push({ host: host, master: m, users: 1 });
  return m;
}

/** Releases one use; the last user closes the port. */
export function releaseMaster(m: ModbusMaster): void {
  for (let i = 0; i < BUSES.length; i++) {
    if (BUSES[i].master !== m) continue;
    if (--BUSES[i].users <= 0) {
      BUSES.splice(i, 1);
      m.close();
    }
    return;
  }
}

// ---------------------------------------------------------------------------------------------
// The source

function resolveProfile(id: string, c: { [k: string]: unknown }): CompiledProfile {
  const path = 'source ' + id;
  if ((c.profile === undefined) === (c.map === undefined))
    throw err('E_CONFIG', path + '.profile: give exactly one of "profile" (built-in: ' + BUILTIN_PROFILES.join(', ') + ') and "map" (a register map)');
  if (c.map !== undefined) return compileProfile(c.map, path + '.map');
  const p = builtinProfile(c.profile as string);
  if (!p) throw err('E_CONFIG', path + '.profile: unknown built-in profile ' + JSON.stringify(c.profile) + ' (known: ' + BUILTIN_PROFILES.join(', ') + ')');
  return compileProfile(p, path + '.profile');
}

export interface ModbusSourceStats {
  [name: string]: number;
}

function createModbusSource(host: Host, id: string, intervalMs: number, c: { [k: string]: unknown }): Source {
  const profile = resolveProfile(id, c);
  const maxRegs = Math.min(c.maxRegs as number, profile.maxRegs);
  const groups: ReadGroup[] = planReads(profile, maxRegs, profile.maxGap, c.only as string[] | undefined);
  const line: LineSettings = {
    port: c.port as string,
    baud: c.baud as number,
    parity: c.parity as LineSettings['parity'],
    stopBits: c.stopBits as 1 | 2,
    rx: c.rx as string | undefined,
    tx: c.tx as string | undefined,
    de: c.de as string | undefined,
  };
  const slave = c.address as number;
  const opts: ReadOptions = { timeoutMs: c.timeoutMs as number, retries: c.retries as number };
  const master = acquireMaster(host, line);
  const own = { reads: 0, readErrors: 0, badValues: 0 };
  const bad = { n: 0 };
  let busy = false;
  let stopped = false;
  let handle: unknown;

  return {
    id: id,
    intervalMs: intervalMs,
    read(done) {
      if (stopped) return done(err('E_STOPPED', 'Modbus source ' + id + ' is stopped'));
      if (busy) return done(err('E_BUSY', 'Modbus source ' + id + ': the previous read is still running'));
      busy = true;
      const slots: (SourceValue | undefined)[] = [];
      for (let i = 0; i < profile.q.length; i++) slots.push(undefined);
      let gi = 0;
      const next = function (): void {
        if (gi === groups.length) {
          busy = false;
          handle = undefined;
          const values: SourceValue[] = [];
          for (let i = 0; i < slots.length; i++) if (slots[i]) values.push(slots[i] as SourceValue);
          if (!values.length) {
            own.readErrors++;
            return done(err('E_NO_VALUES', 'Modbus source ' + id + ': no valid value in the answers (' + bad.n + ' not finite)'));
          }
          own.reads++;
          return done(undefined, values);
        }
        const g = groups[gi++];
        handle = master.read(slave, g.fc, g.addr, g.count, opts, function (e, regs) {
          if (stopped) return;
          if (e) {
            busy = false;
            handle = undefined;
            own.readErrors++;
            const names: string[] = [];
            for (let k = 0; k < g.members.length; k++) names.push(profile.q[g.members[k]].n);
            e.message = 'Modbus source ' + id + ' (' + names.join(', ') + '): ' + e.message;
            return done(e);
          }
          const before = bad.n;
          decodeGroup(profile, g, regs as Uint16Array, slots, bad);
          own.badValues += bad.n - before;
          next();
        });
      };
      next();
    },
    stats() {
      const s: ModbusSourceStats = {};
      const ms = master.stats as unknown as { [k: string]: number };
      const ps = master.parser.stats as unknown as { [k: string]: number };
      for (const k in ms) if (ms.hasOwnProperty(k)) s[k] = ms[k];
      for (const k in ps) if (ps.hasOwnProperty(k)) s[k] = ps[k];
      s.reads = own.reads;
      s.readErrors = own.readErrors;
      s.badValues = own.badValues;
      return s;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      master.cancel(handle);
      releaseMaster(master);
    },
  };
}

export const modbusSource: SourceComponent = {
  type: 'modbus',
  doc: 'Modbus RTU energy meter on an RS485 bus (Eastron SDM120/SDM630, CHINT DDSU666, Hiking DDS238, PZEM-004T, or a register map)',
  schema: MODBUS_SCHEMA,
  defaultIntervalMs: 10000,
  create: createModbusSource,
};

/** Bounds re-exported for docs and tests. */
export { MODBUS, MODBUS_LIMITS };
