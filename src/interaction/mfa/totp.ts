// TOTP (RFC 6238) over HOTP (RFC 4226 §5), and the base32 (RFC 4648 §6) spelling of its secrets
// used by authenticator apps. Caduceus uses SHA-1, 6 digits, 30-second steps (RFC 6238 §4, §5.2;
// what every authenticator app supports); SHA-256/512 and 8 digits exist for the RFC test vectors.
//
// Deliberately not done here: replay checks (the caller stores the last accepted step; see
// MfaFactorStore.advanceCounter) and rate limiting (src/interaction/login.ts).
import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../../crypto/digest.js';

export const TOTP_STEP_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** RFC 6238 §5.2: accept the codes of one step before and after, for clock drift and typing time. */
export const TOTP_WINDOW = 1;

export type HotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

/** RFC 4226 §5.3: HMAC of the 8-byte counter, dynamic truncation, modulo 10^digits. */
export function hotp(key: Buffer, counter: number, digits = TOTP_DIGITS, algorithm: HotpAlgorithm = 'sha1'): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 §4.2: T = floor((now - T0) / X) with T0 = 0 and X = 30 s. */
export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_STEP_SECONDS);
}

export function totp(key: Buffer, nowMs: number, digits = TOTP_DIGITS, algorithm: HotpAlgorithm = 'sha1'): string {
  return hotp(key, totpStep(nowMs), digits, algorithm);
}

/**
 * The time step whose code `code` is, within ±TOTP_WINDOW steps of now, or undefined. Every
 * candidate is compared (in constant time) so timing does not tell which step matched.
 */
export function matchTotp(key: Buffer, code: string, nowMs: number): number | undefined {
  const presented = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(presented)) return undefined;
  const now = totpStep(nowMs);
  let found: number | undefined;
  for (let step = now - TOTP_WINDOW; step <= now + TOTP_WINDOW; step++) {
    if (constantTimeEqual(hotp(key, step), presented) && found === undefined) found = step;
  }
  return found;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32 without padding (the otpauth:// `secret` parameter). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/** Decodes base32 (case-insensitive, spaces and padding ignored); throws on other characters. */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const c of clean) {
    const value = BASE32.indexOf(c);
    if (value < 0) throw new TypeError('base32Decode: not base32 text');
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
