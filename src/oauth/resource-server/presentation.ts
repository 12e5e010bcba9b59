// RFC 6750 §2: how an access token may be presented to a protected resource of this server.
//
// §2.1 (Authorization request header field) is the only method accepted. §2.3 (URI query
// parameter) is refused outright: RFC 9700 §4.3.2 "Clients MUST NOT pass access tokens in a URI
// query parameter" and FAPI 2.0 RS "shall not accept access tokens in the query parameters".
// §2.2 (form body) is refused too: at the gateway it would reach the upstream in the body.
// The DPoP scheme (RFC 9449 §7.1) carries a token the same way; whether the scheme matches the
// token's binding is decided after verification (src/oauth/dpop/resource.ts).
import type { IncomingHttpHeaders } from 'node:http';
import { invalidToken, ResourceAccessError } from './errors.js';

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const CREDENTIALS = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i;

export type TokenScheme = 'Bearer' | 'DPoP';
export type Presented = { kind: 'token'; token: string; scheme: TokenScheme } | { kind: 'none'; reason: 'ERR_TOKEN_MISSING' | 'ERR_TOKEN_SCHEME' };

/**
 * The access token of a request. Throws ResourceAccessError for a token in the query or the form
 * body (even next to a valid header) and for a Bearer or DPoP credential that is not a b64token.
 */
export function presentedToken(headers: IncomingHttpHeaders, query?: URLSearchParams, form?: URLSearchParams): Presented {
  if (query?.has('access_token') || form?.has('access_token')) {
    throw new ResourceAccessError('invalid_request', 'access tokens are accepted in the Authorization header only', 'ERR_TOKEN_IN_QUERY', { status: 401 });
  }
  const authorization = headers.authorization;
  if (authorization === undefined || authorization === '') return { kind: 'none', reason: 'ERR_TOKEN_MISSING' };
  const m = CREDENTIALS.exec(authorization);
  if (m) return { kind: 'token', token: m[2]!, scheme: m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer' };
  if (/^(Bearer|DPoP)(\s|$)/i.test(authorization)) throw invalidToken('the access token is not valid', 'ERR_TOKEN_MALFORMED');
  // Another scheme (Basic, …) carries no access token: answered like a missing one (§3.1).
  return { kind: 'none', reason: 'ERR_TOKEN_SCHEME' };
}
