// Token endpoint (RFC 6749 §3.2, §5): authenticates the client, then runs the one grant handler
// for grant_type. No implicit and no password grant (OAuth 2.1 §10, RFC 9700 §2.4).
import type { FastifyInstance } from 'fastify';
import { OAuthError, unauthorizedClient } from '../../errors/oauth-error.js';
import { formParams, requestMeta } from '../../http/request-info.js';
import { enforceTokenEndpointRateLimit } from '../../http/request-rate-limits.js';
import { authenticateClient } from '../client-auth/index.js';
import { loadAgentPolicy } from '../clients.js';
import { presentedClientId } from '../client-auth/throttle.js';
import { requireParams } from '../checks/duplicate-params.js';
import * as authorizationCode from '../grants/authorization-code.js';
import * as refreshToken from '../grants/refresh-token.js';
import * as clientCredentials from '../grants/client-credentials.js';
import * as tokenExchange from '../grants/token-exchange.js';
import type { GrantRequest, TokenResponse } from '../grants/types.js';
import { clientSecurityPolicy } from '../dpop/client-policy.js';
import { DpopError, invalidDpopProof } from '../dpop/errors.js';
import { dpopProofAt, sendErrorNonce, sendFreshNonce } from '../dpop/server.js';
import type { AppContext } from '../../context/app-context.js';
import type { GrantType } from '../../storage/types.js';

const GRANTS: Record<GrantType, { handle(req: GrantRequest): Promise<TokenResponse> }> = {
  authorization_code: authorizationCode,
  refresh_token: refreshToken,
  client_credentials: clientCredentials,
  'urn:ietf:params:oauth:grant-type:token-exchange': tokenExchange,
};

export const SUPPORTED_GRANT_TYPES = Object.keys(GRANTS) as GrantType[];

export function registerTokenEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const endpoint = `${ctx.config.issuer}/token`;
  app.post('/token', async (req, reply) => {
    const meta = requestMeta(req);
    const params = formParams(req);
    await enforceTokenEndpointRateLimit(ctx, req, reply, presentedClientId(req.headers.authorization, params), 'token');
    try {
      requireParams(params, 'grant_type');
      const grantType = params.grant_type!;
      const grant = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType as GrantType] : undefined;
      if (!grant) throw new OAuthError('unsupported_grant_type', 'grant_type is not supported');
      const client = await authenticateClient(ctx, { authorization: req.headers.authorization, params, endpoint, ...meta });
      if (!client.grantTypes.includes(grantType as GrantType)) throw unauthorizedClient(`this client may not use ${grantType}`);
      // An AI agent that needs an administrator's approval it does not have gets no token either.
      const refusal = (await loadAgentPolicy(ctx, client))?.refusal;
      if (refusal) throw unauthorizedClient(refusal.description);
      // RFC 9449 §5: a valid DPoP proof binds the tokens; §5.2: some clients must send one.
      const proof = await dpopProofAt(ctx, req, endpoint);
      if (!proof && (await clientSecurityPolicy(ctx, client)).dpopBoundAccessTokens) throw invalidDpopProof('a DPoP proof is required for this client');
      const response = await grant.handle({ ctx, client, params, ...meta, ...(proof ? { dpop: { jkt: proof.jkt } } : {}) });
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      if (proof) sendFreshNonce(ctx, reply);
      return response;
    } catch (err) {
      sendErrorNonce(reply, err);
      // A nonce request is a normal round trip of the protocol (RFC 9449 §8), not a failure.
      if (err instanceof DpopError && err.dpopError === 'use_dpop_nonce') throw err;
      if (err instanceof OAuthError && err.expose && err.error !== 'temporarily_unavailable') {
        await ctx.audit.record({
          // The client as presented (Basic user name, client_id or assertion issuer), authenticated or not.
          type: 'token.failed', actor: { clientId: presentedClientId(req.headers.authorization, params) }, outcome: 'denied', reason: err.error,
          action: params.grant_type?.slice(0, 40), requestId: meta.requestId, sourceAddress: meta.sourceAddress,
        });
      }
      throw err;
    }
  });
}
