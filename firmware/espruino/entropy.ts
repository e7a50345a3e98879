// Host Entropy from the ESP32's hardware RNG, because Espruino offers nothing better:
// Math.random() and E.hwRand() on ESP32 are one fixed-seed software generator (src/jsutils.c,
// seeds 0xDEADBEEF/0xCAFEBABE, never reseeded): every device would make the same "random" key.
//
// The hardware RNG data register (esp-idf components/soc/<chip>/include/soc/wdev_reg.h) is read
// with peek32(addr), one word per call (peek32(addr, n) would read n consecutive addresses,
// not n samples). It is truly random only while a radio runs (Wi-Fi started: connecting,
// connected with powersave "none", or scanning), so collect() samples for at least collectMs
// while radioOn() says so, in small bursts on timers (the event loop keeps running), and
// conditions everything through SHA-256 (the native crypto.SHA256 once main.ts installed it).
// A repetition count test (NIST SP 800-90B §4.4.1 with a 32-bit sample: `repeatCutoff`
// identical words in a row has probability 2^-96 for a working source) fails the collection
// loudly instead of producing a key from a stuck register.
//
// Output: a hash DRBG over the pool (block_i = SHA-256(0x00 || pool || ctr)), the pool updated
// after every call with fresh register words (SHA-256(0x01 || pool || words)), so later calls
// do not reveal earlier outputs. Not a certified DRBG; its input is what matters here.
//
// Linux build (tests only): there is no radio, and peek32 of an ESP32 address reads the host
// process's memory or crashes it. chip "linux" uses /dev/urandom through E.openFile (the fs
// library of the Linux build) instead and says so in source() and in the log; never
// Math.random. Any other unknown chip is refused.
import type { Entropy, Log, Timers } from '../core/host.js';
import { err, aint } from '../core/util/errors.js';
import { sha256 } from '../core/crypto/sha256.js';
import type { EspruinoE } from './espruino.js';

declare const E: EspruinoE;
declare function peek32(addr: number): number;

/** RNG data registers (esp-idf soc/wdev_reg.h: WDEV_RND_REG). */
export const RNG_REGISTERS: { [chip: string]: number } = {
  esp32: 0x60035144,
  esp32c3: 0x600260b0,
  esp32s3: 0x6003507c,
};

/** The test-only source of the Linux build. */
export const LINUX_TEST_SOURCE = '/dev/urandom';

export const ENTROPY_DEFAULTS = {
  /** Radio-on sampling time before the pool is ready. */
  collectMs: 1000,
  /** Words read per burst, and the pause between bursts. */
  wordsPerTick: 32,
  tickMs: 10,
  /** Words that must have been read (with the radio on) before the pool is ready. */
  minWords: 1024,
  /** Identical consecutive words that fail the repetition count test. */
  repeatCutoff: 4,
  /** Give up when the radio was not on for collectMs within this time. */
  maxWaitMs: 60000,
  /** Fresh register words mixed into the pool at each randomBytes() call. */
  wordsPerCall: 8,
  /** Bytes read from the test source (Linux) per collection and per call. */
  testBytes: 64,
};

export interface HardwareEntropy extends Entropy {
  /** Samples until the pool is ready; done(error) when the source is stuck or the radio stayed off. */
  collect(radioOn: () => boolean, done: (e?: Error) => void): void;
  ready(): boolean;
  /** 31 bits for E.srand (its seed is an int). */
  seed(): number;
  /** "hw-rng@0x60035144" or "TEST-ONLY /dev/urandom". */
  source(): string;
  stats(): { words: number; radioMs: number; bursts: number };
}

export interface HardwareEntropyOptions {
  timers: Timers;
  log?: Log;
  collectMs?: number;
  wordsPerTick?: number;
  tickMs?: number;
  minWords?: number;
  repeatCutoff?: number;
  maxWaitMs?: number;
  /** Clock for the radio-on time (ms); default getTime-free tick counting (tickMs per burst). */
  now?(): number;
}

function concat3(a: Uint8Array, b: Uint8Array, tag: number): Uint8Array {
  const out = new Uint8Array(1 + a.length + b.length);
  out[0] = tag;
  out.set(a, 1);
  out.set(b, 1 + a.length);
  return out;
}

/** Entropy for `chip` ("esp32", "esp32c3", "esp32s3", or "linux" for the test-only source). */
export function hardwareEntropy(chip: string, o: HardwareEntropyOptions): HardwareEntropy {
  const linux = chip === 'linux';
  const addr = RNG_REGISTERS[chip];
  if (!linux && addr === undefined)
    throw err('E_ENTROPY', 'no hardware RNG known for chip ' + JSON.stringify(chip) + ' (known: esp32, esp32c3, esp32s3; linux for tests)');
  const d = ENTROPY_DEFAULTS;
  const collectMs = aint('collectMs', o.collectMs === undefined ? d.collectMs : o.collectMs, 0, 600000);
  const wordsPerTick = aint('wordsPerTick', o.wordsPerTick === undefined ? d.wordsPerTick : o.wordsPerTick, 1, 4096);
  const tickMs = aint('tickMs', o.tickMs === undefined ? d.tickMs : o.tickMs, 0, 1000);
  const minWords = aint('minWords', o.minWords === undefined ? d.minWords : o.minWords, 1, 1 << 20);
  const cutoff = aint('repeatCutoff', o.repeatCutoff === undefined ? d.repeatCutoff : o.repeatCutoff, 2, 64);
  const maxWaitMs = aint('maxWaitMs', o.maxWaitMs === undefined ? d.maxWaitMs : o.maxWaitMs, 1, 3600000);
  let pool: Uint8Array = new Uint8Array(32);
  let isReady = false;
  let ctr = 0;
  let words = 0;
  let radioMs = 0;
  let bursts = 0;
  let lastWord = -1;
  let run = 0;

  /** n register words, each its own peek32 call, checked by the repetition count test. */
  function sample(n: number): Uint8Array {
    const w = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const v = peek32(addr) >>> 0;
      w[i] = v;
      if (v === lastWord) {
        if (++run >= cutoff)
          throw err('E_ENTROPY_STUCK', 'hardware RNG at 0x' + addr.toString(16) + ' repeated 0x' + v.toString(16) + ' ' + run + ' times (radio off, or a wrong register)');
      } else {
        run = 1;
        lastWord = v;
      }
    }
    words += n;
    return new Uint8Array(w.buffer);
  }

  function testBytes(n: number): Uint8Array {
    const f = E.openFile ? E.openFile(LINUX_TEST_SOURCE, 'r') : undefined;
    if (!f) throw err('E_ENTROPY', 'test-only entropy: cannot open ' + LINUX_TEST_SOURCE + ' (E.openFile missing: not the Linux build?)');
    const s = f.read(n);
    f.close();
    if (s === undefined || s.length !== n) throw err('E_ENTROPY', 'test-only entropy: short read from ' + LINUX_TEST_SOURCE);
    return E.toUint8Array(s);
  }

  function mix(fresh: Uint8Array): void {
    pool = sha256(concat3(pool, fresh, 1));
  }

  const self: HardwareEntropy = {
    collect: function (radioOn: () => boolean, done: (e?: Error) => void): void {
      if (linux) {
        // Always asynchronous, as the hardware path is: callers may set up after collect().
        o.timers.setTimeout(function () {
          try {
            mix(testBytes(d.testBytes));
          } catch (e) {
            done(e as Error);
            return;
          }
          isReady = true;
          if (o.log) o.log('warn', 'entropy: TEST-ONLY source ' + LINUX_TEST_SOURCE + ' (Linux build: no radio, no hardware RNG)');
          done();
        }, 0);
        return;
      }
      let waited = 0;
      let last = o.now ? o.now() : 0;
      function burst(): void {
        const now = o.now ? o.now() : last + tickMs;
        const dt = now - last;
        last = now;
        waited += dt;
        bursts++;
        try {
          if (radioOn()) {
            radioMs += dt;
            mix(sample(wordsPerTick));
          }
        } catch (e) {
          done(e as Error);
          return;
        }
        if (radioMs >= collectMs && words >= minWords) {
          isReady = true;
          done();
          return;
        }
        if (waited >= maxWaitMs) {
          done(err('E_ENTROPY', 'radio on for only ' + radioMs + ' ms of ' + waited + ' ms (need ' + collectMs + ' ms with Wi-Fi started to trust the hardware RNG)'));
          return;
        }
        o.timers.setTimeout(burst, tickMs);
      }
      o.timers.setTimeout(burst, 0);
    },
    ready: function (): boolean {
      return isReady;
    },
    randomBytes: function (n: number): Uint8Array {
      aint('n', n, 0, 65536);
      if (!isReady) throw err('E_ENTROPY_NOT_READY', 'randomBytes before the entropy pool was collected');
      mix(linux ? testBytes(32) : sample(d.wordsPerCall));
      const out = new Uint8Array(n);
      const c = new Uint8Array(4);
      for (let at = 0; at < n; at += 32) {
        ctr++;
        c[0] = (ctr >>> 24) & 255;
        c[1] = (ctr >>> 16) & 255;
        c[2] = (ctr >>> 8) & 255;
        c[3] = ctr & 255;
        const block = sha256(concat3(pool, c, 0));
        out.set(n - at < 32 ? block.subarray(0, n - at) : block, at);
      }
      mix(c);
      return out;
    },
    seed: function (): number {
      const b = self.randomBytes(4);
      return ((b[0] & 127) << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    },
    source: function (): string {
      return linux ? 'TEST-ONLY ' + LINUX_TEST_SOURCE : 'hw-rng@0x' + addr.toString(16);
    },
    stats: function () {
      return { words: words, radioMs: radioMs, bursts: bursts };
    },
  };
  return self;
}
