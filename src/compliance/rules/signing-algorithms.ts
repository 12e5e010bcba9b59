// FAPI 2.0 §5.4: JWTs signed with "PS256, ES256, or EdDSA", never none; RSA keys of at least 2048
// bits. RFC 8725 §3.1-3.2 (algorithm verification, appropriate algorithms); RFC 9068 §2.1
// (access tokens MUST NOT use none). Symmetric HS* keys would let every verifier forge tokens.
import { findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-KEY-001';
const finding = findingsOf(id);
export const ACCEPTED_SIGNING_ALGS = new Set(['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'RS256', 'RS384', 'RS512']);
export const RSA_MIN_BITS = 2048;

function rsaBits(publicJwk: string): number | undefined {
  try {
    const jwk = JSON.parse(publicJwk) as { kty?: string; n?: string };
    if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string') return undefined;
    const n = Buffer.from(jwk.n, 'base64url');
    let bits = n.length * 8;
    for (let b = n[0] ?? 0; bits > 0 && (b & 0x80) === 0 && b !== 0; b <<= 1) bits -= 1;
    return bits;
  } catch {
    return undefined;
  }
}

function algProblem(alg: string): string | undefined {
  if (alg === 'none') return 'none (unsigned tokens)';
  if (/^HS/.test(alg)) return `${alg} (a shared symmetric key: every verifier could forge tokens)`;
  if (!ACCEPTED_SIGNING_ALGS.has(alg)) return `${alg} (not an accepted algorithm)`;
  return undefined;
}

export const signingAlgorithms: Rule = {
  id,
  title: 'Weak token signing algorithm or key',
  severity: 'error',
  citations: ['45 CFR 164.312(c)(1)', '45 CFR 164.312(d)', 'RFC 8725 §3.2', 'RFC 9068 §2.1', 'FAPI 2.0 Security Profile §5.4'],
  description:
    `Access and ID tokens must be signed with an asymmetric algorithm (ES256, PS256, EdDSA; RS256 only with RSA keys of at least ${RSA_MIN_BITS} bits). none and HS* are errors, as is an RSA key below ${RSA_MIN_BITS} bits.`,
  check(input) {
    const out: Finding[] = [];
    for (const alg of input.server.tokenSigningAlgs) {
      const p = algProblem(alg);
      if (p) out.push(finding('error', 'metadata.id_token_signing_alg_values_supported', `The server signs tokens with ${p}.`, 'Sign with ES256 (the Caduceus default).'));
    }
    for (const k of input.signingKeys) {
      if (k.expiresAt !== null && k.expiresAt <= input.now) continue;
      const p = algProblem(k.alg);
      if (p) out.push(finding('error', `signing-key:${k.kid}`, `Signing key ${k.kid} uses ${p}.`, 'Rotate to a new ES256 key: caduceus keys rotate.'));
      const bits = rsaBits(k.publicJwk);
      if (bits !== undefined && bits < RSA_MIN_BITS) {
        out.push(finding('error', `signing-key:${k.kid}`, `Signing key ${k.kid} is RSA with ${bits} bits; at least ${RSA_MIN_BITS} are required.`, 'Rotate to a new ES256 key: caduceus keys rotate.'));
      }
    }
    return out;
  },
};
