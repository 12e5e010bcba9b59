// Response security headers. HSTS per RFC 6797 §6.1 with Mozilla's hsts_min_age (Server Side TLS
// v6.0: 63072000 s, two years; FAPI 2.0 also requires anti-TLS-stripping for browser-facing
// endpoints); no caching of anything that may carry a token or PHI (RFC 6749 §5.1, OAuth 2.1
// §3.2.3); a script-free Content-Security-Policy for the few server-rendered pages (CSP Level 3).
//
// Deliberately not set: Access-Control-* (CORS is per endpoint), Permissions-Policy, and any
// header that names the server or its version.

/** Mozilla `hsts_min_age`: two years, in seconds. */
export const HSTS_MIN_MAX_AGE = 63_072_000;

export type ResponseKind = 'api' | 'page';

export interface PageCspOptions {
  /**
   * Adds `script-src 'self'` for a page that needs a same-origin script file. Inline script stays
   * blocked: there is no way to add 'unsafe-inline', a nonce or a hash here on purpose.
   */
  allowSameOriginScript?: boolean;
  /**
   * Sources for `form-action`; default `["'self'"]`. `null` leaves the directive out.
   *
   * Authorization interaction pages (login, MFA, consent) must NOT use the default: the form POSTs
   * to this server, which answers 303 to the client's redirect_uri, and Chromium checks
   * form-action against every redirect target of a form submission, so `'self'` alone blocks the
   * authorization response from reaching the client. Such a page passes `["'self'", <origin of the
   * redirect_uri>]` (or the private-use scheme as `com.example.app:`), or `null`.
   */
  formAction?: readonly string[] | null;
}

const SCHEME_SOURCE = /^[a-z][a-z0-9+.-]*:$/i;

/** A form-action source: 'self', an exact http(s) origin or a scheme source; anything else throws. */
function checkFormActionSource(source: string, index: number): string {
  if (source === "'self'" || SCHEME_SOURCE.test(source)) return source;
  let origin: string | undefined;
  try {
    const url = new URL(source);
    // WHATWG URL accepts `*` in a host; in CSP that would be a wildcard, so only plain hosts pass.
    const plainHost = /^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(url.hostname);
    if ((url.protocol === 'https:' || url.protocol === 'http:') && plainHost) origin = url.origin;
  } catch {
    origin = undefined;
  }
  if (origin !== source) {
    throw new TypeError(
      `formAction[${index}]: must be "'self'", an origin such as https://app.example or a scheme such as com.example.app:`,
    );
  }
  return source;
}

/**
 * The page Content-Security-Policy: nothing may load unless listed, styles and images from this
 * origin only (images also as data: URLs), no script unless `allowSameOriginScript`, no framing,
 * no <base>.
 */
export function contentSecurityPolicy(options: PageCspOptions = {}): string {
  const formAction = options.formAction === undefined ? ["'self'"] : options.formAction;
  const directives = [
    "default-src 'none'",
    ...(options.allowSameOriginScript === true ? ["script-src 'self'"] : []),
    "style-src 'self'",
    "img-src 'self' data:",
    ...(formAction === null ? [] : [`form-action ${formAction.map(checkFormActionSource).join(' ') || "'none'"}`]),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ];
  return directives.join('; ');
}

/**
 * Headers for every response of one kind. `api`: JSON endpoints (token, introspection, metadata,
 * gateway); `page`: HTML rendered by this server. Returns a fresh object each call.
 *
 * `hstsMaxAge` below HSTS_MIN_MAX_AGE is allowed here (the config schema decides and the compliance
 * check reports it); a negative or fractional value throws.
 */
export function securityHeaders(
  kind: ResponseKind,
  hstsMaxAge: number = HSTS_MIN_MAX_AGE,
  page: PageCspOptions = {},
): Record<string, string> {
  if (kind !== 'api' && kind !== 'page') {
    throw new TypeError(`kind: must be 'api' or 'page'`);
  }
  if (!Number.isSafeInteger(hstsMaxAge) || hstsMaxAge < 0) {
    throw new TypeError('hstsMaxAge: must be a non-negative whole number of seconds');
  }
  const headers: Record<string, string> = {
    // RFC 6797 §6.1. Sent on every response; browsers ignore it over plain HTTP (§8.1).
    'Strict-Transport-Security': `max-age=${hstsMaxAge}; includeSubDomains`,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    // RFC 6749 §5.1: a response carrying tokens or credentials MUST have Cache-Control: no-store
    // (and Pragma: no-cache for HTTP/1.0 caches). Applied to every API response, not only tokens.
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
  };
  if (kind === 'page') {
    headers['Content-Security-Policy'] = contentSecurityPolicy(page);
    // For browsers without CSP frame-ancestors; same intent.
    headers['X-Frame-Options'] = 'DENY';
  }
  return headers;
}
