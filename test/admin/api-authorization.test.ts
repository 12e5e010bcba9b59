// The admin API's door, for every route its OpenAPI document lists (the router declares each route
// and its document entry together, and a route added any other way stops the start): no token,
// a token for another audience, a token without caduceus:admin, a person's token and an expired
// token are all refused with the RFC 6750 error and challenge, before any route code runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { addClient } from '../../src/admin/clients.js';
import { ADMIN_API_SCOPE, adminApiAudience } from '../../src/admin/api/index.js';
import { searchEvents } from '../../src/audit/search.js';
import { adminApi, adminApiToken } from '../support/admin.js';
import { codeFlow, relyingParty } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let clock = Date.now();
let operations: { method: string; path: string }[];
const tokens: Record<string, string> = {};

beforeAll(async () => {
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => { c.resources.find((r) => r.uri.endsWith('/admin/api'))!.scopes.push('caduceus:other'); },
  });
  const audience = adminApiAudience(stack.issuer);
  const deps = { storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' };
  const known = stack.ctx.config.resources.map((r) => r.uri);
  // A service client of the API without the admin scope.
  const other = await addClient(deps, { client_id: 'api-other-scope', name: 'Other scope', grant_types: ['client_credentials'], redirect_uris: [], scope: 'caduceus:other', resources: [audience], token_endpoint_auth_method: 'client_secret_basic' }, known);
  tokens.wrongScope = await adminApiToken(stack, { clientId: 'api-other-scope', clientSecret: other.secret!, scope: 'caduceus:other' });
  // A person's token for the API audience, with the scope, through the code flow.
  const app = await addClient(deps, { client_id: 'api-user-app', name: 'User app', grant_types: ['authorization_code'], redirect_uris: [stack.demo.redirect_uri], scope: `openid ${ADMIN_API_SCOPE}`, resources: [audience], token_endpoint_auth_method: 'client_secret_basic' }, known);
  const rp = await relyingParty(stack);
  const userRp = { ...rp, client: { client_id: 'api-user-app' }, auth: oauth.ClientSecretBasic(app.secret!), stack: { ...stack, demo: { ...stack.demo, resource: audience } } };
  tokens.user = (await codeFlow(userRp, { scope: `openid ${ADMIN_API_SCOPE}` })).tokens.access_token;
  // A token for the FHIR gateway, not for this API.
  tokens.otherAudience = await adminApiToken(stack, { clientId: stack.demo.cc_client_id, clientSecret: stack.demo.cc_client_secret, scope: stack.demo.cc_scope, resource: stack.demo.resource });
  tokens.expired = await adminApiToken(stack);
  const doc = (await adminApi(stack, 'GET', '/openapi.json', undefined)).json as { paths: Record<string, Record<string, unknown>> };
  operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path: path.replace('/admin/api', '').replace(/\{[A-Za-z]+\}/g, 'x-test') })));
});
afterAll(async () => stack?.close());

describe('the admin API OpenAPI document', () => {
  it('is OpenAPI 3.1 with the client_credentials scheme, and every operation has a unique id, a tag and a summary', async () => {
    const doc = (await adminApi(stack, 'GET', '/openapi.json', undefined)).json as Record<string, any>;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.oauth2.flows.clientCredentials).toEqual({ tokenUrl: `${stack.issuer}/token`, scopes: { [ADMIN_API_SCOPE]: 'administer this server' } });
    const ops = Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((o) => Object.values(o));
    expect(ops.length).toBeGreaterThan(0);
    expect(new Set(ops.map((o) => o.operationId)).size).toBe(ops.length);
    for (const o of ops) expect([o.tags?.length, typeof o.summary]).toEqual([1, 'string']);
  });
});

describe('every admin API route refuses', () => {
  it('a request without a token: 401 invalid_token with a Bearer challenge naming the realm and scope', async () => {
    for (const op of operations) {
      const res = await adminApi(stack, op.method, op.path, undefined, op.method === 'GET' || op.method === 'DELETE' ? undefined : {});
      expect([op, res.status, res.json.error]).toEqual([op, 401, 'invalid_token']);
      expect(String(res.headers['www-authenticate'])).toContain(`scope="${ADMIN_API_SCOPE}"`);
    }
  });

  it('a token for another audience: 401', async () => {
    for (const op of operations) {
      const res = await adminApi(stack, op.method, op.path, tokens.otherAudience, op.method === 'GET' || op.method === 'DELETE' ? undefined : {});
      expect([op, res.status, res.json.error_description]).toEqual([op, 401, `the access token is not for the admin API (its audience must be ${adminApiAudience(stack.issuer)})`]);
    }
  });

  it('a service token without caduceus:admin, and a person\'s token with it: 403 insufficient_scope, recorded', async () => {
    const before = (await searchEvents(stack.ctx.storage.sql, { limit: 1 }))[0]!.seq;
    for (const op of operations) {
      for (const token of [tokens.wrongScope!, tokens.user!]) {
        const res = await adminApi(stack, op.method, op.path, token, op.method === 'GET' || op.method === 'DELETE' ? undefined : {});
        expect([op, res.status, res.json.error]).toEqual([op, 403, 'insufficient_scope']);
      }
    }
    const refusals = (await searchEvents(stack.ctx.storage.sql, { type: 'authz.denied', limit: 1000 })).filter((e) => e.seq > before);
    expect(refusals).toHaveLength(operations.length * 2);
    expect(refusals.every((e) => e.action === 'admin_api' && e.outcome === 'denied')).toBe(true);
    expect(refusals.some((e) => e.actor.clientId === 'api-user-app' && e.actor.userId !== undefined)).toBe(true);
  });

  it('an expired token: 401', async () => {
    clock += (stack.ctx.config.tokens.access_token_ttl + 120) * 1000;
    try {
      for (const op of operations) {
        const res = await adminApi(stack, op.method, op.path, tokens.expired, op.method === 'GET' || op.method === 'DELETE' ? undefined : {});
        expect([op, res.status, res.json.error]).toEqual([op, 401, 'invalid_token']);
      }
    } finally {
      clock -= (stack.ctx.config.tokens.access_token_ttl + 120) * 1000;
    }
  });

  it('and admits the admin API client', async () => {
    const res = await adminApi(stack, 'GET', '/status', await adminApiToken(stack));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ledger: { size: expect.any(Number) }, breakglass_open: 0 });
    expect((await searchEvents(stack.ctx.storage.sql, { type: 'audit.read', limit: 1 }))[0]).toMatchObject({ action: 'overview', actor: { clientId: stack.demo.admin_client_id } });
  });
});
