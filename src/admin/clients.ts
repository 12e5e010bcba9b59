// Client administration shared by the CLI and the dev stack. Secrets are server-generated 256-bit
// values, returned once and stored only as a keyed digest. Every change is audited with a
// before/after diff, secrets redacted.
import { generateClientSecret } from '../crypto/client-secret.js';
import { REDACTED, type AuditChange, type AuditSink } from '../audit/events.js';
import { clientSchema, ConfigError, formatPath, type ClientConfig } from '../config/schema.js';
import { InternalError } from '../errors/internal-error.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { ClientPolicyRecord, ClientRecord, Storage } from '../storage/types.js';

export interface AdminDeps {
  storage: Storage;
  masterKey: MasterKey;
  audit: AuditSink;
  now: () => number;
  /** Who made the change, for the ledger (e.g. "cli:root"). */
  actor: string;
}

export interface NewClientInput {
  client_id: string;
  name: string;
  grant_types: string[];
  redirect_uris: string[];
  scope: string;
  resources: string[];
  token_endpoint_auth_method: string;
  jwks_uri?: string;
  jwks?: { keys: Record<string, unknown>[] };
  /** RFC 9449 §5.2: token requests must carry a DPoP proof. */
  dpop_bound_access_tokens?: boolean;
  /** RFC 9126 §6: authorization requests must come through PAR. */
  require_pushed_authorization_requests?: boolean;
}

/** Validates with the same rules as static clients in the configuration file. */
export function validateClientInput(input: NewClientInput): ClientConfig {
  const needsSecret = input.token_endpoint_auth_method.startsWith('client_secret');
  const result = clientSchema.safeParse({ ...input, client_secret_env: needsSecret ? 'GENERATED' : undefined });
  if (!result.success) throw new ConfigError(result.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`));
  return result.data;
}

export function diffRecords(before: Partial<ClientRecord> | undefined, after: Partial<ClientRecord> | undefined): AuditChange[] {
  const fields = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  const changes: AuditChange[] = [];
  for (const field of fields) {
    if (field === 'createdAt' || field === 'updatedAt') continue;
    const b = (before as Record<string, unknown> | undefined)?.[field];
    const a = (after as Record<string, unknown> | undefined)?.[field];
    if (JSON.stringify(b) === JSON.stringify(a)) continue;
    const secret = field === 'secretDigest';
    changes.push({ field, before: secret && b ? REDACTED : b ?? null, after: secret && a ? REDACTED : a ?? null });
  }
  return changes;
}

export async function addClient(deps: AdminDeps, input: NewClientInput, knownResources: readonly string[]): Promise<{ client: ClientRecord; secret?: string; policy: ClientPolicyRecord }> {
  const c = validateClientInput(input);
  const unknown = c.resources.filter((r) => !knownResources.includes(r));
  if (unknown.length) throw new ConfigError([`--resource ${unknown[0]}: not a configured resource server; use one of: ${knownResources.join(', ') || '(none configured)'}`]);
  if (await deps.storage.clients.get(c.client_id)) throw new InternalError('ERR_CONFLICT', `client ${c.client_id} already exists; remove it first or pick another --id`);
  const generated = c.token_endpoint_auth_method.startsWith('client_secret') ? generateClientSecret(deps.masterKey) : undefined;
  const now = deps.now();
  const client: ClientRecord = {
    clientId: c.client_id, name: c.name, grantTypes: c.grant_types, redirectUris: c.redirect_uris, scope: c.scope, resources: c.resources,
    tokenEndpointAuthMethod: c.token_endpoint_auth_method, secretDigest: generated?.digest ?? null, jwksUri: c.jwks_uri ?? null,
    jwks: c.jwks ? JSON.stringify(c.jwks) : null, source: 'admin', createdAt: now, updatedAt: now,
  };
  await deps.storage.clients.upsert(client);
  const policy: ClientPolicyRecord = { dpopBoundAccessTokens: c.dpop_bound_access_tokens, requirePushedAuthorizationRequests: c.require_pushed_authorization_requests };
  if (policy.dpopBoundAccessTokens || policy.requirePushedAuthorizationRequests) await deps.storage.clientPolicies.set(client.clientId, policy);
  await deps.audit.record({
    type: 'client.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'create', resource: client.clientId,
    changes: diffRecords(undefined, { ...client, ...policy }),
  });
  return { client, secret: generated?.secret, policy };
}

export async function removeClient(deps: AdminDeps, clientId: string): Promise<boolean> {
  const before = await deps.storage.clients.get(clientId);
  if (!before) return false;
  await deps.storage.clients.remove(clientId);
  await deps.audit.record({
    type: 'client.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'remove', resource: clientId,
    changes: diffRecords(before, undefined),
  });
  return true;
}

/** The public view of a client (never the secret digest), with its security flags when given. */
export function describeClient(c: ClientRecord, policy?: ClientPolicyRecord): Record<string, unknown> {
  return {
    client_id: c.clientId, name: c.name, grant_types: c.grantTypes, redirect_uris: c.redirectUris, scope: c.scope, resources: c.resources,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod, jwks_uri: c.jwksUri ?? undefined, source: c.source,
    ...(policy ? { dpop_bound_access_tokens: policy.dpopBoundAccessTokens, require_pushed_authorization_requests: policy.requirePushedAuthorizationRequests } : {}),
    created_at: new Date(c.createdAt).toISOString(),
  };
}
