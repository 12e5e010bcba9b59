// Errors of the audit ledger's pure parts, each with a stable code gathered in one union
// (STYLE.md habit 3). Messages name what failed, never an event field value: no PHI, token or
// secret goes into them. Storage failures of record() are InternalError('ERR_AUDIT_UNAVAILABLE')
// from src/errors/internal-error.ts, so the one error serializer handles them.

export type AuditErrorCode =
  /** A Ledger option, or an argument of a ledger function, is out of range. */
  | 'ERR_AUDIT_INVALID_ARGUMENT'
  /** An event handed to record() cannot be stored (a required member is missing, a value is not I-JSON). */
  | 'ERR_AUDIT_INVALID_EVENT'
  /** The stored log contradicts a signed checkpoint: it was tampered with (see verifyLedger). */
  | 'ERR_AUDIT_INTEGRITY'
  /** A value that RFC 8785 (JCS) cannot canonicalise: a non-finite number, a lone surrogate, a class instance… */
  | 'ERR_JCS_UNSUPPORTED'
  /** A key string (verifier key, signer key) is malformed. */
  | 'ERR_NOTE_KEY'
  /** A signed note or checkpoint text is malformed. */
  | 'ERR_NOTE_MALFORMED'
  /** No signature of a known key verified. */
  | 'ERR_NOTE_UNVERIFIED';

export class AuditError extends Error {
  override readonly name: string = 'AuditError';

  constructor(
    readonly code: AuditErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type ProofErrorCode =
  /** A hash is not 32 bytes (or not 64 hex digits in proof JSON). */
  | 'ERR_PROOF_HASH_SIZE'
  /** leaf_index >= tree_size, or first > second: the proof cannot exist. */
  | 'ERR_PROOF_OUT_OF_RANGE'
  /** The proof has more or fewer hashes than RFC 9162 gives for these sizes. */
  | 'ERR_PROOF_LENGTH'
  /** The root computed from the proof differs from the expected root. */
  | 'ERR_PROOF_ROOT_MISMATCH'
  /** The proof JSON is not of the expected shape. */
  | 'ERR_PROOF_MALFORMED';

/** Why a Merkle proof did not verify. Returned (not thrown) by the verifiers in proof-verify.ts. */
export class ProofError extends Error {
  override readonly name: string = 'ProofError';

  constructor(
    readonly code: ProofErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The proof is well formed, but it leads to another root than the expected one. */
export class RootMismatchError extends ProofError {
  override readonly name = 'RootMismatchError';

  constructor(
    /** Which root: 'root' (inclusion), 'first' or 'second' (consistency). */
    readonly which: 'root' | 'first' | 'second',
    readonly expected: Buffer,
    readonly calculated: Buffer,
  ) {
    super('ERR_PROOF_ROOT_MISMATCH', `${which} hash mismatch: expected ${expected.toString('hex')}, calculated ${calculated.toString('hex')}`);
  }
}
