// Why the gateway refused a request: an RFC 6750 §3.1 error (or a FHIR-facing one) for the
// client, and a stable ERR_* reason for the audit ledger. Descriptions are client-safe: no token,
// no PHI, no upstream detail.

export type GatewayErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'insufficient_scope'
  | 'access_denied'
  | 'bad_gateway'
  | 'temporarily_unavailable'
  | 'server_error';

export type GatewayReason =
  | 'ERR_TOKEN_MISSING'
  | 'ERR_TOKEN_IN_QUERY'
  | 'ERR_TOKEN_SCHEME'
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_TOKEN_ALG'
  | 'ERR_TOKEN_TYP'
  | 'ERR_TOKEN_UNKNOWN_KEY'
  | 'ERR_TOKEN_SIGNATURE'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_NOT_YET_VALID'
  | 'ERR_TOKEN_ISSUER'
  | 'ERR_TOKEN_AUDIENCE'
  | 'ERR_TOKEN_CLAIMS'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_DPOP_BINDING'
  | 'ERR_DPOP_PROOF'
  | 'ERR_DPOP_NONCE'
  | 'ERR_INSUFFICIENT_SCOPE'
  | 'ERR_NO_PATIENT_CONTEXT'
  | 'ERR_PATIENT_COMPARTMENT'
  | 'ERR_NOT_ON_PANEL'
  | 'ERR_SEARCH_PATIENT_PARAM'
  | 'ERR_NOT_IN_COMPARTMENT_TYPES'
  | 'ERR_INTERACTION_NOT_ALLOWED'
  | 'ERR_PATH_NOT_ALLOWED'
  | 'ERR_NO_RULE'
  | 'ERR_BODY_INVALID'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_BATCH_ENTRY'
  | 'ERR_UPSTREAM_UNAVAILABLE'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_UPSTREAM_TOO_LARGE'
  | 'ERR_UPSTREAM_FORMAT'
  | 'ERR_UPSTREAM_MISMATCH'
  | 'ERR_AUDIT_UNAVAILABLE'
  | 'ERR_STATUS_UNAVAILABLE'
  | 'ERR_GATEWAY_INTERNAL';

const STATUS: Record<GatewayErrorCode, number> = {
  invalid_request: 400,
  invalid_token: 401,
  invalid_dpop_proof: 401,
  use_dpop_nonce: 401,
  insufficient_scope: 403,
  access_denied: 403,
  bad_gateway: 502,
  temporarily_unavailable: 503,
  server_error: 500,
};

export class GatewayDenial extends Error {
  override name = 'GatewayDenial';
  readonly status: number;
  constructor(
    readonly error: GatewayErrorCode,
    readonly description: string,
    readonly reason: GatewayReason,
    options: { status?: number; requiredScope?: string; details?: Record<string, string | number | boolean>; challenge?: string; dpopNonce?: string } = {},
  ) {
    super(`${error}: ${description}`);
    this.status = options.status ?? STATUS[error];
    this.requiredScope = options.requiredScope;
    this.details = options.details;
    this.challenge = options.challenge;
    this.dpopNonce = options.dpopNonce;
  }

  /** A ready WWW-Authenticate value replacing the Bearer challenge (DPoP refusals, RFC 9449 §7.1). */
  readonly challenge: string | undefined;
  /** RFC 9449 §9: the DPoP-Nonce header value for a use_dpop_nonce refusal. */
  readonly dpopNonce: string | undefined;

  /** For insufficient_scope: the scope that would authorise the request (RFC 6750 §3 `scope`). */
  readonly requiredScope: string | undefined;
  readonly details: Record<string, string | number | boolean> | undefined;
}

export const invalidToken = (description: string, reason: GatewayReason) => new GatewayDenial('invalid_token', description, reason);
export const accessDenied = (description: string, reason: GatewayReason, details?: Record<string, string | number | boolean>) =>
  new GatewayDenial('access_denied', description, reason, details ? { details } : {});
export const insufficientScope = (requiredScope: string) =>
  new GatewayDenial('insufficient_scope', 'the access token does not carry a scope that allows this request', 'ERR_INSUFFICIENT_SCOPE', { requiredScope });
export const badGateway = (reason: GatewayReason, description = 'the upstream server did not answer usably') => new GatewayDenial('bad_gateway', description, reason);

/** A user/ scope asked for a patient off the practitioner's panel (src/gateway/user-reach.ts). */
export const notOnPanel = () => accessDenied('user scopes reach only the patients on your panel', 'ERR_NOT_ON_PANEL');
