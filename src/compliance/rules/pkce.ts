// RFC 9700 §2.1.1: "Authorization servers MUST support PKCE" and publish
// code_challenge_methods_supported; S256 is the only method that does not expose the verifier.
// SMART App Launch 2.2 app-launch.md: servers "SHALL support the S256 code_challenge_method and
// SHALL NOT support the plain method". Checked against the code itself (see input.ts).
import { findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-PKC-001';
const finding = findingsOf(id);

export const pkceRequired: Rule = {
  id,
  title: 'PKCE not required or plain allowed',
  severity: 'error',
  citations: ['45 CFR 164.312(d)', 'RFC 9700 §2.1.1', 'RFC 7636 §4.2', 'SMART App Launch 2.2 app-launch (PKCE S256 only)'],
  description:
    'Every authorization request must carry an S256 code_challenge, `plain` must be refused, and the metadata must advertise exactly S256. Caduceus enforces this in code (src/oauth/checks/pkce.ts); the check calls that code and reads the published metadata, so a build that weakens it fails here.',
  check(input) {
    const s = input.server;
    const out: Finding[] = [];
    const where = 'oauth.pkce';
    if (!s.pkceRequired) out.push(finding('error', where, 'Authorization requests without a code_challenge are accepted.', 'Require PKCE with S256 for every authorization request.'));
    if (!s.plainRefused) out.push(finding('error', where, 'code_challenge_method=plain is accepted; plain exposes the verifier.', 'Refuse plain; accept S256 only.'));
    if (!s.codeChallengeMethods.includes('S256')) out.push(finding('error', 'metadata.code_challenge_methods_supported', 'The metadata does not advertise S256.', 'Publish code_challenge_methods_supported: ["S256"].'));
    const others = s.codeChallengeMethods.filter((m) => m !== 'S256');
    if (others.length) out.push(finding('error', 'metadata.code_challenge_methods_supported', `The metadata advertises ${others.join(', ')} besides S256.`, 'Publish code_challenge_methods_supported: ["S256"] only.'));
    return out;
  },
};
