// A device's key is revoked in the registry (revokeDevice + writeRegistry) and the verifier
// reloads it. Batches it accepted before stay stored; every message of that device it receives
// afterwards is refused (revoked-device), and the ledger files their readings as refused for the
// revocation, not as lost. The device itself knows nothing and goes on publishing.
import { AT, type FaultModule, type FaultSpec } from './types.js';

export interface KeyRevokedSpec extends FaultSpec {
  type: 'key-revoked';
  device: number;
  at: number;
}

export const keyRevoked: FaultModule<KeyRevokedSpec> = {
  type: 'key-revoked',
  doc: 'the device\'s key is revoked in the registry at "at" and the verifier reloads it',
  fields: { device: { t: 'int', min: 0, req: true }, at: AT },
  install(s, ctx) {
    const d = ctx.device(s.device);
    if (!d) return; // another shard's device
    ctx.at(s.at, () => {
      ctx.revoke(d);
      ctx.note('device ' + d.spec.label + ' (' + d.agent.addressHex + ') revoked in the registry');
    });
    ctx.finalCheck('key-revoked: ' + d.spec.label + ' keeps what was accepted before, nothing after', () => {
      const acc = ctx.ledger.acceptedOf(d.agent.addressHex);
      const before = acc.filter((a) => !a.afterRevocation).length;
      const after = acc.length - before;
      let refused = 0;
      for (const r of ctx.ledger.of(d).rejected.values()) if (r === 'revoked-device') refused++;
      return {
        ok: before >= 1 && after === 0 && refused >= 1,
        want: 'batches accepted before >= 1, after = 0, refused as revoked >= 1',
        got: 'before ' + before + ', after ' + after + ', refused ' + refused,
      };
    });
  },
};
