// Modbus RTU master framing, pure: read requests (function codes 03 and 04), CRC-16/MODBUS, a
// resumable response parser, and register value decoding. No IO and no timers: the driver owns
// the wire and the clock, this file only sees bytes.
//
// RTU frames carry no length and no start marker: a real slave delimits them by 3.5 character
// times of silence, which a master behind an OS or Espruino UART buffer cannot observe reliably.
// The master knows what it asked, though, so the parser looks for the one frame that can answer
// (address, function, byte count, CRC) anywhere in what arrives, and treats whatever precedes it
// as noise. Other CRC-valid frames (another slave, another function, another length) are counted
// and skipped, never decoded.
import { err, abytes, aint, RANGE_ERROR } from '../../util/errors.js';

// ---------------------------------------------------------------------------------------------
// Constants. [SL] = MODBUS over Serial Line Specification and Implementation Guide V1.02 (2006);
// [AP] = MODBUS Application Protocol Specification V1.1b3 (2012).

export const MODBUS = {
  /** [SL] §2.2: address 0 is broadcast (never answered, so useless for reads); 1..247 are slaves. */
  MIN_SLAVE: 1,
  MAX_SLAVE: 247,
  /** [SL] §2.5.1.1: "The maximum size of a MODBUS RTU frame is 256 bytes". */
  MAX_ADU: 256,
  /** [AP] §6.3, §6.4: quantity of registers 1 to 125 (0x7D) per read. */
  MAX_READ_REGISTERS: 125,
  /** [AP] §6.3 Read Holding Registers. */
  FC_READ_HOLDING: 0x03,
  /** [AP] §6.4 Read Input Registers. */
  FC_READ_INPUT: 0x04,
  /** [AP] §7: an exception response echoes the function code with its high bit set. */
  EXCEPTION_BIT: 0x80,
  /** [SL] §2.5.1.2 and Appendix B: CRC preset and reflected polynomial (0x8005 reversed). */
  CRC_INIT: 0xffff,
  CRC_POLY: 0xa001,
  /** Request: address, function, start hi/lo, quantity hi/lo, CRC lo/hi ([AP] §6.3 + [SL] §2.5.1). */
  REQUEST_LEN: 8,
  /** Exception response: address, function | 0x80, exception code, CRC lo/hi ([AP] §7). */
  EXCEPTION_LEN: 5,
  /** Read response without its data: address, function, byte count, CRC lo/hi ([AP] §6.3). */
  READ_OVERHEAD: 5,
  /** [SL] §2.5.1.1: above 19200 baud the silent interval is a fixed 1.750 ms. */
  FIXED_GAP_ABOVE_BAUD: 19200,
  FIXED_T35_MS: 175 / 100, // 1.75 as a literal reads inexactly on Espruino
  /** [SL] §2.5.1.1: frames are separated by at least 3.5 character times. */
  GAP_CHARS: 3.5,
};

/** [AP] §7 exception codes and their names as the specification spells them. */
export const EXCEPTION_NAMES: { [code: number]: string } = {
  1: 'ILLEGAL FUNCTION',
  2: 'ILLEGAL DATA ADDRESS',
  3: 'ILLEGAL DATA VALUE',
  4: 'SERVER DEVICE FAILURE',
  5: 'ACKNOWLEDGE',
  6: 'SERVER DEVICE BUSY',
  8: 'MEMORY PARITY ERROR',
  10: 'GATEWAY PATH UNAVAILABLE',
  11: 'GATEWAY TARGET DEVICE FAILED TO RESPOND',
};

export function exceptionName(code: number): string {
  return EXCEPTION_NAMES.hasOwnProperty(String(code)) ? EXCEPTION_NAMES[code] : 'UNKNOWN EXCEPTION';
}

/** 05 ACKNOWLEDGE and 06 SERVER DEVICE BUSY mean "ask again later" ([AP] §7); others are final. */
export function isTransientException(code: number): boolean {
  return code === 5 || code === 6;
}

// ---------------------------------------------------------------------------------------------
// CRC-16/MODBUS (check value for "123456789" is 0x4B37). Table-driven: one lookup per byte
// instead of eight shifts, which matters in an interpreter; the table is built on first use so
// a device without a Modbus source never pays for it.

let CRC_TABLE: Uint16Array | undefined;

function crcTable(): Uint16Array {
  if (CRC_TABLE) return CRC_TABLE;
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ MODBUS.CRC_POLY : c >>> 1;
    t[n] = c;
  }
  CRC_TABLE = t;
  return t;
}

function crcRange(data: Uint8Array, start: number, end: number): number {
  const t = CRC_TABLE || crcTable();
  let c = MODBUS.CRC_INIT;
  for (let i = start; i < end; i++) c = (c >>> 8) ^ t[(c ^ data[i]) & 0xff];
  return c;
}

/** CRC-16/MODBUS of `data` (the whole array). On the wire the low byte goes first. */
export function crc16(data: Uint8Array): number {
  abytes('data', data);
  return crcRange(data, 0, data.length);
}

/** True when the last two bytes of data[start..end) are the CRC (low byte first) of the rest. */
function crcOk(data: Uint8Array, start: number, end: number): boolean {
  const c = crcRange(data, start, end - 2);
  return data[end - 2] === (c & 0xff) && data[end - 1] === c >>> 8;
}

// ---------------------------------------------------------------------------------------------
// Requests and line timing

function afc(fc: unknown): number {
  if (fc !== MODBUS.FC_READ_HOLDING && fc !== MODBUS.FC_READ_INPUT)
    throw err('E_FUNCTION', '"fc" expected 3 (read holding registers) or 4 (read input registers), got ' + String(fc), RANGE_ERROR);
  return fc as number;
}

/** The 8-byte RTU request reading `count` registers from `address` ([AP] §6.3, §6.4). */
export function buildReadRequest(slave: number, fc: number, address: number, count: number): Uint8Array {
  aint('slave', slave, MODBUS.MIN_SLAVE, MODBUS.MAX_SLAVE);
  afc(fc);
  aint('address', address, 0, 0xffff);
  aint('count', count, 1, MODBUS.MAX_READ_REGISTERS);
  if (address + count > 0x10000) throw err('E_RANGE', '"count" ' + count + ' registers from ' + address + ' run past register 65535', RANGE_ERROR);
  const f = new Uint8Array(MODBUS.REQUEST_LEN);
  f[0] = slave;
  f[1] = fc;
  f[2] = address >> 8;
  f[3] = address & 0xff;
  f[4] = count >> 8;
  f[5] = count & 0xff;
  const c = crcRange(f, 0, 6);
  f[6] = c & 0xff;
  f[7] = c >>> 8;
  return f;
}

/** Length of the normal response to a read of `count` registers. */
export function readResponseLength(count: number): number {
  return MODBUS.READ_OVERHEAD + 2 * count;
}

/** Bits per character on the wire: start, data, parity (if any), stop ([SL] §2.5.1). */
export function charBits(bits: number, parity: string, stopBits: number): number {
  return 1 + bits + (parity === 'none' ? 0 : 1) + stopBits;
}

/** Time one character takes at `baud`, ms (8N1 at 9600: 10 bits = 1.0417 ms). */
export function charTimeMs(baud: number, bitsPerChar: number): number {
  return (bitsPerChar * 1000) / baud;
}

/** Minimum silence between frames, ms: 3.5 characters, or 1.75 ms above 19200 baud ([SL] §2.5.1.1). */
export function interFrameGapMs(baud: number, bitsPerChar: number): number {
  return baud > MODBUS.FIXED_GAP_ABOVE_BAUD ? MODBUS.FIXED_T35_MS : MODBUS.GAP_CHARS * charTimeMs(baud, bitsPerChar);
}

// ---------------------------------------------------------------------------------------------
// Response parser

/** push() results. */
export const PARSE = {
  NEED_MORE: 0,
  /** The expected read response arrived: `registers` holds its values. */
  REGISTERS: 1,
  /** The slave answered with an exception: `exception` holds its code. */
  EXCEPTION: 2,
};

export interface ParserStats {
  /** Expected read responses found. */
  frames: number;
  /** Exception responses from the expected slave to the expected function. */
  exceptions: number;
  /** Bytes skipped: noise before a frame, and what an expect() found still unexplained. */
  noise: number;
  /** Frames shaped like the answer (address, function, byte count) whose CRC did not match. */
  badCrc: number;
  /** CRC-valid frames from another address (another slave answering, or a corrupted address). */
  wrongSlave: number;
  /** CRC-valid frames from the expected slave for another function. */
  wrongFunction: number;
  /** CRC-valid read responses from the expected slave with another byte count. */
  wrongLength: number;
  /** Bytes that came after the answer (before the next expect()). */
  late: number;
}

/**
 * Finds the answer to one request in a byte stream. `expect()` names the request, `push()`
 * takes bytes as they come (in any chunks) and reports when the answer is complete.
 *
 * The buffer holds one maximum RTU frame (MAX_ADU, 256 bytes) and cannot overflow: a byte is
 * kept only while a frame starting at or before it may still complete, every candidate is at
 * most 256 bytes long, so by the time 256 bytes are buffered the first one has either completed
 * (and been taken or rejected by its CRC) or was never a candidate, and is dropped as noise.
 */
export class RtuResponseParser {
  /** Values of the answer after push() returned PARSE.REGISTERS. */
  registers: Uint16Array | undefined;
  /** Exception code after push() returned PARSE.EXCEPTION. */
  exception = 0;
  readonly stats: ParserStats = { frames: 0, exceptions: 0, noise: 0, badCrc: 0, wrongSlave: 0, wrongFunction: 0, wrongLength: 0, late: 0 };
  private readonly buf: Uint8Array;
  /** dead[i] = 1: offset i is known not to start any frame (saves CRCs on later pushes). */
  private readonly dead: Uint8Array;
  private len = 0;
  private slave = 0;
  private fc = 0;
  private byteCount = 0;
  private frameLen = 0;
  private done = true;

  constructor() {
    this.buf = new Uint8Array(MODBUS.MAX_ADU);
    this.dead = new Uint8Array(MODBUS.MAX_ADU);
  }

  /** Starts looking for the answer to a read of `count` registers with function `fc` from `slave`. */
  expect(slave: number, fc: number, count: number): void {
    aint('slave', slave, MODBUS.MIN_SLAVE, MODBUS.MAX_SLAVE);
    afc(fc);
    aint('count', count, 1, MODBUS.MAX_READ_REGISTERS);
    this.stats.noise += this.len;
    this.len = 0;
    this.slave = slave;
    this.fc = fc;
    this.byteCount = 2 * count;
    this.frameLen = readResponseLength(count);
    this.registers = undefined;
    this.exception = 0;
    this.done = false;
  }

  /** Feeds received bytes; returns a PARSE value. Never throws on content, only on a non-Uint8Array. */
  push(chunk: Uint8Array): number {
    abytes('chunk', chunk);
    if (this.done) {
      this.stats.late += chunk.length;
      return PARSE.NEED_MORE;
    }
    let off = 0;
    while (off < chunk.length) {
      let n = chunk.length - off;
      if (n > MODBUS.MAX_ADU - this.len) n = MODBUS.MAX_ADU - this.len;
      // n > 0 by the buffer's invariant (see the class comment); were it ever 0, dropping a
      // byte keeps this loop finite.
      if (n <= 0) {
        this.drop(1);
        continue;
      }
      for (let k = 0; k < n; k++) {
        this.buf[this.len + k] = chunk[off + k];
        this.dead[this.len + k] = 0;
      }
      this.len += n;
      off += n;
      const r = this.scan();
      if (r !== PARSE.NEED_MORE) {
        this.stats.late += chunk.length - off;
        return r;
      }
    }
    return PARSE.NEED_MORE;
  }

  /** Bytes buffered and not yet explained. */
  buffered(): number {
    return this.len;
  }

  /** Drops the first n bytes (counted as noise). */
  private drop(n: number): void {
    if (n <= 0) return;
    this.stats.noise += n;
    this.shift(n);
  }

  private shift(n: number): void {
    const b = this.buf;
    const d = this.dead;
    const rest = this.len - n;
    for (let k = 0; k < rest; k++) {
      b[k] = b[k + n];
      d[k] = d[k + n];
    }
    this.len = rest;
  }

  /**
   * The length of the frame that could start at offset i (at least 5 bytes are buffered from
   * there), or 0 when none we would check can start there. Frames from our slave are measured
   * by their function code; from another address, only frames shaped like our answer are
   * considered (another slave answering the same question), so random noise rarely costs a CRC.
   */
  private candidateLength(i: number): number {
    const b = this.buf;
    const a = b[i];
    const f = b[i + 1];
    if (a < MODBUS.MIN_SLAVE || a > MODBUS.MAX_SLAVE) return 0;
    if (f === (this.fc | MODBUS.EXCEPTION_BIT)) return MODBUS.EXCEPTION_LEN;
    if (a !== this.slave) return f === this.fc && b[i + 2] === this.byteCount ? this.frameLen : 0;
    if (f & MODBUS.EXCEPTION_BIT) return MODBUS.EXCEPTION_LEN;
    // [AP] §6.1-6.4: read coils / discrete inputs / holding / input registers carry a byte count.
    if (f >= 1 && f <= 4) {
      const n = MODBUS.READ_OVERHEAD + b[i + 2];
      return n <= MODBUS.MAX_ADU ? n : 0;
    }
    // [AP] §6.5, 6.6, 6.11, 6.12: write responses echo 4 bytes of the request.
    if (f === 5 || f === 6 || f === 15 || f === 16) return 8;
    return 0;
  }

  private scan(): number {
    const b = this.buf;
    let i = 0;
    while (i + MODBUS.EXCEPTION_LEN <= this.len) {
      if (this.dead[i]) {
        i++;
        continue;
      }
      const n = this.candidateLength(i);
      if (n === 0) {
        this.dead[i] = 1;
        i++;
        continue;
      }
      if (i + n > this.len) {
        i++; // may complete later; a shorter frame further on may complete first
        continue;
      }
      if (!crcOk(b, i, i + n)) {
        // Only a frame shaped like the answer counts as a damaged answer; other candidates are
        // mostly data bytes that happen to look like a header while the real frame arrives.
        if (this.isAnswerHeader(i)) this.stats.badCrc++;
        this.dead[i] = 1;
        i++;
        continue;
      }
      const r = this.classify(i);
      this.drop(i);
      this.shift(n);
      if (r !== PARSE.NEED_MORE) {
        this.done = true;
        this.stats.late += this.len; // whatever followed the answer
        this.len = 0;
        return r;
      }
      i = 0;
    }
    // Leading bytes that cannot start a frame will never be needed again.
    let k = 0;
    while (k < this.len && this.dead[k]) k++;
    this.drop(k);
    return PARSE.NEED_MORE;
  }

  private isAnswerHeader(i: number): boolean {
    const b = this.buf;
    return b[i] === this.slave && ((b[i + 1] === this.fc && b[i + 2] === this.byteCount) || b[i + 1] === (this.fc | MODBUS.EXCEPTION_BIT));
  }

  /** A CRC-valid frame starts at i: is it the answer? */
  private classify(i: number): number {
    const b = this.buf;
    const s = this.stats;
    if (b[i] !== this.slave) {
      s.wrongSlave++;
      return PARSE.NEED_MORE;
    }
    const f = b[i + 1];
    if (f === (this.fc | MODBUS.EXCEPTION_BIT)) {
      s.exceptions++;
      this.exception = b[i + 2];
      return PARSE.EXCEPTION;
    }
    if (f !== this.fc) {
      s.wrongFunction++;
      return PARSE.NEED_MORE;
    }
    if (b[i + 2] !== this.byteCount) {
      s.wrongLength++;
      return PARSE.NEED_MORE;
    }
    const count = this.byteCount >> 1;
    const regs = new Uint16Array(count);
    for (let k = 0; k < count; k++) regs[k] = (b[i + 3 + 2 * k] << 8) | b[i + 4 + 2 * k];
    this.registers = regs;
    s.frames++;
    return PARSE.REGISTERS;
  }
}

// ---------------------------------------------------------------------------------------------
// Register values. Modbus registers are 16-bit big-endian ([AP] §4.2); 32-bit values span two
// registers, high word first (ABCD) on most meters, low word first (CDAB, "word-swapped") on
// others (PZEM-004T). Float32 is IEEE 754 binary32.

/** Register types, by code (the index). */
export const TYPE_NAMES = ['u16', 's16', 'u32_abcd', 'u32_cdab', 's32_abcd', 's32_cdab', 'f32_abcd', 'f32_cdab'];

export const TYPE = { U16: 0, S16: 1, U32_ABCD: 2, U32_CDAB: 3, S32_ABCD: 4, S32_CDAB: 5, F32_ABCD: 6, F32_CDAB: 7 };

export function typeCode(name: string): number {
  return TYPE_NAMES.indexOf(name);
}

/** Registers a value of this type occupies. */
export function typeWords(code: number): number {
  return code <= TYPE.S16 ? 1 : 2;
}

const F32 = new DataView(new ArrayBuffer(4));

/** The raw value of type `code` at regs[off] (the caller has checked that it fits). */
export function readRegisterValue(code: number, regs: Uint16Array, off: number): number {
  const a = regs[off];
  if (code === TYPE.U16) return a;
  if (code === TYPE.S16) return a >= 0x8000 ? a - 0x10000 : a;
  const b = regs[off + 1];
  // hi, lo: the high and low words of the 32-bit value.
  const swapped = code === TYPE.U32_CDAB || code === TYPE.S32_CDAB || code === TYPE.F32_CDAB;
  const hi = swapped ? b : a;
  const lo = swapped ? a : b;
  if (code === TYPE.F32_ABCD || code === TYPE.F32_CDAB) {
    F32.setUint16(0, hi);
    F32.setUint16(2, lo);
    return F32.getFloat32(0);
  }
  const u = hi * 65536 + lo;
  if (code === TYPE.S32_ABCD || code === TYPE.S32_CDAB) return u >= 2147483648 ? u - 4294967296 : u;
  return u;
}
