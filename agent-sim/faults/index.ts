// Every fault a scenario can name, by its "type".
import type { FaultModule } from './types.js';
import { brokerRestart } from './broker-restart.js';
import { partition } from './partition.js';
import { latency } from './latency.js';
import { linkLoss } from './link-loss.js';
import { powerLoss } from './power-loss.js';
import { clockJump } from './clock-jump.js';
import { clockSync } from './clock-sync.js';
import { outboxFull } from './outbox-full.js';
import { replay } from './replay.js';
import { forge } from './forge.js';
import { keyRevoked } from './key-revoked.js';

export type { FaultModule, FaultSpec, FaultContext, PrepareContext, Attacker } from './types.js';

export const FAULTS: Record<string, FaultModule<any>> = {};
for (const m of [brokerRestart, partition, latency, linkLoss, powerLoss, clockJump, clockSync, outboxFull, replay, forge, keyRevoked]) FAULTS[m.type] = m;
