// The admin API's emergency access routes: the console's review section as JSON, the same services
// (src/admin/breakglass.ts, src/breakglass/review.ts) and the same ledger events, with the API
// client as actor (`client:<client_id>`): it reads the reasons like an administrator, and a review
// it records names it as reviewer.
//   GET  /admin/api/breakglass               the accesses waiting for review, with reasons, and the last reviewed
//   GET  /admin/api/breakglass/:id           one access with its reason, review and trail (its phi.* events)
//   POST /admin/api/breakglass/:id/review    { outcome: justified|unjustified, note? }
import { z } from 'zod';
import type { AppContext } from '../../context/app-context.js';
import { OAuthError } from '../../errors/oauth-error.js';
import type { BreakGlassAccessRecord } from '../../storage/types.js';
import { listAccessesForReview, readAccess, reviewEmergencyAccess, type ReviewedAccessSummary } from '../breakglass.js';
import type { AdminConsoleOptions } from '../console/services.js';
import { apiReader, badRequest, notFound, routeOf } from './audit.js';
import type { AdminApiRouter } from './router.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function accessJson(a: ReviewedAccessSummary & Partial<Pick<BreakGlassAccessRecord, 'reason' | 'reviewNote'>>): Record<string, unknown> {
  return {
    id: a.id, user_id: a.userId, client_id: a.clientId, grant_id: a.grantId, patient: `Patient/${a.patient}`,
    created_at: iso(a.createdAt), expires_at: iso(a.expiresAt),
    ...(a.reason !== undefined ? { reason: a.reason } : {}),
    review: a.reviewedAt === null ? null : {
      outcome: a.reviewOutcome, reviewed_by: a.reviewedBy, reviewed_at: iso(a.reviewedAt), ...(a.reviewNote !== undefined ? { note: a.reviewNote } : {}),
    },
  };
}

const reviewBody = z.object({
  outcome: z.string().describe('justified or unjustified'),
  note: z.string().optional().describe('the reviewer\'s note, kept sealed with the access (not in the ledger); at most 2000 characters'),
});

export function registerBreakGlassApi(router: AdminApiRouter, ctx: AppContext, _options: AdminConsoleOptions): void {
  router.route({
    method: 'GET', path: '/breakglass', tag: 'breakglass', summary: 'Emergency accesses waiting for review (with reasons) and the last reviewed',
    description: 'Recorded as audit.read (action breakglass_review_list) with the ids listed.',
    responses: { 200: 'open (oldest first, with reasons) and reviewed (newest review first)' },
    handler: async ({ req, caller }) => {
      const { open, reviewed } = await listAccessesForReview(ctx, apiReader(caller), routeOf(req));
      return { open: open.map(accessJson), reviewed: reviewed.map(accessJson) };
    },
  });

  router.route({
    method: 'GET', path: '/breakglass/:id', tag: 'breakglass', summary: 'One emergency access with its reason, review and trail',
    description: 'The trail is the gateway\'s phi.accessed / phi.denied events of the access\'s grant, newest first. Recorded as audit.read (action breakglass_access) naming the patient.',
    responses: { 200: 'access, trail, trail_complete', 404: 'not_found: no access with this id' },
    handler: async ({ req, caller, params }) => {
      const found = await readAccess(ctx, apiReader(caller), params.id!, routeOf(req));
      if (!found) throw notFound('no emergency access has this id');
      return { access: accessJson(found.access), trail: found.trail, trail_complete: found.trailComplete };
    },
  });

  router.route({
    method: 'POST', path: '/breakglass/:id/review', tag: 'breakglass', summary: 'Record the review of an emergency access',
    description: 'Once per access; the calling client is the reviewer. Recorded as breakglass.reviewed with actor client:<client_id>.',
    body: reviewBody,
    responses: { 200: 'id, outcome, reviewed_by', 404: 'not_found: no access with this id', 409: 'invalid_request: the access was already reviewed (the first review stands)' },
    handler: async ({ caller, params, body }) => {
      const result = await reviewEmergencyAccess(ctx, { actor: caller.actor, via: 'admin_api' }, params.id!, body);
      if (result.ok) return { id: params.id, outcome: body.outcome, reviewed_by: caller.actor };
      switch (result.problem) {
        case 'invalid': throw badRequest(`${result.field}: ${result.message}`);
        case 'own_access': throw new OAuthError('access_denied', result.message);
        case 'not_found': throw notFound('no emergency access has this id');
        default: throw new OAuthError('invalid_request', 'this access was already reviewed; the first review stands', undefined, 409);
      }
    },
  });
}
