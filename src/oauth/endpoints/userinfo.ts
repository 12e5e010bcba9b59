// OpenID Connect UserInfo (Core §5.3), with minimal claims: the opaque subject only. A protected
// resource of this server like any other: the one authenticator (src/oauth/resource-server/)
// takes the access token from `Authorization: Bearer` or, for a DPoP-bound token,
// `Authorization: DPoP` with a proof for this URL (RFC 9449 §7): a bound token is never accepted
// as a bearer token. The endpoint belongs to the authorization server, so a token of any audience
// it issued is honoured (AudienceCheck.acceptAnyAudience); the openid scope is required.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { ResourceAuthenticator } from '../resource-server/authenticator.js';
import { sendError } from '../../http/error-reply.js';
import { ResourceAccessError } from '../resource-server/errors.js';

export function registerUserinfoEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const endpoint = `${ctx.config.issuer}/userinfo`;
  const authenticator = new ResourceAuthenticator(ctx, { audience: { acceptAnyAudience: true } });

  // RFC 6750 §3: the error in WWW-Authenticate, and in the body as JSON (the one serializer).
  const refuse = (reply: FastifyReply, err: ResourceAccessError) => sendError(reply, err, { format: 'json' });

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let token;
    try {
      ({ token } = await authenticator.authenticate({
        method: req.method, headers: req.headers, ...(req.raw.headersDistinct ? { headersDistinct: req.raw.headersDistinct } : {}), publicUrl: () => endpoint,
      }));
    } catch (err) {
      // A status that cannot be read (503) goes to the application's error handler, with Retry-After.
      if (err instanceof ResourceAccessError && err.status < 500) return refuse(reply, err);
      throw err;
    }
    if (!token.scopes.includes('openid')) {
      return refuse(reply, new ResourceAccessError('insufficient_scope', 'the openid scope is required', 'ERR_INSUFFICIENT_SCOPE', { requiredScope: 'openid' }));
    }
    reply.header('cache-control', 'no-store');
    return { sub: token.subject };
  };
  app.get('/userinfo', handler);
  app.post('/userinfo', handler);
}
