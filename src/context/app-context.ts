// What a server holds, assembled once at startup by the composition root (createContext in
// src/server/start.ts) and handed to every route and service. Types only, from the layers below
// (docs/architecture.md): this module imports nothing at run time, so every layer above may use it.
import type { CaduceusConfig, ResourceConfig } from '../config/schema.js';
import type { Storage } from '../storage/types.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { KeyManager } from '../crypto/signing-keys.js';
import type { AuditSink } from '../audit/events.js';
import type { DerivedKeys } from '../crypto/derived-keys.js';
import type { DpopNoncePolicy } from '../crypto/dpop-nonce.js';
import type { PublishedKeySet } from '../crypto/published-key-set.js';
import type { OpsState } from '../ops/state.js';
import type { RequestLimiters } from '../http/request-rate-limits.js';
import type { BoundedCache } from '../util/bounded-cache.js';
import type { ClientMetadataResolver } from '../oauth/client-metadata/resolver.js';

export interface AppContext {
  config: CaduceusConfig;
  storage: Storage;
  masterKey: MasterKey;
  keys: KeyManager;
  audit: AuditSink;
  /** Epoch milliseconds; replaced by a frozen clock in tests. */
  now: () => number;
  resources: ReadonlyMap<string, ResourceConfig>;
  /** Warnings printed at startup (unsafe.* switches). */
  warnings: string[];
  /**
   * RFC 7591 §3: keyed digest of the initial access token POST /register requires, read from the
   * variable agents.dynamic_registration.initial_access_token_env names (src/oauth/registration/credentials.ts).
   * Absent when none is configured; when one is configured and this is absent, every registration is refused.
   */
  initialAccessTokenDigest?: string;

  // What this server process holds in memory, each built once by createContext.
  /** Logger, ledger and cache probes, the last readiness answer (src/ops/). */
  ops: OpsState;
  /** Request counters of `rate_limits.*`, shared with other instances every second (src/http/request-rate-limits.ts). */
  rateLimits: RequestLimiters;
  /** The published signing keys, each imported once, for verifying this server's own tokens (src/oauth/resource-server/verify-access-token.ts). */
  publishedKeys: PublishedKeySet;
  /** HMAC keys derived from the master key: DPoP nonces and code bindings, PAR request_uri digests. */
  derivedKeys: DerivedKeys;
  /** RFC 9449 §8 server nonces; undefined when `dpop.require_nonce` is off (src/oauth/dpop/server.ts). */
  dpopNonces: DpopNoncePolicy | undefined;
  /** Client ID Metadata Documents of AI agents: fetched, validated and cached (src/oauth/client-metadata/). */
  clientMetadata: ClientMetadataResolver;
  /** The patients a user/ token's subject reaches at the gateway, by subject (src/gateway/user-reach.ts). */
  userReach: BoundedCache<string, { reach: ReadonlySet<string>; until: number }>;
}

export const nowSeconds = (ctx: Pick<AppContext, 'now'>) => Math.floor(ctx.now() / 1000);
