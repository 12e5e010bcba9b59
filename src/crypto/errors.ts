// Stable error codes of the crypto module. Messages name the fix but never contain key material,
// tokens, secrets or plaintext.
//
// Kept local to src/crypto until src/errors/ provides the shared ERR_* catalogue; the codes are the
// same strings, so moving this class there changes no caller that checks `code`.

export type CryptoErrorCode =
  /** A deployment problem an operator must fix (missing, malformed or exposed master key). */
  | 'ERR_CONFIG'
  /** A sealed value or key that failed authentication or parsing, or no usable signing key. */
  | 'ERR_CRYPTO';

export class CryptoError extends Error {
  override name = 'CryptoError';
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
