// The DPoP error codes: RFC 9449 §5 and §7.1 `invalid_dpop_proof`, §8 and §9 `use_dpop_nonce`.
// They are OAuth errors, so the one serializer in src/server/app.ts sends them like every other
// protocol error ({error, error_description}); `nonce` is the fresh value for the DPoP-Nonce header.
import { OAuthError, type OAuthErrorCode } from '../../errors/oauth-error.js';

export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

export class DpopError extends OAuthError {
  override name = 'DpopError';
  constructor(
    readonly dpopError: DpopErrorCode,
    description: string,
    detail?: string,
    /** A fresh server nonce for the DPoP-Nonce response header (RFC 9449 §8.1), when one is due. */
    readonly nonce?: string,
    status = 400,
  ) {
    // OAuthErrorCode (src/errors/oauth-error.ts) does not list the RFC 9449 codes; the serializer
    // reads the string only, so the cast changes nothing on the wire.
    super(dpopError as unknown as OAuthErrorCode, description, detail, status);
  }
}

export const invalidDpopProof = (description: string, detail?: string) => new DpopError('invalid_dpop_proof', description, detail);
