// The second step of sign-in (TOTP code, recovery code or passkey) and first-factor enrolment for
// roles that require one, between the password and the session. Every form is CSRF protected
// (token bound to the pending-login cookie); every redirect after a POST is a 303.
//
// Failures of the second step count toward the account lockout like password failures
// (src/interaction/login.ts); a lockout ends the pending sign-in.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { formParams, requestMeta } from '../../http/request-info.js';
import { contentSecurityPolicy } from '../../http/security-headers.js';
import type { AppContext } from '../../context/app-context.js';
import type { UserRecord } from '../../storage/types.js';
import { csrfToken, csrfValid } from '../csrf.js';
import { WEBAUTHN_SCRIPT_PATH } from '../../http/html.js';
import { loginRefused, accountLocked, pauseMessage, recordLoginFailure, signInPause } from '../login.js';
import { errorPage } from '../../http/html.js';
import { enrollTotp, formatSecretForHumans, issueRecoveryCodes, newTotpSecret, otpauthUri, qrCodeDataUrl, useRecoveryCode, verifyTotpCode, type FactorCheck } from './factors.js';
import { completeLogin } from './flow.js';
import { setFlash, takeFlash } from '../flash.js';
import { currentSession } from '../session.js';
import { enrolPage, recoveryCodesPage, secondFactorPage } from './pages.js';
import { endPending, loadPending, savePending, type Pending } from './pending.js';
import { WEBAUTHN_SCRIPT } from './script.js';
import { enrollPasskey, passkeyAuthenticationOptions, passkeyRegistrationOptions, verifyPasskey } from './webauthn.js';

/** Where the recovery codes made at sign-in are shown, once (post/redirect/get). */
export const RECOVERY_CODES_PATH = '/login/mfa/recovery-codes';

export const SECOND_FACTOR_FAILURE = 'That was not accepted. Check the code, or try another way below.';
export const SIGN_IN_EXPIRED = 'This sign-in has expired or was already completed. Start again from the application.';
const LOCKED_OUT = 'The account cannot sign in right now. Try again later.';

/** The refusal page of a paused sign-in: that it is paused and for how long (src/interaction/login.ts). */
async function pausedPage(ctx: AppContext, username: string, address: string): Promise<string> {
  const pause = await signInPause(ctx, username, address);
  return errorPage('Sign-in paused', pause ? pauseMessage(pause) : LOCKED_OUT);
}

export const sendHtml = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/html; charset=utf-8').send(body);

/**
 * Route options for a page that loads /static/webauthn.js: its CSP adds `script-src 'self'`
 * (route-level onSend hooks run after the application's, which set the script-free policy).
 * form-action stays out for the reason given in src/http/security-headers.ts.
 */
export const scriptPageOptions: RouteShorthandOptions = {
  onSend: async (_req, reply, payload) => {
    if (String(reply.getHeader('content-type') ?? '').startsWith('text/html')) {
      reply.header('content-security-policy', contentSecurityPolicy({ allowSameOriginScript: true, formAction: null }));
    }
    return payload;
  },
};

type Factor = 'otp' | 'recovery' | 'hwk';

export function registerMfaRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get(WEBAUTHN_SCRIPT_PATH, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=3600').type('text/javascript; charset=utf-8');
    return WEBAUTHN_SCRIPT;
  });

  /** The pending sign-in of this browser at `stage`, and its (enabled) user; otherwise an answer is sent. */
  async function requirePending(req: FastifyRequest, reply: FastifyReply, stage: 'verify' | 'enroll'): Promise<{ pending: Pending; user: UserRecord } | undefined> {
    const pending = await loadPending(ctx, req);
    if (!pending || pending.state.purpose !== 'login') {
      sendHtml(reply, 400, errorPage('Sign-in expired', SIGN_IN_EXPIRED));
      return undefined;
    }
    const user = await ctx.storage.users.getById(pending.state.userId);
    if (!user || user.disabled) {
      await endPending(ctx, req, reply);
      sendHtml(reply, 400, errorPage('Sign-in expired', SIGN_IN_EXPIRED));
      return undefined;
    }
    if (pending.state.stage !== stage) {
      reply.redirect(pending.state.stage === 'verify' ? '/login/mfa' : '/login/mfa/enroll', 303);
      return undefined;
    }
    return { pending, user };
  }

  const formCsrf = (pending: Pending) => csrfToken(ctx, 'mfa', pending.cookie);

  async function showSecondFactor(reply: FastifyReply, pending: Pending, user: UserRecord, status = 200, error?: string) {
    const factors = await ctx.storage.mfaFactors.listByUser(user.id);
    const hasPasskey = factors.some((f) => f.kind === 'webauthn');
    let passkeyOptions: string | undefined;
    if (hasPasskey) {
      const options = await passkeyAuthenticationOptions(ctx, factors);
      await savePending(ctx, pending, { ...pending.state, challenge: options.challenge });
      passkeyOptions = JSON.stringify(options);
    }
    return sendHtml(reply, status, secondFactorPage({ csrf: formCsrf(pending), hasTotp: factors.some((f) => f.kind === 'totp'), passkeyOptions, error }));
  }

  async function showEnrolment(reply: FastifyReply, pending: Pending, user: UserRecord, status = 200, error?: string) {
    const secret = pending.state.totpSecret ?? newTotpSecret();
    const options = await passkeyRegistrationOptions(ctx, user, []);
    await savePending(ctx, pending, { ...pending.state, totpSecret: secret, challenge: options.challenge });
    return sendHtml(reply, status, enrolPage({
      csrf: formCsrf(pending), required: true, qrDataUrl: await qrCodeDataUrl(otpauthUri(ctx, user.username, secret)),
      secretText: formatSecretForHumans(secret), totpAction: '/login/mfa/enroll/totp', passkeyAction: '/login/mfa/enroll/passkey',
      passkeyOptions: JSON.stringify(options), error,
    }));
  }

  app.get('/login/mfa', scriptPageOptions, async (req, reply) => {
    const found = await requirePending(req, reply, 'verify');
    if (!found) return reply;
    return showSecondFactor(reply, found.pending, found.user);
  });

  async function secondStep(req: FastifyRequest, reply: FastifyReply, factor: Factor) {
    const found = await requirePending(req, reply, 'verify');
    if (!found) return reply;
    const { pending, user } = found;
    const params = formParams(req);
    if (!csrfValid(ctx, 'mfa', pending.cookie, params.csrf)) {
      return sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified. Start again from the application.'));
    }
    const meta = requestMeta(req);
    const { clientId } = pending.state;
    const action = factor;
    if (await loginRefused(ctx, user.username, meta.sourceAddress)) {
      const reason = (await accountLocked(ctx, user.username)) ? 'locked' : 'throttled';
      await recordLoginFailure(ctx, { username: user.username, userId: user.id, clientId, action, reason, meta, counted: false });
      await endPending(ctx, req, reply);
      return sendHtml(reply, 401, await pausedPage(ctx, user.username, meta.sourceAddress));
    }
    let check: FactorCheck;
    if (factor === 'otp') {
      check = await verifyTotpCode(ctx, user.id, params.code ?? '');
    } else if (factor === 'recovery') {
      check = await useRecoveryCode(ctx, user.id, params.code ?? '');
    } else {
      // A challenge answers once, right or wrong (W3C WebAuthn §13.4.3).
      const challenge = pending.state.challenge;
      await savePending(ctx, pending, { ...pending.state, challenge: undefined });
      check = challenge ? await verifyPasskey(ctx, user.id, challenge, params.credential) : { ok: false, reason: 'no_challenge' };
    }
    if (!check.ok) {
      const { locked } = await recordLoginFailure(ctx, { username: user.username, userId: user.id, clientId, action, reason: check.reason, meta, counted: true });
      if (locked) {
        await endPending(ctx, req, reply);
        return sendHtml(reply, 401, await pausedPage(ctx, user.username, meta.sourceAddress));
      }
      return showSecondFactor(reply, pending, user, 401, SECOND_FACTOR_FAILURE);
    }
    await endPending(ctx, req, reply);
    await completeLogin(ctx, reply, user, factor === 'hwk' ? ['pwd', 'hwk'] : ['pwd', 'otp'], action, { clientId, meta });
    return reply.redirect(pending.state.returnTo, 303);
  }

  app.post('/login/mfa/totp', scriptPageOptions, (req, reply) => secondStep(req, reply, 'otp'));
  app.post('/login/mfa/recovery', scriptPageOptions, (req, reply) => secondStep(req, reply, 'recovery'));
  app.post('/login/mfa/passkey', scriptPageOptions, (req, reply) => secondStep(req, reply, 'hwk'));

  app.get('/login/mfa/enroll', scriptPageOptions, async (req, reply) => {
    const found = await requirePending(req, reply, 'enroll');
    if (!found) return reply;
    return showEnrolment(reply, found.pending, found.user);
  });

  /** Enrols the first factor at sign-in, then signs in and shows the recovery codes once. */
  async function enrolStep(req: FastifyRequest, reply: FastifyReply, factor: 'otp' | 'hwk') {
    const found = await requirePending(req, reply, 'enroll');
    if (!found) return reply;
    const { pending, user } = found;
    const params = formParams(req);
    if (!csrfValid(ctx, 'mfa', pending.cookie, params.csrf)) {
      return sendHtml(reply, 403, errorPage('Request refused', 'The form could not be verified. Start again from the application.'));
    }
    const meta = requestMeta(req);
    let enrolled = false;
    if (factor === 'otp') {
      enrolled = pending.state.totpSecret !== undefined && (await enrollTotp(ctx, user, pending.state.totpSecret, params.code ?? '', meta));
    } else {
      const challenge = pending.state.challenge;
      await savePending(ctx, pending, { ...pending.state, challenge: undefined });
      enrolled = challenge !== undefined && (await enrollPasskey(ctx, user, challenge, params.credential, meta));
    }
    if (!enrolled) {
      return showEnrolment(reply, pending, user, 400, factor === 'otp'
        ? 'That code did not match. Check the time on your phone and enter the newest code.'
        : 'The passkey could not be set up. Try again, or use an authenticator app.');
    }
    await endPending(ctx, req, reply);
    const codes = await issueRecoveryCodes(ctx, user, meta);
    const session = await completeLogin(ctx, reply, user, factor === 'hwk' ? ['pwd', 'hwk'] : ['pwd', 'otp'], factor, { clientId: pending.state.clientId, meta });
    // Post/redirect/get: the codes are shown once, from the new session, at a page a reload cannot resubmit.
    await setFlash(ctx, session, { recoveryCodes: codes, continueHref: pending.state.returnTo });
    return reply.redirect(RECOVERY_CODES_PATH, 303);
  }

  /** The one showing of the recovery codes made at sign-in; a reload finds them gone. */
  app.get(RECOVERY_CODES_PATH, scriptPageOptions, async (req, reply) => {
    const session = await currentSession(ctx, req, reply);
    const flash = session && (await takeFlash(ctx, session));
    const continueHref = flash?.continueHref !== undefined && /^\/(?!\/)/.test(flash.continueHref) ? flash.continueHref : '/account';
    if (!flash?.recoveryCodes?.length) return reply.redirect(session ? continueHref : '/account', 303);
    return sendHtml(reply, 200, recoveryCodesPage({ codes: flash.recoveryCodes, continueHref, createdAt: ctx.now() }));
  });

  app.post('/login/mfa/enroll/totp', scriptPageOptions, (req, reply) => enrolStep(req, reply, 'otp'));
  app.post('/login/mfa/enroll/passkey', scriptPageOptions, (req, reply) => enrolStep(req, reply, 'hwk'));
}
