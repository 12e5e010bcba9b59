// The bearer or DPoP token of a gateway request, through the one protected-resource authenticator
// (src/oauth/resource-server/authenticator.ts), with the route's public URL as the DPoP htu.
import type { FastifyRequest } from 'fastify';
import type { VerifiedAccessToken } from '../oauth/resource-server/verify-access-token.js';
import { type Exchange, type RouteEnv, type Target, publicRequestUrl } from './exchange.js';

export async function authenticate(env: RouteEnv, ex: Exchange, req: FastifyRequest, target: Target, form: URLSearchParams | undefined): Promise<VerifiedAccessToken> {
  const { token } = await env.authenticator.authenticate({
    method: req.method, headers: req.headers, ...(req.raw.headersDistinct ? { headersDistinct: req.raw.headersDistinct } : {}),
    publicUrl: () => publicRequestUrl(env, target), query: target.query, ...(form ? { form } : {}),
  });
  ex.token = token;
  return token;
}
