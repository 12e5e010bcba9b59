// 45 CFR 164.312(e)(2)(i) integrity controls: AEAD suites only (GCM, ChaCha20-Poly1305), ECDHE key
// exchange (forward secrecy, no static RSA). Mozilla Server Side TLS intermediate v6.0; FAPI 2.0
// §5.2.2 (BCP 195 cipher suites).
import { findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-TLS-002';
const finding = findingsOf(id);

/** Why a cipher (OpenSSL or TLS 1.3 name) is not acceptable, or undefined. */
export function cipherProblem(name: string): string | undefined {
  if (name.startsWith('TLS_')) {
    if (/CCM_8/.test(name)) return 'a truncated-tag CCM suite';
    return /_GCM_|CHACHA20_POLY1305|_CCM_/.test(name) ? undefined : 'not an AEAD suite';
  }
  if (!/GCM|CHACHA20-POLY1305/.test(name)) return 'not an AEAD suite (CBC or stream cipher)';
  if (!/^(ECDHE|DHE)-/.test(name)) return 'static key exchange (no forward secrecy)';
  return undefined;
}

export const tlsCipherSuites: Rule = {
  id,
  title: 'Non-AEAD or static-RSA cipher suites',
  severity: 'error',
  citations: ['45 CFR 164.312(e)(2)(i)', 'NIST SP 800-52r2 §3.3.1', 'FAPI 2.0 Security Profile §5.2.2'],
  description:
    'Only AEAD cipher suites (AES-GCM, ChaCha20-Poly1305) with ephemeral key exchange may be offered: CBC suites have a history of padding-oracle attacks and static RSA has no forward secrecy.',
  check(input) {
    const out: Finding[] = [];
    for (const c of input.server.tls.ciphers) {
      const why = cipherProblem(c);
      if (why) out.push(finding('error', 'tls', `The listener offers ${c}: ${why}.`, 'Offer the Mozilla intermediate suites only (src/http/tls.ts TLS_CIPHERS).'));
    }
    return out;
  },
};
