// A simulated 1-Wire bus at transaction level: reset/presence, ROM search, select/skip, and the
// selected device's function commands. Several devices answering one read see wired-AND.
import type { OneWire, OneWireOptions } from '../../firmware/core/host.js';

export interface OneWireDevice {
  readonly rom: Uint8Array;
  /** Bytes the master wrote after selecting this device. */
  write(data: Uint8Array, power: boolean): void;
  read(count: number): Uint8Array;
}

export class OneWireBus {
  readonly pin: string;
  readonly devices: OneWireDevice[] = [];
  private selected: OneWireDevice[] = [];

  constructor(pin: string) {
    this.pin = pin;
  }

  attach(d: OneWireDevice): void {
    this.devices.push(d);
  }

  detach(d: OneWireDevice): void {
    const i = this.devices.indexOf(d);
    if (i >= 0) this.devices.splice(i, 1);
  }

  open(_o: OneWireOptions): OneWire {
    const bus = this;
    return {
      reset() {
        bus.selected = [];
        return bus.devices.length > 0;
      },
      search() {
        return bus.devices.map((d) => d.rom.slice());
      },
      select(rom) {
        bus.selected = bus.devices.filter((d) => d.rom.every((b, i) => b === rom[i]));
      },
      skip() {
        bus.selected = bus.devices.slice();
      },
      write(data, power = false) {
        for (const d of bus.selected) d.write(data, power);
      },
      read(count) {
        const out = new Uint8Array(count).fill(0xff); // an idle bus reads as 1s
        for (const d of bus.selected) {
          const r = d.read(count);
          for (let i = 0; i < count; i++) out[i] &= r[i] ?? 0xff;
        }
        return out;
      },
      close() {},
    };
  }
}
