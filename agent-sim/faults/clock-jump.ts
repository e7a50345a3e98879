// A device's wall clock jumps by "by" (negative: backwards), as when SNTP corrects a clock that
// ran away, or a bad RTC battery resets it. Uptime is monotonic and does not move: only the
// times stamped on readings do. Sealing, chaining and accounting must not care.
import { AT, type FaultModule, type FaultSpec } from './types.js';
import type { DeviceSelector } from '../scenario/check.js';

export interface ClockJumpSpec extends FaultSpec {
  type: 'clock-jump';
  devices: DeviceSelector;
  at: number;
  by: number;
}

export const clockJump: FaultModule<ClockJumpSpec> = {
  type: 'clock-jump',
  doc: 'the devices\' wall clocks jump by "by" (uptime does not)',
  fields: { devices: { t: 'devices', req: true }, at: AT, by: { t: 'duration', min: -3650 * 86_400_000, max: 3650 * 86_400_000, req: true } },
  install(s, ctx) {
    const devs = ctx.select(s.devices);
    ctx.at(s.at, () => {
      for (const d of devs) d.clockState.offsetMs += s.by;
      ctx.note(devs.length + ' device clock(s) jumped by ' + s.by + ' ms');
    });
  },
};
