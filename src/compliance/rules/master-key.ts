// 45 CFR 164.312(a)(2)(iv) encryption and decryption: the master key protects every sealed record
// and every token digest; HHS breach guidance: keys stored separately from the data and not
// readable by others.
import { findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-MKY-001';
const finding = findingsOf(id);

export const masterKey: Rule = {
  id,
  title: 'Master key missing or readable by others',
  severity: 'error',
  citations: ['45 CFR 164.312(a)(2)(iv)', '45 CFR 164.312(c)(1)'],
  description:
    'The master key (CADUCEUS_MASTER_KEY or master_key_file) must exist and its file must not be readable by group or others (mode 0600 or 0400).',
  check(input) {
    const f = input.files;
    const out: Finding[] = [];
    const where = 'master_key_file';
    if (f.masterKeySource === 'none') {
      out.push(finding('error', where, 'No master key is configured (neither CADUCEUS_MASTER_KEY nor master_key_file).', 'Create one: umask 077 && openssl rand -base64 32 > master.key, and set master_key_file.'));
    } else if (f.masterKeySource === 'file') {
      if (f.masterKeyExists === false) {
        out.push(finding('error', where, `The master key file ${f.masterKeyFile ?? ''} does not exist.`, 'Restore it from the key backup, or set master_key_file to its path.'));
      } else if (f.masterKeyMode !== undefined && (f.masterKeyMode & 0o077) !== 0) {
        out.push(finding('error', where, `The master key file ${f.masterKeyFile ?? ''} has mode ${(f.masterKeyMode & 0o777).toString(8).padStart(4, '0')}: group or others can read it.`, `Run chmod 600 ${f.masterKeyFile ?? 'master.key'}.`));
      }
    }
    if (f.masterKeyError && !out.length) {
      out.push(finding('error', where, `The master key cannot be loaded: ${f.masterKeyError}`, 'Fix the key as the message says.'));
    }
    return out;
  },
};
