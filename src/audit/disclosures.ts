// Accounting of disclosures, 45 CFR 164.528(a)(1) and (b): per patient, the PHI
// accesses recorded by the gateway ('phi.accessed' events) over a window that defaults to the six
// years before the request. Each row carries what 164.528(b)(2) asks for as far as the ledger
// knows it: when, who received it (user, client), what (resource), why (purpose of use or the
// scope that authorised it), and the outcome.
//
// Deliberately not done here: deciding which accesses are disclosures that must be accounted for
// (treatment, payment and operations are exempt, 164.528(a)(1)(i)); that needs the purpose, which
// the rows carry for the compliance officer. Recipient names and addresses come from the client
// registry (client_id → organisation), not from the ledger. 'phi.denied' events are left out:
// nothing was released. Suspension (164.528(a)(2)) is not implemented yet.
import type { SqlExecutor } from '../storage/sql.js';
import { AuditError } from './errors.js';
import type { AuditEvent, AuditOutcome } from './events.js';
import { EVENT_COLUMNS, toEventRow, type EventDbRow } from './ledger-store.js';

export interface DisclosureRow {
  seq: number;
  /** Epoch milliseconds. */
  time: number;
  /** ISO 8601 UTC date-time of the disclosure. */
  date: string;
  userId: string | null;
  clientId: string | null;
  /** What was disclosed: the FHIR resource reference or URL the gateway recorded. */
  resource: string | null;
  /** The interaction (read, search-type, …). */
  action: string | null;
  /** The scope that authorised the access. */
  scope: string | null;
  /** details.purposeOfUse, when the token or request carried one (e.g. "TREAT"). */
  purposeOfUse: string | null;
  outcome: AuditOutcome;
  requestId: string | null;
}

/** 164.528(a)(1): "in the six years prior to the date on which the accounting is requested". */
export function sixYearsBefore(time: number): number {
  const date = new Date(time);
  date.setUTCFullYear(date.getUTCFullYear() - 6);
  return date.getTime();
}

const DISCLOSURE_TYPES = ['phi.accessed'] as const;

/** Disclosure rows for one patient, oldest first; since defaults to six years before until (default now). */
export async function accountingOfDisclosures(ex: SqlExecutor, patient: string, since?: number, until?: number): Promise<DisclosureRow[]> {
  if (typeof patient !== 'string' || patient === '') throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', 'patient must be a non-empty FHIR reference');
  const end = until ?? Date.now();
  const start = since ?? sixYearsBefore(end);
  for (const [name, value] of [['since', start], ['until', end]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', `${name} must be epoch milliseconds`);
  }
  const rows = await ex.all<EventDbRow>(
    `SELECT ${EVENT_COLUMNS} FROM audit_events WHERE patient = $1 AND event_time >= $2 AND event_time < $3 AND type = $4 ORDER BY seq`,
    [patient, start, end, DISCLOSURE_TYPES[0]],
  );
  return rows.map((row) => toDisclosureRow(JSON.parse(toEventRow(row).json) as AuditEvent));
}

export function toDisclosureRow(event: AuditEvent): DisclosureRow {
  const purpose = event.details?.['purposeOfUse'];
  return {
    seq: event.seq,
    time: event.time,
    date: new Date(event.time).toISOString(),
    userId: event.actor.userId ?? null,
    clientId: event.actor.clientId ?? null,
    resource: event.resource ?? null,
    action: event.action ?? null,
    scope: event.scopes?.used ?? event.scopes?.granted?.join(' ') ?? null,
    purposeOfUse: typeof purpose === 'string' ? purpose : null,
    outcome: event.outcome,
    requestId: event.requestId ?? null,
  };
}
