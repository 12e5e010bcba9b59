// Client secrets for client_secret_basic / client_secret_post (RFC 6749 §2.3.1). The server
// generates them (256 random bits), so they need no password hashing: they are stored as an
// HMAC-SHA-256 digest under MasterKey.digestKey('client-secret'). A slow KDF such as argon2 would
// add no security to a 256-bit random value and would cap the token endpoint at tens of requests
// per second.

import { constantTimeEqual, keyedDigest } from './digest.js';
import type { MasterKey } from './master-key.js';
import { randomToken } from './random.js';

export interface GeneratedClientSecret {
  /** Shown once to the administrator; never stored. */
  secret: string;
  /** Goes into ClientRecord.secretDigest. */
  digest: string;
}

export function generateClientSecret(masterKey: MasterKey): GeneratedClientSecret {
  const secret = randomToken(32);
  return { secret, digest: digestClientSecret(masterKey, secret) };
}

export function digestClientSecret(masterKey: MasterKey, secret: string): string {
  return keyedDigest(masterKey.digestKey('client-secret'), secret);
}

/** Whether `presented` is the secret behind `digest`, in constant time. */
export function verifyClientSecret(masterKey: MasterKey, presented: string, digest: string): boolean {
  return constantTimeEqual(digestClientSecret(masterKey, presented), digest);
}
