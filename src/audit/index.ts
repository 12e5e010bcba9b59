// The audit ledger's public API, for the server, the gateway and the CLI.
export type { AuditEvent, AuditEventInput, AuditEventType, AuditOutcome, AuditSink } from './events.js';
export { Ledger, type LedgerOptions, type LedgerStats } from './ledger.js';
export { inclusionProof, consistencyProof, rootHash, ledgerSize, latestCheckpoint } from './proofs.js';
export {
  verifyInclusion,
  verifyConsistency,
  verifyInclusionProof,
  verifyConsistencyProof,
  rootFromInclusionProof,
  type InclusionProof,
  type ConsistencyProof,
  type ProofVerdict,
} from './proof-verify.js';
export { verifyLedger, verifyExport, exportLedger, exportCheckpoints, type LedgerVerdict, type LedgerFaultCode, type VerifyOptions } from './verify.js';
export { searchEvents, type EventFilters } from './search.js';
export { accountingOfDisclosures, type DisclosureRow } from './disclosures.js';
export { toFhirAuditEvent, type FhirAuditEvent, type FhirExportOptions } from './fhir.js';
export {
  formatCheckpoint,
  parseCheckpoint,
  openCheckpoint,
  splitNotes,
  type Checkpoint,
  type SignedCheckpoint,
  type CheckpointKey,
} from './checkpoint.js';
export {
  verifierKey,
  signerKey,
  parseSignerKey,
  parseVerifierKey,
  generateCheckpointKey,
  rawSeed,
  rawPublicKey,
  NoteSigner,
} from './note.js';
export { canonicalize } from './jcs.js';
export { AuditError, ProofError, RootMismatchError, type AuditErrorCode, type ProofErrorCode } from './errors.js';
