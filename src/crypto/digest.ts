// Keyed digests of opaque secrets (tokens, codes, client secrets, session cookies) and
// constant-time comparison. Stores keep only the digest, so a database dump yields no usable
// secret; the HMAC key comes from MasterKey.digestKey(purpose), one key per kind of secret.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const MIN_KEY_BYTES = 32;

/** HMAC-SHA-256 (RFC 2104) of the UTF-8 value, hex. */
export function keyedDigest(key: Buffer, value: string): string {
  if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) {
    throw new TypeError(`keyedDigest: key must be a Buffer of at least ${MIN_KEY_BYTES} bytes (use MasterKey.digestKey)`);
  }
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/**
 * Compares two strings in time that depends on neither their content nor their lengths: both are
 * hashed with SHA-256 first, and the equal-length hashes are compared with timingSafeEqual.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a, 'utf8').digest();
  const digestB = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(digestA, digestB);
}
