// The console's Grants section (45 CFR 164.308(a)(4)(ii)(C) access modification): the grants of a
// user (username), a client (client_id) or a patient (FHIR id), newest first with keyset paging,
// each with its client, user, patient, scopes, creation, last use and emergency access marked; and
// Revoke, which ends the grant with its tokens as the user's own /account revocation does
// (src/admin/grants.ts, shared with the admin API), recorded with the administrator as actor.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { html, type Raw } from '../../http/html.js';
import { grantQueryGiven, revokeGrant, searchGrants, type GrantPage, type GrantQuery, type GrantView } from '../grants.js';
import { consoleGet, consolePost, formOf, sendPage, type ConsoleRequest } from './guard.js';
import { adminPage, csrfField } from './layout.js';
import type { AdminConsoleOptions } from './services.js';
import { fieldError, invalidAttrs, problemOf } from './users.js';
import { consoleDeps } from './guard.js';
import { formatTime } from './view.js';

const DONE: Record<string, string> = {
  revoked: 'Access revoked: the grant, the other grants of its consent and all their tokens stopped working. The app must ask the user again.',
  revoked_grant: 'The grant and its tokens were revoked.',
  already: 'That grant was already revoked; its tokens were revoked again to be sure.',
};

/** The search fields, as they appear in the page's URL and in each revoke form. */
const FIELDS = ['username', 'client_id', 'patient'] as const;
type SearchFields = Partial<Record<(typeof FIELDS)[number], string>>;

function searchOf(source: Record<string, unknown>): SearchFields {
  const out: SearchFields = {};
  for (const f of FIELDS) {
    const v = source[f];
    if (typeof v === 'string' && v.trim() !== '') out[f] = v.trim().slice(0, 200);
  }
  return out;
}

const listUrl = (fields: SearchFields, extra: Record<string, string> = {}) => `/admin/grants?${new URLSearchParams({ ...fields, ...extra }).toString()}`;

export function registerGrantsSection(app: FastifyInstance, ctx: AppContext, _options: AdminConsoleOptions): void {
  consoleGet(app, ctx, '/admin/grants', async (req, reply, admin) => {
    const q = req.query as Record<string, unknown>;
    const fields = searchOf(q);
    const before = typeof q.before === 'string' ? q.before.slice(0, 200) : undefined;
    const query: GrantQuery = { username: fields.username, clientId: fields.client_id, patient: fields.patient, ...(before ? { before } : {}) };
    const notice = DONE[typeof q.done === 'string' ? q.done : ''];
    if (!grantQueryGiven(query)) return sendPage(reply, 200, grantsPage(admin, fields, { notice }));
    try {
      return sendPage(reply, 200, grantsPage(admin, fields, { notice, page: await searchGrants(ctx, query), paged: before !== undefined }));
    } catch (err) {
      const problem = problemOf(err);
      if (problem === undefined) throw err;
      const field = /^(patient|before)\b/.exec(problem)?.[1] ?? 'patient';
      return sendPage(reply, 400, grantsPage(admin, fields, { errors: { [field]: problem } }));
    }
  });

  consolePost(app, ctx, '/admin/grants/:grantId/revoke', async (req, reply, admin) => {
    const grantId = (req.params as { grantId: string }).grantId;
    const result = await revokeGrant(consoleDeps(ctx, admin), grantId);
    if (!result) return sendNoSuchGrant(reply, admin);
    const done = result.revoked === 'consent' ? 'revoked' : result.revoked === 'grant' ? 'revoked_grant' : 'already';
    return reply.code(303).header('location', listUrl(searchOf(formOf(req)), { done })).send();
  });
}

function sendNoSuchGrant(reply: FastifyReply, admin: ConsoleRequest): FastifyReply {
  return sendPage(reply, 404, adminPage({
    title: 'No such grant', username: admin.session.user.username, csrf: admin.csrf, section: '/grants',
    body: html`<p class="error" role="alert">No grant has this id. Nothing was changed.</p><p><a href="/admin/grants">Back to the grants</a></p>`,
  }));
}

function grantsPage(admin: ConsoleRequest, fields: SearchFields, input: { notice?: string; page?: GrantPage; paged?: boolean; errors?: Record<string, string> }): string {
  const errors = input.errors ?? {};
  return adminPage({
    title: 'Grants and consents', username: admin.session.user.username, csrf: admin.csrf, section: '/grants', notice: input.notice,
    body: html`<p>Find what apps may do on behalf of a user, for a client or for a patient. Revoking ends the access at once, tokens included, as when users revoke it on their account page.</p>
<form method="get" action="/admin/grants" class="filters" role="search">
<div><label for="username">Username</label>
<input type="text" id="username" name="username" value="${fields.username ?? ''}" maxlength="128"></div>
<div><label for="client_id">Client id</label>
<input type="text" id="client_id" name="client_id" value="${fields.client_id ?? ''}" maxlength="200"></div>
<div><label for="patient">Patient (FHIR id)</label>
<input type="text" id="patient" name="patient" value="${fields.patient ?? ''}" maxlength="80"${invalidAttrs('patient', errors.patient)}></div>
<div><button type="submit" class="secondary">Search</button></div>
</form>
${fieldError('patient', errors.patient)}${fieldError('before', errors.before)}
${input.page ? results(admin, fields, input.page, input.paged === true) : Object.keys(errors).length ? '' : html`<p class="muted">Give a username, a client id or a patient to list grants.</p>`}`,
  });
}

function results(admin: ConsoleRequest, fields: SearchFields, page: GrantPage, paged: boolean): Raw {
  if (page.unknownUser) return html`<p>No account has this username.</p>`;
  if (page.grants.length === 0) return html`<p>No grant matches${paged ? ' on this page' : ''}.</p>`;
  return html`<table><caption class="muted">Grants, newest first</caption>
<thead><tr><th scope="col">Client</th><th scope="col">User</th><th scope="col">Patient</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Status</th><th scope="col">Action</th></tr></thead><tbody>
${page.grants.map((g) => row(admin, fields, g))}
</tbody></table>
<nav class="pager" aria-label="Pages of grants">${paged ? html`<a href="${listUrl(fields)}">Newest grants</a>` : ''}${page.next ? html`<a href="${listUrl(fields, { before: page.next })}">Older grants</a>` : ''}</nav>`;
}

function row(admin: ConsoleRequest, fields: SearchFields, g: GrantView): Raw {
  return html`<tr><td>${g.clientName ?? ''}<br><span class="mono">${g.clientId}</span></td>
<td>${g.username ? html`<a href="/admin/users/${encodeURIComponent(g.username)}">${g.username}</a>` : html`<span class="mono">${g.userId ?? ''}</span>`}</td>
<td class="mono">${g.patient ?? ''}</td>
<td class="mono">${g.scopes.join(' ')}</td>
<td>${formatTime(g.createdAt)}</td>
<td>${g.lastUsedAt === null ? 'never' : formatTime(g.lastUsedAt)}</td>
<td>${g.emergency ? html`<span class="badge warn">emergency access</span> ` : ''}${g.revokedAt === null ? html`<span class="badge ok">active</span>` : html`<span class="badge bad">revoked</span> ${formatTime(g.revokedAt)}`}</td>
<td>${g.revokedAt === null ? html`<form method="post" action="/admin/grants/${encodeURIComponent(g.grantId)}/revoke" class="inline">
${csrfField(admin.csrf)}
${FIELDS.filter((f) => fields[f] !== undefined).map((f) => html`<input type="hidden" name="${f}" value="${fields[f]}">`)}
<button type="submit" class="danger" aria-label="Revoke ${g.clientName ?? g.clientId} for ${g.username ?? g.userId ?? ''}">Revoke</button></form>` : ''}</td></tr>`;
}
