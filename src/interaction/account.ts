// The user's account page, the SMART `management_endpoint` (SMART App Launch 2.2 conformance,
// src/smart/configuration.ts): the apps the user has authorised, one entry per app and patient
// (src/interaction/account-access.ts), with scopes, patient, when authorised and last used, and a
// Revoke button; emergency access marked apart. Revoking a consent revokes every grant made under
// it, so its refresh and access tokens stop working at once (audited as consent.revoked). Every
// form answers 303 (post/redirect/get), so a reload never repeats it.
// Signing in here takes the same steps as at /authorize (password, then the second step or its
// enrolment); the sign-in security page is src/interaction/mfa/account-routes.ts.
import { isClientIdUrl } from '../oauth/client-metadata/client-id-url.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { formParams, requestMeta } from '../http/request-info.js';
import { limitLoginRequest } from '../http/request-rate-limits.js';
import type { AppContext } from '../context/app-context.js';
import { BROWSER_COOKIE, ensureBrowserCookie, readCookie } from '../http/cookies.js';
import { csrfToken, csrfValid } from './csrf.js';
import { checkLogin, loginFailureMessage } from './login.js';
import { registerAccountSecurityRoutes } from './mfa/account-routes.js';
import { continueAfterPassword, sessionMeetsPolicy } from './mfa/flow.js';
import { endPending } from './mfa/pending.js';
import { scriptPageOptions } from './mfa/routes.js';
import { loginPage } from './pages.js';
import { accountPage, type AccessCard } from './account-page.js';
import { consentsToRevoke, groupAccess, type AccessEntry, type AccessPolicy } from './account-access.js';
import { setFlash, takeFlash } from './flash.js';
import { patientLabels } from './patient-labels.js';
import { errorPage } from '../http/html.js';
import { ownPatientId, patientReach } from '../identity/patients.js';
import { roleOf } from '../identity/role-policy.js';
import type { UserRecord } from '../storage/types.js';
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
 * The user's authorisations as the account page shows them (src/interaction/account-access.ts),
 * with app names and the names of the patients the user may see: their own record, their panel,
 * and a patient of emergency access while it lasts. Those are read as the user and audited
 * (purpose account_page); any other patient, or any failure, shows the bare FHIR id.
 */
export async function accountAccess(
  ctx: AppContext, user: UserRecord, meta: { requestId: string; sourceAddress: string },
): Promise<{ current: AccessCard[]; ended: AccessCard[] }> {
  const [consents, grants, clients] = await Promise.all([
    ctx.storage.consents.listByUser(user.id), ctx.storage.grants.listByUser(user.id), ctx.storage.clients.list(),
  ]);
  const { current, ended } = groupAccess(consents, grants, accessPolicy(ctx), ctx.now());
  const names = new Map(clients.map((c) => [c.clientId, c.name]));
  // Agents: registered themselves (RFC 7591), or known by a metadata document (never stored).
  const dynamic = new Set(clients.filter((c) => c.source === 'dynamic').map((c) => c.clientId));
  const isAgent = (clientId: string) => dynamic.has(clientId) || (!names.has(clientId) && isClientIdUrl(clientId));
  const visible = new Set([...patientReach(user), ...current.filter((e) => e.emergency).flatMap((e) => e.patients)]);
  const own = roleOf(user) === 'patient' ? ownPatientId(user) : undefined;
  const labels = new Map<string, Map<string, string>>();
  for (const resource of new Set([...current, ...ended].map((e) => e.resource).filter((r): r is string => r !== null))) {
    const ids = [...new Set([...current, ...ended].filter((e) => e.resource === resource).flatMap((e) => e.patients))].filter((id) => visible.has(id));
    labels.set(resource, await patientLabels(ctx, { resource, ids, purpose: 'account_page', userId: user.id, ...meta, ...(own !== undefined ? { patient: own } : {}) }));
  }
  const card = (e: AccessEntry): AccessCard => ({
    ...e,
    appName: names.get(e.clientId) ?? e.clientId,
    resourceName: e.resource === null ? null : ctx.resources.get(e.resource)?.name ?? e.resource,
    agent: isAgent(e.clientId),
    labels: (e.resource !== null ? labels.get(e.resource) : undefined) ?? new Map(),
  });
  return { current: current.map(card), ended: ended.map(card) };
}

const accessPolicy = (ctx: AppContext): AccessPolicy => ({ tokens: ctx.config.tokens, breakglassTtlSeconds: ctx.config.breakglass.token_ttl_seconds });

export function registerAccountRoutes(app: FastifyInstance, ctx: AppContext): void {
  registerAccountSecurityRoutes(app, ctx);

  const showLogin = (reply: FastifyReply, browser: string, status = 200, error?: string, username?: string) =>
    sendHtml(reply, status, loginPage({ action: '/account/login', csrf: csrfToken(ctx, 'account', browser), error, username }));

  // The page shows times in the browser's time zone with the page script (scriptPageOptions: `script-src 'self'`).
  app.get('/account', scriptPageOptions, async (req, reply) => {
    const browser = ensureBrowserCookie(req, reply);
    const session = await currentSession(ctx, req, reply);
    if (!session || !sessionMeetsPolicy(ctx, session)) return showLogin(reply, browser);
    const flash = await takeFlash(ctx, session);
    const access = await accountAccess(ctx, session.user, requestMeta(req));
    return sendHtml(reply, 200, accountPage({ csrf: csrfToken(ctx, 'account', browser), ...access, notice: flash?.notice, clinician: roleOf(session.user) === 'practitioner' }));
  });

  app.post('/account/login', async (req, reply) => {
    const params = formParams(req);
    const browser = readCookie(req, BROWSER_COOKIE);
    if (!csrfValid(ctx, 'account', browser, params.csrf)) return sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified.'));
    const meta = requestMeta(req);
    const limited = await limitLoginRequest(ctx, req, reply, params.username ?? '');
    if (limited) return showLogin(reply, browser!, 429, limited, params.username);
    const result = await checkLogin(ctx, params.username ?? '', params.password ?? '', meta.sourceAddress, { requestId: meta.requestId });
    if (!result.ok) return showLogin(reply, browser!, 401, loginFailureMessage(result), params.username);
    return reply.redirect(await continueAfterPassword(ctx, req, reply, result.user, { returnTo: '/account', meta }), 303);
  });

  /**
   * Revokes one entry of the page (an app's access to a patient, or an emergency access): every
   * active consent in it, and the ended ones of the same app that a new authorization would
   * otherwise reuse. Then 303 back to the page, which says what was done once (flash.ts).
   */
  app.post<{ Params: { id: string } }>('/account/consents/:id/revoke', async (req, reply) => {
    const params = formParams(req);
    if (!csrfValid(ctx, 'account', readCookie(req, BROWSER_COOKIE), params.csrf)) return sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified.'));
    const session = await currentSession(ctx, req, reply);
    // The same sign-in the page itself asks for (a password-only session of a user who needs a second step is not enough).
    if (!session || !sessionMeetsPolicy(ctx, session)) return reply.redirect('/account', 303);
    const consent = await ctx.storage.consents.get(req.params.id);
    // A user can revoke only their own consents; anything else looks like "not found".
    if (!consent || consent.userId !== session.record.userId) return sendHtml(reply, 404, errorPage('Not found', 'There is no such consent.'));
    const meta = requestMeta(req);
    const grouped = groupAccess(
      await ctx.storage.consents.listByUser(session.record.userId), await ctx.storage.grants.listByUser(session.record.userId), accessPolicy(ctx), ctx.now(),
    );
    const entry = [...grouped.current, ...grouped.ended].find((e) => e.consentIds.includes(consent.id) || e.id === consent.id);
    const ids = entry ? consentsToRevoke(entry, grouped) : [consent.id];
    for (const id of ids) await revokeConsent(ctx, id, { userId: session.record.userId, clientId: consent.clientId }, meta);
    const name = (await ctx.storage.clients.get(consent.clientId))?.name ?? consent.clientId;
    await setFlash(ctx, session, {
      notice: entry?.emergency ? `Emergency access ended for ${name}. The app can no longer use the token it had.` : `Access revoked for ${name}. The app can no longer use the tokens it had.`,
    });
    return reply.redirect('/account', 303);
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
