// The Clients section of the admin API (/admin/api/clients…): the console's operations as JSON,
// each through the same service of src/admin/clients.ts, with the calling client (`client:<id>`)
// as the ledger's actor. A new secret is in the answer of the call that made it and nowhere else.
// Bad input is 400 invalid_request naming the field (never the value); an unknown client 404.
import { z } from 'zod';
import type { AppContext } from '../../context/app-context.js';
import type { AuditEvent } from '../../audit/events.js';
import { OAuthError } from '../../errors/oauth-error.js';
import { isInternalError } from '../../errors/internal-error.js';
import {
  addClient, describeClient, readClientActivity, rotateClientSecret, searchClients, setClientDisabled, updateClient,
  type NewClientInput,
} from '../clients.js';
import { apiDeps, apiInputError, type AdminApiRouter } from './router.js';

const TAG = 'clients';
const MAX_PAGE = 200;

/** apiInputError, and a client_id already taken as invalid_request naming the field. */
function clientInputError(err: unknown): unknown {
  if (isInternalError(err, 'ERR_CONFLICT')) return new OAuthError('invalid_request', 'client_id: a client with this client_id already exists', undefined, 400);
  return apiInputError(err);
}

export const noSuchClient = () => new OAuthError('not_found', 'no client has this client_id', undefined, 404);

const sessionLimit = z.number().int().positive().nullable().optional().describe('seconds; null clears the limit, absent keeps it');

const createBody = z.strictObject({
  client_id: z.string().max(128),
  name: z.string().max(200),
  grant_types: z.array(z.string()).max(3),
  redirect_uris: z.array(z.string().max(2048)).max(50).default([]),
  scope: z.string().max(4096).default(''),
  resources: z.array(z.string().max(2048)).max(50).default([]),
  token_endpoint_auth_method: z.string().max(40),
  jwks_uri: z.string().max(2048).optional(),
  jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).max(20) }).optional(),
  dpop_bound_access_tokens: z.boolean().optional(),
  require_pushed_authorization_requests: z.boolean().optional(),
  session: z.strictObject({ idle_timeout: z.number().int().positive().optional(), absolute_timeout: z.number().int().positive().optional() }).optional(),
});

const changeBody = z.strictObject({
  redirect_uris: z.array(z.string().max(2048)).max(50).optional(),
  scope: z.string().max(4096).optional(),
  resources: z.array(z.string().max(2048)).max(50).optional(),
  session: z.strictObject({ idle_timeout: sessionLimit, absolute_timeout: sessionLimit }).optional(),
});

const listQuery = z.strictObject({
  q: z.string().max(200).optional().describe('client_id or name contains this (case-insensitive)'),
  offset: z.coerce.number().int().min(0).max(1_000_000).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional(),
});

/** A ledger event as the API shows it (identifiers only, as stored). */
export function eventJson(e: AuditEvent): Record<string, unknown> {
  return { ...e, time: new Date(e.time).toISOString() };
}

export function registerClientRoutes(router: AdminApiRouter, ctx: AppContext): void {
  const knownResources = () => ctx.config.resources.map((r) => r.uri);

  router.route({
    method: 'GET', path: '/clients', tag: TAG, summary: 'Clients whose client_id or name contains q, by client_id, a page at a time',
    query: listQuery,
    responses: { 200: 'clients (the public view: never a secret), total, next_offset (null on the last page)' },
    handler: async ({ query }) => {
      const offset = query.offset ?? 0;
      const limit = query.limit ?? 50;
      const { clients, total } = await searchClients(ctx.storage, { query: query.q, offset, limit });
      const policies = await Promise.all(clients.map((c) => ctx.storage.clientPolicies.get(c.clientId)));
      return { clients: clients.map((c, i) => describeClient(c, policies[i])), total, next_offset: offset + clients.length < total ? offset + clients.length : null };
    },
  });

  router.route({
    method: 'POST', path: '/clients', tag: TAG, summary: 'Add a client, validated like a clients[] entry of the configuration file',
    description: 'client_secret_basic and client_secret_post clients get a generated secret, returned in this answer only. Recorded as client.changed (action create).',
    body: createBody,
    responses: { 201: 'the client, with client_secret when one was generated (shown this once)' },
    handler: async ({ caller, body, reply }) => {
      let added: Awaited<ReturnType<typeof addClient>>;
      try {
        added = await addClient(apiDeps(ctx, caller), body as NewClientInput, knownResources());
      } catch (err) {
        throw clientInputError(err);
      }
      reply.code(201).header('pragma', 'no-cache');
      return { ...describeClient(added.client, added.policy), ...(added.secret !== undefined ? { client_secret: added.secret } : {}) };
    },
  });

  router.route({
    method: 'GET', path: '/clients/:clientId', tag: TAG, summary: 'One client (the public view: never its secret)',
    responses: { 200: 'the client' },
    handler: async ({ params }) => {
      const client = await ctx.storage.clients.get(params.clientId!);
      if (!client) throw noSuchClient();
      return describeClient(client, await ctx.storage.clientPolicies.get(client.clientId));
    },
  });

  router.route({
    method: 'PATCH', path: '/clients/:clientId', tag: TAG, summary: 'Change redirect URIs, scopes, resources or session limits',
    description: 'The client after the change is validated like a clients[] entry of the configuration file. Clients of the configuration file are read-only (400). Recorded as client.changed (action update) with the before/after values.',
    body: changeBody,
    responses: { 200: 'the client after the change, with changed (false when nothing differed)' },
    handler: async ({ caller, params, body }) => {
      let updated: Awaited<ReturnType<typeof updateClient>>;
      try {
        updated = await updateClient(apiDeps(ctx, caller), params.clientId!, body, knownResources());
      } catch (err) {
        throw clientInputError(err);
      }
      if (!updated) throw noSuchClient();
      return { ...describeClient(updated.client, updated.policy), changed: updated.changes.length > 0 };
    },
  });

  for (const [path, disabled] of [['disable', true], ['enable', false]] as const) {
    router.route({
      method: 'POST', path: `/clients/:clientId/${path}`, tag: TAG,
      summary: disabled ? 'Disable a client: refused everywhere, its grants and tokens revoked' : 'Enable a disabled client (revoked grants stay revoked)',
      description: `Recorded as client.changed (action ${path}); nothing is recorded when the client already was ${path}d.`,
      responses: { 200: `client_id, disabled, changed, grants_revoked` },
      handler: async ({ caller, params }) => {
        const result = await setClientDisabled(apiDeps(ctx, caller), params.clientId!, disabled);
        if (!result) throw noSuchClient();
        return { client_id: result.client.clientId, disabled, changed: result.changed, grants_revoked: result.grantsRevoked };
      },
    });
  }

  router.route({
    method: 'POST', path: '/clients/:clientId/rotate-secret', tag: TAG, summary: 'Replace the client secret; the old one stops working at once',
    description: 'Only for client_secret_basic and client_secret_post clients not declared in the configuration file. The new secret is in this answer only. Recorded as client.changed (action rotate_secret), values redacted.',
    responses: { 200: 'client_id and client_secret (shown this once)' },
    handler: async ({ caller, params, reply }) => {
      let rotated: Awaited<ReturnType<typeof rotateClientSecret>>;
      try {
        rotated = await rotateClientSecret(apiDeps(ctx, caller), params.clientId!);
      } catch (err) {
        throw clientInputError(err);
      }
      if (!rotated) throw noSuchClient();
      reply.header('pragma', 'no-cache');
      return { client_id: rotated.client.clientId, client_secret: rotated.secret };
    },
  });

  router.route({
    method: 'GET', path: '/clients/:clientId/activity', tag: TAG, summary: 'The client\'s latest ledger events (20), newest first',
    description: 'Reading the ledger is recorded as audit.read (action client_activity).',
    responses: { 200: 'events' },
    handler: async ({ caller, params }) => {
      const events = await readClientActivity(apiDeps(ctx, caller), params.clientId!, caller.meta);
      if (!events) throw noSuchClient();
      return { events: events.map(eventJson) };
    },
  });
}
