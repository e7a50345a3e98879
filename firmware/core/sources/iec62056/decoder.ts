// IEC 62056-21 (ex IEC 1107) optical readout, mode C: message builders, the resumable parser for
// the meter's identification line and data message, BCC, and the decoder of a checked data block
// into SenML values. Pure: no IO, no timers (the driver runs the handshake).
//
// Exchange (IEC 62056-21:2002 clause 6: messages 6.3.1..6.3.4, protocol mode C, data readout):
//   HHU -> meter  300 baud 7E1   "/?" [device address] "!" CR LF                 (request, 6.3.1)
//   meter -> HHU  300 baud       "/" XXX Z [\W...] ident CR LF                   (identification, 6.3.2)
//   HHU -> meter  300 baud       ACK V Z Y CR LF, V='0' normal, Y='0' readout    (ack/option select, 6.3.3)
//   both switch to the baud rate Z announced ('0'..'6' = 300..19200)
//   meter -> HHU                  STX data-block "!" CR LF ETX BCC               (data message, 6.3.4)
// BCC (6.3.4): XOR of every character after STX up to and including ETX, 7-bit.
import { err, abytes, aint, RANGE_ERROR } from '../../util/errors.js';
import type { SourceValue } from '../source.js';
import { type ObisId, parseObisId, isCurrent, splitDataLine, electricityEntry, pushQuantity, quantity, isTimestamp, asciiText } from '../dsmr/obis.js';

// ---------------------------------------------------------------------------------------------
// Constants (IEC 62056-21:2002)

export const IEC = {
  SOH: 0x01,
  STX: 0x02,
  ETX: 0x03,
  ACK: 0x06,
  NAK: 0x15,
  CR: 0x0d,
  LF: 0x0a,
  START: 0x2f, // '/'
  REQUEST: 0x3f, // '?'
  END: 0x21, // '!'
  /** Mode C: every exchange starts at 300 baud, 7 data bits, even parity, 1 stop bit. */
  INITIAL_BAUD: 300,
  /** Mode C baud rate characters Z = '0'..'6' (identification message, 6.3.2). */
  MODE_C_BAUDS: [300, 600, 1200, 2400, 4800, 9600, 19200],
  /** 6.3.1: device address, up to 32 characters. */
  MAX_ADDRESS_CHARS: 32,
  /** 6.3.2: identification after XXXZ is at most 16 characters, plus "\W" enhanced-capability pairs. */
  MAX_IDENT_LINE: 48,
  /** Default hard bound on a data message (STX..ETX): a Landis+Gyr ZMD with 15 billing periods
   *  sends ~4.5 KB; the buffer is allocated once per source. */
  MAX_READOUT_BYTES: 8192,
  MIN_READOUT_BYTES: 64,
  /** Clause 6 timing: reaction time 200 ms <= tr <= 1500 ms; ta, the longest pause inside a message, 1500 ms. */
  TR_MIN_MS: 200,
  TR_MAX_MS: 1500,
  TA_MS: 1500,
  /** Characters of the acknowledgement message: ACK V Z Y CR LF. */
  ACK_CHARS: 6,
  /** Bits per character on the wire in 7E1: start, 7 data, parity, stop. */
  BITS_PER_CHAR: 10,
};

// ---------------------------------------------------------------------------------------------
// Messages

function bytesOf(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** "/?" address "!" CR LF. The address is 0..32 of 0-9, A-Z, a-z and space (6.3.1). */
export function requestMessage(address: string): Uint8Array {
  if (typeof address !== 'string') throw err('E_TYPE', '"address" expected string, got ' + typeof address, TypeError);
  if (address.length > IEC.MAX_ADDRESS_CHARS) throw err('E_RANGE', '"address" expected at most ' + IEC.MAX_ADDRESS_CHARS + ' characters, got ' + address.length, RANGE_ERROR);
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 32;
    if (!ok) throw err('E_VALUE', '"address" expected 0-9, A-Z, a-z or space, got ' + JSON.stringify(address.charAt(i)) + ' at ' + i, TypeError);
  }
  return bytesOf('/?' + address + '!\r\n');
}

/** ACK '0' Z '0' CR LF: normal protocol, baud character Z, data readout (6.3.3). */
export function ackMessage(z: string): Uint8Array {
  if (typeof z !== 'string' || z.length !== 1) throw err('E_TYPE', '"z" expected one character, got ' + JSON.stringify(z), TypeError);
  return bytesOf(String.fromCharCode(IEC.ACK) + '0' + z + '0\r\n');
}

/** The mode C baud rate of character Z, or -1 (mode A/B letters, reserved digits). */
export function modeCBaud(z: string): number {
  const d = z.charCodeAt(0) - 48;
  return z.length === 1 && d >= 0 && d < IEC.MODE_C_BAUDS.length ? IEC.MODE_C_BAUDS[d] : -1;
}

export interface Identification {
  /** Manufacturer flag id, e.g. "LGZ" (third letter lowercase: the meter answers within 20 ms). */
  manufacturer: string;
  /** Baud rate character Z. */
  z: string;
  /** Mode C baud rate for Z, or -1 when Z is not a mode C character. */
  baud: number;
  /** What follows Z, enhanced-capability "\W" pairs included ("\2ZMD3104107.B40"). */
  ident: string;
}

/** Parses "/XXXZident" (without CR LF); throws a coded error when it is not an identification. */
export function parseIdentification(line: string): Identification {
  if (line.length < 5 || line.length > IEC.MAX_IDENT_LINE || line.charCodeAt(0) !== IEC.START)
    throw err('E_IEC_IDENT', 'identification must be "/XXXZ..." of 5..' + IEC.MAX_IDENT_LINE + ' characters, got ' + JSON.stringify(line));
  for (let k = 1; k <= 3; k++) {
    const c = line.charCodeAt(k);
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) throw err('E_IEC_IDENT', 'identification must start with a 3-letter manufacturer id, got ' + JSON.stringify(line));
  }
  for (let k = 4; k < line.length; k++) {
    const c = line.charCodeAt(k);
    if (c < 0x20 || c > 0x7e || c === IEC.START || c === IEC.END) throw err('E_IEC_IDENT', 'identification holds a forbidden character at ' + k);
  }
  const z = line.charAt(4);
  return { manufacturer: line.substr(1, 3), z: z, baud: modeCBaud(z), ident: line.substring(5) };
}

/** BCC: XOR of data[start..end), 7 bits (the characters are ISO 646, parity travels separately). */
export function bcc(data: Uint8Array, start?: number, end?: number): number {
  let x = 0;
  const e = end === undefined ? data.length : end;
  for (let i = start || 0; i < e; i++) x ^= data[i];
  return x & 0x7f;
}

// ---------------------------------------------------------------------------------------------
// Decoder: a checked data block -> values

export interface IecReadout {
  /** SenML values in block order. */
  values: SourceValue[];
  /** Data sets the decoder knew and took. */
  used: number;
}

/**
 * Decodes the data block `buf[0..len)` (the bytes after STX, before ETX: lines, then "!" CR LF).
 * Strict: a line that is not "ID(value)..." or a known object with a malformed value refuses the
 * whole block, because BCC (one XOR) misses paired errors that a CRC would catch.
 */
export function decodeReadout(buf: Uint8Array, len: number): IecReadout {
  const out: SourceValue[] = [];
  const r: IecReadout = { values: out, used: 0 };
  const id: ObisId = { a: 0, b: 0, cde: '', f: -1 };
  const seen: { [k: string]: boolean } = {};
  let lineNo = 0;
  let line = '';
  let ended = false;

  function bad(msg: string): never {
    throw err('E_IEC_DECODE', 'line ' + lineNo + ': ' + msg);
  }

  function dataSet(raw: string, g: string[]): boolean {
    if (!raw) bad('a value with no identifier');
    if (!parseObisId(raw, id)) bad('not an OBIS identifier');
    if (!isCurrent(id)) return true; // a stored billing period ("1.8.0*01"): not the current value
    const key = (id.a < 0 ? '' : id.a + '-' + id.b + ':') + id.cde;
    if (seen[key]) bad(raw + ' appears twice');
    seen[key] = true;
    if (id.cde === 'F.F') {
      // Fatal error register ("1-1:F.F" at Landis+Gyr): "00000000" when the meter is healthy.
      if (g.length !== 1 || !g[0].length || g[0].length > 16) bad('malformed error register');
      out.push({ n: 'ff', vs: g[0] });
      r.used++;
      return true;
    }
    if (id.a !== 1 && id.a >= 0) return true;
    if (id.cde === '1.6.0') {
      // Maximum demand: (kW)(YYMMDDhhmm), in this order in readouts.
      if (g.length !== 2) bad('maximum demand must be (value)(time)');
      const q = quantity(g[0], 'W');
      if (!q || !isTimestamp(g[1])) bad('malformed maximum demand');
      out.push({ n: 'p_max', u: 'W', v: q.v });
      out.push({ n: 'p_max_ts', vs: g[1] });
      r.used++;
      return true;
    }
    const e = electricityEntry(id.cde);
    if (!e) return true;
    if (g.length !== 1 || !pushQuantity(out, e, g[0])) bad('malformed value for ' + raw);
    r.used++;
    return true;
  }

  // One native conversion and check for the whole block, lines by split (a per-byte loop costs
  // ~8 us a byte in Espruino; a Landis+Gyr readout is 4.5 KB).
  const text = asciiText(buf, 0, len);
  if (text === undefined) bad('a byte is not printable ASCII, CR or LF');
  const lines = text.split('\n');
  for (let k = 0; k < lines.length - 1; k++) {
    let l = lines[k];
    lineNo++;
    if (ended) bad('data after the "!" line');
    if (l.length && l.charCodeAt(l.length - 1) === IEC.CR) l = l.substring(0, l.length - 1);
    if (l.indexOf('\r') >= 0) bad('CR not followed by LF');
    if (l === '!') ended = true;
    else if (l.length && !splitDataLine(l, dataSet)) bad('not "ID(value)..."');
  }
  line = lines[lines.length - 1];
  if (!ended || line.length) bad('the block must end with a "!" line');
  return r;
}

// ---------------------------------------------------------------------------------------------
// Parser: bytes in; an identification line or a checked data block out

/** XOR of b[0..n), four bytes per step through a 32-bit view (the lanes fold the same either endian). */
function xorBytes(b: Uint8Array, n: number): number {
  let x = 0;
  let i = 0;
  if ((b.byteOffset & 3) === 0 && n >= 16) {
    const w = n >> 2;
    const u = new Uint32Array(b.buffer, b.byteOffset, w);
    for (let k = 0; k < w; k++) x ^= u[k];
    x ^= x >>> 16;
    x ^= x >>> 8;
    i = w * 4;
  }
  for (; i < n; i++) x ^= b[i];
  return x & 0xff;
}

export interface IecParserOptions {
  /** Hard bound on the data message, STX to ETX (default IEC.MAX_READOUT_BYTES). */
  maxLength?: number;
  /** The request we sent, so its echo (optical heads often see their own light) is skipped. */
  echo?: string;
  onIdentification(line: string): void;
  /** A data message whose BCC matched: the block between STX and ETX. */
  onBlock(block: Uint8Array, len: number): void;
  /** 'bcc' | 'overflow' | 'ident' (a line that began with '/' grew past its bound). */
  onBad(kind: string): void;
}

export interface IecParser {
  /** Wait for an identification line; anything before its '/' is ignored. */
  expectIdentification(): void;
  /** Wait for STX .. ETX BCC; anything before STX is ignored. */
  expectData(): void;
  /** Ignore everything until told otherwise. */
  idle(): void;
  push(chunk: Uint8Array): void;
}

export function createIecParser(o: IecParserOptions): IecParser {
  if (o === null || typeof o !== 'object') throw err('E_TYPE', '"options" expected object, got ' + typeof o, TypeError);
  const max = aint('maxLength', o.maxLength === undefined ? IEC.MAX_READOUT_BYTES : o.maxLength, IEC.MIN_READOUT_BYTES, 65536);
  const buf = new Uint8Array(max);
  // 0 idle, 1 want '/', 2 in identification, 3 want STX, 4 in block, 5 want BCC.
  let state = 0;
  let len = 0;
  let line = '';

  function push(chunk: Uint8Array): void {
    abytes('chunk', chunk);
    for (let i = 0; i < chunk.length; i++) {
      // 7E1: what arrives is 7-bit; a UART left at 8 bits would hand the parity bit up too.
      const b = chunk[i] & 0x7f;
      if (state === 1) {
        if (b === IEC.START) {
          state = 2;
          line = '/';
        }
      } else if (state === 2) {
        if (b === IEC.LF) {
          state = 1;
          if (line.length && line.charCodeAt(line.length - 1) === IEC.CR) line = line.substring(0, line.length - 1);
          if (o.echo !== undefined && line === o.echo) continue;
          state = 0;
          o.onIdentification(line);
        } else if (line.length >= IEC.MAX_IDENT_LINE + 1) {
          state = 1;
          o.onBad('ident');
        } else line += String.fromCharCode(b);
      } else if (state === 3) {
        if (b === IEC.STX) {
          state = 4;
          len = 0;
        }
      } else if (state === 4) {
        // Copy up to ETX with native calls; the BCC is computed once the block is complete.
        const e = chunk.indexOf(IEC.ETX, i);
        const end = e < 0 ? chunk.length : e;
        if (len + end - i > max) {
          state = 0;
          o.onBad('overflow');
          continue;
        }
        buf.set(chunk.subarray(i, end), len);
        len += end - i;
        i = end;
        if (e >= 0) state = 5;
        else return;
      } else if (state === 5) {
        state = 0;
        if (((xorBytes(buf, len) ^ IEC.ETX) & 0x7f) !== b) o.onBad('bcc');
        else o.onBlock(buf, len);
      }
    }
  }

  return {
    expectIdentification() {
      state = 1;
    },
    expectData() {
      state = 3;
    },
    idle() {
      state = 0;
    },
    push: push,
  };
}
