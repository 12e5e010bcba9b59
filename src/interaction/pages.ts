// The login, consent and error pages. Controls are labelled (the accessible name is what people
// and the conformance driver read): the login button says "Sign in", consent says Allow / Deny.
import { html, page, type Raw } from './html.js';
import { describeScope } from './scope-descriptions.js';
import type { ConsentRecord } from '../storage/types.js';

export function loginPage(input: { action: string; csrf: string; clientName: string; error?: string }): string {
  return page('Sign in', html`
<h1>Sign in</h1>
<p class="muted">${input.clientName} is asking to connect to your account.</p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<div class="actions"><button type="submit" class="primary">Sign in</button></div>
</form>`);
}

export function consentPage(input: { action: string; csrf: string; clientName: string; scopes: string[]; resourceName: string }): string {
  const items: Raw[] = input.scopes.map((s, i) => html`
<li><label for="scope-${i}"><input type="checkbox" id="scope-${i}" name="scope" value="${s}" checked>
<span>${describeScope(s)}<br><span class="scope-name">${s}</span></span></label></li>`);
  return page('Allow access?', html`
<h1>Allow ${input.clientName} to access your information?</h1>
<p>It asks for the permissions below on <strong>${input.resourceName}</strong>. Untick any you do not want to give.</p>
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<ul class="scopes">${items}</ul>
<p class="muted">Your decision is recorded. You can review and revoke it at any time on your account page.</p>
<div class="actions">
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
<button type="submit" name="decision" value="allow" class="primary">Allow</button>
</div>
</form>`);
}

export function errorPage(title: string, message: string): string {
  return page(title, html`<h1>${title}</h1><p class="error" role="alert">${message}</p>
<p class="muted">Close this window and start again from the application.</p>`);
}

export function accountPage(input: { csrf: string; consents: ConsentRecord[]; clientNames: Map<string, string>; notice?: string }): string {
  const rows = input.consents.map((c) => html`<tr>
<td>${input.clientNames.get(c.clientId) ?? c.clientId}</td>
<td>${c.scopesGranted.join(' ') || '(none)'}</td>
<td>${new Date(c.createdAt).toISOString().replace('T', ' ').slice(0, 16)} UTC</td>
<td>${c.revokedAt !== null ? 'Revoked' : html`<form method="post" action="/account/consents/${c.id}/revoke">
<input type="hidden" name="csrf" value="${input.csrf}"><button type="submit" class="secondary">Revoke</button></form>`}</td>
</tr>`);
  return page('Your connected apps', html`
<h1>Your connected apps</h1>
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
${input.consents.length ? html`<table><thead><tr><th>App</th><th>Permissions</th><th>Granted</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
    : html`<p>You have not allowed any app yet.</p>`}
<p><a href="/account/security">Sign-in security (two-step verification)</a></p>
<form method="post" action="/account/logout"><input type="hidden" name="csrf" value="${input.csrf}">
<div class="actions"><button type="submit" class="secondary">Sign out</button></div></form>`);
}

/** RP-initiated logout without proof that the signed-in user asked for it: ask first. */
export function logoutConfirmPage(input: { csrf: string; clientName?: string; fields: Record<string, string | undefined> }): string {
  const hidden = Object.entries(input.fields).filter(([, v]) => v !== undefined)
    .map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
  return page('Sign out?', html`
<h1>Sign out?</h1>
<p>${input.clientName ? `${input.clientName} asks to sign you out of Caduceus.` : 'An application asks to sign you out of Caduceus.'}</p>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="${input.csrf}">
${hidden}
<div class="actions"><button type="submit" class="primary">Sign out</button></div>
</form>
<p class="muted">If you did not ask to sign out, close this page.</p>`);
}

export function signedOutPage(input: { clientName?: string }): string {
  return page('Signed out', html`
<h1>You are signed out</h1>
<p class="notice" role="status">You have been signed out of Caduceus.</p>
<p class="muted">${input.clientName ? `You can close this window, or go back to ${input.clientName}.` : 'You can close this window.'}</p>`);
}
