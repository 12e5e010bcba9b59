// RFC 9700 §2.3 (least privilege); 45 CFR 164.312(c)(1): write access to PHI is an integrity risk.
// SMART App Launch 2.2 backend-services.md: the AS "SHALL mediate the request to assure that the
// scope requested is within the scope pre-authorized".
import { tryParseSmartScope } from '../../smart/scopes.js';
import { clientViews, findingsOf, isBackendClient } from '../client-view.js';
import type { Rule } from '../types.js';

const id = 'CAD-SCP-002';
const finding = findingsOf(id);

export const backendWriteScopes: Rule = {
  id,
  title: 'Write permissions for backend clients without a recorded need',
  severity: 'warning',
  citations: ['45 CFR 164.312(c)(1)', 'RFC 9700 §2.3', 'SMART App Launch 2.2 backend-services (pre-authorized scope)'],
  description:
    'A backend (client_credentials) client acts with no user in the loop. Caduceus records no stated purpose for a client, so any create, update or delete letter (c, u, d) in its scopes is reported for review: keep it only when the integration writes data.',
  check(input) {
    const out = [];
    for (const c of clientViews(input).filter(isBackendClient)) {
      const writes = c.scopes.filter((s) => {
        const p = tryParseSmartScope(s);
        return p?.kind === 'resource' && /[cud]/.test(p.permissions);
      });
      if (writes.length) {
        out.push(finding('warning', c.location, `Backend client ${c.clientId} may write PHI (${writes.join(' ')}); nothing records that its use needs write access.`,
          'Remove the c, u and d letters unless the integration writes data, and record the need in the client\'s change ticket.'));
      }
    }
    return out;
  },
};
