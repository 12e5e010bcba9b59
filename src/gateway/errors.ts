// Why the gateway refused a request: an RFC 6750 §3.1 error (or a FHIR-facing one) for the
// client, and a stable ERR_* reason for the audit ledger. Descriptions are client-safe: no token,
// no PHI, no upstream detail.
import type { ResourceAccessError, ResourceAccessReason } from '../oauth/resource-server/errors.js';

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

/** The authenticator's reasons (ERR_TOKEN_*, ERR_DPOP_*, ERR_STATUS_UNAVAILABLE), then the gateway's own. */
export type GatewayReason =
  | ResourceAccessReason
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
    options: { status?: number; requiredScope?: string; details?: Record<string, string | number | boolean>; scheme?: 'Bearer' | 'DPoP'; dpopNonce?: string } = {},
  ) {
    super(`${error}: ${description}`);
    this.status = options.status ?? STATUS[error];
    this.requiredScope = options.requiredScope;
    this.details = options.details;
    this.scheme = options.scheme;
    this.dpopNonce = options.dpopNonce;
  }

  /** A refusal of the authenticator: the scheme of its WWW-Authenticate challenge (DPoP refusals, RFC 9449 §7.1). */
  readonly scheme: 'Bearer' | 'DPoP' | undefined;
  /** RFC 9449 §9: the DPoP-Nonce header value for a use_dpop_nonce refusal. */
  readonly dpopNonce: string | undefined;

  /** For insufficient_scope: the scope that would authorise the request (RFC 6750 §3 `scope`). */
  readonly requiredScope: string | undefined;
  readonly details: Record<string, string | number | boolean> | undefined;
}

/** A refusal of the protected-resource authenticator (src/oauth/resource-server/authenticator.ts), as a gateway denial. */
export const fromResourceAccess = (err: ResourceAccessError) => new GatewayDenial(err.error, err.description, err.reason, {
  status: err.status, scheme: err.scheme, ...(err.nonce !== undefined ? { dpopNonce: err.nonce } : {}), ...(err.requiredScope !== undefined ? { requiredScope: err.requiredScope } : {}),
});
export const accessDenied = (description: string, reason: GatewayReason, details?: Record<string, string | number | boolean>) =>
  new GatewayDenial('access_denied', description, reason, details ? { details } : {});
export const insufficientScope = (requiredScope: string) =>
  new GatewayDenial('insufficient_scope', 'the access token does not carry a scope that allows this request', 'ERR_INSUFFICIENT_SCOPE', { requiredScope });
export const badGateway = (reason: GatewayReason, description = 'the upstream server did not answer usably') => new GatewayDenial('bad_gateway', description, reason);

/** A user/ scope asked for a patient off the practitioner's panel (src/gateway/user-reach.ts). */
export const notOnPanel = () => accessDenied('user scopes reach only the patients on your panel', 'ERR_NOT_ON_PANEL');
