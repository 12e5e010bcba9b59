// Where a client_id is looked up: the registered clients in storage (configuration, CLI, dynamic
// registration), then, for an https client_id not registered here, its Client ID Metadata Document
// (draft-ietf-oauth-client-id-metadata-document; src/oauth/client-metadata/). A metadata-document
// client is never stored: it lives in the resolver's bounded cache, and what it may be granted is
// the agent policy's (src/oauth/agent-policy.ts), never what its document asks for.
import type { AppContext } from '../context/app-context.js';
import type { ClientRecord } from '../storage/types.js';
import { agentPolicy, DEFAULT_AGENT_SCOPE, isAgentSource, type AgentPolicy } from './agent-policy.js';
import { isClientIdUrl } from './client-metadata/client-id-url.js';
import type { MetadataClient } from './client-metadata/resolver.js';
import { agentResources } from './endpoints/protected-resource-metadata.js';

/**
 * The client with this id, or undefined when there is none or it is disabled. With `redirectUri`, a metadata
 * document must list it exactly (§4.2); a document that cannot be fetched or is invalid throws
 * invalid_client (ClientMetadataError), and nothing of it is kept.
 */
export async function findClient(ctx: AppContext, clientId: string, request: { redirectUri?: string } = {}): Promise<ClientRecord | undefined> {
  const stored = await ctx.storage.clients.get(clientId);
  // A client an administrator disabled (ClientStore.setDisabled) is refused like an unknown one at
  // every endpoint that looks clients up here: /authorize, /par, /token, introspection, revocation.
  if (stored?.disabled) return undefined;
  if (stored || !ctx.clientMetadata.enabled || !isClientIdUrl(clientId)) return stored;
  const m = await ctx.clientMetadata.resolve(clientId, request);
  // private_key_jwt with a jwks_uri: the keys come through the same hardened fetch.
  const jwks = m.tokenEndpointAuthMethod === 'private_key_jwt' && m.jwks === null ? JSON.stringify(await ctx.clientMetadata.publicKeys(m)) : m.jwks;
  return metadataClientRecord(ctx, m, jwks, (await loadAgentPolicy(ctx, { clientId: m.clientId, source: 'metadata_document' }))!);
}

/**
 * The agent policy of a self-registered agent with its administrator's stored decision
 * (src/oauth/agent-policy.ts); undefined, without a storage read, for every other client.
 */
export async function loadAgentPolicy(ctx: AppContext, client: { clientId: string; source: string }): Promise<AgentPolicy | undefined> {
  if (!isAgentSource(client.source)) return undefined;
  return agentPolicy(ctx.config, client, await ctx.storage.agentDecisions.get(client.clientId));
}

/** A metadata-document client as the grants see it: public or private_key_jwt, scope from the agent policy. */
function metadataClientRecord(ctx: AppContext, m: MetadataClient, jwks: string | null, policy: AgentPolicy): ClientRecord {
  const scope = policy.approvedScopes.length ? [...new Set([...DEFAULT_AGENT_SCOPE.split(' '), ...policy.approvedScopes])].join(' ') : DEFAULT_AGENT_SCOPE;
  return {
    clientId: m.clientId,
    name: m.name ?? m.host,
    grantTypes: m.grantTypes.includes('authorization_code') ? m.grantTypes : ['authorization_code', ...m.grantTypes],
    redirectUris: m.redirectUris,
    scope,
    // What this server protects (the gateway's routes and /mcp), never its own APIs (/audit, /admin/api).
    resources: agentResources(ctx.config),
    tokenEndpointAuthMethod: m.tokenEndpointAuthMethod,
    secretDigest: null,
    // Keys come through the hardened fetch only (resolver.publicKeys), never a plain jwks_uri fetch.
    jwksUri: null,
    jwks,
    source: 'metadata_document',
    createdAt: m.fetchedAt,
    updatedAt: m.fetchedAt,
  };
}
