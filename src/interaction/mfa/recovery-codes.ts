// One-time recovery codes: ten per user, shown once, stored only as keyed digests, each usable
// once (NIST SP 800-63B §5.1.2 look-up secrets: at least 64 bits from an approved RBG when they
// are the only secret; here they back up a password, and 10 of 31 symbols give about 49 bits, which a
// guesser must find under the same account lockout as passwords).
import { randomInt } from 'node:crypto';
import type { MasterKey } from '../../crypto/master-key.js';
import { mfaDigest } from './digest.js';

export const RECOVERY_CODE_COUNT = 10;
/** Crockford-like: no 0/O, 1/I/L, so a code read aloud or copied by hand survives. */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const LENGTH = 10;

/** Fresh codes in their display form, e.g. "K7M2Q-XR4TP". */
export function generateRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    let code = '';
    for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
    return `${code.slice(0, 5)}-${code.slice(5)}`;
  });
}

/** The canonical form of what a person typed: upper case, no spaces or hyphens; undefined when it cannot be a code. */
export function normaliseRecoveryCode(input: string): string | undefined {
  const code = input.replace(/[\s-]+/g, '').toUpperCase();
  return code.length === LENGTH && [...code].every((c) => ALPHABET.includes(c)) ? code : undefined;
}

export function recoveryCodeDigest(masterKey: MasterKey, code: string): string | undefined {
  const canonical = normaliseRecoveryCode(code);
  return canonical === undefined ? undefined : mfaDigest(masterKey, 'recovery-code', canonical);
}
