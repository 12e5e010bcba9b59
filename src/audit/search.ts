// Search over the ledger's indexed columns (time, type, outcome, patient, actor user, client).
// Reading the audit log is itself auditable: the caller records an 'audit.read' event.
import type { SqlExecutor, SqlValue } from '../storage/sql.js';
import { AuditError } from './errors.js';
import type { AuditEvent, AuditEventType, AuditOutcome } from './events.js';
import { EVENT_COLUMNS, toEventRow, type EventDbRow } from './ledger-store.js';

export interface EventFilters {
  /** FHIR reference of the patient, e.g. "Patient/123". */
  patient?: string;
  /** The acting user's id (actor.userId). */
  actor?: string;
  /** The acting client's client_id (actor.clientId). */
  client?: string;
  type?: AuditEventType | readonly AuditEventType[];
  outcome?: AuditOutcome;
  /** Events at or after this time (epoch ms). */
  since?: number;
  /** Events before this time (epoch ms). */
  until?: number;
  /** Paging cursor: only events with a seq below this (pass the last seq of the previous page). */
  beforeSeq?: number;
  /** Most events returned, newest first. Default 100, at most 10000. */
  limit?: number;
}

export const MAX_SEARCH_LIMIT = 10_000;

function checkInteger(value: number | undefined, name: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min || value > max)) {
    throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', `filters.${name} must be an integer from ${min} to ${max}`);
  }
}

/** Events matching every given filter, newest (highest seq) first. */
export async function searchEvents(ex: SqlExecutor, filters: EventFilters = {}): Promise<AuditEvent[]> {
  checkInteger(filters.since, 'since', 0);
  checkInteger(filters.until, 'until', 0);
  checkInteger(filters.beforeSeq, 'beforeSeq', 0);
  checkInteger(filters.limit, 'limit', 1, MAX_SEARCH_LIMIT);
  const where: string[] = [];
  const params: SqlValue[] = [];
  const add = (clause: (p: string) => string, value: SqlValue): void => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (filters.patient !== undefined) add((p) => `patient = ${p}`, filters.patient);
  if (filters.actor !== undefined) add((p) => `actor_user = ${p}`, filters.actor);
  if (filters.client !== undefined) add((p) => `actor_client = ${p}`, filters.client);
  if (filters.outcome !== undefined) add((p) => `outcome = ${p}`, filters.outcome);
  if (filters.since !== undefined) add((p) => `event_time >= ${p}`, filters.since);
  if (filters.until !== undefined) add((p) => `event_time < ${p}`, filters.until);
  if (filters.beforeSeq !== undefined) add((p) => `seq < ${p}`, filters.beforeSeq);
  if (filters.type !== undefined) {
    const types = typeof filters.type === 'string' ? [filters.type] : [...filters.type];
    if (types.length === 0) return [];
    const marks = types.map((t) => {
      params.push(t);
      return `$${params.length}`;
    });
    where.push(`type IN (${marks.join(', ')})`);
  }
  params.push(filters.limit ?? 100);
  const sql = `SELECT ${EVENT_COLUMNS} FROM audit_events${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.length}`;
  const rows = await ex.all<EventDbRow>(sql, params);
  return rows.map((row) => JSON.parse(toEventRow(row).json) as AuditEvent);
}
