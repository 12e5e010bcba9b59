// authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707 §2.2).
// RFC 9700 §4.2.4: codes are single use and a replayed code revokes the tokens issued from it.
import { invalidGrant, invalidTarget } from '../../errors/oauth-error.js';
import { requireParams } from '../checks/duplicate-params.js';
import { checkCodeVerifier } from '../checks/pkce.js';
import { codeDigest, openCode } from '../tokens/authorization-code.js';
import { boundCodeKey } from '../dpop/server.js';
import { checkGrantForRedemption, revokeForReplay } from './replay-race.js';
import { issueUserTokens } from './issue.js';
import type { GrantRequest, TokenResponse } from './types.js';

export const grantType = 'authorization_code';

export async function handle(req: GrantRequest): Promise<TokenResponse> {
  const { ctx, client, params } = req;
  requireParams(params, 'code', 'redirect_uri');
  const now = ctx.now();
  const digest = codeDigest(ctx, params.code!);
  // RFC 6749 §4.1.3 "ensure that the authorization code was issued to the authenticated
  // confidential client": checked before the code is consumed, so another client that presents
  // it neither uses it up nor makes its own client's redemption look like a replay.
  const issued = await ctx.storage.codes.get(digest);
  if (issued && issued.clientId !== client.clientId) throw invalidGrant('the authorization code was issued to another client');
  const consumed = await ctx.storage.codes.consume(digest, now);
  if (consumed.status === 'unknown') throw invalidGrant('the authorization code is invalid');
  if (consumed.status === 'replayed') {
    const { record } = consumed;
    await revokeForReplay(ctx, record.grantId, 'code_replay');
    await ctx.audit.record({
      type: 'token.code_replay_detected', actor: { clientId: record.clientId }, outcome: 'denied', reason: 'code_replay',
      grantId: record.grantId, requestId: req.requestId, sourceAddress: req.sourceAddress,
    });
    throw invalidGrant('the authorization code was already used; tokens issued from it are revoked');
  }
  const { record } = consumed;
  if (record.clientId !== client.clientId) throw invalidGrant('the authorization code was issued to another client');
  if (record.expiresAt <= now) throw invalidGrant('the authorization code has expired');
  const data = openCode(ctx, record);
  // RFC 6749 §4.1.3: redirect_uri must be identical to the one in the authorization request.
  if (params.redirect_uri !== data.redirectUri) throw invalidGrant('redirect_uri does not match the authorization request');
  checkCodeVerifier(params.code_verifier, data.codeChallenge);
  if (params.resource !== undefined && params.resource !== data.resource) {
    throw invalidTarget('resource differs from the one authorised');
  }
  const { grant, racedByReplay } = checkGrantForRedemption(await ctx.storage.grants.get(record.grantId), now, 'code_replay');
  // RFC 9449 §10: a code requested with dpop_jkt is redeemed only with a proof by that key.
  const boundJkt = await boundCodeKey(ctx, client.clientId, data.codeChallenge);
  if (boundJkt !== undefined && req.dpop?.jkt !== boundJkt) {
    throw invalidGrant(req.dpop ? 'the DPoP proof key is not the one the authorization code is bound to' : 'the authorization code is bound to a DPoP key; send a DPoP proof with that key');
  }

  const scopes = data.scope.split(' ').filter(Boolean);
  const { response, jti } = await issueUserTokens(ctx, {
    client,
    grantId: record.grantId,
    data: { userId: data.userId, scope: data.scope, resource: data.resource, consentId: data.consentId, authTime: data.authTime, amr: data.amr, acr: data.acr },
    scopes,
    nonce: data.nonce,
    withIdToken: true,
    dpopJkt: req.dpop?.jkt,
    launch: grant.launchContext,
  });
  if (racedByReplay) await revokeForReplay(ctx, record.grantId, 'code_replay');
  await ctx.audit.record({
    type: 'token.issued', actor: { userId: data.userId, clientId: client.clientId }, outcome: 'success', action: 'authorization_code',
    ...(response.patient !== undefined ? { patient: `Patient/${response.patient}` } : {}),
    resource: data.resource, scopes: { granted: scopes }, grantId: record.grantId, consentId: data.consentId ?? undefined, jti,
    requestId: req.requestId, sourceAddress: req.sourceAddress, details: { refresh_token: response.refresh_token !== undefined, ...(response.purpose_of_use ? { purpose_of_use: response.purpose_of_use, break_glass: true } : {}) },
  });
  return response;
}
