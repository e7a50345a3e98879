// The simulator's IO: one object per board port/bus/pin, wired to simulated peripherals.
// `io` is what the host gives core; the rest is how tests and the fleet attach peripherals.
import type { IO } from '../../firmware/core/host.js';
import { err } from '../../firmware/core/util/errors.js';
import { SerialLink } from './serial-link.js';
import { I2CBus } from './i2c-bus.js';
import { OneWireBus } from './onewire-bus.js';
import { SimPin } from './pins.js';
import { openUdp } from './udp.js';

export { SerialLink, I2CBus, OneWireBus, SimPin };

export interface SimIO {
  io: IO;
  serial: Map<string, SerialLink>;
  i2c: Map<string, I2CBus>;
  onewire: Map<string, OneWireBus>;
  pins: Map<string, SimPin>;
  /** Creates (or returns) the named pin. */
  pin(name: string): SimPin;
  i2cBus(name: string): I2CBus;
  oneWireBus(pin: string): OneWireBus;
}

export function createSimIO(uptime: () => number): SimIO {
  const s: SimIO = {
    serial: new Map(),
    i2c: new Map(),
    onewire: new Map(),
    pins: new Map(),
    pin(name) {
      let p = s.pins.get(name);
      if (!p) s.pins.set(name, (p = new SimPin(name)));
      return p;
    },
    i2cBus(name) {
      let b = s.i2c.get(name);
      if (!b) s.i2c.set(name, (b = new I2CBus(name)));
      return b;
    },
    oneWireBus(pin) {
      let b = s.onewire.get(pin);
      if (!b) s.onewire.set(pin, (b = new OneWireBus(pin)));
      return b;
    },
    io: {
      serial(o) {
        const link = s.serial.get(o.port);
        if (!link) throw err('E_SERIAL_PORT', 'no serial port "' + o.port + '" on this simulated board (known: ' + [...s.serial.keys()].join(', ') + ')');
        return link.open(o);
      },
      i2c: (o) => s.i2cBus(o.bus ?? 'I2C1').open(o),
      onewire: (o) => s.oneWireBus(o.pin).open(o),
      watch: (o) => s.pin(o.pin).watch(o),
      output: (o) => s.pin(o.pin).output(uptime),
      udp: (o) => openUdp(o),
    },
  };
  return s;
}
