// The race between the one redemption that consumed a code or refresh token and the replays that
// arrive while it runs (RFC 9700 §4.2.4 and §4.14.2; issue 7: "100 concurrent redemptions ... give
// exactly one success, and the reuse is detected"). A replay revokes the grant at once. The
// redemption that won the consumption may find its grant revoked by such a replay before it issues;
// it still answers, so that exactly one request succeeds, and what it issues is revoked as soon as
// it is stored (issueWon calls revokeIssued), because the whole family is revoked.
//
// Only a revocation for replay of this grant, made at or after this redemption consumed its
// credential, is treated so. Replays revoke with the time of the revocation itself (not of their
// request's start), which on one clock is after the winner's consumption; any other revocation,
// or one from before, refuses the redemption as before.
import { invalidGrant } from '../../errors/oauth-error.js';
import type { AppContext } from '../../server/context.js';
import type { GrantRecord } from '../../storage/types.js';

export type ReplayReason = 'code_replay' | 'refresh_reuse';

/**
 * Throws invalid_grant when the grant stops this redemption; resolves true when the grant was
 * revoked by a replay racing it (the caller answers, then calls revokeIssued).
 */
export function checkGrantForRedemption(grant: GrantRecord | undefined, consumedAt: number, reason: ReplayReason): boolean {
  if (!grant) throw invalidGrant('the authorization was revoked');
  if (grant.revokedAt === null) return false;
  if (grant.revokedReason === reason && grant.revokedAt >= consumedAt) return true;
  throw invalidGrant('the authorization was revoked');
}

/** A replay revokes the grant with the time of the revocation (see above). */
export function revokeForReplay(ctx: AppContext, grantId: string, reason: ReplayReason): Promise<boolean> {
  return ctx.storage.grants.revoke(grantId, ctx.now(), reason);
}

/** Revokes the tokens just issued under a grant that a racing replay revoked (the first reason stands). */
export async function revokeIssued(ctx: AppContext, grantId: string, reason: ReplayReason): Promise<void> {
  await ctx.storage.grants.revoke(grantId, ctx.now(), reason);
}
