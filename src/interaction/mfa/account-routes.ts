// The account's sign-in security page: see the second factors, add an authenticator app or a
// passkey, and replace the recovery codes. Requires a session; forms carry the account CSRF token.
// The first factor added also creates recovery codes, shown once.
//
// Not offered here: removing a factor (an administrator resets a lost device with
// `caduceus user reset-mfa`).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formParams, requestMeta } from '../../http/request-info.js';
import type { AppContext } from '../../context/app-context.js';
import type { UserRecord } from '../../storage/types.js';
import { BROWSER_COOKIE, ensureBrowserCookie, readCookie } from '../../http/cookies.js';
import { csrfToken, csrfValid } from '../csrf.js';
import { errorPage } from '../../http/html.js';
import { currentSession } from '../session.js';
import { enrollTotp, formatSecretForHumans, issueRecoveryCodes, newTotpSecret, otpauthUri, qrCodeDataUrl } from './factors.js';
import { mfaRequired } from './flow.js';
import { enrolPage, recoveryCodesPage, securityPage } from './pages.js';
import { beginPending, loadPending, savePending, type Pending } from './pending.js';
import { scriptPageOptions, sendHtml } from './routes.js';
import { enrollPasskey, passkeyRegistrationOptions } from './webauthn.js';

export function registerAccountSecurityRoutes(app: FastifyInstance, ctx: AppContext): void {
  /** This browser's enrolment state for the signed-in user, started when missing. */
  async function managePending(req: FastifyRequest, reply: FastifyReply, user: UserRecord): Promise<Pending> {
    const pending = await loadPending(ctx, req);
    if (pending && pending.state.purpose === 'manage' && pending.state.userId === user.id) return pending;
    return beginPending(ctx, req, reply, { purpose: 'manage', userId: user.id, stage: 'enroll', returnTo: '/account/security' });
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

  /** The signed-in user of a form POST with a valid account CSRF token; otherwise an answer is sent. */
  async function signedInPost(req: FastifyRequest, reply: FastifyReply): Promise<{ user: UserRecord; params: Record<string, string | undefined> } | undefined> {
    const params = formParams(req);
    if (!csrfValid(ctx, 'account', readCookie(req, BROWSER_COOKIE), params.csrf)) {
      sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified.'));
      return undefined;
    }
    const session = await currentSession(ctx, req, reply);
    if (!session) {
      reply.redirect('/account', 303);
      return undefined;
    }
    return { user: session.user, params };
  }

  /** After a factor was added: the first one brings recovery codes (shown once), later ones a notice. */
  async function afterEnrolment(req: FastifyRequest, reply: FastifyReply, user: UserRecord) {
    if ((await ctx.storage.recoveryCodes.countUnused(user.id)) === 0) {
      const codes = await issueRecoveryCodes(ctx, user, requestMeta(req));
      return sendHtml(reply, 200, recoveryCodesPage({ codes, continueHref: '/account/security' }));
    }
    return showSecurity(req, reply, user, { notice: 'Your new second step is ready. It will be asked for at your next sign-in.' });
  }

  app.get('/account/security', scriptPageOptions, async (req, reply) => {
    const session = await currentSession(ctx, req, reply);
    if (!session) return reply.redirect('/account', 303);
    return showSecurity(req, reply, session.user);
  });

  app.get('/account/security/totp', async (req, reply) => {
    const session = await currentSession(ctx, req, reply);
    if (!session) return reply.redirect('/account', 303);
    return showTotpEnrolment(req, reply, session.user);
  });

  app.post('/account/security/totp', scriptPageOptions, async (req, reply) => {
    const found = await signedInPost(req, reply);
    if (!found) return reply;
    const pending = await loadPending(ctx, req);
    const secret = pending?.state.purpose === 'manage' && pending.state.userId === found.user.id ? pending.state.totpSecret : undefined;
    if (!pending || secret === undefined) return reply.redirect('/account/security/totp', 303);
    if (!(await enrollTotp(ctx, found.user, secret, found.params.code ?? '', requestMeta(req)))) {
      return showTotpEnrolment(req, reply, found.user, 400, 'That code did not match. Check the time on your phone and enter the newest code.');
    }
    await savePending(ctx, pending, { ...pending.state, totpSecret: undefined });
    return afterEnrolment(req, reply, found.user);
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
    return afterEnrolment(req, reply, found.user);
  });

  app.post('/account/security/recovery-codes', async (req, reply) => {
    const found = await signedInPost(req, reply);
    if (!found) return reply;
    if ((await ctx.storage.mfaFactors.listByUser(found.user.id)).length === 0) return reply.redirect('/account/security', 303);
    const codes = await issueRecoveryCodes(ctx, found.user, requestMeta(req));
    return sendHtml(reply, 200, recoveryCodesPage({ codes, continueHref: '/account/security' }));
  });
}
