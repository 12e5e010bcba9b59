// The /demo walkthrough pages: server-rendered with the shared layout (no script), identifiers only.
import { escapeHtml, html, page, raw, type Raw } from '../http/html.js';
import type { AuditEvent } from '../audit/events.js';
import type { CallKind, CallResult, DemoSession } from './session.js';

/** Long identifiers (URLs, jti, key ids) may break after '/', '.', or every 16 characters, so a phone never scrolls sideways. */
export function breakable(value: unknown): Raw {
  const text = String(value);
  const parts = text.split(/(?<=[/.:_-])/).flatMap((part) => part.match(/.{1,16}/gs) ?? ['']);
  return raw(parts.map(escapeHtml).join('<wbr>'));
}

const CALL_LABELS: Record<CallKind, string> = {
  'own-patient': 'Read my Patient',
  'own-observations': 'Search my Observations',
  'other-patient': 'Try another patient (Patient/demo-2)',
};

export function startPage(input: { clientId: string; canContinue: boolean }): string {
  return page('Demo', html`<h1>Demo: a patient app, end to end</h1>
<p>This page plays a small patient app (client <code>${input.clientId}</code>) that runs inside the development server. It walks through:</p>
<ol class="steps">
<li>Signing in and authorising the app with PKCE (S256), including the consent screen.</li>
<li>The access token it receives, and that it carries no PHI.</li>
<li>Calling the FHIR API through the gateway, and a read of another patient being denied.</li>
<li>The audit ledger entries the flow produced.</li>
</ol>
<p class="notice">Synthetic demo data only. Sign in as the demo user: the username and password are in <code>demo-credentials.json</code> in the data folder (or run <code>caduceus dev --json</code>). Tokens stay on the server; your browser only holds a random cookie for ten minutes.</p>
<form method="get" action="/demo/start" class="actions">
<button type="submit" class="primary">Start: sign in and authorise</button>
</form>
${input.canContinue ? html`<div class="actions"><a class="button secondary" href="/demo/flow">Continue the current walkthrough</a></div>` : ''}`);
}

export function problemPage(title: string, message: string): string {
  return page(title, html`<h1>${title}</h1><p class="error" role="alert">${message}</p>
<div class="actions"><a class="button primary" href="/demo">Start again</a></div>`);
}

function timeOf(epochSeconds: unknown): string {
  return typeof epochSeconds === 'number' ? ` (${new Date(epochSeconds * 1000).toISOString().replace('T', ' ').slice(0, 19)} UTC)` : '';
}

export interface FlowView {
  session: DemoSession;
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signatureValid: boolean;
  phiClaims: string[];
  checkedNames: readonly string[];
  csrf: string;
  ledger: AuditEvent[];
}

function callBlock(result: CallResult): Raw {
  const ok = result.status >= 200 && result.status < 300;
  return html`<li data-call="${result.kind}">
<strong>GET ${breakable(result.path)}</strong> → <strong>HTTP ${result.status}${ok ? '' : ' (denied)'}</strong>
${result.summary.length ? html`<br><span class="muted">${result.summary.map((line, i) => html`${i ? raw('<br>') : ''}${breakable(line)}`)}</span>` : ''}
</li>`;
}

export function flowPage(view: FlowView): string {
  const { session, header, claims } = view;
  const tokens = session.tokens!;
  const calls = (['own-patient', 'own-observations', 'other-patient'] as const).map((k) => session.calls[k]).filter((c): c is CallResult => c !== undefined);
  const claimRows = Object.entries(claims).map(([name, value]) => html`<tr data-claim="${name}"><th scope="row"><code>${name}</code></th><td>${breakable(typeof value === 'string' ? value : JSON.stringify(value))}${name === 'exp' || name === 'iat' ? timeOf(value) : ''}</td></tr>`);
  const headerRows = Object.entries(header).map(([name, value]) => html`<tr><th scope="row"><code>${name}</code></th><td>${breakable(typeof value === 'string' ? value : JSON.stringify(value))}</td></tr>`);
  const ledgerRows = view.ledger.map((e) => html`<tr data-event="${e.type}">
<td>${e.seq}<br><span class="muted">${new Date(e.time).toISOString().slice(11, 19)}</span></td>
<td>${breakable(e.type)}<br><span class="muted">${e.outcome}${e.reason ? html` · ${breakable(e.reason)}` : ''}</span></td>
<td>${e.resource ? breakable(e.resource) : '—'}${e.scopes?.used ? html`<br><span class="muted">scope used: ${breakable(e.scopes.used)}</span>` : ''}</td>
</tr>`);
  return page('Demo walkthrough', html`<h1>Demo walkthrough</h1>
<p class="notice" id="step-1">Step 1 done: you signed in, saw the consent screen and allowed access. The app checked <code>state</code> and <code>iss</code> (RFC 9207) and redeemed the code with its PKCE verifier, server side.</p>

<h2 id="step-2">Step 2 · The access token</h2>
<p class="muted">A JWT access token (RFC 9068), valid for ${tokens.expiresIn} s, for the FHIR gateway only. Signature checked against this server's keys: <strong>${view.signatureValid ? 'valid' : 'NOT valid'}</strong>.${tokens.refreshIssued ? ' A refresh token was issued too (offline_access); it stays on the server.' : ''}</p>
<table aria-label="Token header"><thead><tr><th scope="col">Header</th><th scope="col">Value</th></tr></thead><tbody>${headerRows}</tbody></table>
<table aria-label="Token claims" id="claims"><thead><tr><th scope="col">Claim</th><th scope="col">Value</th></tr></thead><tbody>${claimRows}</tbody></table>
<p>It carries identifiers only: <code>sub</code> is an opaque user id, <code>patient</code> is a FHIR resource id (no name, birth date or record number), <code>scope</code> is what you allowed.</p>
${view.phiClaims.length
    ? html`<p class="error" id="phi-check" role="alert">PHI check: claims that look like personal data: ${view.phiClaims.join(', ')}.</p>`
    : html`<p class="notice" id="phi-check">PHI check: no claim looks like personal data (checked for ${view.checkedNames.join(', ')}): <strong>none found</strong>.</p>`}

<h2 id="step-3">Step 3 · Call the FHIR API through the gateway</h2>
<p class="muted">Each button makes a real request to <code>/fhir</code> with the access token. Only resource types and ids are shown here.</p>
<form method="post" action="/demo/call" class="actions">
<input type="hidden" name="csrf" value="${view.csrf}">
${(Object.keys(CALL_LABELS) as CallKind[]).map((kind) => html`<button type="submit" name="call" value="${kind}" class="${kind === 'other-patient' ? 'secondary' : 'primary'}">${CALL_LABELS[kind]}</button>`)}
</form>
${calls.length ? html`<ul class="factors" id="calls">${calls.map(callBlock)}</ul>` : ''}

<h2 id="step-4">Step 4 · The audit ledger</h2>
<p class="muted">Events this walkthrough produced (newest first), read from the hash-chained ledger. Identifiers only: no PHI, no token values, no search values.</p>
${view.ledger.length
    ? html`<table aria-label="Ledger entries" id="ledger"><thead><tr><th scope="col">Seq / time</th><th scope="col">Type / outcome</th><th scope="col">Resource / scope used</th></tr></thead><tbody>${ledgerRows}</tbody></table>`
    : html`<p class="muted">No events yet.</p>`}
<div class="actions"><a class="button secondary" href="/demo">Start again</a></div>`);
}
