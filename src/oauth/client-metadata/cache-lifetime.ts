// How long a fetched Client ID Metadata Document may be reused.
// draft-ietf-oauth-client-id-metadata-document §5.2 Metadata Caching: the server "SHOULD respect
// HTTP cache headers [RFC9111] when caching client metadata, but MAY define its own upper and/or
// lower bounds on an acceptable cache lifetime"; it "MUST NOT cache error responses" and "MUST NOT
// cache documents which are invalid or malformed" (the resolver only ever stores a document that
// passed every check).
//
// RFC 9111 as applied here: `no-store` (§5.2.2.5) → not stored. `max-age` (§5.2.2.1) minus `Age`
// (§5.1) is the lifetime, then clamped to [minSeconds, maxSeconds]. `no-cache` (§5.2.2.4) counts
// as max-age=0, so it is clamped up to the minimum: within that floor a document is reused without
// revalidation, which is the lower bound §5.2 allows. No max-age (or an unreadable one) → the
// minimum. Deliberately ignored: `Expires` (a date against our clock), `s-maxage`, `private`,
// `must-revalidate` and validators (ETag, Last-Modified): nothing is revalidated, only refetched.
// Pure.

export interface CacheBounds {
  minSeconds: number;
  maxSeconds: number;
}

/** Seconds the document may be reused, or undefined when it must not be stored at all. */
export function cacheLifetimeSeconds(headers: { cacheControl?: string; age?: string }, bounds: CacheBounds): number | undefined {
  let maxAge: number | undefined;
  for (const part of (headers.cacheControl ?? '').split(',')) {
    const [rawName, ...rest] = part.split('=');
    const name = rawName!.trim().toLowerCase();
    const value = rest.join('=').trim().replace(/^"(.*)"$/, '$1');
    if (name === 'no-store') return undefined;
    if (name === 'no-cache') maxAge = 0;
    // §1.2.2: delta-seconds are digits only; a malformed value is ignored (min applies).
    if (name === 'max-age' && /^\d+$/.test(value) && maxAge === undefined) maxAge = Number(value);
  }
  const age = headers.age !== undefined && /^\d+$/.test(headers.age.trim()) ? Number(headers.age.trim()) : 0;
  const lifetime = maxAge === undefined ? bounds.minSeconds : maxAge - age;
  return Math.min(bounds.maxSeconds, Math.max(bounds.minSeconds, lifetime));
}
