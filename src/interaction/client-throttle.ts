// Rate limiting of failed client authentication at the token, introspection and revocation
// endpoints (45 CFR 164.308(a)(5)(ii)(C) log-in monitoring; RFC 6749 §10.10 guessing of
// credentials; NIST SP 800-63B §5.2.2). After login.max_client_auth_failures invalid_client
// answers for one client id within login.failure_window, that client id is locked out for the rest
// of the window: its secrets and assertions are not checked at all, and every request gets the
// same 401 invalid_client as a wrong secret (RFC 6749 §5.2), so the answer tells a guesser nothing
// new. The lockout is audited once, as login.locked with the client as actor.
//
// The client id is the one presented (Basic user name, client_id, or the assertion's iss), known
// or not: unknown ids are limited the same way. Requests whose credentials cannot even be read are
// left to the authentication step. Deliberately not done: counting per source address here (the
// per-address login throttle covers people, not machines behind shared NAT).
//
// Wiring (src/oauth is owned elsewhere): wrap the authenticateClient() call of each endpoint:
//   const client = await throttleClientAuthentication(ctx, { authorization, params, ...requestMeta(req) },
//     () => authenticateClient(ctx, { authorization, params, endpoint }));
import { OAuthError, invalidClient } from '../errors/oauth-error.js';
import { ClientAuthError } from '../oauth/client-auth/index.js';
import { presentedCredentials } from '../oauth/client-auth/presented.js';
import { assertionIssuer } from '../oauth/client-auth/private-key-jwt.js';
import type { Params } from '../oauth/checks/duplicate-params.js';
import type { AppContext } from '../server/context.js';

const key = (clientId: string) => `client-auth:${clientId}`;
/** Longer values cannot be registered client ids; they are cut so a key stays small. */
const MAX_CLIENT_ID_CHARS = 128;

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

/** Whether authentication attempts for this client id are refused right now. */
export async function clientAuthLocked(ctx: AppContext, clientId: string): Promise<boolean> {
  const { max_client_auth_failures: max, failure_window: window } = ctx.config.login;
  return (await ctx.storage.throttle.count(key(clientId), ctx.now(), window * 1000)) >= max;
}

/** Counts one failed authentication; audits login.locked when this failure reaches the limit. */
export async function recordClientAuthFailure(ctx: AppContext, clientId: string, meta: { requestId?: string; sourceAddress?: string }): Promise<void> {
  const { max_client_auth_failures: max, failure_window: window } = ctx.config.login;
  const failures = await ctx.storage.throttle.hit(key(clientId), ctx.now(), window * 1000);
  if (failures === max) {
    await ctx.audit.record({
      type: 'login.locked', actor: { clientId }, outcome: 'denied', action: 'client', reason: 'too_many_client_auth_failures',
      requestId: meta.requestId, sourceAddress: meta.sourceAddress, details: { failures, seconds: window },
    });
  }
}

/**
 * Runs `authenticate` unless the presented client id is locked out, counting its invalid_client
 * failures. A locked-out id gets ClientAuthError(invalid_client) without `authenticate` running.
 */
export async function throttleClientAuthentication<T>(
  ctx: AppContext,
  request: { authorization: string | undefined; params: Params; requestId?: string; sourceAddress?: string },
  authenticate: () => Promise<T>,
): Promise<T> {
  const clientId = presentedClientId(request.authorization, request.params);
  if (clientId === undefined) return authenticate();
  if (await clientAuthLocked(ctx, clientId)) {
    throw new ClientAuthError(invalidClient('client authentication failed', 'client id locked out after repeated failures'), 'Basic realm="caduceus"');
  }
  try {
    return await authenticate();
  } catch (err) {
    if (err instanceof OAuthError && err.error === 'invalid_client') await recordClientAuthFailure(ctx, clientId, request);
    throw err;
  }
}
