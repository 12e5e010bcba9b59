// HMAC keys for the DPoP nonces, the DPoP code bindings and the PAR request_uri digests: each one
// derived from the master key's authorization-code digest key under its own label, so no two
// purposes share a key (the stock purposes are a closed list in src/crypto/master-key.ts). One
// DerivedKeys per server, built by the composition root (AppContext.derivedKeys); each key is
// derived once, on first use.
import { createHmac } from 'node:crypto';
import type { MasterKey } from './master-key.js';

export type DerivedKeyLabel = 'dpop-nonce' | 'dpop-code-binding' | 'par-request-uri';

export class DerivedKeys {
  readonly #masterKey: Pick<MasterKey, 'digestKey'>;
  readonly #keys = new Map<DerivedKeyLabel, Buffer>();

  constructor(masterKey: Pick<MasterKey, 'digestKey'>) {
    this.#masterKey = masterKey;
  }

  get(label: DerivedKeyLabel): Buffer {
    let key = this.#keys.get(label);
    if (!key) {
      key = createHmac('sha256', this.#masterKey.digestKey('authorization-code')).update(`caduceus/v1/${label}`).digest();
      this.#keys.set(label, key);
    }
    return key;
  }
}
