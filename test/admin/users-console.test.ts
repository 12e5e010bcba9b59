// The console's Users section over HTTP (issue 15): find and add accounts (the password set by the
// user through a one-time link shown once), and on an account's page change role, panel and
// emergency access, unlock, reset second factors, send a new link, disable and enable. Step-up
// where the action is sensitive, CSRF on every form, the exact ledger events, and an administrator
// who cannot lock themselves out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyedDigest } from '../../src/crypto/digest.js';
import { searchEvents, type EventFilters } from '../../src/audit/search.js';
import { addUser, addUserWithPasswordLink, peekPasswordLink } from '../../src/admin/users.js';
import { accountLocked, recordLoginFailure } from '../../src/interaction/login.js';
import type { UserRecord } from '../../src/storage/types.js';
import { signInAsAdmin, totpCode, type ConsoleClient } from '../support/admin.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let clock = Date.now();
let admin: ConsoleClient;
let adminUser: UserRecord;

const events = (filters: EventFilters) => searchEvents(stack.ctx.storage.sql, { limit: 20, ...filters });
const lastEvent = async (filters: EventFilters) => (await events({ ...filters, limit: 1 }))[0];
const userNamed = async (username: string) => (await stack.ctx.storage.users.getByUsername(username))!;
const deps = () => ({ storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: () => clock, actor: 'test' });
const seedUser = (username: string, role: string) => addUser(deps(), { username, password: 'a long test password', role });
const page = (username: string) => `/admin/users/${encodeURIComponent(username)}`;

/** Makes the session's last second-factor check older than admin_console.step_up_max_age (300 s). */
const staleStepUp = () => { clock += 301_000; };
const freshCode = () => totpCode(stack.demo.admin_totp_secret!, clock);

/** A console session of another account, as if it had signed in (its digest is what the store keeps). */
async function consoleSessionOf(user: UserRecord, digest: string) {
  await stack.ctx.storage.adminSessions.create({ digest, userId: user.id, createdAt: clock, lastSeenAt: clock, stepUpAt: clock, sourceAddress: '127.0.0.1' });
}

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  admin = await signInAsAdmin(stack);
  adminUser = await userNamed(stack.demo.admin_username!);
});
afterAll(async () => stack?.close());

describe('finding and adding users', () => {
  it('lists accounts by username and finds them by part of the username in any letter case', async () => {
    await seedUser('Find.Me.Please', 'patient');
    const found = await admin.get('/admin/users?q=me.PLEASE');
    expect(found.status).toBe(200);
    expect(found.body).toContain('href="/admin/users/Find.Me.Please"');
    expect(found.body).not.toContain(`>${stack.demo.username}<`);
    const none = await admin.get('/admin/users?q=nobody-has-this');
    expect(none.body).toContain('No account matches.');
  });

  it('adds a user with a one-time password link shown once (no-store), stored only as its keyed digest, recorded as create then password_link', async () => {
    await admin.get('/admin/new-user');
    const res = await admin.post('/admin/new-user', { username: 'nurse.kim', role: 'practitioner', fhir_user: 'Practitioner/42', patient_panel: 'Patient/1, 2' });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const link = /value="(https:\/\/[^"]+\/password\/set\?token=([A-Za-z0-9_-]{43}))"/.exec(res.body);
    expect(link).not.toBeNull();
    const token = link![2]!;
    const user = await userNamed('nurse.kim');
    expect(user).toMatchObject({ role: 'practitioner', fhirUser: 'Practitioner/42', patientPanel: ['1', '2'], disabled: false });
    // No password the administrator knows: an argon2id hash of random bits.
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    const rows = await stack.ctx.storage.sql.all<{ digest: string; user_id: string; created_by: string }>('SELECT digest, user_id, created_by FROM password_set_links WHERE user_id = $1', [user.id]);
    expect(rows).toEqual([{ digest: keyedDigest(stack.ctx.masterKey.digestKey('password-link'), token), user_id: user.id, created_by: adminUser.id }]);
    const [linkEvent, createEvent] = await events({ type: 'user.changed', actor: adminUser.id, limit: 2 });
    expect(createEvent).toMatchObject({
      action: 'create', resource: user.id, outcome: 'success', actor: { userId: adminUser.id }, details: { console: 'admin', password: 'set_by_user_link' },
      changes: expect.arrayContaining([{ field: 'role', before: null, after: 'practitioner' }, { field: 'patient_panel', before: null, after: ['1', '2'] }]),
    });
    expect(linkEvent).toMatchObject({ action: 'password_link', resource: user.id, actor: { userId: adminUser.id }, details: { console: 'admin', links_replaced: 0 } });
    expect(JSON.stringify([linkEvent, createEvent])).not.toContain(token);
    // Never shown again.
    expect((await admin.get(page('nurse.kim'))).body).not.toContain(token);
  });

  it('refuses bad input with the message next to the field named, adding nothing', async () => {
    await admin.get('/admin/new-user');
    const before = (await stack.ctx.storage.users.list()).length;
    const bad = await admin.post('/admin/new-user', { username: 'a b', role: 'patient' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('id="username" name="username" required maxlength="128" autocomplete="off" value="a b" aria-invalid="true" aria-describedby="username-error"');
    expect(bad.body).toContain('<p class="error" id="username-error">username: use 3-128 letters');
    const fhir = await admin.post('/admin/new-user', { username: 'good.name', role: 'patient', fhir_user: 'Nope/1' });
    expect([fhir.status, fhir.body.includes('<p class="error" id="fhir_user-error">fhir_user: use a FHIR reference')]).toEqual([400, true]);
    const panel = await admin.post('/admin/new-user', { username: 'good.name', role: 'patient', patient_panel: '1' });
    expect([panel.status, panel.body.includes('<p class="error" id="patient_panel-error">patient_panel: only practitioners')]).toEqual([400, true]);
    const taken = await admin.post('/admin/new-user', { username: stack.demo.username, role: 'patient' });
    expect([taken.status, taken.body.includes('username: an account with this username exists')]).toEqual([400, true]);
    expect((await stack.ctx.storage.users.list()).length).toBe(before);
  });

  it('refuses a form without the session\'s CSRF token (403), adding nothing', async () => {
    const res = await admin.post('/admin/new-user', { username: 'forged.user', role: 'administrator' }, { csrf: 'x'.repeat(64) });
    expect(res.status).toBe(403);
    expect(await stack.ctx.storage.users.getByUsername('forged.user')).toBeUndefined();
  });

  it('answers 404 for an unknown username', async () => {
    expect((await admin.get('/admin/users/no.such.user')).status).toBe(404);
  });
});

describe('changing an account', () => {
  it('changes a role only after a fresh second factor, ending that account\'s console sessions, recorded as set_role', async () => {
    const target = await seedUser('dr.role', 'administrator');
    await consoleSessionOf(target, 'a'.repeat(64));
    await admin.get(page('dr.role'));
    staleStepUp();
    const asked = await admin.post(`${page('dr.role')}/role`, { role: 'practitioner' });
    expect(asked.status).toBe(200);
    expect(asked.body).toContain('Confirm it is you');
    expect(asked.body).toContain('name="role" value="practitioner"');
    expect((await userNamed('dr.role')).role).toBe('administrator');
    const wrong = await admin.post(`${page('dr.role')}/role`, { role: 'practitioner', step_up_code: '000000' });
    expect(wrong.status).toBe(401);
    expect((await userNamed('dr.role')).role).toBe('administrator');
    const done = await admin.post(`${page('dr.role')}/role`, { role: 'practitioner', step_up_code: freshCode() });
    expect([done.status, done.location]).toEqual([303, '/admin/users/dr.role?done=role']);
    expect((await userNamed('dr.role')).role).toBe('practitioner');
    expect(await stack.ctx.storage.adminSessions.get('a'.repeat(64))).toBeUndefined();
    expect(await lastEvent({ type: 'user.changed', actor: adminUser.id })).toMatchObject({
      action: 'set_role', resource: target.id, outcome: 'success', changes: [{ field: 'role', before: 'administrator', after: 'practitioner' }],
      details: { console: 'admin', console_sessions_ended: 1 },
    });
    expect(await lastEvent({ type: 'login.succeeded', actor: adminUser.id })).toMatchObject({ action: 'step_up', details: { console: 'admin' } });
    expect((await admin.get(done.location!)).body).toContain('The role was changed.');
  });

  it('refuses a role change without the CSRF token (403), changing nothing', async () => {
    await seedUser('dr.csrf', 'practitioner');
    const res = await admin.post(`${page('dr.csrf')}/role`, { role: 'administrator' }, { csrf: null });
    expect(res.status).toBe(403);
    expect((await userNamed('dr.csrf')).role).toBe('practitioner');
  });

  it('saves a practitioner\'s patient panel, and refuses one for a patient next to the field', async () => {
    const target = await seedUser('dr.panel', 'practitioner');
    await admin.get(page('dr.panel'));
    const res = await admin.post(`${page('dr.panel')}/panel`, { patients: 'Patient/9, 10' });
    expect([res.status, res.location]).toEqual([303, '/admin/users/dr.panel?done=panel']);
    expect((await userNamed('dr.panel')).patientPanel).toEqual(['9', '10']);
    expect(await lastEvent({ type: 'user.changed', actor: adminUser.id })).toMatchObject({
      action: 'set_patient_panel', resource: target.id, changes: [{ field: 'patient_panel', before: [], after: ['9', '10'] }], details: { console: 'admin' },
    });
    await seedUser('pat.panel', 'patient');
    const refused = await admin.post(`${page('pat.panel')}/panel`, { patients: '9' });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatch(/id="patients"[^>]*aria-invalid="true" aria-describedby="patients-error"/);
    expect(refused.body).toContain('only practitioners can hold a patient panel');
    expect((await userNamed('pat.panel')).patientPanel).toEqual([]);
  });

  it('allows and withdraws emergency access, each recorded as set_break_glass', async () => {
    const target = await seedUser('dr.glass', 'practitioner');
    await admin.get(page('dr.glass'));
    expect((await admin.post(`${page('dr.glass')}/break-glass`, { allowed: 'on' })).location).toBe('/admin/users/dr.glass?done=break_glass_on');
    expect((await userNamed('dr.glass')).breakGlass).toBe(true);
    expect((await admin.post(`${page('dr.glass')}/break-glass`, { allowed: 'off' })).location).toBe('/admin/users/dr.glass?done=break_glass_off');
    expect((await userNamed('dr.glass')).breakGlass).toBe(false);
    const [off, on] = await events({ type: 'user.changed', actor: adminUser.id, limit: 2 });
    expect(on).toMatchObject({ action: 'set_break_glass', resource: target.id, changes: [{ field: 'break_glass', before: false, after: true }] });
    expect(off).toMatchObject({ action: 'set_break_glass', resource: target.id, changes: [{ field: 'break_glass', before: true, after: false }] });
  });

  it('unlocks an account locked by failed sign-ins, recorded as unlock', async () => {
    const target = await seedUser('locked.out', 'patient');
    for (let i = 0; i < stack.ctx.config.login.max_failures_per_account; i++) {
      await recordLoginFailure(stack.ctx, { username: 'locked.out', userId: target.id, action: 'pwd', reason: 'bad_credentials', meta: { sourceAddress: '192.0.2.1' }, counted: true });
    }
    expect(await accountLocked(stack.ctx, 'locked.out')).toBe(true);
    expect((await admin.get(page('locked.out'))).body).toContain('<span class="badge warn">locked</span>');
    const res = await admin.post(`${page('locked.out')}/unlock`, {});
    expect([res.status, res.location]).toEqual([303, '/admin/users/locked.out?done=unlocked']);
    expect(await accountLocked(stack.ctx, 'locked.out')).toBe(false);
    expect(await lastEvent({ type: 'user.changed', actor: adminUser.id })).toMatchObject({
      action: 'unlock', resource: target.id, outcome: 'success', changes: [{ field: 'locked', before: true, after: false }], details: { console: 'admin' },
    });
  });

  it('resets second factors only after a fresh second factor, recorded as mfa_reset', async () => {
    const target = await seedUser('lost.phone', 'practitioner');
    await stack.ctx.storage.recoveryCodes.replace(target.id, ['d1', 'd2', 'd3'], clock);
    await admin.get(page('lost.phone'));
    staleStepUp();
    const asked = await admin.post(`${page('lost.phone')}/mfa-reset`, {});
    expect(asked.body).toContain('Confirm it is you');
    expect(await stack.ctx.storage.recoveryCodes.countUnused(target.id)).toBe(3);
    const done = await admin.post(`${page('lost.phone')}/mfa-reset`, { step_up_code: freshCode() });
    expect([done.status, done.location]).toEqual([303, '/admin/users/lost.phone?done=mfa_reset']);
    expect(await stack.ctx.storage.recoveryCodes.countUnused(target.id)).toBe(0);
    expect(await lastEvent({ type: 'user.changed', actor: adminUser.id })).toMatchObject({
      action: 'mfa_reset', resource: target.id, details: { console: 'admin', factors: 0, recovery_codes: 3 },
    });
  });

  it('disables an account after a fresh second factor (grants, console sessions and password links go), and enables it again', async () => {
    const target = await seedUser('to.disable', 'administrator');
    await consoleSessionOf(target, 'b'.repeat(64));
    const { link } = await addUserWithPasswordLink(deps(), { username: 'to.disable.too' }, 3600);
    await admin.get(page('to.disable'));
    staleStepUp();
    const asked = await admin.post(`${page('to.disable')}/status`, { disabled: 'on' });
    expect(asked.body).toContain('Confirm it is you');
    expect((await userNamed('to.disable')).disabled).toBe(false);
    const done = await admin.post(`${page('to.disable')}/status`, { disabled: 'on', step_up_code: freshCode() });
    expect([done.status, done.location]).toEqual([303, '/admin/users/to.disable?done=disabled']);
    expect((await userNamed('to.disable')).disabled).toBe(true);
    expect(await stack.ctx.storage.adminSessions.get('b'.repeat(64))).toBeUndefined();
    expect(await lastEvent({ type: 'user.changed', actor: adminUser.id })).toMatchObject({
      action: 'disable', resource: target.id, changes: [{ field: 'disabled', before: false, after: true }],
      details: { console: 'admin', grants_revoked: 0, console_sessions_ended: 1, password_links_removed: 0 },
    });
    // A disabled account's password link stops working too.
    await admin.post(`${page('to.disable.too')}/status`, { disabled: 'on' });
    expect(await peekPasswordLink(deps(), link.token)).toBeUndefined();
    expect(await stack.ctx.storage.sql.all('SELECT digest FROM password_set_links WHERE user_id = $1', [(await userNamed('to.disable.too')).id])).toEqual([]);
    const enabled = await admin.post(`${page('to.disable')}/status`, { disabled: 'off' });
    expect(enabled.location).toBe('/admin/users/to.disable?done=enabled');
    expect((await userNamed('to.disable')).disabled).toBe(false);
    expect(await lastEvent({ type: 'user.changed', actor: adminUser.id })).toMatchObject({ action: 'enable', resource: target.id });
  });

  it('does not let an administrator disable their own account or remove their own administrator role', async () => {
    await admin.get(page(adminUser.username));
    const seqBefore = (await lastEvent({ type: 'user.changed', actor: adminUser.id }))?.seq;
    const disable = await admin.post(`${page(adminUser.username)}/status`, { disabled: 'on' });
    expect(disable.status).toBe(400);
    expect(disable.body).toContain('disabled: you cannot disable your own account; another administrator can');
    const demote = await admin.post(`${page(adminUser.username)}/role`, { role: 'patient' });
    expect(demote.status).toBe(400);
    expect(demote.body).toMatch(/id="role"[^>]*aria-invalid="true" aria-describedby="role-error"/);
    expect(demote.body).toContain('role: you cannot remove your own administrator role');
    const me = await userNamed(adminUser.username);
    expect([me.disabled, me.role]).toEqual([false, 'administrator']);
    expect((await lastEvent({ type: 'user.changed', actor: adminUser.id }))?.seq).toBe(seqBefore);
    // Still signed in.
    expect((await admin.get('/admin/users')).status).toBe(200);
  });

  it('makes a new password link after a fresh second factor, shown once; the older link stops working', async () => {
    const { user, link: older } = await addUserWithPasswordLink(deps(), { username: 'forgot.password' }, 3600);
    await admin.get(page('forgot.password'));
    staleStepUp();
    expect((await admin.post(`${page('forgot.password')}/password-link`, {})).body).toContain('Confirm it is you');
    expect(await peekPasswordLink(deps(), older.token)).toMatchObject({ id: user.id });
    const res = await admin.post(`${page('forgot.password')}/password-link`, { step_up_code: freshCode() });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const token = /\/password\/set\?token=([A-Za-z0-9_-]{43})/.exec(res.body)![1]!;
    expect(await peekPasswordLink(deps(), older.token)).toBeUndefined();
    expect(await peekPasswordLink(deps(), token)).toMatchObject({ id: user.id });
    expect(await lastEvent({ type: 'user.changed', actor: adminUser.id })).toMatchObject({
      action: 'password_link', resource: user.id, details: { console: 'admin', links_replaced: 1 },
    });
  });
});
