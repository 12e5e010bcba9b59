// Client ID Metadata Documents, end to end: an https client_id is checked as a Client Identifier
// URL, its document fetched (fetch-document.ts), validated (validate-document.ts) and cached
// (cache-lifetime.ts), and handed to /authorize and /token as a MetadataClient.
// draft-ietf-oauth-client-id-metadata-document (section numbers of -02; -03 keeps the titles):
//   §3 Client Identifier URL ............ client-id-url.ts (clientIdUrlProblem), before any fetch
//   §4, §4.1 document and credentials ... validate-document.ts
//   §4.2 Redirect URL Registration ...... checkMetadataRedirectUri, per request
//   §5 no redirects, 200 only, §8.6 SSRF, §8.7 5 kB ... fetch-document.ts, address-policy.ts
//   §5.1 "fetching ... fails, the authorization server SHOULD abort the authorization request":
//        every failure throws ClientMetadataError (invalid_client); the caller aborts
//   §5.2 Metadata Caching ............... below and cache-lifetime.ts: only a resolution that
//        passed every check stores its document; a failure never stores, never evicts a good one
//   §8.2 Client Authentication .......... publicKeys(): a private_key_jwt client's keys, inline or
//        from its jwks_uri under the same SSRF rules (never through an unguarded fetch)
//
// State (the cache, fetches in flight) lives in the resolver object, which the composition root
// builds once per server. Concurrent resolutions of one URL share one fetch, and at most
// `maxConcurrentFetches` URLs are fetched at once (beyond that: temporarily_unavailable), so a burst
// of made-up client_ids cannot turn this server into a fetch amplifier.
//
// Deliberately not here: what a metadata client may be granted (the self-registered agent policy),
// the consent page, audit events (the caller records resolutions and refusals), and persistence:
// nothing is written to storage.
import { BoundedCache } from '../../util/bounded-cache.js';
import type { CaduceusConfig } from '../../config/schema.js';
import { ClientMetadataError } from './errors.js';
import { clientIdUrlProblem } from './client-id-url.js';
import { MAX_DOCUMENT_BYTES, fetchJsonDocument, type FetchDocumentOptions, type FetchedDocument } from './fetch-document.js';
import { cacheLifetimeSeconds, type CacheBounds } from './cache-lifetime.js';
import { checkMetadataRedirectUri, publicKeySetJson, validateClientMetadataDocument, type ClientMetadata } from './validate-document.js';

/** A client known only through its metadata document. Frozen; safe to share. */
export interface MetadataClient extends ClientMetadata {
  /** Provenance: never a stored (config or admin) client. */
  readonly source: 'metadata_document';
  /** The client_id's host, to show on the consent page (§8.5: "SHOULD display the hostname"). */
  readonly host: string;
  /** When the document was fetched (epoch ms). */
  readonly fetchedAt: number;
  /** When it must be fetched again (epoch ms); equal to fetchedAt when it was not cacheable. */
  readonly expiresAt: number;
}

export interface PublicKeySet {
  keys: Array<Record<string, unknown>>;
}

export interface ClientMetadataResolverOptions {
  /** agents.client_id_metadata_documents */
  enabled: boolean;
  fetch: FetchDocumentOptions;
  cache: CacheBounds & { maxEntries: number };
  now: () => number;
  /** Different URLs fetched at the same time; default 16. */
  maxConcurrentFetches?: number;
  /** Replaces the network fetch (tests of the resolver alone). */
  fetchDocument?: (url: string, options: FetchDocumentOptions) => Promise<FetchedDocument>;
}

export interface ClientMetadataResolver {
  readonly enabled: boolean;
  /**
   * The client behind an https client_id. With `redirectUri` (the authorization request's), also
   * checks §4.2. Throws ClientMetadataError (an OAuthError, invalid_client unless `busy`).
   */
  resolve(clientId: string, request?: { redirectUri?: string }): Promise<MetadataClient>;
  /** §8.2: the public keys of a private_key_jwt client (inline jwks, or its jwks_uri fetched and cached). */
  publicKeys(client: MetadataClient): Promise<PublicKeySet>;
  /** Drops a cached document, e.g. when an administrator blocks the agent. */
  forget(clientId: string): void;
}

/** §8.7 is about documents; a key set of a few RSA keys needs more room. */
export const MAX_KEY_SET_BYTES = 16 * 1024;
const DEFAULT_MAX_CONCURRENT_FETCHES = 16;

interface CachedKeys {
  set: PublicKeySet;
  expiresAt: number;
}

/** The options a server's configuration implies. `ca` adds trust anchors (the dev CA), `now` is the server clock. */
export function clientMetadataResolverOptions(config: CaduceusConfig, runtime: { now: () => number; ca?: string | Buffer }): ClientMetadataResolverOptions {
  const a = config.agents;
  return {
    enabled: a.client_id_metadata_documents,
    fetch: {
      timeoutMs: a.metadata_fetch_timeout_ms,
      maxBytes: MAX_DOCUMENT_BYTES,
      allowLoopback: config.unsafe.allow_loopback_client_metadata,
      ...(runtime.ca !== undefined ? { ca: runtime.ca } : {}),
    },
    cache: { maxEntries: a.metadata_cache_entries, minSeconds: a.metadata_cache_min_seconds, maxSeconds: a.metadata_cache_max_seconds },
    now: runtime.now,
  };
}

export function createClientMetadataResolver(options: ClientMetadataResolverOptions): ClientMetadataResolver {
  const fetchDocument = options.fetchDocument ?? fetchJsonDocument;
  const documents = new BoundedCache<string, MetadataClient>(options.cache.maxEntries);
  const keySets = new BoundedCache<string, CachedKeys>(options.cache.maxEntries);
  const inFlight = new Map<string, Promise<unknown>>();
  const maxConcurrent = options.maxConcurrentFetches ?? DEFAULT_MAX_CONCURRENT_FETCHES;

  /** One fetch per key at a time, and a bound on how many keys are fetched at once. */
  function shared<T>(key: string, run: () => Promise<T>): Promise<T> {
    const running = inFlight.get(key) as Promise<T> | undefined;
    if (running) return running;
    if (inFlight.size >= maxConcurrent) {
      return Promise.reject(new ClientMetadataError('busy', 'too many client metadata documents are being fetched; try again shortly',
        `${inFlight.size} fetches in flight`, 'temporarily_unavailable'));
    }
    const started = run().finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  }

  async function fetchClient(clientId: string): Promise<{ client: MetadataClient; cacheable: boolean }> {
    const fetchedAt = options.now();
    const fetched = await fetchDocument(clientId, options.fetch);
    const metadata = validateClientMetadataDocument(clientId, fetched.json);
    const lifetime = cacheLifetimeSeconds(fetched, options.cache);
    const client = freeze({
      ...metadata, source: 'metadata_document', host: new URL(clientId).host,
      fetchedAt, expiresAt: fetchedAt + (lifetime ?? 0) * 1000,
    } satisfies MetadataClient);
    return { client, cacheable: lifetime !== undefined };
  }

  return {
    enabled: options.enabled,

    async resolve(clientId, request = {}) {
      if (!options.enabled) throw new ClientMetadataError('disabled', 'this server does not accept client ID metadata documents');
      const problem = clientIdUrlProblem(clientId);
      if (problem !== undefined) throw new ClientMetadataError('invalid_url', `client_id is not a valid client ID metadata document URL: it ${problem}`);
      const cached = documents.get(clientId);
      if (cached !== undefined && cached.expiresAt > options.now()) {
        if (request.redirectUri !== undefined) checkMetadataRedirectUri(cached, request.redirectUri);
        return cached;
      }
      const { client, cacheable } = await shared(`document ${clientId}`, () => fetchClient(clientId));
      if (request.redirectUri !== undefined) checkMetadataRedirectUri(client, request.redirectUri);
      // Only now, every check passed: §5.2 never lets an error or an invalid document be stored.
      if (cacheable) documents.set(clientId, client);
      else documents.delete(clientId);
      return client;
    },

    async publicKeys(client) {
      if (client.jwks !== null) return JSON.parse(client.jwks) as PublicKeySet;
      if (client.jwksUri === null) throw new ClientMetadataError('invalid_document', 'client metadata document: the client has no public keys');
      const jwksUri = client.jwksUri;
      const cached = keySets.get(jwksUri);
      if (cached !== undefined && cached.expiresAt > options.now()) return cached.set;
      return shared(`keys ${jwksUri}`, async () => {
        const fetchedAt = options.now();
        const fetched = await fetchDocument(jwksUri, { ...options.fetch, maxBytes: MAX_KEY_SET_BYTES });
        const set = JSON.parse(publicKeySetJson(fetched.json, 'the key set at jwks_uri')) as PublicKeySet;
        const lifetime = cacheLifetimeSeconds(fetched, options.cache);
        if (lifetime !== undefined) keySets.set(jwksUri, { set, expiresAt: fetchedAt + lifetime * 1000 });
        return set;
      });
    },

    forget(clientId) {
      documents.delete(clientId);
    },
  };
}

function freeze(client: MetadataClient): MetadataClient {
  Object.freeze(client.redirectUris);
  Object.freeze(client.grantTypes);
  return Object.freeze(client);
}
