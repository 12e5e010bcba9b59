// Errors of the audit ledger's pure parts: InternalErrors whose codes are the audit and proof
// parts of the one catalogue (src/errors/catalogue.ts, STYLE.md habit 3). Messages name what
// failed, never an event field value: no PHI, token or secret goes into them. Storage failures of
// record() are InternalError('ERR_AUDIT_UNAVAILABLE'), which the one error serializer answers 503.
import type { AuditReason, ProofReason } from '../errors/catalogue.js';
import { InternalError } from '../errors/internal-error.js';

export type AuditErrorCode = AuditReason;
export type ProofErrorCode = ProofReason;

export class AuditError extends InternalError<AuditErrorCode> {
  override readonly name: string = 'AuditError';
}

/** Why a Merkle proof did not verify. Returned (not thrown) by the verifiers in proof-verify.ts. */
export class ProofError extends InternalError<ProofErrorCode> {
  override readonly name: string = 'ProofError';

  constructor(code: ProofErrorCode, message: string) {
    super(code, message);
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
