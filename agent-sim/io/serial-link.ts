// A virtual serial cable between the device's UART (the Serial the host gives core) and a
// simulated peripheral. Bytes arrive after a latency, in chunks of varying size (seeded), as a
// real UART driver delivers them; when the two ends disagree on baud rate or framing, the
// receiver gets garbage, as it would on a real wire.
import type { Serial, SerialOptions } from '../../firmware/core/host.js';
import { err } from '../../firmware/core/util/errors.js';

export interface LineSettings {
  baud: number;
  bits: 7 | 8;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
}

export interface SerialLinkOptions {
  /** Delivery latency per chunk, ms (default 1). */
  latencyMs?: number;
  /** Largest chunk delivered at once (default 64); chunks are 1..maxChunk bytes, seeded. */
  maxChunk?: number;
  seed?: number;
}

/** The peripheral's end of the cable. */
export interface PeripheralPort {
  readonly settings: LineSettings;
  /** Sends bytes to the device. */
  write(data: Uint8Array): void;
  /** Called with bytes the device sent (framed with the device's settings). */
  onData: (data: Uint8Array) => void;
  setSettings(s: Partial<LineSettings>): void;
}

function sameLine(a: LineSettings, b: LineSettings): boolean {
  return a.baud === b.baud && a.bits === b.bits && a.parity === b.parity && a.stopBits === b.stopBits;
}

export class SerialLink {
  readonly name: string;
  readonly peripheral: PeripheralPort;
  /** Bytes that crossed with mismatched settings (and arrived as garbage). */
  garbled = 0;
  private device: { settings: LineSettings; deliver(d: Uint8Array): void; closed: boolean } | undefined;
  private readonly latency: number;
  private readonly maxChunk: number;
  private rnd: number;

  constructor(name: string, periph: Partial<LineSettings>, o: SerialLinkOptions = {}) {
    this.name = name;
    this.latency = o.latencyMs ?? 1;
    this.maxChunk = o.maxChunk ?? 64;
    this.rnd = (o.seed ?? 1) >>> 0 || 1;
    const link = this;
    const settings: LineSettings = { baud: 9600, bits: 8, parity: 'none', stopBits: 1, ...periph };
    this.peripheral = {
      settings,
      write(data) {
        const dev = link.device;
        if (!dev || dev.closed) return; // nobody listening: bytes fall on the floor, as on a wire
        link.send(link.wire(data, settings, dev.settings), (d) => dev.deliver(d));
      },
      onData: () => {},
      setSettings(s) {
        Object.assign(settings, s);
      },
    };
  }

  /** Opens the device's end (the host's io.serial() for this port name). */
  open(o: SerialOptions): Serial {
    if (this.device && !this.device.closed) throw err('E_SERIAL_BUSY', 'serial port ' + this.name + ' is already open');
    const settings: LineSettings = { baud: o.baud, bits: o.bits ?? 8, parity: o.parity ?? 'none', stopBits: o.stopBits ?? 1 };
    const chunks: Uint8Array[] = [];
    let buffered = 0;
    const link = this;
    const dev = {
      settings,
      closed: false,
      deliver(d: Uint8Array) {
        if (dev.closed) return;
        chunks.push(d);
        buffered += d.length;
        if (o.onReadable) o.onReadable(buffered);
      },
    };
    this.device = dev;
    return {
      read() {
        if (!chunks.length) return undefined;
        const out = new Uint8Array(buffered);
        let off = 0;
        for (const c of chunks) {
          out.set(c, off);
          off += c.length;
        }
        chunks.length = 0;
        buffered = 0;
        return out;
      },
      write(data: Uint8Array) {
        if (dev.closed) throw err('E_SERIAL_CLOSED', 'serial port ' + link.name + ' is closed');
        const p = link.peripheral;
        link.send(link.wire(data, settings, p.settings), (d) => p.onData(d));
      },
      setBaud(baud: number) {
        settings.baud = baud;
      },
      close() {
        dev.closed = true;
      },
    };
  }

  private next(): number {
    // xorshift32
    let x = this.rnd;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rnd = x >>> 0;
    return this.rnd;
  }

  /** What the receiver decodes: the bytes, or garbage when the line settings differ. */
  private wire(data: Uint8Array, tx: LineSettings, rx: LineSettings): Uint8Array {
    if (sameLine(tx, rx)) return data.slice();
    this.garbled += data.length;
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = (data[i] ^ this.next()) & (rx.bits === 7 ? 0x7f : 0xff);
    return out;
  }

  private send(data: Uint8Array, to: (d: Uint8Array) => void): void {
    // Timers of equal delay fire in the order they were set, so chunks arrive in order.
    let off = 0;
    while (off < data.length) {
      const n = Math.min(data.length - off, 1 + (this.next() % this.maxChunk));
      const chunk = data.subarray(off, off + n);
      setTimeout(() => to(chunk), this.latency);
      off += n;
    }
  }
}
