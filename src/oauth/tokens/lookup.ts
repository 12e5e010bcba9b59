// Finds what a presented token is and whether it is active, for introspection (RFC 7662) and
// revocation (RFC 7009). JWT access tokens are checked like a resource server would (signature,
// issuer, expiry) and then against their jti record, so a revoked JWT reads inactive.
import { jwtVerify } from 'jose';
import type { AppContext } from '../../context/app-context.js';
import type { AccessTokenRecord, GrantRecord, RefreshTokenRecord } from '../../storage/types.js';
import { openRefreshGrant, refreshTokenDigest, type RefreshGrantData } from './refresh-token.js';
import { grantIdOfJti, type AccessTokenClaims } from './access-token.js';

export type FoundToken =
  | { kind: 'access_token'; record: AccessTokenRecord; claims: AccessTokenClaims; active: boolean; grant?: GrantRecord }
  | { kind: 'refresh_token'; record: RefreshTokenRecord; data: RefreshGrantData; active: boolean; grant?: GrantRecord }
  | { kind: 'unknown' };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

async function findAccessToken(ctx: AppContext, token: string): Promise<FoundToken> {
  let claims: AccessTokenClaims;
  // Outside the try: keys that cannot be read are an outage (503), not an unknown token. The key
  // set is imported once per set of published kids (src/crypto/published-key-set.ts).
  const keySet = await ctx.publishedKeys.at(ctx.now());
  try {
    const { payload } = await jwtVerify(token, keySet, {
      issuer: ctx.config.issuer, typ: 'at+jwt', algorithms: ['ES256'], currentDate: new Date(ctx.now()),
    });
    claims = payload as unknown as AccessTokenClaims;
  } catch {
    return { kind: 'unknown' };
  }
  if (typeof claims.jti !== 'string' || typeof claims.client_id !== 'string') return { kind: 'unknown' };
  // Only revoked access tokens have a record (RFC 7009); the grant comes from the jti.
  const revoked = await ctx.storage.accessTokens.get(claims.jti);
  const grantId = grantIdOfJti(claims.jti);
  let active = revoked?.revokedAt == null && claims.exp * 1000 > ctx.now();
  let grant: GrantRecord | undefined;
  if (active && grantId) {
    grant = await ctx.storage.grants.get(grantId);
    active = grant !== undefined && grant.revokedAt === null;
  }
  const record: AccessTokenRecord = { jti: claims.jti, grantId: grantId ?? '', clientId: claims.client_id, expiresAt: claims.exp * 1000, revokedAt: revoked?.revokedAt ?? null };
  return { kind: 'access_token', record, claims, active, ...(grant ? { grant } : {}) };
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
