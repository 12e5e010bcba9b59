// RFC 6750: how a bearer token may be presented to the gateway, and the WWW-Authenticate
// challenges it answers with.
//
// §2.1 (Authorization request header field) is the only method accepted. §2.3 (URI query
// parameter) is refused outright: RFC 9700 §4.3.2 "Clients MUST NOT pass access tokens in a URI
// query parameter" and FAPI 2.0 RS "shall not accept access tokens in the query parameters".
// §2.2 (form body) is refused too: it would reach the upstream in the body.
// The DPoP scheme (RFC 9449 §7.1) carries a token the same way; whether the scheme matches the
// token's binding is decided after verification (src/oauth/dpop/resource.ts).
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayDenial } from './errors.js';

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i;

export type TokenScheme = 'Bearer' | 'DPoP';
export type Presented = { kind: 'token'; token: string; scheme: TokenScheme } | { kind: 'none'; reason: 'ERR_TOKEN_MISSING' | 'ERR_TOKEN_SCHEME' };

/** The bearer token of a request; throws for a token anywhere but the Authorization header. */
export function presentedToken(headers: IncomingHttpHeaders, query: URLSearchParams, form?: URLSearchParams): Presented {
  if (query.has('access_token') || form?.has('access_token')) {
    throw new GatewayDenial('invalid_request', 'access tokens are accepted in the Authorization header only', 'ERR_TOKEN_IN_QUERY', { status: 401 });
  }
  const authorization = headers.authorization;
  if (authorization === undefined || authorization === '') return { kind: 'none', reason: 'ERR_TOKEN_MISSING' };
  const m = BEARER.exec(authorization);
  if (m) return { kind: 'token', token: m[2]!, scheme: m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer' };
  if (/^(Bearer|DPoP)(\s|$)/i.test(authorization)) throw new GatewayDenial('invalid_token', 'the access token is not valid', 'ERR_TOKEN_MALFORMED');
  // Another scheme (Basic, …) carries no bearer token: answered like a missing one (§3.1).
  return { kind: 'none', reason: 'ERR_TOKEN_SCHEME' };
}

const quote = (v: string) => `"${v.replace(/["\\]/g, '')}"`;

/**
 * The WWW-Authenticate challenge (RFC 6750 §3). "If the request lacks any authentication
 * information …, the resource server SHOULD NOT include an error code or other error
 * information" (§3.1): a missing token gets the realm only.
 */
export function bearerChallenge(realm: string, error?: { error: string; description?: string; scope?: string }): string {
  const parts = [`realm=${quote(realm)}`];
  if (error) {
    parts.push(`error=${quote(error.error)}`);
    if (error.description) parts.push(`error_description=${quote(error.description)}`);
    if (error.scope) parts.push(`scope=${quote(error.scope)}`);
  }
  return `Bearer ${parts.join(', ')}`;
}
