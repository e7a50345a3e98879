// Plantower PMS5003 UART protocol: the resumable frame parser (start bytes, frame length,
// 16-bit sum checksum, hard maximum length, resynchronisation), the data and command-reply
// decoders, the plausibility rules, and the 7-byte host commands. Pure: no IO, no timers.
// References: Plantower "PMS5003 series data manual" v2.3 (2016): Appendix I (transport
// protocol, active mode: 32-byte frames, 13 data words), Appendix II (host protocol: commands
// 0xE1 mode, 0xE2 passive read, 0xE4 sleep; 7 bytes with a 16-bit sum), §"stable data should be
// got at least 30 seconds after the sensor wakeup from the sleep mode".
// Command replies ("42 4D 00 04 E1 00 01 74") are not in the manual; they are what the sensor
// sends (public captures, test/vectors/sources/pms5003.json).

import { abytes } from '../../util/errors.js';
import { copyBytes } from '../../util/bytes.js';

// ---------------------------------------------------------------------------------------------
// Constants

export const PMS_START1 = 0x42;
export const PMS_START2 = 0x4d;
/** Frame length field of a data frame: 13 words + checksum = 2 * 13 + 2 (Appendix I). */
export const PMS_DATA_LENGTH = 28;
/** Frame length field of a command reply: command, data byte, checksum. */
export const PMS_ACK_LENGTH = 4;
/** Hard bound on one frame: 4 header bytes + the longest frame length the parser accepts. */
export const PMS_FRAME_MAX = 4 + PMS_DATA_LENGTH;
export const PMS_WORDS = 13;
/** Host commands (Appendix II): 42 4D CMD DATAH DATAL LRCH LRCL. */
export const PMS_CMD_LEN = 7;
export const PMS_CMD_MODE = 0xe1;
export const PMS_CMD_READ = 0xe2;
export const PMS_CMD_SLEEP = 0xe4;
/** 0xE1 data: 0 passive, 1 active. 0xE4 data: 0 sleep, 1 wake up. */
export const PMS_MODE_PASSIVE = 0;
export const PMS_MODE_ACTIVE = 1;
export const PMS_SLEEP = 0;
export const PMS_WAKE = 1;
/** Fan warm-up before data are stable after wake-up or power-on (Appendix II note). */
export const PMS_WARMUP_MS = 30000;
/** 9600 8N1 (§ "Output Result"). */
export const PMS_BAUD = 9600;
/** Data words (Appendix I): 0-2 PM1.0/2.5/10 CF=1, 3-5 atmospheric environment, 6-11 counts > 0.3 .. 10 um per 0.1 L, 12 reserved. */
export const PMS_W_PM1_CF1 = 0;
export const PMS_W_PM1 = 3;
export const PMS_W_N03 = 6;
export const PMS_W_N10 = 11;

// ---------------------------------------------------------------------------------------------
// Commands

/** A 7-byte host command with its 16-bit sum. */
export function pmsCommand(cmd: number, data: number): Uint8Array {
  const b = new Uint8Array([PMS_START1, PMS_START2, cmd, (data >> 8) & 0xff, data & 0xff, 0, 0]);
  const sum = b[0] + b[1] + b[2] + b[3] + b[4];
  b[5] = sum >> 8;
  b[6] = sum & 0xff;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Resumable parser

export interface PmsParserStats {
  [name: string]: number;
  /** Frames with a good checksum handed on. */
  frames: number;
  /** Frames whose checksum failed. */
  checksum: number;
  /** Frame length neither 28 (data) nor 4 (reply). */
  length: number;
  /** Frame length beyond PMS_FRAME_MAX: the bound, reset and counted. */
  overflow: number;
  /** Bytes discarded while looking for a frame start (noise, broken frames). */
  skipped: number;
}

export interface PmsParser {
  /** Feed bytes as they arrive, split anywhere. Never throws on content (only on a non-Uint8Array). */
  push(chunk: Uint8Array): void;
  /** Forget any partial frame. */
  reset(): void;
  /** Bytes held of a frame not yet complete. */
  pending(): number;
  stats: PmsParserStats;
}

/**
 * Frames are handed to `onFrame` complete and checked (start bytes, length 28 or 4, checksum);
 * the array is the parser's own copy. A rejected frame is not skipped whole: the parser resumes
 * at the byte after its start, so a real frame that began inside a broken one is still found.
 */
export function createPmsParser(onFrame: (frame: Uint8Array) => void): PmsParser {
  const stats: PmsParserStats = { frames: 0, checksum: 0, length: 0, overflow: 0, skipped: 0 };
  const buf = new Uint8Array(PMS_FRAME_MAX);
  let have = 0;
  let need = 0;
  // Bytes to look at again after a rejected frame (at most PMS_FRAME_MAX - 1).
  let rp = new Uint8Array(PMS_FRAME_MAX);
  let spare = new Uint8Array(PMS_FRAME_MAX);
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
      if (b === PMS_START1) buf[have++] = b;
      else stats.skipped++;
      return;
    }
    if (have === 1) {
      if (b === PMS_START2) buf[have++] = b;
      else if (b === PMS_START1) stats.skipped++; // the earlier 0x42 was noise; this one may start a frame
      else {
        stats.skipped += 2;
        have = 0;
      }
      return;
    }
    buf[have++] = b;
    if (have === 4) {
      const len = (buf[2] << 8) | buf[3];
      if (len + 4 > PMS_FRAME_MAX) {
        stats.overflow++;
        return reject();
      }
      if (len !== PMS_DATA_LENGTH && len !== PMS_ACK_LENGTH) {
        stats.length++;
        return reject();
      }
      need = len + 4;
      return;
    }
    if (have < 4 || have < need) return;
    let sum = 0;
    for (let i = 0; i < need - 2; i++) sum += buf[i];
    if (sum !== ((buf[need - 2] << 8) | buf[need - 1])) {
      stats.checksum++;
      return reject();
    }
    stats.frames++;
    const frame = copyBytes(buf, 0, need);
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

/** The 13 data words of a data frame, or undefined for a command reply. */
export function pmsWords(frame: Uint8Array): Uint16Array | undefined {
  if (frame.length !== 4 + PMS_DATA_LENGTH) return undefined;
  const w = new Uint16Array(PMS_WORDS);
  for (let i = 0; i < PMS_WORDS; i++) w[i] = (frame[4 + i * 2] << 8) | frame[5 + i * 2];
  return w;
}

/** A command reply as (command << 8) | data byte, or -1 for a data frame. */
export function pmsReply(frame: Uint8Array): number {
  if (frame.length !== 4 + PMS_ACK_LENGTH) return -1;
  return (frame[4] << 8) | frame[5];
}

/**
 * Plausibility beyond the checksum (which a 16-bit sum makes weak against two compensating
 * errors): mass concentrations are cumulative below a size, so PM1.0 <= PM2.5 <= PM10 (both
 * CF=1 and atmospheric); counts are of particles beyond a size, so n0.3 >= n0.5 >= ... >= n10.
 * Returns '' when plausible, else what is wrong. (A PMS5003T, whose words 10-11 are temperature
 * and humidity, fails here by design: it is not a PMS5003.)
 */
export function pmsImplausible(w: Uint16Array): string {
  for (let base = 0; base <= 3; base += 3)
    if (w[base] > w[base + 1] || w[base + 1] > w[base + 2]) return 'PM1.0 <= PM2.5 <= PM10 violated (' + (base ? 'atmospheric' : 'CF=1') + ')';
  for (let i = PMS_W_N03; i < PMS_W_N10; i++) if (w[i] < w[i + 1]) return 'particle counts must not increase with size (word ' + i + ')';
  return '';
}
