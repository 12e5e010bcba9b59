// The console's Grants section over HTTP (issue 15): the grants of a user, a client or a patient,
// each with client, user, patient, scopes, created, last used and emergency access marked; Revoke
// ends the grant's consent and every token at once (as /account does), recorded as consent.revoked
// with the administrator as actor; a grant without an active consent is revoked alone
// (token.revoked); CSRF refusal changes nothing.
import { decodeJwt } from 'jose';
import { grantIdOfJti } from '../../src/oauth/tokens/access-token.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import type { UserRecord } from '../../src/storage/types.js';
import { signInAsAdmin, type ConsoleClient } from '../support/admin.js';
import { codeFlow, introspect, refresh, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let rp: Rp;
let admin: ConsoleClient;
let adminUser: UserRecord;
let demoUser: UserRecord;
let clock = Math.floor(Date.now() / 60_000) * 60_000;

/** The demo patient authorises the demo app (a fresh consent); resolves the flow and its one grant. */
async function authorise() {
  const flow = await codeFlow(rp, { extra: { prompt: 'consent' } });
  // The grant of this flow's token (its jti names the grant); the clock stands still, so "newest" cannot tell.
  const grantId = grantIdOfJti(String(decodeJwt(flow.tokens.access_token).jti));
  const grant = (await stack.ctx.storage.grants.listByUser(demoUser.id)).find((g) => g.grantId === grantId)!;
  const consent = (await stack.ctx.storage.consents.get(grant.consentId!))!;
  return { flow, consent, grant };
}

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  rp = await relyingParty(stack);
  admin = await signInAsAdmin(stack);
  adminUser = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!;
  demoUser = (await stack.ctx.storage.users.getByUsername(stack.demo.username))!;
});
afterAll(async () => stack?.close());

describe('finding grants', () => {
  it('asks for a user, client or patient before listing anything', async () => {
    const res = await admin.get('/admin/grants');
    expect(res.status).toBe(200);
    expect(res.body).toContain('Give a username, a client id or a patient to list grants.');
    expect(res.body).not.toContain('<table');
  });

  it('lists a user\'s grant with its client, patient, scopes, creation and last use', async () => {
    const created = clock;
    const { consent, grant } = await authorise();
    clock += 60_000;
    const res = await admin.get(`/admin/grants?username=${encodeURIComponent(stack.demo.username)}`);
    expect(res.status).toBe(200);
    const row = res.body.slice(res.body.indexOf('<tbody>'), res.body.indexOf('</tbody>'));
    expect(row).toContain('Demo Patient App');
    expect(row).toContain(`<span class="mono">${stack.demo.client_id}</span>`);
    expect(row).toContain(`href="/admin/users/${encodeURIComponent(stack.demo.username)}"`);
    expect(row).toContain('<td class="mono">Patient/demo-1</td>');
    expect(row).toContain(`<td class="mono">${consent.scopesGranted.join(' ')}</td>`);
    expect(row).toContain(`<time datetime="${new Date(created).toISOString()}">`);
    expect(grant.lastUsedAt).toBe(created);
    expect(row).toContain('<span class="badge ok">active</span>');
    expect(row).toContain(`action="/admin/grants/${grant.grantId}/revoke"`);
  });

  it('finds the same grant by client id and by patient (id or reference), newest first', async () => {
    const { grant } = await authorise();
    for (const query of [`client_id=${encodeURIComponent(stack.demo.client_id)}`, 'patient=demo-1', 'patient=Patient%2Fdemo-1']) {
      const res = await admin.get(`/admin/grants?${query}`);
      expect(res.status).toBe(200);
      const first = /action="\/admin\/grants\/([^/]+)\/revoke"/.exec(res.body)?.[1];
      expect(first).toBe(grant.grantId);
    }
    expect((await admin.get('/admin/grants?patient=nobody-at-all')).body).toContain('No grant matches.');
    expect((await admin.get('/admin/grants?username=no.such.person')).body).toContain('No account has this username.');
  });

  it('refuses a malformed patient next to its field', async () => {
    const res = await admin.get('/admin/grants?patient=not%20an%20id');
    expect(res.status).toBe(400);
    expect(res.body).toContain('aria-invalid="true" aria-describedby="patient-error"');
    expect(res.body).toContain('<p class="error" id="patient-error">patient: use a FHIR Patient id or a Patient/ reference');
  });

  it('marks emergency access', async () => {
    await stack.ctx.storage.grants.create({
      grantId: 'g_emergency_test', clientId: stack.demo.client_id, userId: demoUser.id, consentId: null, createdAt: clock + 1, revokedAt: null, revokedReason: null,
      launchContext: { patient: 'demo-3', purposeOfUse: 'ETREAT', breakGlassId: 'bg_1' },
    });
    const res = await admin.get('/admin/grants?patient=demo-3');
    expect(res.body).toContain('<span class="badge warn">emergency access</span>');
  });
});

describe('revoking a grant', () => {
  it('revokes the grant\'s consent and tokens at once, recorded as consent.revoked with the administrator as actor', async () => {
    const { flow, consent, grant } = await authorise();
    const list = `/admin/grants?username=${encodeURIComponent(stack.demo.username)}`;
    await admin.get(list);
    const since = clock;
    const res = await admin.post(`/admin/grants/${grant.grantId}/revoke`, { username: stack.demo.username });
    expect([res.status, res.location]).toEqual([303, `/admin/grants?username=${encodeURIComponent(stack.demo.username)}&done=revoked`]);
    expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
    expect((await refresh(rp, flow.tokens.refresh_token!)).status).toBe(400);
    expect(await stack.ctx.storage.grants.get(grant.grantId)).toMatchObject({ revokedAt: clock, revokedReason: 'consent_revoked' });
    expect((await stack.ctx.storage.consents.get(consent.id))!.revokedAt).toBe(clock);
    const events = await searchEvents(stack.ctx.storage.sql, { type: 'consent.revoked', actor: adminUser.id, since, limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      outcome: 'success', actor: { userId: adminUser.id, clientId: stack.demo.client_id }, consentId: consent.id, grantId: grant.grantId,
      resource: demoUser.id, reason: 'administrator', details: { console: 'admin', grants_revoked: 1 },
    });
    const after = await admin.get(res.location!);
    expect(after.body).toContain('Access revoked:');
    expect(after.body).not.toContain(`action="/admin/grants/${grant.grantId}/revoke"`);

    // Once more: nothing left to revoke, nothing more recorded.
    const again = await admin.post(`/admin/grants/${grant.grantId}/revoke`, {});
    expect(again.location).toBe('/admin/grants?done=already');
    expect(await searchEvents(stack.ctx.storage.sql, { type: ['consent.revoked', 'token.revoked'], actor: adminUser.id, since, limit: 10 })).toHaveLength(1);
  });

  it('revokes a grant without an active consent on its own, recorded as token.revoked', async () => {
    await stack.ctx.storage.grants.create({
      grantId: 'g_bare_test', clientId: stack.demo.client_id, userId: demoUser.id, consentId: null, createdAt: clock, revokedAt: null, revokedReason: null,
    });
    await stack.ctx.storage.accessTokens.save({ jti: 'jti_bare_test', grantId: 'g_bare_test', clientId: stack.demo.client_id, expiresAt: clock + 600_000, revokedAt: null });
    await admin.get('/admin/grants?patient=demo-1');
    const res = await admin.post('/admin/grants/g_bare_test/revoke', { patient: 'demo-1' });
    expect(res.location).toBe('/admin/grants?patient=demo-1&done=revoked_grant');
    expect(await stack.ctx.storage.grants.get('g_bare_test')).toMatchObject({ revokedAt: clock, revokedReason: 'revoked' });
    expect((await stack.ctx.storage.accessTokens.get('jti_bare_test'))!.revokedAt).toBe(clock);
    const [event] = await searchEvents(stack.ctx.storage.sql, { type: 'token.revoked', actor: adminUser.id, limit: 1 });
    expect(event).toMatchObject({ action: 'grant', grantId: 'g_bare_test', outcome: 'success', reason: 'administrator', details: { console: 'admin' } });
  });

  it('refuses a revocation without the CSRF token (403): the grant and its tokens stay', async () => {
    const { flow, grant } = await authorise();
    const res = await admin.post(`/admin/grants/${grant.grantId}/revoke`, {}, { csrf: 'y'.repeat(64) });
    expect(res.status).toBe(403);
    expect((await stack.ctx.storage.grants.get(grant.grantId))!.revokedAt).toBeNull();
    expect((await introspect(rp, flow.tokens.access_token)).json).toMatchObject({ active: true });
  });

  it('answers 404 for an unknown grant, changing nothing', async () => {
    await admin.get('/admin/grants');
    expect((await admin.post('/admin/grants/g_unknown/revoke', {})).status).toBe(404);
  });
});
