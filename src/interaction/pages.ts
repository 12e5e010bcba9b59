// The login, consent and account pages (the error page is errorPage in src/http/html.ts). Controls
// are labelled (the accessible name is what people and the conformance driver read): the login
// button says "Sign in", consent says Allow / Deny.
import { html, page, type Raw } from '../http/html.js';
import { describeScope } from './scope-descriptions.js';

/** The sign-in page: for an app (clientName) or, without one, for the user's own account pages. */
export function loginPage(input: { action: string; csrf: string; clientName?: string; error?: string }): string {
  return page('Sign in', html`
<h1>Sign in</h1>
<p class="muted">${input.clientName ? `${input.clientName} is asking to connect to your account.` : 'Sign in to see and manage the apps connected to your account.'}</p>
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

export interface ConsentPageInput {
  action: string;
  csrf: string;
  clientName: string;
  scopes: string[];
  resourceName: string;
  /** Requested scopes this account cannot hold (scopes ∩ role): listed, never offered. */
  removedScopes?: string[];
  /** The patient in context, when settled (EHR launch or the user's own record). */
  patient?: { id: string; own: boolean };
  /**
   * The practitioner's patient picker (with display labels where known), and break-glass when the
   * account has it; breakGlassWrite when emergency access keeps write permissions (unsafe.breakglass_write).
   */
  picker?: { patients: string[]; labels?: ReadonlyMap<string, string>; breakGlass: boolean; ttlMinutes: number; breakGlassWrite: boolean };
  /** The requester is a self-registered AI agent: said plainly, with where it comes from and for how long. */
  agent?: { registeredVia: 'metadata_document' | 'dynamic'; origin: string; approved: boolean; minutes: number; renewable: boolean };
  error?: string;
}

function agentNotice(agent: NonNullable<ConsentPageInput['agent']>): Raw {
  const via = agent.registeredVia === 'metadata_document'
    ? html`It identified itself with the metadata document at <span class="scope-name">${agent.origin}</span>.`
    : html`It registered itself with this server (client <span class="scope-name">${agent.origin}</span>).`;
  return html`
<div class="agent-notice" role="note"><p><strong>This is an AI agent, not an app you installed.</strong> ${via}
${agent.approved ? 'An administrator of this server has approved it.' : 'No administrator of this server has reviewed it.'}</p>
<p>It will be able to read only what is ticked below, for ${String(agent.minutes)} minutes${agent.renewable ? ', renewable while you allow it' : ', without renewal'}; every read is recorded, and you can revoke it on your account page.</p></div>`;
}

export function consentPage(input: ConsentPageInput): string {
  const whose = input.picker || (input.patient && !input.patient.own) ? 'other' : 'self';
  const items: Raw[] = input.scopes.map((s, i) => html`
<li><label for="scope-${i}"><input type="checkbox" id="scope-${i}" name="scope" value="${s}" checked>
<span>${describeScope(s, whose)}<br><span class="scope-name">${s}</span></span></label></li>`);
  const removed = input.removedScopes?.length
    ? html`<p class="muted">Not available to your account, so not granted: <span class="scope-name">${input.removedScopes.join(' ')}</span></p>` : '';
  const patient = input.patient
    ? html`<p class="patient-context">${input.patient.own ? 'For your own health record' : 'For the patient opened in your EHR'}: <strong>Patient ${input.patient.id}</strong></p>` : '';
  const picker = input.picker?.patients.length ? html`
<fieldset class="picker"><legend>Choose the patient</legend>
${input.picker.patients.map((id, i) => html`<label for="patient-${i}" class="choice"><input type="radio" id="patient-${i}" name="patient" value="${id}"${input.picker!.patients.length === 1 ? html` checked` : ''} required>
<span>${input.picker!.labels?.get(id) ? html`${input.picker!.labels.get(id)!}<br><span class="scope-name">Patient ${id}</span>` : `Patient ${id}`}</span></label>`)}
</fieldset>` : '';
  const breakGlass = input.picker?.breakGlass ? html`
<details class="break-glass"${input.error && /emergency|reason|record id|two-step/i.test(input.error) ? html` open` : ''}>
<summary>Emergency access to another patient</summary>
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<p>Only in an emergency, for a patient who is not on your list. Access lasts ${String(input.picker.ttlMinutes)} minutes, cannot be renewed, is recorded, and is reviewed by the privacy office.</p>
<p>${input.picker.breakGlassWrite ? 'Emergency access is limited to that patient.' : 'Emergency access is read-only and limited to that patient.'}</p>
<label for="bg-patient">Patient record id</label>
<input type="text" id="bg-patient" name="bg_patient" autocomplete="off" autocapitalize="none" spellcheck="false" required>
<label for="bg-reason">Reason (required)</label>
<textarea id="bg-reason" name="bg_reason" rows="3" minlength="10" maxlength="1000" required></textarea>
<div class="actions"><button type="submit" name="decision" value="breakglass" class="danger">Request emergency access</button></div>
</form>
</details>` : '';
  return page('Allow access?', html`
<h1>Allow ${input.clientName} to access ${input.picker ? 'patient information' : 'your information'}?</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${input.agent ? agentNotice(input.agent) : ''}
${patient}
<p>It asks for the permissions below on <strong>${input.resourceName}</strong>. Untick any you do not want to give.</p>
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
${picker}
<ul class="scopes">${items}</ul>
${removed}
<p class="muted">Your decision is recorded. You can review and revoke it at any time on your account page.</p>
<div class="actions">
<button type="submit" name="decision" value="deny" class="secondary" formnovalidate>Deny</button>
<button type="submit" name="decision" value="allow" class="primary">Allow</button>
</div>
</form>${breakGlass}`);
}

/** One consent as the account page shows it: ids and times only, never demographics. */
export interface AuthorisedApp {
  consentId: string;
  appName: string;
  scopes: string[];
  /** The resource's configured name (or its URL); null when the consent is not for one resource. */
  resourceName: string | null;
  /** FHIR Patient ids in context across the consent's grants (e.g. "123"), in first-seen order. */
  patients: string[];
  authorisedAt: number;
  /** Newest token issuance under any of the consent's grants; null when never. */
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** A self-registered AI agent (dynamic registration or a Client ID Metadata Document): listed apart. */
  agent?: boolean;
}

/** "2026-11-01 09:30 UTC", with the exact instant in the datetime attribute. */
function when(ms: number): Raw {
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.replace('T', ' ').slice(0, 16)} UTC</time>`;
}

function appCard(app: AuthorisedApp, csrf: string): Raw {
  const scopes = app.scopes.map((s) => html`<li>${describeScope(s)}<br><span class="scope-name">${s}</span></li>`);
  return html`<li class="app" aria-labelledby="app-${app.consentId}">
<h2 id="app-${app.consentId}">${app.appName}</h2>
<dl class="facts">
<dt>Patient</dt><dd>${app.patients.length ? app.patients.map((p) => `Patient ${p}`).join(', ') : 'None'}</dd>
${app.resourceName ? html`<dt>Data from</dt><dd>${app.resourceName}</dd>` : ''}
<dt>Authorised</dt><dd>${when(app.authorisedAt)}</dd>
<dt>Last used</dt><dd>${app.lastUsedAt === null ? 'Never' : when(app.lastUsedAt)}</dd>
</dl>
<p class="facts-label">Permissions</p>
${scopes.length ? html`<ul class="scopes">${scopes}</ul>` : html`<p class="muted">None.</p>`}
<form method="post" action="/account/consents/${app.consentId}/revoke">
<input type="hidden" name="csrf" value="${csrf}">
<div class="actions"><button type="submit" class="danger" aria-label="Revoke access for ${app.appName}">Revoke access</button></div>
</form>
</li>`;
}

/** Older revocations stay in the audit ledger; the page shows the newest few. */
const REVOKED_SHOWN = 10;

export function accountPage(input: { csrf: string; apps: AuthorisedApp[]; notice?: string }): string {
  const active = input.apps.filter((a) => a.revokedAt === null && !a.agent);
  const agents = input.apps.filter((a) => a.revokedAt === null && a.agent);
  const revoked = input.apps.filter((a) => a.revokedAt !== null);
  return page('Your connected apps', html`
<h1>Your connected apps</h1>
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
${active.length
    ? html`<p class="muted">These apps can use your information. Revoking an app stops it at once: the tokens it holds stop working.</p>
<ul class="apps">${active.map((a) => appCard(a, input.csrf))}</ul>`
    : html`<p>No app has access to your information.</p>`}
${agents.length ? html`<h2>AI agents</h2>
<p class="muted">These AI agents registered themselves and you allowed them to read your information. Revoking one stops it at once.</p>
<ul class="apps agents">${agents.map((a) => appCard(a, input.csrf))}</ul>` : ''}
${revoked.length ? html`<h2>Revoked access</h2>
<ul class="revoked">${revoked.slice(0, REVOKED_SHOWN).map((a) => html`<li><strong>${a.appName}</strong><br><span class="muted">Authorised ${when(a.authorisedAt)}<br>Revoked ${when(a.revokedAt!)}</span></li>`)}</ul>` : ''}
<h2>Your account</h2>
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
