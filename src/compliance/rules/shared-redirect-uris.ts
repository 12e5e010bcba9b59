// RFC 9700 §4.1 and SMART App Launch 2.2 app-launch.md: the redirect URI identifies where one
// client receives its codes. The same URI registered for two clients lets one client's page
// receive codes issued to the other (mix-up, code injection between clients).
import { clientViews, findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-RED-002';
const finding = findingsOf(id);

export const sharedRedirectUris: Rule = {
  id,
  title: 'Redirect URI shared by several clients',
  severity: 'warning',
  citations: ['45 CFR 164.312(a)(2)(i)', 'RFC 9700 §4.1', 'SMART App Launch 2.2 app-launch (redirect_uri registration)'],
  description:
    'Each client should own its redirect URIs. Caduceus cannot tell whether two clients sharing one belong to the same application, so every shared URI is reported for review.',
  check(input) {
    const owners = new Map<string, string[]>();
    for (const c of clientViews(input)) {
      for (const uri of new Set(c.redirectUris)) owners.set(uri, [...(owners.get(uri) ?? []), c.clientId]);
    }
    const out: Finding[] = [];
    for (const [uri, ids] of owners) {
      if (ids.length < 2) continue;
      out.push(finding('warning', `client:${ids[0]!}`, `Redirect URI ${uri} is registered for ${ids.length} clients (${ids.join(', ')}).`,
        'Give each client its own redirect URI (e.g. a distinct path), or merge the clients if they are one application.'));
    }
    return out;
  },
};
