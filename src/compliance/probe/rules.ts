// The checks of `caduceus probe`, as catalogue entries (stable ids, citations). Their logic is in
// probe.ts, which runs them in order against a live server; they cannot be pure functions of a
// snapshot the way the static rules are, because each observes the server's behaviour.
import type { RuleDescriptor } from '../types.js';

const rule = (id: string, title: string, severity: RuleDescriptor['severity'], citations: string[], description: string): RuleDescriptor =>
  ({ id, title, severity, citations, description });

export const PRB = {
  legacyTls: rule('CAD-PRB-001', 'TLS 1.0 or 1.1 accepted', 'error', ['45 CFR 164.312(e)(1)', 'NIST SP 800-52r2 §3.1', 'RFC 8996', 'SMART App Launch 2.2 client-confidential-asymmetric (TLS 1.2+)'],
    'A handshake limited to TLS 1.0, then to TLS 1.1, must fail.'),
  cbcSuites: rule('CAD-PRB-002', 'CBC (non-AEAD) cipher suite accepted', 'error', ['45 CFR 164.312(e)(2)(i)', 'NIST SP 800-52r2 §3.3.1', 'FAPI 2.0 Security Profile §5.2.2'],
    'A TLS 1.2 handshake offering only CBC suites must fail: only AEAD suites (GCM, ChaCha20-Poly1305) are acceptable.'),
  staticRsa: rule('CAD-PRB-003', 'Static RSA key exchange accepted', 'error', ['45 CFR 164.312(e)(1)', 'NIST SP 800-52r2 §3.3.1', 'FAPI 2.0 Security Profile §5.2.2'],
    'A TLS 1.2 handshake offering only static-RSA suites (no forward secrecy) must fail.'),
  hsts: rule('CAD-PRB-004', 'HSTS missing or short on responses', 'error', ['45 CFR 164.312(e)(1)', 'RFC 6797 §6.1', 'FAPI 2.0 Security Profile §5.2.2'],
    'Every https response (metadata, token, errors) must carry Strict-Transport-Security with max-age of at least 15552000 s; missing is an error, shorter a warning.'),
  plainIssuer: rule('CAD-PRB-005', 'Issuer not served over https', 'error', ['45 CFR 164.312(e)(1)', 'RFC 8414 §2', 'RFC 9700 §2.6'],
    'The issuer URL must be https.'),
  pkceMetadata: rule('CAD-PRB-006', 'PKCE methods advertised wrongly', 'error', ['RFC 9700 §2.1.1', 'SMART App Launch 2.2 conformance (code_challenge_methods_supported)'],
    'code_challenge_methods_supported must include S256 and must not include plain.'),
  legacyGrants: rule('CAD-PRB-007', 'Implicit, hybrid or password flows advertised', 'error', ['RFC 9700 §2.1.2', 'RFC 9700 §2.4', 'FAPI 2.0 Security Profile §5.3.2.2'],
    'response_types_supported must be code only; grant_types_supported must not include password or implicit.'),
  issParameter: rule('CAD-PRB-008', 'RFC 9207 iss parameter missing', 'warning', ['RFC 9207 §2', 'RFC 9700 §4.4.2', 'FAPI 2.0 Security Profile §5.3.2.2'],
    'The metadata should advertise authorization_response_iss_parameter_supported and the authorization response should carry iss equal to the issuer (mix-up defence); a wrong iss is an error.'),
  jwksPrivate: rule('CAD-PRB-009', 'Private key material in the JWKS', 'error', ['45 CFR 164.312(d)', 'RFC 7517 §4', 'RFC 7518 §6.2.2'],
    'The published JWKS must hold public keys only: no d, p, q, dp, dq, qi, oth or k members.'),
  plainPkce: rule('CAD-PRB-010', 'plain PKCE accepted', 'error', ['45 CFR 164.312(d)', 'RFC 9700 §2.1.1', 'SMART App Launch 2.2 app-launch (SHALL NOT support plain)'],
    'An authorization request with code_challenge_method=plain must be refused.'),
  noPkce: rule('CAD-PRB-011', 'Authorization request without PKCE accepted', 'error', ['45 CFR 164.312(d)', 'RFC 9700 §2.1.1', 'OAuth 2.1 §4.1.1', 'SMART App Launch 2.2 app-launch (PKCE)'],
    'An authorization request without code_challenge must be refused, not sent on to login.'),
  redirectVariants: rule('CAD-PRB-012', 'Altered redirect URI accepted', 'error', ['45 CFR 164.312(a)(1)', 'RFC 9700 §2.1', 'RFC 9700 §4.1.3'],
    'Redirect URIs must match exactly: the registered URI with an added path segment, an added query, another port or a case change must get an error page, never a redirect or a login.'),
  codeReplay: rule('CAD-PRB-013', 'Authorization code replay accepted', 'error', ['45 CFR 164.312(d)', 'RFC 9700 §4.2.4', 'RFC 6749 §4.1.2'],
    'A code exchanged once must be refused the second time.'),
  refreshRotation: rule('CAD-PRB-014', 'Refresh tokens not rotated', 'warning', ['45 CFR 164.312(a)(2)(iii)', 'RFC 9700 §2.2.2', 'RFC 9700 §4.14.2'],
    'Using a refresh token should return a new one (rotation); without sender-constrained tokens a stolen refresh token otherwise stays valid.'),
  refreshReuse: rule('CAD-PRB-015', 'Refresh token reuse not detected', 'error', ['45 CFR 164.312(a)(1)', 'RFC 9700 §4.14.2', 'SMART App Launch 2.2 best-practices (refresh token used more than once)'],
    'A rotated-out refresh token presented again must be refused (error if accepted) and should revoke its family, so the newest token stops working too (warning if it does not).'),
  tokenLifetime: rule('CAD-PRB-016', 'Access token lifetime above 900 seconds', 'error', ['45 CFR 164.312(a)(2)(iii)', 'RFC 9700 §2.3', 'SMART App Launch 2.2 app-launch (lifetime ≤ 1 hour)'],
    'expires_in (and exp - iat of a JWT access token) must be at most 900 seconds.'),
  phiClaims: rule('CAD-PRB-017', 'PHI-looking claims in tokens', 'error', ['45 CFR 164.312(a)(1)', '45 CFR 164.514(b)(2)', 'RFC 9068 §2.2', 'SMART App Launch 2.2 app-launch (token contents)'],
    'Access tokens and ID tokens travel through browsers, logs and proxies: they must not carry names, birth dates, addresses, e-mail, phone numbers, MRNs or SSNs.'),
  tokenCaching: rule('CAD-PRB-018', 'Token response cacheable', 'error', ['45 CFR 164.312(e)(1)', 'RFC 6749 §5.1', 'SMART App Launch 2.2 app-launch (Cache-Control: no-store)'],
    'A token response must carry Cache-Control: no-store.'),
  stackTraces: rule('CAD-PRB-019', 'Error response leaks a stack trace', 'error', ['45 CFR 164.312(a)(1)', 'RFC 6749 §5.2', 'OWASP ASVS V7.4.1'],
    'Malformed requests to the token and authorization endpoints and an unknown path must produce errors without stack traces, file paths or framework internals.'),
  metadata: rule('CAD-PRB-020', 'Metadata missing or issuer mismatch', 'error', ['RFC 8414 §3', 'RFC 8414 §3.3', 'SMART App Launch 2.2 conformance'],
    'The RFC 8414 (or OpenID) metadata must be served and its issuer must equal the probed issuer exactly.'),
  coverage: rule('CAD-PRB-021', 'Probe step not run', 'note', [],
    'A step the probe could not run (no credentials, an endpoint on another origin, a failed prerequisite), with the reason. Not a weakness by itself.'),
} as const;

export const PROBE_RULES: readonly RuleDescriptor[] = Object.values(PRB);
