// PKCE (RFC 7636) with S256 only. RFC 9700 §2.1.1: the AS "MUST enforce the correct usage of
// code_verifier"; OAuth 2.1 §4.1.1: PKCE is required for every client; `plain` is refused because
// it exposes the verifier (RFC 9700 §2.1.1).
import { createHash } from 'node:crypto';
import { invalidGrant, invalidRequest } from '../../errors/oauth-error.js';
import { constantTimeEqual } from '../../crypto/digest.js';

// RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
// base64url of a SHA-256 digest: exactly 43 characters.
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** Checks the authorization request's challenge; returns it. */
export function checkCodeChallenge(challenge: string | undefined, method: string | undefined): string {
  if (challenge === undefined) throw invalidRequest('code_challenge is required (PKCE with S256)');
  if (method === undefined) throw invalidRequest('code_challenge_method is required and must be S256');
  if (method !== 'S256') throw invalidRequest('code_challenge_method must be S256; plain is not supported');
  if (!S256_CHALLENGE.test(challenge)) throw invalidRequest('code_challenge must be a base64url SHA-256 digest (43 characters)');
  return challenge;
}

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** Checks the token request's verifier against the stored challenge. */
export function checkCodeVerifier(verifier: string | undefined, challenge: string): void {
  if (verifier === undefined) throw invalidGrant('code_verifier is required');
  if (!VERIFIER.test(verifier)) throw invalidGrant('code_verifier is malformed (RFC 7636 §4.1)');
  if (!constantTimeEqual(s256(verifier), challenge)) throw invalidGrant('code_verifier does not match the code_challenge');
}
