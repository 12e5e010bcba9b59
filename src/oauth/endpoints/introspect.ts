// Token introspection (RFC 7662). Client authentication is required (§2.1), and a client learns
// nothing about another client's tokens (§4; HIPAA 164.502(b) minimum necessary): for them the
// answer is {"active": false}.
import type { FastifyInstance } from 'fastify';
import { invalidClient } from '../../errors/oauth-error.js';
import { formParams, requestMeta } from '../../http/request-info.js';
import { enforceTokenEndpointRateLimit } from '../../http/request-rate-limits.js';
import { authenticateClient } from '../client-auth/index.js';
import { presentedClientId } from '../client-auth/throttle.js';
import { requireParams } from '../checks/duplicate-params.js';
import { findToken } from '../tokens/lookup.js';
import type { AppContext } from '../../context/app-context.js';
import type { LaunchContext } from '../../storage/types.js';
import { launchResponseFields } from '../../smart/launch-context.js';
import { fhirUserUrl } from '../grants/issue.js';

/** The grant's launch context (as in the token response) and, with the fhirUser scope, the user's FHIR resource URL. */
async function smartIntrospectionFields(
  ctx: AppContext, launch: LaunchContext | null | undefined, userId: string, resource: string, scopes: readonly string[],
): Promise<Record<string, unknown>> {
  const fields = launchResponseFields(launch);
  if (scopes.includes('fhirUser') && userId) {
    const fhirUser = fhirUserUrl(await ctx.storage.users.getById(userId), resource);
    if (fhirUser !== undefined) fields.fhirUser = fhirUser;
  }
  return fields;
}

export function registerIntrospectionEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const endpoint = `${ctx.config.issuer}/introspect`;
  app.post('/introspect', async (req, reply) => {
    const params = formParams(req);
    await enforceTokenEndpointRateLimit(ctx, req, reply, presentedClientId(req.headers.authorization, params), 'introspect');
    const client = await authenticateClient(ctx, { authorization: req.headers.authorization, params, endpoint, ...requestMeta(req) });
    // RFC 7662 §2.1: the endpoint requires authentication; public clients cannot introspect.
    if (client.tokenEndpointAuthMethod === 'none') throw invalidClient('introspection requires client authentication');
    requireParams(params, 'token');
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    const found = await findToken(ctx, params.token!, params.token_type_hint);
    if (found.kind === 'unknown' || !found.active || found.record.clientId !== client.clientId) return { active: false };
    // SMART App Launch 2.2 (token-introspection.md): the launch context and fhirUser of the grant.
    const smart = await smartIntrospectionFields(ctx, found.grant?.launchContext, found.kind === 'access_token' ? found.claims.sub : found.data.userId,
      found.kind === 'access_token' ? found.claims.aud : found.data.resource, (found.kind === 'access_token' ? found.claims.scope : found.data.scope).split(' '));
    if (found.kind === 'access_token') {
      const c = found.claims;
      // RFC 9449 §6.2: a DPoP-bound token is introspected with its cnf.jkt and token_type DPoP.
      const jkt = typeof c.cnf?.jkt === 'string' ? c.cnf.jkt : undefined;
      return {
        active: true, token_type: jkt ? 'DPoP' : 'Bearer', scope: c.scope, client_id: c.client_id, sub: c.sub, aud: c.aud,
        iss: c.iss, exp: c.exp, iat: c.iat, jti: c.jti, ...smart, ...(c.patient !== undefined ? { patient: c.patient } : {}),
        ...(c.purpose_of_use !== undefined ? { purpose_of_use: c.purpose_of_use } : {}),
        // RFC 8693 §4.1: the acting party of an exchanged token.
        ...(c.act !== undefined ? { act: c.act } : {}),
        ...(jkt ? { cnf: { jkt } } : {}),
      };
    }
    const refreshJkt = (found.data as { dpopJkt?: string }).dpopJkt;
    return {
      active: true, token_type: 'refresh_token', scope: found.data.scope, client_id: found.record.clientId, sub: found.data.userId,
      aud: found.data.resource, iss: ctx.config.issuer, exp: Math.floor(found.record.expiresAt / 1000),
      iat: Math.floor(found.record.createdAt / 1000), ...smart, ...(refreshJkt ? { cnf: { jkt: refreshJkt } } : {}),
    };
  });
}
