// Client administration shared by the CLI, the admin console, the admin API and the dev stack.
// Secrets are server-generated 256-bit values, returned once and stored only as a keyed digest.
// Every change is audited with a before/after diff, secrets redacted.
import { generateClientSecret } from '../crypto/client-secret.js';
import { REDACTED, type AuditChange, type AuditEvent, type AuditSink } from '../audit/events.js';
import { searchEvents } from '../audit/search.js';
import { clientSchema, ConfigError, formatPath, type ClientConfig } from '../config/schema.js';
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
  return updateClient(deps, clientId, { session: change }, []);
}

/** One problem of a ConfigError: its path (`redirect_uris[0]`), the form field it belongs to (`redirect_uris`; '' for none) and its message. */
export interface InputProblem {
  path: string;
  field: string;
  message: string;
}

const PROBLEM = /^([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\]|\.[A-Za-z_][A-Za-z0-9_]*)*): (.*)$/s;

/**
 * The problems of a ConfigError thrown by these services (and src/admin/agents.ts), split into the
 * field and the message, for the console (a message beside its field) and the API (invalid_request
 * naming the field). addClient's `--resource URL:` (the CLI's wording) becomes `resources`, without
 * the value.
 */
export function configProblems(err: ConfigError): InputProblem[] {
  return err.problems.map((problem) => {
    const cli = /^--resource \S+: (.*)$/s.exec(problem);
    if (cli) return { path: 'resources', field: 'resources', message: cli[1]! };
    const m = PROBLEM.exec(problem);
    if (!m) return { path: '', field: '', message: problem };
    const path = m[1]!;
    const segments = path.split(/[.[]/);
    return { path, field: segments[0] === 'session' && segments[1] ? `session.${segments[1]}` : segments[0]!, message: m[2]! };
  });
}

/** What an administrator may change of a stored client; an absent field keeps its value. */
export interface ClientChange {
  redirect_uris?: string[];
  scope?: string;
  resources?: string[];
  session?: SessionLimitsChange;
}

/**
 * Changes a client's redirect URIs, scopes, resources and session limits. The whole client after
 * the change is validated like a `clients[]` entry of the configuration file (validateClientInput),
 * and every resource must be a configured resource server. Clients of the configuration file are
 * read-only here (the file is their source: GitOps). Audited as `client.changed` (action update)
 * with the before/after diff; nothing is recorded when nothing changed. Resolves undefined when
 * the client does not exist.
 */
export async function updateClient(deps: AdminDeps, clientId: string, change: ClientChange, knownResources: readonly string[]): Promise<{ client: ClientRecord; policy: ClientPolicyRecord; changes: AuditChange[] } | undefined> {
  const before = await deps.storage.clients.get(clientId);
  const beforePolicy = before && await deps.storage.clientPolicies.get(clientId);
  if (!before || !beforePolicy) return undefined;
  assertNotFromConfig(before, 'edit its entry under "clients" there and restart');
  const pick = (changed: number | null | undefined, kept: number | undefined) => (changed === undefined ? kept : changed ?? undefined);
  const idle = pick(change.session?.idle_timeout, beforePolicy.sessionIdleTimeout);
  const absolute = pick(change.session?.absolute_timeout, beforePolicy.sessionAbsoluteTimeout);
  const c = validateClientInput({
    ...inputOf(before, beforePolicy),
    ...(change.redirect_uris !== undefined ? { redirect_uris: change.redirect_uris } : {}),
    ...(change.scope !== undefined ? { scope: change.scope } : {}),
    ...(change.resources !== undefined ? { resources: change.resources } : {}),
    session: { ...(idle !== undefined ? { idle_timeout: idle } : {}), ...(absolute !== undefined ? { absolute_timeout: absolute } : {}) },
  });
  if (change.resources !== undefined) {
    const unknown = c.resources.findIndex((r) => !knownResources.includes(r));
    if (unknown >= 0) throw new ConfigError([`resources[${unknown}]: not a configured resource server; use one of: ${knownResources.join(', ') || '(none configured)'}`]);
  }
  const after: ClientRecord = { ...before, redirectUris: c.redirect_uris, scope: c.scope, resources: c.resources, updatedAt: deps.now() };
  const limits = sessionLimitsOf(c.session);
  const afterPolicy: ClientPolicyRecord = { dpopBoundAccessTokens: beforePolicy.dpopBoundAccessTokens, requirePushedAuthorizationRequests: beforePolicy.requirePushedAuthorizationRequests, ...limits };
  const changes = diffRecords({ ...before, ...beforePolicy }, { ...after, ...afterPolicy });
  if (changes.length === 0) return { client: before, policy: beforePolicy, changes };
  await deps.storage.clients.upsert(after);
  await deps.storage.clientPolicies.setSessionLimits(clientId, limits);
  await deps.audit.record({ type: 'client.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'update', resource: clientId, changes });
  return { client: after, policy: afterPolicy, changes };
}

/** The stored client as the input validateClientInput checks. */
function inputOf(c: ClientRecord, policy: ClientPolicyRecord): NewClientInput {
  return {
    client_id: c.clientId, name: c.name, grant_types: c.grantTypes, redirect_uris: c.redirectUris, scope: c.scope, resources: c.resources,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    ...(c.jwksUri ? { jwks_uri: c.jwksUri } : {}),
    ...(c.jwks ? { jwks: JSON.parse(c.jwks) as { keys: Record<string, unknown>[] } } : {}),
    dpop_bound_access_tokens: policy.dpopBoundAccessTokens,
    require_pushed_authorization_requests: policy.requirePushedAuthorizationRequests,
  };
}

/** A client of the configuration file is changed there (the next start writes the file's version back). */
function assertNotFromConfig(client: ClientRecord, how: string): void {
  if (client.source === 'config') throw new ConfigError([`${client.clientId} is declared in the configuration file; ${how}`]);
}

/**
 * Disables or enables a client. A disabled client is refused everywhere, like an unknown one
 * (src/oauth/clients.ts findClient: /authorize, /par, /token, introspection, revocation), and its
 * client_credentials tokens read inactive (src/oauth/tokens/lookup.ts); disabling also revokes
 * every grant of the client with its tokens, so that no token it holds keeps working at the
 * gateway (45 CFR 164.308(a)(4)(ii)(C) access modification; RFC 7009 §2). Enabling restores
 * nothing that was revoked. Clients of the configuration file may be disabled too: stopping a
 * compromised client cannot wait for a deployment, and a restart keeps the flag. Audited as
 * `client.changed` (action disable or enable) with the revoked grants counted; nothing is recorded
 * when the client already was in that state. Resolves undefined when the client does not exist.
 */
export async function setClientDisabled(deps: AdminDeps, clientId: string, disabled: boolean): Promise<{ client: ClientRecord; changed: boolean; grantsRevoked: number } | undefined> {
  const before = await deps.storage.clients.get(clientId);
  if (!before) return undefined;
  if ((before.disabled ?? false) === disabled) return { client: before, changed: false, grantsRevoked: 0 };
  // The flag first: from here on no new grant or token is issued to the client; then what it holds is revoked.
  if (!(await deps.storage.clients.setDisabled(clientId, disabled))) return undefined;
  const revoked = disabled ? await deps.storage.grants.revokeByClient(clientId, deps.now(), 'client_disabled') : [];
  await deps.audit.record({
    type: 'client.changed', actor: { userId: deps.actor }, outcome: 'success', action: disabled ? 'disable' : 'enable', resource: clientId,
    changes: [{ field: 'disabled', before: before.disabled ?? false, after: disabled }],
    ...(disabled ? { details: { grants_revoked: revoked.length } } : {}),
  });
  const client: ClientRecord = { ...before, disabled: true };
  if (!disabled) delete client.disabled;
  return { client, changed: true, grantsRevoked: revoked.length };
}

/**
 * Replaces a client's secret with a new server-generated one (RFC 6749 §2.3.1), returned once. The
 * old secret stops working at once: only the new digest is stored. Clients of the configuration
 * file take their secret from the environment variable the file names. Audited as `client.changed`
 * (action rotate_secret), both values redacted. Resolves undefined when the client does not exist.
 */
export async function rotateClientSecret(deps: AdminDeps, clientId: string): Promise<{ client: ClientRecord; secret: string } | undefined> {
  const before = await deps.storage.clients.get(clientId);
  if (!before) return undefined;
  assertNotFromConfig(before, 'its secret is the environment variable its clients[].client_secret_env names: change it there and restart');
  if (!before.tokenEndpointAuthMethod.startsWith('client_secret')) {
    throw new ConfigError([`token_endpoint_auth_method: ${before.tokenEndpointAuthMethod} uses no client secret, so there is none to rotate`]);
  }
  const generated = generateClientSecret(deps.masterKey);
  const after: ClientRecord = { ...before, secretDigest: generated.digest, updatedAt: deps.now() };
  await deps.storage.clients.upsert(after);
  await deps.audit.record({
    type: 'client.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'rotate_secret', resource: clientId,
    changes: diffRecords(before, after),
  });
  return { client: after, secret: generated.secret };
}

/** One page of the clients whose client_id or name contains `query` (case-insensitive), by client_id. */
export async function searchClients(storage: Pick<Storage, 'clients'>, filter: { query?: string; offset?: number; limit: number }): Promise<{ clients: ClientRecord[]; total: number }> {
  // The clients table holds registrations (configuration, CLI, self-registered agents), not users: small enough to filter here.
  const needle = filter.query?.trim().toLowerCase() ?? '';
  const all = (await storage.clients.list()).filter((c) => !needle || c.clientId.toLowerCase().includes(needle) || c.name.toLowerCase().includes(needle));
  const offset = filter.offset ?? 0;
  return { clients: all.slice(offset, offset + filter.limit), total: all.length };
}

/** How many events of a client's recent activity are shown. */
export const CLIENT_ACTIVITY_EVENTS = 20;

/**
 * The client's latest ledger events (by the indexed actor_client column), newest first. Reading the
 * ledger is itself recorded (audit.read, action client_activity; 45 CFR 164.312(b)). Resolves
 * undefined, recording nothing, when the client does not exist.
 */
export async function readClientActivity(deps: Omit<AdminDeps, 'masterKey'>, clientId: string, meta: { requestId?: string; sourceAddress?: string } = {}): Promise<AuditEvent[] | undefined> {
  if (!(await deps.storage.clients.get(clientId))) return undefined;
  const events = await searchEvents(deps.storage.sql, { client: clientId, limit: CLIENT_ACTIVITY_EVENTS });
  await deps.audit.record({
    type: 'audit.read', actor: { userId: deps.actor }, outcome: 'success', action: 'client_activity', resource: clientId,
    ...meta, details: { events: events.length },
  });
  return events;
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
    token_endpoint_auth_method: c.tokenEndpointAuthMethod, jwks_uri: c.jwksUri ?? undefined, source: c.source, disabled: c.disabled ?? false,
    ...(policy ? { dpop_bound_access_tokens: policy.dpopBoundAccessTokens, require_pushed_authorization_requests: policy.requirePushedAuthorizationRequests } : {}),
    ...(policy?.sessionIdleTimeout !== undefined ? { session_idle_timeout: policy.sessionIdleTimeout } : {}),
    ...(policy?.sessionAbsoluteTimeout !== undefined ? { session_absolute_timeout: policy.sessionAbsoluteTimeout } : {}),
    created_at: new Date(c.createdAt).toISOString(),
  };
}
