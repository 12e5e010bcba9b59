// The admin API's audit routes: the console's Audit section as JSON, the same services
// (src/admin/ledger.ts) and the same audit.read events, with the API client as actor.
//   GET  /admin/api/audit/events                 search (keyset paging: next_before_seq)
//   GET  /admin/api/audit/events/:seq            one event and its inclusion proof, checked against the signed checkpoint
//   POST /admin/api/audit/verify                 verify the whole ledger in the background (202, then poll)
//   GET  /admin/api/audit/verify/:jobId          that verification's progress and verdict
//   GET  /admin/api/audit/export                 the events of a search as NDJSON or FHIR AuditEvent, streamed
//   GET  /admin/api/audit/disclosures            a patient's accounting of disclosures (JSON, CSV or HTML)
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context/app-context.js';
import type { LedgerVerdict } from '../../audit/verify.js';
import { OAuthError } from '../../errors/oauth-error.js';
import {
  disclosureFile, disclosureReport, exportFile, exportLedgerSearch, FilterError, readDisclosureRequest, readLedgerEvent, readSearch, searchLedger,
  type LedgerReader, type SearchText,
} from '../ledger.js';
import { adminJobs, startLedgerVerification, type Job } from '../console/jobs.js';
import type { AdminConsoleOptions } from '../console/services.js';
import type { AdminApiRouter, ApiCaller } from './router.js';

/** Most events of one search page through the API. */
export const API_SEARCH_MAX = 1000;

export function apiReader(caller: ApiCaller): LedgerReader {
  return { actor: caller.actor, via: 'api', requestId: caller.meta.requestId, sourceAddress: caller.meta.sourceAddress, jti: caller.jti };
}

export const routeOf = (req: FastifyRequest): string => req.routeOptions.url ?? req.url.split('?')[0]!;

export const badRequest = (description: string): OAuthError => new OAuthError('invalid_request', description, undefined, 400);
export const notFound = (description: string): OAuthError => new OAuthError('not_found', description);

/** Runs `read`, turning a FilterError (it names the field) into invalid_request. */
export async function asRequestError<T>(read: () => T | Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof FilterError) throw badRequest(err.message);
    throw err;
  }
}

const filterFields = {
  patient: z.string().optional().describe('a Patient id or reference (Patient/123)'),
  actor: z.string().optional().describe('a username, or an actor id as the ledger records it (a user id, client:ID, cli:NAME)'),
  client: z.string().optional().describe('the acting client\'s client_id'),
  type: z.string().optional().describe('an event type, or several separated by commas'),
  outcome: z.string().optional().describe('success, denied or error'),
  since: z.string().optional().describe('events at or after: YYYY-MM-DD (UTC) or an RFC 3339 date-time'),
  until: z.string().optional().describe('events before: YYYY-MM-DD (that whole day included) or an RFC 3339 date-time'),
};

const searchQuery = z.object({
  ...filterFields,
  before_seq: z.string().optional().describe('paging cursor: next_before_seq of the previous page'),
  limit: z.string().optional().describe(`events per page, 1 to ${API_SEARCH_MAX} (default 100)`),
});

const exportQuery = z.object({ ...filterFields, format: z.string().describe('ndjson (the events as recorded) or fhir (FHIR R4 AuditEvent resources)') });

const disclosuresQuery = z.object({
  patient: z.string().describe('a Patient id or reference (Patient/123)'),
  since: z.string().optional().describe('YYYY-MM-DD or RFC 3339; default six years before until'),
  until: z.string().optional().describe('YYYY-MM-DD (inclusive) or RFC 3339; default now'),
  format: z.string().optional().describe('json (default), csv or html'),
});

function searchText(query: Record<string, string | undefined>): SearchText {
  const { type, ...rest } = query;
  return { ...rest, type: type === undefined ? [] : [type] };
}

/** A verification job as the API shows it. */
function jobJson(job: Job<LedgerVerdict>): Record<string, unknown> {
  return {
    job_id: job.id, state: job.state, checked: job.done, total: job.total,
    started_at: new Date(job.startedAt).toISOString(), finished_at: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
    verdict: job.result ?? null, ...(job.failure ? { failure: job.failure } : {}),
  };
}

export function registerAuditApi(router: AdminApiRouter, ctx: AppContext, _options: AdminConsoleOptions): void {
  const jobs = adminJobs(ctx);

  router.route({
    method: 'GET', path: '/audit/events', tag: 'audit', summary: 'Search the ledger, newest first',
    description: 'Filters are indexed columns; page with before_seq = next_before_seq. Recorded as audit.read (action search) naming the filters used, not their values.',
    query: searchQuery,
    responses: { 200: 'events (newest first) and next_before_seq when more may follow' },
    handler: async ({ req, caller, query }) => {
      const filters = await asRequestError(() => readSearch(ctx, searchText(query)));
      const limit = filters.limit ?? 100;
      if (limit > API_SEARCH_MAX) throw badRequest(`limit must be an integer from 1 to ${API_SEARCH_MAX}`);
      const page = await searchLedger(ctx, apiReader(caller), { ...filters, limit }, routeOf(req));
      return { events: page.events, ...(page.nextBeforeSeq !== undefined ? { next_before_seq: page.nextBeforeSeq } : {}) };
    },
  });

  router.route({
    method: 'GET', path: '/audit/events/:seq', tag: 'audit', summary: 'One event with its inclusion proof, checked against the latest signed checkpoint',
    description: 'inclusion.state is verified, failed (with problem) or not_covered (newer than the latest checkpoint). Recorded as audit.read (action event).',
    responses: { 200: 'event and inclusion { state, checkpoint, proof, problem }', 404: 'not_found: no event with this seq' },
    handler: async ({ req, caller, params }) => {
      if (!/^(0|[1-9][0-9]{0,15})$/.test(params.seq!) || !Number.isSafeInteger(Number(params.seq))) throw badRequest('seq must be a non-negative integer');
      const found = await readLedgerEvent(ctx, apiReader(caller), Number(params.seq), routeOf(req));
      if (!found) throw notFound('the ledger has no event with this seq');
      return found;
    },
  });

  router.route({
    method: 'POST', path: '/audit/verify', tag: 'audit', summary: 'Verify the whole ledger in the background',
    description: 'Answers at once with the job; poll its Location. The verdict is recorded as audit.verified (action verify_ledger, outcome success or error).',
    responses: { 202: 'the job: job_id, state, checked, total; Location of its status' },
    handler: async ({ reply, caller }) => {
      const job = startLedgerVerification(ctx, jobs, apiReader(caller), '/admin/api/audit/verify');
      reply.code(202).header('location', `/admin/api/audit/verify/${job.id}`);
      return jobJson(job);
    },
  });

  router.route({
    method: 'GET', path: '/audit/verify/:jobId', tag: 'audit', summary: 'A ledger verification\'s progress and verdict',
    responses: { 200: 'job_id, state (running, done, failed), checked, total, verdict when done', 404: 'not_found: no such job of this client on this instance' },
    handler: async ({ caller, params }) => {
      const job = jobs.get<LedgerVerdict>(params.jobId!, caller.actor);
      if (!job) throw notFound('no such verification job of this client on this server instance');
      return jobJson(job);
    },
  });

  router.route({
    method: 'GET', path: '/audit/export', tag: 'audit', summary: 'Export the events of a search (NDJSON or FHIR AuditEvent), streamed',
    description: 'Every event matching the filters, newest first, one per line. Recorded as audit.read (action export) before the first line.',
    query: exportQuery,
    responses: { 200: 'application/x-ndjson or application/fhir+ndjson, as an attachment' },
    handler: async ({ req, reply, caller, query }) => {
      const { format, ...rest } = query;
      if (format !== 'ndjson' && format !== 'fhir') throw badRequest('format must be ndjson or fhir');
      const filters = await asRequestError(() => readSearch(ctx, searchText(rest)));
      const lines = await exportLedgerSearch(ctx, apiReader(caller), filters, format, routeOf(req));
      const file = exportFile(format, ctx.now());
      reply.header('content-disposition', `attachment; filename="${file.filename}"`).type(file.contentType);
      return Readable.from(lines);
    },
  });

  router.route({
    method: 'GET', path: '/audit/disclosures', tag: 'audit', summary: 'A patient\'s accounting of disclosures (45 CFR 164.528)',
    description: 'Recorded as audit.read (action disclosures) naming the patient.',
    query: disclosuresQuery,
    responses: { 200: 'the accounting: JSON, or CSV / printable HTML as an attachment' },
    handler: async ({ req, reply, caller, query }) => {
      const format = query.format ?? 'json';
      if (format !== 'json' && format !== 'csv' && format !== 'html') throw badRequest('format must be json, csv or html');
      const request = await asRequestError(() => readDisclosureRequest(query, ctx.now()));
      const report = await disclosureReport(ctx, apiReader(caller), request, format, routeOf(req));
      if (format === 'json') return report;
      const file = disclosureFile(report, format);
      reply.header('content-disposition', `attachment; filename="${file.filename}"`).type(file.contentType);
      return file.body;
    },
  });
}
