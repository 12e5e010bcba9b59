// Mozilla Server Side TLS: certificates ECDSA P-256 or RSA 2048, lifespan at most 366 days
// (recommended 90); FAPI 2.0 §5.4 key sizes. 45 CFR 164.312(e)(1) and (d) (the server's identity).
import { findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const DAY_MS = 86_400_000;
export const CERT_MAX_LIFETIME_DAYS = 398;
export const CERT_RENEW_WARNING_DAYS = 14;

const id = 'CAD-TLS-004';
const finding = findingsOf(id);

export const tlsCertificate: Rule = {
  id,
  title: 'TLS certificate expired, expiring, too long-lived or weak',
  severity: 'error',
  citations: ['45 CFR 164.312(e)(1)', '45 CFR 164.312(d)', 'NIST SP 800-52r2 §3.2', 'FAPI 2.0 Security Profile §5.4'],
  description:
    `The certificate in tls.cert must be readable, currently valid, not within ${CERT_RENEW_WARNING_DAYS} days of expiry (warning), valid for at most ${CERT_MAX_LIFETIME_DAYS} days (warning), and use an RSA key of at least 2048 bits or an EC key of at least 256 bits.`,
  check(input) {
    const cert = input.files.tlsCertificate;
    if (!input.config.tls || !cert) return [];
    const out: Finding[] = [];
    const where = 'tls.cert';
    if (cert.error) return [finding('error', where, `The certificate ${cert.path} cannot be used: ${cert.error}.`, 'Point tls.cert at a readable PEM certificate chain.')];
    const now = input.now;
    if (cert.validTo !== undefined && cert.validTo <= now) out.push(finding('error', where, `The certificate expired on ${new Date(cert.validTo).toISOString()}.`, 'Renew the certificate.'));
    else if (cert.validTo !== undefined && cert.validTo - now < CERT_RENEW_WARNING_DAYS * DAY_MS) out.push(finding('warning', where, `The certificate expires on ${new Date(cert.validTo).toISOString()}.`, 'Renew the certificate now.'));
    if (cert.validFrom !== undefined && cert.validFrom > now) out.push(finding('error', where, `The certificate is not valid before ${new Date(cert.validFrom).toISOString()}.`, 'Check the clock and the certificate.'));
    if (cert.validFrom !== undefined && cert.validTo !== undefined && cert.validTo - cert.validFrom > CERT_MAX_LIFETIME_DAYS * DAY_MS) {
      out.push(finding('warning', where, `The certificate is valid for ${Math.round((cert.validTo - cert.validFrom) / DAY_MS)} days.`, `Use certificates valid for at most ${CERT_MAX_LIFETIME_DAYS} days (90 recommended), renewed automatically.`));
    }
    if (cert.keyType === 'rsa' && cert.keyBits !== undefined && cert.keyBits < 2048) out.push(finding('error', where, `The certificate key is RSA ${cert.keyBits} bits.`, 'Use ECDSA P-256 or RSA of at least 2048 bits.'));
    if (cert.keyType === 'ec' && cert.keyBits !== undefined && cert.keyBits < 256) out.push(finding('error', where, `The certificate key is EC ${cert.keyBits} bits.`, 'Use ECDSA P-256 or stronger.'));
    return out;
  },
};
