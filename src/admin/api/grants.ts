// /admin/api/grants: the console's Grants section as JSON (src/admin/console/grants.ts), through
// the same service (src/admin/grants.ts): search by user, client or patient with keyset paging,
// and revoke a grant with its tokens, recorded with the API client as actor.
import { z } from 'zod';
import type { AppContext } from '../../context/app-context.js';
import { OAuthError } from '../../errors/oauth-error.js';
import type { AdminConsoleOptions } from '../console/services.js';
import { describeGrant, GRANT_PAGE_SIZE, revokeGrant, searchGrants } from '../grants.js';
import type { AdminApiRouter } from './router.js';
import { apiDeps, refusalsAsInvalidRequest } from './router.js';

export function registerGrantRoutes(router: AdminApiRouter, ctx: AppContext, _options: AdminConsoleOptions): void {
  router.route({
    method: 'GET', path: '/grants', tag: 'grants', summary: 'Grants of a user, a client or a patient (at least one), newest first',
    query: z.strictObject({
      username: z.string().max(128).optional(),
      client_id: z.string().max(200).optional(),
      patient: z.string().max(80).optional().describe('a FHIR Patient id or Patient/ reference'),
      before: z.string().max(200).optional().describe('the next cursor of the previous page'),
      limit: z.string().regex(/^[1-9]\d{0,2}$/, 'a number from 1 to 200').refine((v) => Number(v) <= 200, 'a number from 1 to 200').optional(),
    }),
    responses: { 200: 'grants (grant_id, client_id, client_name, user_id, username, patient, consent_id, scopes, created_at, last_used_at, emergency, revoked_at, revoked_reason), next' },
    handler: async ({ query }) => {
      const page = await refusalsAsInvalidRequest(() => searchGrants(ctx, {
        username: query.username, clientId: query.client_id, patient: query.patient, before: query.before, limit: query.limit ? Number(query.limit) : GRANT_PAGE_SIZE,
      }));
      return { grants: page.grants.map(describeGrant), next: page.next ?? null, ...(page.unknownUser ? { unknown_user: true } : {}) };
    },
  });

  router.route({
    method: 'POST', path: '/grants/:grantId/revoke', tag: 'grants',
    summary: 'Revoke a grant and its tokens: through its consent (every grant of it) when that is active, else the grant alone',
    responses: { 200: 'revoked ("consent", "grant" or "already"), consent_id and grants_revoked for a consent' },
    handler: async ({ params, caller }) => {
      const result = await revokeGrant(apiDeps(ctx, caller), params.grantId!);
      if (!result) throw new OAuthError('not_found', 'no grant has this id');
      return result.revoked === 'consent' ? { revoked: 'consent', consent_id: result.consentId, grants_revoked: result.grantsRevoked } : { revoked: result.revoked };
    },
  });
}
