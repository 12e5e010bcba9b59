// The account's sign-in security page: see the second factors, add an authenticator app (when
// there is none) or a passkey, remove a factor, and replace the recovery codes. Requires a
// session; forms carry the account CSRF token. The first factor added also creates recovery codes.
//
// Removing a factor and creating new recovery codes first ask for a second step again
// (stepUpPage: an authenticator code, a passkey or a recovery code; re-authentication before a
// security change, OWASP ASVS 4.0 V3.7.1): a session left open must not be enough to weaken
// the account. Wrong answers count toward the account lockout like sign-in failures
// (src/interaction/login.ts). The last factor of a role that requires one cannot be removed here
// (an administrator resets a lost device with `caduceus user reset-mfa`).
//
// Every POST answers 303 (post/redirect/get); new recovery codes reach their one page through the
// session (src/interaction/flash.ts), never through a URL.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formParams, requestMeta } from '../../http/request-info.js';
import { REDACTED } from '../../audit/events.js';
import type { AppContext } from '../../context/app-context.js';
import type { MfaFactorRecord, UserRecord } from '../../storage/types.js';
import { BROWSER_COOKIE, ensureBrowserCookie, readCookie } from '../../http/cookies.js';
import { csrfToken, csrfValid } from '../csrf.js';
import { errorPage } from '../../http/html.js';
import { setFlash, takeFlash } from '../flash.js';
import { accountLocked, loginRefused, pauseMessage, recordLoginFailure, signInPause } from '../login.js';
import { currentSession, type ActiveSession } from '../session.js';
import { enrollTotp, formatSecretForHumans, issueRecoveryCodes, newTotpSecret, otpauthUri, qrCodeDataUrl, useRecoveryCode, verifyTotpCode, type FactorCheck } from './factors.js';
import { mfaRequired, sessionMeetsPolicy } from './flow.js';
import { enrolPage, factorName, recoveryCodesPage, securityPage, stepUpPage, type StepUpPageInput } from './pages.js';
import { beginPending, loadPending, savePending, type Pending } from './pending.js';
import { scriptPageOptions, sendHtml } from './routes.js';
import { enrollPasskey, passkeyAuthenticationOptions, passkeyRegistrationOptions, verifyPasskey } from './webauthn.js';

type FactorParams = { Params: { id: string } };
type StepUpMethod = 'otp' | 'recovery' | 'hwk';

const NOT_ACCEPTED = 'That was not accepted. Check it and try again, or use another way below.';

export function registerAccountSecurityRoutes(app: FastifyInstance, ctx: AppContext): void {
  /** This browser's enrolment state for the signed-in user, started when missing. */
  async function managePending(req: FastifyRequest, reply: FastifyReply, user: UserRecord): Promise<Pending> {
    const pending = await loadPending(ctx, req);
    if (pending && pending.state.purpose === 'manage' && pending.state.userId === user.id) return pending;
    return beginPending(ctx, req, reply, { purpose: 'manage', userId: user.id, stage: 'enroll', returnTo: '/account/security' });
  }

  /** The signed-in session of a page, strong enough for the account's policy; otherwise a 303 to /account (which signs in). */
  async function signedIn(req: FastifyRequest, reply: FastifyReply): Promise<ActiveSession | undefined> {
    const session = await currentSession(ctx, req, reply);
    if (session && sessionMeetsPolicy(ctx, session)) return session;
    reply.redirect('/account', 303);
    return undefined;
  }

  /** The signed-in user of a form POST with a valid account CSRF token; otherwise an answer is sent. */
  async function signedInPost(req: FastifyRequest, reply: FastifyReply): Promise<{ session: ActiveSession; user: UserRecord; params: Record<string, string | undefined> } | undefined> {
    const params = formParams(req);
    if (!csrfValid(ctx, 'account', readCookie(req, BROWSER_COOKIE), params.csrf)) {
      sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified.'));
      return undefined;
    }
    const session = await signedIn(req, reply);
    return session ? { session, user: session.user, params } : undefined;
  }

  async function showSecurity(req: FastifyRequest, reply: FastifyReply, user: UserRecord, extra: { status?: number; notice?: string; error?: string } = {}) {
    const browser = ensureBrowserCookie(req, reply);
    const pending = await managePending(req, reply, user);
    const factors = await ctx.storage.mfaFactors.listByUser(user.id);
    const options = await passkeyRegistrationOptions(ctx, user, factors);
    await savePending(ctx, pending, { ...pending.state, challenge: options.challenge });
    return sendHtml(reply, extra.status ?? 200, securityPage({
      csrf: csrfToken(ctx, 'account', browser), factors, unusedRecoveryCodes: await ctx.storage.recoveryCodes.countUnused(user.id),
      passkeyOptions: JSON.stringify(options), required: mfaRequired(ctx, user), notice: extra.notice, error: extra.error,
    }));
  }

  async function showTotpEnrolment(req: FastifyRequest, reply: FastifyReply, user: UserRecord, status = 200, error?: string) {
    const browser = ensureBrowserCookie(req, reply);
    const pending = await managePending(req, reply, user);
    const secret = pending.state.totpSecret ?? newTotpSecret();
    await savePending(ctx, pending, { ...pending.state, totpSecret: secret });
    return sendHtml(reply, status, enrolPage({
      csrf: csrfToken(ctx, 'account', browser), required: false, qrDataUrl: await qrCodeDataUrl(otpauthUri(ctx, user.username, secret)),
      secretText: formatSecretForHumans(secret), totpAction: '/account/security/totp', error, backHref: '/account/security',
    }));
  }

  /** After a factor was added: the first one brings recovery codes (shown once, on their own page), later ones a notice. */
  async function afterEnrolment(req: FastifyRequest, reply: FastifyReply, session: ActiveSession) {
    if ((await ctx.storage.recoveryCodes.countUnused(session.user.id)) === 0) {
      const codes = await issueRecoveryCodes(ctx, session.user, requestMeta(req));
      await setFlash(ctx, session, { recoveryCodes: codes });
      return reply.redirect('/account/security/recovery-codes', 303);
    }
    await setFlash(ctx, session, { notice: 'Your new second step is ready. It will be asked for at your next sign-in.' });
    return reply.redirect('/account/security', 303);
  }

  const hasTotp = (factors: readonly MfaFactorRecord[]) => factors.some((f) => f.kind === 'totp');

  app.get('/account/security', scriptPageOptions, async (req, reply) => {
    const session = await signedIn(req, reply);
    if (!session) return reply;
    const flash = await takeFlash(ctx, session);
    return showSecurity(req, reply, session.user, { notice: flash?.notice });
  });

  // One authenticator app per account: with one set up, the page offers removing it instead.
  app.get('/account/security/totp', async (req, reply) => {
    const session = await signedIn(req, reply);
    if (!session) return reply;
    if (hasTotp(await ctx.storage.mfaFactors.listByUser(session.user.id))) return reply.redirect('/account/security', 303);
    return showTotpEnrolment(req, reply, session.user);
  });

  app.post('/account/security/totp', scriptPageOptions, async (req, reply) => {
    const found = await signedInPost(req, reply);
    if (!found) return reply;
    if (hasTotp(await ctx.storage.mfaFactors.listByUser(found.user.id))) return reply.redirect('/account/security', 303);
    const pending = await loadPending(ctx, req);
    const secret = pending?.state.purpose === 'manage' && pending.state.userId === found.user.id ? pending.state.totpSecret : undefined;
    if (!pending || secret === undefined) return reply.redirect('/account/security/totp', 303);
    if (!(await enrollTotp(ctx, found.user, secret, found.params.code ?? '', requestMeta(req)))) {
      return showTotpEnrolment(req, reply, found.user, 400, 'That code did not match. Check the time on your phone and enter the newest code.');
    }
    await savePending(ctx, pending, { ...pending.state, totpSecret: undefined });
    return afterEnrolment(req, reply, found.session);
  });

  app.post('/account/security/passkey', scriptPageOptions, async (req, reply) => {
    const found = await signedInPost(req, reply);
    if (!found) return reply;
    const pending = await loadPending(ctx, req);
    const challenge = pending?.state.purpose === 'manage' && pending.state.userId === found.user.id ? pending.state.challenge : undefined;
    if (pending) await savePending(ctx, pending, { ...pending.state, challenge: undefined });
    if (!challenge || !(await enrollPasskey(ctx, found.user, challenge, found.params.credential, requestMeta(req)))) {
      return showSecurity(req, reply, found.user, { status: 400, error: 'The passkey could not be added. Try again.' });
    }
    return afterEnrolment(req, reply, found.session);
  });

  /** The one showing of new recovery codes, from the session (a reload finds them gone). */
  app.get('/account/security/recovery-codes', scriptPageOptions, async (req, reply) => {
    const session = await signedIn(req, reply);
    if (!session) return reply;
    const codes = (await takeFlash(ctx, session))?.recoveryCodes;
    if (!codes?.length) return reply.redirect('/account/security', 303);
    return sendHtml(reply, 200, recoveryCodesPage({ codes, continueHref: '/account/security', createdAt: ctx.now() }));
  });

  /** A step-up page: the ways this user can confirm, a fresh passkey challenge, errors next to their fields. */
  async function showStepUp(
    req: FastifyRequest, reply: FastifyReply, user: UserRecord,
    page: Pick<StepUpPageInput, 'title' | 'intro' | 'action' | 'submitLabel' | 'blocked' | 'errors'>, status = 200,
  ) {
    const browser = ensureBrowserCookie(req, reply);
    const factors = await ctx.storage.mfaFactors.listByUser(user.id);
    let passkeyOptions: string | undefined;
    if (factors.some((f) => f.kind === 'webauthn') && !page.blocked) {
      const pending = await managePending(req, reply, user);
      const options = await passkeyAuthenticationOptions(ctx, factors);
      await savePending(ctx, pending, { ...pending.state, challenge: options.challenge });
      passkeyOptions = JSON.stringify(options);
    }
    return sendHtml(reply, status, stepUpPage({ ...page, csrf: csrfToken(ctx, 'account', browser), hasTotp: hasTotp(factors), passkeyOptions }));
  }

  type StepUp = { ok: true; method: StepUpMethod } | { ok: false; status: 400 | 401; errors: NonNullable<StepUpPageInput['errors']> };

  /**
   * Checks the second step given on a step-up page. While sign-in is paused for the account nothing
   * is checked; a wrong answer counts toward the lockout (login.failed, like at sign-in).
   */
  async function stepUp(req: FastifyRequest, reply: FastifyReply, user: UserRecord, params: Record<string, string | undefined>): Promise<StepUp> {
    const method: StepUpMethod = params.method === 'recovery' ? 'recovery' : params.method === 'hwk' ? 'hwk' : 'otp';
    const field = method === 'otp' ? 'code' : method === 'recovery' ? 'recovery' : 'passkey';
    const meta = requestMeta(req);
    if (await loginRefused(ctx, user.username, meta.sourceAddress)) {
      const reason = (await accountLocked(ctx, user.username)) ? 'locked' : 'throttled';
      await recordLoginFailure(ctx, { username: user.username, userId: user.id, action: method, reason, meta, counted: false });
      const pause = await signInPause(ctx, user.username, meta.sourceAddress);
      return { ok: false, status: 401, errors: { [field]: pause ? pauseMessage(pause) : NOT_ACCEPTED } };
    }
    let check: FactorCheck;
    if (method === 'otp') check = await verifyTotpCode(ctx, user.id, params.code ?? '');
    else if (method === 'recovery') check = await useRecoveryCode(ctx, user.id, params.code ?? '');
    else {
      // A challenge answers once, right or wrong (W3C WebAuthn §13.4.3).
      const pending = await managePending(req, reply, user);
      const challenge = pending.state.challenge;
      await savePending(ctx, pending, { ...pending.state, challenge: undefined });
      check = challenge ? await verifyPasskey(ctx, user.id, challenge, params.credential) : { ok: false, reason: 'no_challenge' };
    }
    if (check.ok) return { ok: true, method };
    const { locked } = await recordLoginFailure(ctx, { username: user.username, userId: user.id, action: method, reason: check.reason, meta, counted: true });
    const pause = locked ? await signInPause(ctx, user.username, meta.sourceAddress) : undefined;
    return { ok: false, status: 401, errors: { [field]: pause ? pauseMessage(pause) : NOT_ACCEPTED } };
  }

  /** The factor of this user, and whether removing it would leave a role that requires a second step without one. */
  async function removal(user: UserRecord, id: string) {
    const factors = await ctx.storage.mfaFactors.listByUser(user.id);
    const factor = factors.find((f) => f.id === id);
    const blocked = factor && factors.length === 1 && mfaRequired(ctx, user)
      ? `Your account needs a second step, so ${factorName(factor)} cannot be removed while it is the only one. Add another one first.` : undefined;
    return { factor, factors, blocked };
  }

  const removalPage = (factor: MfaFactorRecord, blocked?: string) => ({
    title: `Remove ${factorName(factor)}?`,
    intro: `${factor.label} will no longer be accepted at sign-in.`,
    action: `/account/security/factors/${factor.id}/remove`,
    submitLabel: 'Remove',
    blocked,
  });

  app.get<FactorParams>('/account/security/factors/:id/remove', scriptPageOptions, async (req, reply) => {
    const session = await signedIn(req, reply);
    if (!session) return reply;
    const { factor, blocked } = await removal(session.user, req.params.id);
    if (!factor) return sendHtml(reply, 404, errorPage('Not found', 'There is no such second step on your account.'));
    return showStepUp(req, reply, session.user, removalPage(factor, blocked));
  });

  app.post<FactorParams>('/account/security/factors/:id/remove', scriptPageOptions, async (req, reply) => {
    const found = await signedInPost(req, reply);
    if (!found) return reply;
    const { user } = found;
    const { factor, factors, blocked } = await removal(user, req.params.id);
    // Another user's factor looks like no factor.
    if (!factor) return sendHtml(reply, 404, errorPage('Not found', 'There is no such second step on your account.'));
    if (blocked) return showStepUp(req, reply, user, removalPage(factor, blocked), 409);
    const verified = await stepUp(req, reply, user, found.params);
    if (!verified.ok) return showStepUp(req, reply, user, { ...removalPage(factor), errors: verified.errors }, verified.status);
    if (!(await ctx.storage.mfaFactors.remove(user.id, factor.id))) return reply.redirect('/account/security', 303);
    // With no second step left, the recovery codes (its backup) go too.
    const last = factors.length === 1;
    const codesRemoved = last ? await ctx.storage.recoveryCodes.removeByUser(user.id) : 0;
    const meta = requestMeta(req);
    await ctx.audit.record({
      type: 'user.changed', actor: { userId: user.id }, outcome: 'success', action: 'mfa_remove', resource: user.id,
      changes: [
        { field: factor.kind === 'totp' ? 'mfa.totp' : 'mfa.webauthn', before: REDACTED, after: null },
        ...(codesRemoved > 0 ? [{ field: 'mfa.recovery_codes', before: REDACTED, after: null }] : []),
      ],
      requestId: meta.requestId, sourceAddress: meta.sourceAddress, details: { factor_id: factor.id, verified_with: verified.method },
    });
    await setFlash(ctx, found.session, {
      notice: last ? `${factor.label} removed. You now sign in with your password only.` : `${factor.label} removed. It will no longer be accepted at sign-in.`,
    });
    return reply.redirect('/account/security', 303);
  });

  const newCodesPage = {
    title: 'Create new recovery codes?',
    intro: 'New codes replace the ones you have: the old codes stop working.',
    action: '/account/security/recovery-codes',
    submitLabel: 'Create new codes',
  };

  app.get('/account/security/recovery-codes/new', scriptPageOptions, async (req, reply) => {
    const session = await signedIn(req, reply);
    if (!session) return reply;
    if ((await ctx.storage.mfaFactors.listByUser(session.user.id)).length === 0) return reply.redirect('/account/security', 303);
    return showStepUp(req, reply, session.user, newCodesPage);
  });

  app.post('/account/security/recovery-codes', scriptPageOptions, async (req, reply) => {
    const found = await signedInPost(req, reply);
    if (!found) return reply;
    if ((await ctx.storage.mfaFactors.listByUser(found.user.id)).length === 0) return reply.redirect('/account/security', 303);
    const verified = await stepUp(req, reply, found.user, found.params);
    if (!verified.ok) return showStepUp(req, reply, found.user, { ...newCodesPage, errors: verified.errors }, verified.status);
    const codes = await issueRecoveryCodes(ctx, found.user, requestMeta(req));
    await setFlash(ctx, found.session, { recoveryCodes: codes });
    return reply.redirect('/account/security/recovery-codes', 303);
  });
}
