// The console's Evidence report section: the content of `caduceus report` (configuration
// findings, the ledger's verification and latest signed checkpoint, key rotation history, clients,
// consents and emergency accesses, lifetimes, authentication, transmission security), built by
// the compliance layer and passed in by the composition root (options.compliance).
//   GET  /admin/report                      what the report is, and the form to prepare it
//   POST /admin/report                      prepare it as a background job (it verifies the whole ledger)
//   GET  /admin/report/jobs/:id             the job's progress, then links to view and download
//   GET  /admin/report/jobs/:id/view        the HTML report inside the console (its body; no script)
//   GET  /admin/report/jobs/:id/download    the HTML or JSON file (Content-Disposition: attachment)
// Each view and download is an audit.read event (action evidence_report) with the administrator as actor.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { html, raw, type Raw } from '../../http/html.js';
import { recordLedgerRead } from '../ledger.js';
import { briefly, jobBody, queryOf, readerOf, routeOf, sendDownload } from './audit.js';
import { consoleGet, consolePost, formOf, sendPage, type ConsoleRequest } from './guard.js';
import { adminJobs, type Job } from './jobs.js';
import { adminPage, csrfField } from './layout.js';
import type { AdminConsoleOptions } from './services.js';

export const EVIDENCE_REPORT_ACTION = 'evidence_report';
export type ReportFormat = 'html' | 'json';
export const REPORT_FORMATS: readonly ReportFormat[] = ['html', 'json'];
const SECTION = '/report';

interface PreparedReport {
  format: ReportFormat;
  content: string;
}

/** The file name and type of a report download. */
export function reportFile(format: ReportFormat, now: number): { contentType: string; filename: string } {
  const day = new Date(now).toISOString().slice(0, 10);
  return format === 'json'
    ? { contentType: 'application/json; charset=utf-8', filename: `caduceus-evidence-${day}.json` }
    : { contentType: 'text/html; charset=utf-8', filename: `caduceus-evidence-${day}.html` };
}

/**
 * The report's body for the console frame: the content between <body> and </body>, without its
 * own <h1> (the console page has one) and without its <style> (the console's stylesheet applies;
 * the page CSP admits no inline style). The report is escaped, script-free HTML of the
 * compliance layer (src/compliance/report/html.ts).
 */
export function evidenceBody(document: string): string {
  const body = /<body[^>]*>([\s\S]*)<\/body>/i.exec(document)?.[1] ?? document;
  return body.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<h1[^>]*>[\s\S]*?<\/h1>/i, '');
}

const NOT_AVAILABLE = html`<p>The evidence report is not available in this server process: it was started without the compliance layer. Run <code>npx caduceus report --format html</code> on the server instead.</p>`;

export function registerReportSection(app: FastifyInstance, ctx: AppContext, options: AdminConsoleOptions): void {
  const jobs = adminJobs(ctx);
  const page = (admin: ConsoleRequest, title: string, body: Raw, extra: { refreshSeconds?: number } = {}) =>
    adminPage({ title, username: admin.session.user.username, csrf: admin.csrf, section: SECTION, body, ...(extra.refreshSeconds ? { refreshSeconds: extra.refreshSeconds } : {}) });

  consoleGet(app, ctx, '/admin/report', async (_req, reply, admin) => {
    if (!options.compliance) return sendPage(reply, 200, page(admin, 'Evidence report', NOT_AVAILABLE));
    return sendPage(reply, 200, page(admin, 'Evidence report', html`<p>The evidence of <code>caduceus report</code> for an auditor: the compliance check's findings, the ledger's full verification and latest signed checkpoint, the signing key rotation history, the clients with their scopes and redirect URIs, consents and emergency accesses, session and token lifetimes, authentication and transmission security. Preparing it verifies the whole ledger, so it runs in the background.</p>
<form method="post" action="/admin/report">
${csrfField(admin.csrf)}
<fieldset><legend>Format</legend>
<label class="choice"><input type="radio" name="format" value="html" checked> HTML: view it here, print it, or download it</label>
<label class="choice"><input type="radio" name="format" value="json"> JSON: download it for other tools</label>
</fieldset>
<div class="actions"><button type="submit" class="primary">Prepare the report</button></div>
</form>
<p class="muted">Viewing and downloading the report are recorded in the ledger.</p>`));
  });

  consolePost(app, ctx, '/admin/report', async (req, reply, admin) => {
    const compliance = options.compliance;
    if (!compliance) return sendPage(reply, 404, page(admin, 'Evidence report', NOT_AVAILABLE));
    const format = formOf(req).format as ReportFormat;
    if (!REPORT_FORMATS.includes(format)) {
      return sendPage(reply, 400, page(admin, 'Evidence report', html`<p class="error" role="alert">Format: choose HTML or JSON.</p><p><a href="/admin/report">Back</a></p>`));
    }
    const job = jobs.start<PreparedReport>(EVIDENCE_REPORT_ACTION, admin.actor, async () => ({ format, content: await compliance.evidenceReport(format) }));
    await briefly(job);
    return reply.code(303).header('location', `/admin/report/jobs/${job.id}`).send();
  });

  const jobOf = (admin: ConsoleRequest, id: string): Job<PreparedReport> | undefined => jobs.get<PreparedReport>(id, admin.actor);
  const gone = (admin: ConsoleRequest) => page(admin, 'No such report', html`<p>This server process holds no such report of yours (a prepared report is kept for an hour, by the instance that prepared it).</p><p><a href="/admin/report">Prepare the report</a></p>`);

  consoleGet(app, ctx, '/admin/report/jobs/:id', async (req, reply, admin) => {
    const job = jobOf(admin, (req.params as { id: string }).id);
    if (!job) return sendPage(reply, 404, gone(admin));
    const url = `/admin/report/jobs/${job.id}`;
    const shown = jobBody(job, {
      url, auto: queryOf(req).get('auto') === '1', running: 'Preparing the evidence report (this verifies the whole ledger)…',
      done: (j) => {
        const r = j.result as PreparedReport;
        return html`<p role="status"><span class="badge ok">ready</span> The ${r.format === 'html' ? 'HTML' : 'JSON'} report is ready.</p>
<ul>${r.format === 'html' ? html`<li><a href="${url}/view">View it here</a> (print it with your browser's Print command)</li>` : ''}<li><a href="${url}/download">Download ${r.format === 'html' ? 'HTML' : 'JSON'}</a></li></ul>`;
      },
    });
    return sendPage(reply, 200, page(admin, 'Evidence report', html`${shown.body}<p><a href="/admin/report">Back to Evidence report</a></p>`, shown.refreshSeconds ? { refreshSeconds: shown.refreshSeconds } : {}));
  });

  consoleGet(app, ctx, '/admin/report/jobs/:id/view', async (req, reply, admin) => {
    const job = jobOf(admin, (req.params as { id: string }).id);
    if (!job || job.state !== 'done' || job.result?.format !== 'html') return sendPage(reply, 404, gone(admin));
    await recordLedgerRead(ctx, readerOf(admin), { action: EVIDENCE_REPORT_ACTION, resource: routeOf(req), details: { format: 'html', delivery: 'view' } });
    return sendPage(reply, 200, page(admin, 'Evidence report', html`<p><a href="/admin/report/jobs/${job.id}/download">Download this report (HTML)</a> · <a href="/admin/report">Prepare a new one</a></p>
<div class="evidence">${raw(evidenceBody(job.result.content))}</div>`));
  });

  consoleGet(app, ctx, '/admin/report/jobs/:id/download', async (req, reply, admin) => {
    const job = jobOf(admin, (req.params as { id: string }).id);
    if (!job || job.state !== 'done' || !job.result) return sendPage(reply, 404, gone(admin));
    const { format, content } = job.result;
    await recordLedgerRead(ctx, readerOf(admin), { action: EVIDENCE_REPORT_ACTION, resource: routeOf(req), details: { format, delivery: 'download' } });
    return sendDownload(reply, { ...reportFile(format, job.finishedAt ?? ctx.now()), body: content });
  });
}
