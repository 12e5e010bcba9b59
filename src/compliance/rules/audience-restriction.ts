// RFC 9700 §2.3: "Access tokens SHOULD be audience-restricted to a specific resource server";
// RFC 8707 resource indicators; SMART App Launch 2.2 app-launch.md: `aud` "prevents leaking a
// genuine bearer token to a counterfeit resource server".
import { clientViews, findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-RES-001';
const finding = findingsOf(id);

export const audienceRestriction: Rule = {
  id,
  title: 'Resources without audience restriction',
  severity: 'warning',
  citations: ['45 CFR 164.312(a)(1)', 'RFC 9700 §2.3', 'RFC 8707 §2', 'SMART App Launch 2.2 app-launch (aud parameter)'],
  description:
    'Every token is issued for one resource server (its `aud`). A client with no resource registered cannot be given an audience-restricted token, and a resource server that lists no scopes accepts every scope a client holds.',
  check(input) {
    const out: Finding[] = [];
    if (input.config.resources.length === 0) {
      out.push(finding('warning', 'resources', 'No resource server is configured, so no token can be restricted to an audience.', 'Declare each FHIR server under resources with the scopes it serves.'));
    }
    for (const c of clientViews(input)) {
      const getsTokens = c.grantTypes.includes('authorization_code') || c.grantTypes.includes('client_credentials');
      if (getsTokens && c.resources.length === 0) {
        out.push(finding('warning', c.location, `Client ${c.clientId} has no resource server registered: its tokens have no audience to be restricted to.`, 'Register the resource servers the client uses (clients[].resources or caduceus client add --resource).'));
      }
    }
    input.config.resources.forEach((r, i) => {
      if (r.scopes.length === 0) {
        out.push(finding('warning', `resources[${i}].scopes`, `Resource ${r.uri} lists no scopes, so it accepts every scope a client is allowed.`, 'List the scopes this resource server serves.'));
      }
    });
    return out;
  },
};
