// Client Identifier URLs: draft-ietf-oauth-client-id-metadata-document §3 ("Client Identifier URL").
// Pure string rules; no network.
//
// §3: a Client Identifier URL "MUST use the https URL scheme", "MUST NOT contain a userinfo
// component", "MAY contain a port", "MUST contain a path component", "MUST NOT contain single-dot or
// double-dot path components", "SHOULD NOT contain a query component" (allowed here: the SHOULD is
// the client's), "MUST NOT contain a fragment component", and Client Identifier URLs "MUST be
// compared using simple string comparison" (RFC 3986 §6.2.1), the authorization server never
// normalizing them.
//
// Stricter than §3, deliberately: the URL must already be in the form a WHATWG URL parser writes
// (lowercase scheme and host, punycode, no default port, no dot segments, no stray whitespace). So
// the string compared is exactly the URL fetched, and no parser difference can make the two differ.
// The path must be more than "/" (§3 calls a root path NOT RECOMMENDED: it collides with a site's
// own content).

/** Longest URL accepted, as a client_id and inside a document. */
export const MAX_URL_LENGTH = 2000;

const NOT_NORMALIZED = 'must be written in normalized form (lowercase scheme and host, no default port, no dot segments, as a URL parser writes it)';

/** True when a client_id is meant as a Client Identifier URL (this server never issues ids starting with https://). */
export function isClientIdUrl(clientId: string): boolean {
  return clientId.startsWith('https://');
}

/**
 * Why `raw` is not an https URL this server would fetch, or undefined. The rules every fetched URL
 * follows (the document's own URL and a jwks_uri inside it); the description is client-safe.
 */
export function fetchableUrlProblem(raw: string): string | undefined {
  if (raw.length > MAX_URL_LENGTH) return `is longer than ${MAX_URL_LENGTH} characters`;
  if (!URL.canParse(raw)) return 'is not an absolute URL';
  const url = new URL(raw);
  if (url.protocol !== 'https:') return 'must use https';
  if (url.username !== '' || url.password !== '' || rawAuthority(raw).includes('@')) return 'must not contain user information';
  if (raw.includes('#')) return 'must not contain a fragment';
  if (url.href !== raw) return NOT_NORMALIZED;
  return undefined;
}

/** Why `raw` is not a Client Identifier URL (§3), or undefined when it is one. */
export function clientIdUrlProblem(raw: string): string | undefined {
  const basic = fetchableUrlProblem(raw);
  if (basic !== undefined && basic !== NOT_NORMALIZED) return basic;
  const path = rawPath(raw);
  if (path === '' || path === '/') return 'must contain a path, e.g. https://app.example/oauth/client.json';
  if (path.split('/').some((s) => /^(?:\.|%2e){1,2}$/i.test(s))) return 'must not contain . or .. path segments';
  return basic;
}

/** The authority of an absolute URL as written: between "//" and the next "/", "?" or "#". */
function rawAuthority(raw: string): string {
  const start = raw.indexOf('//');
  if (start < 0) return '';
  const rest = raw.slice(start + 2);
  const end = rest.search(/[/?#]/);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The path of an absolute URL as written (no query, no fragment). */
function rawPath(raw: string): string {
  const start = raw.indexOf('//');
  const rest = start < 0 ? raw : raw.slice(start + 2);
  const slash = rest.search(/[/?#]/);
  if (slash < 0 || rest[slash] !== '/') return '';
  const path = rest.slice(slash);
  const end = path.search(/[?#]/);
  return end < 0 ? path : path.slice(0, end);
}
