// Simulated GPIO: inputs whose edges a simulated peripheral drives (an S0 pulse output, a
// button), with Espruino setWatch's debounce semantics; outputs that record their level.
import type { Watch, WatchOptions, DigitalOutput } from '../../firmware/core/host.js';

export class SimPin {
  readonly name: string;
  level: 0 | 1 = 1; // internal pull-up: idle high
  private readonly watches: { o: WatchOptions; timer?: NodeJS.Timeout; reported: 0 | 1 }[] = [];
  /** Levels written when used as an output, with uptime ms. */
  readonly history: { level: 0 | 1; at: number }[] = [];

  constructor(name: string) {
    this.name = name;
  }

  /**
   * Drives the input to `level` at uptime `time` (ms). A watch fires once the level has been
   * stable for its debounce time, like setWatch's debounce; its event carries the edge time.
   */
  set(level: 0 | 1, time: number): void {
    if (level === this.level) return;
    this.level = level;
    for (const w of this.watches) {
      const fire = () => {
        w.timer = undefined;
        if (this.level === w.reported) return;
        w.reported = this.level;
        const rising = this.level === 1;
        if (w.o.edge === 'both' || (w.o.edge === 'rising') === rising) w.o.onEdge({ rising, time });
      };
      if (w.timer) clearTimeout(w.timer);
      if (w.o.debounceMs > 0) w.timer = setTimeout(fire, w.o.debounceMs);
      else fire();
    }
  }

  watch(o: WatchOptions): Watch {
    const w: { o: WatchOptions; timer?: NodeJS.Timeout; reported: 0 | 1 } = { o, reported: this.level };
    this.watches.push(w);
    return {
      close: () => {
        if (w.timer) clearTimeout(w.timer);
        const i = this.watches.indexOf(w);
        if (i >= 0) this.watches.splice(i, 1);
      },
    };
  }

  output(uptime: () => number): DigitalOutput {
    return {
      write: (level) => {
        this.level = level;
        this.history.push({ level, at: uptime() });
      },
      close() {},
    };
  }
}
