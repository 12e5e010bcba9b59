// The coded errors of the crypto module: an InternalError whose code is ERR_CONFIG or ERR_CRYPTO
// of the one catalogue (src/errors/catalogue.ts). Messages name the fix but never contain key
// material, tokens, secrets or plaintext.
import type { ConfigReason } from '../errors/catalogue.js';
import { InternalError } from '../errors/internal-error.js';

export type CryptoErrorCode = Extract<ConfigReason, 'ERR_CONFIG' | 'ERR_CRYPTO'>;

export class CryptoError extends InternalError<CryptoErrorCode> {
  override readonly name: string = 'CryptoError';
}
