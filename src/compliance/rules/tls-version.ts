// 45 CFR 164.312(e)(1) transmission security; Mozilla Server Side TLS intermediate (TLS 1.2 and
// 1.3 only); NIST SP 800-52r2; SMART App Launch 2.2 client-confidential-asymmetric.md: exchanges
// "SHALL be secured using TLS V1.2 or a more recent version"; FAPI 2.0 §5.2.2 "TLS version 1.2 or later".
import { findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-TLS-001';
const finding = findingsOf(id);
const VERSION_ORDER = ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

export const tlsVersion: Rule = {
  id,
  title: 'TLS below 1.2 or no TLS',
  severity: 'error',
  citations: ['45 CFR 164.312(e)(1)', 'RFC 9700 §2.6', 'NIST SP 800-52r2 §3.1', 'SMART App Launch 2.2 client-confidential-asymmetric (TLS 1.2+)'],
  description:
    'The listener must speak TLS 1.2 or 1.3 only. Plain HTTP (unsafe.allow_plain_http) is an error; TLS terminated by a proxy (unsafe.tls_terminated_by_proxy) is a warning because this check cannot see the proxy: run caduceus probe against it.',
  check(input) {
    const out: Finding[] = [];
    const min = VERSION_ORDER.indexOf(input.server.tls.minVersion);
    if (min < VERSION_ORDER.indexOf('TLSv1.2')) {
      out.push(finding('error', 'tls', `The listener accepts ${input.server.tls.minVersion}.`, 'Accept TLS 1.2 and 1.3 only (src/http/tls.ts TLS_MIN_VERSION).'));
    }
    if (!input.config.tls) {
      if (input.config.unsafe.tls_terminated_by_proxy) {
        out.push(finding('warning', 'tls', 'TLS is terminated by a reverse proxy that this check cannot inspect.', 'Run caduceus probe against the public URL and keep the proxy on Mozilla intermediate settings; protect the proxy-to-app hop too (RFC 9700 §4.13).'));
      } else {
        out.push(finding('error', 'tls', 'The server listens without TLS.', 'Set tls.cert and tls.key.'));
      }
    }
    if (input.config.issuer.startsWith('http:')) {
      out.push(finding('error', 'issuer', 'The issuer is an http URL: authorization responses and tokens travel unencrypted.', 'Use an https issuer.'));
    }
    return out;
  },
};
