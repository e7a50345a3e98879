// Senseair S8 CO2 sensor, "read CO2" exchange (Senseair TDE2067, "Modbus on Senseair S8"): the
// worked example of docs/sources.md. The S8 speaks Modbus RTU at 9600 8N1; this component needs
// only one request, so it frames that one exchange itself instead of pulling in a Modbus stack.
//
//   request   FE 04 00 03 00 01 D5 C5   address FE ("any sensor"), function 04 (read input
//                                       registers), register 0x0003 (IR4, space CO2), count 1,
//                                       CRC-16/MODBUS low byte first
//   response  FE 04 02 01 90 AC D8      address, function, byte count 2, CO2 = 0x0190 = 400 ppm
//   exception FE 84 02 F2 F1            function | 0x80, exception code (2: illegal address)
//
// S8Parser is resumable: push() takes any chunk, keeps at most S8_MAX_FRAME bytes, and hands
// complete frames with a good CRC to onFrame. Bytes that cannot start a frame are skipped; a
// frame whose CRC fails is dropped one byte at a time, so a real frame behind noise is found.

// ---------------------------------------------------------------------------------------------
// Constants (Senseair TDE2067; Modbus over Serial Line V1.02 section 2.5.1.2 and 6.4)

/** "Any sensor" address: every S8 answers it (TDE2067). */
export const S8_ANY_ADDRESS = 0xfe;
/** Modbus function 04, read input registers; exceptions set bit 7 (Modbus Application Protocol 7). */
export const S8_FN_READ_INPUT = 0x04;
export const S8_FN_EXCEPTION = 0x84;
/** IR4, "Space CO2" in ppm, at register address 3 (TDE2067 input register table). */
export const S8_REG_CO2 = 0x0003;
/** Normal response: address, function, byte count (2), value (2), CRC (2). */
export const S8_RESPONSE_LEN = 7;
/** Exception response: address, function | 0x80, code, CRC (2). */
export const S8_EXCEPTION_LEN = 5;
/** Longest frame the parser buffers: the normal response. */
export const S8_MAX_FRAME = S8_RESPONSE_LEN;
/** Serial settings: 9600 baud, 8 data bits, no parity, 1 stop bit (TDE2067). */
export const S8_BAUD = 9600;
/** Upper end of the S8 family's measurement range (S8 LP: 0-10000 ppm); above it is not a reading. */
export const S8_MAX_PPM = 10000;

// ---------------------------------------------------------------------------------------------
// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF; check value crc("123456789") = 0x4B37)

export function crc16Modbus(b: Uint8Array, start: number, end: number): number {
  let c = 0xffff;
  for (let i = start; i < end; i++) {
    c ^= b[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  }
  return c;
}

/** The 8-byte "read CO2" request for `address`. */
export function s8Request(address: number): Uint8Array {
  const b = new Uint8Array([address, S8_FN_READ_INPUT, S8_REG_CO2 >> 8, S8_REG_CO2 & 255, 0, 1, 0, 0]);
  const c = crc16Modbus(b, 0, 6);
  b[6] = c & 255;
  b[7] = c >> 8;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Parser

export interface S8Frame {
  /** CO2 in ppm for a normal response; -1 for an exception. */
  ppm: number;
  /** Modbus exception code (0 for a normal response). */
  exception: number;
}

export interface S8ParserStats {
  frames: number;
  exceptions: number;
  crcErrors: number;
  /** Bytes skipped while looking for a frame start (noise, partial frames). */
  skipped: number;
}

export class S8Parser {
  readonly address: number;
  readonly onFrame: (f: S8Frame) => void;
  private buf = new Uint8Array(S8_MAX_FRAME);
  private n = 0;
  readonly s: S8ParserStats = { frames: 0, exceptions: 0, crcErrors: 0, skipped: 0 };

  constructor(address: number, onFrame: (f: S8Frame) => void) {
    this.address = address;
    this.onFrame = onFrame;
  }

  /** Drops a partial frame (before a new request: an old answer's tail is never completed). */
  reset(): void {
    this.s.skipped += this.n;
    this.n = 0;
  }

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      this.buf[this.n++] = chunk[i];
      this.scan();
    }
  }

  /** Length the buffered bytes must reach, 0 when they cannot start a frame. */
  private need(): number {
    const b = this.buf;
    if (b[0] !== this.address) return 0;
    if (this.n < 2) return S8_MAX_FRAME;
    if (b[1] === S8_FN_EXCEPTION) return S8_EXCEPTION_LEN;
    if (b[1] !== S8_FN_READ_INPUT) return 0;
    if (this.n < 3) return S8_MAX_FRAME;
    return b[2] === 2 ? S8_RESPONSE_LEN : 0;
  }

  private scan(): void {
    for (;;) {
      if (this.n === 0) return;
      const need = this.need();
      if (need === 0) {
        this.drop(1);
        this.s.skipped++;
        continue;
      }
      if (this.n < need) return;
      const b = this.buf;
      const crc = crc16Modbus(b, 0, need - 2);
      if ((crc & 255) !== b[need - 2] || crc >> 8 !== b[need - 1]) {
        this.s.crcErrors++;
        this.drop(1);
        continue;
      }
      this.s.frames++;
      let f: S8Frame;
      if (need === S8_EXCEPTION_LEN) {
        this.s.exceptions++;
        f = { ppm: -1, exception: b[2] };
      } else f = { ppm: (b[3] << 8) | b[4], exception: 0 };
      this.drop(need);
      this.onFrame(f);
    }
  }

  private drop(k: number): void {
    this.buf.set(this.buf.subarray(k, this.n), 0);
    this.n -= k;
  }
}
