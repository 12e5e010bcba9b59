// RFC 9700 §2.1 (exact matching, no open redirectors) and §2.6: authorization servers "MUST NOT
// allow redirect URIs that use the http scheme except for native clients that use Loopback
// Interface Redirection"; RFC 6749 §3.1.2: no fragment; SMART App Launch 2.2 app-launch.md:
// "fixed, fully-specified redirect_uris".
import { redirectUriProblem } from '../../oauth/checks/redirect-uri.js';
import { clientViews, findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-RED-001';
const finding = findingsOf(id);

/** The redirect-URI problem of one URI, with the checks the schema may not have applied to stored clients. */
export function redirectProblem(uri: string): string | undefined {
  if (/^\s*(javascript|data|vbscript|file):/i.test(uri)) return `the ${uri.split(':')[0]!.toLowerCase()}: scheme is not allowed`;
  if (uri.includes('*')) return 'must not contain wildcards';
  return redirectUriProblem(uri);
}

export const redirectUris: Rule = {
  id,
  title: 'Unsafe redirect URIs',
  severity: 'error',
  citations: ['45 CFR 164.312(e)(1)', 'RFC 9700 §2.1', 'RFC 9700 §2.6', 'RFC 6749 §3.1.2', 'SMART App Launch 2.2 app-launch (fixed redirect_uri)'],
  description:
    'Authorization codes travel to the redirect URI. It must be https (http only on a loopback address for native apps), fully specified (no wildcard), without a fragment and never a javascript: or data: URI.',
  check(input) {
    const out: Finding[] = [];
    for (const c of clientViews(input)) {
      c.redirectUris.forEach((uri, i) => {
        const why = redirectProblem(uri);
        if (why) {
          const location = c.configIndex !== undefined ? `clients[${c.configIndex}].redirect_uris[${i}]` : c.location;
          out.push(finding('error', location, `Client ${c.clientId} redirect URI ${JSON.stringify(uri.slice(0, 200))}: ${why}.`, 'Register the exact https URI the client receives codes at (http only for 127.0.0.1 or [::1]).'));
        }
      });
    }
    return out;
  },
};
