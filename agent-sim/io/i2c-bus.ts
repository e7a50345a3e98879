// A simulated I2C bus: devices answer at their 7-bit addresses; a missing one NACKs (throws),
// as Espruino's I2C.writeTo/readFrom do.
import type { I2C, I2COptions } from '../../firmware/core/host.js';
import { err } from '../../firmware/core/util/errors.js';

export interface I2CDevice {
  /** Bytes written in one transaction (e.g. a register pointer, or pointer + data). */
  write(data: Uint8Array, stop: boolean): void;
  read(count: number, stop: boolean): Uint8Array;
}

export class I2CBus {
  readonly name: string;
  private readonly devices = new Map<number, I2CDevice>();
  transactions = 0;

  constructor(name: string) {
    this.name = name;
  }

  attach(address: number, dev: I2CDevice): void {
    this.devices.set(address, dev);
  }

  detach(address: number): void {
    this.devices.delete(address);
  }

  open(o: I2COptions): I2C {
    const bus = this;
    const addr = o.address;
    const dev = () => {
      const d = bus.devices.get(addr);
      if (!d) throw err('E_I2C_NACK', 'I2C ' + bus.name + ': no device answers at 0x' + addr.toString(16));
      bus.transactions++;
      return d;
    };
    return {
      write: (data, stop = true) => dev().write(data, stop),
      read: (count, stop = true) => dev().read(count, stop),
      close() {},
    };
  }
}
