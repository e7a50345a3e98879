// What the agent loop needs from a source of readings, and how a source component (one folder
// under sources/: schema + decoder + driver, as ESPHome's components) plugs in.
import type { Host } from '../host.js';
import type { Schema } from '../config/schema.js';

/** One value as a source reports it; the agent prefixes the source id and adds the time. */
export interface SourceValue {
  /** Quantity name within the source (docs/sources.md), e.g. "e", "p_l1", "pm25". */
  n: string;
  /** SenML unit (RFC 8428 §12.1 / RFC 8798): W, Wh, V, A, Cel, %RH, Pa, ug/m3, dBm, ... */
  u?: string;
  v?: number;
  s?: number;
  vs?: string;
  vb?: boolean;
}

/**
 * A source of readings. `read` is called every `intervalMs` and answers once through `done`
 * (synchronously or later, e.g. after a serial exchange); a read still running when the next
 * one is due is skipped, not stacked. A source that produced nothing valid answers with an
 * error (counted by the agent) and never with garbage.
 */
export interface Source {
  id: string;
  intervalMs: number;
  read(done: (e: Error | undefined, values?: SourceValue[]) => void): void;
  /** Counters of the source's own health (frames ok / bad, timeouts, ...), for diagnostics. */
  stats?(): { [name: string]: number };
  stop?(): void;
}

/** A kind of source: its config schema, and how to build one over the host's IO. */
export interface SourceComponent {
  /** The config's "type", e.g. "modbus", "dsmr", "s0". */
  type: string;
  /** One line for docs and error messages. */
  doc: string;
  /** The component's options (id, type and intervalMs are common to all, see COMMON_SCHEMA). */
  schema: Schema;
  defaultIntervalMs: number;
  /** `config` has passed `schema` (defaults filled). Throws a coded error if the host lacks IO. */
  create(host: Host, id: string, intervalMs: number, config: { [k: string]: unknown }): Source;
}
