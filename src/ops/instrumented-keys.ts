// The signing-key cache's hit ratio (caduceus_cache_requests_total{cache="signing_keys"}) without
// changing KeyManager (src/crypto/signing-keys.ts): the store it reads is wrapped to count reads,
// and each look-up (signer, jwks, publicKey) that caused a read is a miss, the others hits.
// Concurrent look-ups that share one read may be counted as misses together; the ratio is a
// health signal, not an exact figure. Explicit reloads (ensureKey, rotate, reload) are not
// look-ups and are not counted.
import { KeyManager, type ActiveSigningKey, type Jwks, type KeyManagerOptions, type PublicJwk } from '../crypto/signing-keys.js';
import type { SigningKeyStore } from '../storage/types.js';
import { recordCacheLookup } from './metrics.js';

export class InstrumentedKeyManager extends KeyManager {
  readonly #reads: { count: number };

  constructor(options: KeyManagerOptions) {
    const reads = { count: 0 };
    const store: SigningKeyStore = {
      add: (key) => options.store.add(key),
      retire: (kid, retiredAt, expiresAt) => options.store.retire(kid, retiredAt, expiresAt),
      list: () => {
        reads.count += 1;
        return options.store.list();
      },
    };
    super({ ...options, store });
    this.#reads = reads;
  }

  async #counted<T>(lookup: () => Promise<T>): Promise<T> {
    const before = this.#reads.count;
    const result = await lookup();
    recordCacheLookup('signing_keys', this.#reads.count === before);
    return result;
  }

  override signer(now: number): Promise<ActiveSigningKey> {
    return this.#counted(() => super.signer(now));
  }

  override jwks(now: number): Promise<Jwks> {
    return this.#counted(() => super.jwks(now));
  }

  override publicKey(kid: string, now: number): Promise<PublicJwk | undefined> {
    return this.#counted(() => super.publicKey(kid, now));
  }
}
