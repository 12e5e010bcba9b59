// Refresh tokens: opaque 256-bit values, stored only as a keyed digest (HMAC-SHA-256) with the
// grant data sealed (AES-256-GCM) under the master key. Rotated on every use (OAuth 2.1 §4.3.1,
// RFC 9700 §4.14.2); idle and absolute lifetimes (RFC 9700 §4.14.2 "SHOULD expire").
import { keyedDigest } from '../../crypto/digest.js';
import { openJson, sealJson } from '../../crypto/envelope.js';
import { randomToken } from '../../crypto/random.js';
import type { AppContext } from '../../context/app-context.js';
import type { RefreshTokenRecord } from '../../storage/types.js';

export interface RefreshGrantData {
  userId: string;
  scope: string;
  resource: string;
  consentId: string | null;
  authTime: number;
  /** The authentication of the grant (OIDC Core §2 amr/acr), carried for ID tokens on refresh. */
  amr?: string[];
  acr?: string;
}

export function refreshTokenDigest(ctx: AppContext, token: string): string {
  return keyedDigest(ctx.masterKey.digestKey('refresh-token'), token);
}

export function openRefreshGrant(ctx: AppContext, record: RefreshTokenRecord): RefreshGrantData {
  return openJson<RefreshGrantData>(ctx.masterKey, record.sealed, record.digest);
}

/** Issues a refresh token in a grant. `absoluteExpiresAt` is kept across rotations. */
export async function issueRefreshToken(
  ctx: AppContext,
  input: { grantId: string; clientId: string; data: RefreshGrantData; absoluteExpiresAt?: number },
): Promise<string> {
  const now = ctx.now();
  const token = randomToken(32);
  const digest = refreshTokenDigest(ctx, token);
  const absoluteExpiresAt = input.absoluteExpiresAt ?? now + ctx.config.tokens.refresh_token_absolute_ttl * 1000;
  await ctx.storage.refreshTokens.save({
    digest,
    grantId: input.grantId,
    clientId: input.clientId,
    sealed: sealJson(ctx.masterKey, input.data, digest),
    createdAt: now,
    expiresAt: Math.min(now + ctx.config.tokens.refresh_token_idle_ttl * 1000, absoluteExpiresAt),
    absoluteExpiresAt,
    consumedAt: null,
    revokedAt: null,
  });
  return token;
}
