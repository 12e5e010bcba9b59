// 45 CFR 164.312(d) person or entity authentication; the 2025 HIPAA Security Rule NPRM proposes
// requiring multi-factor authentication. RFC 8176 amr values record what was used.
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';
import type { UserRecord } from '../../storage/types.js';

const id = 'CAD-MFA-001';
const finding = findingsOf(id);
export const MFA_ROLES = ['practitioner', 'administrator'];

/** The user's role, read defensively (accounts from before roles existed have none). */
function roleOf(user: UserRecord): string | undefined {
  return (user as { role?: string }).role;
}

export const mfaRequired: Rule = {
  id,
  title: 'MFA not required for practitioners and administrators',
  severity: 'warning',
  citations: ['45 CFR 164.312(d)', 'HIPAA Security Rule NPRM 2025 (proposed MFA requirement)'],
  description:
    'Practitioners and administrators must sign in with a second factor: mfa.required_roles must include both. A build without MFA support is reported honestly as a warning instead of passing.',
  check(input) {
    const active = input.users.filter((u) => !u.disabled);
    const practitioners = active.filter((u) => roleOf(u) === 'practitioner' || /^(Practitioner|PractitionerRole)\//.test(u.fhirUser ?? '')).length;
    if (!input.server.mfaSupported) {
      return [finding('warning', 'login', `This Caduceus build does not support multi-factor authentication: all ${active.length} active user${active.length === 1 ? '' : 's'} (${practitioners} practitioner${practitioners === 1 ? '' : 's'}) sign in with a password only.`,
        'Put an MFA-enforcing identity provider in front of the login, or restrict accounts to patients until MFA ships; record the decision (45 CFR 164.306(d)(3)).')];
    }
    const roles = input.server.mfaRequiredRoles ?? [];
    return MFA_ROLES.filter((r) => !roles.includes(r)).map((r) => {
      const count = active.filter((u) => roleOf(u) === r).length;
      return finding('warning', 'mfa.required_roles', `The ${r} role may sign in without a second factor (${count} active ${r} account${count === 1 ? '' : 's'}).`, `Add ${r} to mfa.required_roles.`);
    });
  },
};
