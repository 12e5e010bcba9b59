// Random values from the operating system CSPRNG (node:crypto randomBytes).
// RFC 6749 §10.10: the probability of guessing a token must be at most 2^-128 (and should be at
// most 2^-160); the default 256-bit tokens exceed both, and fewer than 128 bits are refused.

import { randomBytes } from 'node:crypto';

const MIN_TOKEN_BYTES = 16;
const ID_BYTES = 16;
const PREFIX = /^[A-Za-z0-9]+$/;

/** An opaque token of `bytes` random bytes (default 32: 256 bits), base64url without padding. */
export function randomToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < MIN_TOKEN_BYTES) {
    throw new RangeError(`randomToken: bytes must be an integer >= ${MIN_TOKEN_BYTES}, got ${String(bytes)}`);
  }
  return randomBytes(bytes).toString('base64url');
}

/**
 * A random identifier (128 bits, base64url), optionally as `<prefix>_<random>`. For ids that are
 * not secrets (users, grants, consents); use randomToken for anything that grants access.
 */
export function randomId(prefix?: string): string {
  const random = randomBytes(ID_BYTES).toString('base64url');
  if (prefix === undefined) {
    return random;
  }
  if (!PREFIX.test(prefix)) {
    throw new TypeError('randomId: prefix must be ASCII letters and digits');
  }
  return `${prefix}_${random}`;
}
