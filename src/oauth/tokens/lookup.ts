// Finds what a presented token is and whether it is active, for introspection (RFC 7662) and
// revocation (RFC 7009). A JWT access token is verified like at a resource server, by the one
// RFC 9068 verifier (src/oauth/resource-server/verify-access-token.ts, any audience of this
// issuer), and then its revocation status is read by jti (accessTokenStatus), so a revoked JWT
// reads inactive.
import type { AppContext } from '../../context/app-context.js';
import type { AccessTokenRecord, GrantRecord, RefreshTokenRecord } from '../../storage/types.js';
import { ResourceAccessError } from '../resource-server/errors.js';
import { verifyAccessToken } from '../resource-server/verify-access-token.js';
import { openRefreshGrant, refreshTokenDigest, type RefreshGrantData } from './refresh-token.js';
import { grantIdOfJti, type AccessTokenClaims } from './access-token.js';

export type FoundToken =
  | { kind: 'access_token'; record: AccessTokenRecord; claims: AccessTokenClaims; active: boolean; grant?: GrantRecord }
  | { kind: 'refresh_token'; record: RefreshTokenRecord; data: RefreshGrantData; active: boolean; grant?: GrantRecord }
  | { kind: 'unknown' };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface AccessTokenStatus {
  active: boolean;
  record: AccessTokenRecord;
  /** The grant named by the jti, when the token was not already inactive. */
  grant?: GrantRecord;
}

/**
 * The revocation status of an access token whose JWT the caller has already verified: its jti
 * record (only revoked access tokens have one, RFC 7009), its expiry, and the grant its jti names
 * (an unknown grant reads like a revoked one). Verifies nothing about the JWT itself: pass only
 * claims that came out of verifyAccessToken.
 */
export async function accessTokenStatus(ctx: AppContext, claims: { jti: string; clientId: string; expiresAt: number }): Promise<AccessTokenStatus> {
  const revoked = await ctx.storage.accessTokens.get(claims.jti);
  const grantId = grantIdOfJti(claims.jti);
  let active = revoked?.revokedAt == null && claims.expiresAt * 1000 > ctx.now();
  let grant: GrantRecord | undefined;
  if (active && grantId) {
    grant = await ctx.storage.grants.get(grantId);
    active = grant !== undefined && grant.revokedAt === null;
    // A token exchanged by another client (RFC 8693) sits on the person's grant: it ends when its own client is disabled.
    if (active && grant!.clientId !== claims.clientId) active = (await ctx.storage.clients.get(claims.clientId))?.disabled !== true;
  } else if (active) {
    // A client_credentials token has no grant to revoke: it ends when its client is disabled.
    active = (await ctx.storage.clients.get(claims.clientId))?.disabled !== true;
  }
  const record: AccessTokenRecord = { jti: claims.jti, grantId: grantId ?? '', clientId: claims.clientId, expiresAt: claims.expiresAt * 1000, revokedAt: revoked?.revokedAt ?? null };
  return { active, record, ...(grant ? { grant } : {}) };
}

async function findAccessToken(ctx: AppContext, token: string): Promise<FoundToken> {
  let verified: Awaited<ReturnType<typeof verifyAccessToken>>;
  // Keys that cannot be read are an outage (503), not an unknown token: only a refusal of the
  // token itself reads as unknown.
  try {
    verified = await verifyAccessToken(ctx, token, { acceptAnyAudience: true }, { now: ctx.now() });
  } catch (err) {
    if (err instanceof ResourceAccessError) return { kind: 'unknown' };
    throw err;
  }
  const { active, record, grant } = await accessTokenStatus(ctx, verified.claims);
  return { kind: 'access_token', record, claims: verified.payload, active, ...(grant ? { grant } : {}) };
}

async function findRefreshToken(ctx: AppContext, token: string): Promise<FoundToken> {
  const record = await ctx.storage.refreshTokens.get(refreshTokenDigest(ctx, token));
  if (!record) return { kind: 'unknown' };
  const now = ctx.now();
  let active = record.consumedAt === null && record.revokedAt === null && record.expiresAt > now && record.absoluteExpiresAt > now;
  let grant: GrantRecord | undefined;
  if (active) {
    grant = await ctx.storage.grants.get(record.grantId);
    active = grant !== undefined && grant.revokedAt === null;
  }
  return { kind: 'refresh_token', record, data: openRefreshGrant(ctx, record), active, ...(grant ? { grant } : {}) };
}

/** RFC 7009 §2.1 / RFC 7662 §2.1: the hint only decides which kind is tried first. */
export async function findToken(ctx: AppContext, token: string, hint?: string): Promise<FoundToken> {
  const looksJwt = JWT_SHAPE.test(token);
  const order = hint === 'refresh_token' || !looksJwt ? [findRefreshToken, findAccessToken] : [findAccessToken, findRefreshToken];
  for (const find of order) {
    if (find === findAccessToken && !looksJwt) continue;
    const found = await find(ctx, token);
    if (found.kind !== 'unknown') return found;
  }
  return { kind: 'unknown' };
}
