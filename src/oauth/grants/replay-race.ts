// The race between the one redemption that consumed a code or refresh token and the replays that
// arrive while it runs (RFC 9700 §4.2.4 and §4.14.2; docs/deployment.md "The shape": of 100
// concurrent redemptions over several instances exactly one wins, and the others are treated as
// replays). A replay revokes the grant at once. The redemption that won the consumption may find
// its grant revoked by such a replay before it issues; it still answers, so that exactly one
// request succeeds, and what it issues is revoked as soon as it is stored (the caller revokes the
// grant again, which revokes its new tokens), because the whole family is revoked.
//
// Only a revocation for replay of this grant, made at or after this redemption consumed its
// credential, is treated so. Replays revoke with the time of the revocation itself (not of their
// request's start), which on one clock is after the winner's consumption; any other revocation,
// or one from before, refuses the redemption as before.
import { invalidGrant } from '../../errors/oauth-error.js';
import type { AppContext } from '../../context/app-context.js';
import type { GrantRecord } from '../../storage/types.js';

export type ReplayReason = 'code_replay' | 'refresh_reuse';

/**
 * Throws invalid_grant when the grant stops this redemption; otherwise returns it, with
 * racedByReplay when a replay racing this redemption revoked it (the caller issues, calls
 * revokeForReplay again, and answers).
 */
export function checkGrantForRedemption(grant: GrantRecord | undefined, consumedAt: number, reason: ReplayReason): { grant: GrantRecord; racedByReplay: boolean } {
  if (!grant) throw invalidGrant('the authorization was revoked');
  if (grant.revokedAt === null) return { grant, racedByReplay: false };
  if (grant.revokedReason === reason && grant.revokedAt >= consumedAt) return { grant, racedByReplay: true };
  throw invalidGrant('the authorization was revoked');
}

/**
 * Revokes the grant and every token stored under it for a replay, with the time of the revocation
 * itself (see above). Called by the replay, and again by a winner that raced one, after issuing
 * (the first revocation's time and reason stand).
 */
export function revokeForReplay(ctx: AppContext, grantId: string, reason: ReplayReason): Promise<boolean> {
  return ctx.storage.grants.revoke(grantId, ctx.now(), reason);
}
