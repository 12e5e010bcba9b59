// RFC 9700 §2.4: "The resource owner password credentials grant MUST NOT be used"; §2.1.2: the
// implicit grant and other response types issuing tokens at the authorization endpoint "SHOULD
// NOT" be used (OAuth 2.1 removes them; FAPI 2.0 allows response_type=code only).
import { clientViews, findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-GRT-001';
const finding = findingsOf(id);
const LEGACY_GRANTS = new Set(['password', 'implicit']);

export const legacyGrants: Rule = {
  id,
  title: 'Implicit or password grants',
  severity: 'error',
  citations: ['45 CFR 164.312(d)', 'RFC 9700 §2.1.2', 'RFC 9700 §2.4', 'SMART App Launch 2.2 app-launch (response_type=code)'],
  description:
    'The resource owner password grant hands the user\'s password to the client, and the implicit grant puts tokens in the browser history. Neither may be offered by the server or held by any client; response_type must be code only.',
  check(input) {
    const out: Finding[] = [];
    for (const g of input.server.grantTypesSupported.filter((x) => LEGACY_GRANTS.has(x))) {
      out.push(finding('error', 'metadata.grant_types_supported', `The server supports the ${g} grant.`, `Remove the ${g} grant.`));
    }
    for (const r of input.server.responseTypesSupported.filter((x) => x !== 'code')) {
      out.push(finding('error', 'metadata.response_types_supported', `The server supports response_type=${r}.`, 'Support response_type=code only.'));
    }
    for (const c of clientViews(input)) {
      for (const g of c.grantTypes.filter((x) => LEGACY_GRANTS.has(x))) {
        out.push(finding('error', c.location, `Client ${c.clientId} holds the ${g} grant.`, `Remove ${g} from the client's grant_types and move it to authorization_code with PKCE.`));
      }
    }
    return out;
  },
};
