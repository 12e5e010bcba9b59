// SARIF 2.1.0 (OASIS, sarif-v2.1.0-os) rendering of a report, loadable by code-scanning tools:
// one run, tool.driver.name "caduceus" with the rule catalogue (shortDescription, helpUri to the
// rule's anchor in docs/compliance.md, properties.tags = its citations), and one result per
// finding with level error/warning/note. Config paths, clients and keys become logical locations;
// when the findings come from a configuration file, results also point at the line (physical
// location) so code-scanning UIs can annotate it.
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import type { Finding, Report } from './types.js';

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
export const SARIF_VERSION = '2.1.0';

/** The docs/compliance.md of this installation, as a file: URL (absolute, as SARIF wants helpUri). */
export function defaultDocsUrl(): string {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return pathToFileURL(resolve(root, 'docs', 'compliance.md')).href;
}

/** The anchor of a rule in docs/compliance.md. */
export function ruleAnchor(ruleId: string): string {
  return ruleId.toLowerCase();
}

export interface SarifArtifact {
  /** URI of the analysed file, relative to the repository root where possible (e.g. deploy/caduceus.yaml). */
  uri: string;
  /** The line (1-based) a finding's location refers to, when it can be found in the file. */
  locate?: (location: string) => { startLine: number; startColumn?: number } | undefined;
}

export interface SarifOptions {
  /** Base URL of docs/compliance.md (default: this installation's copy). */
  docsUrl?: string;
  artifact?: SarifArtifact;
}

function logicalLocation(location: string): { name: string; fullyQualifiedName: string; kind: string } {
  const m = /^(client|signing-key):(.*)$/.exec(location);
  if (m) return { name: m[2]!, fullyQualifiedName: location, kind: 'object' };
  if (/^https?:\/\//.test(location)) return { name: location, fullyQualifiedName: location, kind: 'resource' };
  const last = location.split('.').pop() ?? location;
  return { name: last, fullyQualifiedName: location, kind: 'member' };
}

function ruleName(title: string): string {
  return title.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : '')).replace(/^./, (c) => c.toUpperCase());
}

function fingerprint(f: Finding): string {
  return createHash('sha256').update(`${f.ruleId}\n${f.location}\n${f.message}`).digest('hex').slice(0, 32);
}

export function toSarif(report: Report, options: SarifOptions = {}): Record<string, unknown> {
  const docs = options.docsUrl ?? defaultDocsUrl();
  const index = new Map(report.rules.map((r, i) => [r.id, i]));
  const rules = report.rules.map((r) => ({
    id: r.id,
    name: ruleName(r.title),
    shortDescription: { text: r.title },
    fullDescription: { text: r.description },
    helpUri: `${docs}#${ruleAnchor(r.id)}`,
    help: {
      text: `${r.description}\nCitations: ${r.citations.join('; ')}`,
      markdown: `${r.description}\n\n**Citations:** ${r.citations.join('; ')}`,
    },
    defaultConfiguration: { level: r.severity },
    properties: { tags: [...r.citations] },
  }));
  const results = report.findings.map((f) => {
    const region = options.artifact?.locate?.(f.location);
    const location: Record<string, unknown> = { logicalLocations: [logicalLocation(f.location)] };
    if (options.artifact) {
      location.physicalLocation = { artifactLocation: { uri: options.artifact.uri }, region: region ?? { startLine: 1 } };
    }
    const result: Record<string, unknown> = {
      ruleId: f.ruleId,
      level: f.severity,
      message: { text: `${f.message} Fix: ${f.fix}` },
      locations: [location],
      partialFingerprints: { 'caduceusFinding/v1': fingerprint(f) },
      properties: { fix: f.fix, location: f.location },
    };
    const i = index.get(f.ruleId);
    if (i !== undefined) result.ruleIndex = i;
    return result;
  });
  const run: Record<string, unknown> = {
    tool: {
      driver: {
        name: 'caduceus',
        version: report.version,
        semanticVersion: report.version,
        informationUri: docs,
        rules,
      },
    },
    automationDetails: { id: `caduceus-${report.kind}/` },
    invocations: [{ executionSuccessful: true, endTimeUtc: report.generatedAt }],
    results,
    properties: { target: report.target, summary: report.summary },
  };
  if (options.artifact) run.artifacts = [{ location: { uri: options.artifact.uri } }];
  return { $schema: SARIF_SCHEMA, version: SARIF_VERSION, runs: [run] };
}

export function formatSarif(report: Report, options: SarifOptions = {}): string {
  return `${JSON.stringify(toSarif(report, options), null, 2)}\n`;
}
