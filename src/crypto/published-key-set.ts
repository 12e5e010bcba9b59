// This server's published signing keys, imported once each, for verifying the tokens it issued
// itself: the one key cache of the protected-resource authenticator and of introspection and
// revocation (src/oauth/resource-server/verify-access-token.ts). A key is looked up by the `kid`
// of the JOSE header in the published set only (KeyManager.publicKey re-reads its store early for
// an unknown kid, so a key another instance just rotated in is found) and imported to a CryptoKey
// once: converting a JWK on every verification costs as much as the verification. One per
// server, built by the composition root (AppContext.publishedKeys).
import { importJWK } from 'jose';
import type { KeyManager } from './signing-keys.js';

export type VerificationKey = Awaited<ReturnType<typeof importJWK>>;

/** At most this many imported keys are kept; more are only seen after many rotations. */
const MAX_KEYS = 64;

export class PublishedKeySet {
  readonly #keys: Pick<KeyManager, 'publicKey'>;
  readonly #imported = new Map<string, { x: string; y: string; key: VerificationKey }>();

  constructor(keys: Pick<KeyManager, 'publicKey'>) {
    this.#keys = keys;
  }

  /**
   * The published ES256 (P-256) key with this kid at `now` (epoch ms), or undefined when no such
   * key is published. Rejects when the keys cannot be read (an outage, not an unknown key).
   */
  async verificationKey(kid: string, now: number): Promise<VerificationKey | undefined> {
    const jwk = await this.#keys.publicKey(kid, now);
    if (!jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256') return undefined;
    const cached = this.#imported.get(kid);
    if (cached && cached.x === jwk.x && cached.y === jwk.y) return cached.key;
    const key = await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'ES256');
    if (this.#imported.size >= MAX_KEYS) this.#imported.clear();
    this.#imported.set(kid, { x: jwk.x, y: jwk.y, key });
    return key;
  }
}
