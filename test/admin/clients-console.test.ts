// The console's Clients section over HTTP (src/admin/console/clients.ts): list and search, add with
// the configuration file's validation (a secret shown once), edit, the configuration file's clients
// read-only, disable and enable and secret rotation behind step-up, a client's recent activity read
// from the ledger, CSRF refusals; and the exact ledger event of each action.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { DEMO_CC_SCOPE, DEMO_REDIRECT_URI } from '../../src/server/dev-stack.js';
import { signInAsAdmin, totpCode, type ConsoleClient } from '../support/admin.js';
import { post, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let rp: Rp;
let console_: ConsoleClient;
let adminId: string;
let clock = Date.now();
const STEP_UP_STALE_MS = 301_000;

beforeAll(async () => {
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => {
      c.admin_console.idle_timeout = 7200;
      c.admin_console.absolute_timeout = 28_800;
      c.clients.push({
        client_id: 'config-app', name: 'App of the configuration file', grant_types: ['authorization_code'], redirect_uris: [DEMO_REDIRECT_URI], scope: 'openid',
        resources: [], token_endpoint_auth_method: 'none', dpop_bound_access_tokens: false, require_pushed_authorization_requests: false,
      });
    },
  });
  rp = await relyingParty(stack);
  clock += 31_000;
  console_ = await signInAsAdmin(stack);
  adminId = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!.id;
});
afterAll(async () => stack?.close());

const ledgerHead = async () => (await searchEvents(stack.ctx.storage.sql, { limit: 1 }))[0]!.seq;
/** client.changed events written after `seq`, oldest first. */
const changesSince = async (seq: number): Promise<AuditEvent[]> =>
  (await searchEvents(stack.ctx.storage.sql, { type: 'client.changed', limit: 100 })).filter((e) => e.seq > seq).reverse();
const tokenFor = (id: string, secret: string) => post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', scope: DEMO_CC_SCOPE, resource: stack.demo.resource }, { id, secret });

const SERVICE = {
  client_id: 'nightly-export', name: 'Nightly export', token_endpoint_auth_method: 'client_secret_basic', grant_types: 'client_credentials',
  redirect_uris: '', scope: DEMO_CC_SCOPE,
};

/** Adds a client_credentials client through the console; resolves its secret. */
async function addService(id: string): Promise<string> {
  await console_.get('/admin/new-client');
  const res = await console_.post('/admin/new-client', { ...SERVICE, client_id: id, resources: stack.demo.resource });
  expect(res.status).toBe(200);
  return /<code class="secret" id="client-secret">([^<]+)<\/code>/.exec(res.body)![1]!;
}

/** Makes the session's last second-factor check older than admin_console.step_up_max_age. */
function staleStepUp(): void {
  clock += STEP_UP_STALE_MS;
}

describe('the list of clients', () => {
  it('lists every client with its source and status, and finds one by part of its id or its name', async () => {
    const all = await console_.get('/admin/clients');
    expect(all.status).toBe(200);
    for (const id of [stack.demo.client_id, stack.demo.cc_client_id, 'config-app']) expect(all.body).toContain(`href="/admin/clients/${id}"`);
    expect(all.body).toContain('<th scope="col">Client id</th>');
    const byName = await console_.get(`/admin/clients?q=${encodeURIComponent('CONFIGURATION file')}`);
    expect(byName.body).toContain('href="/admin/clients/config-app"');
    expect(byName.body).not.toContain(`href="/admin/clients/${stack.demo.client_id}"`);
    expect(byName.body).toContain('1 client.');
    const byId = await console_.get(`/admin/clients?q=${stack.demo.cc_client_id.slice(2, 8)}`);
    expect(byId.body).toContain(`href="/admin/clients/${stack.demo.cc_client_id}"`);
    expect((await console_.get('/admin/clients?q=no-such-thing-at-all')).body).toContain('No client matches.');
  });

  it('answers an unknown client with a 404 page', async () => {
    const res = await console_.get('/admin/clients/not-a-client');
    expect(res.status).toBe(404);
    expect(res.body).toContain('No client has this client id.');
  });
});

describe('adding a client', () => {
  it('refuses bad input with the configuration file\'s rules, each problem beside its field, and adds nothing', async () => {
    const seq = await ledgerHead();
    await console_.get('/admin/new-client');
    const res = await console_.post('/admin/new-client', {
      client_id: 'bad app!', name: 'Bad', token_endpoint_auth_method: 'client_secret_basic', grant_types: 'authorization_code',
      redirect_uris: 'http://app.example.test/cb', scope: 'openid', resources: 'https://elsewhere.example.test/fhir',
    });
    expect(res.status).toBe(400);
    expect(res.body).toContain('role="alert">Nothing was saved.');
    expect(res.body).toMatch(/id="client_id"[^>]*aria-describedby="client_id-hint client_id-error" aria-invalid="true"/);
    expect(res.body).toMatch(/<p class="error" id="client_id-error">use 3-128 letters/);
    expect(res.body).toMatch(/<p class="error" id="redirect_uris-error">[^<]*(https|loopback)/);
    // The form keeps what was typed.
    expect(res.body).toContain('http://app.example.test/cb</textarea>');
    expect(await stack.ctx.storage.clients.get('bad app!')).toBeUndefined();
    expect(await changesSince(seq)).toEqual([]);
  });

  it('refuses a resource that is not configured, and a client_id already taken, beside the field', async () => {
    await console_.get('/admin/new-client');
    const unknown = await console_.post('/admin/new-client', { ...SERVICE, client_id: 'unknown-resource', resources: 'https://elsewhere.example.test/fhir' });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatch(/<p class="error" id="resources-error">not a configured resource server; use one of: /);
    const taken = await console_.post('/admin/new-client', { ...SERVICE, client_id: stack.demo.cc_client_id, resources: stack.demo.resource });
    expect(taken.status).toBe(400);
    expect(taken.body).toContain('<p class="error" id="client_id-error">a client with this client_id already exists; pick another</p>');
  });

  it('adds a confidential client and shows its generated secret once, uncached; the secret works at /token and is never shown again', async () => {
    const seq = await ledgerHead();
    await console_.get('/admin/new-client');
    const res = await console_.post('/admin/new-client', { ...SERVICE, resources: stack.demo.resource, session_idle_timeout: '600' });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const secret = /<code class="secret" id="client-secret">([^<]+)<\/code>/.exec(res.body)![1]!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body).toContain('shown only this once');
    expect((await tokenFor(SERVICE.client_id, secret)).status).toBe(200);
    const page = await console_.get('/admin/clients/nightly-export');
    expect(page.status).toBe(200);
    expect(page.body).not.toContain(secret);
    expect(page.body).toContain('600 seconds');
    const [created] = await changesSince(seq);
    expect(created).toMatchObject({ type: 'client.changed', action: 'create', actor: { userId: adminId }, resource: 'nightly-export', outcome: 'success' });
    expect(created!.changes).toContainEqual({ field: 'secretDigest', before: null, after: '[redacted]' });
    expect(created!.changes).toContainEqual({ field: 'sessionIdleTimeout', before: null, after: 600 });
    expect(JSON.stringify(created)).not.toContain(secret);
  });

  it('adds a public client (no secret) and answers with a redirect to its page', async () => {
    await console_.get('/admin/new-client');
    const res = await console_.post('/admin/new-client', {
      client_id: 'public-app', name: 'Public app', token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: `${DEMO_REDIRECT_URI}\r\nhttp://127.0.0.1:9000/cb`, scope: 'openid patient/Patient.rs', resources: stack.demo.resource,
    });
    expect([res.status, res.location]).toEqual([303, '/admin/clients/public-app?done=created']);
    expect((await stack.ctx.storage.clients.get('public-app'))).toMatchObject({ redirectUris: [DEMO_REDIRECT_URI, 'http://127.0.0.1:9000/cb'], secretDigest: null, source: 'admin' });
    expect((await console_.get(res.location!)).body).toContain('The client was added.');
  });
});

describe('editing a client', () => {
  it('changes redirect URIs, scopes, resources and session limits, recorded with the before and after values', async () => {
    const seq = await ledgerHead();
    const form = await console_.get('/admin/clients/public-app/edit');
    expect(form.status).toBe(200);
    expect(form.body).toContain('http://127.0.0.1:9000/cb</textarea>');
    const res = await console_.post('/admin/clients/public-app/edit', {
      redirect_uris: DEMO_REDIRECT_URI, scope: 'openid  patient/Observation.rs', resources: [], session_idle_timeout: '300', session_absolute_timeout: '3600',
    });
    expect([res.status, res.location]).toEqual([303, '/admin/clients/public-app?done=updated']);
    expect(await stack.ctx.storage.clients.get('public-app')).toMatchObject({ redirectUris: [DEMO_REDIRECT_URI], scope: 'openid patient/Observation.rs', resources: [] });
    expect(await stack.ctx.storage.clientPolicies.get('public-app')).toMatchObject({ sessionIdleTimeout: 300, sessionAbsoluteTimeout: 3600 });
    const [updated, ...rest] = await changesSince(seq);
    expect(rest).toEqual([]);
    expect(updated).toMatchObject({ action: 'update', actor: { userId: adminId }, resource: 'public-app', outcome: 'success' });
    expect(updated!.changes).toEqual(expect.arrayContaining([
      { field: 'redirectUris', before: [DEMO_REDIRECT_URI, 'http://127.0.0.1:9000/cb'], after: [DEMO_REDIRECT_URI] },
      { field: 'scope', before: 'openid patient/Patient.rs', after: 'openid patient/Observation.rs' },
      { field: 'resources', before: [stack.demo.resource], after: [] },
      { field: 'sessionIdleTimeout', before: null, after: 300 },
      { field: 'sessionAbsoluteTimeout', before: null, after: 3600 },
    ]));
    expect(updated!.changes).toHaveLength(5);
  });

  it('refuses an invalid change beside its field and changes nothing; an identical form records nothing', async () => {
    const seq = await ledgerHead();
    await console_.get('/admin/clients/public-app/edit');
    const bad = await console_.post('/admin/clients/public-app/edit', { redirect_uris: '', scope: 'openid', session_idle_timeout: '7200', session_absolute_timeout: '3600' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('<p class="error" id="redirect_uris-error">authorization_code clients need at least one redirect URI</p>');
    expect(bad.body).toMatch(/<p class="error" id="session_idle_timeout-error">must not exceed this client&#39;s session.absolute_timeout \(3600\)/);
    expect(bad.body).toContain('value="7200"');
    const same = await console_.post('/admin/clients/public-app/edit', {
      redirect_uris: DEMO_REDIRECT_URI, scope: 'openid patient/Observation.rs', session_idle_timeout: '300', session_absolute_timeout: '3600',
    });
    expect([same.status, same.location]).toEqual([303, '/admin/clients/public-app?done=unchanged']);
    expect(await stack.ctx.storage.clients.get('public-app')).toMatchObject({ redirectUris: [DEMO_REDIRECT_URI] });
    expect(await changesSince(seq)).toEqual([]);
  });

  it('shows a client of the configuration file read-only, pointing to the file, and refuses a forged edit (409) without a change', async () => {
    const page = await console_.get('/admin/clients/config-app');
    expect(page.body).toContain('This client is declared in the configuration file');
    expect(page.body).toContain('<code>client_id: config-app</code>');
    expect(page.body).not.toContain('href="/admin/clients/config-app/edit"');
    expect(page.body).not.toContain('/rotate-secret');
    const form = await console_.get('/admin/clients/config-app/edit');
    expect(form.body).not.toContain('<form method="post" action="/admin/clients/config-app/edit"');
    const seq = await ledgerHead();
    const forged = await console_.post('/admin/clients/config-app/edit', { redirect_uris: 'https://evil.example/cb', scope: 'openid' });
    expect(forged.status).toBe(409);
    expect(forged.body).toContain('declared in the configuration file');
    expect((await stack.ctx.storage.clients.get('config-app'))!.redirectUris).toEqual([DEMO_REDIRECT_URI]);
    expect(await changesSince(seq)).toEqual([]);
  });
});

describe('disabling and enabling a client (step-up)', () => {
  it('asks for the second factor when the last check is stale, refuses a wrong code, then disables, revokes and records', async () => {
    const secret = await addService('to-disable');
    expect((await tokenFor('to-disable', secret)).status).toBe(200);
    await console_.get('/admin/clients/to-disable');
    staleStepUp();
    const asked = await console_.post('/admin/clients/to-disable/disable', {});
    expect(asked.status).toBe(200);
    expect(asked.body).toContain('name="step_up_code"');
    expect((await stack.ctx.storage.clients.get('to-disable'))!.disabled).toBeUndefined();
    const wrong = await console_.post('/admin/clients/to-disable/disable', { step_up_code: '000000' });
    expect(wrong.status).toBe(401);
    expect((await stack.ctx.storage.clients.get('to-disable'))!.disabled).toBeUndefined();
    const seq = await ledgerHead();
    clock += 31_000;
    const done = await console_.post('/admin/clients/to-disable/disable', { step_up_code: totpCode(stack.demo.admin_totp_secret!, clock) });
    expect([done.status, done.location]).toEqual([303, '/admin/clients/to-disable?done=disabled']);
    expect((await stack.ctx.storage.clients.get('to-disable'))!.disabled).toBe(true);
    const refused = await tokenFor('to-disable', secret);
    expect([refused.status, refused.json?.error]).toEqual([401, 'invalid_client']);
    const [disabled] = await changesSince(seq);
    expect(disabled).toMatchObject({
      type: 'client.changed', action: 'disable', actor: { userId: adminId }, resource: 'to-disable', outcome: 'success',
      changes: [{ field: 'disabled', before: false, after: true }], details: { grants_revoked: 0 },
    });
    const page = await console_.get(done.location!);
    expect(page.body).toContain('The client was disabled');
    expect(page.body).toContain('<span class="badge bad">disabled</span>');
  });

  it('enables it again (the step-up just done is fresh), recorded, and the client gets tokens again', async () => {
    const seq = await ledgerHead();
    await console_.get('/admin/clients/to-disable');
    const done = await console_.post('/admin/clients/to-disable/enable', {});
    expect([done.status, done.location]).toEqual([303, '/admin/clients/to-disable?done=enabled']);
    expect((await stack.ctx.storage.clients.get('to-disable'))!.disabled).toBeUndefined();
    expect(await changesSince(seq)).toMatchObject([{ action: 'enable', actor: { userId: adminId }, resource: 'to-disable', changes: [{ field: 'disabled', before: true, after: false }] }]);
  });
});

describe('rotating a client secret (step-up)', () => {
  it('asks for the second factor, then shows the new secret once; the old secret stops working at /token at once', async () => {
    const old = await addService('to-rotate');
    await console_.get('/admin/clients/to-rotate');
    staleStepUp();
    const asked = await console_.post('/admin/clients/to-rotate/rotate-secret', {});
    expect(asked.body).toContain('name="step_up_code"');
    expect((await tokenFor('to-rotate', old)).status).toBe(200);
    const seq = await ledgerHead();
    clock += 31_000;
    const res = await console_.post('/admin/clients/to-rotate/rotate-secret', { step_up_code: totpCode(stack.demo.admin_totp_secret!, clock) });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const fresh = /<code class="secret" id="client-secret">([^<]+)<\/code>/.exec(res.body)![1]!;
    expect(fresh).not.toBe(old);
    expect(res.body).toContain('The previous secret no longer works.');
    const refused = await tokenFor('to-rotate', old);
    expect([refused.status, refused.json?.error]).toEqual([401, 'invalid_client']);
    expect((await tokenFor('to-rotate', fresh)).status).toBe(200);
    expect((await console_.get('/admin/clients/to-rotate')).body).not.toContain(fresh);
    const [rotated] = await changesSince(seq);
    expect(rotated).toMatchObject({
      type: 'client.changed', action: 'rotate_secret', actor: { userId: adminId }, resource: 'to-rotate', outcome: 'success',
      changes: [{ field: 'secretDigest', before: '[redacted]', after: '[redacted]' }],
    });
  });

  it('refuses to rotate a client without a secret, or one of the configuration file, saying why (409)', async () => {
    await console_.get('/admin/clients/public-app');
    const none = await console_.post('/admin/clients/public-app/rotate-secret', {});
    expect(none.status).toBe(409);
    expect(none.body).toContain('none uses no client secret, so there is none to rotate');
    const config = await console_.post('/admin/clients/config-app/rotate-secret', {});
    expect(config.status).toBe(409);
    expect(config.body).toContain('is declared in the configuration file; its secret is the environment variable');
  });
});

describe('a client\'s recent activity', () => {
  it('shows its latest ledger events linked to the audit event pages, and records the read as audit.read', async () => {
    const secret = await addService('busy-service');
    await tokenFor('busy-service', secret);
    const issued = (await searchEvents(stack.ctx.storage.sql, { client: 'busy-service', type: 'token.issued', limit: 1 }))[0]!;
    const seq = await ledgerHead();
    const page = await console_.get('/admin/clients/busy-service');
    expect(page.body).toContain(`<a href="/admin/audit/events/${issued.seq}">${issued.seq}</a>`);
    expect(page.body).toContain('token.issued');
    const reads = (await searchEvents(stack.ctx.storage.sql, { type: 'audit.read', limit: 5 })).filter((e) => e.seq > seq);
    expect(reads).toMatchObject([{ action: 'client_activity', actor: { userId: adminId }, resource: 'busy-service', outcome: 'success', details: { events: 1 } }]);
  });
});

describe('CSRF', () => {
  it('refuses every action posted without the form\'s token (403) and changes nothing', async () => {
    await stack.ctx.storage.clients.setDisabled('busy-service', true);
    const seq = await ledgerHead();
    const forged = { csrf: 'x'.repeat(43) };
    const attempts: [string, Record<string, string>][] = [
      ['/admin/new-client', { ...SERVICE, client_id: 'forged-client', resources: stack.demo.resource }],
      ['/admin/clients/public-app/edit', { redirect_uris: 'https://evil.example/cb', scope: 'openid' }],
      ['/admin/clients/public-app/disable', {}],
      ['/admin/clients/busy-service/enable', {}],
      ['/admin/clients/to-rotate/rotate-secret', {}],
    ];
    for (const [path, fields] of attempts) {
      for (const csrf of [forged.csrf, null]) {
        const res = await console_.post(path, fields, { csrf });
        expect([path, res.status]).toEqual([path, 403]);
        expect(res.body).toContain('Nothing was changed.');
      }
    }
    expect(await stack.ctx.storage.clients.get('forged-client')).toBeUndefined();
    expect((await stack.ctx.storage.clients.get('public-app'))!.disabled).toBeUndefined();
    expect((await stack.ctx.storage.clients.get('busy-service'))!.disabled).toBe(true);
    expect(await changesSince(seq)).toEqual([]);
  });
});
