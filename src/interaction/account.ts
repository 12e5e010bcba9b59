// The user's account page, the SMART `management_endpoint` (SMART App Launch 2.2 conformance,
// src/smart/configuration.ts): every app the user has authorised, with its scopes, the patient in
// context, when it was authorised and last used, and a Revoke button. Revoking a consent revokes
// every grant made under it, so its refresh and access tokens stop working at once (audited as
// consent.revoked).
// Signing in here takes the same steps as at /authorize (password, then the second step or its
// enrolment); the sign-in security page is src/interaction/mfa/account-routes.ts.
import { isClientIdUrl } from '../oauth/client-metadata/client-id-url.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formParams, requestMeta } from '../http/request-info.js';
import { limitLoginRequest } from '../http/request-rate-limits.js';
import type { AppContext } from '../context/app-context.js';
import { BROWSER_COOKIE, ensureBrowserCookie, readCookie } from '../http/cookies.js';
import { csrfToken, csrfValid } from './csrf.js';
import { GENERIC_LOGIN_FAILURE, checkLogin } from './login.js';
import { registerAccountSecurityRoutes } from './mfa/account-routes.js';
import { continueAfterPassword, sessionMeetsPolicy } from './mfa/flow.js';
import { endPending } from './mfa/pending.js';
import { accountPage, loginPage, type AuthorisedApp } from './pages.js';
import { errorPage } from '../http/html.js';
import type { GrantRecord } from '../storage/types.js';
import { currentSession, endSession } from './session.js';

const sendHtml = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/html; charset=utf-8').send(body);

/** Revokes a consent and its grants; shared by the account page and the CLI. */
export async function revokeConsent(ctx: AppContext, consentId: string, actor: { userId?: string; clientId?: string }, meta: { requestId?: string; sourceAddress?: string }): Promise<boolean> {
  const now = ctx.now();
  const revoked = await ctx.storage.consents.revoke(consentId, now);
  if (!revoked) return false;
  const grants = await ctx.storage.grants.revokeByConsent(consentId, now, 'consent_revoked');
  await ctx.audit.record({
    type: 'consent.revoked', actor, outcome: 'success', consentId, requestId: meta.requestId, sourceAddress: meta.sourceAddress,
    details: { grants_revoked: grants.length },
  });
  return true;
}

/**
 * The user's consents with what their grants add: the patients in context (FHIR ids only: the
 * page never fetches demographics) and when a token was last issued under any of them.
 */
export async function authorisedApps(ctx: AppContext, userId: string): Promise<AuthorisedApp[]> {
  const [consents, grants, clients] = await Promise.all([
    ctx.storage.consents.listByUser(userId), ctx.storage.grants.listByUser(userId), ctx.storage.clients.list(),
  ]);
  const names = new Map(clients.map((c) => [c.clientId, c.name]));
  // Agents: registered themselves (RFC 7591), or known by a metadata document (never stored).
  const dynamic = new Set(clients.filter((c) => c.source === 'dynamic').map((c) => c.clientId));
  const isAgent = (clientId: string) => dynamic.has(clientId) || (!names.has(clientId) && isClientIdUrl(clientId));
  const byConsent = new Map<string, GrantRecord[]>();
  for (const g of grants) {
    if (g.consentId === null) continue;
    const list = byConsent.get(g.consentId);
    if (list) list.push(g);
    else byConsent.set(g.consentId, [g]);
  }
  return consents.map((c) => {
    const own = byConsent.get(c.id) ?? [];
    const used = own.map((g) => g.lastUsedAt ?? null).filter((t): t is number => t !== null);
    return {
      consentId: c.id,
      appName: names.get(c.clientId) ?? c.clientId,
      scopes: c.scopesGranted,
      resourceName: c.resource === null ? null : ctx.resources.get(c.resource)?.name ?? c.resource,
      // Oldest grant first, so the order does not change as new grants are made.
      patients: [...new Set(own.map((g) => g.launchContext?.patient).filter((p): p is string => p !== undefined).reverse())],
      authorisedAt: c.createdAt,
      lastUsedAt: used.length ? Math.max(...used) : null,
      revokedAt: c.revokedAt,
      ...(isAgent(c.clientId) ? { agent: true } : {}),
    };
  });
}

export function registerAccountRoutes(app: FastifyInstance, ctx: AppContext): void {
  registerAccountSecurityRoutes(app, ctx);

  async function show(req: FastifyRequest, reply: FastifyReply, notice?: string) {
    const browser = ensureBrowserCookie(req, reply);
    const session = await currentSession(ctx, req, reply);
    if (!session || !sessionMeetsPolicy(ctx, session)) {
      return sendHtml(reply, 200, loginPage({ action: '/account/login', csrf: csrfToken(ctx, 'account', browser) }));
    }
    return sendHtml(reply, 200, accountPage({ csrf: csrfToken(ctx, 'account', browser), apps: await authorisedApps(ctx, session.record.userId), notice }));
  }

  app.get('/account', (req, reply) => show(req, reply));

  app.post('/account/login', async (req, reply) => {
    const params = formParams(req);
    const browser = readCookie(req, BROWSER_COOKIE);
    if (!csrfValid(ctx, 'account', browser, params.csrf)) return sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified.'));
    const meta = requestMeta(req);
    const limited = await limitLoginRequest(ctx, req, reply, params.username ?? '');
    if (limited) return sendHtml(reply, 429, loginPage({ action: '/account/login', csrf: csrfToken(ctx, 'account', browser!), error: limited }));
    const result = await checkLogin(ctx, params.username ?? '', params.password ?? '', meta.sourceAddress, { requestId: meta.requestId });
    if (!result.ok) {
      return sendHtml(reply, 401, loginPage({ action: '/account/login', csrf: csrfToken(ctx, 'account', browser!), error: GENERIC_LOGIN_FAILURE }));
    }
    return reply.redirect(await continueAfterPassword(ctx, req, reply, result.user, { returnTo: '/account', meta }), 303);
  });

  app.post<{ Params: { id: string } }>('/account/consents/:id/revoke', async (req, reply) => {
    const params = formParams(req);
    if (!csrfValid(ctx, 'account', readCookie(req, BROWSER_COOKIE), params.csrf)) return sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified.'));
    const session = await currentSession(ctx, req, reply);
    // The same sign-in the page itself asks for (a password-only session of a user who needs a second step is not enough).
    if (!session || !sessionMeetsPolicy(ctx, session)) return reply.redirect('/account', 303);
    const consent = await ctx.storage.consents.get(req.params.id);
    // A user can revoke only their own consents; anything else looks like "not found".
    if (!consent || consent.userId !== session.record.userId) return sendHtml(reply, 404, errorPage('Not found', 'There is no such consent.'));
    await revokeConsent(ctx, consent.id, { userId: session.record.userId, clientId: consent.clientId }, requestMeta(req));
    const name = (await ctx.storage.clients.get(consent.clientId))?.name ?? consent.clientId;
    return show(req, reply, `Access revoked for ${name}. The app can no longer use the tokens it had.`);
  });

  app.post('/account/logout', async (req, reply) => {
    const params = formParams(req);
    if (!csrfValid(ctx, 'account', readCookie(req, BROWSER_COOKIE), params.csrf)) return sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified.'));
    const session = await currentSession(ctx, req, reply);
    await endSession(ctx, req, reply);
    await endPending(ctx, req, reply);
    if (session) await ctx.audit.record({ type: 'logout', actor: { userId: session.record.userId }, outcome: 'success', requestId: String(req.id), sourceAddress: req.ip });
    return reply.redirect('/account', 303);
  });
}
