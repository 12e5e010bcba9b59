// 45 CFR 164.312(b) audit controls and 164.312(c)(2) (mechanism to authenticate ePHI): signed
// checkpoints (C2SP tlog-checkpoint) and a copy of them outside the database, so that a rewrite of
// the database together with its checkpoints is still detected (RFC 9162 §8.2: gossip/witnessing).
import { findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-AUD-001';
const finding = findingsOf(id);

export const ledgerWitness: Rule = {
  id,
  title: 'Audit ledger unsigned or unwitnessed',
  severity: 'warning',
  citations: ['45 CFR 164.312(b)', '45 CFR 164.312(c)(2)', 'RFC 9162 §8.2'],
  description:
    'The ledger signs a checkpoint of its Merkle root after every batch. Without audit.witness_file those checkpoints live only in the database they protect; a ledger holding events but no checkpoint yet, or verified without checking signatures, is also reported.',
  check(input) {
    const out: Finding[] = [];
    if (!input.config.audit.witness_file) {
      out.push(finding('warning', 'audit.witness_file', 'Checkpoints are not copied outside the database: whoever can rewrite the database can rewrite the checkpoints too.',
        'Set audit.witness_file to a file on separate, append-only storage (or ship it to a witness).'));
    } else if (input.files.witnessFileExists === false && input.ledger.latestCheckpointTime !== undefined) {
      out.push(finding('warning', 'audit.witness_file', `The witness file ${input.config.audit.witness_file} does not exist although checkpoints were signed.`, 'Check that the path is writable and on persistent storage.'));
    }
    if (input.ledger.size > 0 && input.ledger.latestCheckpointTime === undefined) {
      out.push(finding('warning', 'audit', `The ledger holds ${input.ledger.size} events but no signed checkpoint.`, 'Start the server (it signs a checkpoint within audit.checkpoint_interval_ms) and run the check again.'));
    }
    const v = input.ledger.verified;
    if (v?.ok === true && !v.signaturesChecked && v.checkpoints > 0) {
      out.push(finding('warning', 'audit', 'Checkpoint signatures were not checked.', 'Run the check with the master key available.'));
    }
    return out;
  },
};
