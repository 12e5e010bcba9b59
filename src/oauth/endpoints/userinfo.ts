// OpenID Connect UserInfo (Core §5.3), with minimal claims: the opaque subject only.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { findToken } from '../tokens/lookup.js';
import type { AppContext } from '../../server/context.js';

function deny(reply: FastifyReply, error: string, description: string) {
  // RFC 6750 §3: bearer errors in WWW-Authenticate.
  reply.code(401).header('www-authenticate', `Bearer error="${error}", error_description="${description}"`).header('cache-control', 'no-store');
  return { error, error_description: description };
}

export function registerUserinfoEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const handler = async (req: import('fastify').FastifyRequest, reply: FastifyReply) => {
    const auth = req.headers.authorization;
    if (!auth || !/^bearer /i.test(auth)) return deny(reply, 'invalid_token', 'a bearer access token is required');
    const found = await findToken(ctx, auth.slice(7).trim(), 'access_token');
    if (found.kind !== 'access_token' || !found.active) return deny(reply, 'invalid_token', 'the access token is not active');
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
