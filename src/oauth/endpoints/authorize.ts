// Authorization endpoint (RFC 6749 §3.1, §4.1.1). Validates the request, then hands the browser to
// the interaction pages with a 303 (RFC 9700 §4.12: never 307). No CORS here (RFC 9700 §2.6).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError, invalidRequest } from '../../errors/oauth-error.js';
import { formParams, queryParams } from '../../http/request-info.js';
import { errorPage } from '../../http/html.js';
import { startInteraction } from '../interaction-state.js';
import {
  RedirectableError, UntrustedRedirectError, attachLaunchContext, checkAuthorizationParams, checkClientAndRedirect, clientRedirect, type AuthorizationRequest,
} from '../authorization-request.js';
import { clientSecurityPolicy } from '../dpop/client-policy.js';
import { bindRequestToDpopKey, redeemPushedRequest } from './par.js';
import type { Params } from '../checks/duplicate-params.js';
import type { AppContext } from '../../context/app-context.js';

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
      let request: AuthorizationRequest;
      if (params.request_uri !== undefined) {
        // RFC 9126 §4: the pushed request stands for the whole request; other parameters are ignored.
        ({ request } = await redeemPushedRequest(ctx, params));
      } else {
        const { client, redirectUri } = await checkClientAndRedirect(ctx, params);
        // RFC 9126 §6: a client that must use PAR gets an error, sent to its verified redirect URI.
        if ((await clientSecurityPolicy(ctx, client)).requirePushedAuthorizationRequests) {
          throw new RedirectableError(invalidRequest('pushed authorization request required'), redirectUri, params.state ?? null);
        }
        request = await checkAuthorizationParams(ctx, client, redirectUri, params);
        try {
          await bindRequestToDpopKey(ctx, request);
          request = await attachLaunchContext(ctx, request, params);
        } catch (err) {
          if (err instanceof OAuthError) throw new RedirectableError(err, redirectUri, request.state);
          throw err;
        }
      }
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
