// The startup gate of `caduceus serve` (docs/SECURITY.md "Compliance checks, and a server that
// refuses to start non-compliant"): the static compliance check runs after the context is assembled
// and before the listener opens. Any error-severity finding refuses the start, unless
// unsafe.allow_noncompliant_start is on, in which case the server starts under a loud warning (and
// that switch is itself an error finding, CAD-UNS-001). Warnings are printed and never block. The
// dev stack (`caduceus dev`) does not run this gate.
//
// The ledger is verified in full only up to STARTUP_LEDGER_VERIFY_LIMIT events, so a large ledger
// does not delay every start; `caduceus check` always verifies all of it.
import type { AppContext } from '../context/app-context.js';
import { failingFindings, runStaticCheck } from './check.js';
import { formatFinding, formatText, summaryLine } from './format.js';
import { collectCheckInput } from './input.js';
import type { Report } from './types.js';

export const STARTUP_LEDGER_VERIFY_LIMIT = 100_000;

export interface StartupGateIo {
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

export interface StartupGateResult {
  /** Whether the server may start. */
  start: boolean;
  report: Report;
}

const BAR = '!'.repeat(78);

export async function runStartupGate(ctx: AppContext, io: StartupGateIo, options: { verifyLedgerUpTo?: number } = {}): Promise<StartupGateResult> {
  const input = await collectCheckInput(ctx.config, ctx, { env: io.env, verifyLedgerUpTo: options.verifyLedgerUpTo ?? STARTUP_LEDGER_VERIFY_LIMIT });
  const report = runStaticCheck(input, { target: 'startup' });
  const errors = failingFindings(report, 'error');
  const citations = new Map(report.rules.map((r) => [r.id, r.citations]));
  if (errors.length === 0) {
    for (const f of report.findings.filter((x) => x.severity === 'warning')) {
      io.stderr(`warning: compliance ${f.ruleId} ${f.location}: ${f.message}\n`);
    }
    return { start: true, report };
  }
  if (!ctx.config.unsafe.allow_noncompliant_start) {
    io.stderr(`caduceus serve: refusing to start: the compliance check found ${summaryLine(report)}.\n` +
      'Fix the errors below (or, knowingly, set unsafe.allow_noncompliant_start: true, which is itself a finding).\n\n' +
      formatText(report, { minSeverity: 'warning' }));
    return { start: false, report };
  }
  io.stderr(`${BAR}\n!!! WARNING: STARTING A NON-COMPLIANT SERVER\n!!! unsafe.allow_noncompliant_start is on and the compliance check found ${errors.length} error${errors.length === 1 ? '' : 's'}:\n${BAR}\n` +
    `${errors.map((f) => formatFinding(f, citations.get(f.ruleId))).join('\n\n')}\n${BAR}\n`);
  return { start: true, report };
}
