// RFC 8693 token exchange for an agent acting for a person (issue 14, stretch): the agent service
// exchanges the person's access token for a narrower, shorter one that carries `act` (the agent)
// and `sub` (the person); the gateway's ledger events name both; revoking the person's grant ends
// it; everything that would widen access is refused with the RFC 8693 §2.2.2 error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { request } from 'undici';
import { addClient } from '../../src/admin/clients.js';
import { searchEvents } from '../../src/audit/search.js';
import { ACCESS_TOKEN_TYPE, grantType as TOKEN_EXCHANGE } from '../../src/oauth/grants/token-exchange.js';
import { codeFlow, introspect, post, relyingParty, revoke, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let rp: Rp;
let agent: { id: string; secret: string };
let personToken: string;

const exchange = (form: Record<string, string>, auth: { id: string; secret: string } | null = agent) =>
  post(rp, rp.as.token_endpoint!, { grant_type: TOKEN_EXCHANGE, subject_token_type: ACCESS_TOKEN_TYPE, ...form }, auth);

beforeAll(async () => {
  stack = await startTestStack({ configure: (c) => { c.agents.access_token_ttl = 120; c.gateway.introspection_cache_seconds = 0; } });
  rp = await relyingParty(stack);
  const deps = { storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' };
  const added = await addClient(deps, {
    client_id: 'chart-agent', name: 'Chart agent service', grant_types: [TOKEN_EXCHANGE], redirect_uris: [],
    scope: 'patient/Patient.rs patient/Observation.rs patient/Condition.rs', resources: [stack.demo.resource, `${stack.issuer}/mcp`], token_endpoint_auth_method: 'client_secret_basic',
  }, stack.ctx.config.resources.map((r) => r.uri));
  agent = { id: 'chart-agent', secret: added.secret! };
  personToken = (await codeFlow(rp)).tokens.access_token;
});
afterAll(async () => stack?.close());

describe('token exchange (RFC 8693)', () => {
  it('is advertised in the authorization server metadata', () => {
    expect(rp.as.grant_types_supported).toContain(TOKEN_EXCHANGE);
  });

  it('gives the agent a narrower, shorter token that carries act (the agent) and sub (the person)', async () => {
    const person = decodeJwt(personToken);
    const res = await exchange({ subject_token: personToken, scope: 'patient/Observation.rs', resource: stack.demo.resource });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', scope: 'patient/Observation.rs', patient: 'demo-1' });
    expect(res.json.refresh_token).toBeUndefined();
    const claims = decodeJwt(res.json.access_token as string);
    expect(claims).toMatchObject({ sub: person.sub, client_id: 'chart-agent', act: { sub: 'chart-agent' }, scope: 'patient/Observation.rs', patient: 'demo-1', aud: stack.demo.resource });
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(120);
    expect(claims.exp!).toBeLessThanOrEqual(person.exp!);
    // The person's grant: revoking it revokes the exchanged token too.
    expect(String(claims.jti).split('.')[0]).toBe(String(person.jti).split('.')[0]);
    const [issued] = await searchEvents(stack.ctx.storage.sql, { type: 'token.issued', client: 'chart-agent', limit: 1 });
    expect(issued).toMatchObject({ action: 'token_exchange', actor: { userId: person.sub, clientId: 'chart-agent' }, details: { act: 'chart-agent', subject_client: stack.demo.client_id } });
    const intro = await introspect(rp, res.json.access_token as string, agent);
    expect(intro.json).toMatchObject({ active: true, act: { sub: 'chart-agent' }, sub: person.sub });
  });

  it('every gateway event of the exchanged token names the agent (act) and the person', async () => {
    const token = (await exchange({ subject_token: personToken, scope: 'patient/Observation.rs' })).json.access_token as string;
    const read = await request(`${stack.issuer}/fhir/Observation?patient=demo-1`, { dispatcher: rp.dispatcher, headers: { authorization: `Bearer ${token}` } });
    await read.body.dump();
    expect(read.statusCode).toBe(200);
    const denied = await request(`${stack.issuer}/fhir/Patient/demo-1`, { dispatcher: rp.dispatcher, headers: { authorization: `Bearer ${token}` } });
    await denied.body.dump();
    expect(denied.statusCode).toBe(403);
    const events = await searchEvents(stack.ctx.storage.sql, { type: ['phi.accessed', 'phi.denied'], client: 'chart-agent', limit: 2 });
    expect(events.map((e) => [e.type, e.details?.act, e.actor.userId])).toEqual([
      ['phi.denied', 'chart-agent', decodeJwt(personToken).sub], ['phi.accessed', 'chart-agent', decodeJwt(personToken).sub],
    ]);
  });

  it.each([
    ['a scope the person\'s token does not carry', { scope: 'patient/Condition.rs' }, 400, 'invalid_scope'],
    ['a wider scope than the person\'s token', { scope: 'patient/Observation.cruds' }, 400, 'invalid_scope'],
    ['another subject token type', { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }, 400, 'invalid_request'],
    ['an actor token', { actor_token: 'x', actor_token_type: ACCESS_TOKEN_TYPE }, 400, 'invalid_request'],
    ['an audience parameter', { audience: 'https://elsewhere.example' }, 400, 'invalid_request'],
    ['a resource the agent may not use', { resource: `${'https://127.0.0.1:1'}/other` }, 400, 'invalid_target'],
    ['a resource the agent may use but the person did not authorise', { resource: 'MCP' }, 400, 'invalid_target'],
    ['a subject token that is not one of ours', { subject_token: 'eyJhbGciOiJFUzI1NiJ9.e30.sig' }, 400, 'invalid_grant'],
  ])('refuses %s', async (_name, extra, status, error) => {
    const form: Record<string, string> = { ...extra };
    if (form.resource === 'MCP') form.resource = `${stack.issuer}/mcp`;
    const res = await exchange({ subject_token: personToken, ...form });
    expect([res.status, res.json.error]).toEqual([status, error]);
  });

  it('refuses a client\'s own token, an exchanged token, and a client without the grant', async () => {
    const cc = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', scope: stack.demo.cc_scope, resource: stack.demo.resource }, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });
    const ofClient = await exchange({ subject_token: cc.json.access_token as string });
    expect([ofClient.status, ofClient.json.error, ofClient.json.error_description]).toEqual([400, 'invalid_grant', 'the subject token must be a person\'s access token, not a client\'s']);
    const once = (await exchange({ subject_token: personToken })).json.access_token as string;
    const twice = await exchange({ subject_token: once });
    expect([twice.status, twice.json.error]).toEqual([400, 'invalid_grant']);
    const app = await exchange({ subject_token: personToken });
    expect(app.status).toBe(200);
    const notAllowed = await exchange({ subject_token: personToken }, { id: stack.demo.client_id, secret: stack.demo.client_secret });
    expect([notAllowed.status, notAllowed.json.error]).toEqual([400, 'unauthorized_client']);
  });

  it('ends with the person\'s grant: once the person\'s token is revoked with its grant, the exchanged token is inactive and no new one is issued', async () => {
    const flow = await codeFlow(rp);
    const exchanged = (await exchange({ subject_token: flow.tokens.access_token })).json.access_token as string;
    expect((await introspect(rp, exchanged, agent)).json.active).toBe(true);
    // RFC 7009: revoking the refresh token revokes the grant and every token of it.
    await revoke(rp, flow.tokens.refresh_token!);
    expect((await introspect(rp, exchanged, agent)).json.active).toBe(false);
    const again = await exchange({ subject_token: flow.tokens.access_token });
    expect([again.status, again.json.error]).toEqual([400, 'invalid_grant']);
  });

  it('ends when the agent client is disabled, though the person\'s grant stays', async () => {
    const flow = await codeFlow(rp);
    const exchanged = (await exchange({ subject_token: flow.tokens.access_token, resource: stack.demo.resource })).json.access_token as string;
    await stack.ctx.storage.clients.setDisabled('chart-agent', true);
    try {
      expect((await introspect(rp, flow.tokens.access_token)).json.active).toBe(true);
      const read = await request(`${stack.issuer}/fhir/Observation?patient=demo-1`, { dispatcher: rp.dispatcher, headers: { authorization: `Bearer ${exchanged}` } });
      await read.body.dump();
      expect(read.statusCode).toBe(401);
    } finally {
      await stack.ctx.storage.clients.setDisabled('chart-agent', false);
    }
  });
});
