// User passwords: argon2id (RFC 9106). Parameters are RFC 9106 §4's second recommended option
// (t=3, p=4, m=64 MiB, 128-bit salt, 256-bit tag), which are also the argon2 package defaults and
// exceed the OWASP minimum (m=19 MiB, t=2, p=1). They are written out so a dependency upgrade
// cannot change them silently; passwordNeedsRehash() tells when a stored hash is weaker.
//
// Only user passwords go through here. Server-generated secrets (client secrets, tokens) are
// high-entropy and use keyed digests instead (client-secret.ts, digest.ts).

import argon2 from 'argon2';
import { CryptoError } from './errors.js';
import { randomToken } from './random.js';

export const PASSWORD_HASH_PARAMETERS = {
  type: argon2.argon2id,
  memoryCost: 65_536,
  timeCost: 3,
  parallelism: 4,
  hashLength: 32,
} as const;

/** An argon2id PHC string ($argon2id$v=19$m=65536,p=4,t=3$salt$hash). */
export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, PASSWORD_HASH_PARAMETERS);
}

/**
 * Whether `password` matches `passwordHash` (argument order as argon2.verify: hash first).
 * Fails with ERR_CRYPTO when the stored hash is not an argon2 PHC string, so swapped arguments or
 * a corrupted record show up as an error instead of a silent "wrong password".
 */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  if (!passwordHash.startsWith('$argon2')) {
    throw new CryptoError('ERR_CRYPTO', 'stored password hash is not an argon2 hash');
  }
  try {
    return await argon2.verify(passwordHash, password);
  } catch (error) {
    throw new CryptoError('ERR_CRYPTO', 'stored password hash is malformed', { cause: error });
  }
}

/** Whether a stored hash uses weaker parameters than PASSWORD_HASH_PARAMETERS (rehash after a successful login). */
export function passwordNeedsRehash(passwordHash: string): boolean {
  return argon2.needsRehash(passwordHash, PASSWORD_HASH_PARAMETERS);
}

let dummyHash: Promise<string> | undefined;

/** Computes the hash dummyVerify() checks against; call at startup so the first dummyVerify() is not slower. */
export function prepareDummyVerify(): Promise<void> {
  dummyHash ??= hashPassword(randomToken(32));
  return dummyHash.then(() => undefined);
}

/**
 * Spends the time of one verifyPassword() and resolves false. Call it when the username does not
 * exist (or the account cannot log in) so response time does not reveal which usernames exist.
 */
export async function dummyVerify(): Promise<false> {
  dummyHash ??= hashPassword(randomToken(32));
  await argon2.verify(await dummyHash, randomToken(32));
  return false;
}
