// Client administration shared by the CLI and the dev stack. Secrets are server-generated 256-bit
// values, returned once and stored only as a keyed digest. Every change is audited with a
// before/after diff, secrets redacted.
import { generateClientSecret } from '../crypto/client-secret.js';
import { REDACTED, type AuditChange, type AuditSink } from '../audit/events.js';
import { clientSchema, clientSessionSchema, ConfigError, formatPath, type ClientConfig } from '../config/schema.js';
import { InternalError } from '../errors/internal-error.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { ClientPolicyRecord, ClientRecord, ClientSessionLimits, Storage } from '../storage/types.js';

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
  /** 45 CFR 164.312(a)(2)(iii): stricter automatic logoff for this client, seconds (capped by session.*). */
  session?: { idle_timeout?: number; absolute_timeout?: number };
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
  const policy: ClientPolicyRecord = {
    dpopBoundAccessTokens: c.dpop_bound_access_tokens, requirePushedAuthorizationRequests: c.require_pushed_authorization_requests, ...sessionLimitsOf(c.session),
  };
  if (policy.dpopBoundAccessTokens || policy.requirePushedAuthorizationRequests) await deps.storage.clientPolicies.set(client.clientId, policy);
  if (policy.sessionIdleTimeout !== undefined || policy.sessionAbsoluteTimeout !== undefined) await deps.storage.clientPolicies.setSessionLimits(client.clientId, policy);
  await deps.audit.record({
    type: 'client.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'create', resource: client.clientId,
    changes: diffRecords(undefined, { ...client, ...policy }),
  });
  return { client, secret: generated?.secret, policy };
}

/** The stored form of `session: {idle_timeout, absolute_timeout}`, leaving out the unset ones. */
function sessionLimitsOf(session: { idle_timeout?: number; absolute_timeout?: number } | undefined): ClientSessionLimits {
  return {
    ...(session?.idle_timeout !== undefined ? { sessionIdleTimeout: session.idle_timeout } : {}),
    ...(session?.absolute_timeout !== undefined ? { sessionAbsoluteTimeout: session.absolute_timeout } : {}),
  };
}

/** A change of a CLI-managed client's session limits: a number sets it, null clears it, absent keeps it. */
export interface SessionLimitsChange {
  idle_timeout?: number | null;
  absolute_timeout?: number | null;
}

/**
 * Changes the session limits of a client added with `caduceus client add` (clients of the
 * configuration file are edited there), validated like `clients[].session` against the limits the
 * client keeps, and audited as `client.changed` (action update) with the before/after values.
 * Resolves undefined when the client does not exist.
 */
export async function updateClientSessionLimits(deps: AdminDeps, clientId: string, change: SessionLimitsChange): Promise<{ client: ClientRecord; policy: ClientPolicyRecord } | undefined> {
  const client = await deps.storage.clients.get(clientId);
  const before = client && await deps.storage.clientPolicies.get(clientId);
  if (!client || !before) return undefined;
  if (client.source === 'config') throw new ConfigError([`${clientId} is declared in the configuration file; set clients[].session there and restart`]);
  const pick = (changed: number | null | undefined, kept: number | undefined) => (changed === undefined ? kept : changed ?? undefined);
  const merged = { idle_timeout: pick(change.idle_timeout, before.sessionIdleTimeout), absolute_timeout: pick(change.absolute_timeout, before.sessionAbsoluteTimeout) };
  const result = clientSessionSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(result.error.issues.map((i) => `${formatPath(['session', ...i.path])}: ${i.message}`));
  const limits = sessionLimitsOf(result.data);
  await deps.storage.clientPolicies.setSessionLimits(clientId, limits);
  const after: ClientPolicyRecord = { dpopBoundAccessTokens: before.dpopBoundAccessTokens, requirePushedAuthorizationRequests: before.requirePushedAuthorizationRequests, ...limits };
  const changes = diffRecords(before as Partial<ClientRecord>, after as Partial<ClientRecord>);
  if (changes.length) {
    await deps.audit.record({
      type: 'client.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'update', resource: clientId, changes,
    });
  }
  return { client, policy: after };
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
    ...(policy?.sessionIdleTimeout !== undefined ? { session_idle_timeout: policy.sessionIdleTimeout } : {}),
    ...(policy?.sessionAbsoluteTimeout !== undefined ? { session_absolute_timeout: policy.sessionAbsoluteTimeout } : {}),
    created_at: new Date(c.createdAt).toISOString(),
  };
}
