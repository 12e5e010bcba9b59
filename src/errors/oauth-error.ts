// The errors a client is told about: an `error` code of the catalogue (catalogue.ts: the OAuth
// codes of RFC 6749, 6750, 7009, 7591, 8707, 9449 and OpenID Connect, and not_found, bad_gateway),
// a client-safe `error_description`, the HTTP status, and a `detail` that is logged but never
// sent. The one serializer (serializer.ts) writes them. Subclasses carry behaviour only:
// response headers (`headers()`: ClientAuthError's Basic challenge, DpopError's DPoP-Nonce, a
// protected resource's WWW-Authenticate) or what their layer needs to know.
import { ERROR_STATUS, type ErrorCode } from './catalogue.js';
import type { ResourceChallengeParams } from './challenge.js';

export type { ErrorCode, OAuthErrorCode } from './catalogue.js';

export class OAuthError extends Error {
  override name = 'OAuthError';
  readonly status: number;
  constructor(
    readonly error: ErrorCode,
    readonly description: string,
    readonly detail?: string,
    status?: number,
  ) {
    super(`${error}: ${description}`);
    this.status = status ?? ERROR_STATUS[error];
  }

  /** Only 4xx errors (and 503 temporarily_unavailable) are shown as they are; anything else becomes a generic server_error. */
  get expose(): boolean {
    return this.status < 500 || this.error === 'temporarily_unavailable';
  }

  /**
   * Response headers this error adds besides the body (WWW-Authenticate, DPoP-Nonce), given what
   * the protected resource answering it adds to its challenges. None by default.
   */
  headers(_resource: ResourceChallengeParams): Record<string, string> {
    return {};
  }

  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

export const invalidRequest = (description: string, detail?: string) => new OAuthError('invalid_request', description, detail);
export const invalidClient = (description = 'client authentication failed', detail?: string) =>
  new OAuthError('invalid_client', description, detail);
export const invalidGrant = (description: string, detail?: string) => new OAuthError('invalid_grant', description, detail);
export const invalidScope = (description: string, detail?: string) => new OAuthError('invalid_scope', description, detail);
export const invalidTarget = (description: string, detail?: string) => new OAuthError('invalid_target', description, detail);
export const unauthorizedClient = (description: string, detail?: string) => new OAuthError('unauthorized_client', description, detail);
export const temporarilyUnavailable = (detail?: string) =>
  new OAuthError('temporarily_unavailable', 'the service cannot record this request right now; try again later', detail);
