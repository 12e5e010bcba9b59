// OpenID Connect UserInfo (Core §5.3), with minimal claims: the opaque subject only. The access
// token comes as `Authorization: Bearer` or, for a DPoP-bound token, `Authorization: DPoP` with a
// proof for this URL (RFC 9449 §7): a bound token is never accepted as a bearer token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findToken } from '../tokens/lookup.js';
import type { AppContext } from '../../context/app-context.js';
import { DpopResourceError, verifyDpopForResource } from '../dpop/resource.js';
import { serverNoncePolicy } from '../dpop/server.js';

function deny(reply: FastifyReply, error: string, description: string) {
  // RFC 6750 §3: bearer errors in WWW-Authenticate.
  reply.code(401).header('www-authenticate', `Bearer error="${error}", error_description="${description}"`).header('cache-control', 'no-store');
  return { error, error_description: description };
}

const AUTHORIZATION = /^(Bearer|DPoP) +(\S+) *$/i;

export function registerUserinfoEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const endpoint = `${ctx.config.issuer}/userinfo`;
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const m = AUTHORIZATION.exec(req.headers.authorization ?? '');
    if (!m) return deny(reply, 'invalid_token', 'a bearer access token is required');
    const scheme = m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = m[2]!;
    const found = await findToken(ctx, token, 'access_token');
    if (found.kind !== 'access_token' || !found.active) return deny(reply, 'invalid_token', 'the access token is not active');
    try {
      const nonce = serverNoncePolicy(ctx);
      await verifyDpopForResource({
        method: req.method, url: endpoint, scheme, accessToken: token,
        dpop: req.raw.headersDistinct?.dpop ?? (req.headers.dpop !== undefined ? [String(req.headers.dpop)] : undefined),
      }, found.claims, { now: ctx.now(), replay: ctx.storage.replay, ...(nonce ? { nonce } : {}) });
    } catch (err) {
      if (!(err instanceof DpopResourceError)) throw err;
      reply.code(err.status).header('www-authenticate', err.challenge).header('cache-control', 'no-store');
      if (err.nonce !== undefined) reply.header('dpop-nonce', err.nonce);
      return { error: err.error, error_description: err.description };
    }
    if (!found.claims.scope.split(' ').includes('openid')) {
      reply.code(403).header('www-authenticate', 'Bearer error="insufficient_scope", scope="openid"');
      return { error: 'insufficient_scope', error_description: 'the openid scope is required' };
    }
    reply.header('cache-control', 'no-store');
    return { sub: found.claims.sub };
  };
  app.get('/userinfo', handler);
  app.post('/userinfo', handler);
}
