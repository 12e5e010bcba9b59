// RFC 6797 (HSTS); Mozilla Server Side TLS (hsts_min_age 63072000); FAPI 2.0 §5.2.2 requires
// protection against TLS stripping for browser endpoints. 45 CFR 164.312(e)(1).
import { findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

/** Six months: the minimum max-age accepted without a finding (HSTS preload lists ask for one year). */
export const HSTS_MIN_ACCEPTED = 15_552_000;

const id = 'CAD-TLS-003';
const finding = findingsOf(id);

export const hsts: Rule = {
  id,
  title: 'HSTS missing or too short',
  severity: 'error',
  citations: ['45 CFR 164.312(e)(1)', 'RFC 6797 §6.1', 'FAPI 2.0 Security Profile §5.2.2'],
  description:
    `Strict-Transport-Security keeps browsers from ever talking plain HTTP to the login pages. tls.hsts_max_age of 0 disables it (error); below ${HSTS_MIN_ACCEPTED} seconds (180 days) it is a warning.`,
  check(input) {
    const out: Finding[] = [];
    const maxAge = input.config.tls?.hsts_max_age;
    if (maxAge === undefined) return out;
    if (maxAge === 0) out.push(finding('error', 'tls.hsts_max_age', 'HSTS is disabled (max-age=0).', 'Set tls.hsts_max_age to 63072000 (two years).'));
    else if (maxAge < HSTS_MIN_ACCEPTED) out.push(finding('warning', 'tls.hsts_max_age', `HSTS max-age is ${maxAge} s, below ${HSTS_MIN_ACCEPTED} s.`, 'Set tls.hsts_max_age to 63072000 (two years).'));
    return out;
  },
};
