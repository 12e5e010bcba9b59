// CSRF tokens for the interaction forms: an HMAC over what the form acts on (an interaction id or
// "account") and a cookie only this browser holds, checked in constant time.
import { constantTimeEqual, keyedDigest } from '../crypto/digest.js';
import type { AppContext } from '../context/app-context.js';

export function csrfToken(ctx: AppContext, purpose: string, browserSecret: string): string {
  return keyedDigest(ctx.masterKey.digestKey('csrf'), `${purpose}|${browserSecret}`);
}

export function csrfValid(ctx: AppContext, purpose: string, browserSecret: string | undefined, presented: string | undefined): boolean {
  if (!browserSecret || !presented) return false;
  return constantTimeEqual(csrfToken(ctx, purpose, browserSecret), presented);
}
