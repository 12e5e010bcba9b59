// GET /admin/api/report: the evidence report of `caduceus report` (options.compliance, passed in by
// the composition root), as JSON or printable HTML. It verifies the whole ledger, page by page with
// the event loop free between pages (src/audit/verify.ts), so the server keeps answering while an
// automation waits for it. Each read is an audit.read event (action evidence_report).
import { z } from 'zod';
import type { AppContext } from '../../context/app-context.js';
import { recordLedgerRead } from '../ledger.js';
import { EVIDENCE_REPORT_ACTION, REPORT_FORMATS, reportFile, type ReportFormat } from '../console/report.js';
import type { AdminConsoleOptions } from '../console/services.js';
import { apiReader, badRequest, notFound, routeOf } from './audit.js';
import type { AdminApiRouter } from './router.js';

export function registerReportApi(router: AdminApiRouter, ctx: AppContext, options: AdminConsoleOptions): void {
  router.route({
    method: 'GET', path: '/report', tag: 'report', summary: 'The evidence report (JSON or printable HTML)',
    description: 'Recorded as audit.read (action evidence_report). 404 when this server process runs without the compliance layer.',
    query: z.object({ format: z.string().optional().describe('json (default) or html') }),
    responses: { 200: 'the report, as an attachment', 404: 'not_found: the compliance layer is not available in this process' },
    handler: async ({ req, reply, caller, query }) => {
      const format = (query.format ?? 'json') as ReportFormat;
      if (!REPORT_FORMATS.includes(format)) throw badRequest('format must be json or html');
      if (!options.compliance) throw notFound('the evidence report is not available in this server process; run caduceus report');
      const content = await options.compliance.evidenceReport(format);
      await recordLedgerRead(ctx, apiReader(caller), { action: EVIDENCE_REPORT_ACTION, resource: routeOf(req), details: { format, delivery: 'download' } });
      const file = reportFile(format, ctx.now());
      reply.header('content-disposition', `attachment; filename="${file.filename}"`).type(file.contentType);
      return content;
    },
  });
}
