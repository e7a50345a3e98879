// Nova Fitness SDS011 UART protocol: the resumable parser for the sensor's 10-byte frames (data
// 0xC0 and command replies 0xC5: head, 6 data bytes, 8-bit sum, tail), their decoders, and the
// 19-byte host commands. Pure: no IO, no timers.
// References: Nova Fitness "SDS011 Laser Dust Sensor Control Protocol" V1.3 (2015-07-20): §1
// (9600 8N1, 19-byte packets, checksum = low 8 bits of the sum of the data bytes), §3.1 data
// reporting mode, §3.2 query data, §3.3 device id, §3.4 sleep and work, §3.5 working period,
// §3.6 firmware version; SDS011 datasheet V1.3 (data frame, range 0.0-999.9 ug/m3).

import { abytes } from '../../util/errors.js';
import { copyBytes } from '../../util/bytes.js';

// ---------------------------------------------------------------------------------------------
// Constants

export const SDS_HEAD = 0xaa;
export const SDS_TAIL = 0xab;
/** Command id of host commands, of data frames, of command replies. */
export const SDS_ID_COMMAND = 0xb4;
export const SDS_ID_DATA = 0xc0;
export const SDS_ID_REPLY = 0xc5;
/** Sensor frames are exactly 10 bytes: this is also the parser's bound. Commands are 19. */
export const SDS_FRAME_LEN = 10;
export const SDS_COMMAND_LEN = 19;
/** Command codes (data byte 1). */
export const SDS_CMD_REPORT_MODE = 2;
export const SDS_CMD_QUERY_DATA = 4;
export const SDS_CMD_SET_ID = 5;
export const SDS_CMD_SLEEP_WORK = 6;
export const SDS_CMD_FIRMWARE = 7;
export const SDS_CMD_PERIOD = 8;
/** Data byte 2 of commands 2, 6, 8: 0 asks for the current setting, 1 sets it. */
export const SDS_GET = 0;
export const SDS_SET = 1;
/** Reporting mode (cmd 2, data byte 3): 0 active (factory default), 1 query. */
export const SDS_MODE_ACTIVE = 0;
export const SDS_MODE_QUERY = 1;
/** Sleep and work (cmd 6, data byte 3). */
export const SDS_SLEEP = 0;
export const SDS_WORK = 1;
/** Working period (cmd 8, data byte 3): 0 continuous (one frame a second), 1..30 minutes. */
export const SDS_PERIOD_CONTINUOUS = 0;
/** Device id FFFF addresses every sensor. */
export const SDS_ANY_ID = 0xffff;
/** Range 0.0-999.9 ug/m3 (datasheet): raw values are tenths. */
export const SDS_RAW_MAX = 9999;
export const SDS_BAUD = 9600;

// ---------------------------------------------------------------------------------------------
// Commands

/**
 * A 19-byte host command: AA B4, data bytes 1..15 (1 = command, 2..13 = arguments, 14..15 =
 * device id, high byte first as the sensor prints it), checksum of the data bytes, AB.
 */
export function sdsCommand(cmd: number, d2: number, d3: number, id: number): Uint8Array {
  const b = new Uint8Array(SDS_COMMAND_LEN);
  b[0] = SDS_HEAD;
  b[1] = SDS_ID_COMMAND;
  b[2] = cmd;
  b[3] = d2;
  b[4] = d3;
  b[15] = (id >> 8) & 0xff;
  b[16] = id & 0xff;
  let sum = 0;
  for (let i = 2; i < 17; i++) sum += b[i];
  b[17] = sum & 0xff;
  b[18] = SDS_TAIL;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Resumable parser

export interface SdsParserStats {
  [name: string]: number;
  frames: number;
  checksum: number;
  /** Byte 9 was not AB: a broken or misaligned frame. */
  tail: number;
  skipped: number;
}

export interface SdsParser {
  push(chunk: Uint8Array): void;
  reset(): void;
  pending(): number;
  stats: SdsParserStats;
}

/**
 * Hands complete, checked frames (head, command id C0 or C5, sum, tail) to `onFrame` as its own
 * copy. It never holds more than SDS_FRAME_LEN bytes of a frame; after a broken one it resumes
 * at the byte after its head, so a real frame that began inside it is still found.
 */
export function createSdsParser(onFrame: (frame: Uint8Array) => void): SdsParser {
  const stats: SdsParserStats = { frames: 0, checksum: 0, tail: 0, skipped: 0 };
  const buf = new Uint8Array(SDS_FRAME_LEN);
  let have = 0;
  let rp = new Uint8Array(SDS_FRAME_LEN);
  let spare = new Uint8Array(SDS_FRAME_LEN);
  let rpLen = 0;
  let rpPos = 0;

  function reject(): void {
    stats.skipped++;
    const n = have - 1;
    const tail = rpLen - rpPos;
    spare.set(buf.subarray(1, have), 0);
    spare.set(rp.subarray(rpPos, rpLen), n);
    const t = rp;
    rp = spare;
    spare = t;
    rpLen = n + tail;
    rpPos = 0;
    have = 0;
  }

  function step(b: number): void {
    if (have === 0) {
      if (b === SDS_HEAD) buf[have++] = b;
      else stats.skipped++;
      return;
    }
    if (have === 1) {
      if (b === SDS_ID_DATA || b === SDS_ID_REPLY) buf[have++] = b;
      else if (b === SDS_HEAD) stats.skipped++;
      else {
        stats.skipped += 2;
        have = 0;
      }
      return;
    }
    buf[have++] = b;
    if (have < SDS_FRAME_LEN) return;
    if (buf[9] !== SDS_TAIL) {
      stats.tail++;
      return reject();
    }
    let sum = 0;
    for (let i = 2; i < 8; i++) sum += buf[i];
    if ((sum & 0xff) !== buf[8]) {
      stats.checksum++;
      return reject();
    }
    stats.frames++;
    const frame = copyBytes(buf, 0, SDS_FRAME_LEN);
    have = 0;
    onFrame(frame);
  }

  return {
    stats: stats,
    push: function (chunk: Uint8Array): void {
      abytes('chunk', chunk);
      for (let i = 0; i < chunk.length; i++) {
        step(chunk[i]);
        while (rpPos < rpLen) step(rp[rpPos++]);
      }
    },
    reset: function (): void {
      have = 0;
      rpLen = 0;
      rpPos = 0;
    },
    pending: function (): number {
      return have + rpLen - rpPos;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Decoders (complete, checked frames only)

export interface SdsData {
  /** Tenths of ug/m3. */
  pm25: number;
  pm10: number;
  id: number;
}

export interface SdsReply {
  cmd: number;
  d2: number;
  d3: number;
  id: number;
}

/** A data frame's values, or undefined for a reply frame. */
export function sdsData(f: Uint8Array): SdsData | undefined {
  if (f[1] !== SDS_ID_DATA) return undefined;
  return { pm25: f[2] | (f[3] << 8), pm10: f[4] | (f[5] << 8), id: (f[6] << 8) | f[7] };
}

/** A command reply (AA C5 cmd d2 d3 x id id), or undefined for a data frame. */
export function sdsReply(f: Uint8Array): SdsReply | undefined {
  if (f[1] !== SDS_ID_REPLY) return undefined;
  return { cmd: f[2], d2: f[3], d3: f[4], id: (f[6] << 8) | f[7] };
}

/**
 * Guard beyond the 8-bit sum, which misses about 1 in 256 multi-byte corruptions and does not
 * cover the command id (byte 1): a C0 <-> C5 flip passes it. The driver therefore never waits
 * for a data frame while one of its commands is still unanswered, so a reply mistaken for data
 * can only be one nobody expected. Here: both values
 * within the datasheet range 0.0-999.9 ug/m3. Returns '' when plausible. (PM2.5 <= PM10 is not
 * required: the protocol does not promise it.)
 */
export function sdsImplausible(d: SdsData): string {
  if (d.pm25 > SDS_RAW_MAX || d.pm10 > SDS_RAW_MAX) return 'value above the 999.9 ug/m3 range';
  return '';
}
