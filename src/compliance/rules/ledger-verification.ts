// 45 CFR 164.312(b) ("record and examine activity") and 164.312(c)(1)/(c)(2) integrity: the ledger
// is recomputed from its events (RFC 9162 §2.1) and every checkpoint is checked against it.
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';

const id = 'CAD-AUD-002';
const finding = findingsOf(id);

export const ledgerVerification: Rule = {
  id,
  title: 'Audit ledger fails verification',
  severity: 'error',
  citations: ['45 CFR 164.312(b)', '45 CFR 164.312(c)(1)', '45 CFR 164.312(c)(2)', 'RFC 9162 §2.1'],
  description:
    'Every event is re-hashed, the Merkle tree rebuilt and every signed checkpoint (database and witness file) compared with it. Any mismatch means audit records were altered, deleted or cut: an error. A ledger that could not be read is an error; one whose verification was skipped (startup, very large ledger) is a note.',
  check(input) {
    const v = input.ledger.verified;
    if (v === undefined) {
      if (input.ledger.unavailable) {
        return [finding('error', 'audit', `The ledger could not be read, so it was not verified: ${input.ledger.skipped ?? 'unknown reason'}.`, 'Make the database and master key available to caduceus check.')];
      }
      return [finding('note', 'audit', `The ledger was not verified${input.ledger.skipped ? `: ${input.ledger.skipped}` : ''}.`, 'Run caduceus check with access to the database and master key.')];
    }
    if (v.ok) return [];
    return [finding('error', 'audit', `Ledger verification failed (${v.code}) at event ${v.firstBadSeq}: ${v.reason}.`,
      'Treat this as a security incident: preserve the database and witness file, and compare with backups and exported checkpoints.')];
  },
};
