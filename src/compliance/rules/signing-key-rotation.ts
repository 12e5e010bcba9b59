// NIST SP 800-57 Part 1 §5.3 (cryptoperiods) and FAPI 2.0 §5.4: keys are rotated on a schedule;
// 45 CFR 164.312(c)(1) integrity. Caduceus rotates with `caduceus keys rotate`; this rule
// reports a key that has signed for longer than the rotation period.
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';

export const SIGNING_KEY_ROTATION_DAYS = 90;
const DAY_MS = 86_400_000;

const id = 'CAD-KEY-002';
const finding = findingsOf(id);

export const signingKeyRotation: Rule = {
  id,
  title: 'Signing key older than the rotation period',
  severity: 'warning',
  citations: ['45 CFR 164.312(c)(1)', 'NIST SP 800-57 Part 1 §5.3', 'FAPI 2.0 Security Profile §5.4'],
  description:
    `A token signing key that has been active for more than ${SIGNING_KEY_ROTATION_DAYS} days is due for rotation. Also reported: no signing key at all.`,
  check(input) {
    const active = input.signingKeys.filter((k) => k.activatesAt <= input.now && (k.retiredAt === null || k.retiredAt > input.now));
    if (active.length === 0) {
      return [finding('warning', 'signing-keys', 'No signing key is active; one is created at the next start.', 'Start the server once, or run caduceus keys rotate.')];
    }
    return active
      .filter((k) => input.now - k.activatesAt > SIGNING_KEY_ROTATION_DAYS * DAY_MS)
      .map((k) => finding('warning', `signing-key:${k.kid}`, `Signing key ${k.kid} has been active for ${Math.floor((input.now - k.activatesAt) / DAY_MS)} days (rotation period ${SIGNING_KEY_ROTATION_DAYS} days).`,
        'Rotate it: caduceus keys rotate (the old key stays published until its tokens expire).'));
  },
};
