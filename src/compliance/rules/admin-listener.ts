// 45 CFR 164.312(a)(1) access control and RFC 9700 §4.13: administrative interfaces (audit search,
// admin API) belong on a private listener, not on the internet-facing one.
import { isLoopbackHost } from '../../http/tls.js';
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';

const id = 'CAD-NET-001';
const finding = findingsOf(id);

export const adminListener: Rule = {
  id,
  title: 'Admin endpoints on a public listener',
  severity: 'warning',
  citations: ['45 CFR 164.312(a)(1)', '45 CFR 164.312(b)'],
  description:
    'When the HTTP app registers administrative routes (such as /audit) and listen.host is not a loopback address, those routes are reachable from the network together with the OAuth endpoints.',
  check(input) {
    const routes = input.server.adminRoutes;
    if (routes.length === 0 || isLoopbackHost(input.config.listen.host)) return [];
    return [finding('warning', 'listen.host', `Administrative routes (${routes.slice(0, 5).join(', ')}${routes.length > 5 ? ', …' : ''}) are served on ${input.config.listen.host}, a non-loopback address.`,
      'Bind the server to a private address behind a proxy that blocks the admin paths from the internet, or restrict them by network policy.')];
  },
};
