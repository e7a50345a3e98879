// Every source component the firmware knows, by config "type". A device config names the ones
// it uses; the others cost flash (code runs from Storage on the device), not RAM.
import type { SourceComponent } from './source.js';
import { deviceSource } from './device/driver.js';
import { s0Source } from './s0/driver.js';
import { modbusSource } from './modbus/driver.js';
import { dsmrSource } from './dsmr/driver.js';
import { iec62056Source } from './iec62056/driver.js';
import { sht31Source } from './sht31/driver.js';
import { bme280Source } from './bme280/driver.js';
import { ds18b20Source } from './ds18b20/driver.js';
import { pms5003Source } from './pms5003/driver.js';
import { sds011Source } from './sds011/driver.js';
import { s8Source } from './s8/driver.js';
import { semtechSource } from './semtech/driver.js';

export const ALL_SOURCES: SourceComponent[] = [
  deviceSource,
  s0Source,
  modbusSource,
  dsmrSource,
  iec62056Source,
  sht31Source,
  bme280Source,
  ds18b20Source,
  pms5003Source,
  sds011Source,
  s8Source,
  semtechSource,
];

export {
  deviceSource, s0Source, modbusSource, dsmrSource, iec62056Source, sht31Source, bme280Source,
  ds18b20Source, pms5003Source, sds011Source, s8Source, semtechSource,
};
