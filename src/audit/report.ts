// What the audit CLI (src/cli/audit.ts) and the audit HTTP API (src/audit-api/routes.ts) share: reading
// search filters from text (ISO 8601 times, event types, outcomes), describing a read for its own
// audit.read event, and the HIPAA accounting of disclosures (45 CFR 164.528) as JSON, CSV and a
// printable HTML page a patient can read.
//
// 164.528(b)(2): each accounting entry holds the date of the disclosure, the name (and address, if
// known) of who received the PHI, a brief description of what was disclosed, and a brief statement
// of its purpose. The ledger knows the recipient application (client) and user; the organisation is
// the registered client's name.
import { AuditError } from './errors.js';
import type { AuditEventType, AuditOutcome } from './events.js';
import type { DisclosureRow } from './disclosures.js';
import type { EventFilters } from './search.js';
import { AUDIT_EVENT_TYPES } from './stored-event.js';
import { FHIR_ID_SOURCE } from '../util/fhir-id.js';

/** A filter value could not be read; `name` is the flag or query parameter, the message never holds the value. */
export class FilterError extends Error {
  override readonly name = 'FilterError';
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
  }
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
// RFC 3339 date-time: a zone (Z or ±hh:mm) is required, local times are ambiguous.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;
const DAY_MS = 86_400_000;

/**
 * An ISO 8601 / RFC 3339 instant as epoch milliseconds. A date alone (2025-01-31) means the whole
 * UTC day: its start for `since`, the start of the next day for `until` (which is exclusive), so
 * `--since 2025-01-01 --until 2025-01-31` covers all of January.
 */
export function parseInstant(value: string, bound: 'since' | 'until', parameter: string = bound): number {
  const date = DATE_ONLY.exec(value);
  if (date) {
    const start = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    const back = new Date(start);
    if (Number.isNaN(start) || back.getUTCFullYear() !== Number(date[1]) || back.getUTCMonth() !== Number(date[2]) - 1 || back.getUTCDate() !== Number(date[3])) {
      throw new FilterError(parameter, `${parameter} is not a valid date; use YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ`);
    }
    const ms = bound === 'until' ? start + DAY_MS : start;
    if (ms < 0) throw new FilterError(parameter, `${parameter} must not be before 1970`);
    return ms;
  }
  if (!DATE_TIME.test(value)) {
    throw new FilterError(parameter, `${parameter} must be an ISO 8601 date (YYYY-MM-DD) or date-time with a zone (YYYY-MM-DDThh:mm:ssZ)`);
  }
  const ms = Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new FilterError(parameter, `${parameter} is not a valid date-time`);
  if (ms < 0) throw new FilterError(parameter, `${parameter} must not be before 1970`);
  return ms;
}

export function parseEventType(value: string, parameter = 'type'): AuditEventType {
  if (!Object.hasOwn(AUDIT_EVENT_TYPES, value)) {
    throw new FilterError(parameter, `${parameter}: not an audit event type; use one of ${Object.keys(AUDIT_EVENT_TYPES).join(', ')}`);
  }
  return value as AuditEventType;
}

const OUTCOMES: readonly AuditOutcome[] = ['success', 'denied', 'error'];

export function parseOutcome(value: string, parameter = 'outcome'): AuditOutcome {
  if (!(OUTCOMES as readonly string[]).includes(value)) throw new FilterError(parameter, `${parameter} must be success, denied or error`);
  return value as AuditOutcome;
}

/** A positive integer no larger than max (limits, seqs, sizes). */
export function parseCount(value: string, parameter: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^(0|[1-9][0-9]*)$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min || Number(value) > max) {
    throw new FilterError(parameter, `${parameter} must be an integer from ${min} to ${max}`);
  }
  return Number(value);
}

/** Text filter values by name, as flags or query parameters give them (already split into lists). */
export interface FilterText {
  patient?: string;
  actor?: string;
  client?: string;
  type?: readonly string[];
  outcome?: string;
  since?: string;
  until?: string;
  limit?: string;
  before_seq?: string;
}

export const MAX_LIMIT = 10_000;

/** Reads search filters; each FilterError names the parameter (with `prefix`, e.g. "--"). */
export function parseFilters(text: FilterText, prefix = ''): EventFilters {
  const filters: EventFilters = {};
  const name = (n: string): string => `${prefix}${prefix === '--' ? n.replace('_', '-') : n}`;
  const nonEmpty = (value: string | undefined, n: string): string | undefined => {
    if (value === undefined) return undefined;
    if (value === '') throw new FilterError(name(n), `${name(n)} must not be empty`);
    return value;
  };
  const patient = nonEmpty(text.patient, 'patient');
  if (patient !== undefined) filters.patient = patient;
  const actor = nonEmpty(text.actor, 'actor');
  if (actor !== undefined) filters.actor = actor;
  const client = nonEmpty(text.client, 'client');
  if (client !== undefined) filters.client = client;
  if (text.type !== undefined && text.type.length > 0) {
    const types = [...new Set(text.type.flatMap((t) => t.split(',')).map((t) => parseEventType(t.trim(), name('type'))))];
    filters.type = types.length === 1 ? types[0]! : types;
  }
  if (text.outcome !== undefined) filters.outcome = parseOutcome(text.outcome, name('outcome'));
  if (text.since !== undefined) filters.since = parseInstant(text.since, 'since', name('since'));
  if (text.until !== undefined) filters.until = parseInstant(text.until, 'until', name('until'));
  if (filters.since !== undefined && filters.until !== undefined && filters.until <= filters.since) {
    throw new FilterError(name('until'), `${name('until')} must be after ${name('since')}`);
  }
  if (text.limit !== undefined) filters.limit = parseCount(text.limit, name('limit'), 1, MAX_LIMIT);
  if (text.before_seq !== undefined) filters.beforeSeq = parseCount(text.before_seq, name('before_seq'), 0);
  return filters;
}

/**
 * The names of the filters a read used, for its audit.read event. Names only: an actor or client
 * id could identify a person, and a date range says nothing an auditor needs. The patient
 * reference is an identifier the audit.read event carries in its own `patient` member, so "who
 * looked at this patient's audit trail" is itself searchable.
 */
export function filterNames(filters: EventFilters): string {
  const names = (['patient', 'actor', 'client', 'type', 'outcome', 'since', 'until', 'beforeSeq', 'limit'] as const).filter((k) => filters[k] !== undefined);
  return names.length > 0 ? names.join(',') : 'none';
}

// ---- accounting of disclosures (45 CFR 164.528) --------------------------------------------------

/** A disclosure with the recipient organisation (the registered client's name), snake_case for the wire. */
export interface DisclosureEntry {
  seq: number;
  date: string;
  organisation: string | null;
  client_id: string | null;
  user_id: string | null;
  resource: string | null;
  action: string | null;
  scope: string | null;
  purpose_of_use: string | null;
  outcome: AuditOutcome;
  request_id: string | null;
}

export interface DisclosureReport {
  patient: string;
  /** ISO 8601 start of the period (inclusive). */
  since: string;
  /** ISO 8601 end of the period (exclusive). */
  until: string;
  /** When the accounting was produced. */
  generated: string;
  /** Who the accounting is from (the issuer). */
  covered_entity: string;
  disclosures: DisclosureEntry[];
}

export function disclosureEntry(row: DisclosureRow, organisation: string | null): DisclosureEntry {
  return {
    seq: row.seq,
    date: row.date,
    organisation,
    client_id: row.clientId,
    user_id: row.userId,
    resource: row.resource,
    action: row.action,
    scope: row.scope,
    purpose_of_use: row.purposeOfUse,
    outcome: row.outcome,
    request_id: row.requestId,
  };
}

const CSV_COLUMNS: readonly (keyof DisclosureEntry)[] = [
  'seq', 'date', 'organisation', 'client_id', 'user_id', 'resource', 'action', 'scope', 'purpose_of_use', 'outcome', 'request_id',
];

/** RFC 4180 field; a leading = + - @ tab or CR is defused so spreadsheets do not run it as a formula. */
function csvField(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV with a header row, CRLF line ends (RFC 4180 §2). */
export function disclosuresCsv(report: DisclosureReport): string {
  const lines = [CSV_COLUMNS.join(','), ...report.disclosures.map((d) => CSV_COLUMNS.map((c) => csvField(d[c])).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const PURPOSES: Record<string, string> = {
  TREAT: 'Treatment',
  ETREAT: 'Emergency treatment',
  HPAYMT: 'Payment',
  HOPERAT: 'Health care operations',
  PATRQT: 'Your own request',
  PUBHLTH: 'Public health',
  HRESCH: 'Research',
  HLEGAL: 'Legal',
};

const ACTIONS: Record<string, string> = {
  read: 'viewed', vread: 'viewed', 'search-type': 'searched', search: 'searched', 'search-system': 'searched',
  create: 'created', update: 'updated', patch: 'updated', delete: 'deleted', history: 'viewed history', 'history-instance': 'viewed history',
};

const OUTCOME_TEXT: Record<AuditOutcome, string> = { success: 'Released', denied: 'Refused', error: 'Failed' };

const RESOURCE_REFERENCE = new RegExp(`(?:^|/)([A-Z][A-Za-z]+)/(${FHIR_ID_SOURCE})(?:[/?]|$)`);

/** "Observation/123" → "Observation 123"; anything else as recorded. */
function describeResource(resource: string | null): string {
  if (resource === null) return 'Not recorded';
  const match = RESOURCE_REFERENCE.exec(resource);
  return match ? `${match[1]} ${match[2]}` : resource;
}

function humanDate(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

/**
 * A self-contained, printable HTML page for the patient: no script, no external resources, every
 * value escaped. The Content-Security-Policy meta tag forbids scripts even if the file is served.
 */
export function disclosuresHtml(report: DisclosureReport): string {
  const rows = report.disclosures.map((d) => {
    const recipient = [d.organisation ?? d.client_id ?? 'Unknown application', d.organisation && d.client_id ? `(application ${d.client_id})` : '']
      .filter(Boolean).join(' ');
    const purpose = d.purpose_of_use ? (PURPOSES[d.purpose_of_use] ?? d.purpose_of_use) : 'Not stated';
    const what = `${describeResource(d.resource)}${d.action ? ` (${ACTIONS[d.action] ?? d.action})` : ''}`;
    return `<tr>
<td>${escapeHtml(humanDate(d.date))}</td>
<td>${escapeHtml(recipient)}</td>
<td>${escapeHtml(d.user_id ?? '—')}</td>
<td>${escapeHtml(what)}</td>
<td>${escapeHtml(purpose)}${d.scope ? `<br><span class="scope">permission: ${escapeHtml(d.scope)}</span>` : ''}</td>
<td>${escapeHtml(OUTCOME_TEXT[d.outcome])}</td>
<td class="ref">${d.seq}</td>
</tr>`;
  });
  const period = `${humanDate(report.since)} to ${humanDate(report.until)}`;
  const body = rows.length > 0
    ? `<table>
<thead><tr><th scope="col">Date</th><th scope="col">Who received it</th><th scope="col">User</th><th scope="col">What was disclosed</th><th scope="col">Purpose</th><th scope="col">Result</th><th scope="col">Ref.</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`
    : '<p class="none">No disclosures of your health information were recorded in this period.</p>';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Accounting of disclosures</title>
<style>
body { font: 11pt/1.45 system-ui, -apple-system, "Segoe UI", Arial, sans-serif; color: #111; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 1rem 0; }
dt { font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { border: 1px solid #999; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #eee; }
.scope, .ref { color: #555; font-size: .85em; }
.none { font-style: italic; }
footer { margin-top: 1.5rem; font-size: .9em; color: #333; }
@media print { body { margin: 0; max-width: none; } th { background: none; } tr { break-inside: avoid; } }
</style>
</head>
<body>
<h1>Accounting of disclosures of your health information</h1>
<p>This is the list of times your health information was released through ${escapeHtml(report.covered_entity)}, as required by the HIPAA Privacy Rule (45 CFR 164.528).</p>
<dl>
<dt>Patient</dt><dd>${escapeHtml(report.patient)}</dd>
<dt>Period</dt><dd>${escapeHtml(period)}</dd>
<dt>Prepared</dt><dd>${escapeHtml(humanDate(report.generated))}</dd>
<dt>Disclosures</dt><dd>${report.disclosures.length}</dd>
</dl>
${body}
<footer>
<p>"Who received it" is the organisation and application that requested the information; "User" is the account that used the application, if any. "Ref." is the entry number in the tamper-evident audit log, so that any entry can be checked.</p>
<p>You may ask for one free accounting every 12 months. If you have questions about this list, contact the privacy officer of your health care provider.</p>
</footer>
</body>
</html>
`;
}

export function disclosuresJson(report: DisclosureReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** An AuditError about an argument (a seq or size beyond the log): the caller's mistake, reported as such. */
export function isArgumentError(err: unknown): err is AuditError {
  return err instanceof AuditError && err.code === 'ERR_AUDIT_INVALID_ARGUMENT';
}
