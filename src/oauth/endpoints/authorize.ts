// Authorization endpoint (RFC 6749 §3.1, §4.1.1). Validates the request, then hands the browser to
// the interaction pages with a 303 (RFC 9700 §4.12: never 307). No CORS here (RFC 9700 §2.6).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../../errors/oauth-error.js';
import { formParams, queryParams } from '../../http/request-info.js';
import { errorPage } from '../../interaction/pages.js';
import { startInteraction } from '../../interaction/interaction-state.js';
import {
  RedirectableError, UntrustedRedirectError, checkAuthorizationParams, checkClientAndRedirect, clientRedirect,
} from '../authorization-request.js';
import type { Params } from '../checks/duplicate-params.js';
import type { AppContext } from '../../server/context.js';

export function registerAuthorizationEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let params: Params;
    try {
      params = req.method === 'POST' ? formParams(req) : queryParams(req);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      return reply.code(400).type('text/html; charset=utf-8').send(errorPage('Invalid request', err.description));
    }
    try {
      const { client, redirectUri } = await checkClientAndRedirect(ctx, params);
      const request = checkAuthorizationParams(ctx, client, redirectUri, params);
      const id = await startInteraction(ctx, req, reply, request);
      return reply.code(303).redirect(`/interaction/${id}`, 303);
    } catch (err) {
      if (err instanceof UntrustedRedirectError) {
        return reply.code(400).type('text/html; charset=utf-8').send(errorPage('Invalid request', err.description));
      }
      if (err instanceof RedirectableError) {
        await ctx.audit.record({
          type: 'authz.denied', actor: { clientId: params.client_id }, outcome: 'denied', reason: err.oauth.error,
          requestId: String(req.id), sourceAddress: req.ip,
        });
        return reply.redirect(clientRedirect(ctx, err.redirectUri, {
          error: err.oauth.error, error_description: err.oauth.description, state: err.state,
        }), 303);
      }
      throw err;
    }
  };
  app.get('/authorize', handler);
  app.post('/authorize', handler);
}
