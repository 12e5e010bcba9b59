// Text and JSON renderings of a report (SARIF is in sarif.ts). Text lists the most severe
// findings first; JSON is the Report object as is.
import { SEVERITY_RANK, type Finding, type Report, type Severity } from './types.js';

export type ReportFormat = 'text' | 'json' | 'sarif';
export const REPORT_FORMATS: readonly ReportFormat[] = ['text', 'json', 'sarif'];
export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'note'];

export function sortFindings(report: Report): Finding[] {
  const order = new Map(report.rules.map((r, i) => [r.id, i]));
  return report.findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => SEVERITY_RANK[b.f.severity] - SEVERITY_RANK[a.f.severity] || (order.get(a.f.ruleId) ?? 0) - (order.get(b.f.ruleId) ?? 0) || a.i - b.i)
    .map(({ f }) => f);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function summaryLine(report: Report): string {
  const s = report.summary;
  return `${plural(s.error, 'error')}, ${plural(s.warning, 'warning')}, ${plural(s.note, 'note')}`;
}

export function formatFinding(f: Finding, citations?: readonly string[]): string {
  const lines = [`${f.severity.toUpperCase().padEnd(7)} ${f.ruleId}  ${f.location}`, `        ${f.message}`, `        fix: ${f.fix}`];
  if (citations?.length) lines.push(`        see: ${citations.join('; ')}`);
  return lines.join('\n');
}

export function formatText(report: Report, options: { minSeverity?: Severity } = {}): string {
  const min = SEVERITY_RANK[options.minSeverity ?? 'note'];
  const citations = new Map(report.rules.map((r) => [r.id, r.citations]));
  const shown = sortFindings(report).filter((f) => SEVERITY_RANK[f.severity] >= min);
  const head = `caduceus ${report.kind}: ${report.target}: ${summaryLine(report)} (${report.rules.length} rules)`;
  if (shown.length === 0) return `${head}\nNo findings.\n`;
  return `${head}\n\n${shown.map((f) => formatFinding(f, citations.get(f.ruleId))).join('\n\n')}\n`;
}

export function formatJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
