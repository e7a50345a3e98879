// DS18B20 driver: one source per 1-Wire bus, one reading per sensor. A read converts all
// sensors at once (Skip ROM + Convert T), waits the datasheet's maximum conversion time for the
// resolution, then reads each sensor's scratchpad by its ROM (Match ROM + Read Scratchpad) and
// checks it: CRC, the configuration byte's fixed bits, the sign bits, the power-on +85 Cel value,
// the range and the resolution. Sensors come from the config or from a ROM search (repeated
// when a sensor stops answering). A sensor that fails is counted and left out; the read fails
// only when no sensor produced a reading.
import type { Host, OneWire, TimerHandle } from '../../host.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { err } from '../../util/errors.js';
import { DS18B20_SCHEMA } from './schema.js';
import {
  DS18B20_CMD_CONVERT_T,
  DS18B20_CMD_READ_SCRATCHPAD,
  DS18B20_CMD_WRITE_SCRATCHPAD,
  DS18B20_CONVERT_MS,
  DS18B20_SCRATCHPAD_LEN,
  DS_OK,
  ds18b20Decode,
  ds18b20RomCheck,
  ds18b20RomFromHex,
  ds18b20RomHex,
  ds18b20RomName,
} from './decoder.js';

export interface Ds18b20Stats {
  [name: string]: number;
  reads: number;
  /** Sensor readings delivered (several per read). */
  ok: number;
  /** Reset pulse without presence pulse: nothing on the bus (or it is shorted). */
  noPresence: number;
  searches: number;
  /** ROM codes from a search with a bad CRC, or of another device family. */
  badRom: number;
  otherFamily: number;
  /** Sensors found beyond maxSensors. */
  overflow: number;
  /** Per-sensor scratchpad outcomes. */
  absent: number;
  crc: number;
  config: number;
  poweron: number;
  range: number;
  resolution: number;
  stuck: number;
  /** Conversions still running after the datasheet time (needed polls), and never finished. */
  slow: number;
  notReady: number;
  /** Scratchpad writes that set the resolution. */
  configWrites: number;
}

/** Interval between conversion-done polls after the datasheet time, ms. */
const DS18B20_POLL_MS = 25;

/** Error code of a read where no sensor produced a value, by the first sensor's outcome. */
const ERROR_CODES: { [status: string]: string } = {
  absent: 'E_NO_DEVICE',
  crc: 'E_CRC',
  config: 'E_BAD_READING',
  poweron: 'E_POWER_ON',
  range: 'E_RANGE',
  resolution: 'E_RESOLUTION',
  stuck: 'E_STUCK',
};

interface Sensor {
  rom: Uint8Array;
  hex: string;
  name: string;
  /** The sensor's resolution was seen to be the configured one. */
  ready: boolean;
  th: number;
  tl: number;
  lastRaw: number;
  same: number;
}

function sensor(rom: Uint8Array, name: string): Sensor {
  return { rom: rom, hex: ds18b20RomHex(rom), name: name, ready: false, th: 0x4b, tl: 0x46, lastRaw: 0x10000, same: 0 };
}

function createDs18b20(host: Host, id: string, intervalMs: number, c: { [k: string]: unknown }): Source {
  if (!host.io || !host.io.onewire) throw err('E_NO_IO', 'ds18b20 "' + id + '": this host has no 1-Wire');
  const pin = c.pin as string;
  const resolution = c.resolution as number;
  const cfgByte = 0x1f | ((resolution - 9) << 5);
  const parasite = c.parasite as boolean;
  const maxSensors = c.maxSensors as number;
  const waitMs = DS18B20_CONVERT_MS[resolution - 9] + (c.convertMarginMs as number);
  const stuckReads = c.stuckReads as number;
  const convertPolls = c.convertPolls as number;
  const where = 'ds18b20 "' + id + '" on ' + pin;
  const stats: Ds18b20Stats = {
    reads: 0, ok: 0, noPresence: 0, searches: 0, badRom: 0, otherFamily: 0, overflow: 0,
    absent: 0, crc: 0, config: 0, poweron: 0, range: 0, resolution: 0, stuck: 0, slow: 0, notReady: 0, configWrites: 0,
  };
  const fixed = c.sensors !== undefined;
  let sensors: Sensor[] = [];
  if (fixed) {
    const list = c.sensors as { rom: string; name?: string }[];
    const names: { [n: string]: boolean } = {};
    for (let i = 0; i < list.length; i++) {
      const path = where + ': sensors[' + i + ']';
      const rom = ds18b20RomFromHex(list[i].rom) as Uint8Array;
      const check = ds18b20RomCheck(rom);
      if (check !== DS_OK)
        throw err('E_CONFIG', path + '.rom: ' + (check === 'family' ? 'family 0x' + list[i].rom.substr(0, 2) + ' is not a DS18B20 (0x28)' : 'CRC byte does not match the ROM') + ', got "' + list[i].rom + '"');
      const s = sensor(rom, list[i].name || ds18b20RomName(rom));
      if (names[s.name]) throw err('E_CONFIG', path + ': name "' + s.name + '" is used twice');
      names[s.name] = true;
      sensors.push(s);
    }
  }
  const ow: OneWire = host.io.onewire({ pin: pin });
  let searched = false;
  let busy = false;
  let stopped = false;
  let timer: TimerHandle | undefined;

  // The Espruino gate rejects a `.search()` call unless the bundle defines a member of that
  // name (String.prototype.search is missing on Espruino): this names the host's OneWire.search.
  const master = {
    search: function (): Uint8Array[] {
      return ow.search();
    },
  };

  function search(): void {
    stats.searches++;
    const found = master.search();
    let next: Sensor[] = [];
    for (let i = 0; i < found.length; i++) {
      const check = ds18b20RomCheck(found[i]);
      if (check === 'family') stats.otherFamily++;
      else if (check !== DS_OK) stats.badRom++;
      else {
        let known: Sensor | undefined;
        for (let k = 0; k < sensors.length; k++) if (sensors[k].hex === ds18b20RomHex(found[i])) known = sensors[k];
        next.push(known || sensor(found[i], ds18b20RomName(found[i])));
      }
    }
    // Lowest serial first, so the kept set does not depend on the search order.
    next.sort(function (a, b) {
      return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
    if (next.length > maxSensors) stats.overflow += next.length - maxSensors;
    sensors = next.length > maxSensors ? next.slice(0, maxSensors) : next;
    searched = true;
  }

  function readScratchpad(s: Sensor): Uint8Array {
    if (!ow.reset()) {
      stats.noPresence++;
      return new Uint8Array(DS18B20_SCRATCHPAD_LEN).fill(0xff);
    }
    ow.select(s.rom);
    ow.write(new Uint8Array([DS18B20_CMD_READ_SCRATCHPAD]));
    return ow.read(DS18B20_SCRATCHPAD_LEN);
  }

  /** Learns each new sensor's resolution (and alarm bytes, kept as they are) and fixes it. */
  function prepare(s: Sensor): void {
    const d = ds18b20Decode(readScratchpad(s));
    if (d.resolution === 0) return; // unreadable now; the reading below will say why
    s.th = d.th;
    s.tl = d.tl;
    if (d.resolution !== resolution) {
      if (!ow.reset()) return;
      ow.select(s.rom);
      ow.write(new Uint8Array([DS18B20_CMD_WRITE_SCRATCHPAD, s.th, s.tl, cfgByte]));
      stats.configWrites++;
    }
    s.ready = true;
  }

  function read(done: (e: Error | undefined, values?: SourceValue[]) => void): void {
    if (busy) {
      done(err('E_BUSY', where + ': a read is still running'));
      return;
    }
    busy = true;
    stats.reads++;
    function finish(e: Error | undefined, values?: SourceValue[]): void {
      busy = false;
      if (!stopped) done(e, values);
    }
    function collect(): void {
      const values: SourceValue[] = [];
      const problems: string[] = [];
      let firstCode = '';
      for (let i = 0; i < sensors.length; i++) {
        const s = sensors[i];
        let sp: Uint8Array;
        try {
          sp = readScratchpad(s);
        } catch (e) {
          sp = new Uint8Array(DS18B20_SCRATCHPAD_LEN).fill(0xff);
        }
        const d = ds18b20Decode(sp);
        let status = d.status;
        if (status === DS_OK && d.resolution !== resolution) {
          status = 'resolution'; // the part lost its setting (power glitch): set it again
          s.ready = false;
        }
        if (status === DS_OK) {
          if (d.raw === s.lastRaw) s.same++;
          else {
            s.same = 1;
            s.lastRaw = d.raw;
          }
          if (stuckReads > 0 && s.same >= stuckReads) status = 'stuck';
        }
        if (status === DS_OK) {
          stats.ok++;
          values.push({ n: s.name, u: 'Cel', v: d.t });
          continue;
        }
        stats[status]++;
        if (!firstCode) firstCode = status;
        problems.push(s.name + ' ' + status);
        if (!fixed && status === 'absent') searched = false; // look again next time
      }
      if (values.length) return finish(undefined, values);
      finish(err(ERROR_CODES[firstCode] || 'E_BAD_READING', where + ': no valid reading (' + problems.join(', ') + ')'));
    }
    // Externally powered sensors answer read slots with 0 while converting (datasheet,
    // "Convert T"): a slow part (some clones) gets more time instead of yielding its previous,
    // stale temperature. Parasite-powered ones cannot be polled: the bus must stay high.
    function converted(left: number): void {
      let busyBits = false;
      if (!parasite) {
        try {
          busyBits = ow.read(1)[0] !== 0xff;
        } catch (e) {
          busyBits = false;
        }
      }
      if (!busyBits) return collect();
      if (left > 0) {
        if (left === convertPolls) stats.slow++;
        timer = host.timers.setTimeout(function () {
          timer = undefined;
          if (!stopped) converted(left - 1);
        }, DS18B20_POLL_MS);
        return;
      }
      stats.notReady++;
      // A part that lost its resolution setting (power glitch) converts at 12 bits: re-check all.
      for (let i = 0; i < sensors.length; i++) sensors[i].ready = false;
      finish(err('E_NOT_READY', where + ': conversion still running ' + (waitMs + convertPolls * DS18B20_POLL_MS) + ' ms after Convert T'));
    }
    try {
      if (!fixed && !searched) search();
      if (!sensors.length) return finish(err('E_NO_DEVICE', where + ': no DS18B20 found by the ROM search'));
      if (!ow.reset()) {
        stats.noPresence++;
        searched = false;
        return finish(err('E_NO_DEVICE', where + ': no presence pulse (no sensor on the bus, or DQ shorted / no pull-up)'));
      }
      for (let i = 0; i < sensors.length; i++) if (!sensors[i].ready) prepare(sensors[i]);
      if (!ow.reset()) {
        stats.noPresence++;
        return finish(err('E_NO_DEVICE', where + ': no presence pulse'));
      }
      ow.skip();
      ow.write(new Uint8Array([DS18B20_CMD_CONVERT_T]), parasite);
    } catch (e) {
      return finish(err('E_ONEWIRE', where + ': ' + ((e as Error).message || String(e))));
    }
    timer = host.timers.setTimeout(function () {
      timer = undefined;
      if (!stopped) converted(convertPolls);
    }, waitMs);
  }

  return {
    id: id,
    intervalMs: intervalMs,
    read: read,
    stats: function () {
      return stats;
    },
    stop: function () {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) host.timers.clearTimeout(timer);
      ow.close();
    },
  };
}

export const ds18b20Source: SourceComponent = {
  type: 'ds18b20',
  doc: 'Maxim DS18B20 thermometers on a 1-Wire bus (one reading per sensor, CRC-checked, power-on 85 Cel rejected)',
  schema: DS18B20_SCHEMA,
  defaultIntervalMs: 60000,
  create: createDs18b20,
};
