// The console's Emergency access section (45 CFR 164.312(a)(2)(ii) emergency access procedure;
// 164.308(a)(1)(ii)(D) information system activity review):
//   GET  /admin/breakglass              the accesses waiting for review with the practitioners' reasons, and the last ones reviewed
//   GET  /admin/breakglass/:id          one access: reason, trail (what was read with it), review
//   POST /admin/breakglass/:id/review   the review, by the signed-in administrator (step-up)
// The review is attributed to the session's administrator (no reviewer name is typed), refused when
// that administrator took the access, and recorded as breakglass.reviewed; the rules are
// src/admin/breakglass.ts and src/breakglass/review.ts, shared with the admin API and the CLI.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { MAX_REVIEW_NOTE_LENGTH } from '../../breakglass/review.js';
import { html, raw, type Raw } from '../../http/html.js';
import { listAccessesForReview, readAccess, reviewEmergencyAccess, type AccessWithTrail } from '../breakglass.js';
import { ledgerEventsTable, queryOf, readerOf, routeOf } from './audit.js';
import { consoleGet, consolePost, formOf, sendPage, type ConsoleRequest } from './guard.js';
import { adminPage, csrfField } from './layout.js';
import type { AdminConsoleOptions } from './services.js';
import { formatTime, userLabels } from './view.js';

const SECTION = '/breakglass';

/** The result of the last action, by the keyword of ?done= (never user data in the URL). */
const NOTICES: Record<string, string> = {
  reviewed: 'Your review is recorded.',
  already_reviewed: 'This access had already been reviewed: the first review stands.',
};

type FieldErrors = { outcome?: string; note?: string; form?: string };

function reviewForm(admin: ConsoleRequest, id: string, values: { outcome?: string; note?: string }, errors: FieldErrors, stepUpMinutes: number): Raw {
  const outcomeInvalid = errors.outcome ? raw(' aria-describedby="outcome-error"') : raw('');
  return html`<form method="post" action="/admin/breakglass/${encodeURIComponent(id)}/review">
${csrfField(admin.csrf)}
${errors.form ? html`<p class="error" role="alert">${errors.form}</p>` : ''}
<fieldset${outcomeInvalid}><legend>Was this emergency access justified?</legend>
<label class="choice"><input type="radio" name="outcome" value="justified"${raw(values.outcome === 'justified' ? ' checked' : '')}> Justified</label>
<label class="choice"><input type="radio" name="outcome" value="unjustified"${raw(values.outcome === 'unjustified' ? ' checked' : '')}> Unjustified</label>
${errors.outcome ? html`<p class="error" id="outcome-error">${errors.outcome}</p>` : ''}
</fieldset>
<label for="note">Note (optional; kept sealed with the access, not in the ledger)</label>
<textarea id="note" name="note" maxlength="${MAX_REVIEW_NOTE_LENGTH}"${raw(errors.note ? ' aria-invalid="true" aria-describedby="note-error"' : '')}>${values.note ?? ''}</textarea>
${errors.note ? html`<p class="error" id="note-error">${errors.note}</p>` : ''}
<p class="muted">The review is recorded with you as reviewer, once; it asks for your second factor again if your last check is older than ${stepUpMinutes} minutes.</p>
<div class="actions"><button type="submit" class="primary">Record the review</button></div>
</form>`;
}

async function accessPage(ctx: AppContext, admin: ConsoleRequest, found: AccessWithTrail, form: { values: { outcome?: string; note?: string }; errors: FieldErrors; notice?: string }): Promise<string> {
  const a = found.access;
  const labels = await userLabels(ctx, [a.userId, a.reviewedBy ?? undefined, ...found.trail.map((e) => e.actor.userId)]);
  const stepUpMinutes = Math.round(ctx.config.admin_console.step_up_max_age / 60);
  const review = a.reviewedAt === null
    ? a.userId === admin.actor
      ? html`<p class="error" role="alert">You took this emergency access yourself: another administrator must review it.</p>`
      : reviewForm(admin, a.id, form.values, form.errors, stepUpMinutes)
    : html`<dl class="facts"><dt>Outcome</dt><dd><span class="badge ${a.reviewOutcome === 'justified' ? 'ok' : 'bad'}">${a.reviewOutcome ?? ''}</span></dd>
<dt>Reviewed by</dt><dd>${labels.get(a.reviewedBy ?? '') ?? a.reviewedBy ?? ''}</dd><dt>Reviewed</dt><dd>${formatTime(a.reviewedAt)}</dd>
<dt>Note</dt><dd>${a.reviewNote ?? 'none'}</dd></dl>`;
  return adminPage({
    title: `Emergency access ${a.id}`, username: admin.session.user.username, csrf: admin.csrf, section: SECTION, ...(form.notice ? { notice: form.notice } : {}),
    body: html`<p><a href="/admin/breakglass">Back to emergency accesses</a></p>
<dl class="facts">
<dt>Practitioner</dt><dd>${labels.get(a.userId) ?? ''} <span class="mono">${a.userId}</span></dd>
<dt>Patient</dt><dd class="mono">Patient/${a.patient}</dd>
<dt>Application</dt><dd class="mono">${a.clientId}</dd>
<dt>Taken</dt><dd>${formatTime(a.createdAt)}</dd>
<dt>Ends</dt><dd>${formatTime(a.expiresAt)}</dd>
<dt>Grant</dt><dd class="mono">${a.grantId}</dd>
<dt>Reason given</dt><dd>${a.reason}</dd>
</dl>
<h2>Trail: what was read with this access</h2>
<p class="muted">The gateway's events of this access's grant (its tokens carry purpose of use ETREAT, and every use is flagged break_glass).${found.trailComplete ? '' : ' Only the latest events are shown: search the ledger by this practitioner for the rest.'}</p>
${ledgerEventsTable(found.trail, labels)}
<h2>Review</h2>
${review}`,
  });
}

function reasonCell(reason: string): Raw {
  return html`<td class="reason">${reason}</td>`;
}

export function registerBreakGlassSection(app: FastifyInstance, ctx: AppContext, _options: AdminConsoleOptions): void {
  consoleGet(app, ctx, '/admin/breakglass', async (req, reply, admin) => {
    const { open, reviewed } = await listAccessesForReview(ctx, readerOf(admin), routeOf(req));
    const labels = await userLabels(ctx, [...open.map((a) => a.userId), ...reviewed.flatMap((a) => [a.userId, a.reviewedBy ?? undefined])]);
    return sendPage(reply, 200, adminPage({
      title: 'Emergency access', username: admin.session.user.username, csrf: admin.csrf, section: SECTION,
      body: html`<p>Every emergency ("break-glass") access stays open until an administrator other than the practitioner reviews it. Opening this list is recorded in the ledger.</p>
<h2>Waiting for review</h2>
${open.length === 0 ? html`<p><span class="badge ok">none waiting</span></p>` : html`<table><caption class="muted">Oldest first</caption><thead><tr><th scope="col">Access</th><th scope="col">Taken</th><th scope="col">Practitioner</th><th scope="col">Patient</th><th scope="col">Application</th><th scope="col">Reason given</th></tr></thead><tbody>
${open.map((a) => html`<tr><td><a href="/admin/breakglass/${encodeURIComponent(a.id)}">Review <span class="mono">${a.id}</span></a></td><td>${formatTime(a.createdAt)}</td><td>${labels.get(a.userId) ?? a.userId}</td><td class="mono">Patient/${a.patient}</td><td class="mono">${a.clientId}</td>${reasonCell(a.reason)}</tr>`)}
</tbody></table>`}
<h2>Reviewed lately</h2>
${reviewed.length === 0 ? html`<p>None yet.</p>` : html`<table><caption class="muted">Newest review first</caption><thead><tr><th scope="col">Access</th><th scope="col">Taken</th><th scope="col">Practitioner</th><th scope="col">Patient</th><th scope="col">Outcome</th><th scope="col">Reviewed by</th><th scope="col">Reviewed</th></tr></thead><tbody>
${reviewed.map((a) => html`<tr><td><a href="/admin/breakglass/${encodeURIComponent(a.id)}" class="mono">${a.id}</a></td><td>${formatTime(a.createdAt)}</td><td>${labels.get(a.userId) ?? a.userId}</td><td class="mono">Patient/${a.patient}</td><td><span class="badge ${a.reviewOutcome === 'justified' ? 'ok' : 'bad'}">${a.reviewOutcome ?? ''}</span></td><td>${labels.get(a.reviewedBy ?? '') ?? a.reviewedBy ?? ''}</td><td>${a.reviewedAt === null ? '' : formatTime(a.reviewedAt)}</td></tr>`)}
</tbody></table>`}
<p><a href="/admin/audit?type=breakglass.granted">Every emergency access in the ledger</a></p>`,
    }));
  });

  consoleGet(app, ctx, '/admin/breakglass/:id', async (req, reply, admin) => {
    const found = await readAccess(ctx, readerOf(admin), (req.params as { id: string }).id, routeOf(req));
    if (!found) return sendPage(reply, 404, notFound(admin));
    const done = queryOf(req).get('done');
    return sendPage(reply, 200, await accessPage(ctx, admin, found, { values: {}, errors: {}, ...(done && NOTICES[done] ? { notice: NOTICES[done] } : {}) }));
  });

  // A review closes the oversight of an emergency access: like the other sensitive actions, it asks
  // for the second factor again when the last check is stale (45 CFR 164.312(d)).
  consolePost(app, ctx, '/admin/breakglass/:id/review', async (req, reply, admin) => {
    const id = (req.params as { id: string }).id;
    const form = formOf(req);
    const values = { ...(form.outcome !== undefined ? { outcome: form.outcome } : {}), ...(form.note !== undefined ? { note: form.note } : {}) };
    const result = await reviewEmergencyAccess(ctx, { actor: admin.actor, via: 'admin_console' }, id, values);
    const back = `/admin/breakglass/${encodeURIComponent(id)}`;
    if (result.ok) return reply.code(303).header('location', `${back}?done=reviewed`).send();
    if (result.problem === 'already_reviewed') return reply.code(303).header('location', `${back}?done=already_reviewed`).send();
    const found = await readAccess(ctx, readerOf(admin), id, '/admin/breakglass/:id');
    if (!found) return sendPage(reply, 404, notFound(admin));
    const errors: FieldErrors = result.problem === 'invalid'
      ? { [result.field]: result.field === 'outcome' ? 'Choose justified or unjustified.' : `Note: ${result.message}.` }
      : { form: result.problem === 'own_access' ? result.message : 'The review could not be recorded.' };
    return sendPage(reply, result.problem === 'own_access' ? 403 : 400, await accessPage(ctx, admin, found, { values, errors }));
  }, { stepUp: true });
}

function notFound(admin: ConsoleRequest): string {
  return adminPage({
    title: 'No such emergency access', username: admin.session.user.username, csrf: admin.csrf, section: SECTION,
    body: html`<p>No emergency access has this id.</p><p><a href="/admin/breakglass">Back to emergency accesses</a></p>`,
  });
}
