// OAuth 2.0 Token Exchange (RFC 8693) for an agent acting for a person: an agent service (a
// registered confidential client allowed this grant type) presents a person's access token issued
// by this server and gets a narrower, shorter one for itself, which says who acts for whom:
// `sub` stays the person, `client_id` and `act.sub` (RFC 8693 §4.1) name the agent. Every ledger
// event of the new token names both (the gateway copies `act` into details.act).
//
// What is refused (RFC 8693 §2.2.2: invalid_request, invalid_grant, invalid_scope, invalid_target):
// - subject_token_type other than an access token, requested_token_type other than an access
//   token, an actor_token (the authenticated client is the actor), an `audience` parameter
//   (resource indicators only, RFC 8707);
// - a subject token that is not an active access token of this server: a bad signature, expired,
//   revoked, or of a revoked grant (read like introspection does);
// - a subject token that is not a person's (client_credentials), is sender-constrained (DPoP: the
//   presenter is not its holder), is an emergency (break-glass) token, or was itself exchanged;
// - a scope the subject token does not cover (never wider), or that the client or the resource
//   does not allow; a resource other than the subject token's audience (invalid_target).
// The new token: the subject token's grant (so revoking the person's authorization revokes it too),
// its patient context, no refresh token, and a lifetime of at most agents.access_token_ttl and never
// beyond the subject token's own expiry.
import { OAuthError } from '../../errors/oauth-error.js';
import { checkRequestedScopes, formatScope, parseScope } from '../checks/scope.js';
import { resolveResource } from '../checks/resource-indicator.js';
import { accessTokenStatus } from '../tokens/lookup.js';
import { issueAccessToken } from '../tokens/access-token.js';
import { verifyAccessToken } from '../resource-server/verify-access-token.js';
import { ResourceAccessError } from '../resource-server/errors.js';
import { scopeCovers } from '../../smart/scopes.js';
import type { GrantRequest, TokenResponse } from './types.js';

export const grantType = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** Scopes that belong to the person's own sign-in, not to an agent acting for them. */
const NOT_EXCHANGED = new Set(['openid', 'offline_access', 'online_access', 'profile']);

const invalidRequest = (description: string) => new OAuthError('invalid_request', description);
const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);

export async function handle(req: GrantRequest): Promise<TokenResponse & { issued_token_type: string }> {
  const { ctx, client, params } = req;
  if (params.subject_token === undefined) throw invalidRequest('subject_token is required');
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) throw invalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) throw invalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
  if (params.actor_token !== undefined || params.actor_token_type !== undefined) throw invalidRequest('actor_token is not supported: the authenticated client is the actor');
  if (params.audience !== undefined) throw invalidRequest('audience is not supported: name the resource with the resource parameter (RFC 8707)');

  const now = ctx.now();
  let subject;
  let subjectAudience: unknown;
  try {
    let payload;
    ({ claims: subject, payload } = await verifyAccessToken(ctx, params.subject_token, { acceptAnyAudience: true }, { now }));
    subjectAudience = payload.aud;
  } catch (err) {
    if (err instanceof ResourceAccessError && err.status < 500) throw invalidGrant('the subject token is not an active access token of this server');
    throw err;
  }
  if (!(await accessTokenStatus(ctx, subject)).active) throw invalidGrant('the subject token is not an active access token of this server');
  if (subject.grantId === null || subject.subject === subject.clientId) throw invalidGrant('the subject token must be a person\'s access token, not a client\'s');
  if (subject.cnf) throw invalidGrant('a sender-constrained (DPoP) subject token cannot be exchanged');
  if (subject.purposeOfUse !== undefined) throw invalidGrant('an emergency access token cannot be exchanged');
  if (subject.actor !== undefined) throw invalidGrant('a token that was itself exchanged cannot be exchanged again');
  // Never another resource than the person authorised (RFC 8707): the new audience is the subject
  // token's (the default), and one the acting client may ask for.
  const audiences = (Array.isArray(subjectAudience) ? subjectAudience : [subjectAudience]).filter((a): a is string => typeof a === 'string');
  const resource = resolveResource(client, params.resource ?? audiences[0]);
  if (!audiences.includes(resource)) throw new OAuthError('invalid_target', 'the resource must be the one the subject token was issued for');

  // Never wider than the subject token: each scope asked for must be covered by one it carries.
  const carried = subject.scopes.filter((s) => !NOT_EXCHANGED.has(s));
  const requested = params.scope !== undefined ? parseScope(params.scope).filter((s) => !NOT_EXCHANGED.has(s)) : carried;
  if (requested.length === 0) throw new OAuthError('invalid_scope', 'no scope of the subject token can be exchanged');
  for (const s of requested) {
    if (!carried.some((c) => scopeCovers(c, s))) throw new OAuthError('invalid_scope', `scope "${s.slice(0, 60)}" is not carried by the subject token`);
  }
  checkRequestedScopes(requested, parseScope(client.scope), ctx.resources.get(resource)?.scopes);
  const scope = formatScope(requested);
  const remaining = subject.expiresAt - Math.floor(now / 1000);
  const lifetime = Math.max(1, Math.min(remaining, ctx.config.agents.access_token_ttl, ctx.config.tokens.access_token_ttl));
  const at = await issueAccessToken(ctx, {
    clientId: client.clientId, subject: subject.subject, audience: resource, scope, grantId: subject.grantId,
    ...(subject.patient !== undefined ? { patient: subject.patient } : {}), dpopJkt: req.dpop?.jkt,
    lifetimeSeconds: lifetime, actor: client.clientId,
  });
  await ctx.audit.record({
    type: 'token.issued', actor: { userId: subject.subject, clientId: client.clientId }, outcome: 'success', action: 'token_exchange',
    resource, scopes: { requested: params.scope !== undefined ? requested : undefined, granted: requested }, jti: at.jti, grantId: subject.grantId,
    ...(subject.patient !== undefined ? { patient: `Patient/${subject.patient}` } : {}),
    requestId: req.requestId, sourceAddress: req.sourceAddress,
    details: { act: client.clientId, subject_client: subject.clientId, subject_jti: subject.jti },
  });
  return {
    access_token: at.token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: req.dpop ? 'DPoP' : 'Bearer', expires_in: at.expiresIn, scope,
    ...(subject.patient !== undefined ? { patient: subject.patient } : {}),
  };
}
