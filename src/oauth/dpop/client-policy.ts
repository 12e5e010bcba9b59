// Per-client sender-constraint and request-object policy: RFC 9449 §5.2 `dpop_bound_access_tokens`
// (the client must send a DPoP proof to the token endpoint) and RFC 9126 §6
// `require_pushed_authorization_requests` (the client must use PAR), each set in three places:
// globally (`par.require_pushed_authorization_requests`), on a static client in the configuration
// file, or on a CLI-managed client (stored with the client row, migration 004). Any one of them on
// makes the requirement apply.
import type { AppContext } from '../../context/app-context.js';
import type { ClientRecord } from '../../storage/types.js';

export interface ClientSecurityPolicy {
  dpopBoundAccessTokens: boolean;
  requirePushedAuthorizationRequests: boolean;
}

export async function clientSecurityPolicy(ctx: AppContext, client: ClientRecord): Promise<ClientSecurityPolicy> {
  const stored = await ctx.storage.clientPolicies.get(client.clientId);
  const declared = client.source === 'config' ? ctx.config.clients.find((c) => c.client_id === client.clientId) : undefined;
  return {
    dpopBoundAccessTokens: Boolean(stored?.dpopBoundAccessTokens || declared?.dpop_bound_access_tokens),
    requirePushedAuthorizationRequests: Boolean(
      ctx.config.par.require_pushed_authorization_requests || stored?.requirePushedAuthorizationRequests || declared?.require_pushed_authorization_requests,
    ),
  };
}
