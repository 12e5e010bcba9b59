// This server's published signing keys (the JWKS) as a jose key set, for verifying the tokens it
// issued itself (introspection, revocation: src/oauth/tokens/lookup.ts). jose's local key set
// imports each key once and keeps it: rebuilding it per call re-imports every key
// (bench/tokens.ts measured 586 µs against 335 µs per introspection). Rebuilt when the published
// kids change (rotation, expiry). One per server, built by the composition root
// (AppContext.publishedKeys).
import { createLocalJWKSet } from 'jose';
import type { KeyManager } from './signing-keys.js';

export type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

export class PublishedKeySet {
  readonly #keys: Pick<KeyManager, 'jwks'>;
  #cached: { kids: string; set: LocalKeySet } | undefined;

  constructor(keys: Pick<KeyManager, 'jwks'>) {
    this.#keys = keys;
  }

  /** The key set of the keys published at `now` (epoch ms). Rejects when the keys cannot be read. */
  async at(now: number): Promise<LocalKeySet> {
    const jwks = await this.#keys.jwks(now);
    const kids = jwks.keys.map((k) => k.kid).join(' ');
    if (this.#cached && this.#cached.kids === kids) return this.#cached.set;
    const set = createLocalJWKSet(jwks);
    this.#cached = { kids, set };
    return set;
  }
}
