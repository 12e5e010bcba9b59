// Redirect URI rules. RFC 9700 §2.1 and §4.1.3: exact string matching; RFC 9700 §2.6 and OAuth 2.1
// §2.3.1: no http except loopback redirection for native apps (RFC 8252 §7.3); RFC 6749 §3.1.2: no
// fragment. No wildcards.

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Returns why a URI may not be registered as a redirect URI, or undefined when it may. */
export function redirectUriProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URI';
  }
  if (uri.includes('*')) return 'must not contain wildcards';
  if (uri.includes('#')) return 'must not contain a fragment';
  if (url.username || url.password) return 'must not contain user information';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return LOOPBACK_HOSTS.has(url.hostname) ? undefined : 'http is only allowed for loopback addresses (127.0.0.1, [::1]); use https';
  }
  if (['javascript:', 'data:', 'file:', 'vbscript:'].includes(url.protocol)) return `the ${url.protocol} scheme is not allowed`;
  // Private-use URI schemes of native apps (RFC 8252 §7.1) need a reverse-DNS name with a dot.
  return /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol) ? undefined : 'must use https (or a reverse-domain private-use scheme for native apps)';
}

/**
 * RFC 9700 §4.1.3: "authorization servers MUST utilize exact string matching except for port
 * numbers in localhost redirection URIs of native apps".
 */
export function redirectUriMatches(registered: readonly string[], presented: string): boolean {
  if (registered.includes(presented)) return true;
  let p: URL;
  try {
    p = new URL(presented);
  } catch {
    return false;
  }
  if (p.protocol !== 'http:' || !LOOPBACK_HOSTS.has(p.hostname) || p.hostname === 'localhost') return false;
  return registered.some((r) => {
    const u = new URL(r);
    if (u.protocol !== 'http:' || u.hostname !== p.hostname) return false;
    // Compare everything but the port, as strings.
    return `${u.protocol}//${u.hostname}${u.pathname}${u.search}` === `${p.protocol}//${p.hostname}${p.pathname}${p.search}`
      && presented === `${p.protocol}//${p.host}${p.pathname}${p.search}`;
  });
}
