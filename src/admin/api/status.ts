// GET /admin/api/status: what the console's overview shows, as JSON.
import type { AppContext } from '../../context/app-context.js';
import { latestCheckpoint, ledgerSize } from '../../audit/proofs.js';
import type { AdminConsoleOptions } from '../console/services.js';
import type { AdminApiRouter } from './router.js';

export function registerStatusRoutes(router: AdminApiRouter, ctx: AppContext, options: AdminConsoleOptions): void {
  router.route({
    method: 'GET', path: '/status', tag: 'overview', summary: 'Compliance findings, the ledger\'s state and emergency accesses waiting for review',
    responses: { 200: 'findings (null when the compliance check is not available), ledger { size, latest_checkpoint }, breakglass_open' },
    handler: async ({ caller }) => {
      const sql = ctx.storage.sql;
      const [findings, size, checkpoint, open] = await Promise.all([
        options.compliance?.findings(), ledgerSize(sql), latestCheckpoint(sql), ctx.storage.breakGlass.listOpen(),
      ]);
      await ctx.audit.record({
        type: 'audit.read', actor: { clientId: caller.clientId }, outcome: 'success', action: 'overview', resource: '/admin/api/status',
        jti: caller.jti, requestId: caller.meta.requestId, sourceAddress: caller.meta.sourceAddress, details: { api: 'admin' },
      });
      return {
        findings: findings ?? null,
        ledger: { size, latest_checkpoint: checkpoint ? { size: checkpoint.size, time: new Date(checkpoint.createdAt).toISOString() } : null },
        breakglass_open: open.length,
      };
    },
  });
}
