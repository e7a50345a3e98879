// Representative IEC 62056-21 data messages for the lead's benchmark, and one parser+decoder pass.
import { readFileSync } from 'node:fs';
import { createIecParser, decodeReadout, type IecReadout } from '../../firmware/core/sources/iec62056/decoder.js';
import { IecMeter } from '../../agent-sim/peripherals/iec62056-meter.js';
import { iecBcc } from '../../agent-sim/peripherals/iec62056-meter.js';
import type { PeripheralPort } from '../../agent-sim/io/serial-link.js';

const FILE = JSON.parse(readFileSync(new URL('../vectors/sources/iec62056.json', import.meta.url), 'utf8'));

function latin1(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/** One data message of the simulated meter (STX block ETX BCC), built without a serial link. */
function simMessage(): string {
  const port = { settings: { baud: 300, bits: 7, parity: 'even', stopBits: 1 }, write() {}, onData() {}, setSettings() {} } as unknown as PeripheralPort;
  const m = new IecMeter(port, { seed: 5 });
  const block = m.build().block + '\x03';
  return '\x02' + block + String.fromCharCode(iecBcc(block));
}

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  const r = FILE.readouts as { name: string; message: string }[];
  return [
    { label: 'Logarex LK13 readout (24 lines, 776 B)', bytes: latin1(r.find((x) => x.name === 'logarex_lk13')!.message) },
    { label: 'Landis+Gyr ZMD readout (147 lines, 4.5 KB)', bytes: latin1(r.find((x) => x.name === 'landis_gyr_zmd')!.message) },
    { label: 'simulated meter readout (20 lines)', bytes: latin1(simMessage()) },
  ];
}

let got: IecReadout | undefined;
const parser = createIecParser({
  maxLength: 8192,
  onIdentification() {},
  onBlock(b, len) {
    got = decodeReadout(b, len);
  },
  onBad() {},
});

/** Runs the data-message parser (STX..ETX, BCC) and the decoder once on one message. */
export function decodeOnce(bytes: Uint8Array): IecReadout | undefined {
  got = undefined;
  parser.expectData();
  parser.push(bytes);
  return got;
}
