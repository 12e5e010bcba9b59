// RFC 9700 §2.5: "Authorization servers SHOULD enforce client authentication if it is feasible";
// 45 CFR 164.312(d) person or entity authentication. A client that holds a secret, keys or the
// client_credentials grant is confidential and must authenticate.
import { clientViews, findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-CLI-001';
const finding = findingsOf(id);

export const clientAuthentication: Rule = {
  id,
  title: 'Confidential clients without authentication',
  severity: 'error',
  citations: ['45 CFR 164.312(d)', 'RFC 9700 §2.5', 'SMART App Launch 2.2 client-confidential-asymmetric'],
  description:
    'token_endpoint_auth_method `none` makes a client public: anyone who knows its client_id can redeem its codes and refresh tokens. A client that has a secret, registered keys or the client_credentials grant is confidential and using `none` for it is an error; a genuinely public client is a warning (Caduceus is meant for confidential clients).',
  check(input) {
    const out: Finding[] = [];
    for (const c of clientViews(input).filter((x) => x.tokenEndpointAuthMethod === 'none')) {
      const confidential = c.hasStoredSecret || c.hasKeys || c.clientSecretEnv !== undefined || c.grantTypes.includes('client_credentials');
      if (confidential) {
        out.push(finding('error', c.location, `Client ${c.clientId} has credentials (a secret, keys or client_credentials) but authenticates with none.`, 'Set token_endpoint_auth_method to private_key_jwt (or client_secret_basic).'));
      } else {
        out.push(finding('warning', c.location, `Client ${c.clientId} is public (token_endpoint_auth_method none): its tokens are protected by PKCE and refresh rotation only.`, 'Register the app as a confidential client with private_key_jwt where it can keep a key.'));
      }
    }
    return out;
  },
};
