// Token revocation (RFC 7009), for refresh tokens and JWT access tokens alike. Revoking a refresh
// token revokes its whole grant, so the access tokens issued under it read inactive too (§2.1
// SHOULD). Unknown tokens, and tokens of other clients, get a plain 200 (§2.2) and are left alone.
import type { FastifyInstance } from 'fastify';
import { formParams, requestMeta } from '../../http/request-info.js';
import { enforceTokenEndpointRateLimit } from '../../http/request-rate-limits.js';
import { authenticateClient } from '../client-auth/index.js';
import { presentedClientId } from '../client-auth/throttle.js';
import { requireParams } from '../checks/duplicate-params.js';
import { findToken } from '../tokens/lookup.js';
import { isInternalError } from '../../errors/internal-error.js';
import type { AppContext } from '../../context/app-context.js';

export function registerRevocationEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const endpoint = `${ctx.config.issuer}/revoke`;
  app.post('/revoke', async (req, reply) => {
    const params = formParams(req);
    await enforceTokenEndpointRateLimit(ctx, req, reply, presentedClientId(req.headers.authorization, params), 'revoke');
    const meta = requestMeta(req);
    const client = await authenticateClient(ctx, { authorization: req.headers.authorization, params, endpoint, ...meta });
    requireParams(params, 'token');
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    const found = await findToken(ctx, params.token!, params.token_type_hint);
    if (found.kind === 'unknown' || found.record.clientId !== client.clientId) return reply.send();
    const now = ctx.now();
    if (found.kind === 'refresh_token') {
      await ctx.storage.grants.revoke(found.record.grantId, now, 'revoked');
      await ctx.audit.record({
        type: 'token.revoked', actor: { clientId: client.clientId, userId: found.data.userId }, outcome: 'success', action: 'refresh_token',
        grantId: found.record.grantId, requestId: meta.requestId, sourceAddress: meta.sourceAddress,
      });
    } else {
      // Recorded until the token would have expired anyway (purged after that).
      if (!(await ctx.storage.accessTokens.revoke(found.record.jti, now))) {
        await ctx.storage.accessTokens.save({ ...found.record, revokedAt: now }).catch((err: unknown) => {
          if (!isInternalError(err, 'ERR_CONFLICT')) throw err; // revoked concurrently: done
        });
      }
      await ctx.audit.record({
        type: 'token.revoked', actor: { clientId: client.clientId, userId: found.claims.sub }, outcome: 'success', action: 'access_token',
        grantId: found.record.grantId || undefined, jti: found.record.jti, requestId: meta.requestId, sourceAddress: meta.sourceAddress,
      });
    }
    return reply.send();
  });
}
