// SMART App Launch 2.2 backend-services.md: "Refresh tokens SHOULD NOT be issued" to backend
// services; RFC 9700 §4.14.2: the AS "MUST determine, based on a risk assessment, whether to issue
// refresh tokens to a certain client".
import { clientViews, findingsOf, isBackendClient } from '../client-view.js';
import type { Rule } from '../types.js';

const id = 'CAD-TOK-003';
const finding = findingsOf(id);

export const backendRefreshTokens: Rule = {
  id,
  title: 'Refresh tokens for backend clients',
  severity: 'error',
  citations: ['45 CFR 164.312(a)(1)', 'RFC 9700 §4.14.2', 'SMART App Launch 2.2 backend-services (no refresh tokens)'],
  description:
    'A backend service authenticates itself for every token (client_credentials) and never needs a refresh token: holding the refresh_token grant only adds a long-lived credential.',
  check(input) {
    return clientViews(input)
      .filter((c) => isBackendClient(c) && c.grantTypes.includes('refresh_token'))
      .map((c) => finding('error', c.location, `Backend client ${c.clientId} holds both client_credentials and refresh_token.`,
        'Remove refresh_token from its grant_types (a backend client asks for a new access token instead).'));
  },
};
