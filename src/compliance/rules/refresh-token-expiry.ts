// RFC 9700 §4.14.2: "Refresh tokens SHOULD expire if the client has been inactive for some time";
// §2.2.2: refresh tokens of public clients "MUST be sender-constrained or use refresh token
// rotation". 45 CFR 164.312(a)(2)(iii) automatic logoff.
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';

const id = 'CAD-TOK-002';
const finding = findingsOf(id);

export const refreshTokenExpiry: Rule = {
  id,
  title: 'Refresh tokens without rotation or idle expiry',
  severity: 'error',
  citations: ['45 CFR 164.312(a)(2)(iii)', 'RFC 9700 §2.2.2', 'RFC 9700 §4.14.2', 'SMART App Launch 2.2 best-practices (refresh token reuse)'],
  description:
    'A refresh token must be rotated on every use, with a replayed one revoking its whole family, and must expire when the client stops using it. The idle expiry (tokens.refresh_token_idle_ttl) is pointless when it is not shorter than the absolute expiry (tokens.refresh_token_absolute_ttl).',
  check(input) {
    const out = [];
    if (!input.server.refreshRotation) {
      out.push(finding('error', 'tokens', 'Refresh tokens are not rotated on use, so a stolen refresh token stays usable next to the legitimate one.',
        'Run a Caduceus build that rotates refresh tokens (src/oauth/grants/refresh-token.ts).'));
    }
    const { refresh_token_idle_ttl: idle, refresh_token_absolute_ttl: absolute } = input.config.tokens;
    if (idle >= absolute) {
      out.push(finding('warning', 'tokens.refresh_token_idle_ttl', `The refresh-token idle expiry (${idle} s) is not shorter than the absolute expiry (${absolute} s): an unused refresh token never expires early.`,
        'Set tokens.refresh_token_idle_ttl well below tokens.refresh_token_absolute_ttl (default 86400 s against 2592000 s).'));
    }
    return out;
  },
};
