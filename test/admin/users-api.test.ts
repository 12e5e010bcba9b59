// /admin/api/users: each console action as JSON through the same services, the same ledger events
// with the API client as actor (client:<client_id>) and details.api, 400 invalid_request naming the
// field, 404 for an unknown account, and the password link in the creating response only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { addUser, peekPasswordLink } from '../../src/admin/users.js';
import { accountLocked, recordLoginFailure } from '../../src/interaction/login.js';
import { adminApi, adminApiToken } from '../support/admin.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let token: string;
let actor: string;
const clock = Date.now();

const deps = () => ({ storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: () => clock, actor: 'test' });
const seedUser = (username: string, role: string) => addUser(deps(), { username, password: 'a long test password', role });
const lastEvent = async () => (await searchEvents(stack.ctx.storage.sql, { type: 'user.changed', actor, limit: 1 }))[0];
const api = (method: string, path: string, body?: unknown) => adminApi(stack, method, path, token, body);

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  token = await adminApiToken(stack);
  actor = `client:${stack.demo.admin_client_id}`;
});
afterAll(async () => stack?.close());

describe('the admin API users routes', () => {
  it('lists and searches accounts without their password hashes', async () => {
    await seedUser('api.Search.Me', 'patient');
    const res = await api('GET', '/users?q=search.me');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ page: 1, more: false, users: [{ username: 'api.Search.Me', role: 'patient', disabled: false, patient_panel: [], break_glass: false }] });
    expect(JSON.stringify(res.json)).not.toContain('argon2');
    expect(await api('GET', '/users?page=0')).toMatchObject({ status: 400, json: { error: 'invalid_request', error_description: expect.stringMatching(/^page: /) } });
  });

  it('adds a user and returns the one-time password link once (no-store), recorded with the client as actor', async () => {
    const res = await api('POST', '/users', { username: 'api.new', role: 'practitioner', patient_panel: ['Patient/5'] });
    expect(res.status).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json).toMatchObject({ user: { username: 'api.new', role: 'practitioner', patient_panel: ['5'] }, password_link: expect.stringMatching(/\/password\/set\?token=[A-Za-z0-9_-]{43}$/) });
    const linkToken = new URL(res.json.password_link as string).searchParams.get('token')!;
    const user = (await stack.ctx.storage.users.getByUsername('api.new'))!;
    expect(await peekPasswordLink(deps(), linkToken)).toMatchObject({ id: user.id });
    expect(await lastEvent()).toMatchObject({ action: 'password_link', resource: user.id, actor: { userId: actor }, details: { api: 'admin' } });
    const [, create] = await searchEvents(stack.ctx.storage.sql, { type: 'user.changed', actor, limit: 2 });
    expect(create).toMatchObject({ action: 'create', resource: user.id, outcome: 'success', details: { api: 'admin', password: 'set_by_user_link' } });
    expect((await api('GET', '/users/api.new')).json).not.toHaveProperty('password_link');
  });

  it('refuses bad input with 400 invalid_request naming the field', async () => {
    expect((await api('POST', '/users', { username: 'a b' })).json).toEqual({ error: 'invalid_request', error_description: 'username: use 3-128 letters, digits, ".", "_", "@", "+" or "-"' });
    expect((await api('POST', '/users', { username: 'ok.name', role: 'root' })).json).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/^role: /) });
    expect((await api('POST', '/users', { username: 'ok.name', fhir_user: 'x' })).json).toMatchObject({ error_description: 'fhir_user: use a FHIR reference such as Patient/123' });
    expect((await api('POST', '/users', { username: stack.demo.username })).json).toMatchObject({ error_description: 'username: an account with this username exists' });
    expect((await api('POST', '/users', { username: 'ok.name', password: 'typed by an admin' })).status).toBe(400);
    expect(await stack.ctx.storage.users.getByUsername('ok.name')).toBeUndefined();
    expect((await api('PUT', '/users/nobody.here/role', { role: 'patient' }))).toMatchObject({ status: 404, json: { error: 'not_found' } });
  });

  it('changes the role, ending the account\'s console sessions', async () => {
    const user = await seedUser('api.role', 'administrator');
    await stack.ctx.storage.adminSessions.create({ digest: 'c'.repeat(64), userId: user.id, createdAt: clock, lastSeenAt: clock, stepUpAt: clock, sourceAddress: '127.0.0.1' });
    const res = await api('PUT', '/users/api.role/role', { role: 'practitioner' });
    expect(res).toMatchObject({ status: 200, json: { user: { role: 'practitioner' }, consents_revoked: 0 } });
    expect(await stack.ctx.storage.adminSessions.get('c'.repeat(64))).toBeUndefined();
    expect(await lastEvent()).toMatchObject({
      action: 'set_role', resource: user.id, actor: { userId: actor }, changes: [{ field: 'role', before: 'administrator', after: 'practitioner' }],
      details: { api: 'admin', console_sessions_ended: 1 },
    });
  });

  it('sets the panel and the emergency-access permission', async () => {
    const user = await seedUser('api.panel', 'practitioner');
    expect(await api('PUT', '/users/api.panel/patient-panel', { patients: ['1', 'Patient/2'] })).toMatchObject({ status: 200, json: { before: [], after: ['1', '2'] } });
    expect(await lastEvent()).toMatchObject({ action: 'set_patient_panel', resource: user.id, actor: { userId: actor } });
    expect(await api('PUT', '/users/api.panel/break-glass', { allowed: true })).toMatchObject({ status: 200, json: { before: false, after: true } });
    expect(await lastEvent()).toMatchObject({ action: 'set_break_glass', resource: user.id, actor: { userId: actor }, details: { api: 'admin' } });
    const patient = await seedUser('api.patient', 'patient');
    const refused = await api('PUT', '/users/api.patient/break-glass', { allowed: true });
    expect(refused).toMatchObject({ status: 400, json: { error: 'invalid_request', error_description: expect.stringContaining('only practitioners can hold the break-glass permission') } });
    expect((await stack.ctx.storage.users.getById(patient.id))!.breakGlass).toBe(false);
  });

  it('unlocks, resets second factors, disables and enables', async () => {
    const user = await seedUser('api.ops', 'patient');
    for (let i = 0; i < stack.ctx.config.login.max_failures_per_account; i++) {
      await recordLoginFailure(stack.ctx, { username: 'api.ops', userId: user.id, action: 'pwd', reason: 'bad_credentials', meta: { sourceAddress: '192.0.2.2' }, counted: true });
    }
    expect((await api('GET', '/users/api.ops')).json).toMatchObject({ locked: true, second_factors: [], recovery_codes_left: 0 });
    expect(await api('POST', '/users/api.ops/unlock')).toMatchObject({ status: 200, json: { was_locked: true } });
    expect(await accountLocked(stack.ctx, 'api.ops')).toBe(false);
    expect(await lastEvent()).toMatchObject({ action: 'unlock', resource: user.id, actor: { userId: actor }, changes: [{ field: 'locked', before: true, after: false }] });

    await stack.ctx.storage.recoveryCodes.replace(user.id, ['x1', 'x2'], clock);
    expect(await api('POST', '/users/api.ops/mfa-reset')).toMatchObject({ status: 200, json: { factors: 0, recovery_codes: 2 } });
    expect(await lastEvent()).toMatchObject({ action: 'mfa_reset', resource: user.id, actor: { userId: actor } });

    expect(await api('PUT', '/users/api.ops/disabled', { disabled: true })).toMatchObject({ status: 200, json: { user: { disabled: true } } });
    expect(await lastEvent()).toMatchObject({ action: 'disable', resource: user.id, actor: { userId: actor }, details: { api: 'admin', grants_revoked: 0 } });
    expect((await api('POST', '/users/api.ops/password-link')).json).toMatchObject({ error: 'invalid_request', error_description: 'password_link: the account is disabled; enable it first' });
    expect(await api('PUT', '/users/api.ops/disabled', { disabled: false })).toMatchObject({ status: 200, json: { user: { disabled: false } } });
    expect(await lastEvent()).toMatchObject({ action: 'enable', resource: user.id });
  });

  it('makes a new password link that replaces the older one', async () => {
    const first = await api('POST', '/users', { username: 'api.relink' });
    const older = new URL(first.json.password_link as string).searchParams.get('token')!;
    const res = await api('POST', '/users/api.relink/password-link');
    expect(res.status).toBe(201);
    const newer = new URL(res.json.password_link as string).searchParams.get('token')!;
    expect(await peekPasswordLink(deps(), older)).toBeUndefined();
    expect(await peekPasswordLink(deps(), newer)).toMatchObject({ username: 'api.relink' });
    expect(await lastEvent()).toMatchObject({ action: 'password_link', actor: { userId: actor }, details: { links_replaced: 1 } });
  });

  it('lists every users route in the OpenAPI document', async () => {
    const doc = await adminApi(stack, 'GET', '/openapi.json', undefined);
    const paths = doc.json.paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths['/admin/api/users']!).sort()).toEqual(['get', 'post']);
    for (const p of ['role', 'patient-panel', 'break-glass', 'disabled']) expect(Object.keys(paths[`/admin/api/users/{username}/${p}`]!)).toEqual(['put']);
    for (const p of ['unlock', 'mfa-reset', 'password-link']) expect(Object.keys(paths[`/admin/api/users/{username}/${p}`]!)).toEqual(['post']);
    expect(Object.keys(paths['/admin/api/users/{username}']!)).toEqual(['get']);
  });
});
