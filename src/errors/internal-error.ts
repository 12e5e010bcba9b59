// Internal (non-protocol) failures with stable ERR_* codes (STYLE.md habit 3). Messages name what
// failed, never a value: no PHI, token, secret or username goes into them. They are logged, and the
// one error serializer turns them into a generic server_error for clients.

export type InternalErrorCode =
  | 'ERR_CONFLICT'
  | 'ERR_NOT_FOUND'
  | 'ERR_STORAGE'
  | 'ERR_AUDIT_UNAVAILABLE'
  | 'ERR_CONFIG'
  | 'ERR_CRYPTO';

export class InternalError extends Error {
  override readonly name = 'InternalError';

  constructor(
    readonly code: InternalErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True when err is an InternalError, optionally with this code. */
export function isInternalError(err: unknown, code?: InternalErrorCode): err is InternalError {
  return err instanceof InternalError && (code === undefined || err.code === code);
}
