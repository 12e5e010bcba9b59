// RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0): GET or POST /logout with
// id_token_hint, client_id, post_logout_redirect_uri and state ends the browser's session, audits
// `logout`, and then redirects to the client or shows a signed-out page.
//
// - §2: "OPs MUST support the use of HTTP GET and POST"; the end_session_endpoint is in the metadata.
// - §2: id_token_hint must be an ID token this server issued; an expired one is accepted (its
//   signature is checked, not its exp). Its aud names the client when client_id is absent; when
//   both are given they must agree.
// - §3: post_logout_redirect_uri must exactly match a URI registered for the client. Caduceus has
//   no separate post_logout_redirect_uris registration: the client's redirect URIs are that list.
//   Without a known client, or with an unregistered URI, nothing is redirected (an error page).
// - §6 logout CSRF: without an id_token_hint for the signed-in user the OP asks the user first
//   (a confirmation form with a CSRF token); with one, the session ends at once.
// Not done: front- and back-channel logout notifications to other clients, session management.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { compactVerify, createLocalJWKSet } from 'jose';
import { formParams, queryParams, requestMeta } from '../http/request-info.js';
import type { Params } from '../oauth/checks/duplicate-params.js';
import type { AppContext } from '../context/app-context.js';
import type { ClientRecord } from '../storage/types.js';
import { BROWSER_COOKIE, ensureBrowserCookie, readCookie } from '../http/cookies.js';
import { csrfToken, csrfValid } from './csrf.js';
import { endPending } from './mfa/pending.js';
import { logoutConfirmPage, signedOutPage } from './pages.js';
import { errorPage } from '../http/html.js';
import { currentSession, endSession } from './session.js';

const sendHtml = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/html; charset=utf-8').send(body);

interface IdTokenHint {
  sub: string;
  aud: string[];
}

/** The subject and audience of an ID token this server signed (expired or not); undefined when it is not one. */
export async function verifyIdTokenHint(ctx: AppContext, token: string): Promise<IdTokenHint | undefined> {
  try {
    const jwks = createLocalJWKSet(await ctx.keys.jwks(ctx.now()));
    const { payload, protectedHeader } = await compactVerify(token, jwks, { algorithms: ['ES256'] });
    if (protectedHeader.typ !== undefined && protectedHeader.typ !== 'JWT') return undefined;
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    if (claims.iss !== ctx.config.issuer || typeof claims.sub !== 'string') return undefined;
    const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter((a): a is string => typeof a === 'string') : [];
    // An access token (typ at+jwt) has a client_id claim; an ID token does not.
    if (aud.length === 0 || 'client_id' in claims) return undefined;
    return { sub: claims.sub, aud };
  } catch {
    return undefined;
  }
}

type LogoutCheck =
  | { ok: true; hint?: IdTokenHint; client?: ClientRecord; redirect?: string }
  | { ok: false; message: string };

/** Validates the logout parameters (pure of side effects). */
async function checkLogoutRequest(ctx: AppContext, params: Params): Promise<LogoutCheck> {
  let hint: IdTokenHint | undefined;
  if (params.id_token_hint !== undefined) {
    hint = await verifyIdTokenHint(ctx, params.id_token_hint);
    if (!hint) return { ok: false, message: 'The sign-out request carries an ID token that was not issued here.' };
  }
  if (params.client_id !== undefined && hint && !hint.aud.includes(params.client_id)) {
    return { ok: false, message: 'The sign-out request names two different applications.' };
  }
  const clientId = params.client_id ?? (hint?.aud.length === 1 ? hint.aud[0] : undefined);
  const client = clientId !== undefined ? await ctx.storage.clients.get(clientId) : undefined;
  if (params.client_id !== undefined && !client) return { ok: false, message: 'The application that sent you here is not registered.' };
  const uri = params.post_logout_redirect_uri;
  if (uri === undefined) return { ok: true, hint, client };
  if (!client) return { ok: false, message: 'The sign-out request does not say which application it comes from, so it cannot send you back.' };
  // §3: exact string comparison against the registered URIs.
  if (!client.redirectUris.includes(uri)) return { ok: false, message: 'The address to return to is not registered for this application.' };
  return { ok: true, hint, client, redirect: uri };
}

export function registerLogoutRoutes(app: FastifyInstance, ctx: AppContext): void {
  async function handle(req: FastifyRequest, reply: FastifyReply, params: Params, confirmed: boolean) {
    const check = await checkLogoutRequest(ctx, params);
    if (!check.ok) return sendHtml(reply, 400, errorPage('Sign-out request not valid', check.message));
    const session = await currentSession(ctx, req, reply);
    if (session) {
      const hinted = check.hint?.sub === session.record.userId;
      if (!hinted && !confirmed) {
        const browser = ensureBrowserCookie(req, reply);
        return sendHtml(reply, 200, logoutConfirmPage({
          csrf: csrfToken(ctx, 'logout', browser), clientName: check.client?.name,
          fields: { client_id: check.client?.clientId, post_logout_redirect_uri: check.redirect, state: params.state },
        }));
      }
      await endSession(ctx, req, reply);
      const meta = requestMeta(req);
      await ctx.audit.record({
        type: 'logout', actor: { userId: session.record.userId, clientId: check.client?.clientId }, outcome: 'success',
        action: 'rp_initiated', requestId: meta.requestId, sourceAddress: meta.sourceAddress, sessionId: session.record.digest.slice(0, 16),
      });
    }
    await endPending(ctx, req, reply);
    if (check.redirect) {
      const url = new URL(check.redirect);
      if (params.state !== undefined) url.searchParams.set('state', params.state);
      return reply.redirect(url.href, 303);
    }
    return sendHtml(reply, 200, signedOutPage({ clientName: check.client?.name }));
  }

  app.get('/logout', (req, reply) => handle(req, reply, queryParams(req), false));
  app.post('/logout', (req, reply) => {
    const params = formParams(req);
    const confirmed = csrfValid(ctx, 'logout', readCookie(req, BROWSER_COOKIE), params.csrf);
    const { csrf: _csrf, ...rest } = params;
    return handle(req, reply, rest, confirmed);
  });
}
