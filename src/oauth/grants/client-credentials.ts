// client_credentials grant (RFC 6749 §4.4): no user, no refresh token (§4.4.3), `sub` is the
// client id (RFC 9068 §2.2), audience from the resource indicator (RFC 8707).
import { checkRequestedScopes, formatScope, parseScope } from '../checks/scope.js';
import { resolveResource } from '../checks/resource-indicator.js';
import { issueAccessToken } from '../tokens/access-token.js';
import type { GrantRequest, TokenResponse } from './types.js';

export const grantType = 'client_credentials';

/** SMART Backend Services: access tokens live at most five minutes. */
export const BACKEND_TOKEN_MAX_SECONDS = 300;

/** Scopes that make no sense without a user; dropped rather than refused. */
const USER_ONLY = new Set(['openid', 'offline_access', 'fhirUser', 'profile']);

export async function handle(req: GrantRequest): Promise<TokenResponse> {
  const { ctx, client, params } = req;
  const resource = resolveResource(client, params.resource);
  const clientScopes = parseScope(client.scope).filter((s) => !USER_ONLY.has(s));
  const requested = params.scope !== undefined ? parseScope(params.scope).filter((s) => !USER_ONLY.has(s)) : clientScopes;
  checkRequestedScopes(requested, clientScopes, ctx.resources.get(resource)?.scopes);
  const scope = formatScope(requested);
  const at = await issueAccessToken(ctx, { clientId: client.clientId, subject: client.clientId, audience: resource, scope, grantId: null, dpopJkt: req.dpop?.jkt, maxLifetimeSeconds: BACKEND_TOKEN_MAX_SECONDS });
  await ctx.audit.record({
    type: 'token.issued', actor: { clientId: client.clientId }, outcome: 'success', action: 'client_credentials',
    resource, scopes: { requested: params.scope !== undefined ? requested : undefined, granted: requested }, jti: at.jti,
    requestId: req.requestId, sourceAddress: req.sourceAddress,
  });
  return { access_token: at.token, token_type: req.dpop ? 'DPoP' : 'Bearer', expires_in: at.expiresIn, scope };
}
