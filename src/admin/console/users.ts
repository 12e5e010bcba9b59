// The console's Users section (45 CFR 164.308(a)(4) access authorization and modification): find
// accounts by username, add one whose owner sets the password through a one-time link (shown once,
// never stored), and on an account's page change its role, patient panel and emergency-access
// permission, unlock its sign-in, reset its second factors, send a new password link, disable or
// enable it. The rules are src/admin/users.ts, shared with the admin API and the CLI; each change
// is a user.changed ledger event with the administrator as actor. Changing a role, resetting
// second factors, making a password link, disabling and enabling ask for the second factor again
// when the last check is older than admin_console.step_up_max_age (45 CFR 164.312(d)).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ConfigError } from '../../config/schema.js';
import type { AppContext } from '../../context/app-context.js';
import { html, raw, type Raw } from '../../http/html.js';
import { USER_ROLES, roleOf } from '../../identity/role-policy.js';
import { accountLocked, clearLoginFailures } from '../../interaction/login.js';
import type { UserRecord } from '../../storage/types.js';
import type { AdminDeps } from '../clients.js';
import {
  addUserWithPasswordLink, passwordLinkUrl, resetUserMfa, searchUsers, sendPasswordLink, setUserBreakGlass, setUserDisabled,
  setUserPatientPanel, setUserRole, unlockUser, type LockoutControl, type PasswordLink,
} from '../users.js';
import { consoleDeps, consoleGet, consolePost, formOf, sendPage, type ConsoleRequest } from './guard.js';
import { adminPage, csrfField } from './layout.js';
import type { AdminConsoleOptions } from './services.js';
import { formatTime } from './view.js';


/** The sign-in lockout of src/interaction/login.ts for the unlock action. */
export function lockoutOf(ctx: AppContext): LockoutControl {
  return { locked: (username) => accountLocked(ctx, username), clear: (username) => clearLoginFailures(ctx, username) };
}

/** A service's refusal as the console shows it: the field's wire name and the problem. */
export function problemOf(err: unknown): string | undefined {
  if (!(err instanceof ConfigError)) return undefined;
  const text = err.problems[0] ?? 'invalid input';
  return text.replace(/^--/, '');
}

/** An error message under a field, tied to it by aria-describedby (`${id}-error`). */
export function fieldError(id: string, message: string | undefined): Raw {
  return message ? html`<p class="error" id="${id}-error">${message}</p>` : html``;
}

/** aria-invalid and aria-describedby for a field with an error. */
export function invalidAttrs(id: string, message: string | undefined): Raw {
  return raw(message ? ` aria-invalid="true" aria-describedby="${id}-error"` : '');
}

/** Outside /admin/users/ so that no username ("new" is one) can collide with it. */
const NEW_USER_PATH = '/admin/new-user';

const userPath = (username: string) => `/admin/users/${encodeURIComponent(username)}`;

/** What each ?done= keyword of a user's page says (never user data in the URL). */
const DONE: Record<string, string> = {
  role: 'The role was changed. Any console session of this account has ended.',
  panel: 'The patient panel was saved.',
  break_glass_on: 'Emergency access is allowed for this practitioner.',
  break_glass_off: 'Emergency access is withdrawn.',
  unlocked: 'Sign-in is unlocked: the failed attempts are forgotten.',
  mfa_reset: 'The second factors and recovery codes were removed. If the role requires one, the user sets it up at the next sign-in.',
  disabled: 'The account is disabled: its grants and tokens are revoked and its console sessions ended.',
  enabled: 'The account is enabled.',
};

const ROLE_LABEL: Record<string, string> = { patient: 'Patient', practitioner: 'Practitioner', administrator: 'Administrator' };

export function registerUsersSection(app: FastifyInstance, ctx: AppContext, _options: AdminConsoleOptions): void {
  consoleGet(app, ctx, '/admin/users', async (req, reply, admin) => {
    const query = req.query as { q?: string; page?: string; done?: string };
    const q = typeof query.q === 'string' ? query.q.slice(0, 128) : '';
    const page = /^\d{1,6}$/.test(query.page ?? '') ? Math.max(1, Number(query.page)) : 1;
    const { users, more } = await searchUsers(ctx, { query: q, page });
    const pageLink = (n: number) => `/admin/users?${new URLSearchParams({ ...(q ? { q } : {}), page: String(n) }).toString()}`;
    return sendPage(reply, 200, adminPage({
      title: 'Users', username: admin.session.user.username, csrf: admin.csrf, section: '/users',
      body: html`<form method="get" action="/admin/users" class="filters" role="search">
<div><label for="q">Username contains</label>
<input type="search" id="q" name="q" value="${q}" maxlength="128"></div>
<div><button type="submit" class="secondary">Search</button></div>
</form>
<p><a href="${NEW_USER_PATH}">Add a user</a></p>
${users.length === 0 ? html`<p>No account matches.</p>` : html`<table><caption class="muted">Accounts${q ? html` whose username contains “${q}”` : ''}, page ${page}</caption>
<thead><tr><th scope="col">Username</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Linked record</th><th scope="col">Created</th></tr></thead><tbody>
${users.map((u) => html`<tr><td><a href="${userPath(u.username)}">${u.username}</a></td><td>${ROLE_LABEL[roleOf(u)]}</td><td>${u.disabled ? html`<span class="badge bad">disabled</span>` : 'enabled'}</td><td class="mono">${u.fhirUser ?? ''}</td><td>${formatTime(u.createdAt)}</td></tr>`)}
</tbody></table>`}
<nav class="pager" aria-label="Pages of users">${page > 1 ? html`<a href="${pageLink(page - 1)}">Previous page</a>` : ''}${more ? html`<a href="${pageLink(page + 1)}">Next page</a>` : ''}</nav>`,
    }));
  });

  consoleGet(app, ctx, NEW_USER_PATH, async (_req, reply, admin) => sendPage(reply, 200, newUserPage(admin, {}, {})));

  consolePost(app, ctx, NEW_USER_PATH, async (req, reply, admin) => {
    const form = formOf(req);
    const input = { username: (form.username ?? '').trim(), role: form.role ?? 'patient', fhir_user: (form.fhir_user ?? '').trim(), patient_panel: (form.patient_panel ?? '').trim() };
    try {
      const { user, link } = await addUserWithPasswordLink(consoleDeps(ctx, admin), {
        username: input.username, role: input.role, ...(input.fhir_user ? { fhirUser: input.fhir_user } : {}),
        ...(input.patient_panel ? { patientPanel: [input.patient_panel] } : {}),
      }, ctx.config.admin_console.password_link_ttl);
      return sendLinkPage(ctx, reply, admin, user, link, 'User added');
    } catch (err) {
      const problem = problemOf(err);
      if (problem === undefined) throw err;
      const field = /^(username|role|fhir_user|patient_panel|patients)\b/.exec(problem)?.[1] ?? 'username';
      return sendPage(reply, 400, newUserPage(admin, input, { [field === 'patients' ? 'patient_panel' : field]: problem }));
    }
  }, { stepUp: true });

  consoleGet(app, ctx, '/admin/users/:username', async (req, reply, admin) => {
    const user = await ctx.storage.users.getByUsername((req.params as { username: string }).username);
    if (!user) return sendNoSuchUser(reply, admin);
    const done = DONE[(req.query as { done?: string }).done ?? ''];
    return sendPage(reply, 200, await userPage(ctx, admin, user, { notice: done }));
  });

  /** A user action: the account, then the change; a refusal is shown next to its form (400), success is a 303 to the page. */
  const action = (path: string, run: (deps: AdminDeps, user: UserRecord, form: Record<string, string>) => Promise<string | undefined>, options: { stepUp?: boolean; errorSlot: string }) => {
    consolePost(app, ctx, `/admin/users/:username/${path}`, async (req, reply, admin) => {
      const user = await ctx.storage.users.getByUsername((req.params as { username: string }).username);
      if (!user) return sendNoSuchUser(reply, admin);
      try {
        const done = await run(consoleDeps(ctx, admin), user, formOf(req));
        return reply.code(303).header('location', `${userPath(user.username)}${done ? `?done=${done}` : ''}`).send();
      } catch (err) {
        const problem = problemOf(err);
        if (problem === undefined) throw err;
        return sendPage(reply, 400, await userPage(ctx, admin, user, { errors: { [options.errorSlot]: problem } }));
      }
    }, { stepUp: options.stepUp });
  };

  action('role', async (deps, user, form) => {
    await setUserRole(deps, user.username, form.role ?? '', 'role');
    return 'role';
  }, { stepUp: true, errorSlot: 'role' });

  action('panel', async (deps, user, form) => {
    await setUserPatientPanel(deps, user.username, [form.patients ?? '']);
    return 'panel';
  }, { errorSlot: 'patients' });

  action('break-glass', async (deps, user, form) => {
    const allowed = form.allowed === 'on';
    await setUserBreakGlass(deps, user.username, allowed);
    return allowed ? 'break_glass_on' : 'break_glass_off';
  }, { stepUp: true, errorSlot: 'break_glass' });

  action('unlock', async (deps, user) => {
    await unlockUser(deps, user.username, lockoutOf(ctx));
    return 'unlocked';
  }, { errorSlot: 'unlock' });

  action('mfa-reset', async (deps, user) => {
    await resetUserMfa(deps, user.username);
    return 'mfa_reset';
  }, { stepUp: true, errorSlot: 'mfa' });

  action('status', async (deps, user, form) => {
    const disabled = form.disabled === 'on';
    await setUserDisabled(deps, user.username, disabled);
    return disabled ? 'disabled' : 'enabled';
  }, { stepUp: true, errorSlot: 'status' });

  // The one exception to post/redirect/get: the new link is shown in this response, once.
  consolePost(app, ctx, '/admin/users/:username/password-link', async (req, reply, admin) => {
    const user = await ctx.storage.users.getByUsername((req.params as { username: string }).username);
    if (!user) return sendNoSuchUser(reply, admin);
    try {
      const link = await sendPasswordLink(consoleDeps(ctx, admin), user.username, ctx.config.admin_console.password_link_ttl);
      return sendLinkPage(ctx, reply, admin, user, link!, 'New password link');
    } catch (err) {
      const problem = problemOf(err);
      if (problem === undefined) throw err;
      return sendPage(reply, 400, await userPage(ctx, admin, user, { errors: { password_link: problem } }));
    }
  }, { stepUp: true });
}

function sendNoSuchUser(reply: FastifyReply, admin: ConsoleRequest): FastifyReply {
  return sendPage(reply, 404, adminPage({
    title: 'No such user', username: admin.session.user.username, csrf: admin.csrf, section: '/users',
    body: html`<p class="error" role="alert">No account has this username.</p><p><a href="/admin/users">Back to the users</a></p>`,
  }));
}

interface NewUserFields { username?: string; role?: string; fhir_user?: string; patient_panel?: string }

function newUserPage(admin: ConsoleRequest, values: NewUserFields, errors: Record<string, string>): string {
  const role = values.role ?? 'patient';
  return adminPage({
    title: 'Add a user', username: admin.session.user.username, csrf: admin.csrf, section: '/users',
    body: html`<p>The new user chooses their own password: after you add the account you get a one-time link to give them. You never see or type their password.</p>
${Object.keys(errors).length ? html`<p class="error" role="alert">The account was not added. Correct the field marked below.</p>` : ''}
<form method="post" action="${NEW_USER_PATH}" class="compact">
${csrfField(admin.csrf)}
<label for="username">Username</label>
<input type="text" id="username" name="username" required maxlength="128" autocomplete="off" value="${values.username ?? ''}"${invalidAttrs('username', errors.username)}>
${fieldError('username', errors.username)}
<p class="muted">3 to 128 letters, digits, “.”, “_”, “@”, “+” or “-”. Not a medical record number.</p>
<label for="role">Role</label>
<select id="role" name="role"${invalidAttrs('role', errors.role)}>${USER_ROLES.map((r) => html`<option value="${r}"${raw(r === role ? ' selected' : '')}>${ROLE_LABEL[r]}</option>`)}</select>
${fieldError('role', errors.role)}
<label for="fhir_user">Linked FHIR record (optional)</label>
<input type="text" id="fhir_user" name="fhir_user" maxlength="100" value="${values.fhir_user ?? ''}"${invalidAttrs('fhir_user', errors.fhir_user)}>
${fieldError('fhir_user', errors.fhir_user)}
<p class="muted">For a patient, their own record, e.g. Patient/123; for a practitioner, e.g. Practitioner/7.</p>
<label for="patient_panel">Patient panel (practitioners only, optional)</label>
<input type="text" id="patient_panel" name="patient_panel" maxlength="2000" value="${values.patient_panel ?? ''}"${invalidAttrs('patient_panel', errors.patient_panel)}>
${fieldError('patient_panel', errors.patient_panel)}
<p class="muted">FHIR Patient ids or references, separated by commas: 123, Patient/456.</p>
<div class="actions"><button type="submit" class="primary">Add the user and make a password link</button></div>
</form>`,
  });
}

/** The one-time link, in the response of the POST that made it (no-store): it is never shown again. */
function sendLinkPage(ctx: AppContext, reply: FastifyReply, admin: ConsoleRequest, user: UserRecord, link: PasswordLink, title: string): FastifyReply {
  reply.header('cache-control', 'no-store');
  return sendPage(reply, 200, adminPage({
    title, username: admin.session.user.username, csrf: admin.csrf, section: '/users',
    body: html`<p>Give this link to <strong>${user.username}</strong> through a channel you trust. With it they choose their password. It works once, until ${formatTime(link.expiresAt)}; any earlier link of this account no longer works.</p>
<p><label for="password_link">Password link (shown only now)</label>
<input type="text" id="password_link" class="mono" readonly value="${passwordLinkUrl(ctx.config.issuer, link.token)}" size="60"></p>
<p class="muted">This page is not kept: if the link is lost, make a new one from the account's page.</p>
<p><a href="${userPath(user.username)}">Go to ${user.username}’s page</a></p>`,
  }));
}

async function userPage(ctx: AppContext, admin: ConsoleRequest, user: UserRecord, input: { notice?: string; errors?: Record<string, string> }): Promise<string> {
  const errors = input.errors ?? {};
  const [locked, factors, recoveryCodes] = await Promise.all([
    accountLocked(ctx, user.username), ctx.storage.mfaFactors.listByUser(user.id), ctx.storage.recoveryCodes.countUnused(user.id),
  ]);
  const role = roleOf(user);
  const own = user.id === admin.actor;
  const path = userPath(user.username);
  const form = (action: string, body: Raw, errorSlot: string) => html`<form method="post" action="${path}/${action}" class="compact">
${csrfField(admin.csrf)}
${body}
${fieldError(errorSlot, errors[errorSlot])}
</form>`;
  return adminPage({
    title: `User ${user.username}`, username: admin.session.user.username, csrf: admin.csrf, section: '/users', notice: input.notice,
    body: html`${Object.keys(errors).length ? html`<p class="error" role="alert">Nothing was changed. See the message below.</p>` : ''}
<dl class="facts">
<dt>Account id</dt><dd class="mono">${user.id}</dd>
<dt>Role</dt><dd>${ROLE_LABEL[role]}</dd>
<dt>Status</dt><dd>${user.disabled ? html`<span class="badge bad">disabled</span>` : html`<span class="badge ok">enabled</span>`}</dd>
<dt>Sign-in</dt><dd>${locked ? html`<span class="badge warn">locked</span> after repeated failures` : 'not locked'}</dd>
<dt>Second factors</dt><dd>${factors.length === 0 ? 'none' : factors.map((f) => f.kind === 'totp' ? 'authenticator app' : 'passkey').join(', ')}; ${recoveryCodes} recovery codes left</dd>
<dt>Linked record</dt><dd class="mono">${user.fhirUser ?? 'none'}</dd>
<dt>Patient panel</dt><dd class="mono">${(user.patientPanel ?? []).length ? (user.patientPanel ?? []).map((p) => `Patient/${p}`).join(', ') : 'none'}</dd>
<dt>Emergency access</dt><dd>${user.breakGlass ? 'allowed' : 'not allowed'}</dd>
<dt>Created</dt><dd>${formatTime(user.createdAt)}</dd>
</dl>
<p><a href="/admin/grants?${new URLSearchParams({ username: user.username }).toString()}">Grants of this user</a></p>
${own ? html`<p class="notice">This is your own account: you cannot disable it or remove its administrator role. Another administrator can.</p>` : ''}

<h2 id="role-h">Role</h2>
${form('role', html`<label for="role">Role</label>
<select id="role" name="role"${invalidAttrs('role', errors.role)}>${USER_ROLES.map((r) => html`<option value="${r}"${raw(r === role ? ' selected' : '')}>${ROLE_LABEL[r]}</option>`)}</select>
<p class="muted">A practitioner who gets another role loses the patient panel and emergency access; a new administrator loses consents with clinical scopes. The account's console sessions end. Asks for your second factor.</p>
<div class="actions"><button type="submit" class="secondary">Change the role</button></div>`, 'role')}

<h2>Patient panel</h2>
${form('panel', html`<label for="patients">Patients this practitioner may pick at launch</label>
<input type="text" id="patients" name="patients" maxlength="2000" value="${(user.patientPanel ?? []).join(', ')}"${invalidAttrs('patients', errors.patients)}>
<p class="muted">FHIR Patient ids or references, separated by commas. Empty clears the panel. Practitioners only.</p>
<div class="actions"><button type="submit" class="secondary">Save the panel</button></div>`, 'patients')}

<h2>Emergency access</h2>
${form('break-glass', html`<input type="hidden" name="allowed" value="${user.breakGlass ? 'off' : 'on'}">
<p>${user.breakGlass ? 'This practitioner may take emergency access to a patient outside the panel, with a stated reason, reviewed afterwards.' : 'This account may not take emergency access. Only practitioners can be allowed it.'}</p>
<div class="actions"><button type="submit" class="secondary">${user.breakGlass ? 'Withdraw emergency access' : 'Allow emergency access'}</button></div>`, 'break_glass')}

<h2>Sign-in</h2>
${form('unlock', html`<p>${locked ? 'Sign-in with this username is locked after repeated failures.' : 'Sign-in is not locked.'} Unlocking forgets the failed attempts.</p>
<div class="actions"><button type="submit" class="secondary">Unlock sign-in</button></div>`, 'unlock')}

<h2>Second factors</h2>
${form('mfa-reset', html`<p>Removes every authenticator app, passkey and recovery code of this account (a lost phone). Asks for your second factor.</p>
<div class="actions"><button type="submit" class="danger">Reset second factors</button></div>`, 'mfa')}

<h2>Password</h2>
${form('password-link', html`<p>A new one-time link with which the user chooses a new password; older links stop working. Asks for your second factor.</p>
<div class="actions"><button type="submit" class="secondary">Make a new password link</button></div>`, 'password_link')}

<h2>Account status</h2>
${form('status', html`<input type="hidden" name="disabled" value="${user.disabled ? 'off' : 'on'}">
<p>${user.disabled ? 'Enabling lets the account sign in again.' : 'Disabling stops sign-in, revokes every grant and token of the account and ends its console sessions.'} Asks for your second factor.</p>
<div class="actions"><button type="submit" class="${user.disabled ? 'secondary' : 'danger'}">${user.disabled ? 'Enable the account' : 'Disable the account'}</button></div>`, 'status')}`,
  });
}

