// SMART App Launch 2.2 backend-services.md: backend access tokens "SHALL be short-lived; the
// expires_in value SHOULD NOT exceed 300". RFC 9700 §2.3 (least privilege) and 45 CFR
// 164.312(a)(2)(iii): a stolen token should stop working soon. The schema caps the TTL at 900 s.
import { clientViews, findingsOf, isBackendClient } from '../client-view.js';
import type { Rule } from '../types.js';

export const BACKEND_ACCESS_TOKEN_TTL_MAX = 300;

const id = 'CAD-TOK-001';
const finding = findingsOf(id);

export const accessTokenLifetime: Rule = {
  id,
  title: 'Access-token lifetime too long',
  severity: 'error',
  citations: ['45 CFR 164.312(a)(2)(iii)', 'RFC 9700 §2.3', 'SMART App Launch 2.2 backend-services (expires_in ≤ 300)', 'SMART App Launch 2.2 app-launch (lifetime ≤ 1 hour)'],
  description:
    'Access tokens are bearer credentials: whoever holds one reads PHI until it expires. tokens.access_token_ttl above 300 seconds is a warning for user-facing apps (the schema already caps it at 900 s) and an error for every backend (client_credentials) client, for which SMART Backend Services asks for at most 300 s.',
  check(input) {
    const ttl = input.config.tokens.access_token_ttl;
    if (ttl <= BACKEND_ACCESS_TOKEN_TTL_MAX) return [];
    const out = [
      finding('warning', 'tokens.access_token_ttl', `Access tokens live ${ttl} s; user-facing apps should get at most ${BACKEND_ACCESS_TOKEN_TTL_MAX} s and refresh.`,
        `Set tokens.access_token_ttl to ${BACKEND_ACCESS_TOKEN_TTL_MAX} or less.`),
    ];
    for (const c of clientViews(input).filter(isBackendClient)) {
      out.push(finding('error', c.location, `Backend client ${c.clientId} (client_credentials) gets ${ttl} s access tokens; SMART Backend Services allows at most ${BACKEND_ACCESS_TOKEN_TTL_MAX} s.`,
        `Set tokens.access_token_ttl to ${BACKEND_ACCESS_TOKEN_TTL_MAX} or less.`));
    }
    return out;
  },
};
