// /admin/api/grants: the console's grant search and revocation as JSON, through the same service,
// recorded with the API client as actor (client:<client_id>) and details.api.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import type { UserRecord } from '../../src/storage/types.js';
import { adminApi, adminApiToken } from '../support/admin.js';
import { codeFlow, introspect, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let rp: Rp;
let token: string;
let demoUser: UserRecord;
const clock = Math.floor(Date.now() / 60_000) * 60_000;
const api = (method: string, path: string, body?: unknown) => adminApi(stack, method, path, token, body);

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  rp = await relyingParty(stack);
  token = await adminApiToken(stack);
  demoUser = (await stack.ctx.storage.users.getByUsername(stack.demo.username))!;
});
afterAll(async () => stack?.close());

describe('the admin API grants routes', () => {
  it('finds a user\'s grants, pages with the next cursor, and revokes one through its consent with its tokens', async () => {
    const first = await codeFlow(rp, { extra: { prompt: 'consent' } });
    const second = await codeFlow(rp, { extra: { prompt: 'consent' } });
    const all = await api('GET', `/grants?username=${encodeURIComponent(stack.demo.username)}`);
    expect(all.status).toBe(200);
    const grants = all.json.grants as Record<string, unknown>[];
    expect(grants).toHaveLength(2);
    expect(grants[0]).toMatchObject({
      client_id: stack.demo.client_id, client_name: 'Demo Patient App', user_id: demoUser.id, username: stack.demo.username, patient: 'Patient/demo-1',
      scopes: expect.arrayContaining(['openid', 'offline_access']), emergency: false, revoked_at: null, last_used_at: new Date(clock).toISOString(),
    });
    const one = await api('GET', `/grants?patient=demo-1&limit=1`);
    expect((one.json.grants as unknown[])).toHaveLength(1);
    const rest = await api('GET', `/grants?patient=demo-1&limit=1&before=${encodeURIComponent(one.json.next as string)}`);
    expect([(one.json.grants as { grant_id: string }[])[0]!.grant_id, (rest.json.grants as { grant_id: string }[])[0]!.grant_id]).toEqual(grants.map((g) => g.grant_id));
    expect(rest.json.next).toBeNull();

    const target = grants[0] as { grant_id: string; consent_id: string };
    const revoked = await api('POST', `/grants/${target.grant_id}/revoke`);
    expect(revoked).toMatchObject({ status: 200, json: { revoked: 'consent', consent_id: target.consent_id, grants_revoked: 1 } });
    const [event] = await searchEvents(stack.ctx.storage.sql, { type: 'consent.revoked', actor: `client:${stack.demo.admin_client_id}`, limit: 1 });
    expect(event).toMatchObject({
      outcome: 'success', actor: { userId: `client:${stack.demo.admin_client_id}`, clientId: stack.demo.client_id }, consentId: target.consent_id,
      grantId: target.grant_id, reason: 'administrator', details: { api: 'admin', grants_revoked: 1 },
    });
    // That grant's token stopped working; the other grant's still works.
    const active = await Promise.all([first, second].map(async (f) => (await introspect(rp, f.tokens.access_token)).json.active as boolean));
    expect(active.sort()).toEqual([false, true]);
    expect(await api('POST', `/grants/${target.grant_id}/revoke`)).toMatchObject({ status: 200, json: { revoked: 'already' } });
  });

  it('refuses a search without a filter, a malformed patient or cursor with 400 naming the field, and an unknown grant with 404', async () => {
    expect((await api('GET', '/grants')).json).toEqual({ error: 'invalid_request', error_description: 'username, client_id or patient: give at least one' });
    expect((await api('GET', '/grants?patient=a%20b')).json).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/^patient: /) });
    expect((await api('GET', '/grants?patient=demo-1&before=nonsense')).json).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/^before: /) });
    expect((await api('GET', '/grants?patient=demo-1&limit=500')).json).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/^limit: /) });
    expect(await api('POST', '/grants/g_unknown/revoke')).toMatchObject({ status: 404, json: { error: 'not_found' } });
  });

  it('lists both grants routes in the OpenAPI document', async () => {
    const paths = (await adminApi(stack, 'GET', '/openapi.json', undefined)).json.paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths['/admin/api/grants']!)).toEqual(['get']);
    expect(Object.keys(paths['/admin/api/grants/{grantId}/revoke']!)).toEqual(['post']);
  });
});
