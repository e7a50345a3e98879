// An attacker publishes messages the verifier must refuse, each registered with the ledger so
// that one accepted shows as a failure:
//   forged       a plausible batch for a real device (its next seq, a reading changed, its kid),
//                signed with a key that is not the device's                  -> bad-signature
//   tampered     a captured genuine message with one payload byte flipped     -> bad-signature
//   unknown-key  a well-formed batch signed by a key the registry lacks        -> unknown-device
//   wrong-topic  a genuine message published on another device's topic        -> topic-mismatch
import { AT, type FaultModule, type FaultSpec } from './types.js';
import { decodeSign1 } from '../../firmware/core/codec/cose.js';
import { decodePayload, encodePayload } from '../../firmware/core/telemetry/batch.js';
import { toHex, fromHex } from '../../firmware/core/util/bytes.js';

export const FORGE_KINDS = ['forged', 'tampered', 'unknown-key', 'wrong-topic'] as const;
export type ForgeKind = (typeof FORGE_KINDS)[number];

export interface ForgeSpec extends FaultSpec {
  type: 'forge';
  at: number;
  count: number;
  kinds: ForgeKind[];
}

export const forge: FaultModule<ForgeSpec> = {
  type: 'forge',
  doc: '"count" messages of each kind (forged, tampered, unknown-key, wrong-topic) published at "at"',
  fields: {
    at: AT,
    count: { t: 'int', min: 1, max: 100_000, def: 5, doc: 'messages per kind' },
    kinds: { t: 'array', of: { t: 'string', enum: FORGE_KINDS }, min: 1, def: [...FORGE_KINDS] },
  },
  prepare(_s, ctx) {
    ctx.keepMessages();
  },
  install(s, ctx) {
    const rnd = ctx.rng();
    ctx.at(s.at, async () => {
      const pool = ctx.ledger.keptMessages();
      if (!pool.length) {
        ctx.note('forge: nothing captured yet to imitate');
        return;
      }
      const a = await ctx.attacker();
      const pick = () => pool[Math.floor(rnd() * pool.length)];
      const sent: Record<string, number> = {};
      for (const kind of s.kinds) {
        for (let k = 0; k < s.count; k++) {
          const m = pick();
          const own = ctx.prefix + '/' + m.device + '/tele';
          let bytes: Uint8Array;
          let topic = own;
          if (kind === 'tampered') {
            const payloadLen = decodeSign1(m.bytes).payload.length;
            bytes = m.bytes.slice();
            // Signature is the last 66 bytes (58 40 + 64); the payload ends just before.
            const at = bytes.length - 66 - 1 - Math.floor(rnd() * payloadLen);
            bytes[at] ^= 1 << Math.floor(rnd() * 8);
          } else if (kind === 'wrong-topic') {
            let other = pick();
            for (let tries = 0; other.device === m.device && tries < 8; tries++) other = pick();
            if (other.device === m.device) continue;
            bytes = m.bytes;
            topic = ctx.prefix + '/' + other.device + '/tele';
          } else {
            const b = decodePayload(decodeSign1(m.bytes).payload);
            b.seq += 1 + Math.floor(rnd() * 1000);
            const r = b.readings.find((x) => x.v !== undefined);
            if (r) r.v = (r.v as number) + 1;
            const payload = encodePayload(b);
            if (kind === 'forged') bytes = a.sign(payload, fromHex(m.device));
            else {
              bytes = a.sign(payload, a.address);
              topic = ctx.prefix + '/' + toHex(a.address) + '/tele';
            }
          }
          // Genuine bytes on a wrong topic are not registered: the original is still genuine.
          if (kind !== 'wrong-topic') ctx.ledger.registerAttack(bytes, kind);
          await a.publish(topic, bytes);
          sent[kind] = (sent[kind] ?? 0) + 1;
        }
      }
      ctx.note('forge: published ' + Object.entries(sent).map(([k, n]) => n + ' ' + k).join(', '));
    });
  },
};
