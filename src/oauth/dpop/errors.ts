// The DPoP error codes: RFC 9449 §5 and §7.1 `invalid_dpop_proof`, §8 and §9 `use_dpop_nonce`,
// in the one catalogue (src/errors/catalogue.ts). They are OAuth errors, so the one serializer
// sends them like every other protocol error ({error, error_description}); `nonce` is the fresh
// value it sends as the DPoP-Nonce header.
import { OAuthError } from '../../errors/oauth-error.js';

export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

export class DpopError extends OAuthError {
  override name = 'DpopError';
  declare readonly error: DpopErrorCode;
  constructor(
    readonly dpopError: DpopErrorCode,
    description: string,
    detail?: string,
    /** A fresh server nonce for the DPoP-Nonce response header (RFC 9449 §8.1), when one is due. */
    readonly nonce?: string,
    status = 400,
  ) {
    super(dpopError, description, detail, status);
  }

  override headers(): Record<string, string> {
    return this.nonce !== undefined ? { 'dpop-nonce': this.nonce } : {};
  }
}

export const invalidDpopProof = (description: string, detail?: string) => new DpopError('invalid_dpop_proof', description, detail);
