// The Clients routes of the admin API (src/admin/api/clients.ts): the console's operations as JSON,
// through the same services, each recorded with the calling API client (`client:<id>`) as actor;
// bad input answered 400 invalid_request naming the field, an unknown client 404.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { DEMO_CC_SCOPE, DEMO_REDIRECT_URI } from '../../src/server/dev-stack.js';
import { adminApi, adminApiToken } from '../support/admin.js';
import { post, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let rp: Rp;
let token: string;
let actor: string;

beforeAll(async () => {
  stack = await startTestStack({
    configure: (c) => {
      c.clients.push({
        client_id: 'config-app', name: 'App of the configuration file', grant_types: ['authorization_code'], redirect_uris: [DEMO_REDIRECT_URI], scope: 'openid',
        resources: [], token_endpoint_auth_method: 'none', dpop_bound_access_tokens: false, require_pushed_authorization_requests: false,
      });
    },
  });
  rp = await relyingParty(stack);
  token = await adminApiToken(stack);
  actor = `client:${stack.demo.admin_client_id}`;
});
afterAll(async () => stack?.close());

const api = (method: string, path: string, body?: unknown) => adminApi(stack, method, path, token, body);
const ledgerHead = async () => (await searchEvents(stack.ctx.storage.sql, { limit: 1 }))[0]!.seq;
const since = async (seq: number, type: AuditEvent['type']): Promise<AuditEvent[]> =>
  (await searchEvents(stack.ctx.storage.sql, { type, limit: 100 })).filter((e) => e.seq > seq).reverse();
const tokenFor = (id: string, secret: string) => post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', scope: DEMO_CC_SCOPE, resource: stack.demo.resource }, { id, secret });
const service = (id: string) => ({ client_id: id, name: `Service ${id}`, grant_types: ['client_credentials'], scope: DEMO_CC_SCOPE, resources: [stack.demo.resource], token_endpoint_auth_method: 'client_secret_basic' });

describe('admin API: clients', () => {
  it('lists clients a page at a time and searches by id or name, never showing a secret', async () => {
    const all = await api('GET', '/clients');
    expect(all.status).toBe(200);
    const ids = (all.json.clients as { client_id: string }[]).map((c) => c.client_id);
    expect(ids).toEqual(expect.arrayContaining([stack.demo.client_id, stack.demo.cc_client_id, 'config-app']));
    expect(JSON.stringify(all.json)).not.toMatch(/secret_digest|secretDigest|client_secret"/);
    const page = await api('GET', '/clients?limit=1&offset=1');
    expect([(page.json.clients as unknown[]).length, page.json.total, page.json.next_offset]).toEqual([1, all.json.total, 2]);
    const found = await api('GET', '/clients?q=configuration');
    expect(found.json).toMatchObject({ total: 1, clients: [{ client_id: 'config-app', source: 'config', disabled: false }], next_offset: null });
    const bad = await api('GET', '/clients?limit=0');
    expect([bad.status, bad.json.error, String(bad.json.error_description)]).toEqual([400, 'invalid_request', expect.stringMatching(/^limit: /)]);
  });

  it('adds a client, returning its secret in this answer only, recorded with the API client as actor', async () => {
    const seq = await ledgerHead();
    const res = await api('POST', '/clients', service('api-service'));
    expect(res.status).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const secret = res.json.client_secret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await tokenFor('api-service', secret)).status).toBe(200);
    expect(JSON.stringify((await api('GET', '/clients/api-service')).json)).not.toContain(secret);
    expect(await since(seq, 'client.changed')).toMatchObject([{ action: 'create', actor: { userId: actor }, resource: 'api-service', outcome: 'success' }]);
  });

  it('refuses bad input with 400 invalid_request naming the field, and adds nothing', async () => {
    const seq = await ledgerHead();
    const cases: [unknown, RegExp][] = [
      [{ ...service('api-bad-uri'), grant_types: ['authorization_code'], redirect_uris: ['http://app.example.test/cb'] }, /^redirect_uris\[0\]: /],
      [{ ...service('api-bad-resource'), resources: ['https://elsewhere.example.test/fhir'] }, /^resources: not a configured resource server/],
      [{ ...service('api-bad-grant'), grant_types: ['implicit'] }, /^grant_types\[0\]: /],
      [{ ...service('api-bad-type'), session: { idle_timeout: 'soon' } }, /^session\.idle_timeout: /],
      [{ ...service('api-extra'), client_secret: 'mine' }, /client_secret/],
      [service(stack.demo.cc_client_id), /^client_id: a client with this client_id already exists$/],
    ];
    for (const [body, description] of cases) {
      const res = await api('POST', '/clients', body);
      expect([res.status, res.json.error]).toEqual([400, 'invalid_request']);
      expect(String(res.json.error_description)).toMatch(description);
      expect(String(res.json.error_description)).not.toContain('elsewhere.example.test');
    }
    expect(await since(seq, 'client.changed')).toEqual([]);
  });

  it('changes redirect URIs, scopes, resources and session limits (PATCH), recorded with the before and after values', async () => {
    await api('POST', '/clients', { client_id: 'api-app', name: 'API app', grant_types: ['authorization_code'], redirect_uris: [DEMO_REDIRECT_URI], scope: 'openid', resources: [], token_endpoint_auth_method: 'none' });
    const seq = await ledgerHead();
    const res = await api('PATCH', '/clients/api-app', { redirect_uris: [DEMO_REDIRECT_URI, 'http://127.0.0.1:9000/cb'], scope: 'openid fhirUser', resources: [stack.demo.resource], session: { idle_timeout: 300 } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ client_id: 'api-app', redirect_uris: [DEMO_REDIRECT_URI, 'http://127.0.0.1:9000/cb'], scope: 'openid fhirUser', session_idle_timeout: 300, changed: true });
    const [updated] = await since(seq, 'client.changed');
    expect(updated).toMatchObject({ action: 'update', actor: { userId: actor }, resource: 'api-app' });
    expect(updated!.changes).toEqual(expect.arrayContaining([
      { field: 'scope', before: 'openid', after: 'openid fhirUser' },
      { field: 'sessionIdleTimeout', before: null, after: 300 },
    ]));
    const cleared = await api('PATCH', '/clients/api-app', { session: { idle_timeout: null } });
    expect(cleared.json.session_idle_timeout).toBeUndefined();
    const invalid = await api('PATCH', '/clients/api-app', { redirect_uris: [] });
    expect([invalid.status, invalid.json.error_description]).toEqual([400, 'redirect_uris: authorization_code clients need at least one redirect URI']);
    const config = await api('PATCH', '/clients/config-app', { scope: 'openid fhirUser' });
    expect([config.status, config.json.error]).toEqual([400, 'invalid_request']);
    expect(config.json.error_description).toContain('config-app is declared in the configuration file');
    expect((await stack.ctx.storage.clients.get('config-app'))!.scope).toBe('openid');
    expect((await api('PATCH', '/clients/no-such-client', { scope: 'openid' })).status).toBe(404);
  });

  it('disables a client (refused at /token, recorded with the revoked grants) and enables it again', async () => {
    const secret = (await api('POST', '/clients', service('api-to-disable'))).json.client_secret as string;
    const seq = await ledgerHead();
    const disabled = await api('POST', '/clients/api-to-disable/disable');
    expect(disabled.json).toEqual({ client_id: 'api-to-disable', disabled: true, changed: true, grants_revoked: 0 });
    expect((await tokenFor('api-to-disable', secret)).status).toBe(401);
    expect((await api('POST', '/clients/api-to-disable/disable')).json).toMatchObject({ changed: false });
    const enabled = await api('POST', '/clients/api-to-disable/enable');
    expect(enabled.json).toMatchObject({ disabled: false, changed: true });
    expect((await tokenFor('api-to-disable', secret)).status).toBe(200);
    expect(await since(seq, 'client.changed')).toMatchObject([
      { action: 'disable', actor: { userId: actor }, resource: 'api-to-disable', changes: [{ field: 'disabled', before: false, after: true }], details: { grants_revoked: 0 } },
      { action: 'enable', actor: { userId: actor }, resource: 'api-to-disable', changes: [{ field: 'disabled', before: true, after: false }] },
    ]);
    expect((await api('POST', '/clients/no-such-client/disable')).status).toBe(404);
  });

  it('rotates a secret: the new one is in the answer only, the old one stops working at /token at once', async () => {
    const old = (await api('POST', '/clients', service('api-to-rotate'))).json.client_secret as string;
    const seq = await ledgerHead();
    const res = await api('POST', '/clients/api-to-rotate/rotate-secret');
    expect(res.status).toBe(200);
    const fresh = res.json.client_secret as string;
    expect(fresh).not.toBe(old);
    expect([(await tokenFor('api-to-rotate', old)).status, (await tokenFor('api-to-rotate', fresh)).status]).toEqual([401, 200]);
    expect(await since(seq, 'client.changed')).toMatchObject([
      { action: 'rotate_secret', actor: { userId: actor }, resource: 'api-to-rotate', changes: [{ field: 'secretDigest', before: '[redacted]', after: '[redacted]' }] },
    ]);
    const publicClient = await api('POST', '/clients/api-app/rotate-secret');
    expect([publicClient.status, publicClient.json.error_description]).toEqual([400, 'token_endpoint_auth_method: none uses no client secret, so there is none to rotate']);
  });

  it('reads a client\'s recent activity from the ledger, recording the read as audit.read', async () => {
    const secret = (await api('POST', '/clients', service('api-busy'))).json.client_secret as string;
    await tokenFor('api-busy', secret);
    const seq = await ledgerHead();
    const res = await api('GET', '/clients/api-busy/activity');
    expect(res.status).toBe(200);
    expect(res.json.events).toMatchObject([{ type: 'token.issued', actor: { clientId: 'api-busy' }, time: expect.stringMatching(/Z$/) }]);
    expect(await since(seq, 'audit.read')).toMatchObject([{ action: 'client_activity', actor: { userId: actor }, resource: 'api-busy', details: { events: 1 } }]);
    expect((await api('GET', '/clients/no-such-client/activity')).status).toBe(404);
  });
});
