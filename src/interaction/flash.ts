// One-time messages for the page a POST redirects to (post/redirect/get: a form answers 303 See
// Other, RFC 9110 §15.4.4, so a reload shows the page again instead of repeating the POST). The
// message is held for the signed-in session, sealed at rest under the master key in the
// short-lived pending-login store, keyed by a keyed digest of the session cookie, and removed when
// read: recovery codes (look-up secrets, NIST SP 800-63B §5.1.2) are shown exactly once and never
// travel in a URL, where logs and browser history would keep them.
import { openJson, sealJson } from '../crypto/envelope.js';
import type { AppContext } from '../context/app-context.js';
import { mfaDigest } from './mfa/digest.js';
import type { ActiveSession } from './session.js';

/** Long enough for the redirect to be followed; a message not read by then is gone. */
const FLASH_TTL_MS = 5 * 60 * 1000;

export interface Flash {
  notice?: string;
  /** New recovery codes, in clear: the only copy. */
  recoveryCodes?: string[];
  /** Where the recovery codes page continues to (a path of this server: the pending authorization or /account). */
  continueHref?: string;
}

const digestOf = (ctx: AppContext, session: ActiveSession) => mfaDigest(ctx.masterKey, 'flash', session.cookie);

/** Holds `flash` for the session's next page (replacing an unread one). */
export async function setFlash(ctx: AppContext, session: ActiveSession, flash: Flash): Promise<void> {
  const digest = digestOf(ctx, session);
  const now = ctx.now();
  await ctx.storage.pendingLogins.remove(digest);
  await ctx.storage.pendingLogins.save({
    digest, userId: session.record.userId, sealed: sealJson(ctx.masterKey, flash, digest), createdAt: now, expiresAt: now + FLASH_TTL_MS,
  });
}

/** The session's message, removed as it is read; undefined when there is none. */
export async function takeFlash(ctx: AppContext, session: ActiveSession): Promise<Flash | undefined> {
  const digest = digestOf(ctx, session);
  const record = await ctx.storage.pendingLogins.get(digest);
  if (!record) return undefined;
  await ctx.storage.pendingLogins.remove(digest);
  if (record.expiresAt <= ctx.now() || record.userId !== session.record.userId) return undefined;
  return openJson<Flash>(ctx.masterKey, record.sealed, digest);
}
