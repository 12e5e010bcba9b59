// Dynamic client registration for AI agents: RFC 7591 (POST /register) and the read and delete of
// RFC 7592 (GET and DELETE /register/:client_id), off unless agents.dynamic_registration.enabled.
// Turned off, no route exists: every /register request is the server's 404.
//
// Steps of a registration: the request rate limit per address (src/http/request-rate-limits.ts);
// the initial access token, when one is configured (RFC 7591 §3), compared by keyed digest in
// constant time; the metadata (src/oauth/registration/validate-request.ts); the scope narrowed to
// what an unapproved agent may be granted (src/oauth/agent-policy.ts; RFC 7591 §3.2.1 lets the
// server "substitute" values); the client stored with source 'dynamic', a server-generated
// client_id and the keyed digest of a new registration access token; the ledger event; then 201.
//
// - RFC 7591 §3.2.1: the response holds every registered value and those the server provisioned;
//   no client secret is ever issued (public clients and private_key_jwt only), so neither
//   client_secret nor client_secret_expires_at appear.
// - RFC 7592 §3: registration_access_token and registration_client_uri are REQUIRED in the client
//   information response. The token is stored by digest only, so a read answers with the token it
//   was presented (not rotated).
// - RFC 7592 §2.1, §2.3: a missing or wrong registration access token, or a client that does not
//   exist, is 401 invalid_token (RFC 6750 §3.1, with WWW-Authenticate). Delete answers 204 and
//   "SHOULD immediately invalidate all existing authorization grants and currently-active access
//   tokens, refresh tokens": every grant of the client is revoked with its tokens.
// - RFC 7592 §2.2 (update, PUT) is not offered: 405 with Allow: GET, DELETE. An agent that needs other
//   metadata deletes its registration and registers again.
//
// Audit (45 CFR 164.312(b)): every registration, read, deletion and refusal is a `client.changed`
// event (action register, read or delete), actor the agent's client id, with the request id and
// source address; refusals carry the OAuth error as reason. No token value ever enters the ledger.
// A registration whose event cannot be written is undone (503, nothing registered).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OAuthError } from '../../errors/oauth-error.js';
import { buildChallenge } from '../../errors/challenge.js';
import { isUnavailable } from '../../errors/internal-error.js';
import { randomId } from '../../crypto/random.js';
import { sendError } from '../../http/error-reply.js';
import { requestMeta } from '../../http/request-info.js';
import { enforceRegistrationRateLimit } from '../../http/request-rate-limits.js';
import type { AuditChange, AuditEventInput } from '../../audit/events.js';
import type { AppContext } from '../../context/app-context.js';
import type { ClientRecord } from '../../storage/types.js';
import { DEFAULT_AGENT_SCOPE, narrowAgentScopes } from '../agent-policy.js';
import { issueRegistrationAccessToken, verifyInitialAccessToken, verifyRegistrationAccessToken } from '../registration/credentials.js';
import { RegistrationError, validateRegistrationRequest, type RegistrationRequest } from '../registration/validate-request.js';
import { agentResources } from './protected-resource-metadata.js';

/** A registration needs a few kB (redirect URIs, at most ten public keys); anything larger is refused (413). */
export const REGISTRATION_BODY_LIMIT_BYTES = 32 * 1024;

/** The prefix of every client_id this endpoint issues; the rest is 128 random bits. */
export const AGENT_CLIENT_ID_PREFIX = 'agent';
const AGENT_CLIENT_ID = /^agent_[A-Za-z0-9_-]{22}$/;

type Action = 'register' | 'read' | 'delete';

/**
 * A refusal of a bearer credential (RFC 6750 §3): 401 invalid_token, with a WWW-Authenticate
 * challenge that the one serializer (src/errors/serializer.ts) writes. `withError` false: the
 * request had no credentials, and "the resource server SHOULD NOT include an error code" (§3.1).
 */
class BearerRefusal extends OAuthError {
  constructor(description: string, private readonly realm: string, private readonly withError = true) {
    super('invalid_token', description, undefined, 401);
  }

  override headers(): Record<string, string> {
    return {
      'www-authenticate': buildChallenge(this.withError
        ? { scheme: 'Bearer', realm: this.realm, error: this.error, errorDescription: this.description }
        : { scheme: 'Bearer', realm: this.realm }),
    };
  }
}

const AUTHORIZATION = /^Bearer +([\x21-\x7E]+) *$/i;

/**
 * RFC 6750 §2.1 and §3.1: the credential comes in the Authorization header only. "If the request
 * lacks any authentication information ..., the resource server SHOULD NOT include an error code":
 * a missing token gets the realm only.
 */
function presentedBearer(req: FastifyRequest, realm: string, missing: string): string {
  const header = req.headers.authorization;
  if (header === undefined) throw new BearerRefusal(missing, realm, false);
  const m = AUTHORIZATION.exec(header);
  if (!m) throw bearerInvalid(realm, 'the Authorization header must be Bearer with one token');
  return m[1]!;
}

const bearerInvalid = (realm: string, description: string) => new BearerRefusal(description, realm);

export function registerRegistrationEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const settings = ctx.config.agents.dynamic_registration;
  if (!settings.enabled) return;
  const issuer = ctx.config.issuer;
  const realm = `${issuer}/register`;

  const audit = (req: FastifyRequest, event: Omit<AuditEventInput, 'type' | 'requestId' | 'sourceAddress'>) => {
    const meta = requestMeta(req);
    return ctx.audit.record({ type: 'client.changed', ...event, requestId: meta.requestId, sourceAddress: meta.sourceAddress });
  };

  /** Records a refusal (never an outage: the error handler answers that), then rethrows it for the one serializer. */
  async function refuse(req: FastifyRequest, action: Action, err: unknown, resource?: string): Promise<never> {
    if (!(err instanceof OAuthError) || isUnavailable(err) || err.status >= 500 || err.status === 429) throw err;
    await audit(req, {
      actor: {}, outcome: 'denied', action, reason: err.error, ...(resource !== undefined ? { resource } : {}),
      details: { description: err.description },
    });
    throw err;
  }

  /** RFC 7591 §3: with an initial access token configured, POST /register needs it as a bearer token. */
  function checkInitialAccessToken(req: FastifyRequest): boolean {
    if (settings.initial_access_token_env === undefined) {
      // Open registration exists only behind its unsafe switch (the schema refuses it otherwise); fail closed.
      if (!ctx.config.unsafe.allow_open_client_registration) throw bearerInvalid(realm, 'registration is not open');
      return false;
    }
    const presented = presentedBearer(req, realm, 'an initial access token is required to register');
    if (!verifyInitialAccessToken(ctx.masterKey, presented, ctx.initialAccessTokenDigest)) {
      throw bearerInvalid(realm, 'the initial access token is not valid');
    }
    return true;
  }

  /** RFC 7592 §2: the client of the path and the token presented, when the token is the client's own; otherwise 401. */
  async function authorizedClient(req: FastifyRequest, clientId: string): Promise<{ client: ClientRecord; token: string }> {
    const presented = presentedBearer(req, realm, 'a registration access token is required');
    const client = AGENT_CLIENT_ID.test(clientId) ? await ctx.storage.clients.get(clientId) : undefined;
    const digest = client?.source === 'dynamic' ? client.registrationTokenDigest : undefined;
    // Compared also for an unknown client, so timing does not tell which client ids exist. A client
    // an administrator disabled is answered like an unknown one: it is kept for the record.
    if (!verifyRegistrationAccessToken(ctx.masterKey, presented, digest) || !client || client.disabled) {
      throw bearerInvalid(realm, 'the registration access token is not valid for this client');
    }
    return { client, token: presented };
  }

  const targetOf = (clientId: string) => (AGENT_CLIENT_ID.test(clientId) ? clientId : undefined);

  void app.register(async (scope) => {
    // Only this plugin reads JSON; every other endpoint keeps its form parser. Unreadable JSON
    // arrives as undefined and is refused by the validation, with the refusal recorded.
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: REGISTRATION_BODY_LIMIT_BYTES }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(null, undefined);
      }
    });

    scope.post('/register', async (req, reply) => {
      await enforceRegistrationRateLimit(ctx, req, reply, 'register');
      let request: RegistrationRequest;
      let withInitialToken: boolean;
      try {
        withInitialToken = checkInitialAccessToken(req);
        request = validateRegistrationRequest(req.body);
      } catch (err) {
        return refuse(req, 'register', err);
      }
      const requested = request.scope ?? DEFAULT_AGENT_SCOPE.split(' ');
      const { allowed } = narrowAgentScopes(requested);
      if (allowed.length === 0) {
        return refuse(req, 'register', new RegistrationError('invalid_client_metadata',
          'scope: none of the requested scopes may be granted to a self-registered agent (read-only patient/ scopes, openid, fhirUser, launch/patient)'));
      }
      const now = ctx.now();
      const clientId = randomId(AGENT_CLIENT_ID_PREFIX);
      const registrationToken = issueRegistrationAccessToken(ctx.masterKey);
      const client: ClientRecord = {
        clientId,
        name: request.clientName ?? clientId,
        grantTypes: request.grantTypes,
        redirectUris: request.redirectUris,
        scope: allowed.join(' '),
        // RFC 8707: what the agent may do there is the policy's.
        // What this server protects (the gateway's routes and /mcp), never its own APIs (/audit, /admin/api).
        resources: agentResources(ctx.config),
        tokenEndpointAuthMethod: request.tokenEndpointAuthMethod,
        secretDigest: null,
        jwksUri: request.jwksUri,
        jwks: request.jwks,
        source: 'dynamic',
        createdAt: now,
        updatedAt: now,
        registrationTokenDigest: registrationToken.digest,
        ...(Object.keys(request.metadata).length > 0 ? { registrationMetadata: request.metadata } : {}),
      };
      await ctx.storage.clients.upsert(client);
      try {
        await audit(req, {
          actor: { clientId }, outcome: 'success', action: 'register', resource: clientId,
          scopes: { requested, granted: allowed }, changes: registeredFields(client),
          details: {
            source: 'dynamic', token_endpoint_auth_method: client.tokenEndpointAuthMethod, initial_access_token: withInitialToken,
            ...(request.metadata.softwareId !== undefined ? { software_id: request.metadata.softwareId } : {}),
            ...(request.metadata.softwareVersion !== undefined ? { software_version: request.metadata.softwareVersion } : {}),
          },
        });
      } catch (err) {
        // No audit, no registration: the client the agent will never hear of is removed again.
        await ctx.storage.clients.remove(clientId).catch(() => undefined);
        throw err;
      }
      reply.code(201).header('cache-control', 'no-store').header('pragma', 'no-cache');
      return clientInformation(client, registrationToken.token);
    });

    scope.get<{ Params: { client_id: string } }>('/register/:client_id', async (req, reply) => {
      await enforceRegistrationRateLimit(ctx, req, reply, 'read');
      let authorized: { client: ClientRecord; token: string };
      try {
        authorized = await authorizedClient(req, req.params.client_id);
      } catch (err) {
        return refuse(req, 'read', err, targetOf(req.params.client_id));
      }
      const { client, token } = authorized;
      await audit(req, { actor: { clientId: client.clientId }, outcome: 'success', action: 'read', resource: client.clientId });
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return clientInformation(client, token);
    });

    scope.delete<{ Params: { client_id: string } }>('/register/:client_id', async (req, reply) => {
      await enforceRegistrationRateLimit(ctx, req, reply, 'delete');
      let client: ClientRecord;
      try {
        ({ client } = await authorizedClient(req, req.params.client_id));
      } catch (err) {
        return refuse(req, 'delete', err, targetOf(req.params.client_id));
      }
      // RFC 7592 §2.3: grants and tokens first, so nothing issued to the client outlives it.
      const revoked = await ctx.storage.grants.revokeByClient(client.clientId, ctx.now(), 'client_deleted');
      await ctx.storage.clients.remove(client.clientId);
      await audit(req, {
        actor: { clientId: client.clientId }, outcome: 'success', action: 'delete', resource: client.clientId,
        changes: registeredFields(client).map((c) => ({ field: c.field, before: c.after, after: null })),
        details: { grants_revoked: revoked.length },
      });
      return reply.code(204).header('cache-control', 'no-store').send();
    });

    scope.put('/register/:client_id', async (_req, reply) => {
      reply.header('allow', 'GET, DELETE');
      return sendError(reply, new OAuthError('invalid_request', 'updating a registration is not supported: delete it and register again', undefined, 405), { format: 'json' });
    });
  });

  /** RFC 7591 §3.2.1 / RFC 7592 §3: the client information response, wire names. */
  function clientInformation(client: ClientRecord, registrationAccessToken: string): Record<string, unknown> {
    const m = client.registrationMetadata ?? {};
    return {
      client_id: client.clientId,
      client_id_issued_at: Math.floor(client.createdAt / 1000),
      registration_access_token: registrationAccessToken,
      registration_client_uri: `${issuer}/register/${client.clientId}`,
      client_name: client.name,
      redirect_uris: client.redirectUris,
      grant_types: client.grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: client.tokenEndpointAuthMethod,
      ...(client.jwksUri !== null ? { jwks_uri: client.jwksUri } : {}),
      ...(client.jwks !== null ? { jwks: JSON.parse(client.jwks) as unknown } : {}),
      scope: client.scope,
      ...(m.clientUri !== undefined ? { client_uri: m.clientUri } : {}),
      ...(m.logoUri !== undefined ? { logo_uri: m.logoUri } : {}),
      ...(m.softwareId !== undefined ? { software_id: m.softwareId } : {}),
      ...(m.softwareVersion !== undefined ? { software_version: m.softwareVersion } : {}),
    };
  }
}

/** The registered values as ledger changes; the registration token digest and inline keys are left out. */
function registeredFields(client: ClientRecord): AuditChange[] {
  const fields: Array<[string, unknown]> = [
    ['name', client.name], ['redirectUris', client.redirectUris], ['grantTypes', client.grantTypes], ['scope', client.scope],
    ['resources', client.resources], ['tokenEndpointAuthMethod', client.tokenEndpointAuthMethod], ['jwksUri', client.jwksUri],
    ['jwks', client.jwks === null ? null : 'inline'], ['source', client.source],
    ['registrationMetadata', client.registrationMetadata ?? null],
  ];
  return fields.map(([field, after]) => ({ field, before: null, after }));
}
