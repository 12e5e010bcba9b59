// refresh_token grant (RFC 6749 §6) with rotation and reuse detection (OAuth 2.1 §4.3.1,
// RFC 9700 §4.14.2): a rotated-out token presented again revokes the whole family (grant).
import { invalidGrant, invalidTarget } from '../../errors/oauth-error.js';
import { requireParams } from '../checks/duplicate-params.js';
import { narrowScope, parseScope } from '../checks/scope.js';
import { openRefreshGrant, refreshTokenDigest } from '../tokens/refresh-token.js';
import { checkGrantForRedemption, revokeForReplay } from './replay-race.js';
import { issueUserTokens, type BoundRefreshGrantData } from './issue.js';
import type { GrantRequest, TokenResponse } from './types.js';

export const grantType = 'refresh_token';

export async function handle(req: GrantRequest): Promise<TokenResponse> {
  const { ctx, client, params } = req;
  requireParams(params, 'refresh_token');
  const now = ctx.now();
  const digest = refreshTokenDigest(ctx, params.refresh_token!);
  // RFC 9449 §5: a public client's refresh token bound to a DPoP key is used only with a proof by
  // that key. Checked before consumption, so a thief with another key cannot burn the token.
  const before = await ctx.storage.refreshTokens.get(digest);
  // RFC 6749 §6 "the refresh token was issued to the authenticated client": refused before the
  // token is consumed, without touching the family (another client's attempt is no reuse).
  if (before && before.clientId !== client.clientId) throw invalidGrant('the refresh token was issued to another client');
  if (before) {
    const beforeData = openRefreshGrant(ctx, before) as BoundRefreshGrantData;
    const boundJkt = beforeData.dpopJkt;
    if (boundJkt !== undefined && req.dpop?.jkt !== boundJkt) {
      throw invalidGrant(req.dpop ? 'the DPoP proof key is not the one the refresh token is bound to' : 'the refresh token is bound to a DPoP key; send a DPoP proof with that key');
    }
    // A request refused for its own parameters leaves a live token usable: resource and scope are
    // checked before the token is consumed (and again after, on the consumed record).
    if (before.consumedAt === null) checkRequestedTarget(params, beforeData);
  }
  const consumed = await ctx.storage.refreshTokens.consume(digest, now);
  if (consumed.status === 'unknown') throw invalidGrant('the refresh token is invalid');
  const { record } = consumed;
  if (record.clientId !== client.clientId) throw invalidGrant('the refresh token was issued to another client');
  if (consumed.status === 'replayed') {
    const revoked = await revokeForReplay(ctx, record.grantId, 'refresh_reuse');
    await ctx.audit.record({
      type: 'token.refresh_reuse_detected', actor: { clientId: client.clientId }, outcome: 'denied', reason: 'refresh_reuse',
      grantId: record.grantId, requestId: req.requestId, sourceAddress: req.sourceAddress, details: { family_revoked: revoked },
    });
    throw invalidGrant('the refresh token was already used; its token family is revoked');
  }
  if (record.revokedAt !== null) throw invalidGrant('the refresh token was revoked');
  if (record.expiresAt <= now || record.absoluteExpiresAt <= now) throw invalidGrant('the refresh token has expired');
  const { grant, racedByReplay } = checkGrantForRedemption(await ctx.storage.grants.get(record.grantId), now, 'refresh_reuse');

  const data = openRefreshGrant(ctx, record);
  const user = await ctx.storage.users.getById(data.userId);
  if (!user || user.disabled) throw invalidGrant('the user account is not active');
  const scopes = checkRequestedTarget(params, data);

  // No answer without its audit event (503 when the ledger cannot write): if issuing or recording
  // fails, the rotation is undone, so the client's retry with the same token is not taken for
  // reuse. Best effort: a failure of the undo leaves the family without a usable token (the user
  // signs in again), never with an unaudited one.
  let issued: string | undefined;
  try {
    const { response, jti } = await issueUserTokens(ctx, {
      client,
      user,
      grantId: record.grantId,
      data,
      scopes,
      absoluteExpiresAt: record.absoluteExpiresAt,
      withIdToken: false,
      dpopJkt: req.dpop?.jkt,
      launch: grant.launchContext,
    });
    if (typeof response.refresh_token === 'string') issued = refreshTokenDigest(ctx, response.refresh_token);
    if (racedByReplay) await revokeForReplay(ctx, record.grantId, 'refresh_reuse');
    await ctx.audit.record({
      type: 'token.refreshed', actor: { userId: data.userId, clientId: client.clientId }, outcome: 'success', action: 'refresh_token',
      resource: data.resource, scopes: { requested: params.scope !== undefined ? scopes : undefined, granted: scopes },
      grantId: record.grantId, consentId: data.consentId ?? undefined, jti, requestId: req.requestId, sourceAddress: req.sourceAddress,
    });
    return response;
  } catch (err) {
    await ctx.storage.refreshTokens.undoRotation(digest, now, issued).catch(() => false);
    throw err;
  }
}

/** RFC 8707 resource and RFC 6749 §6 scope of a refresh request, against what was authorised; resolves the scopes to issue. */
function checkRequestedTarget(params: GrantRequest['params'], data: { resource: string; scope: string }): string[] {
  if (params.resource !== undefined && params.resource !== data.resource) {
    throw invalidTarget('resource differs from the one authorised');
  }
  const granted = data.scope.split(' ').filter(Boolean);
  return params.scope !== undefined ? narrowScope(parseScope(params.scope), granted) : granted;
}
