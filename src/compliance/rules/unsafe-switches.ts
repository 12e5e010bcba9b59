// Every weakening of Caduceus lives under unsafe.* (STYLE.md, config habit 4) and fails the
// compliance check. 45 CFR 164.306(d)(3): an addressable control turned off needs a documented
// reason; this finding is the reminder. unsafe.breakglass_write weakens minimum necessary
// (45 CFR 164.502(b)) for emergency access (164.312(a)(2)(ii)).
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';

const id = 'CAD-UNS-001';
const finding = findingsOf(id);

const WHY: Record<string, string> = {
  allow_plain_http: 'the server may serve plain HTTP',
  tls_terminated_by_proxy: 'the server runs without TLS and trusts a proxy to provide it',
  allow_noncompliant_start: 'the server starts even when this check finds errors',
  breakglass_write: 'emergency (break-glass) tokens may create, update and delete the emergency patient\'s records instead of only reading them',
  allow_loopback_client_metadata: 'an agent\'s client_id URL may make this server fetch from loopback addresses, so requests reach services on its own host (SSRF; draft-ietf-oauth-client-id-metadata-document §8.6 allows this only in development)',
  allow_open_client_registration: 'anyone who reaches POST /register may register an AI agent as a client without an initial access token (RFC 7591 §3 open registration); what it may be granted is still limited by the agent policy',
};

export const unsafeSwitches: Rule = {
  id,
  title: 'unsafe.* switch on',
  severity: 'error',
  citations: ['45 CFR 164.306(d)(3)', '45 CFR 164.312(e)(1)', '45 CFR 164.502(b)', '45 CFR 164.312(a)(2)(ii)'],
  description: 'Each unsafe.* switch that is on is one error, including unsafe.allow_noncompliant_start itself.',
  check(input) {
    return Object.entries(input.config.unsafe)
      .filter(([, on]) => on === true)
      .map(([name]) => finding('error', `unsafe.${name}`, `unsafe.${name} is on: ${WHY[name] ?? 'a safeguard is weakened'}.`, `Turn unsafe.${name} off; if it must stay on, record why (45 CFR 164.306(d)(3)).`));
  },
};
