// Signing in to the console: username, password and the second factor on one form, always (45 CFR
// 164.312(d); the console never accepts a password alone, whatever mfa.required_roles says). The
// password step shares the users' lockout and its ledger events (src/interaction/login.ts); a
// wrong code counts as a failure too. Only enabled administrator accounts get a console session;
// anyone else gets the same answer as a wrong password, so the form reveals no role.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { html, raw } from '../../http/html.js';
import { roleOf } from '../../identity/role-policy.js';
import { checkLogin, clearLoginFailures, recordLoginFailure } from '../../interaction/login.js';
import { adminPage } from './layout.js';
import { checkSecondFactor, formOf, sendPage } from './guard.js';
import { currentAdminSession, endAdminSession, startAdminSession } from './session.js';
import { csrfValid } from '../../interaction/csrf.js';
import { CONSOLE_CSRF_PURPOSE } from './guard.js';

export const SIGN_IN_FAILURE = 'The username, password or code is not correct, or this account cannot use the admin console.';
export const NO_SECOND_FACTOR = 'An administrator signs in with a second factor. Set up an authenticator app on your account page (/account/security), then sign in here.';

/** Where to go after sign-in: a console path only (never another origin or page). */
export function safeNext(next: string | undefined): string {
  return next !== undefined && /^\/admin(\/[A-Za-z0-9/_.~%?=&+-]*)?$/.test(next) && !next.startsWith('/admin/login') ? next : '/admin';
}

function signInPage(input: { next: string; username?: string; error?: string }): string {
  return adminPage({
    title: 'Sign in to the admin console',
    body: html`<form method="post" action="/admin/login">
<input type="hidden" name="next" value="${input.next}">
${input.error ? html`<p class="error" role="alert" id="sign_in_error">${input.error}</p>` : ''}
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" required value="${input.username ?? ''}"${raw(input.error ? ' aria-describedby="sign_in_error"' : '')}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<label for="code">Code from your authenticator app, or a recovery code</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
<div class="actions"><button type="submit" class="primary">Sign in</button></div>
</form>
<p class="muted">For administrators of this server. Every sign-in and every action is recorded in the audit ledger.</p>`,
  });
}

export function registerSignIn(app: FastifyInstance, ctx: AppContext): void {
  app.get('/admin/login', async (req: FastifyRequest<{ Querystring: { next?: string } }>, reply) => {
    if (await currentAdminSession(ctx, req, reply)) return reply.code(303).header('location', safeNext(req.query.next)).send();
    return sendPage(reply, 200, signInPage({ next: safeNext(req.query.next) }));
  });

  app.post('/admin/login', async (req, reply) => {
    const form = formOf(req);
    const username = (form.username ?? '').slice(0, 200);
    const next = safeNext(form.next);
    const meta = { requestId: String(req.id), sourceAddress: req.ip };
    const fail = (status: number, error: string) => sendPage(reply, status, signInPage({ next, username, error }));
    const login = await checkLogin(ctx, username, form.password ?? '', req.ip, { requestId: meta.requestId });
    if (!login.ok) return fail(401, SIGN_IN_FAILURE);
    const { user } = login;
    if (roleOf(user) !== 'administrator') {
      await recordLoginFailure(ctx, { username, userId: user.id, action: 'admin_console', reason: 'not_administrator', meta, counted: false });
      return fail(401, SIGN_IN_FAILURE);
    }
    const factors = await ctx.storage.mfaFactors.listByUser(user.id);
    if (!factors.some((f) => f.kind === 'totp') && (await ctx.storage.recoveryCodes.countUnused(user.id)) === 0) {
      await recordLoginFailure(ctx, { username, userId: user.id, action: 'admin_console', reason: 'mfa_not_enrolled', meta, counted: false });
      return fail(401, NO_SECOND_FACTOR);
    }
    const second = await checkSecondFactor(ctx, user.id, form.code ?? '');
    if (!second.ok) {
      await recordLoginFailure(ctx, { username, userId: user.id, action: 'otp', reason: second.reason, meta, counted: true });
      return fail(401, SIGN_IN_FAILURE);
    }
    const session = await startAdminSession(ctx, req, reply, user);
    await clearLoginFailures(ctx, user.username);
    await ctx.audit.record({
      type: 'login.succeeded', actor: { userId: user.id }, outcome: 'success', action: second.method,
      requestId: meta.requestId, sourceAddress: meta.sourceAddress, sessionId: session.record.digest.slice(0, 16),
      details: { console: 'admin', amr: `pwd ${second.method === 'otp' ? 'otp' : 'kba'}` },
    });
    return reply.code(303).header('location', next).send();
  });

  app.post('/admin/logout', async (req, reply: FastifyReply) => {
    const session = await currentAdminSession(ctx, req, reply);
    if (session && csrfValid(ctx, CONSOLE_CSRF_PURPOSE, session.cookie, formOf(req).csrf)) {
      await endAdminSession(ctx, req, reply);
      await ctx.audit.record({
        type: 'logout', actor: { userId: session.user.id }, outcome: 'success', requestId: String(req.id), sourceAddress: req.ip,
        details: { console: 'admin' },
      });
    }
    return reply.code(303).header('location', '/admin/login').send();
  });
}
