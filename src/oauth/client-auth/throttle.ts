// Throttling of failed client authentication at /token, /introspect, /revoke, /par and
// /smart/launch. RFC 6749 §10.10: "The authorization server MUST prevent attackers from guessing
// … client credentials"; 45 CFR 164.308(a)(5)(ii)(C) log-in monitoring; NIST SP 800-63B §5.2.2
// rate limiting. Failures are invalid_client answers, counted in the ThrottleStore over the sliding
// window login.failure_window, under the presented client id (Basic user name, client_id, or the
// assertion's iss), known or not: unknown ids are counted the same way.
//
// - Per client id and source address: after login.max_client_auth_failures failures of one client
//   id from one address, that pair is refused until the window has moved on. Its secret or
//   assertion is not checked, and the answer is the same 401 invalid_client with WWW-Authenticate
//   as a wrong secret (RFC 6749 §5.2), so it tells a guesser nothing new. Audited as login.locked,
//   reason too_many_client_auth_failures, with the address, once per pair and window.
// - Per client id, from every address together: reaching login.client_auth_alert_threshold audits
//   login.locked, reason too_many_client_auth_failures_all_sources (details.locked false), once per
//   client id and window, so that an operator sees guessing spread over many addresses. Nothing is
//   locked.
//
// Deliberately no lockout of a client id as such. Client ids are public, so a lock that anyone can
// trigger refuses the holder of the right secret too: a denial-of-service lever against every
// confidential client. It would buy nothing against guessing: generated secrets hold 256 random
// bits (src/crypto/client-secret.ts), configured ones at least 32 characters (src/server/start.ts),
// and a private_key_jwt assertion needs the client's private key, so online guessing from any
// number of addresses cannot succeed. Nor is there a failure that only the owner can cause and
// that could safely count toward such a lock: an assertion with a valid signature that is
// replayed, expired or too long-lived can be sent again by anyone who saw it once.
//
// Not covered: requests whose credentials cannot be read have no client id and are left to the
// authentication step (and to the per-address request rate limit, src/http/request-rate-limits.ts);
// a guesser who shares the owner's address (one NAT, or a reverse proxy missing from
// listen.trusted_proxies, src/http/request-info.ts) can still lock the owner out from that address.
import { OAuthError, invalidClient } from '../../errors/oauth-error.js';
import type { AppContext } from '../../context/app-context.js';
import type { Params } from '../checks/duplicate-params.js';
import { CLIENT_AUTH_CHALLENGE, ClientAuthError } from './client-auth-error.js';
import { presentedCredentials } from './presented.js';
import { assertionIssuer } from './private-key-jwt.js';

/** Longer values cannot be registered client ids; they are cut so a key stays small. */
const MAX_CLIENT_ID_CHARS = 128;
/** Longer than any IPv6 text form; only a trusted proxy's X-Forwarded-For could send more. */
const MAX_ADDRESS_CHARS = 64;

// The client id is URI-encoded, so a ':' in it cannot make two pairs share a key.
const pairKey = (clientId: string, address: string) => `client-auth:pair:${encodeURIComponent(clientId)}:${address.slice(0, MAX_ADDRESS_CHARS)}`;
const clientKey = (clientId: string) => `client-auth:all:${clientId}`;

/** The client id a request presents for authentication, or undefined when none can be read. Pure. */
export function presentedClientId(authorization: string | undefined, params: Params): string | undefined {
  try {
    const presented = presentedCredentials(authorization, params);
    const id = presented.method === 'private_key_jwt' ? presented.clientId ?? assertionIssuer(presented.assertion) : presented.clientId;
    return typeof id === 'string' && id !== '' ? id.slice(0, MAX_CLIENT_ID_CHARS) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether authentication attempts for this client id from this address are refused right now. */
export async function clientAuthLocked(ctx: AppContext, clientId: string, sourceAddress: string): Promise<boolean> {
  const { max_client_auth_failures: max, failure_window: window } = ctx.config.login;
  return (await ctx.storage.throttle.count(pairKey(clientId, sourceAddress), ctx.now(), window * 1000)) >= max;
}

/**
 * Counts one failed authentication for the pair and for the client id. Audits login.locked when the
 * pair reaches its limit and when the client id reaches the alert threshold, each at most once per
 * window (the ReplayStore lets exactly one of concurrent callers, on any instance, record it).
 */
export async function recordClientAuthFailure(ctx: AppContext, clientId: string, meta: { requestId?: string; sourceAddress: string }): Promise<void> {
  const { max_client_auth_failures: max, client_auth_alert_threshold: alert, failure_window: window } = ctx.config.login;
  const now = ctx.now();
  const windowMs = window * 1000;
  const pair = pairKey(clientId, meta.sourceAddress);
  const fromAddress = await ctx.storage.throttle.hit(pair, now, windowMs);
  const fromAll = await ctx.storage.throttle.hit(clientKey(clientId), now, windowMs);
  const common = { type: 'login.locked', actor: { clientId }, outcome: 'denied', action: 'client', requestId: meta.requestId, sourceAddress: meta.sourceAddress } as const;
  if (fromAddress >= max && (await ctx.storage.replay.useOnce(`client-auth-locked:${pair}`, now + windowMs, now))) {
    await ctx.audit.record({ ...common, reason: 'too_many_client_auth_failures', details: { failures: fromAddress, seconds: window } });
  }
  if (fromAll >= alert && (await ctx.storage.replay.useOnce(`client-auth-alert:${clientKey(clientId)}`, now + windowMs, now))) {
    await ctx.audit.record({ ...common, reason: 'too_many_client_auth_failures_all_sources', details: { failures: fromAll, seconds: window, locked: false } });
  }
}

/**
 * Runs `authenticate` unless the presented client id is locked out from this source address,
 * counting its invalid_client failures. A locked-out pair gets ClientAuthError(invalid_client)
 * without `authenticate` running. Other errors and successes are not counted.
 */
export async function throttleClientAuthentication<T>(
  ctx: AppContext,
  request: { authorization: string | undefined; params: Params; requestId?: string; sourceAddress: string },
  authenticate: () => Promise<T>,
): Promise<T> {
  const clientId = presentedClientId(request.authorization, request.params);
  if (clientId === undefined) return authenticate();
  if (await clientAuthLocked(ctx, clientId, request.sourceAddress)) {
    throw new ClientAuthError(invalidClient('client authentication failed', 'client id locked out from this address after repeated failures'), CLIENT_AUTH_CHALLENGE);
  }
  try {
    return await authenticate();
  } catch (err) {
    if (err instanceof OAuthError && err.error === 'invalid_client') await recordClientAuthFailure(ctx, clientId, request);
    throw err;
  }
}
