// 45 CFR 164.312(a)(2)(ii) emergency access procedure and 164.312(b) audit controls: every
// emergency access is in the ledger, and someone must hear of it while it happens, not only at
// the next review (src/breakglass/notify.ts).
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';

const id = 'CAD-EMA-001';
const finding = findingsOf(id);

export const breakGlassWebhook: Rule = {
  id,
  title: 'Break-glass permission without real-time notification',
  severity: 'warning',
  citations: ['45 CFR 164.312(a)(2)(ii)', '45 CFR 164.312(b)', '45 CFR 164.308(a)(1)(ii)(D)'],
  description:
    'Active accounts hold the break-glass permission but breakglass.webhook_url is not set: emergency accesses are recorded in the ledger and listed by `caduceus breakglass review`, yet nobody is told while they happen.',
  check(input) {
    const holders = input.users.filter((u) => !u.disabled && u.breakGlass === true).length;
    if (holders === 0 || input.config.breakglass.webhook_url !== undefined) return [];
    return [finding('warning', 'breakglass.webhook_url',
      `${holders} active account${holders === 1 ? '' : 's'} may use break-glass, and no webhook is told when they do.`,
      'Set breakglass.webhook_url to your security team\'s alerting endpoint (an https URL), and verify its x-caduceus-signature with the key from `caduceus breakglass webhook-key`.')];
  },
};
