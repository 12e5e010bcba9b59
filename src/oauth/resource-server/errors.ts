// Why a protected resource of this server refused a request: an OAuth error of the catalogue for
// the client (RFC 6750 §3.1, RFC 9449 §7.1), a stable ERR_* reason for the ledger and the logs,
// and what its WWW-Authenticate challenge needs (src/errors/challenge.ts). Descriptions are
// client-safe: no token, no claim value, no PHI. The one serializer (src/errors/serializer.ts)
// writes it, with `headers()` adding the challenge and DPoP-Nonce.
import type { ErrorCode, ResourceAccessReason } from '../../errors/catalogue.js';
import { challengeFor, type ResourceChallengeParams } from '../../errors/challenge.js';
import { OAuthError } from '../../errors/oauth-error.js';

export type { ResourceAccessReason } from '../../errors/catalogue.js';
export { NO_CREDENTIALS } from '../../errors/challenge.js';

/** RFC 9449 §7.1: at a protected resource the DPoP errors are 401 (at the token endpoint, 400). */
const RESOURCE_STATUS: Partial<Record<ErrorCode, number>> = { invalid_dpop_proof: 401, use_dpop_nonce: 401 };

export interface ResourceAccessOptions {
  status?: number;
  /** The scheme of the challenge: DPoP for refusals of the DPoP step (RFC 9449 §7.1), Bearer otherwise. */
  scheme?: 'Bearer' | 'DPoP';
  /** RFC 9449 §7.1: the proof algorithms a DPoP challenge names. */
  algs?: readonly string[];
  /** RFC 9449 §9: the DPoP-Nonce header value for a use_dpop_nonce refusal. */
  nonce?: string;
  /** For insufficient_scope: the scope that would authorise the request (RFC 6750 §3 `scope`). */
  requiredScope?: string;
  /** Logged, never sent. */
  detail?: string;
  cause?: unknown;
}

export class ResourceAccessError<Reason extends string = ResourceAccessReason> extends OAuthError {
  override name = 'ResourceAccessError';
  readonly scheme: 'Bearer' | 'DPoP';
  readonly algs: readonly string[] | undefined;
  readonly nonce: string | undefined;
  readonly requiredScope: string | undefined;

  constructor(error: ErrorCode, description: string, readonly reason: Reason, options: ResourceAccessOptions = {}) {
    super(error, description, options.detail, options.status ?? RESOURCE_STATUS[error]);
    if (options.cause !== undefined) this.cause = options.cause;
    this.scheme = options.scheme ?? 'Bearer';
    this.algs = options.algs;
    this.nonce = options.nonce;
    this.requiredScope = options.requiredScope;
  }

  /** WWW-Authenticate for a 401 or insufficient_scope (src/errors/challenge.ts), and DPoP-Nonce. */
  override headers(resource: ResourceChallengeParams): Record<string, string> {
    const challenge = challengeFor(this, resource);
    return { ...(challenge !== undefined ? { 'www-authenticate': challenge } : {}), ...(this.nonce !== undefined ? { 'dpop-nonce': this.nonce } : {}) };
  }
}

export const invalidToken = (description: string, reason: ResourceAccessReason) => new ResourceAccessError('invalid_token', description, reason);
