// HMAC keys for the DPoP nonces, the DPoP code bindings and the PAR request_uri digests: each one
// derived from the master key's authorization-code digest key under its own label, so no two
// purposes share a key (the stock purposes are a closed list in src/crypto/master-key.ts).
import { createHmac } from 'node:crypto';
import type { AppContext } from '../../server/context.js';

export type DerivedKeyLabel = 'dpop-nonce' | 'dpop-code-binding' | 'par-request-uri';

const cache = new WeakMap<AppContext, Map<DerivedKeyLabel, Buffer>>();

export function derivedKey(ctx: AppContext, label: DerivedKeyLabel): Buffer {
  let keys = cache.get(ctx);
  if (!keys) cache.set(ctx, (keys = new Map()));
  let key = keys.get(label);
  if (!key) {
    key = createHmac('sha256', ctx.masterKey.digestKey('authorization-code')).update(`caduceus/v1/${label}`).digest();
    keys.set(label, key);
  }
  return key;
}
