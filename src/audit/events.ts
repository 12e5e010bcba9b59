// The one audit event schema shared by every producer (authorization server, gateway, admin CLI,
// break-glass). 45 CFR 164.312(b) audit controls. Identifiers only: no PHI payloads, no token
// values, no search-parameter values, no secrets.

export type AuditEventType =
  | 'authz.code_issued'
  | 'authz.denied'
  | 'token.issued'
  | 'token.refreshed'
  | 'token.revoked'
  | 'token.refresh_reuse_detected'
  | 'token.code_replay_detected'
  | 'token.introspected'
  | 'token.failed'
  | 'consent.granted'
  | 'consent.denied'
  | 'consent.revoked'
  | 'login.succeeded'
  | 'login.failed'
  /**
   * An account, or a client id from one address, locked out after repeated failures; also the
   * alert (reason too_many_client_auth_failures_all_sources, details.locked false) for one client
   * id's failures from every address, which locks nothing (164.308(a)(5)(ii)(C)).
   */
  | 'login.locked'
  | 'logout'
  | 'session.expired'
  | 'phi.accessed'
  | 'phi.denied'
  | 'client.changed'
  | 'user.changed'
  | 'key.rotated'
  | 'key.created'
  | 'audit.read'
  /**
   * A verification of the whole ledger (45 CFR 164.312(c)(1) integrity): outcome success when intact,
   * error with the fault's code otherwise. Its own type so the latest one is one indexed lookup.
   */
  | 'audit.verified'
  /** An EHR created a SMART launch context (src/smart/launch-endpoint.ts). */
  | 'launch.created'
  /** Emergency access granted (45 CFR 164.312(a)(2)(ii)); its uses are flagged on phi.* events. */
  | 'breakglass.granted'
  | 'breakglass.notify_failed'
  | 'breakglass.notified'
  | 'breakglass.reviewed';

export type AuditOutcome = 'success' | 'denied' | 'error';

export interface AuditActor {
  userId?: string;
  clientId?: string;
}

export interface AuditScopes {
  requested?: string[];
  granted?: string[];
  /** The scope that authorised this access (gateway). */
  used?: string;
}

/** A field-level change of an admin operation; secrets are given as "[redacted]". */
export interface AuditChange {
  field: string;
  before: unknown;
  after: unknown;
}

/** What a producer hands to the audit sink. The ledger adds seq and time. */
export interface AuditEventInput {
  type: AuditEventType;
  actor: AuditActor;
  /** FHIR reference of the patient when PHI is involved (e.g. "Patient/123"). */
  patient?: string;
  /** What was acted on: a resource URI, "Patient/123", a client id, a key id. */
  resource?: string;
  action?: string;
  outcome: AuditOutcome;
  /** Machine-readable reason code (an OAuth error code, ERR_* code, or a short tag). */
  reason?: string;
  scopes?: AuditScopes;
  grantId?: string;
  consentId?: string;
  jti?: string;
  sessionId?: string;
  requestId?: string;
  sourceAddress?: string;
  changes?: AuditChange[];
  /** Extra identifiers, never PHI. */
  details?: Record<string, string | number | boolean>;
}

/** A stored event: the input plus its position in the ledger and its UTC time in milliseconds. */
export interface AuditEvent extends AuditEventInput {
  seq: number;
  time: number;
}

/**
 * Where producers send events. Contract: `record` resolves only once the event is durable
 * ("no audit, no access"); it rejects when the event could not be stored, and the caller must
 * then fail closed (OAuth `temporarily_unavailable`, 503 for PHI).
 */
export interface AuditSink {
  record(event: AuditEventInput): Promise<void>;
}

/** Marks a value as redacted in change diffs. */
export const REDACTED = '[redacted]';
