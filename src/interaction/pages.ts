// The login, consent and logout pages (the account page is src/interaction/account-page.ts, the
// error page errorPage in src/http/html.ts). Controls are labelled (the accessible name is what
// people and the conformance driver read): the login button says "Sign in", consent says Allow / Deny.
import { html, page, type Raw } from '../http/html.js';
import { emergencyAccessForm, type EmergencyFormInput } from './break-glass-form.js';
import { describeScope } from './scope-descriptions.js';

/**
 * The sign-in page: for an app (clientName) or, without one, for the user's own account pages.
 * After a failed attempt the username stays in its field (only the password is typed again).
 */
export function loginPage(input: { action: string; csrf: string; clientName?: string; error?: string; username?: string }): string {
  return page('Sign in', html`
<h1>Sign in</h1>
<p class="muted">${input.clientName ? `${input.clientName} is asking to connect to your account.` : 'Sign in to see and manage the apps connected to your account.'}</p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<label for="username">Username</label>
<input type="text" id="username" name="username"${input.username ? html` value="${input.username}"` : ''} autocomplete="username" autocapitalize="none" spellcheck="false" required>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${input.username ? html` autofocus` : ''}>
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
  /** The signed-in person is a clinician: what they allow is access to patients' records, not to "your information". */
  clinician?: boolean;
  /**
   * The patient in context, when settled (EHR launch or the user's own record), with the label
   * ("Given Family (born …)") read as the signed-in person when it could be.
   */
  patient?: { id: string; own: boolean; label?: string };
  /**
   * The practitioner's patient picker (with display labels where known); `selected` is ticked,
   * `notice` and `error` are shown next to it.
   */
  picker?: { patients: string[]; labels?: ReadonlyMap<string, string>; selected?: string; notice?: string; error?: string };
  /** Emergency access (break-glass), when this account has it and the app is not an AI agent. */
  emergency?: Omit<EmergencyFormInput, 'action' | 'csrf'>;
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

/** "Jane Doe (born 1970-01-31)" with the record id under it; the id alone when no name could be read. */
function patientName(id: string, label: string | undefined): Raw {
  return label ? html`${label}<br><span class="scope-name">Patient ${id}</span>` : html`Patient ${id}`;
}

function consentHeading(input: ConsentPageInput): string {
  if (input.picker) return `Allow ${input.clientName} to access a patient's record?`;
  if (input.patient && !input.patient.own) return `Allow ${input.clientName} to access this patient's record?`;
  if (input.clinician && !input.patient) return `Allow ${input.clientName} to access patient records for you?`;
  return `Allow ${input.clientName} to access your information?`;
}

export function consentPage(input: ConsentPageInput): string {
  const whose = input.picker || input.clinician || (input.patient && !input.patient.own) ? 'other' : 'self';
  const items: Raw[] = input.scopes.map((s, i) => html`
<li><label for="scope-${i}"><input type="checkbox" id="scope-${i}" name="scope" value="${s}" checked>
<span>${describeScope(s, whose)}<br><span class="scope-name">${s}</span></span></label></li>`);
  const removed = input.removedScopes?.length
    ? html`<p class="muted">Not available to your account, so not granted: <span class="scope-name">${input.removedScopes.join(' ')}</span></p>` : '';
  const patient = input.patient
    ? html`<p class="patient-context">${input.patient.own ? 'Your own health record' : 'The patient opened in your EHR'}:<br><strong>${patientName(input.patient.id, input.patient.label)}</strong></p>` : '';
  const picker = input.picker;
  const pickerNote = picker?.error ?? picker?.notice;
  const pickerField = picker?.patients.length ? html`
<fieldset class="picker"${pickerNote ? html` aria-describedby="picker-note"` : ''}><legend>Choose the patient</legend>
${picker.patients.map((id, i) => html`<label for="patient-${i}" class="choice"><input type="radio" id="patient-${i}" name="patient" value="${id}"${picker.patients.length === 1 || picker.selected === id ? html` checked` : ''} required${picker.error ? html` aria-invalid="true"` : ''}>
<span>${patientName(id, picker.labels?.get(id))}</span></label>`)}
</fieldset>
${pickerNote ? html`<div class="field-message" id="picker-note"><p class="${picker.error ? 'error' : 'notice'}" role="${picker.error ? 'alert' : 'status'}">${pickerNote}</p></div>` : ''}` : '';
  return page('Allow access?', html`
<h1>${consentHeading(input)}</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${input.agent ? agentNotice(input.agent) : ''}
${patient}
<p>It asks for the permissions below on <strong>${input.resourceName}</strong>. Untick any you do not want to give.</p>
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
${pickerField}
<ul class="scopes">${items}</ul>
${removed}
<p class="muted">Your decision is recorded. You can review and revoke it at any time on your account page.</p>
<div class="actions">
<button type="submit" name="decision" value="deny" class="secondary" formnovalidate>Deny</button>
<button type="submit" name="decision" value="allow" class="primary">Allow</button>
</div>
</form>${input.emergency ? emergencyAccessForm({ ...input.emergency, action: input.action, csrf: input.csrf }) : ''}`);
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
