// Dynamic client registration for AI agents on a real server over TLS (src/oauth/endpoints/register.ts):
// RFC 7591 POST /register with an initial access token, RFC 7592 read and delete with the
// registration access token, on SQLite and PostgreSQL. Off by default; open registration only
// behind unsafe.allow_open_client_registration; refusals with their exact RFC 7591 §3.2.2 /
// RFC 6750 §3 answers; the stored row holds digests, never a token; every registration, read,
// deletion and refusal is a client.changed event of the ledger; a deleted agent's tokens stop
// working and it cannot get a code any more.
import * as oauth from 'oauth4webapi';
import { fetch, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { toFhirAuditEvent } from '../../src/audit/fhir.js';
import type { AuditEvent, AuditSink } from '../../src/audit/events.js';
import { DEMO_REDIRECT_URI } from '../../src/server/dev-stack.js';
import { createContext } from '../../src/server/start.js';
import { Browser } from '../support/browserless.js';
import { codeFlow, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';
import { testAdapters } from '../storage/databases.js';

const adapters = await testAdapters();
const IAT_ENV = 'CADUCEUS_TEST_AGENT_IAT';
const IAT = 'initial-access-token-of-this-test-0123456789abcdef';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, any>;
}

async function call(
  stack: TestStack, dispatcher: Dispatcher, method: string, path: string,
  o: { token?: string; body?: unknown; raw?: string; contentType?: string; authorization?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.authorization !== undefined) headers.authorization = o.authorization;
  let body: string | undefined;
  if (o.body !== undefined || o.raw !== undefined) {
    body = o.raw ?? JSON.stringify(o.body);
    headers['content-type'] = o.contentType ?? 'application/json';
  }
  const res = await fetch(`${stack.issuer}${path}`, { method, headers, body, dispatcher });
  const text = await res.text();
  let json: Record<string, any> = {};
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers as unknown as Headers, text, json };
}

/** client.changed events after `afterSeq`, oldest first. */
async function registrationEvents(stack: TestStack, afterSeq: number): Promise<AuditEvent[]> {
  return (await searchEvents(stack.ctx.storage.sql, { type: 'client.changed', limit: 1000 })).filter((e) => e.seq > afterSeq).sort((a, b) => a.seq - b.seq);
}
const ledgerHead = async (stack: TestStack) => (await searchEvents(stack.ctx.storage.sql, { limit: 1 }))[0]?.seq ?? 0;

const AGENT = {
  redirect_uris: [DEMO_REDIRECT_URI, 'http://127.0.0.1:33418/callback'],
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  client_name: 'Chart summarizer',
  client_uri: 'https://agent.example/',
  scope: 'openid offline_access patient/Observation.cruds patient/Patient.rs user/Observation.rs system/*.rs',
  software_id: 'chart-summarizer',
  software_version: '1.4.2',
};

describe('dynamic registration, off by default', () => {
  let stack: TestStack;
  let dispatcher: Dispatcher;
  beforeAll(async () => {
    stack = await startTestStack();
    dispatcher = trustingDispatcher(stack.ca);
  });
  afterAll(async () => stack?.close());

  test('there is no /register endpoint (404) and the metadata has no registration_endpoint', async () => {
    const notFound = { error: 'not_found', error_description: 'no such endpoint' };
    const post = await call(stack, dispatcher, 'POST', '/register', { body: AGENT, token: IAT });
    expect(post.status).toBe(404);
    expect(post.json).toEqual(notFound);
    expect((await call(stack, dispatcher, 'GET', '/register/agent_AAAAAAAAAAAAAAAAAAAAAA', { token: 'x' })).status).toBe(404);
    const metadata = await call(stack, dispatcher, 'GET', '/.well-known/oauth-authorization-server');
    expect(metadata.status).toBe(200);
    expect(metadata.json).not.toHaveProperty('registration_endpoint');
    expect(await stack.ctx.storage.clients.list()).not.toContainEqual(expect.objectContaining({ source: 'dynamic' }));
  });
});

describe.each(adapters)('dynamic registration with an initial access token ($name)', (adapter) => {
  let stack: TestStack;
  let dispatcher: Dispatcher;
  beforeAll(async () => {
    stack = await startTestStack({
      adapter,
      context: { env: { [IAT_ENV]: IAT } },
      configure: (c) => {
        c.agents.dynamic_registration = { enabled: true, initial_access_token_env: IAT_ENV };
        c.rate_limits.registration.per_address = 10_000;
      },
    });
    dispatcher = trustingDispatcher(stack.ca);
  });
  afterAll(async () => stack?.close());

  /** POST /register with the initial access token, another token, or (null) none. */
  const register = (body: unknown = AGENT, token: string | null = IAT) => call(stack, dispatcher, 'POST', '/register', { body, ...(token !== null ? { token } : {}) });

  test('the metadata advertises the registration endpoint', async () => {
    const metadata = await call(stack, dispatcher, 'GET', '/.well-known/oauth-authorization-server');
    expect(metadata.json.registration_endpoint).toBe(`${stack.issuer}/register`);
    expect(stack.ctx.warnings.join('\n')).not.toContain('allow_open_client_registration');
  });

  test('without the initial access token, or with a wrong one, the answer is 401 invalid_token with a Bearer challenge, and nothing is registered', async () => {
    const since = await ledgerHead(stack);
    const before = (await stack.ctx.storage.clients.list()).length;
    const realm = `${stack.issuer}/register`;

    const missing = await register(AGENT, null);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}"`);
    expect(missing.headers.get('cache-control')).toBe('no-store');
    expect(missing.json).toEqual({ error: 'invalid_token', error_description: 'an initial access token is required to register' });

    const wrong = await register(AGENT, `${IAT}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}", error="invalid_token", error_description="the initial access token is not valid"`);
    expect(wrong.json).toEqual({ error: 'invalid_token', error_description: 'the initial access token is not valid' });

    const basic = await call(stack, dispatcher, 'POST', '/register', { body: AGENT, authorization: `Basic ${Buffer.from(`x:${IAT}`).toString('base64')}` });
    expect(basic.status).toBe(401);
    expect(basic.json).toEqual({ error: 'invalid_token', error_description: 'the Authorization header must be Bearer with one token' });

    expect((await stack.ctx.storage.clients.list()).length).toBe(before);
    const events = await registrationEvents(stack, since);
    expect(events.map((e) => [e.outcome, e.action, e.reason, e.details?.description])).toEqual([
      ['denied', 'register', 'invalid_token', 'an initial access token is required to register'],
      ['denied', 'register', 'invalid_token', 'the initial access token is not valid'],
      ['denied', 'register', 'invalid_token', 'the Authorization header must be Bearer with one token'],
    ]);
    expect(events.every((e) => e.sourceAddress === '127.0.0.1' && typeof e.requestId === 'string' && e.actor.clientId === undefined)).toBe(true);
    expect(JSON.stringify(events)).not.toContain(IAT);
  });

  test('a valid registration answers 201 with the registered metadata, a random client_id and a registration access token; the scope is narrowed by the agent policy', async () => {
    const since = await ledgerHead(stack);
    const started = Date.now();
    const res = await register();
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = res.json;
    expect(body.client_id).toMatch(/^agent_[A-Za-z0-9_-]{22}$/);
    expect(body.registration_access_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.client_id_issued_at).toBeGreaterThanOrEqual(Math.floor(started / 1000));
    expect(body.client_id_issued_at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(body).toEqual({
      client_id: body.client_id,
      client_id_issued_at: body.client_id_issued_at,
      registration_access_token: body.registration_access_token,
      registration_client_uri: `${stack.issuer}/register/${body.client_id}`,
      client_name: 'Chart summarizer',
      redirect_uris: AGENT.redirect_uris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'openid patient/Observation.rs patient/Patient.rs',
      client_uri: 'https://agent.example/',
      software_id: 'chart-summarizer',
      software_version: '1.4.2',
    });
    // No secret of any kind is issued to an agent.
    expect(body).not.toHaveProperty('client_secret');

    const second = await register();
    expect(second.status).toBe(201);
    expect(second.json.client_id).not.toBe(body.client_id);
    expect(second.json.registration_access_token).not.toBe(body.registration_access_token);

    const [event] = (await registrationEvents(stack, since)).filter((e) => e.resource === body.client_id);
    expect(event).toMatchObject({
      type: 'client.changed', actor: { clientId: body.client_id }, outcome: 'success', action: 'register', resource: body.client_id,
      sourceAddress: '127.0.0.1', requestId: expect.any(String),
      scopes: { requested: AGENT.scope.split(' '), granted: ['openid', 'patient/Observation.rs', 'patient/Patient.rs'] },
      details: { source: 'dynamic', token_endpoint_auth_method: 'none', initial_access_token: true, software_id: 'chart-summarizer', software_version: '1.4.2' },
    });
    expect(event!.changes).toContainEqual({ field: 'redirectUris', before: null, after: AGENT.redirect_uris });
    // Exported as a FHIR AuditEvent, a registration creates.
    expect(toFhirAuditEvent(event!).action).toBe('C');
    expect(JSON.stringify(await registrationEvents(stack, since))).not.toContain(body.registration_access_token);
  });

  test('the stored client is source dynamic and keeps a keyed digest of the registration access token, never the token', async () => {
    const { json: body } = await register();
    const stored = await stack.ctx.storage.clients.get(body.client_id);
    expect(stored).toMatchObject({
      clientId: body.client_id, name: 'Chart summarizer', source: 'dynamic', tokenEndpointAuthMethod: 'none', secretDigest: null,
      // Every declared resource: the FHIR route and the MCP server.
      scope: 'openid patient/Observation.rs patient/Patient.rs', resources: [stack.demo.resource, stack.demo.mcp_url],
      registrationMetadata: { clientUri: 'https://agent.example/', softwareId: 'chart-summarizer', softwareVersion: '1.4.2' },
    });
    expect(stored!.registrationTokenDigest).toMatch(/^[0-9a-f]{64}$/);
    const row = await stack.ctx.storage.sql.get<Record<string, unknown>>('SELECT * FROM clients WHERE client_id = $1', [body.client_id]);
    expect(row).toBeDefined();
    expect(JSON.stringify(row)).not.toContain(body.registration_access_token);
    expect(JSON.stringify(row)).not.toContain(IAT);
  });

  test('the configuration sync at startup leaves the agents registered: it only removes stale configuration clients', async () => {
    const { json: body } = await register();
    const again = await createContext(stack.ctx.config, { env: { [IAT_ENV]: IAT }, background: false, log: () => undefined });
    try {
      expect(await again.storage.clients.get(body.client_id)).toMatchObject({ source: 'dynamic' });
    } finally {
      await again.close();
    }
    expect(await stack.ctx.storage.clients.get(body.client_id)).toMatchObject({ source: 'dynamic' });
  });

  test('a start with dynamic registration on and its initial access token variable unset or short is refused', async () => {
    for (const env of [{}, { [IAT_ENV]: 'short' }]) {
      await expect(createContext(stack.ctx.config, { env, background: false, log: () => undefined })).rejects.toMatchObject({
        problems: [`agents.dynamic_registration.initial_access_token_env: environment variable ${IAT_ENV} must hold a token of at least 32 characters (openssl rand -base64 32)`],
      });
    }
  });

  test('GET with the registration access token answers 200 with the same client information; a wrong or missing one, or another client\'s, 401', async () => {
    const { json: registered } = await register();
    const { json: other } = await register({ redirect_uris: ['https://other.example/cb'] });
    const since = await ledgerHead(stack);
    const path = `/register/${registered.client_id}`;

    const read = await call(stack, dispatcher, 'GET', path, { token: registered.registration_access_token });
    expect(read.status).toBe(200);
    expect(read.headers.get('cache-control')).toBe('no-store');
    expect(read.json).toEqual(registered);

    const denied = `Bearer realm="${stack.issuer}/register", error="invalid_token", error_description="the registration access token is not valid for this client"`;
    const token: string = registered.registration_access_token;
    const altered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const token of [altered, other.registration_access_token, IAT]) {
      const wrong = await call(stack, dispatcher, 'GET', path, { token });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toBe(denied);
      expect(wrong.json).toEqual({ error: 'invalid_token', error_description: 'the registration access token is not valid for this client' });
    }
    const missing = await call(stack, dispatcher, 'GET', path);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer realm="${stack.issuer}/register"`);
    expect(missing.json).toEqual({ error: 'invalid_token', error_description: 'a registration access token is required' });
    // RFC 7592 §2.1: a client that does not exist is 401 too, the same answer as a wrong token.
    const unknown = await call(stack, dispatcher, 'GET', '/register/agent_ZZZZZZZZZZZZZZZZZZZZZZ', { token: registered.registration_access_token });
    expect(unknown.status).toBe(401);
    expect(unknown.json).toEqual({ error: 'invalid_token', error_description: 'the registration access token is not valid for this client' });
    // The demo app is registered in the configuration: it has no registration to read.
    expect((await call(stack, dispatcher, 'GET', `/register/${stack.demo.client_id}`, { token: registered.registration_access_token })).status).toBe(401);

    const events = await registrationEvents(stack, since);
    expect(events.map((e) => [e.action, e.outcome, e.reason ?? null, e.resource ?? null, e.actor.clientId ?? null])).toEqual([
      ['read', 'success', null, registered.client_id, registered.client_id],
      ['read', 'denied', 'invalid_token', registered.client_id, null],
      ['read', 'denied', 'invalid_token', registered.client_id, null],
      ['read', 'denied', 'invalid_token', registered.client_id, null],
      ['read', 'denied', 'invalid_token', registered.client_id, null],
      ['read', 'denied', 'invalid_token', 'agent_ZZZZZZZZZZZZZZZZZZZZZZ', null],
      ['read', 'denied', 'invalid_token', null, null],
    ]);
    expect(JSON.stringify(events)).not.toContain(registered.registration_access_token);
    expect(toFhirAuditEvent(events[0]!).action).toBe('R');
  });

  test('updating a registration (PUT) is not offered: 405 with Allow', async () => {
    const { json: registered } = await register();
    const res = await call(stack, dispatcher, 'PUT', `/register/${registered.client_id}`, { token: registered.registration_access_token, body: { ...AGENT, client_id: registered.client_id } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, DELETE');
    expect(res.json).toEqual({ error: 'invalid_request', error_description: 'updating a registration is not supported: delete it and register again' });
  });

  test('invalid metadata is refused with invalid_client_metadata or invalid_redirect_uri, recorded, and nothing is registered', async () => {
    const since = await ledgerHead(stack);
    const before = (await stack.ctx.storage.clients.list()).length;
    const cases: Array<[{ body?: unknown; raw?: string; contentType?: string }, string, string]> = [
      [{ body: { ...AGENT, token_endpoint_auth_method: 'client_secret_basic' } }, 'invalid_client_metadata', 'token_endpoint_auth_method must be none or private_key_jwt: this server issues no client secret to an agent'],
      [{ body: { ...AGENT, redirect_uris: ['http://agent.example/cb'] } }, 'invalid_redirect_uri', 'redirect_uris[0] http is only allowed for loopback addresses (127.0.0.1, [::1]); use https'],
      [{ body: { client_name: 'no redirect' } }, 'invalid_redirect_uri', 'redirect_uris is required'],
      [{ body: { ...AGENT, grant_types: ['authorization_code', 'client_credentials'] } }, 'invalid_client_metadata', 'grant_types may only contain authorization_code and refresh_token'],
      [{ body: { ...AGENT, scope: 'system/*.rs user/Patient.rs offline_access' } }, 'invalid_client_metadata', 'scope: none of the requested scopes may be granted to a self-registered agent (read-only patient/ scopes, openid, fhirUser, launch/patient)'],
      [{ raw: '{"redirect_uris": [', contentType: 'application/json' }, 'invalid_client_metadata', 'the request body must be a JSON object of client metadata (Content-Type: application/json)'],
      [{ raw: new URLSearchParams({ redirect_uris: DEMO_REDIRECT_URI }).toString(), contentType: 'application/x-www-form-urlencoded' }, 'invalid_client_metadata', 'the request body must be a JSON object of client metadata (Content-Type: application/json)'],
    ];
    for (const [request, error, description] of cases) {
      const res = await call(stack, dispatcher, 'POST', '/register', { ...request, token: IAT });
      expect(res.status, description).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.json).toEqual({ error, error_description: description });
    }
    expect((await stack.ctx.storage.clients.list()).length).toBe(before);
    const events = await registrationEvents(stack, since);
    expect(events.map((e) => [e.action, e.outcome, e.reason, e.details?.description])).toEqual(cases.map(([, error, description]) => ['register', 'denied', error, description]));
  });

  test('a private_key_jwt agent registers its public keys inline; a private key is refused', async () => {
    const publicJwk = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'agent-1' };
    const res = await register({ redirect_uris: ['https://agent.example/cb'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] } });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] }, grant_types: ['authorization_code'], scope: 'openid fhirUser launch/patient patient/*.rs' });
    expect(res.json.client_name).toBe(res.json.client_id);
    expect(await stack.ctx.storage.clients.get(res.json.client_id)).toMatchObject({ jwks: JSON.stringify({ keys: [publicJwk] }), jwksUri: null });

    const withUri = await register({ redirect_uris: ['https://agent.example/cb'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://agent.example/jwks.json' });
    expect(withUri.status).toBe(201);
    expect(withUri.json.jwks_uri).toBe('https://agent.example/jwks.json');

    const leaked = await register({ redirect_uris: ['https://agent.example/cb'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...publicJwk, d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI' }] } });
    expect(leaked.status).toBe(400);
    expect(leaked.json).toEqual({ error: 'invalid_client_metadata', error_description: 'jwks.keys[0] contains private or symmetric key material (d); register public keys only' });
  });

  test('a registered agent gets a code and a token; DELETE answers 204, revokes its grant and tokens, and it cannot get a code any more', async () => {
    const { json: agent } = await register({ ...AGENT, scope: 'openid patient/Observation.rs' });
    const base = await relyingParty(stack);
    const rp: Rp = { ...base, client: { client_id: agent.client_id, token_endpoint_auth_method: 'none' }, auth: oauth.None() };
    const flow = await codeFlow(rp, { scope: 'openid patient/Observation.rs' });
    const accessToken = flow.tokens.access_token;
    expect(flow.tokens.scope).toBe('openid patient/Observation.rs');
    const userinfo = () => call(stack, dispatcher, 'GET', '/userinfo', { token: accessToken });
    expect((await userinfo()).status).toBe(200);

    const since = await ledgerHead(stack);
    const deleted = await call(stack, dispatcher, 'DELETE', `/register/${agent.client_id}`, { token: agent.registration_access_token });
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect(await stack.ctx.storage.clients.get(agent.client_id)).toBeUndefined();

    // RFC 7592 §2.3: its tokens stop working at once.
    const after = await userinfo();
    expect(after.status).toBe(401);
    expect(after.json.error).toBe('invalid_token');
    // RFC 7592 §2.1: the registration is gone; its token reads nothing and deletes nothing.
    expect((await call(stack, dispatcher, 'GET', `/register/${agent.client_id}`, { token: agent.registration_access_token })).status).toBe(401);
    expect((await call(stack, dispatcher, 'DELETE', `/register/${agent.client_id}`, { token: agent.registration_access_token })).status).toBe(401);
    // And the authorization endpoint no longer knows the client: an error page, no redirect, no code.
    const again = await new Browser(rp.dispatcher).request(flow.url.href);
    expect(again.status).toBe(400);
    expect(again.location).toBeUndefined();
    expect(again.body).toContain('The application that sent you here is not registered.');

    const events = await registrationEvents(stack, since);
    expect(events.map((e) => [e.action, e.outcome, e.reason ?? null])).toEqual([
      ['delete', 'success', null], ['read', 'denied', 'invalid_token'], ['delete', 'denied', 'invalid_token'],
    ]);
    expect(events[0]).toMatchObject({
      actor: { clientId: agent.client_id }, resource: agent.client_id, details: { grants_revoked: 1 }, sourceAddress: '127.0.0.1',
    });
    expect(events[0]!.changes).toContainEqual({ field: 'source', before: 'dynamic', after: null });
    expect(toFhirAuditEvent(events[0]!).action).toBe('D');
  });
});

describe('open registration (unsafe.allow_open_client_registration) and its rate limit', () => {
  const MINUTE = 60_000;
  let clock = Math.floor(Date.now() / MINUTE) * MINUTE + MINUTE;
  let stack: TestStack;
  let dispatcher: Dispatcher;
  let ledgerDown = false;
  beforeAll(async () => {
    stack = await startTestStack({
      context: {
        now: () => clock,
        wrapAudit: (ledger: AuditSink): AuditSink => ({
          record: (event) => (ledgerDown ? Promise.reject(Object.assign(new Error('ledger down'), { code: 'ERR_AUDIT_UNAVAILABLE' })) : ledger.record(event)),
        }),
      },
      configure: (c) => {
        c.agents.dynamic_registration = { enabled: true };
        c.unsafe.allow_open_client_registration = true;
        c.rate_limits.registration.per_address = 3;
      },
    });
    dispatcher = trustingDispatcher(stack.ca);
  });
  afterAll(async () => stack?.close());

  test('warns at startup, and registers without any Authorization header', async () => {
    expect(stack.ctx.warnings).toContain('unsafe.allow_open_client_registration is on: this weakens the server and fails the compliance check');
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const since = await ledgerHead(stack);
    const res = await call(stack, dispatcher, 'POST', '/register', { body: { redirect_uris: ['https://agent.example/cb'] } });
    expect(res.status).toBe(201);
    expect(res.json.scope).toBe('openid fhirUser launch/patient patient/*.rs');
    const [event] = await registrationEvents(stack, since);
    expect(event).toMatchObject({ action: 'register', outcome: 'success', details: { initial_access_token: false } });
  });

  test('the 4th registration request of an address in a minute gets 429 with Retry-After; the first refusal is recorded once', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const since = await ledgerHead(stack);
    const register = () => call(stack, dispatcher, 'POST', '/register', { body: { redirect_uris: ['https://agent.example/cb'] } });
    for (let i = 0; i < 3; i++) expect((await register()).status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const refused = await register();
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('60');
      expect(refused.json).toEqual({ error: 'temporarily_unavailable', error_description: 'too many requests; retry after 60 seconds' });
    }
    const refusals = (await registrationEvents(stack, since)).filter((e) => e.reason === 'rate_limited');
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({
      outcome: 'denied', action: 'register', sourceAddress: '127.0.0.1', details: { limit: 'rate_limits.registration.per_address', max: 3, window_seconds: 60 },
    });
  });

  test('when the ledger cannot record the registration, the answer is 503 and nothing stays registered', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const before = (await stack.ctx.storage.clients.list()).length;
    ledgerDown = true;
    try {
      const res = await call(stack, dispatcher, 'POST', '/register', { body: { redirect_uris: ['https://agent.example/cb'] } });
      expect(res.status).toBe(503);
      expect(res.json.error).toBe('temporarily_unavailable');
      expect(res.text).not.toContain('registration_access_token');
    } finally {
      ledgerDown = false;
    }
    expect((await stack.ctx.storage.clients.list()).length).toBe(before);
  });
});
