// A bounded cache of access-token revocation status, keyed by jti (only ever read after the
// token's signature has been verified, so a jti cannot be forged into a cache hit).
//
// Contract: an entry is served until min(stored + maxAgeMs, token exp) and never after, so a
// revocation takes effect at a resource (the gateway) within maxAgeMs (SMART App Launch 2.2 app-launch.md: the
// resource server "SHALL validate the access token"; FAPI 2.0 resource servers: "revocation
// status"). At most maxEntries entries; the oldest is evicted first. Concurrent look-ups of one jti
// share a single status query. Each look-up counts as a hit or a miss in
// caduceus_cache_requests_total{cache="token_status"} (a shared pending query counts as a hit).
import { recordCacheLookup } from '../../ops/metrics.js';
import { BoundedCache } from '../../util/bounded-cache.js';

export interface TokenStatus {
  active: boolean;
}

interface Entry {
  status: TokenStatus;
  expiresAt: number;
}

export class TokenStatusCache {
  readonly #entries: BoundedCache<string, Entry>;
  readonly #pending = new Map<string, Promise<TokenStatus>>();

  constructor(
    private readonly maxAgeMs: number,
    maxEntries: number,
    private readonly clock: () => number,
  ) {
    if (!Number.isInteger(maxAgeMs) || maxAgeMs < 0) throw new RangeError('TokenStatusCache: maxAgeMs must be a non-negative integer');
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('TokenStatusCache: maxEntries must be a positive integer');
    this.#entries = new BoundedCache(maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached status, or the result of `load` (cached until the bound above). */
  async get(jti: string, tokenExpiresAtMs: number, load: () => Promise<TokenStatus>): Promise<TokenStatus> {
    const now = this.clock();
    const hit = this.#entries.get(jti);
    if (hit && hit.expiresAt > now) {
      recordCacheLookup('token_status', true);
      return hit.status;
    }
    if (hit) this.#entries.delete(jti);
    const pending = this.#pending.get(jti);
    recordCacheLookup('token_status', pending !== undefined);
    if (pending) return pending;
    const loading = load().then((status) => {
      this.#store(jti, status, tokenExpiresAtMs, now);
      return status;
    }).finally(() => this.#pending.delete(jti));
    this.#pending.set(jti, loading);
    return loading;
  }

  #store(jti: string, status: TokenStatus, tokenExpiresAtMs: number, askedAt: number): void {
    if (this.maxAgeMs === 0) return;
    // Measured from when the question was asked, so the status is at most maxAgeMs old when served.
    const expiresAt = Math.min(askedAt + this.maxAgeMs, tokenExpiresAtMs);
    if (expiresAt <= this.clock()) return;
    this.#entries.set(jti, { status, expiresAt });
  }

  clear(): void {
    this.#entries.clear();
  }
}
