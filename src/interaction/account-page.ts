// The account page (SMART management_endpoint): one card per app and patient (src/interaction/
// account-access.ts), emergency access marked and listed first, AI agents apart, and a short
// history of what ended. Patients are named where the user may see them (read as the user and
// audited: src/interaction/patient-labels.ts), by id otherwise. Times are <time> elements in UTC,
// shown in the browser's time zone by the page script.
import { html, page, when, type Raw } from '../http/html.js';
import type { AccessEntry } from './account-access.js';
import { describeScope } from './scope-descriptions.js';

/** An entry as shown: what AccessEntry holds plus the names the page needs. */
export interface AccessCard extends AccessEntry {
  appName: string;
  /** The resource's configured name (or its URL); null when the consent is not for one resource. */
  resourceName: string | null;
  /** A self-registered AI agent (dynamic registration or a Client ID Metadata Document): listed apart. */
  agent: boolean;
  /** Labels ("Given Family (born …)") of the patients the user may see, by id. */
  labels: ReadonlyMap<string, string>;
}

/** Older ended access stays in the audit ledger; the page shows the newest few. */
export const ENDED_SHOWN = 10;

function patientList(card: AccessCard): Raw | string {
  if (card.patients.length === 0) return 'None';
  return html`${card.patients.map((id, i) => html`${i > 0 ? html`<br>` : ''}${card.labels.get(id) ? html`${card.labels.get(id)!} <span class="scope-name">(Patient ${id})</span>` : `Patient ${id}`}`)}`;
}

/** "Fitness Tracker" or "Fitness Tracker for Jane Doe (born …)": the accessible name of a card's button. */
function cardSubject(card: AccessCard): string {
  const first = card.patients[0];
  if (first === undefined) return card.appName;
  return `${card.appName} for ${card.labels.get(first) ?? `Patient ${first}`}`;
}

function accessCard(card: AccessCard, csrf: string, clinician: boolean): Raw {
  const scopes = card.scopes.map((s) => html`<li>${describeScope(s, clinician || card.emergency ? 'other' : 'self')}<br><span class="scope-name">${s}</span></li>`);
  // The button's accessible name starts with its visible text (WCAG 2.1 SC 2.5.3 label in name).
  const action = card.emergency ? 'End emergency access' : 'Revoke access';
  const authorised = card.authorisations > 1
    ? html`${String(card.authorisations)} times, most recently ${when(card.lastAuthorisedAt)}` : when(card.lastAuthorisedAt);
  return html`<li class="app${card.emergency ? ' emergency' : ''}" aria-labelledby="app-${card.id}">
<h3 id="app-${card.id}">${card.emergency ? html`<span class="emergency-badge">Emergency access</span> ` : ''}${card.appName}</h3>
<dl class="facts">
<dt>Patient</dt><dd>${patientList(card)}</dd>
${card.resourceName ? html`<dt>Data from</dt><dd>${card.resourceName}</dd>` : ''}
<dt>Authorised</dt><dd>${authorised}</dd>
<dt>Last used</dt><dd>${card.lastUsedAt === null ? 'Never' : when(card.lastUsedAt)}</dd>
${card.emergency && card.endsAt !== null ? html`<dt>Ends</dt><dd>${when(card.endsAt)}</dd>` : ''}
</dl>
<p class="facts-label">Permissions</p>
${scopes.length ? html`<ul class="scopes">${scopes}</ul>` : html`<p class="muted">None.</p>`}
<form method="post" action="/account/consents/${card.id}/revoke">
<input type="hidden" name="csrf" value="${csrf}">
<div class="actions"><button type="submit" class="danger" aria-label="${action} for ${cardSubject(card)}">${action}</button></div>
</form>
</li>`;
}

function endedItem(card: AccessCard): Raw {
  return html`<li><strong>${card.emergency ? 'Emergency access: ' : ''}${card.appName}</strong>${card.patients.length ? html`<br>${patientList(card)}` : ''}<br>
<span class="muted">Authorised ${when(card.lastAuthorisedAt)}${card.authorisations > 1 ? ` (${card.authorisations} times)` : ''}<br>${card.ended === 'revoked' ? 'Revoked' : 'Ended'} ${when(card.endsAt!)}</span></li>`;
}

/** `clinician`: the user acts for patients (a practitioner), so apps reach patients' records, not "your information". */
export function accountPage(input: { csrf: string; current: AccessCard[]; ended: AccessCard[]; notice?: string; clinician?: boolean }): string {
  const emergency = input.current.filter((c) => c.emergency);
  const apps = input.current.filter((c) => !c.emergency && !c.agent);
  const agents = input.current.filter((c) => !c.emergency && c.agent);
  const clinician = input.clinician === true;
  const list = (cards: AccessCard[], cls: string) => html`<ul class="apps${cls}">${cards.map((c) => accessCard(c, input.csrf, clinician))}</ul>`;
  return page('Your connected apps', html`
<h1>Your connected apps</h1>
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
${emergency.length ? html`<h2>Emergency access</h2>
<p class="muted">Emergency access you took to patients outside your list. It ends by itself; ending it now stops the app at once.</p>
${list(emergency, ' emergency')}` : ''}
<h2>Apps</h2>
${apps.length
    ? html`<p class="muted">${clinician ? 'These apps can use the patient records you allowed them.' : 'These apps can use your information.'} Revoking an app stops it at once: the tokens it holds stop working.</p>
${list(apps, '')}`
    : html`<p>${clinician ? 'No app has access to patient records for you.' : 'No app has access to your information.'}</p>`}
${agents.length ? html`<h2>AI agents</h2>
<p class="muted">These AI agents registered themselves and you allowed them to read your information. Revoking one stops it at once.</p>
${list(agents, ' agents')}` : ''}
${input.ended.length ? html`<h2>Ended access</h2>
<ul class="revoked">${input.ended.slice(0, ENDED_SHOWN).map(endedItem)}</ul>` : ''}
<h2>Your account</h2>
<p><a href="/account/security">Sign-in security (two-step verification)</a></p>
<form method="post" action="/account/logout"><input type="hidden" name="csrf" value="${input.csrf}">
<div class="actions"><button type="submit" class="secondary">Sign out</button></div></form>`, { pageScript: true });
}
