// The page where a user chooses their password through the one-time link an administrator made
// (src/admin/users.ts: the administrator never types or sees it; 45 CFR 164.308(a)(5)(ii)(D)).
// It lives outside /admin, on the application itself, so that the console's IP allow-list never
// keeps a user out. The form is bound to the browser by a CSRF token over the browser cookie; the
// link is checked when shown and taken atomically when used, so it works once; an expired or used
// link says so plainly. Success answers 303 to a result page.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEventInput } from '../../audit/events.js';
import type { AppContext } from '../../context/app-context.js';
import { BROWSER_COOKIE, ensureBrowserCookie, readCookie } from '../../http/cookies.js';
import { html, page, raw } from '../../http/html.js';
import { csrfToken, csrfValid } from '../../interaction/csrf.js';
import { MIN_PASSWORD_LENGTH, PASSWORD_LINK_PATH, peekPasswordLink, setPasswordWithLink } from '../users.js';
import { formOf, sendPage } from './guard.js';

const CSRF_PURPOSE = 'password-link';

export const LINK_UNUSABLE = 'This link no longer works: it was already used, or it has expired. Ask your administrator for a new link.';
export const FORM_EXPIRED = 'This form could not be checked (it may be from another browser window). Nothing was changed. Open your link again.';

export function registerPasswordLinkPage(app: FastifyInstance, ctx: AppContext): void {
  const deps = (req: FastifyRequest) => ({
    storage: ctx.storage, masterKey: ctx.masterKey, now: () => ctx.now(),
    audit: { record: (e: AuditEventInput) => ctx.audit.record({ requestId: String(req.id), sourceAddress: req.ip, ...e }) },
  });

  app.get(PASSWORD_LINK_PATH, async (req: FastifyRequest<{ Querystring: { token?: string; done?: string } }>, reply) => {
    if (req.query.done === '1') {
      return sendPage(reply, 200, page('Your password is set', html`<h1>Your password is set</h1>
<p class="notice" role="status">You can now sign in with your username and your new password. This link no longer works.</p>
<p><a href="/account">Go to your account</a></p>`));
    }
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    const user = await peekPasswordLink(deps(req), token);
    if (!user) return sendUnusable(reply);
    const browser = ensureBrowserCookie(req, reply);
    return sendPage(reply, 200, formPage({ username: user.username, token, csrf: csrfToken(ctx, CSRF_PURPOSE, browser) }));
  });

  app.post(PASSWORD_LINK_PATH, async (req, reply) => {
    const form = formOf(req);
    const token = form.token ?? '';
    const browser = readCookie(req, BROWSER_COOKIE);
    if (!csrfValid(ctx, CSRF_PURPOSE, browser, form.csrf)) {
      return sendPage(reply, 403, page('Open your link again', html`<h1>Open your link again</h1><p class="error" role="alert">${FORM_EXPIRED}</p>`));
    }
    const result = await setPasswordWithLink(deps(req), token, form.password ?? '', form.confirmation ?? '');
    if (result.ok) return reply.code(303).header('location', `${PASSWORD_LINK_PATH}?done=1`).send();
    if (result.reason === 'link_unusable') return sendUnusable(reply);
    const user = await peekPasswordLink(deps(req), token);
    if (!user) return sendUnusable(reply);
    return sendPage(reply, 400, formPage({ username: user.username, token, csrf: form.csrf!, error: { field: result.field, message: result.message } }));
  });
}

function sendUnusable(reply: FastifyReply): FastifyReply {
  return sendPage(reply, 410, page('This link no longer works', html`<h1>This link no longer works</h1><p class="error" role="alert">${LINK_UNUSABLE}</p>`));
}

function formPage(input: { username: string; token: string; csrf: string; error?: { field: 'password' | 'confirmation'; message: string } }): string {
  const { error } = input;
  const invalid = (field: string) => raw(error?.field === field ? ` aria-invalid="true" aria-describedby="${field}-error"` : '');
  const message = (field: string) => (error?.field === field ? html`<div class="field-error"><p class="error" id="${field}-error">${error.message}</p></div>` : '');
  return page('Choose your password', html`<h1>Choose your password</h1>
${error ? html`<p class="error" role="alert">Your password was not set. See the message below.</p>` : ''}
<form method="post" action="${PASSWORD_LINK_PATH}">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="token" value="${input.token}">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${input.username}" autocomplete="username" readonly>
<label for="password">New password</label>
<input type="password" id="password" name="password" autocomplete="new-password" required minlength="${MIN_PASSWORD_LENGTH}" maxlength="256"${invalid('password')}>
${message('password')}
<p class="muted">At least ${MIN_PASSWORD_LENGTH} characters. A passphrase of a few unrelated words is easy to remember and hard to guess.</p>
<label for="confirmation">New password again</label>
<input type="password" id="confirmation" name="confirmation" autocomplete="new-password" required minlength="${MIN_PASSWORD_LENGTH}" maxlength="256"${invalid('confirmation')}>
${message('confirmation')}
<div class="actions"><button type="submit" class="primary">Set my password</button></div>
</form>
<p class="muted">This link works once. Your administrator never sees your password.</p>`);
}
