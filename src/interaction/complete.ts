// Ends an interaction: records the grant, issues the authorization code and redirects back to the
// client with code, state and iss (RFC 6749 §4.1.2, RFC 9207 §2). The code carries how the user
// signed in (auth_time, amr, acr) for the ID token (OIDC Core §2).
import { randomToken } from '../crypto/random.js';
import { clientRedirect } from '../oauth/authorization-request.js';
import { issueAuthorizationCode } from '../oauth/tokens/authorization-code.js';
import type { AppContext } from '../context/app-context.js';
import type { LaunchContext } from '../storage/types.js';
import type { Interaction } from '../oauth/interaction-state.js';
import { acrFor } from './mfa/acr.js';

export const newGrantId = (): string => `g_${randomToken(18)}`;

export async function completeAuthorization(
  ctx: AppContext,
  interaction: Interaction,
  input: {
    userId: string; authTime: number; amr: readonly string[]; consentId: string; scopes: string[]; requestId: string; sourceAddress: string;
    /** SMART launch context of the grant (patient, encounter, …), identifiers only. */
    launchContext?: LaunchContext | null;
    /** A grant id chosen before (break-glass records it first); a new one otherwise. */
    grantId?: string;
  },
): Promise<string> {
  const { request } = interaction;
  const grantId = input.grantId ?? newGrantId();
  const now = ctx.now();
  await ctx.storage.grants.create({
    grantId, clientId: request.clientId, userId: input.userId, consentId: input.consentId, createdAt: now, revokedAt: null, revokedReason: null,
    launchContext: input.launchContext ?? null,
  });
  const code = await issueAuthorizationCode(ctx, request.clientId, grantId, {
    userId: input.userId,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    scope: input.scopes.join(' '),
    resource: request.resource,
    consentId: input.consentId,
    nonce: request.nonce,
    authTime: input.authTime,
    amr: [...input.amr],
    acr: acrFor(input.amr),
  });
  await ctx.storage.interactions.remove(interaction.id);
  await ctx.audit.record({
    type: 'authz.code_issued', actor: { userId: input.userId, clientId: request.clientId }, outcome: 'success',
    ...(input.launchContext?.patient !== undefined ? { patient: `Patient/${input.launchContext.patient}` } : {}),
    resource: request.resource, scopes: { requested: request.scope.split(' '), granted: input.scopes }, grantId,
    consentId: input.consentId, requestId: input.requestId, sourceAddress: input.sourceAddress,
  });
  return clientRedirect(ctx, request.redirectUri, { code, state: request.state });
}
