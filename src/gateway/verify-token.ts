// Access-token verification at the resource server: RFC 9068 §4 (JWT access token validation), RFC
// 9700 §2.3 (audience), SMART App Launch 2.2 app-launch.md and FAPI 2.0 resource servers (expiry,
// revocation status), RFC 8725 (algorithm allow-list, no `none`, no key confusion).
//
// Order: the JOSE header is checked (alg, typ, kid) and the key found before anything else is
// read; the signature is verified before any claim is trusted; only then is the revocation
// status asked, through the bounded TokenStatusCache.
//
// Deliberately not checked here: scopes and patient context (src/gateway/fhir-policy.ts and
// http-policy.ts), sender constraint (DPoP: src/oauth/dpop/resource.ts, called by the gateway with
// the `cnf` kept here), and `iat` freshness beyond exp.
import { decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type JWTPayload } from 'jose';
import * as nodeCrypto from 'node:crypto';
import type { AppContext } from '../context/app-context.js';
import { findToken } from '../oauth/tokens/lookup.js';
import { grantIdOfJti } from '../oauth/tokens/access-token.js';
import { splitScopeClaim } from '../smart/scopes.js';
import { BoundedCache } from '../util/bounded-cache.js';
import { FHIR_ID } from '../util/fhir-id.js';
import { GatewayDenial, invalidToken } from './errors.js';
import { TokenStatusCache } from './token-status-cache.js';

/** RFC 8725 §3.1: an explicit allow-list; the authorization server signs ES256 only. */
export const ACCESS_TOKEN_ALGORITHMS = ['ES256'] as const;
/** Clock skew tolerated on nbf (exp: none, see verify). */
export const CLOCK_SKEW_SECONDS = 30;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// Claims copied into identity headers and the ledger: printable, no control characters.
const PRINTABLE = /^[\x20-\x7E]{1,512}$/;
const SCOPE_CLAIM = /^[\x20-\x7E]{0,8192}$/;
// RFC 7638 SHA-256 thumbprint, base64url.
const JKT = /^[A-Za-z0-9_-]{43}$/;

export interface VerifiedAccessToken {
  subject: string;
  clientId: string;
  jti: string;
  /** From the jti (src/oauth/tokens/access-token.ts); null for client_credentials tokens. */
  grantId: string | null;
  scopes: string[];
  /** The SMART patient context: a FHIR Patient id, when the token carries one. */
  patient?: string;
  /** Epoch seconds. */
  expiresAt: number;
  /** RFC 9449 §6.1: the DPoP key thumbprint the token is bound to, when it is bound. */
  cnf?: { jkt: string };
  /** Break-glass: the HL7 v3 PurposeOfUse code (ETREAT) of an emergency access; every use is flagged in the ledger. */
  purposeOfUse?: string;
}

export interface TokenVerifierOptions {
  cacheSeconds: number;
  cacheEntries: number;
}

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

// crypto.hash (Node 20.12+, 21.7+): a one-shot digest without a Hash object, about twice as fast
// for a token-sized input; createHash where it is missing.
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash;
const sha256 = oneShotHash
  ? (data: string) => oneShotHash('sha256', data, 'base64url')
  : (data: string) => nodeCrypto.createHash('sha256').update(data).digest('base64url');

export class TokenVerifier {
  readonly #ctx: AppContext;
  readonly #cache: TokenStatusCache;
  readonly #keys = new Map<string, { x: string; y: string; key: VerifyKey }>();
  /**
   * Tokens whose signature and claims were verified, by SHA-256 of the token (never the token
   * itself, RFC 9700 §4.9.3) and audience. An entry lives at most cacheSeconds (so a key withdrawn
   * from the JWKS stops being honoured within the same bound as a revocation) and never past exp;
   * exp is checked again on every use. ES256 verification is the gateway's main CPU cost per
   * request.
   */
  readonly #verified: BoundedCache<string, { claims: VerifiedAccessToken; until: number }>;
  readonly #verifiedMaxAgeMs: number;

  constructor(ctx: AppContext, options: TokenVerifierOptions) {
    this.#ctx = ctx;
    this.#cache = new TokenStatusCache(options.cacheSeconds * 1000, options.cacheEntries, ctx.now);
    this.#verifiedMaxAgeMs = options.cacheSeconds * 1000;
    this.#verified = new BoundedCache(options.cacheEntries);
  }

  /** Throws GatewayDenial('invalid_token') for any token that must not be honoured at `audience`. */
  async verify(token: string, audience: string): Promise<VerifiedAccessToken> {
    const now = this.#ctx.now();
    const cacheKey = `${sha256(token)} ${audience}`;
    let claims: VerifiedAccessToken | undefined;
    const hit = this.#verified.get(cacheKey);
    if (hit && hit.until > now) claims = hit.claims;
    else {
      if (hit) this.#verified.delete(cacheKey);
      claims = await this.#verifyJwt(token, audience, now);
      this.#remember(cacheKey, claims, now);
    }
    // The issuer is this process (same clock): exp gets no skew, so the gateway never honours a
    // token that introspection (findToken) already reports inactive. The skew serves nbf.
    if (claims.expiresAt * 1000 <= now) throw invalidToken('the access token has expired', 'ERR_TOKEN_EXPIRED');
    await this.#checkStatus(token, claims);
    return claims;
  }

  #remember(key: string, claims: VerifiedAccessToken, now: number): void {
    if (this.#verifiedMaxAgeMs === 0) return;
    const until = Math.min(now + this.#verifiedMaxAgeMs, claims.expiresAt * 1000);
    if (until <= now) return;
    this.#verified.set(key, { claims, until });
  }

  async #verifyJwt(token: string, audience: string, now: number): Promise<VerifiedAccessToken> {
    const ctx = this.#ctx;
    if (!JWT_SHAPE.test(token)) throw invalidToken('the access token is not a JWT', 'ERR_TOKEN_MALFORMED');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw invalidToken('the access token header cannot be read', 'ERR_TOKEN_MALFORMED');
    }
    // RFC 8725 §2.1 / §3.1: alg none and HS256-with-the-public-key are refused here, before any key is used.
    if (typeof header.alg !== 'string' || !(ACCESS_TOKEN_ALGORITHMS as readonly string[]).includes(header.alg)) {
      throw invalidToken('the access token algorithm is not accepted', 'ERR_TOKEN_ALG');
    }
    // RFC 9068 §4: "Resource servers MUST verify that the typ header value is at+jwt or application/at+jwt".
    if (typeof header.typ !== 'string' || !['at+jwt', 'application/at+jwt'].includes(header.typ.toLowerCase())) {
      throw invalidToken('the token is not an access token (typ)', 'ERR_TOKEN_TYP');
    }
    // Keys come from this server's own JWKS only: jku, x5u and embedded jwk are never followed.
    if (typeof header.kid !== 'string' || header.jku !== undefined || header.x5u !== undefined || header.jwk !== undefined) {
      throw invalidToken('the access token header is not accepted', 'ERR_TOKEN_MALFORMED');
    }
    const key = await this.#publicKey(header.kid, now);
    if (!key) throw invalidToken('the access token was signed by an unknown key', 'ERR_TOKEN_UNKNOWN_KEY');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [...ACCESS_TOKEN_ALGORITHMS],
        typ: 'at+jwt',
        issuer: ctx.config.issuer,
        audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: new Date(now),
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
      }));
    } catch (err) {
      throw mapJoseError(err);
    }
    return readClaims(payload);
  }

  async #checkStatus(token: string, claims: VerifiedAccessToken): Promise<void> {
    const ctx = this.#ctx;
    // RFC 9068 / FAPI 2.0 RS: "verify … the revocation status". findToken reads the jti record and
    // the grant; its answer is cached for at most introspection_cache_seconds.
    let status: { active: boolean };
    try {
      status = await this.#cache.get(claims.jti, claims.expiresAt * 1000, async () => {
        const found = await findToken(ctx, token);
        return { active: found.kind === 'access_token' && found.active && found.claims.jti === claims.jti };
      });
    } catch (err) {
      if (err instanceof GatewayDenial) throw err;
      throw new GatewayDenial('temporarily_unavailable', 'the token status cannot be checked right now; try again later', 'ERR_STATUS_UNAVAILABLE');
    }
    if (!status.active) throw invalidToken('the access token has been revoked or is no longer active', 'ERR_TOKEN_REVOKED');
  }

  /** The published key with this kid (KeyManager re-reads its store early for an unknown kid). */
  async #publicKey(kid: string, now: number): Promise<VerifyKey | undefined> {
    const jwk = await this.#ctx.keys.publicKey(kid, now);
    if (!jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256') return undefined;
    const cached = this.#keys.get(kid);
    if (cached && cached.x === jwk.x && cached.y === jwk.y) return cached.key;
    // Imported once per key (a CryptoKey): converting a KeyObject on every verification costs as much as the verification.
    const key = await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'ES256');
    if (this.#keys.size > 64) this.#keys.clear();
    this.#keys.set(kid, { x: jwk.x as string, y: jwk.y as string, key });
    return key;
  }

  clearCache(): void {
    this.#cache.clear();
    this.#verified.clear();
  }
}

function readClaims(payload: JWTPayload): VerifiedAccessToken {
  const { sub, jti, exp } = payload;
  const clientId = payload.client_id;
  const scope = payload.scope ?? '';
  const patient = payload.patient;
  const purposeOfUse = payload.purpose_of_use;
  // A confirmation the gateway cannot honour (not a DPoP jkt) is refused rather than ignored:
  // ignoring it would accept a sender-constrained token as a bearer token.
  const cnf = payload.cnf;
  let jkt: string | undefined;
  if (cnf !== undefined) {
    const value = cnf !== null && typeof cnf === 'object' ? (cnf as { jkt?: unknown }).jkt : undefined;
    if (typeof value !== 'string' || !JKT.test(value)) throw invalidToken('the access token claims are not valid', 'ERR_TOKEN_CLAIMS');
    jkt = value;
  }
  if (typeof sub !== 'string' || !PRINTABLE.test(sub) || typeof jti !== 'string' || !PRINTABLE.test(jti)
    || typeof clientId !== 'string' || !PRINTABLE.test(clientId) || typeof exp !== 'number'
    || typeof scope !== 'string' || !SCOPE_CLAIM.test(scope)
    || (patient !== undefined && (typeof patient !== 'string' || !FHIR_ID.test(patient)))
    || (purposeOfUse !== undefined && (typeof purposeOfUse !== 'string' || !/^[A-Z]{2,12}$/.test(purposeOfUse)))) {
    throw invalidToken('the access token claims are not valid', 'ERR_TOKEN_CLAIMS');
  }
  return {
    subject: sub, clientId, jti, grantId: grantIdOfJti(jti), scopes: splitScopeClaim(scope), expiresAt: exp,
    ...(patient !== undefined ? { patient } : {}), ...(jkt !== undefined ? { cnf: { jkt } } : {}),
    ...(purposeOfUse !== undefined ? { purposeOfUse } : {}),
  };
}

function mapJoseError(err: unknown): GatewayDenial {
  if (err instanceof joseErrors.JWTExpired) return invalidToken('the access token has expired', 'ERR_TOKEN_EXPIRED');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return invalidToken('the access token was not issued for this resource', 'ERR_TOKEN_AUDIENCE');
    if (err.claim === 'iss') return invalidToken('the access token was not issued by this server', 'ERR_TOKEN_ISSUER');
    if (err.claim === 'nbf' || err.claim === 'iat') return invalidToken('the access token is not yet valid', 'ERR_TOKEN_NOT_YET_VALID');
    if (err.claim === 'typ') return invalidToken('the token is not an access token (typ)', 'ERR_TOKEN_TYP');
    return invalidToken('the access token claims are not valid', 'ERR_TOKEN_CLAIMS');
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return invalidToken('the access token algorithm is not accepted', 'ERR_TOKEN_ALG');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalidToken('the access token signature is not valid', 'ERR_TOKEN_SIGNATURE');
  return invalidToken('the access token is not valid', 'ERR_TOKEN_MALFORMED');
}
