// RFC 9068 §4 (JWT access token validation) for every protected resource of this server and for
// introspection and revocation: RFC 8725 (algorithm allow-list, no `none`, no key confusion),
// RFC 9700 §2.3 (audience), SMART App Launch 2.2 app-launch.md (expiry).
//
// Order: the JOSE header is checked (alg, typ, kid) and the key found before anything else is
// read; the signature is verified before any claim is trusted; then the claims' shape.
//
// Deliberately not checked here: the revocation status (a separate step by `jti` that verifies
// nothing again: accessTokenStatus in src/oauth/tokens/lookup.ts), scopes and patient context
// (each resource's policy), the sender constraint (DPoP: src/oauth/dpop/resource.ts, with the
// `cnf` read here), and `iat` freshness beyond exp.
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { AppContext } from '../../context/app-context.js';
import { splitScopeClaim } from '../../smart/scopes.js';
import { FHIR_ID } from '../../util/fhir-id.js';
import { grantIdOfJti, type AccessTokenClaims } from '../tokens/access-token.js';
import { invalidToken, type ResourceAccessError } from './errors.js';

/** RFC 8725 §3.1: an explicit allow-list; the authorization server signs ES256 only. */
export const ACCESS_TOKEN_ALGORITHMS = ['ES256'] as const;
/** Clock skew tolerated on nbf (exp: none, see verifyAccessToken). */
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
  /** RFC 8693 §4.1 `act.sub`: the client acting for the subject in an exchanged token; recorded in every ledger event. */
  actor?: string;
}

/**
 * The audience a token must carry (RFC 9068 §4: "The resource server MUST validate that the aud
 * claim contains a resource indicator value corresponding to an identifier the resource server
 * expects for itself"), or the loudly named opt-out for the endpoints of the authorization server
 * itself (introspection, revocation, userinfo), which honour a token of any audience it issued.
 */
export type AudienceCheck = { audience: string } | { acceptAnyAudience: true };

export interface VerifyAccessTokenOptions {
  /** Epoch milliseconds. */
  now: number;
}

let verifications = 0;

/** How many JWT signatures this process has verified (for tests: a request verifies at most one). */
export function accessTokenVerifications(): number {
  return verifications;
}

/**
 * Verifies a JWT access token issued by this server. Throws ResourceAccessError('invalid_token')
 * with an ERR_TOKEN_* reason for any token that must not be honoured; rejects with the storage
 * error when the published keys cannot be read (an outage, not a bad token).
 */
export async function verifyAccessToken(
  ctx: Pick<AppContext, 'publishedKeys' | 'config'>,
  token: string,
  check: AudienceCheck,
  options: VerifyAccessTokenOptions,
): Promise<{ claims: VerifiedAccessToken; payload: AccessTokenClaims }> {
  const { now } = options;
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
  const key = await ctx.publishedKeys.verificationKey(header.kid, now);
  if (!key) throw invalidToken('the access token was signed by an unknown key', 'ERR_TOKEN_UNKNOWN_KEY');

  let payload: JWTPayload;
  verifications++;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [...ACCESS_TOKEN_ALGORITHMS],
      typ: 'at+jwt',
      issuer: ctx.config.issuer,
      ...('audience' in check ? { audience: check.audience } : {}),
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: new Date(now),
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
    }));
  } catch (err) {
    throw mapJoseError(err);
  }
  const claims = readClaims(payload);
  // The issuer is this process (same clock): exp gets no skew, so no resource honours a token that
  // introspection already reports inactive. The skew serves nbf.
  assertNotExpired(claims, now);
  return { claims, payload: payload as unknown as AccessTokenClaims };
}

/** exp without skew; checked again on every use of a cached verification. */
export function assertNotExpired(claims: Pick<VerifiedAccessToken, 'expiresAt'>, now: number): void {
  if (claims.expiresAt * 1000 <= now) throw invalidToken('the access token has expired', 'ERR_TOKEN_EXPIRED');
}

function readClaims(payload: JWTPayload): VerifiedAccessToken {
  const { sub, jti, exp } = payload;
  const clientId = payload.client_id;
  const scope = payload.scope ?? '';
  const patient = payload.patient;
  const purposeOfUse = payload.purpose_of_use;
  // A confirmation a resource cannot honour (not a DPoP jkt) is refused rather than ignored:
  // ignoring it would accept a sender-constrained token as a bearer token.
  const cnf = payload.cnf;
  let jkt: string | undefined;
  if (cnf !== undefined) {
    const value = cnf !== null && typeof cnf === 'object' ? (cnf as { jkt?: unknown }).jkt : undefined;
    if (typeof value !== 'string' || !JKT.test(value)) throw invalidToken('the access token claims are not valid', 'ERR_TOKEN_CLAIMS');
    jkt = value;
  }
  const act = payload.act;
  const actor = act !== null && typeof act === 'object' ? (act as { sub?: unknown }).sub : undefined;
  if (act !== undefined && (typeof actor !== 'string' || !PRINTABLE.test(actor))) throw invalidToken('the access token claims are not valid', 'ERR_TOKEN_CLAIMS');
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
    ...(purposeOfUse !== undefined ? { purposeOfUse } : {}), ...(typeof actor === 'string' ? { actor } : {}),
  };
}

function mapJoseError(err: unknown): ResourceAccessError {
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
