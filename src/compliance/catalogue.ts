// The rule catalogue as Markdown (docs/compliance.md), generated from the rule modules by
// scripts/gen-compliance-doc.ts; test/compliance/docs.test.ts fails when the file is stale.
import { PROBE_RULES } from './probe/rules.js';
import { STATIC_RULES } from './rules/index.js';
import { ruleAnchor } from './sarif.js';
import { SAFEGUARDS } from './report/evidence.js';
import type { RuleDescriptor } from './types.js';

export const ALL_RULES: readonly RuleDescriptor[] = [...STATIC_RULES, ...PROBE_RULES];

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function ruleSection(rule: RuleDescriptor, checkedBy: string): string {
  return [
    `<a id="${ruleAnchor(rule.id)}"></a>`,
    `### ${rule.id}: ${rule.title}`,
    '',
    `Severity: **${rule.severity}**. Checked by: ${checkedBy}.`,
    '',
    rule.description,
    '',
    ...(rule.citations.length ? ['Citations:', '', ...rule.citations.map((c) => `- ${c}`), ''] : []),
  ].join('\n');
}

function index(rules: readonly RuleDescriptor[]): string {
  return [
    '| Id | Rule | Severity | Citations |',
    '| --- | --- | --- | --- |',
    ...rules.map((r) => `| [${r.id}](#${ruleAnchor(r.id)}) | ${cell(r.title)} | ${r.severity} | ${cell(r.citations.join('; '))} |`),
  ].join('\n');
}

export function renderComplianceDoc(): string {
  const safeguards = Object.values(SAFEGUARDS);
  return `# Compliance checks

<!-- Generated from src/compliance/rules/*.ts and src/compliance/probe/rules.ts by
     scripts/gen-compliance-doc.ts. Do not edit by hand: run \`npx tsx scripts/gen-compliance-doc.ts\`. -->

Caduceus checks its own deployment, and any other authorization server, against HIPAA's technical
safeguards (45 CFR 164.312), the OAuth 2.0 Security Best Current Practice (RFC 9700) and SMART App
Launch 2.2:

- \`caduceus check [--config FILE | --data DIR] [--format text|json|sarif] [--fail-on error|warning|note]\`
  runs the static rules below over the configuration and the stored clients, users, signing keys
  and audit ledger (verified in full). Exit 0 when nothing at or above \`--fail-on\` (default
  \`error\`) is found, 1 otherwise, 2 on usage errors. SARIF 2.1.0 output loads in code-scanning
  tools; each rule's \`helpUri\` points at its anchor in this file.
- \`caduceus serve\` runs the same rules at startup and refuses to start on any error finding.
  \`unsafe.allow_noncompliant_start: true\` starts anyway under a loud warning, and is itself an
  error finding (CAD-UNS-001). The development stack (\`caduceus dev\`) does not run this gate.
- \`caduceus probe ISSUER_URL\` runs the live checks below against a running server, ours or
  anyone's, sending traffic only to that URL's origin. Same formats and exit codes as \`check\`.
- \`caduceus report [--config FILE | --data DIR] --format html|json [--out FILE]\` writes the
  auditor-facing evidence report.

Severities: **error** fails \`check\`, \`probe\` and the startup gate; **warning** needs review
(fails only with \`--fail-on warning\`); **note** is information.

## Static rules

${index(STATIC_RULES)}

${STATIC_RULES.map((r) => ruleSection(r, '`caduceus check`, `caduceus serve` (startup gate), `caduceus report`')).join('\n')}
## Live probe checks

${index(PROBE_RULES)}

${PROBE_RULES.map((r) => ruleSection(r, '`caduceus probe`')).join('\n')}
## Evidence report

\`caduceus report\` maps each section to the safeguard it evidences:

| Section | Safeguards |
| --- | --- |
| Configuration findings | every rule above, by its citations |
| Audit ledger: verification and latest signed checkpoint | ${SAFEGUARDS.auditControls.citation}, ${SAFEGUARDS.integrity.citation} |
| Token signing key rotation history | ${SAFEGUARDS.integrity.citation}, ${SAFEGUARDS.authentication.citation} |
| Clients, scopes and redirect URIs | ${SAFEGUARDS.accessControl.citation} |
| Consents (by client, revoked) and emergency access | ${SAFEGUARDS.accessControl.citation} |
| Session and token lifetimes | ${SAFEGUARDS.automaticLogoff.citation} |
| Users, MFA and client authentication | ${SAFEGUARDS.authentication.citation} |
| TLS, HSTS, certificate and database transport | ${SAFEGUARDS.transmission.citation} |

Safeguards: ${safeguards.map((s) => `${s.name} (${s.citation})`).join('; ')}.
`;
}
