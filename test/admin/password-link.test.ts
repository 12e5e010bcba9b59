// The page where a user sets their own password through the one-time link an administrator made:
// outside /admin (the console's IP allow-list never blocks it), a CSRF token bound to the browser
// cookie, the password checked before the link is spent, the link taken once, an expired or used
// link refused plainly, and user.changed password_set with the user as actor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { searchEvents } from '../../src/audit/search.js';
import { addUserWithPasswordLink, MIN_PASSWORD_LENGTH } from '../../src/admin/users.js';
import { FORM_EXPIRED, LINK_UNUSABLE } from '../../src/admin/console/password-link.js';
import { checkLogin } from '../../src/interaction/login.js';
import { startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';

let stack: TestStack;
let clock = Date.now();
const NEW_PASSWORD = 'correct horse battery staple';

/** A browser without script: keeps its cookies, reads the page's CSRF token. */
function browser(s: TestStack) {
  const dispatcher = trustingDispatcher(s.ca);
  const jar = new Map<string, string>();
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const read = async (res: Awaited<ReturnType<typeof request>>) => {
    for (const c of ([] as string[]).concat((res.headers['set-cookie'] as string | string[] | undefined) ?? [])) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    const body = await res.body.text();
    return { status: res.statusCode, body, location: res.headers.location as string | undefined, headers: res.headers, csrf: /name="csrf" value="([^"]+)"/.exec(body)?.[1] };
  };
  return {
    get: async (path: string) => read(await request(`${s.issuer}${path}`, { dispatcher, headers: { cookie: cookie() } })),
    post: async (path: string, form: Record<string, string>) => read(await request(`${s.issuer}${path}`, {
      method: 'POST', dispatcher, body: new URLSearchParams(form).toString(), headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
    })),
  };
}

async function newLink(s: TestStack, username: string, ttl = 3600) {
  const deps = { storage: s.ctx.storage, masterKey: s.ctx.masterKey, audit: s.ctx.audit, now: () => s.ctx.now(), actor: 'u_the_admin' };
  return addUserWithPasswordLink(deps, { username }, ttl);
}

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
});
afterAll(async () => stack?.close());

describe('setting a password through a one-time link', () => {
  it('shows the form for a valid link, sets the password once, and records password_set with the user as actor', async () => {
    const { user, link } = await newLink(stack, 'new.user');
    const b = browser(stack);
    const form = await b.get(`/password/set?token=${link.token}`);
    expect(form.status).toBe(200);
    expect(form.body).toContain('value="new.user"');
    expect(form.body).toContain('autocomplete="new-password"');
    const done = await b.post('/password/set', { csrf: form.csrf!, token: link.token, password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect([done.status, done.location]).toEqual([303, '/password/set?done=1']);
    expect((await b.get(done.location!)).body).toContain('Your password is set');
    expect(await checkLogin(stack.ctx, 'new.user', NEW_PASSWORD, '192.0.2.10')).toMatchObject({ ok: true });
    const [event] = await searchEvents(stack.ctx.storage.sql, { type: 'user.changed', actor: user.id, limit: 1 });
    expect(event).toMatchObject({
      action: 'password_set', resource: user.id, outcome: 'success', actor: { userId: user.id },
      changes: [{ field: 'password', before: '[redacted]', after: '[redacted]' }], details: { link_created_by: 'u_the_admin' },
    });
    expect(JSON.stringify(event)).not.toContain(NEW_PASSWORD);
    // Used: the link is refused, shown and posted alike, and the password stays.
    expect((await b.get(`/password/set?token=${link.token}`))).toMatchObject({ status: 410 });
    const again = await b.post('/password/set', { csrf: form.csrf!, token: link.token, password: 'another long password', confirmation: 'another long password' });
    expect(again.status).toBe(410);
    expect(again.body).toContain(LINK_UNUSABLE);
    expect(await checkLogin(stack.ctx, 'new.user', NEW_PASSWORD, '192.0.2.10')).toMatchObject({ ok: true });
  });

  it('ends the account\'s sessions and revokes its grants with their tokens when a password is set', async () => {
    const { user, link } = await newLink(stack, 'reset.user');
    await stack.ctx.storage.sessions.create({ digest: 'f'.repeat(64), userId: user.id, createdAt: clock, lastSeenAt: clock, authTime: clock, amr: ['pwd'] });
    await stack.ctx.storage.grants.create({
      grantId: 'g_reset_user', clientId: stack.demo.client_id, userId: user.id, consentId: null, createdAt: clock, revokedAt: null, revokedReason: null,
    });
    const b = browser(stack);
    const form = await b.get(`/password/set?token=${link.token}`);
    expect((await b.post('/password/set', { csrf: form.csrf!, token: link.token, password: NEW_PASSWORD, confirmation: NEW_PASSWORD })).status).toBe(303);
    expect(await stack.ctx.storage.sessions.get('f'.repeat(64))).toBeUndefined();
    expect(await stack.ctx.storage.grants.get('g_reset_user')).toMatchObject({ revokedReason: 'password_set' });
    const [event] = await searchEvents(stack.ctx.storage.sql, { type: 'user.changed', actor: user.id, limit: 1 });
    expect(event).toMatchObject({ action: 'password_set', details: { sessions_ended: 1, grants_revoked: 1 } });
  });

  it('refuses a short or mistyped password next to its field without spending the link', async () => {
    const { link } = await newLink(stack, 'typo.user');
    const b = browser(stack);
    const form = await b.get(`/password/set?token=${link.token}`);
    const short = await b.post('/password/set', { csrf: form.csrf!, token: link.token, password: 'short', confirmation: 'short' });
    expect(short.status).toBe(400);
    expect(short.body).toContain('aria-invalid="true" aria-describedby="password-error"');
    expect(short.body).toContain(`<p class="error" id="password-error">Use at least ${MIN_PASSWORD_LENGTH} characters.</p>`);
    const mismatch = await b.post('/password/set', { csrf: form.csrf!, token: link.token, password: NEW_PASSWORD, confirmation: `${NEW_PASSWORD}!` });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toContain('id="confirmation-error">The two passwords are not the same.');
    const done = await b.post('/password/set', { csrf: form.csrf!, token: link.token, password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect(done.status).toBe(303);
  });

  it('refuses a post without the browser\'s CSRF token (403) and leaves the link usable', async () => {
    const { link } = await newLink(stack, 'csrf.user');
    const b = browser(stack);
    const form = await b.get(`/password/set?token=${link.token}`);
    const forged = await browser(stack).post('/password/set', { csrf: form.csrf!, token: link.token, password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect(forged.status).toBe(403);
    expect(forged.body).toContain(FORM_EXPIRED);
    expect((await b.get(`/password/set?token=${link.token}`)).status).toBe(200);
    expect(await checkLogin(stack.ctx, 'csrf.user', NEW_PASSWORD, '192.0.2.11')).toMatchObject({ ok: false });
  });

  it('refuses an expired link and an unknown one with the same plain message', async () => {
    const { link } = await newLink(stack, 'late.user', 300);
    const b = browser(stack);
    const form = await b.get(`/password/set?token=${link.token}`);
    clock += 301_000;
    const late = await b.post('/password/set', { csrf: form.csrf!, token: link.token, password: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect(late.status).toBe(410);
    expect((await b.get(`/password/set?token=${link.token}`)).body).toContain(LINK_UNUSABLE);
    expect((await b.get(`/password/set?token=${'A'.repeat(43)}`)).status).toBe(410);
    expect((await b.get('/password/set')).status).toBe(410);
  });

  it('lets only one of two simultaneous submissions of one link set the password', async () => {
    const { user, link } = await newLink(stack, 'race.user');
    const b = browser(stack);
    const form = await b.get(`/password/set?token=${link.token}`);
    const results = await Promise.all(['first password here', 'second password here'].map((p) => b.post('/password/set', { csrf: form.csrf!, token: link.token, password: p, confirmation: p })));
    expect(results.map((r) => r.status).sort()).toEqual([303, 410]);
    expect(await searchEvents(stack.ctx.storage.sql, { type: 'user.changed', actor: user.id })).toHaveLength(1);
  });
});

describe('a console behind an allow-list that excludes the user', () => {
  let fenced: TestStack;
  beforeAll(async () => { fenced = await startTestStack({ configure: (c) => { c.admin_console.ip_allowlist = ['192.0.2.0/24']; } }); });
  afterAll(async () => fenced?.close());

  it('still serves the password page to the user (it is not under /admin)', async () => {
    const { link } = await newLink(fenced, 'remote.user');
    const res = await request(`${fenced.issuer}/password/set?token=${link.token}`, { dispatcher: trustingDispatcher(fenced.ca) });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toContain('Choose your password');
    const console = await request(`${fenced.issuer}/admin/login`, { dispatcher: trustingDispatcher(fenced.ca) });
    await console.body.dump();
    expect(console.statusCode).toBe(403);
  });
});
