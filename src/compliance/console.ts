// The compliance layer's part of the admin console (src/admin/console/services.ts): the static
// check of the running server, and the evidence report of `caduceus report`. The ledger is not
// verified here (the console runs that as a job with progress, src/admin/console/).
import type { AppContext } from '../context/app-context.js';
import type { ComplianceProvider } from '../admin/console/index.js';
import { runStaticCheck } from './check.js';
import { collectCheckInput } from './input.js';
import { collectEvidence } from './report/evidence.js';
import { renderEvidenceHtml } from './report/html.js';

export function consoleCompliance(ctx: AppContext, env: NodeJS.ProcessEnv): ComplianceProvider {
  return {
    async findings() {
      const input = await collectCheckInput(ctx.config, ctx, { env, verifyLedgerUpTo: 0 });
      return runStaticCheck(input, { target: 'admin console' }).findings;
    },
    async evidenceReport(format) {
      const evidence = await collectEvidence(ctx, { env, target: ctx.config.issuer });
      return format === 'json' ? `${JSON.stringify(evidence, null, 2)}\n` : renderEvidenceHtml(evidence);
    },
  };
}
