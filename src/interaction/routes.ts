// The interaction pages between /authorize and the redirect back: login (password, then the second
// step or its enrolment: src/interaction/mfa/), then consent. Also registers the MFA pages, the
// passkey script and RP-initiated logout.
// Every form is CSRF protected; every redirect after a POST is a 303 (RFC 9700 §4.12).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formParams, requestMeta } from '../http/request-info.js';
import { limitLoginRequest } from '../http/request-rate-limits.js';
import { clientRedirect, type AuthorizationRequest } from '../oauth/authorization-request.js';
import type { ConsentRecord } from '../storage/types.js';
import { randomToken } from '../crypto/random.js';
import type { AppContext } from '../context/app-context.js';
import { endSessionBeyondClientLimits } from './client-session-policy.js';
import {
  checkBreakGlassPermission, checkBreakGlassRequest, confirmEmergencyPatient, isEmergencyConsent, narrowBreakGlassScopes, recordBreakGlass,
} from './break-glass.js';
import { emergencyFormValues, parseEmergencySearch, searchEmergencyPatients, type EmergencyFormValues } from './break-glass-search.js';
import type { EmergencyFormInput } from './break-glass-form.js';
import { tryParseSmartScope } from '../smart/scopes.js';
import { completeAuthorization, newGrantId } from './complete.js';
import { csrfToken, csrfValid } from './csrf.js';
import { INTERACTION_PROBLEMS, loadInteraction, type Interaction } from '../oauth/interaction-state.js';
import { checkLogin, loginFailureMessage } from './login.js';
import { registerLogoutRoutes } from './logout.js';
import { continueAfterPassword, sessionMeetsPolicy } from './mfa/flow.js';
import { registerMfaRoutes } from './mfa/routes.js';
import { consentPage, loginPage } from './pages.js';
import { loadAgentPolicy } from '../oauth/clients.js';
import { isClientIdUrl } from '../oauth/client-metadata/client-id-url.js';
import { errorPage } from '../http/html.js';
import { patientLabels } from './patient-labels.js';
import { grantLaunchContext, patientChoice } from './patient-context.js';
import { registerPageScript } from './page-script.js';
import { needsPatient, patientReach } from '../identity/patients.js';
import { checkRoleScopes, roleOf, scopesForRole } from '../identity/role-policy.js';
import { currentSession, type ActiveSession } from './session.js';

type IdParams = { Params: { id: string } };

const sendHtml = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/html; charset=utf-8').send(body);

export function registerInteractionRoutes(app: FastifyInstance, ctx: AppContext): void {
  registerMfaRoutes(app, ctx);
  registerLogoutRoutes(app, ctx);
  registerPageScript(app);

  async function load(req: FastifyRequest<IdParams>, reply: FastifyReply): Promise<Interaction | undefined> {
    const found = await loadInteraction(ctx, req, req.params.id);
    if (found.ok) return found.interaction;
    sendHtml(reply, 400, errorPage('Sign-in request not valid', INTERACTION_PROBLEMS[found.problem]));
    return undefined;
  }

  const clientName = async (clientId: string) => (await ctx.storage.clients.get(clientId))?.name ?? clientId;

  /** The consent record: evidence of what was asked, granted and denied, when, from where, under which text. */
  function newConsent(
    session: ActiveSession, request: AuthorizationRequest, granted: string[], denied: string[], meta: { sourceAddress: string; userAgent: string }, active: boolean,
  ): ConsentRecord {
    const now = ctx.now();
    return {
      id: `c_${randomToken(18)}`, userId: session.record.userId, clientId: request.clientId, scopesGranted: granted, scopesDenied: denied,
      resource: request.resource, createdAt: now, clientAddress: meta.sourceAddress, userAgent: meta.userAgent,
      textVersion: ctx.config.consent.text_version, revokedAt: active ? null : now,
    };
  }

  /** The sign-in page; after a failed attempt the username typed stays in its field. */
  async function showLogin(reply: FastifyReply, interaction: Interaction, status = 200, error?: string, username?: string) {
    return sendHtml(reply, status, loginPage({
      action: `/interaction/${interaction.id}/login`,
      csrf: csrfToken(ctx, interaction.id, interaction.browser),
      clientName: await clientName(interaction.request.clientId),
      error,
      username,
    }));
  }

  /**
   * The role policy at consent time (src/identity/role-policy.ts): an administrator is refused
   * clinical scopes with access_denied and a description saying why. Resolves true when refused.
   */
  async function refusedByRole(req: FastifyRequest, reply: FastifyReply, interaction: Interaction, session: ActiveSession): Promise<boolean> {
    const decision = checkRoleScopes(roleOf(session.user), interaction.request.scope.split(' '));
    if (decision.allowed) return false;
    await denyAuthorization(req, reply, interaction, session, 'role_policy', decision.description, { role: roleOf(session.user), refused: decision.refused.join(' ') });
    return true;
  }

  /** Ends the interaction with access_denied at the client's redirect URI, saying why, and audits it (authz.denied). */
  async function denyAuthorization(
    req: FastifyRequest, reply: FastifyReply, interaction: Interaction, session: ActiveSession, reason: string, description: string,
    details?: Record<string, string>,
  ): Promise<void> {
    const { request } = interaction;
    const meta = requestMeta(req);
    await ctx.audit.record({
      type: 'authz.denied', actor: { userId: session.record.userId, clientId: request.clientId }, outcome: 'denied', reason,
      resource: request.resource, scopes: { requested: request.scope.split(' '), granted: [] }, requestId: meta.requestId,
      sourceAddress: meta.sourceAddress, ...(details ? { details } : {}),
    });
    await ctx.storage.interactions.remove(interaction.id);
    reply.redirect(clientRedirect(ctx, request.redirectUri, { error: 'access_denied', error_description: description, state: request.state }), 303);
  }

  /**
   * What this user may be granted of the request (scopes ∩ role, src/identity/role-policy.ts
   * scopesForRole) and which patient it is about (patient-context.ts).
   */
  function consentPlan(interaction: Interaction, session: ActiveSession) {
    const requested = interaction.request.scope.split(' ');
    const { allowed, removed } = scopesForRole(roleOf(session.user), requested);
    return { requested, allowed, removed, choice: patientChoice(session.user, interaction.request, allowed) };
  }
  type ConsentPlan = ReturnType<typeof consentPlan>;

  /** Nothing this user could grant, or no patient to act for: access_denied with a reason the app can show. */
  async function deniedByPlan(req: FastifyRequest, reply: FastifyReply, interaction: Interaction, session: ActiveSession, plan: ConsentPlan): Promise<boolean> {
    if (plan.choice.kind === 'unavailable') {
      await denyAuthorization(req, reply, interaction, session, 'no_patient_context', plan.choice.description);
      return true;
    }
    if (plan.allowed.length === 0) {
      await denyAuthorization(req, reply, interaction, session, 'role_policy', 'none of the requested scopes can be granted to this account');
      return true;
    }
    return false;
  }

  /** The client of the request (one read) and, for a self-registered AI agent, its policy. */
  async function requestingClient(request: AuthorizationRequest) {
    const client = await ctx.storage.clients.get(request.clientId);
    const agent = await loadAgentPolicy(ctx, client ?? { clientId: request.clientId, source: isClientIdUrl(request.clientId) ? 'metadata_document' : 'unknown' });
    return { client, agent };
  }

  /** Demographics are read as the signed-in person, for this app, and audited (src/interaction/patient-directory.ts). */
  const readerOf = (req: FastifyRequest, interaction: Interaction, session: ActiveSession) => {
    const meta = requestMeta(req);
    return { userId: session.record.userId, clientId: interaction.request.clientId, requestId: meta.requestId, sourceAddress: meta.sourceAddress };
  };

  /** What the consent page shows besides the plan: an error at the top, the picker's state, the emergency form's state. */
  interface ConsentView {
    status?: number;
    error?: string;
    picker?: { selected?: string; notice?: string; error?: string };
    emergency?: Pick<EmergencyFormInput, 'values' | 'fields' | 'results' | 'formError'>;
  }

  async function showConsent(req: FastifyRequest, reply: FastifyReply, interaction: Interaction, session: ActiveSession, plan: ConsentPlan, view: ConsentView = {}) {
    const { request } = interaction;
    const reader = readerOf(req, interaction, session);
    const role = roleOf(session.user);
    const csrf = csrfToken(ctx, interaction.id, interaction.browser);
    const action = `/interaction/${interaction.id}/consent`;
    const { client, agent } = await requestingClient(request);
    const { choice } = plan;
    // The settled patient is named to whoever sees the page: a patient reads their own record (with it in context).
    const fixedLabel = choice.kind === 'fixed'
      ? (await patientLabels(ctx, { resource: request.resource, ids: [choice.patient], purpose: 'consent_patient', ...reader, ...(role === 'patient' ? { patient: choice.patient } : {}) })).get(choice.patient)
      : undefined;
    return sendHtml(reply, view.status ?? 200, consentPage({
      action,
      csrf,
      clientName: client?.name ?? request.clientId,
      scopes: plan.allowed,
      removedScopes: plan.removed,
      resourceName: ctx.resources.get(request.resource)?.name ?? request.resource,
      clinician: role === 'practitioner',
      ...(choice.kind === 'fixed' ? { patient: { id: choice.patient, own: choice.source === 'self', label: fixedLabel } } : {}),
      ...(choice.kind === 'pick' ? {
        // The picker's names are read as this practitioner, for this app.
        picker: { patients: choice.patients, labels: await patientLabels(ctx, { resource: request.resource, ids: choice.patients, ...reader }), ...view.picker },
      } : {}),
      // Emergency access is never offered to an AI agent.
      ...(choice.kind === 'pick' && choice.breakGlass && !agent ? {
        emergency: { ttlMinutes: Math.round(ctx.config.breakglass.token_ttl_seconds / 60), write: ctx.config.unsafe.breakglass_write, ...view.emergency },
      } : {}),
      ...(agent ? {
        agent: {
          registeredVia: agent.source, origin: request.clientId, approved: agent.approved,
          minutes: Math.max(1, Math.round(agent.accessTokenTtl / 60)), renewable: agent.refreshTokens && plan.allowed.includes('offline_access'),
        },
      } : {}),
      error: view.error,
    }));
  }

  /**
   * The emergency form shown again with what was typed, its field errors, and the results of its
   * search criteria (searched again, so read and audited again) so the chosen patient stays chosen.
   */
  async function emergencyAgain(
    req: FastifyRequest, interaction: Interaction, session: ActiveSession, values: EmergencyFormValues, fields: NonNullable<ConsentView['emergency']>['fields'] = {},
  ): Promise<NonNullable<ConsentView['emergency']>> {
    const parsed = parseEmergencySearch(values);
    if (!parsed.ok) return { values, fields };
    const found = await searchEmergencyPatients(ctx, {
      resource: interaction.request.resource, reader: readerOf(req, interaction, session), criteria: parsed.criteria, panel: patientReach(session.user),
    });
    return { values, fields, ...(found.ok ? { results: { patients: found.patients, more: found.more } } : {}) };
  }

  /**
   * The emergency form's "Find patient": by family name and date of birth, or MRN, as the
   * practitioner (src/interaction/break-glass-search.ts). Only an account that may use emergency
   * access may search: the search itself discloses who is a patient here.
   */
  async function searchForEmergency(
    req: FastifyRequest, reply: FastifyReply, interaction: Interaction, session: ActiveSession, plan: ConsentPlan, values: EmergencyFormValues,
  ) {
    const permitted = checkBreakGlassPermission(session.user, session.record.amr);
    if (!permitted.ok) return showConsent(req, reply, interaction, session, plan, { status: permitted.status, error: permitted.message });
    const parsed = parseEmergencySearch(values);
    if (!parsed.ok) return showConsent(req, reply, interaction, session, plan, { status: 400, emergency: { values, fields: parsed.fields } });
    const found = await searchEmergencyPatients(ctx, {
      resource: interaction.request.resource, reader: readerOf(req, interaction, session), criteria: parsed.criteria, panel: patientReach(session.user),
    });
    if (!found.ok) {
      const formError = found.problem === 'unavailable'
        ? 'The patient records could not be searched just now. Try again in a moment.'
        : 'Emergency access is not available for this data source: its patients cannot be looked up.';
      return showConsent(req, reply, interaction, session, plan, { status: found.problem === 'unavailable' ? 503 : 400, emergency: { values, formError } });
    }
    if (found.patients.length === 0) {
      const find = parsed.criteria.by === 'mrn'
        ? 'No patient has this MRN. Check it, or search by family name and date of birth.'
        : 'No patient matches this family name and date of birth. Check the spelling and the date, or search by MRN.';
      return showConsent(req, reply, interaction, session, plan, { emergency: { values, fields: { find } } });
    }
    return showConsent(req, reply, interaction, session, plan, { emergency: { values, results: { patients: found.patients, more: found.more } } });
  }

  /** Decides the next step for an interaction with a signed-in user. */
  async function proceed(req: FastifyRequest, reply: FastifyReply, interaction: Interaction, session: ActiveSession) {
    const { request } = interaction;
    if (await refusedByRole(req, reply, interaction, session)) return reply;
    const plan = consentPlan(interaction, session);
    if (await deniedByPlan(req, reply, interaction, session, plan)) return reply;
    const prior = await ctx.storage.consents.findActive(session.record.userId, request.clientId, request.resource);
    // A prior consent is reused only for the same or narrower scopes, never with prompt=consent,
    // and never when a practitioner has to choose the patient.
    const reusable = prior && plan.choice.kind !== 'pick' && !request.prompt.includes('consent') && plan.allowed.every((s) => prior.scopesGranted.includes(s))
      // Emergency access is for one emergency: its consent is never reused.
      && !(roleOf(session.user) === 'practitioner' && await isEmergencyConsent(ctx, session.record.userId, prior.id));
    if (reusable) {
      const meta = requestMeta(req);
      const patient = plan.choice.kind === 'fixed' ? plan.choice.patient : undefined;
      const location = await completeAuthorization(ctx, interaction, {
        userId: session.record.userId, authTime: session.record.authTime, amr: session.record.amr, consentId: prior.id, scopes: plan.allowed, ...meta,
        launchContext: grantLaunchContext(ctx, request, plan.allowed, patient),
      });
      return reply.redirect(location, 303);
    }
    if (request.prompt.includes('none')) {
      return reply.redirect(clientRedirect(ctx, request.redirectUri, { error: 'consent_required', state: request.state }), 303);
    }
    return showConsent(req, reply, interaction, session, plan);
  }

  app.get<IdParams>('/interaction/:id', async (req, reply) => {
    const interaction = await load(req, reply);
    if (!interaction) return reply;
    const session = await currentSession(ctx, req, reply);
    // A session weaker than the user's role now requires (e.g. from before a role change) signs in again.
    const mustLogin = !session || !sessionMeetsPolicy(ctx, session)
      || (interaction.request.prompt.includes('login') && session.record.authTime < interaction.createdAt)
      || await endSessionBeyondClientLimits(ctx, req, reply, session, interaction.request.clientId);
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
    const limited = await limitLoginRequest(ctx, req, reply, params.username ?? '', { clientId });
    if (limited) return showLogin(reply, interaction, 429, limited, params.username);
    const result = await checkLogin(ctx, params.username ?? '', params.password ?? '', meta.sourceAddress, { requestId: meta.requestId, clientId });
    if (!result.ok) return showLogin(reply, interaction, 401, loginFailureMessage(result), params.username);
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
    // The client's own session limits hold here too: a consent page left open past them needs a new sign-in.
    if (!session || !sessionMeetsPolicy(ctx, session) || await endSessionBeyondClientLimits(ctx, req, reply, session, interaction.request.clientId)) {
      return showLogin(reply, interaction);
    }
    if (await refusedByRole(req, reply, interaction, session)) return reply;
    const { request } = interaction;
    const plan = consentPlan(interaction, session);
    if (await deniedByPlan(req, reply, interaction, session, plan)) return reply;
    const { requested } = plan;
    const decision = body.get('decision');
    const meta = requestMeta(req);
    if (decision === 'breakglass' || decision === 'breakglass_search') {
      if (plan.choice.kind !== 'pick' || (await requestingClient(request)).agent) {
        return sendHtml(reply, 400, errorPage('Request refused', 'Emergency access is not offered for this request.'));
      }
      const values = emergencyFormValues(body);
      if (decision === 'breakglass_search') return searchForEmergency(req, reply, interaction, session, plan, values);
      const check = checkBreakGlassRequest(session.user, session.record.amr, body.get('bg_patient'), body.get('bg_reason'));
      if (!check.ok && check.status === 403) return showConsent(req, reply, interaction, session, plan, { status: 403, error: check.message });
      if (!check.ok) return showConsent(req, reply, interaction, session, plan, { status: 400, emergency: await emergencyAgain(req, interaction, session, values, check.fields) });
      // Minimum necessary: the emergency patient only, read-only unless unsafe.breakglass_write.
      const granted = narrowBreakGlassScopes(plan.allowed, ctx.config.unsafe.breakglass_write);
      // Nothing clinical left to grant (an app that asked only to write): no emergency access to record or announce.
      if (!granted.some((s) => tryParseSmartScope(s)?.kind === 'resource')) {
        return showConsent(req, reply, interaction, session, plan, {
          status: 400, emergency: { ...await emergencyAgain(req, interaction, session, values), formError: 'Emergency access is read-only, and this app asked for no access to read patient data.' },
        });
      }
      // The patient must exist (read as the practitioner, audited) and be off their panel: a panel patient goes to the picker.
      const confirmed = await confirmEmergencyPatient(ctx, { user: session.user, resource: request.resource, reader: readerOf(req, interaction, session), patient: check.patient });
      if (!confirmed.ok && confirmed.onPanel) {
        return showConsent(req, reply, interaction, session, plan, {
          status: 409, picker: { selected: check.patient, notice: 'This patient is on your patient list, so they are chosen here: allow access as usual. Emergency access is not needed.' },
          emergency: await emergencyAgain(req, interaction, session, values, { patient: confirmed.message }),
        });
      }
      if (!confirmed.ok) {
        return showConsent(req, reply, interaction, session, plan, {
          status: confirmed.status,
          emergency: confirmed.status === 503 ? { values, formError: confirmed.message } : await emergencyAgain(req, interaction, session, values, { patient: confirmed.message }),
        });
      }
      const denied = requested.filter((s) => !granted.includes(s));
      const consent = newConsent(session, request, granted, denied, meta, true);
      await ctx.storage.consents.create(consent);
      const grantId = newGrantId();
      await ctx.audit.record({
        type: 'consent.granted', actor: { userId: session.record.userId, clientId: request.clientId }, outcome: 'success', patient: `Patient/${check.patient}`,
        resource: request.resource, scopes: { requested, granted }, consentId: consent.id, grantId, requestId: meta.requestId,
        sourceAddress: meta.sourceAddress, details: { break_glass: true, denied: denied.join(' '), text_version: consent.textVersion },
      });
      const launchContext = await recordBreakGlass(ctx, {
        userId: session.record.userId, clientId: request.clientId, grantId, patient: check.patient, reason: check.reason, consentId: consent.id, ...meta,
        scopes: { requested, granted },
      });
      const location = await completeAuthorization(ctx, interaction, {
        userId: session.record.userId, authTime: session.record.authTime, amr: session.record.amr, consentId: consent.id, scopes: granted, ...meta,
        grantId, launchContext,
      });
      return reply.redirect(location, 303);
    }
    // Only scopes that were requested, and that this account may hold, can be granted, whatever the form says.
    const ticked = new Set(body.getAll('scope'));
    const granted = decision === 'allow' ? plan.allowed.filter((s) => ticked.has(s)) : [];
    const denied = requested.filter((s) => !granted.includes(s));
    let patient = plan.choice.kind === 'fixed' ? plan.choice.patient : undefined;
    if (granted.length && plan.choice.kind === 'pick' && needsPatient(granted)) {
      // The picker: only a patient of the practitioner's panel (anything else is refused, not guessed).
      const picked = body.getAll('patient');
      if (picked.length !== 1 || !plan.choice.patients.includes(picked[0]!)) {
        return showConsent(req, reply, interaction, session, plan, { status: 400, picker: { error: 'Choose one patient from the list.' } });
      }
      patient = picked[0];
    }
    const consent = newConsent(session, request, granted, denied, meta, decision === 'allow' && granted.length > 0);
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
      ...(patient !== undefined ? { patient: `Patient/${patient}` } : {}),
      resource: request.resource, scopes: { requested, granted }, consentId: consent.id, requestId: meta.requestId,
      sourceAddress: meta.sourceAddress, details: { denied: denied.join(' '), text_version: consent.textVersion },
    });
    const location = await completeAuthorization(ctx, interaction, {
      userId: session.record.userId, authTime: session.record.authTime, amr: session.record.amr, consentId: consent.id, scopes: granted, ...meta,
      launchContext: grantLaunchContext(ctx, request, granted, patient),
    });
    return reply.redirect(location, 303);
  });
}
