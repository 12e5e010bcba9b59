// The static compliance check: every rule of the catalogue run over one snapshot of a deployment.
// A rule that throws is a defect in the rule, reported as an error finding of that rule rather
// than hiding every other finding.
import { readFileSync } from 'node:fs';
import { STATIC_RULES } from './rules/index.js';
import { SEVERITY_RANK, type CheckInput, type Finding, type Report, type Rule, type RuleDescriptor, type Severity } from './types.js';

let version: string | undefined;

/** The package version, for reports and SARIF. */
export function caduceusVersion(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0';
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}

export function describeRule(rule: RuleDescriptor): RuleDescriptor {
  return { id: rule.id, title: rule.title, severity: rule.severity, citations: [...rule.citations], description: rule.description };
}

export function makeReport(kind: Report['kind'], target: string, rules: readonly RuleDescriptor[], findings: Finding[], now: number): Report {
  const summary = { error: 0, warning: 0, note: 0 };
  for (const f of findings) summary[f.severity] += 1;
  return {
    tool: 'caduceus',
    version: caduceusVersion(),
    kind,
    target,
    generatedAt: new Date(now).toISOString(),
    rules: rules.map(describeRule),
    findings,
    summary,
  };
}

/** Runs every rule (or the given ones) over `input`. */
export function runStaticCheck(input: CheckInput, options: { target?: string; rules?: readonly Rule[] } = {}): Report {
  const rules = options.rules ?? STATIC_RULES;
  const findings: Finding[] = [];
  for (const rule of rules) {
    try {
      findings.push(...rule.check(input));
    } catch (err) {
      findings.push({
        ruleId: rule.id, severity: 'error', location: '(rule)',
        message: `The rule could not run: ${(err as Error).message}`, fix: 'Report this as a Caduceus defect.',
      });
    }
  }
  return makeReport('check', options.target ?? '(configuration)', rules, findings, input.now);
}

/** Findings at or above `failOn`. */
export function failingFindings(report: Report, failOn: Severity): Finding[] {
  return report.findings.filter((f) => SEVERITY_RANK[f.severity] >= SEVERITY_RANK[failOn]);
}

/** 0 when nothing at or above `failOn` was found, 1 otherwise. */
export function exitCodeFor(report: Report, failOn: Severity): 0 | 1 {
  return failingFindings(report, failOn).length ? 1 : 0;
}
