// Internal (non-protocol) failures with a stable ERR_* code of the catalogue (catalogue.ts,
// STYLE.md habit 3). Messages name what failed, never a value: no PHI, token, secret or username
// goes into them. They are logged, and the one error serializer (serializer.ts) turns them into a
// generic server_error for clients, or 503 temporarily_unavailable when storage, the cache or the
// ledger cannot be reached. The coded errors of the layers above (CryptoError, AuditError,
// ProofError, ScopeSyntaxError, …) are subclasses, each with its part of the catalogue.
import type { ErrorReason, InternalReason } from './catalogue.js';

export type InternalErrorCode = InternalReason;

export class InternalError<Code extends ErrorReason = InternalReason> extends Error {
  override readonly name: string = 'InternalError';

  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True when err is an InternalError (or a subclass), optionally with this code. */
export function isInternalError(err: unknown, code?: ErrorReason): err is InternalError<ErrorReason> {
  return err instanceof InternalError && (code === undefined || err.code === code);
}

/**
 * Seconds a client is asked to wait (Retry-After, RFC 9110 §10.2.3) when the database, the cache or
 * the audit ledger cannot be reached: about one failover of a managed PostgreSQL.
 */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/**
 * True when err, or an error it was caused by, says that storage (database or cache) or the audit
 * ledger cannot serve right now: a transient failure answered 503 temporarily_unavailable with
 * Retry-After, never a 500 and never a success.
 */
export function isUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (isInternalError(e, 'ERR_STORAGE_UNAVAILABLE') || isInternalError(e, 'ERR_AUDIT_UNAVAILABLE')) return true;
    if ((e as { error?: unknown; status?: unknown }).error === 'temporarily_unavailable' && (e as { status?: unknown }).status === 503) return true;
  }
  return false;
}
