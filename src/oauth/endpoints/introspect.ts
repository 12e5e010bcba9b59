// Token introspection (RFC 7662). Client authentication is required (§2.1), and a client learns
// nothing about another client's tokens (§4; HIPAA 164.502(b) minimum necessary): for them the
// answer is {"active": false}.
import type { FastifyInstance } from 'fastify';
import { invalidClient } from '../../errors/oauth-error.js';
import { formParams } from '../../http/request-info.js';
import { authenticateClient } from '../client-auth/index.js';
import { requireParams } from '../checks/duplicate-params.js';
import { findToken } from '../tokens/lookup.js';
import type { AppContext } from '../../server/context.js';

export function registerIntrospectionEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const endpoint = `${ctx.config.issuer}/introspect`;
  app.post('/introspect', async (req, reply) => {
    const params = formParams(req);
    const client = await authenticateClient(ctx, { authorization: req.headers.authorization, params, endpoint });
    // RFC 7662 §2.1: the endpoint requires authentication; public clients cannot introspect.
    if (client.tokenEndpointAuthMethod === 'none') throw invalidClient('introspection requires client authentication');
    requireParams(params, 'token');
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    const found = await findToken(ctx, params.token!, params.token_type_hint);
    if (found.kind === 'unknown' || !found.active || found.record.clientId !== client.clientId) return { active: false };
    if (found.kind === 'access_token') {
      const c = found.claims;
      // RFC 9449 §6.2: a DPoP-bound token is introspected with its cnf.jkt and token_type DPoP.
      const jkt = typeof c.cnf?.jkt === 'string' ? c.cnf.jkt : undefined;
      return {
        active: true, token_type: jkt ? 'DPoP' : 'Bearer', scope: c.scope, client_id: c.client_id, sub: c.sub, aud: c.aud,
        iss: c.iss, exp: c.exp, iat: c.iat, jti: c.jti, ...(c.patient !== undefined ? { patient: c.patient } : {}),
        ...(jkt ? { cnf: { jkt } } : {}),
      };
    }
    const refreshJkt = (found.data as { dpopJkt?: string }).dpopJkt;
    return {
      active: true, token_type: 'refresh_token', scope: found.data.scope, client_id: found.record.clientId, sub: found.data.userId,
      aud: found.data.resource, iss: ctx.config.issuer, exp: Math.floor(found.record.expiresAt / 1000),
      iat: Math.floor(found.record.createdAt / 1000), ...(refreshJkt ? { cnf: { jkt: refreshJkt } } : {}),
    };
  });
}
