// What a fault module is and what the scenario runner gives it. One module per fault
// (agent-sim/faults/<name>.ts): its fields (checked by the scenario schema), an optional
// prepare() that changes device options before the fleet is built, install() that schedules
// the fault on the scenario's time base, and end() that undoes what is still in effect when
// sampling stops (so the drain sees a healthy network).
import type { Field, DeviceSelector } from '../scenario/check.js';
import type { AgentConfig } from '../../firmware/core/session/agent.js';
import type { TimeBase } from '../platform/virtual-time.js';
import type { SimDevice } from '../fleet.js';
import type { LinkProxy } from '../link-proxy.js';
import type { ScenarioBroker } from '../scenario/brokers.js';
import type { FleetLedger } from '../scenario/ledger.js';

export interface FaultSpec {
  type: string;
  [field: string]: unknown;
}

export interface PrepareContext {
  /** Global indices a selector names (the same in every shard; random picks seeded). */
  select(sel: DeviceSelector): number[];
  /** Global indices of a link's devices. */
  linkDevices(name: string): number[];
  /** Agent config overrides for one device (merged over its group's). */
  agentOverride(index: number, o: Partial<AgentConfig>): void;
  /** Virtual time: a request may hold the clock at least this many real ms. */
  needIoGrace(ms: number): void;
  /** Keep genuine message bytes for replays. */
  keepMessages(): void;
}

export interface Attacker {
  /** The attacker's own key and address (not in the registry). */
  readonly address: Uint8Array;
  /** A COSE_Sign1 over `payload` signed with the attacker's key, naming `kid`. */
  sign(payload: Uint8Array, kid: Uint8Array): Uint8Array;
  /** Publishes at QoS 1 and resolves on PUBACK. */
  publish(topic: string, bytes: Uint8Array): Promise<void>;
  published(): number;
}

export interface FaultContext {
  readonly time: TimeBase;
  /** Scenario start and end of sampling, ms of the time base. */
  readonly startMs: number;
  readonly endMs: number;
  readonly prefix: string;
  /** Runs fn at `offsetMs` after the start; a returned promise holds virtual time until it settles. */
  at(offsetMs: number, fn: () => void | Promise<unknown>): void;
  /** A seeded PRNG for this fault (the same sequence on every run). */
  rng(): () => number;
  /** Devices of this shard a selector names (global indices outside the shard are skipped). */
  select(sel: DeviceSelector): SimDevice[];
  device(index: number): SimDevice | undefined;
  indexOf(d: SimDevice): number;
  /**
   * A link: its proxy (black hole, refuse, reset), its devices, and its one-way latency (virtual
   * time: a delay in the devices' own link layer, platform/link-delay.ts; real time: the proxy's).
   */
  link(name: string): { proxy: LinkProxy; devices: SimDevice[]; setLatency(ms: number): void };
  readonly broker: ScenarioBroker;
  /** Power on and start (after a cut). */
  bootDevice(d: SimDevice): void;
  /** Called on every power cut of any device (after its RAM is gone). */
  onPowerCut(fn: (d: SimDevice) => void): void;
  /** Marks the device revoked in the registry file and makes the verifier reload it. */
  revoke(d: SimDevice): void;
  attacker(): Promise<Attacker>;
  readonly ledger: FleetLedger;
  /** A line in the report's timeline, stamped with the scenario time. */
  note(msg: string): void;
  /** A check of this fault's own, run after the drain; its result joins the expectations. */
  finalCheck(name: string, fn: () => { ok: boolean; want: string; got: string }): void;
}

export interface FaultModule<S extends FaultSpec = FaultSpec> {
  readonly type: string;
  /** One line: what the fault does to the system. */
  readonly doc: string;
  readonly fields: Record<string, Field>;
  /** Cross-field rules, as "field: message" (the schema has checked each field already). */
  validate?(spec: S, sc: { duration: number; devices: number }): string[];
  prepare?(spec: S, ctx: PrepareContext): void;
  install(spec: S, ctx: FaultContext): void;
  end?(spec: S, ctx: FaultContext): void | Promise<void>;
}

/** Common fields. */
export const AT: Field = { t: 'duration', min: 0, def: 0, doc: 'when, after the start' };
export const FOR: Field = { t: 'duration', min: 1, req: true, doc: 'how long' };
export const LINK: Field = { t: 'string', req: true, doc: 'a link declared under "links"' };
