// JWT access tokens per RFC 9068: header typ "at+jwt", ES256; claims from an allow-list only.
// No PHI in tokens: `sub` is an opaque identifier, never an e-mail, name or medical record number.
import { randomToken } from '../../crypto/random.js';
import { InternalError } from '../../errors/internal-error.js';
import { FHIR_ID } from '../../util/fhir-id.js';
import { signJwt } from './jwt.js';
import type { AppContext } from '../../context/app-context.js';

/**
 * RFC 9068 §2.2 claims, plus `patient`: the FHIR id (identifier only, never demographics) of the
 * patient in context for patient/ scopes (SMART App Launch 2.2 launch context).
 */
export const ACCESS_TOKEN_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope', 'patient', 'purpose_of_use', 'act'] as const;
/** RFC 7800 confirmation: `cnf.jkt`, the DPoP key a token is bound to (RFC 9449 §6.1). A key thumbprint, never PHI. */
export const CONFIRMATION_CLAIMS = ['cnf'] as const;
export type AccessTokenClaimName = (typeof ACCESS_TOKEN_CLAIMS)[number];
export type AccessTokenClaims = { [K in Exclude<AccessTokenClaimName, 'patient' | 'purpose_of_use' | 'act'>]: K extends 'exp' | 'iat' ? number : string } & {
  patient?: string;
  /** Break-glass: HL7 v3 PurposeOfUse code (ETREAT), a code, never free text. */
  purpose_of_use?: string;
  /** RFC 8693 §4.1: the acting party of an exchanged token (src/oauth/grants/token-exchange.ts), a client id. */
  act?: { sub: string };
  cnf?: { jkt: string };
};

/** Refuses any claim outside the allow-list, so no PHI-bearing claim can be added by mistake. */
export function assertAllowedClaims(claims: Record<string, unknown>): void {
  const allowed = new Set<string>([...ACCESS_TOKEN_CLAIMS, ...CONFIRMATION_CLAIMS]);
  for (const name of Object.keys(claims)) {
    if (!allowed.has(name)) throw new InternalError('ERR_CLAIM_NOT_ALLOWED', `access tokens may not carry "${name}"`);
  }
}

/**
 * The jti carries the grant id (an opaque random identifier, not PHI) so that introspection can
 * tell a token of a revoked grant without a database write per issued token. Client-credentials
 * tokens belong to no grant: their jti is random only.
 */
export function makeJti(grantId: string | null): string {
  return grantId ? `${grantId}.${randomToken(16)}` : randomToken(16);
}

export function grantIdOfJti(jti: string): string | null {
  const dot = jti.indexOf('.');
  return dot > 0 ? jti.slice(0, dot) : null;
}

export interface IssueAccessTokenInput {
  clientId: string;
  /** The user's opaque id, or the client id for client_credentials (RFC 9068 §2.2). */
  subject: string;
  audience: string;
  scope: string;
  /** null for client_credentials. */
  grantId: string | null;
  /** FHIR id of the patient in context, if any. */
  patient?: string;
  /** RFC 9449 §6.1: the JWK thumbprint of the DPoP key the token is bound to. */
  dpopJkt?: string;
  /** A lower cap than tokens.access_token_ttl (SMART backend services: 300 s). */
  maxLifetimeSeconds?: number;
  /** A lifetime that replaces tokens.access_token_ttl (break-glass: breakglass.token_ttl_seconds, at most 3600). */
  lifetimeSeconds?: number;
  /** Break-glass purpose of use (an HL7 v3 code such as ETREAT). */
  purposeOfUse?: string;
  /** RFC 8693 §4.1 `act`: the client acting for the subject (token exchange). */
  actor?: string;
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  expiresIn: number;
  claims: AccessTokenClaims;
}

export async function issueAccessToken(ctx: AppContext, input: IssueAccessTokenInput): Promise<IssuedAccessToken> {
  const now = ctx.now();
  const iat = Math.floor(now / 1000);
  const expiresIn = input.lifetimeSeconds ?? Math.min(ctx.config.tokens.access_token_ttl, input.maxLifetimeSeconds ?? Infinity);
  const claims: AccessTokenClaims = {
    iss: ctx.config.issuer,
    sub: input.subject,
    aud: input.audience,
    exp: iat + expiresIn,
    iat,
    jti: makeJti(input.grantId),
    client_id: input.clientId,
    scope: input.scope,
  };
  if (input.patient !== undefined) {
    if (!FHIR_ID.test(input.patient)) throw new InternalError('ERR_CLAIM_NOT_ALLOWED', 'patient must be a FHIR id');
    claims.patient = input.patient;
  }
  if (input.purposeOfUse !== undefined) {
    if (!/^[A-Z]{2,12}$/.test(input.purposeOfUse)) throw new InternalError('ERR_CLAIM_NOT_ALLOWED', 'purpose_of_use must be an HL7 v3 code');
    claims.purpose_of_use = input.purposeOfUse;
  }
  if (input.actor !== undefined) claims.act = { sub: input.actor };
  if (input.dpopJkt !== undefined) claims.cnf = { jkt: input.dpopJkt };
  assertAllowedClaims(claims);
  const token = await signJwt(ctx, 'at+jwt', claims);
  return { token, jti: claims.jti, expiresIn, claims };
}
