// A device's clock loses (or regains) its sync: while unsynced the agent stamps readings with
// times relative to sealing and the verifier anchors them at receipt (time_estimated). Together
// with a profile's clock offset/spread this gives a fleet of unsynchronised clocks.
import { AT, type FaultModule, type FaultSpec } from './types.js';
import type { DeviceSelector } from '../scenario/check.js';

export interface ClockSyncSpec extends FaultSpec {
  type: 'clock-sync';
  devices: DeviceSelector;
  at: number;
  synced: boolean;
}

export const clockSync: FaultModule<ClockSyncSpec> = {
  type: 'clock-sync',
  doc: 'the devices\' clocks become unsynced (synced: false) or synced again at "at"',
  fields: { devices: { t: 'devices', req: true }, at: AT, synced: { t: 'bool', req: true } },
  install(s, ctx) {
    const devs = ctx.select(s.devices);
    ctx.at(s.at, () => {
      for (const d of devs) d.clockState.synced = s.synced;
      ctx.note(devs.length + ' device clock(s) ' + (s.synced ? 'synced' : 'unsynced'));
    });
  },
};
