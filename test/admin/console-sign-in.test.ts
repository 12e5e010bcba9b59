// Who may enter the admin console (issue 15): administrators only, always with the second factor,
// in a session of their own (not a user's session), with shorter limits, behind the optional IP
// allow-list; every sign-in, refusal and sign-out in the ledger.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { searchEvents, type EventFilters } from '../../src/audit/search.js';
import { addressAllowed, addressAllowList } from '../../src/admin/console/guard.js';
import { SIGN_IN_FAILURE, safeNext } from '../../src/admin/console/sign-in.js';
import { consoleClient, signInAsAdmin, totpCode } from '../support/admin.js';
import { startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';

let stack: TestStack;
let clock = Date.now();
const lastEvent = async (type: EventFilters['type']) => (await searchEvents(stack.ctx.storage.sql, { type, limit: 1 }))[0];

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock }, configure: (c) => { c.admin_console.idle_timeout = 600; c.admin_console.absolute_timeout = 3600; } });
});
afterAll(async () => stack?.close());

describe('admin console sign-in', () => {
  it('sends a visitor without a console session to the sign-in page', async () => {
    const res = await consoleClient(stack).get('/admin');
    expect([res.status, res.location]).toEqual([303, '/admin/login']);
  });

  it('refuses the right password with a wrong code, keeps the username, and records the failure', async () => {
    const client = consoleClient(stack);
    const res = await client.post('/admin/login', { username: stack.demo.admin_username!, password: stack.demo.admin_password!, code: '000000' }, { csrf: null });
    expect(res.status).toBe(401);
    expect(res.body).toContain(SIGN_IN_FAILURE);
    expect(res.body).toContain(`value="${stack.demo.admin_username}"`);
    expect(client.cookie).toBe('');
    expect(await lastEvent('login.failed')).toMatchObject({ action: 'otp', reason: 'bad_otp', outcome: 'denied' });
  });

  it('refuses a non-administrator with the same answer as a wrong password, recording why', async () => {
    const client = consoleClient(stack);
    const res = await client.post('/admin/login', { username: stack.demo.username, password: stack.demo.password, code: '123456' }, { csrf: null });
    expect(res.status).toBe(401);
    expect(res.body).toContain(SIGN_IN_FAILURE);
    expect(client.cookie).toBe('');
    expect(await lastEvent('login.failed')).toMatchObject({ action: 'admin_console', reason: 'not_administrator' });
  });

  it('admits the administrator with password and code into a __Host- session, recorded with the console named', async () => {
    clock += 31_000;
    const client = await signInAsAdmin(stack);
    expect(client.cookie).toMatch(/^__Host-caduceus-admin=[A-Za-z0-9_-]{40,}$/);
    const overview = await client.get('/admin');
    expect(overview.status).toBe(200);
    expect(overview.body).toContain('<h1>Overview</h1>');
    expect(String(overview.headers['content-security-policy'])).toContain("form-action 'self'");
    expect(String(overview.headers['content-security-policy'])).not.toContain('script-src');
    const user = await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!);
    const events = await searchEvents(stack.ctx.storage.sql, { type: 'login.succeeded', actor: user!.id, limit: 1 });
    expect(events[0]).toMatchObject({ action: 'otp', details: { console: 'admin' } });
    // The stored session is the cookie's keyed digest, never the cookie.
    const rows = await stack.ctx.storage.sql.all<{ digest: string }>('SELECT digest FROM admin_sessions');
    expect(rows.some((r) => client.cookie.endsWith(r.digest))).toBe(false);
  });

  it('does not let a user session cookie (the app sign-in) open the console', async () => {
    const res = await request(`${stack.issuer}/admin`, {
      dispatcher: trustingDispatcher(stack.ca), headers: { cookie: '__Host-caduceus-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    await res.body.dump();
    expect([res.statusCode, res.headers.location]).toEqual([303, '/admin/login']);
  });

  it('ends the session after the idle limit, recording session.expired with the console named', async () => {
    clock += 31_000;
    const client = await signInAsAdmin(stack);
    clock += 601_000;
    const res = await client.get('/admin');
    expect([res.status, res.location]).toEqual([303, '/admin/login']);
    expect(await lastEvent('session.expired')).toMatchObject({ reason: 'idle_timeout', details: { console: 'admin' } });
  });

  it('signs out with the CSRF token only, ending the stored session', async () => {
    clock += 31_000;
    const client = await signInAsAdmin(stack);
    await client.get('/admin');
    const forged = await client.post('/admin/logout', {}, { csrf: 'x'.repeat(43) });
    expect(forged.status).toBe(303);
    expect((await client.get('/admin')).status).toBe(200);
    await client.post('/admin/logout', {});
    expect((await client.get('/admin')).status).toBe(303);
    expect(await lastEvent('logout')).toMatchObject({ details: { console: 'admin' } });
  });

  it('stops a session whose account lost the administrator role at its next request', async () => {
    clock += 31_000;
    const client = await signInAsAdmin(stack);
    const user = await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!);
    await stack.ctx.storage.users.setRole(user!.id, 'practitioner');
    try {
      expect((await client.get('/admin')).status).toBe(303);
      expect(await lastEvent('session.expired')).toMatchObject({ reason: 'not_administrator' });
    } finally {
      await stack.ctx.storage.users.setRole(user!.id, 'administrator');
    }
  });

  it('a code is refused once used (RFC 6238 §5.2)', async () => {
    clock += 31_000;
    const code = totpCode(stack.demo.admin_totp_secret!, clock);
    const first = await consoleClient(stack).post('/admin/login', { username: stack.demo.admin_username!, password: stack.demo.admin_password!, code }, { csrf: null });
    expect(first.status).toBe(303);
    const again = await consoleClient(stack).post('/admin/login', { username: stack.demo.admin_username!, password: stack.demo.admin_password!, code }, { csrf: null });
    expect(again.status).toBe(401);
    expect(await lastEvent('login.failed')).toMatchObject({ reason: 'otp_replay' });
  });
});

describe('step-up for what grants access', () => {
  it.each([
    ['adding a client (it could be an admin API client)', '/admin/new-client', { client_id: 'stale-app', name: 'Stale', grant_types: 'client_credentials', token_endpoint_auth_method: 'client_secret_basic', scope: 'caduceus:admin' }],
    ['adding a user (it could be an administrator)', '/admin/new-user', { username: 'stale.admin', role: 'administrator' }],
    ['allowing emergency access', 'BREAKGLASS', { allowed: 'on' }],
  ])('asks for the second factor again before %s, and changes nothing without it', async (_name, path, fields) => {
    clock += 31_000;
    const client = await signInAsAdmin(stack);
    await client.get('/admin');
    clock += (stack.ctx.config.admin_console.step_up_max_age + 1) * 1000;
    const target = path === 'BREAKGLASS' ? `/admin/users/${encodeURIComponent(stack.demo.username)}/break-glass` : path;
    const res = await client.post(target, fields as Record<string, string>);
    expect(res.status).toBe(200);
    expect(res.body).toContain('Confirm it is you');
    expect(await stack.ctx.storage.clients.get('stale-app')).toBeUndefined();
    expect(await stack.ctx.storage.users.getByUsername('stale.admin')).toBeUndefined();
    expect((await stack.ctx.storage.users.getByUsername(stack.demo.username))?.breakGlass ?? false).toBe(false);
  });
});

describe('the IP allow-list and the return path', () => {
  it('matches addresses and CIDR blocks, IPv4-mapped IPv6 included', () => {
    const list = addressAllowList(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);
    expect(['10.1.2.3', '192.0.2.7', '::ffff:10.9.9.9', 'fd12::1'].map((a) => addressAllowed(list, a))).toEqual([true, true, true, true]);
    expect(['11.0.0.1', '192.0.2.8', '::1', '127.0.0.1'].map((a) => addressAllowed(list, a))).toEqual([false, false, false, false]);
    expect(addressAllowed(undefined, '203.0.113.1')).toBe(true);
  });

  it('comes back only to a console path', () => {
    expect(safeNext('/admin/users?q=a')).toBe('/admin/users?q=a');
    expect(['https://evil.example/', '//evil.example', '/account', '/admin/login', '/admin\\x', undefined].map(safeNext)).toEqual(Array(6).fill('/admin'));
  });
});

describe('a console behind an allow-list that excludes the caller', () => {
  let fenced: TestStack;
  beforeAll(async () => { fenced = await startTestStack({ configure: (c) => { c.admin_console.ip_allowlist = ['192.0.2.0/24']; } }); });
  afterAll(async () => fenced?.close());

  it('answers 403 to the console and the API from any other address, before any sign-in', async () => {
    const page = await consoleClient(fenced).get('/admin/login');
    expect(page.status).toBe(403);
    expect(page.body).toContain('not reachable from this network address');
    const api = await request(`${fenced.issuer}/admin/api/status`, { dispatcher: trustingDispatcher(fenced.ca) });
    expect([api.statusCode, (await api.body.json() as { error: string }).error]).toEqual([403, 'access_denied']);
    // Everything else is unaffected.
    expect((await consoleClient(fenced).get('/account')).status).not.toBe(403);
  });
});
