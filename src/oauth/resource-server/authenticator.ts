// The one authenticator of every protected resource of this server (the PHI gateway, the audit
// API, userinfo, and any resource added later). A request's credentials go through four named
// steps, and a JWT's signature is verified at most once per request:
//
//   presentedToken      RFC 6750 §2.1 Authorization header only, Bearer or DPoP (presentation.ts)
//   verifyAccessToken   RFC 9068 §4 with the server's one key cache (verify-access-token.ts),
//                       remembered by SHA-256 of the token for at most cacheSeconds
//   accessTokenStatus   the revocation status by jti and the grant in it (src/oauth/tokens/lookup.ts),
//                       remembered by jti for at most cacheSeconds (token-status-cache.ts)
//   verifyDpopForResource  RFC 9449 §7 sender constraint (src/oauth/dpop/resource.ts)
//
// Every refusal is a ResourceAccessError (errors.ts); the one serializer (src/errors/serializer.ts)
// writes it with its WWW-Authenticate challenge (src/errors/challenge.ts).
// Deliberately not done here: scopes, patient context and the resource's other rules (each
// resource decides after authentication), and writing the response.
import * as nodeCrypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AppContext } from '../../context/app-context.js';
import { BoundedCache } from '../../util/bounded-cache.js';
import { verifyDpopForResource } from '../dpop/resource.js';
import { serverNoncePolicy } from '../dpop/server.js';
import { accessTokenStatus } from '../tokens/lookup.js';
import { invalidToken, ResourceAccessError } from './errors.js';
import { presentedToken, type TokenScheme } from './presentation.js';
import { TokenStatusCache, type TokenStatus } from './token-status-cache.js';
import { assertNotExpired, verifyAccessToken, type AudienceCheck, type VerifiedAccessToken } from './verify-access-token.js';

export interface ResourceAuthenticatorOptions {
  /** The audience the resource's tokens carry, or the authorization server's opt-out. */
  audience: AudienceCheck;
  /**
   * How long a verified token and a token's status are remembered (RFC 9700 §4.9.3: by digest,
   * never the token). 0 (the default): every request verifies and reads the status, so a
   * revocation takes effect at once.
   */
  cacheSeconds?: number;
  cacheEntries?: number;
}

/** What the authenticator reads of a request. */
export interface ResourceRequest {
  method: string;
  headers: IncomingHttpHeaders;
  /** IncomingMessage.headersDistinct: every DPoP header field value (RFC 9449 §4.3 wants exactly one). */
  headersDistinct?: NodeJS.Dict<string[]>;
  /** The absolute URL the client addressed (the DPoP proof's htu); called only for DPoP. */
  publicUrl: () => string;
  /** The query and the form body, where a token must not be (RFC 6750 §2.2, §2.3). */
  query?: URLSearchParams;
  form?: URLSearchParams;
}

export interface Authenticated {
  token: VerifiedAccessToken;
  scheme: TokenScheme;
}

// crypto.hash (Node 20.12+, 21.7+): a one-shot digest without a Hash object, about twice as fast
// for a token-sized input; createHash where it is missing.
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash;
const sha256 = oneShotHash
  ? (data: string) => oneShotHash('sha256', data, 'base64url')
  : (data: string) => nodeCrypto.createHash('sha256').update(data).digest('base64url');

export class ResourceAuthenticator {
  readonly #ctx: AppContext;
  readonly #audience: AudienceCheck;
  readonly #audienceKey: string;
  readonly #maxAgeMs: number;
  readonly #status: TokenStatusCache | undefined;
  /**
   * Tokens whose signature and claims were verified, by SHA-256 of the token. An entry lives at
   * most cacheSeconds (so a key withdrawn from the JWKS stops being honoured within the same bound
   * as a revocation) and never past exp; exp is checked again on every use. ES256 verification is
   * the gateway's main CPU cost per request.
   */
  readonly #verified: BoundedCache<string, { claims: VerifiedAccessToken; until: number }> | undefined;

  constructor(ctx: AppContext, options: ResourceAuthenticatorOptions) {
    this.#ctx = ctx;
    this.#audience = options.audience;
    this.#audienceKey = 'audience' in options.audience ? options.audience.audience : '*';
    this.#maxAgeMs = (options.cacheSeconds ?? 0) * 1000;
    const entries = options.cacheEntries ?? 10_000;
    if (this.#maxAgeMs > 0) {
      this.#status = new TokenStatusCache(this.#maxAgeMs, entries, ctx.now);
      this.#verified = new BoundedCache(entries);
    }
  }

  /** The verified, active access token of a request; throws ResourceAccessError for every refusal. */
  async authenticate(req: ResourceRequest): Promise<Authenticated> {
    const presented = presentedToken(req.headers, req.query, req.form);
    if (presented.kind === 'none') throw invalidToken('an access token is required', presented.reason);
    const token = await this.#verify(presented.token);
    await this.#checkStatus(token);
    // RFC 9449 §7: the presentation must match the token's binding (a cnf.jkt token needs the DPoP
    // scheme and a valid proof for this method and public URL; an unbound one stays a Bearer
    // token). An unbound token presented as Bearer is the one case verifyDpopForResource accepts
    // without reading the request, so it skips building the proof inputs.
    if (token.cnf === undefined && presented.scheme === 'Bearer') return { token, scheme: 'Bearer' };
    const ctx = this.#ctx;
    const nonce = serverNoncePolicy(ctx);
    const dpop = req.headersDistinct?.dpop ?? (req.headers.dpop !== undefined ? [String(req.headers.dpop)] : undefined);
    await verifyDpopForResource({ method: req.method, url: req.publicUrl(), scheme: presented.scheme, accessToken: presented.token, dpop },
      token, { now: ctx.now(), replay: ctx.storage.replay, ...(nonce ? { nonce } : {}) });
    return { token, scheme: presented.scheme };
  }

  async #verify(token: string): Promise<VerifiedAccessToken> {
    const now = this.#ctx.now();
    if (!this.#verified) return (await verifyAccessToken(this.#ctx, token, this.#audience, { now })).claims;
    const key = `${sha256(token)} ${this.#audienceKey}`;
    const hit = this.#verified.get(key);
    if (hit && hit.until > now) {
      assertNotExpired(hit.claims, now);
      return hit.claims;
    }
    if (hit) this.#verified.delete(key);
    const { claims } = await verifyAccessToken(this.#ctx, token, this.#audience, { now });
    const until = Math.min(now + this.#maxAgeMs, claims.expiresAt * 1000);
    if (until > now) this.#verified.set(key, { claims, until });
    return claims;
  }

  /**
   * RFC 9068 / FAPI 2.0 RS: "verify … the revocation status", by the jti of the verified claims
   * (a jti cannot be forged into a cache hit: it is read only after the signature verified). A
   * status that cannot be read fails closed: 503 temporarily_unavailable.
   */
  async #checkStatus(claims: VerifiedAccessToken): Promise<void> {
    const ctx = this.#ctx;
    const load = async (): Promise<TokenStatus> => ({ active: (await accessTokenStatus(ctx, claims)).active });
    let status: TokenStatus;
    try {
      status = this.#status ? await this.#status.get(claims.jti, claims.expiresAt * 1000, load) : await load();
    } catch (err) {
      throw new ResourceAccessError('temporarily_unavailable', 'the token status cannot be checked right now; try again later', 'ERR_STATUS_UNAVAILABLE', { cause: err });
    }
    if (!status.active) throw invalidToken('the access token has been revoked or is no longer active', 'ERR_TOKEN_REVOKED');
  }

  /** Forgets remembered verifications and statuses (e.g. after an administrative revocation in tests). */
  clearCache(): void {
    this.#status?.clear();
    this.#verified?.clear();
  }
}
