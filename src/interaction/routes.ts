// The interaction pages between /authorize and the redirect back: login (password, then the second
// step or its enrolment: src/interaction/mfa/), then consent. Also registers the MFA pages, the
// passkey script and RP-initiated logout.
// Every form is CSRF protected; every redirect after a POST is a 303 (RFC 9700 §4.12).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formParams, requestMeta } from '../http/request-info.js';
import { clientRedirect } from '../oauth/authorization-request.js';
import { randomToken } from '../crypto/random.js';
import type { AppContext } from '../server/context.js';
import { completeAuthorization } from './complete.js';
import { csrfToken, csrfValid } from './csrf.js';
import { INTERACTION_PROBLEMS, loadInteraction, type Interaction } from './interaction-state.js';
import { GENERIC_LOGIN_FAILURE, checkLogin } from './login.js';
import { registerLogoutRoutes } from './logout.js';
import { continueAfterPassword, sessionMeetsPolicy } from './mfa/flow.js';
import { registerMfaRoutes } from './mfa/routes.js';
import { consentPage, errorPage, loginPage } from './pages.js';
import { checkRoleScopes, roleOf } from './role-policy.js';
import { currentSession, type ActiveSession } from './session.js';

type IdParams = { Params: { id: string } };

const sendHtml = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/html; charset=utf-8').send(body);

export function registerInteractionRoutes(app: FastifyInstance, ctx: AppContext): void {
  registerMfaRoutes(app, ctx);
  registerLogoutRoutes(app, ctx);

  async function load(req: FastifyRequest<IdParams>, reply: FastifyReply): Promise<Interaction | undefined> {
    const found = await loadInteraction(ctx, req, req.params.id);
    if (found.ok) return found.interaction;
    sendHtml(reply, 400, errorPage('Sign-in request not valid', INTERACTION_PROBLEMS[found.problem]));
    return undefined;
  }

  const clientName = async (clientId: string) => (await ctx.storage.clients.get(clientId))?.name ?? clientId;

  async function showLogin(reply: FastifyReply, interaction: Interaction, status = 200, error?: string) {
    return sendHtml(reply, status, loginPage({
      action: `/interaction/${interaction.id}/login`,
      csrf: csrfToken(ctx, interaction.id, interaction.browser),
      clientName: await clientName(interaction.request.clientId),
      error,
    }));
  }

  /**
   * The role policy at consent time (src/interaction/role-policy.ts): an administrator is refused
   * clinical scopes with access_denied and a description saying why. Resolves true when refused.
   */
  async function refusedByRole(req: FastifyRequest, reply: FastifyReply, interaction: Interaction, session: ActiveSession): Promise<boolean> {
    const { request } = interaction;
    const decision = checkRoleScopes(roleOf(session.user), request.scope.split(' '));
    if (decision.allowed) return false;
    const meta = requestMeta(req);
    await ctx.audit.record({
      type: 'authz.denied', actor: { userId: session.record.userId, clientId: request.clientId }, outcome: 'denied', reason: 'role_policy',
      resource: request.resource, scopes: { requested: request.scope.split(' '), granted: [] }, requestId: meta.requestId,
      sourceAddress: meta.sourceAddress, details: { role: roleOf(session.user), refused: decision.refused.join(' ') },
    });
    await ctx.storage.interactions.remove(interaction.id);
    reply.redirect(clientRedirect(ctx, request.redirectUri, { error: 'access_denied', error_description: decision.description, state: request.state }), 303);
    return true;
  }

  /** Decides the next step for an interaction with a signed-in user. */
  async function proceed(req: FastifyRequest, reply: FastifyReply, interaction: Interaction, session: ActiveSession) {
    const { request } = interaction;
    if (await refusedByRole(req, reply, interaction, session)) return reply;
    const requested = request.scope.split(' ');
    const prior = await ctx.storage.consents.findActive(session.record.userId, request.clientId, request.resource);
    // A prior consent is reused only for the same or narrower scopes, and never with prompt=consent.
    const reusable = prior && !request.prompt.includes('consent') && requested.every((s) => prior.scopesGranted.includes(s));
    if (reusable) {
      const meta = requestMeta(req);
      const location = await completeAuthorization(ctx, interaction, {
        userId: session.record.userId, authTime: session.record.authTime, amr: session.record.amr, consentId: prior.id, scopes: requested, ...meta,
      });
      return reply.redirect(location, 303);
    }
    if (request.prompt.includes('none')) {
      return reply.redirect(clientRedirect(ctx, request.redirectUri, { error: 'consent_required', state: request.state }), 303);
    }
    const resourceName = ctx.resources.get(request.resource)?.name ?? request.resource;
    return sendHtml(reply, 200, consentPage({
      action: `/interaction/${interaction.id}/consent`,
      csrf: csrfToken(ctx, interaction.id, interaction.browser),
      clientName: await clientName(request.clientId),
      scopes: requested,
      resourceName,
    }));
  }

  app.get<IdParams>('/interaction/:id', async (req, reply) => {
    const interaction = await load(req, reply);
    if (!interaction) return reply;
    const session = await currentSession(ctx, req, reply);
    // A session weaker than the user's role now requires (e.g. from before a role change) signs in again.
    const mustLogin = !session || !sessionMeetsPolicy(ctx, session)
      || (interaction.request.prompt.includes('login') && session.record.authTime < interaction.createdAt);
    if (mustLogin) {
      if (interaction.request.prompt.includes('none')) {
        return reply.redirect(clientRedirect(ctx, interaction.request.redirectUri, { error: 'login_required', state: interaction.request.state }), 303);
      }
      return showLogin(reply, interaction);
    }
    return proceed(req, reply, interaction, session);
  });

  app.post<IdParams>('/interaction/:id/login', async (req, reply) => {
    const interaction = await load(req, reply);
    if (!interaction) return reply;
    const params = formParams(req);
    if (!csrfValid(ctx, interaction.id, interaction.browser, params.csrf)) {
      return sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified. Start again from the application.'));
    }
    const meta = requestMeta(req);
    const { clientId } = interaction.request;
    const result = await checkLogin(ctx, params.username ?? '', params.password ?? '', meta.sourceAddress, { requestId: meta.requestId, clientId });
    if (!result.ok) return showLogin(reply, interaction, 401, GENERIC_LOGIN_FAILURE);
    const next = await continueAfterPassword(ctx, req, reply, result.user, { returnTo: `/interaction/${interaction.id}`, clientId, meta });
    return reply.redirect(next, 303);
  });

  app.post<IdParams>('/interaction/:id/consent', async (req, reply) => {
    const interaction = await load(req, reply);
    if (!interaction) return reply;
    const body = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
    const csrf = body.getAll('csrf');
    if (csrf.length !== 1 || !csrfValid(ctx, interaction.id, interaction.browser, csrf[0])) {
      return sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified. Start again from the application.'));
    }
    const session = await currentSession(ctx, req, reply);
    if (!session || !sessionMeetsPolicy(ctx, session)) return showLogin(reply, interaction);
    if (await refusedByRole(req, reply, interaction, session)) return reply;
    const { request } = interaction;
    const requested = request.scope.split(' ');
    const decision = body.get('decision');
    // Only scopes that were requested can be granted, whatever the form says.
    const ticked = new Set(body.getAll('scope'));
    const granted = decision === 'allow' ? requested.filter((s) => ticked.has(s)) : [];
    const denied = requested.filter((s) => !granted.includes(s));
    const meta = requestMeta(req);
    const now = ctx.now();
    const consent = {
      id: `c_${randomToken(18)}`, userId: session.record.userId, clientId: request.clientId, scopesGranted: granted, scopesDenied: denied,
      resource: request.resource, createdAt: now, clientAddress: meta.sourceAddress, userAgent: meta.userAgent,
      textVersion: ctx.config.consent.text_version, revokedAt: decision === 'allow' && granted.length ? null : now,
    };
    await ctx.storage.consents.create(consent);
    if (decision !== 'allow' || granted.length === 0) {
      await ctx.audit.record({
        type: 'consent.denied', actor: { userId: session.record.userId, clientId: request.clientId }, outcome: 'denied',
        resource: request.resource, scopes: { requested, granted: [] }, consentId: consent.id, requestId: meta.requestId,
        sourceAddress: meta.sourceAddress,
      });
      return reply.redirect(clientRedirect(ctx, request.redirectUri, { error: 'access_denied', error_description: 'the user denied access', state: request.state }), 303);
    }
    await ctx.audit.record({
      type: 'consent.granted', actor: { userId: session.record.userId, clientId: request.clientId }, outcome: 'success',
      resource: request.resource, scopes: { requested, granted }, consentId: consent.id, requestId: meta.requestId,
      sourceAddress: meta.sourceAddress, details: { denied: denied.join(' '), text_version: consent.textVersion },
    });
    const location = await completeAuthorization(ctx, interaction, {
      userId: session.record.userId, authTime: session.record.authTime, amr: session.record.amr, consentId: consent.id, scopes: granted, ...meta,
    });
    return reply.redirect(location, 303);
  });
}
