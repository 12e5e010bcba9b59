// The console's Audit section (45 CFR 164.312(b) audit controls; 164.308(a)(1)(ii)(D) information
// system activity review; 164.528 accounting of disclosures):
//   GET  /admin/audit                    search the ledger (patient, user, client, type, outcome, dates), newest first, "Older" pages
//   GET  /admin/audit/events/:seq        one event with its inclusion proof, verified in the page against the signed checkpoint
//   POST /admin/audit/verify             verify the whole ledger as a background job
//   GET  /admin/audit/jobs/:id           that job's progress and result
//   POST /admin/audit/export             download the events of a search as NDJSON or FHIR AuditEvent (step-up)
//   GET  /admin/audit/disclosures        a patient's accounting of disclosures, print-ready
//   GET  /admin/audit/disclosures/download  the same as CSV, or as the patient's HTML page
// Every read is an audit.read event with the administrator as actor (src/admin/ledger.ts).
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import type { AuditEvent } from '../../audit/events.js';
import type { DisclosureReport } from '../../audit/report.js';
import { AUDIT_EVENT_TYPES } from '../../audit/stored-event.js';
import type { LedgerVerdict } from '../../audit/verify.js';
import { html, raw, type Raw } from '../../http/html.js';
import {
  disclosureFile, disclosureReport, exportFile, exportLedgerSearch, FilterError, readDisclosureRequest, readLedgerEvent, readSearch, searchLedger,
  DISCLOSURE_FORMATS, EXPORT_FORMATS, type DisclosureFormat, type EventWithProof, type ExportFormat, type LedgerReader, type SearchText,
} from '../ledger.js';
import { consoleGet, consolePost, formList, formOf, sendPage, type ConsoleRequest } from './guard.js';
import { adminJobs, startLedgerVerification, type AdminJobs, type Job } from './jobs.js';
import { adminPage, csrfField } from './layout.js';
import type { AdminConsoleOptions } from './services.js';
import { formatTime, userLabels } from './view.js';

export const AUDIT_PAGE_SIZE = 50;
/** How long a start request waits for a short job, so a small ledger shows its result at once. */
export const JOB_WAIT_MS = 1000;
const SECTION = '/audit';

/** The administrator as a reader of the ledger. */
export function readerOf(admin: ConsoleRequest): LedgerReader {
  return { actor: admin.actor, via: 'console', requestId: admin.meta.requestId, sourceAddress: admin.meta.sourceAddress };
}

export function queryOf(req: FastifyRequest): URLSearchParams {
  const q = req.url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
}

/** The route pattern of the request, the `resource` of its audit.read event (as the audit API records it). */
export const routeOf = (req: FastifyRequest): string => req.routeOptions.url ?? req.url.split('?')[0]!;

/** Waits for the job, at most `ms`. */
export async function briefly(job: Job, ms = JOB_WAIT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([job.finished, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}

const SEARCH_FIELDS = ['patient', 'actor', 'client', 'type', 'outcome', 'since', 'until'] as const;
type SearchField = (typeof SEARCH_FIELDS)[number];

function searchTextOf(params: URLSearchParams | ((name: string) => string[])): SearchText & { type: string[] } {
  const all = typeof params === 'function' ? params : (name: string) => params.getAll(name);
  const one = (name: string): string | undefined => all(name)[0];
  return {
    patient: one('patient'), actor: one('actor'), client: one('client'), type: all('type'), outcome: one('outcome'),
    since: one('since'), until: one('until'), before_seq: one('before_seq'),
  };
}

/** A query string of the search's own fields (paging keeps them), without empty ones. */
function searchQuery(text: SearchText & { type: string[] }, beforeSeq?: number): string {
  const q = new URLSearchParams();
  for (const name of SEARCH_FIELDS) {
    const values = name === 'type' ? text.type : [text[name]];
    for (const v of values) if (v !== undefined && v.trim() !== '') q.append(name, v.trim());
  }
  if (beforeSeq !== undefined) q.set('before_seq', String(beforeSeq));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A labelled input with its error next to it (aria-invalid, aria-describedby). */
function textField(id: string, name: string, label: string, value: string | undefined, error: string | undefined, extra: { type?: string; hint?: string; required?: boolean } = {}): Raw {
  const described = [extra.hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="filter"><label for="${id}">${label}</label>
${extra.hint ? html`<span class="muted" id="${id}-hint">${extra.hint}</span>` : ''}
<input type="${extra.type ?? 'text'}" id="${id}" name="${name}" value="${value ?? ''}"${raw(extra.required ? ' required' : '')}${raw(described ? ` aria-describedby="${described}"` : '')}${raw(error ? ' aria-invalid="true"' : '')}>
${error ? html`<p class="error" id="${id}-error">${error}</p>` : ''}</div>`;
}

function selectField(id: string, name: string, label: string, options: readonly (readonly [string, string])[], value: string | undefined, error: string | undefined): Raw {
  return html`<div class="filter"><label for="${id}">${label}</label>
<select id="${id}" name="${name}"${raw(error ? ` aria-invalid="true" aria-describedby="${id}-error"` : '')}>${options.map(([v, text]) => html`<option value="${v}"${raw(v === (value ?? '') ? ' selected' : '')}>${text}</option>`)}</select>
${error ? html`<p class="error" id="${id}-error">${error}</p>` : ''}</div>`;
}

const TYPE_OPTIONS: readonly (readonly [string, string])[] = [['', 'Any type'], ...Object.keys(AUDIT_EVENT_TYPES).map((t) => [t, t] as const)];
const OUTCOME_OPTIONS: readonly (readonly [string, string])[] = [['', 'Any outcome'], ['success', 'success'], ['denied', 'denied'], ['error', 'error']];

function searchForm(text: SearchText & { type: string[] }, errors: Partial<Record<SearchField | 'before_seq', string>>): Raw {
  return html`<form method="get" action="/admin/audit" class="filters" aria-label="Search the ledger">
${textField('f-patient', 'patient', 'Patient', text.patient, errors.patient, { hint: 'id or Patient/id' })}
${textField('f-actor', 'actor', 'User', text.actor, errors.actor, { hint: 'username, or client:ID' })}
${textField('f-client', 'client', 'Client', text.client, errors.client, { hint: 'client_id' })}
${selectField('f-type', 'type', 'Event type', TYPE_OPTIONS, text.type[0], errors.type)}
${selectField('f-outcome', 'outcome', 'Outcome', OUTCOME_OPTIONS, text.outcome, errors.outcome)}
${textField('f-since', 'since', 'From (UTC)', text.since, errors.since, { type: 'date' })}
${textField('f-until', 'until', 'Until (UTC, inclusive)', text.until, errors.until, { type: 'date' })}
${errors.before_seq ? html`<p class="error" role="alert">${errors.before_seq}</p>` : ''}
<div class="filter"><button type="submit" class="primary">Search</button></div>
</form>`;
}

export function ledgerEventsTable(events: readonly AuditEvent[], labels: ReadonlyMap<string, string>): Raw {
  if (events.length === 0) return html`<p>No events match.</p>`;
  return html`<div class="table-wrap"><table><caption class="muted">Newest first</caption><thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Outcome</th><th scope="col">User</th><th scope="col">Client</th><th scope="col">Patient</th><th scope="col">Action</th><th scope="col">Resource</th></tr></thead><tbody>
${events.map((e) => html`<tr><td><a href="/admin/audit/events/${e.seq}">${e.seq}</a></td><td>${formatTime(e.time)}</td><td class="mono">${e.type}</td><td>${e.outcome}</td><td>${e.actor.userId ? labels.get(e.actor.userId) ?? e.actor.userId : ''}</td><td class="mono">${e.actor.clientId ?? ''}</td><td class="mono">${e.patient ?? ''}</td><td class="mono">${e.action ?? ''}</td><td class="mono">${e.resource ?? ''}</td></tr>`)}
</tbody></table></div>`;
}

function exportForm(admin: ConsoleRequest, text: SearchText & { type: string[] }, stepUpMinutes: number): Raw {
  return html`<form method="post" action="/admin/audit/export">
${csrfField(admin.csrf)}
${SEARCH_FIELDS.flatMap((name) => (name === 'type' ? text.type : [text[name] ?? '']).filter((v) => v.trim() !== '').map((v) => html`<input type="hidden" name="${name}" value="${v}">`))}
<fieldset><legend>Export every event matching this search</legend>
<label class="choice"><input type="radio" name="format" value="ndjson" checked> NDJSON: the events as recorded, one per line</label>
<label class="choice"><input type="radio" name="format" value="fhir"> FHIR R4 AuditEvent resources (NDJSON, IHE Basic Audit Log Patterns)</label>
</fieldset>
<p class="muted">The export is recorded in the ledger and asks for your second factor again if your last check is older than ${stepUpMinutes} minutes.</p>
<div class="actions"><button type="submit" class="secondary">Export</button></div>
</form>`;
}

function verifyForm(admin: ConsoleRequest): Raw {
  return html`<form method="post" action="/admin/audit/verify">
${csrfField(admin.csrf)}
<p>Recompute every event's hash, the Merkle tree and each signed checkpoint (stored and witness), and check the checkpoint signatures. It runs in the background; the result is recorded in the ledger and shown on the overview.</p>
<div class="actions"><button type="submit" class="primary">Verify the whole ledger</button></div>
</form>`;
}

// ---- event detail -------------------------------------------------------------------------------------

function inclusionSection(found: EventWithProof): Raw {
  const i = found.inclusion;
  if (i.state === 'not_covered') {
    return html`<p><span class="badge warn">not yet covered</span> This event is newer than the latest signed checkpoint${i.checkpointSize === null ? '' : html` (${i.checkpointSize} events)`}. A checkpoint covering it is signed within seconds: reload this page.</p>`;
  }
  const verdict = i.state === 'verified'
    ? html`<p><span class="badge ok">verified</span> The event's text hashes to its leaf, and the audit path leads to the root of the signed checkpoint (RFC 9162 §2.1.3.2).</p>`
    : html`<p class="error" role="alert"><span class="badge bad">mismatch</span> ${i.problem}</p>`;
  return html`${verdict}
${i.checkpoint ? html`<dl class="facts"><dt>Checkpoint</dt><dd>${i.checkpoint.size} events, signed ${formatTime(i.checkpoint.createdAt)}</dd><dt>Signed root</dt><dd class="mono">${i.checkpoint.rootHash}</dd>
${i.proof ? html`<dt>Leaf hash</dt><dd class="mono">${i.proof.leaf_hash}</dd><dt>Root from the proof</dt><dd class="mono">${i.proof.root_hash}</dd>` : ''}</dl>` : ''}
${i.proof ? html`<h3>Audit path (${i.proof.hashes.length} hashes, leaf to root)</h3><ol class="mono">${i.proof.hashes.map((h) => html`<li>${h}</li>`)}</ol>` : ''}`;
}

async function eventPage(ctx: AppContext, admin: ConsoleRequest, found: EventWithProof): Promise<string> {
  const e = found.event;
  const labels = await userLabels(ctx, [e.actor.userId]);
  const bgId = e.details?.['breakglass_id'];
  const row = (label: string, value: unknown, mono = true) => (value === undefined || value === null || value === '' ? '' : html`<dt>${label}</dt><dd${raw(mono ? ' class="mono"' : '')}>${String(value)}</dd>`);
  return adminPage({
    title: `Event ${e.seq}`, username: admin.session.user.username, csrf: admin.csrf, section: SECTION,
    body: html`<p><a href="/admin/audit">Back to the search</a></p>
<dl class="facts">
<dt>Time</dt><dd>${formatTime(e.time)}</dd>
${row('Type', e.type)}${row('Outcome', e.outcome, false)}${row('Reason', e.reason)}
${e.actor.userId ? html`<dt>User</dt><dd>${labels.get(e.actor.userId) ?? ''} <span class="mono">${e.actor.userId}</span></dd>` : ''}
${row('Client', e.actor.clientId)}${row('Patient', e.patient)}${row('Action', e.action)}${row('Resource', e.resource)}
${row('Scope used', e.scopes?.used)}${row('Scopes granted', e.scopes?.granted?.join(' '))}${row('Grant', e.grantId)}${row('Consent', e.consentId)}
${row('Token id (jti)', e.jti)}${row('Request id', e.requestId)}${row('Source address', e.sourceAddress)}
</dl>
${typeof bgId === 'string' ? html`<p><a href="/admin/breakglass/${encodeURIComponent(bgId)}">Open the emergency access ${bgId}</a></p>` : ''}
${e.details && Object.keys(e.details).length ? html`<h2>Details</h2><table><thead><tr><th scope="col">Name</th><th scope="col">Value</th></tr></thead><tbody>${Object.entries(e.details).map(([k, v]) => html`<tr><th scope="row" class="mono">${k}</th><td class="mono">${String(v)}</td></tr>`)}</tbody></table>` : ''}
${e.changes?.length ? html`<h2>Changes</h2><table><thead><tr><th scope="col">Field</th><th scope="col">Before</th><th scope="col">After</th></tr></thead><tbody>${e.changes.map((c) => html`<tr><th scope="row" class="mono">${c.field}</th><td class="mono">${JSON.stringify(c.before)}</td><td class="mono">${JSON.stringify(c.after)}</td></tr>`)}</tbody></table>` : ''}
<h2>Inclusion proof</h2>
${inclusionSection(found)}
<h2>As recorded</h2>
<pre class="mono">${JSON.stringify(e, null, 2)}</pre>`,
  });
}

// ---- jobs ---------------------------------------------------------------------------------------------

/**
 * A job's page. While it runs it shows how far it got, with a link to look again and one to reload
 * it every 2 seconds (opt-in: a page that reloads itself unasked fails WCAG 2.2.1, technique F41).
 */
export function jobBody(job: Job, options: { url: string; auto: boolean; running: string; done: (job: Job) => Raw }): { body: Raw; refreshSeconds?: number } {
  if (job.state === 'running') {
    const counted = job.total > 0;
    return {
      ...(options.auto ? { refreshSeconds: 2 } : {}),
      body: html`<p role="status">${options.running} Started ${formatTime(job.startedAt)}.</p>
${counted ? html`<p><label for="job-progress">Checked ${job.done.toLocaleString('en-US')} of ${job.total.toLocaleString('en-US')} events</label>
<progress id="job-progress" max="${job.total}" value="${job.done}">${Math.floor((job.done / job.total) * 100)}%</progress></p>` : ''}
<p class="muted">It runs in the background: the server keeps answering, and you may leave this page and come back to it.</p>
<p><a href="${options.url}${options.auto ? '?auto=1' : ''}">Refresh the progress</a> · ${options.auto
        ? html`This page reloads every 2 seconds. <a href="${options.url}">Stop reloading</a>`
        : html`<a href="${options.url}?auto=1">Reload this page every 2 seconds</a>`}</p>`,
    };
  }
  if (job.state === 'failed') {
    return { body: html`<p class="error" role="alert">The job could not finish (${job.failure ?? 'error'}). Nothing was changed; try again, and if it fails again see the server log.</p>` };
  }
  return { body: options.done(job) };
}

function verificationResult(job: Job): Raw {
  const v = job.result as LedgerVerdict;
  const took = job.finishedAt !== null ? Math.max(0, Math.round((job.finishedAt - job.startedAt) / 1000)) : 0;
  if (v.ok) {
    return html`<p role="status"><span class="badge ok">intact</span> The ledger verified: ${v.size} events, root hash <span class="mono">${v.rootHash}</span>.</p>
<dl class="facts"><dt>Checkpoints checked</dt><dd>${v.checkpoints}${v.signaturesChecked ? ', signatures verified' : ', signatures not checked'}</dd>
<dt>Covered by a signed checkpoint</dt><dd>events 0 to ${Math.max(0, v.checkpointedSize - 1)}${v.checkpointedSize < v.size ? ' (later events are covered by the next checkpoint)' : ''}</dd>
<dt>Finished</dt><dd>${job.finishedAt !== null ? formatTime(job.finishedAt) : ''} (${took} s)</dd></dl>
<p>The result is recorded in the ledger (audit.verified) and shown on the <a href="/admin">overview</a>.</p>`;
  }
  return html`<p class="error" role="alert"><span class="badge bad">FAILED</span> ${v.code} at event ${v.firstBadSeq}: ${v.reason}</p>
<p>Events from ${v.firstBadSeq} on cannot be trusted. <a href="/admin/audit/events/${v.firstBadSeq}">Look at event ${v.firstBadSeq}</a>. The failure is recorded in the ledger and shown on the <a href="/admin">overview</a>.</p>`;
}

// ---- disclosures ------------------------------------------------------------------------------------

const PURPOSE_TEXT: Record<string, string> = { TREAT: 'treatment', ETREAT: 'emergency treatment', HPAYMT: 'payment', HOPERAT: 'operations', PATRQT: 'patient request' };

function disclosuresTable(report: DisclosureReport): Raw {
  if (report.disclosures.length === 0) return html`<p>No disclosures of this patient's information were recorded in this period.</p>`;
  return html`<div class="table-wrap"><table><caption>${report.disclosures.length} disclosure(s), oldest first</caption><thead><tr><th scope="col">Date</th><th scope="col">Recipient</th><th scope="col">User</th><th scope="col">What</th><th scope="col">Purpose</th><th scope="col">Permission</th><th scope="col">Result</th><th scope="col">Ref.</th></tr></thead><tbody>
${report.disclosures.map((d) => html`<tr><td>${formatTime(Date.parse(d.date))}</td><td>${d.organisation ?? ''} <span class="mono">${d.client_id ?? ''}</span></td><td class="mono">${d.user_id ?? ''}</td><td class="mono">${d.resource ?? ''} ${d.action ? `(${d.action})` : ''}</td><td>${d.purpose_of_use ? `${PURPOSE_TEXT[d.purpose_of_use] ?? d.purpose_of_use}` : 'not stated'}</td><td class="mono">${d.scope ?? ''}</td><td>${d.outcome}</td><td><a href="/admin/audit/events/${d.seq}">${d.seq}</a></td></tr>`)}
</tbody></table></div>`;
}

/** Sends a file to download (RFC 6266 Content-Disposition: attachment). */
export function sendDownload(reply: FastifyReply, file: { body: string | Readable; contentType: string; filename: string }): FastifyReply {
  return reply.code(200).header('content-disposition', `attachment; filename="${file.filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`).header('cache-control', 'no-store').type(file.contentType).send(file.body);
}

// ---- routes -------------------------------------------------------------------------------------------

export function registerAuditSection(app: FastifyInstance, ctx: AppContext, _options: AdminConsoleOptions): void {
  const jobs: AdminJobs = adminJobs(ctx);
  const stepUpMinutes = Math.round(ctx.config.admin_console.step_up_max_age / 60);
  const page = (admin: ConsoleRequest, title: string, body: Raw, extra: { notice?: string; refreshSeconds?: number } = {}) =>
    adminPage({ title, username: admin.session.user.username, csrf: admin.csrf, section: SECTION, body, ...extra });

  consoleGet(app, ctx, '/admin/audit', async (req, reply, admin) => {
    const text = searchTextOf(queryOf(req));
    const auditPage = (status: number, search: Raw) => sendPage(reply, status, page(admin, 'Audit', html`<section aria-labelledby="search-h"><h2 id="search-h">Search the ledger</h2>
${search}</section>
<section aria-labelledby="verify-h"><h2 id="verify-h">Verify the ledger</h2>${verifyForm(admin)}</section>
<section aria-labelledby="disclosures-h"><h2 id="disclosures-h">Accounting of disclosures</h2>
<p><a href="/admin/audit/disclosures">A patient's accounting of disclosures</a> (45 CFR 164.528): every recorded release of their information, to print or download.</p></section>`));
    let filters;
    try {
      filters = await readSearch(ctx, text);
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      // Nothing was read: the form comes back with the problem next to its field.
      return auditPage(400, searchForm(text, { [err.parameter]: err.message }));
    }
    const found = await searchLedger(ctx, readerOf(admin), { ...filters, limit: AUDIT_PAGE_SIZE }, routeOf(req));
    const labels = await userLabels(ctx, found.events.map((e) => e.actor.userId));
    return auditPage(200, html`${searchForm(text, {})}
${ledgerEventsTable(found.events, labels)}
<nav class="pager" aria-label="Result pages">${filters.beforeSeq !== undefined ? html`<a href="/admin/audit${raw(searchQuery(text))}">Newest events</a>` : ''}${found.nextBeforeSeq !== undefined ? html`<a href="/admin/audit${raw(searchQuery(text, found.nextBeforeSeq))}">Older events</a>` : ''}</nav>
${exportForm(admin, text, stepUpMinutes)}`);
  });

  consoleGet(app, ctx, '/admin/audit/events/:seq', async (req, reply, admin) => {
    const seqText = (req.params as { seq: string }).seq;
    const found = /^(0|[1-9][0-9]{0,15})$/.test(seqText) && Number.isSafeInteger(Number(seqText))
      ? await readLedgerEvent(ctx, readerOf(admin), Number(seqText), routeOf(req))
      : undefined;
    if (!found) return sendPage(reply, 404, page(admin, 'No such event', html`<p>The ledger has no event with this number.</p><p><a href="/admin/audit">Back to the search</a></p>`));
    return sendPage(reply, 200, await eventPage(ctx, admin, found));
  });

  consolePost(app, ctx, '/admin/audit/verify', async (_req, reply, admin) => {
    const job = startLedgerVerification(ctx, jobs, readerOf(admin), '/admin/audit/verify');
    await briefly(job);
    return reply.code(303).header('location', `/admin/audit/jobs/${job.id}`).send();
  });

  consoleGet(app, ctx, '/admin/audit/jobs/:id', async (req, reply, admin) => {
    const job = jobs.get((req.params as { id: string }).id, admin.actor);
    if (!job) {
      return sendPage(reply, 404, page(admin, 'No such verification', html`<p>This server process holds no such job of yours (jobs are kept for an hour, by the instance that ran them). Each verification's result is in the ledger: see the <a href="/admin">overview</a>.</p><p><a href="/admin/audit">Back to Audit</a></p>`));
    }
    const url = `/admin/audit/jobs/${job.id}`;
    const shown = jobBody(job, { url, auto: queryOf(req).get('auto') === '1', running: 'Verifying the ledger…', done: verificationResult });
    return sendPage(reply, 200, page(admin, 'Ledger verification', html`${shown.body}<p><a href="/admin/audit">Back to Audit</a></p>`, shown.refreshSeconds ? { refreshSeconds: shown.refreshSeconds } : {}));
  });

  // 45 CFR 164.312(d): exporting the ledger asks for the second factor again when the last check is stale.
  consolePost(app, ctx, '/admin/audit/export', async (req, reply, admin) => {
    const form = formOf(req);
    const text = searchTextOf((name) => formList(req, name));
    const format = form.format as ExportFormat;
    let filters;
    try {
      if (!EXPORT_FORMATS.includes(format)) throw new FilterError('format', 'format: choose NDJSON or FHIR AuditEvent');
      filters = await readSearch(ctx, text);
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      return sendPage(reply, 400, page(admin, 'Export', html`<p class="error" role="alert">Nothing was exported: ${err.message}.</p><p><a href="/admin/audit${raw(searchQuery(text))}">Back to the search</a></p>`));
    }
    const lines = await exportLedgerSearch(ctx, readerOf(admin), filters, format, routeOf(req));
    return sendDownload(reply, { ...exportFile(format, ctx.now()), body: Readable.from(lines) });
  }, { stepUp: true });

  consoleGet(app, ctx, '/admin/audit/disclosures', async (req, reply, admin) => {
    const q = queryOf(req);
    const text = { patient: q.get('patient') ?? undefined, since: q.get('since') ?? undefined, until: q.get('until') ?? undefined };
    const asked = text.patient !== undefined;
    let report: DisclosureReport | undefined;
    let error: FilterError | undefined;
    if (asked) {
      try {
        report = await disclosureReport(ctx, readerOf(admin), readDisclosureRequest(text, ctx.now()), 'html', routeOf(req));
      } catch (err) {
        if (!(err instanceof FilterError)) throw err;
        error = err;
      }
    }
    const errors: Record<string, string> = error ? { [error.parameter]: error.message } : {};
    const query = report ? `?${new URLSearchParams(Object.entries(text).filter((e): e is [string, string] => e[1] !== undefined && e[1].trim() !== ''))}` : '';
    return sendPage(reply, error ? 400 : 200, page(admin, 'Accounting of disclosures', html`<p class="muted">45 CFR 164.528: every release of the patient's information through the gateway, in the six years before the request unless you choose the period. Reading it is recorded in the ledger, naming the patient.</p>
<form method="get" action="/admin/audit/disclosures" class="filters" aria-label="Choose the patient and period">
${textField('d-patient', 'patient', 'Patient', text.patient, errors.patient, { hint: 'id or Patient/id', required: true })}
${textField('d-since', 'since', 'From (UTC)', text.since, errors.since, { type: 'date' })}
${textField('d-until', 'until', 'Until (UTC, inclusive)', text.until, errors.until, { type: 'date' })}
<div class="filter"><button type="submit" class="primary">Show</button></div>
</form>
${report ? html`<h2>${report.patient}</h2>
<p>Period ${formatTime(Date.parse(report.since))} to ${formatTime(Date.parse(report.until))}; prepared ${formatTime(Date.parse(report.generated))} by ${report.covered_entity}.</p>
<p class="downloads"><a href="/admin/audit/disclosures/download${raw(query)}&amp;format=csv">Download CSV</a> · <a href="/admin/audit/disclosures/download${raw(query)}&amp;format=html">Download the patient's copy (HTML, print or save as PDF)</a> · <a href="/admin/audit/disclosures/download${raw(query)}&amp;format=json">Download JSON</a></p>
<p class="muted">To print this page, use your browser's Print command: the navigation and forms are left out.</p>
${disclosuresTable(report)}` : ''}`));
  });

  consoleGet(app, ctx, '/admin/audit/disclosures/download', async (req, reply, admin) => {
    const q = queryOf(req);
    const format = (q.get('format') ?? '') as DisclosureFormat;
    try {
      if (!DISCLOSURE_FORMATS.includes(format)) throw new FilterError('format', 'format: use csv, html or json');
      const request = readDisclosureRequest({ patient: q.get('patient') ?? undefined, since: q.get('since') ?? undefined, until: q.get('until') ?? undefined }, ctx.now());
      const report = await disclosureReport(ctx, readerOf(admin), request, format, routeOf(req));
      return sendDownload(reply, disclosureFile(report, format));
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      return sendPage(reply, 400, page(admin, 'Accounting of disclosures', html`<p class="error" role="alert">${err.message}.</p><p><a href="/admin/audit/disclosures">Back</a></p>`));
    }
  });
}
