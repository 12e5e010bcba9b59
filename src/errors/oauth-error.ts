// OAuth 2.0 protocol errors: RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1,
// RFC 8707 §2 (invalid_target), OpenID Connect Core §3.1.2.6.
// `error_description` is client-safe; `detail` is logged but never sent.

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'unsupported_token_type'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required';

const DEFAULT_STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  unsupported_response_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  access_denied: 403,
  server_error: 500,
  temporarily_unavailable: 503,
  unsupported_token_type: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  login_required: 400,
  consent_required: 400,
  interaction_required: 400,
};

export class OAuthError extends Error {
  override name = 'OAuthError';
  readonly status: number;
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly detail?: string,
    status?: number,
  ) {
    super(`${error}: ${description}`);
    this.status = status ?? DEFAULT_STATUS[error];
  }

  /** Only 4xx errors are shown as they are; anything else becomes a generic server_error. */
  get expose(): boolean {
    return this.status < 500 || this.error === 'temporarily_unavailable';
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
