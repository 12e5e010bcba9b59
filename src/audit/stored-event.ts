// The stored form of an audit event: { ...AuditEventInput, seq, time } as RFC 8785 canonical JSON.
// Those bytes are the Merkle leaf (RFC 9162 §2.1.1: leaf hash = SHA-256(0x00 || bytes)) and are
// stored verbatim in audit_events.event_json; the indexed columns are copies of some members.
import type { AuditEvent, AuditEventInput, AuditEventType, AuditOutcome } from './events.js';
import { AuditError } from './errors.js';
import { canonicalize, canonicalizeAround } from './jcs.js';

/** Every event type; `satisfies` makes adding a type to events.ts without listing it here a type error. */
export const AUDIT_EVENT_TYPES = {
  'authz.code_issued': true,
  'authz.denied': true,
  'token.issued': true,
  'token.refreshed': true,
  'token.revoked': true,
  'token.refresh_reuse_detected': true,
  'token.code_replay_detected': true,
  'token.introspected': true,
  'token.failed': true,
  'consent.granted': true,
  'consent.denied': true,
  'consent.revoked': true,
  'login.succeeded': true,
  'login.failed': true,
  'login.locked': true,
  logout: true,
  'session.expired': true,
  'phi.accessed': true,
  'phi.denied': true,
  'client.changed': true,
  'user.changed': true,
  'key.rotated': true,
  'key.created': true,
  'audit.read': true,
  'audit.verified': true,
  'launch.created': true,
  'breakglass.granted': true,
  'breakglass.notify_failed': true,
  'breakglass.notified': true,
  'breakglass.reviewed': true,
} as const satisfies Record<AuditEventType, true>;

const OUTCOMES: Record<AuditOutcome, true> = { success: true, denied: true, error: true };

/** The indexed copies of an event's members (audit_events columns besides seq and event_json). */
export interface EventColumns {
  time: number;
  type: string;
  outcome: string;
  patient: string | null;
  actorUser: string | null;
  actorClient: string | null;
  resource: string | null;
}

/** An event canonicalised except for its seq, which the ledger learns inside the transaction. */
export interface PreparedEvent {
  /** canonical JSON = before + String(seq) + after */
  before: string;
  after: string;
  columns: EventColumns;
  event: Omit<AuditEvent, 'seq'>;
}

function optionalString(value: unknown, name: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string') throw new AuditError('ERR_AUDIT_INVALID_EVENT', `event.${name} must be a string`);
  return value;
}

export function eventColumns(event: Omit<AuditEvent, 'seq'>): EventColumns {
  return {
    time: event.time,
    type: event.type,
    outcome: event.outcome,
    patient: event.patient ?? null,
    actorUser: event.actor.userId ?? null,
    actorClient: event.actor.clientId ?? null,
    resource: event.resource ?? null,
  };
}

/**
 * Validates an event and canonicalises it with its time. Throws AuditError
 * ERR_AUDIT_INVALID_EVENT (naming the member, never its value) or ERR_JCS_UNSUPPORTED.
 * Members seq and time of the input, if a JavaScript caller passes them, are replaced.
 */
export function prepareEvent(input: AuditEventInput, time: number): PreparedEvent {
  if (typeof input !== 'object' || input === null) throw new AuditError('ERR_AUDIT_INVALID_EVENT', 'event must be an object');
  if (typeof input.type !== 'string' || !Object.hasOwn(AUDIT_EVENT_TYPES, input.type)) {
    throw new AuditError('ERR_AUDIT_INVALID_EVENT', 'event.type is not a known audit event type');
  }
  if (typeof input.outcome !== 'string' || !Object.hasOwn(OUTCOMES, input.outcome)) {
    throw new AuditError('ERR_AUDIT_INVALID_EVENT', 'event.outcome must be success, denied or error');
  }
  if (typeof input.actor !== 'object' || input.actor === null || Array.isArray(input.actor)) {
    throw new AuditError('ERR_AUDIT_INVALID_EVENT', 'event.actor must be an object');
  }
  optionalString(input.actor.userId, 'actor.userId');
  optionalString(input.actor.clientId, 'actor.clientId');
  optionalString(input.patient, 'patient');
  optionalString(input.resource, 'resource');
  if (!Number.isSafeInteger(time) || time < 0) throw new AuditError('ERR_AUDIT_INVALID_EVENT', 'event time must be epoch milliseconds');
  const event = Object.assign({}, input, { time }) as Omit<AuditEvent, 'seq'> & { seq?: unknown };
  if ('seq' in event) delete event.seq;
  const { before, after } = canonicalizeAround(event as unknown as Record<string, unknown>, 'seq');
  return { before, after, columns: eventColumns(event), event };
}

/** The canonical JSON of a prepared event at position seq. */
export function eventJson(prepared: PreparedEvent, seq: number): string {
  return `${prepared.before}${seq}${prepared.after}`;
}

/**
 * Parses stored event JSON and checks it is in canonical form (so it is exactly what a writer
 * hashed). Throws on malformed or non-canonical text.
 */
export function parseStoredEvent(json: string): AuditEvent {
  const event = JSON.parse(json) as AuditEvent;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new Error('not a JSON object');
  if (canonicalize(event) !== json) throw new Error('not in RFC 8785 canonical form');
  if (!Number.isSafeInteger(event.seq) || !Number.isSafeInteger(event.time) || typeof event.actor !== 'object' || event.actor === null) {
    throw new Error('seq, time or actor missing');
  }
  return event;
}
