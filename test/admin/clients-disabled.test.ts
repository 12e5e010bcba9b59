// A client an administrator disabled (src/admin/clients.ts setClientDisabled) is refused everywhere,
// like an unknown client: at /authorize and when a pushed request is redeemed, at /par, at /token,
// at introspection and revocation (src/oauth/clients.ts findClient, which client authentication
// uses); its grants are revoked with their tokens, so its users' tokens stop at the gateway; and its
// client_credentials tokens, which have no grant, read inactive (src/oauth/tokens/lookup.ts); a
// disabled self-registered agent cannot read or delete its registration (RFC 7592). The
// gateway remembers a token's status for gateway.introspection_cache_seconds (30 s by default), so
// it stops a token within that bound: the tests move the clock past it. Each test fails if the
// check it covers is removed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { fetch } from 'undici';
import { addClient, setClientDisabled } from '../../src/admin/clients.js';
import { DEMO_CC_SCOPE } from '../../src/server/dev-stack.js';
import { authorizationUrl, codeFlow, post, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let rp: Rp;
let clock = Date.now();
const GATEWAY_CACHE_MS = 30_000;
const IAT_ENV = 'CADUCEUS_TEST_AGENT_IAT';
const IAT = 'initial-access-token-of-this-test-0123456789abcdef';

beforeAll(async () => {
  stack = await startTestStack({
    context: { now: () => clock, env: { [IAT_ENV]: IAT } },
    configure: (c) => { c.agents.dynamic_registration = { enabled: true, initial_access_token_env: IAT_ENV }; },
  });
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

const deps = () => ({ storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test-admin' });

/** A confidential client of its own for each test (client_secret_basic). */
async function newClient(id: string, kind: 'app' | 'service'): Promise<{ id: string; secret: string }> {
  const added = await addClient(deps(), kind === 'app'
    ? { client_id: id, name: id, grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [stack.demo.redirect_uri], scope: stack.demo.scope, resources: [stack.demo.resource], token_endpoint_auth_method: 'client_secret_basic' }
    : { client_id: id, name: id, grant_types: ['client_credentials'], redirect_uris: [], scope: DEMO_CC_SCOPE, resources: [stack.demo.resource], token_endpoint_auth_method: 'client_secret_basic' },
  [stack.demo.resource]);
  return { id, secret: added.secret! };
}

const rpOf = (c: { id: string; secret: string }): Rp => ({ ...rp, client: { client_id: c.id }, auth: oauth.ClientSecretBasic(c.secret) });
const get = (url: string, token?: string) => fetch(url, { redirect: 'manual', dispatcher: rp.dispatcher, headers: token ? { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } : {} });
const ccToken = (c: { id: string; secret: string }) => post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', scope: DEMO_CC_SCOPE, resource: stack.demo.resource }, c);
const gateway = (token: string) => get(`${stack.issuer}/fhir/Patient/demo-1`, token);
const parForm = (id: string) => ({
  client_id: id, response_type: 'code', redirect_uri: stack.demo.redirect_uri, scope: stack.demo.scope, state: 'st',
  code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: stack.demo.resource,
});
const NOT_REGISTERED = 'The application that sent you here is not registered.';

describe('a disabled client', () => {
  it('is refused at /authorize like an unknown client: our error page, never a redirect to it', async () => {
    const app = await newClient('disabled-at-authorize', 'app');
    const { url } = await authorizationUrl(rpOf(app));
    const before = await get(url.href);
    expect(before.status).toBe(303);
    await setClientDisabled(deps(), app.id, true);
    const after = await get(url.href);
    expect([after.status, after.headers.get('location')]).toEqual([400, null]);
    expect(await after.text()).toContain(NOT_REGISTERED);
  });

  it('is refused at /par (401 invalid_client), and a request it pushed before is not redeemed at /authorize', async () => {
    const app = await newClient('disabled-at-par', 'app');
    const pushed = await post(rp, rp.as.pushed_authorization_request_endpoint!, parForm(app.id), app);
    expect(pushed.status).toBe(201);
    await setClientDisabled(deps(), app.id, true);
    const again = await post(rp, rp.as.pushed_authorization_request_endpoint!, parForm(app.id), app);
    expect([again.status, again.json?.error]).toEqual([401, 'invalid_client']);
    const redeem = await get(`${rp.as.authorization_endpoint}?${new URLSearchParams({ client_id: app.id, request_uri: pushed.json.request_uri as string })}`);
    expect([redeem.status, redeem.headers.get('location')]).toEqual([400, null]);
    expect(await redeem.text()).toContain(NOT_REGISTERED);
  });

  it('is refused at /token (401 invalid_client), and gets in again once enabled', async () => {
    const service = await newClient('disabled-at-token', 'service');
    expect((await ccToken(service)).status).toBe(200);
    await setClientDisabled(deps(), service.id, true);
    const refused = await ccToken(service);
    expect([refused.status, refused.json?.error]).toEqual([401, 'invalid_client']);
    await setClientDisabled(deps(), service.id, false);
    expect((await ccToken(service)).status).toBe(200);
  });

  it('cannot authenticate at introspection or revocation (401 invalid_client)', async () => {
    const service = await newClient('disabled-at-introspect', 'service');
    const token = (await ccToken(service)).json.access_token as string;
    expect((await post(rp, rp.as.introspection_endpoint!, { token }, service)).json).toMatchObject({ active: true });
    await setClientDisabled(deps(), service.id, true);
    const introspected = await post(rp, rp.as.introspection_endpoint!, { token }, service);
    expect([introspected.status, introspected.json?.error]).toEqual([401, 'invalid_client']);
    const revoked = await post(rp, rp.as.revocation_endpoint!, { token }, service);
    expect([revoked.status, revoked.json?.error]).toEqual([401, 'invalid_client']);
  });

  it('loses its grants with their tokens: its user\'s access token stops at the gateway, and enabling does not bring it back', async () => {
    const app = await newClient('disabled-grants', 'app');
    const flow = await codeFlow(rpOf(app));
    expect((await gateway(flow.tokens.access_token)).status).toBe(200);
    const result = await setClientDisabled(deps(), app.id, true);
    expect(result).toMatchObject({ changed: true, grantsRevoked: 1 });
    clock += GATEWAY_CACHE_MS + 1000;
    expect((await gateway(flow.tokens.access_token)).status).toBe(401);
    const grants = await stack.ctx.storage.sql.all<{ revoked_at: number | null; revoked_reason: string | null }>('SELECT revoked_at, revoked_reason FROM grants WHERE client_id = $1', [app.id]);
    expect(grants.map((g) => [g.revoked_at !== null, g.revoked_reason])).toEqual([[true, 'client_disabled']]);
    await setClientDisabled(deps(), app.id, false);
    expect((await gateway(flow.tokens.access_token)).status).toBe(401);
  });

  it('has its client_credentials tokens (no grant to revoke) refused at the gateway', async () => {
    const service = await newClient('disabled-cc-gateway', 'service');
    const token = (await ccToken(service)).json.access_token as string;
    expect((await gateway(token)).status).toBe(200);
    await setClientDisabled(deps(), service.id, true);
    clock += GATEWAY_CACHE_MS + 1000;
    const refused = await gateway(token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('cannot read or delete its own registration (RFC 7592) once disabled: kept for the record', async () => {
    const json = (res: Awaited<ReturnType<typeof fetch>>) => res.json() as Promise<Record<string, string>>;
    const registered = await json(await fetch(`${stack.issuer}/register`, {
      method: 'POST', dispatcher: rp.dispatcher, headers: { authorization: `Bearer ${IAT}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Agent to disable', redirect_uris: [stack.demo.redirect_uri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'] }),
    }));
    const management = { dispatcher: rp.dispatcher, headers: { authorization: `Bearer ${registered.registration_access_token}` } };
    const uri = registered.registration_client_uri!;
    expect((await fetch(uri, management)).status).toBe(200);
    await setClientDisabled(deps(), registered.client_id!, true);
    const read = await fetch(uri, management);
    expect([read.status, (await json(read)).error]).toEqual([401, 'invalid_token']);
    const deleted = await fetch(uri, { ...management, method: 'DELETE' });
    expect(deleted.status).toBe(401);
    expect(await stack.ctx.storage.clients.get(registered.client_id!)).toMatchObject({ disabled: true });
  });
});
