// Token issuance shared by the user grants: access token, optional refresh token and ID token.
import { issueAccessToken } from '../tokens/access-token.js';
import { issueIdToken } from '../tokens/id-token.js';
import { issueRefreshToken, type RefreshGrantData } from '../tokens/refresh-token.js';
import { formatScope } from '../checks/scope.js';
import type { AppContext } from '../../server/context.js';
import type { ClientRecord } from '../../storage/types.js';
import type { TokenResponse } from './types.js';

export interface UserTokenInput {
  client: ClientRecord;
  grantId: string;
  data: RefreshGrantData;
  /** Scopes for this access token (may be narrower than data.scope on refresh). */
  scopes: string[];
  /** Keep the family's absolute expiry on rotation. */
  absoluteExpiresAt?: number;
  nonce?: string | null;
  withIdToken: boolean;
}

export async function issueUserTokens(ctx: AppContext, input: UserTokenInput): Promise<{ response: TokenResponse; jti: string }> {
  const scope = formatScope(input.scopes);
  const at = await issueAccessToken(ctx, {
    clientId: input.client.clientId,
    subject: input.data.userId,
    audience: input.data.resource,
    scope,
    grantId: input.grantId,
  });
  const response: TokenResponse = { access_token: at.token, token_type: 'Bearer', expires_in: at.expiresIn, scope };
  const granted = input.data.scope.split(' ');
  // RFC 9700 §4.14.2: the AS decides per client whether refresh tokens are issued at all.
  if (granted.includes('offline_access') && input.client.grantTypes.includes('refresh_token')) {
    response.refresh_token = await issueRefreshToken(ctx, {
      grantId: input.grantId,
      clientId: input.client.clientId,
      data: input.data,
      absoluteExpiresAt: input.absoluteExpiresAt,
    });
  }
  if (input.withIdToken && input.scopes.includes('openid')) {
    response.id_token = await issueIdToken(ctx, {
      clientId: input.client.clientId,
      userId: input.data.userId,
      authTime: input.data.authTime,
      nonce: input.nonce ?? undefined,
      accessToken: at.token,
    });
  }
  return { response, jti: at.jti };
}
