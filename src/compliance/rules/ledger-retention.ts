// 45 CFR 164.316(b)(2)(i): documentation is retained "for 6 years from the date of its creation or
// the date when it last was in effect, whichever is later"; 164.528 accounting of disclosures
// looks back six years. 45 CFR 164.312(b) audit controls.
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';

export const MIN_RETENTION_YEARS = 6;

const id = 'CAD-AUD-003';
const finding = findingsOf(id);

export const ledgerRetention: Rule = {
  id,
  title: 'Audit retention shorter than six years',
  severity: 'error',
  citations: ['45 CFR 164.312(b)', '45 CFR 164.316(b)(2)(i)', '45 CFR 164.528(a)(1)'],
  description: `audit.retention_years must be at least ${MIN_RETENTION_YEARS}: HIPAA documentation and the accounting of disclosures reach back six years.`,
  check(input) {
    const years = input.config.audit.retention_years;
    if (years >= MIN_RETENTION_YEARS) return [];
    return [finding('error', 'audit.retention_years', `Audit records are kept ${years} year${years === 1 ? '' : 's'}.`, `Set audit.retention_years to ${MIN_RETENTION_YEARS} or more.`)];
  },
};
