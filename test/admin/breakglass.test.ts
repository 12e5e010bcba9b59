// The console's Emergency access review and its admin API twin (issue 15): the open accesses with
// the practitioners' reasons, each access's trail (the phi.* events of its grant), and the review
// recorded by the signed-in administrator (step-up), never by the one who took the access; every
// read an audit.read event, every review a breakglass.reviewed event naming the reviewer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { searchEvents } from '../../src/audit/search.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { reviewEmergencyAccess } from '../../src/admin/breakglass.js';
import { openAccessText, sealAccessText } from '../../src/breakglass/sealed-text.js';
import type { BreakGlassAccessRecord } from '../../src/storage/types.js';
import { adminApi, adminApiToken, signInAsAdmin, totpCode, type ConsoleClient, signInAsAdminInChromium } from '../support/admin.js';
import { axeViolations } from '../support/axe.js';
import { launchChromium, SCREENSHOTS } from '../support/chromium.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 5_000;
let admin: ConsoleClient;
let adminId: string;
let practitionerId: string;

const REASON = 'Unconscious patient in the ED, no records on the panel';
const lastEvent = async (type: AuditEvent['type'], action?: string): Promise<AuditEvent | undefined> =>
  (await searchEvents(stack.ctx.storage.sql, { type, limit: 50 })).find((e) => action === undefined || e.action === action);

/** An emergency access as the consent step stores it (reason sealed), and two uses of its grant by the gateway. */
async function emergencyAccess(id: string, userId: string, patient = 'demo-3'): Promise<BreakGlassAccessRecord> {
  const access: BreakGlassAccessRecord = {
    id, userId, clientId: stack.demo.client_id, grantId: `g_${id}`, patient, reason: sealAccessText(stack.ctx.masterKey, id, 'reason', REASON),
    createdAt: clock, expiresAt: clock + 900_000, reviewedAt: null, reviewedBy: null, reviewOutcome: null, reviewNote: null,
  };
  await stack.ctx.storage.breakGlass.create(access);
  await stack.ctx.audit.record({
    type: 'breakglass.granted', actor: { userId, clientId: access.clientId }, outcome: 'success', patient: `Patient/${patient}`, grantId: access.grantId, reason: 'emergency',
    details: { breakglass_id: id, purpose_of_use: 'ETREAT', expires_at: access.expiresAt },
  });
  for (const resource of [`Patient/${patient}`, 'Observation/bg-obs-1']) {
    await stack.ctx.audit.record({
      type: 'phi.accessed', actor: { userId, clientId: access.clientId }, patient: `Patient/${patient}`, resource, action: 'read', outcome: 'success',
      grantId: access.grantId, jti: `jti-${id}`, details: { route: 'fhir', status: 200, purpose_of_use: 'ETREAT', break_glass: true },
    });
  }
  return access;
}

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  practitionerId = (await stack.ctx.storage.users.getByUsername(stack.demo.practitioner_username!))!.id;
  adminId = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!.id;
  await emergencyAccess('bg_console_1', practitionerId);
  // The same practitioner's use of another grant in the same minutes: not this access's trail.
  await stack.ctx.audit.record({
    type: 'phi.accessed', actor: { userId: practitionerId, clientId: stack.demo.client_id }, patient: 'Patient/demo-1', resource: 'Patient/demo-1',
    action: 'read', outcome: 'success', grantId: 'g_not_emergency',
  });
  clock += 31_000;
  admin = await signInAsAdmin(stack);
});
afterAll(async () => stack?.close());

describe('the emergency access list and an access\'s trail', () => {
  it('lists the open accesses with the practitioners\' reasons, recorded as breakglass_review_list with the administrator as actor', async () => {
    const res = await admin.get('/admin/breakglass');
    expect(res.status).toBe(200);
    expect(res.body).toContain(REASON);
    expect(res.body).toContain('href="/admin/breakglass/bg_console_1"');
    expect(res.body).toContain(stack.demo.practitioner_username!);
    expect(await lastEvent('audit.read', 'breakglass_review_list')).toMatchObject({
      actor: { userId: adminId }, outcome: 'success', resource: '/admin/breakglass', details: { console: 'admin', breakglass_ids: 'bg_console_1', results: 1 },
    });
  });

  it('shows one access with its trail: the phi.* events of its grant only, recorded naming the patient', async () => {
    const res = await admin.get('/admin/breakglass/bg_console_1');
    expect(res.status).toBe(200);
    expect(res.body).toContain(REASON);
    const trail = await searchEvents(stack.ctx.storage.sql, { type: 'phi.accessed', actor: practitionerId, limit: 10 });
    for (const e of trail) {
      expect(res.body.includes(`href="/admin/audit/events/${e.seq}"`), `${e.grantId} ${e.seq}`).toBe(e.grantId === 'g_bg_console_1');
    }
    expect(res.body).toContain('Observation/bg-obs-1');
    expect(res.body).toContain('<button type="submit" class="primary">Record the review</button>');
    expect(await lastEvent('audit.read', 'breakglass_access')).toMatchObject({
      actor: { userId: adminId }, resource: '/admin/breakglass/:id', patient: 'Patient/demo-3', details: { console: 'admin', breakglass_id: 'bg_console_1', trail: 2 },
    });
    expect((await admin.get('/admin/breakglass/bg_nope')).status).toBe(404);
  });
});

describe('recording a review in the console', () => {
  it('refuses a review without the CSRF token (403), changing nothing', async () => {
    const res = await admin.post('/admin/breakglass/bg_console_1/review', { outcome: 'justified' }, { csrf: 'x'.repeat(43) });
    expect(res.status).toBe(403);
    expect((await stack.ctx.storage.breakGlass.get('bg_console_1'))!.reviewedAt).toBeNull();
  });

  it('names a missing outcome next to the choice (400), recording nothing', async () => {
    await admin.get('/admin/breakglass/bg_console_1');
    const res = await admin.post('/admin/breakglass/bg_console_1/review', { note: 'kept' });
    expect(res.status).toBe(400);
    expect(res.body).toContain('<fieldset aria-describedby="outcome-error">');
    expect(res.body).toContain('<p class="error" id="outcome-error">Choose justified or unjustified.</p>');
    expect(res.body).toContain('>kept</textarea>');
    expect((await stack.ctx.storage.breakGlass.get('bg_console_1'))!.reviewedAt).toBeNull();
  });

  it('asks for the second factor when stale, then records the review by the signed-in administrator', async () => {
    clock += (stack.ctx.config.admin_console.step_up_max_age + 1) * 1000;
    await admin.get('/admin/breakglass/bg_console_1');
    const asked = await admin.post('/admin/breakglass/bg_console_1/review', { outcome: 'justified', note: 'Confirmed with the ED roster' });
    expect(asked.status).toBe(200);
    expect(asked.body).toContain('Confirm it is you');
    expect((await stack.ctx.storage.breakGlass.get('bg_console_1'))!.reviewedAt).toBeNull();

    const done = await admin.post('/admin/breakglass/bg_console_1/review', {
      outcome: 'justified', note: 'Confirmed with the ED roster', step_up_code: totpCode(stack.demo.admin_totp_secret!, clock),
    });
    expect([done.status, done.location]).toEqual([303, '/admin/breakglass/bg_console_1?done=reviewed']);
    const stored = (await stack.ctx.storage.breakGlass.get('bg_console_1'))!;
    expect(stored).toMatchObject({ reviewedBy: adminId, reviewOutcome: 'justified', reviewedAt: clock });
    expect(stored.reviewNote).not.toContain('ED roster');
    expect(openAccessText(stack.ctx.masterKey, 'bg_console_1', 'review_note', stored.reviewNote!)).toBe('Confirmed with the ED roster');
    expect(await lastEvent('breakglass.reviewed')).toMatchObject({
      actor: { userId: adminId }, outcome: 'success', action: 'review', resource: 'bg_console_1', patient: 'Patient/demo-3', grantId: 'g_bg_console_1',
      details: { breakglass_id: 'bg_console_1', outcome: 'justified', user_id: practitionerId, has_note: true, via: 'admin_console' },
    });
    const page = await admin.get(done.location!);
    expect(page.body).toContain('<p class="notice" role="status">Your review is recorded.</p>');
    expect(page.body).toContain('Confirmed with the ED roster');
    expect(page.body).not.toContain('Record the review');
    const list = await admin.get('/admin/breakglass');
    expect(list.body).toContain('<span class="badge ok">none waiting</span>');
    expect(list.body).toMatch(/bg_console_1<\/a><\/td>.*justified/s);
  });

  it('keeps the first review: a second one changes nothing', async () => {
    const again = await admin.post('/admin/breakglass/bg_console_1/review', { outcome: 'unjustified' });
    expect([again.status, again.location]).toEqual([303, '/admin/breakglass/bg_console_1?done=already_reviewed']);
    expect((await stack.ctx.storage.breakGlass.get('bg_console_1'))!.reviewOutcome).toBe('justified');
  });

  it('refuses the review of an access the administrator took themself (403), recording nothing', async () => {
    await emergencyAccess('bg_console_self', adminId, 'demo-4');
    const page = await admin.get('/admin/breakglass/bg_console_self');
    expect(page.body).toContain('You took this emergency access yourself: another administrator must review it.');
    expect(page.body).not.toContain('Record the review');
    const before = (await lastEvent('breakglass.reviewed'))!.seq;
    const res = await admin.post('/admin/breakglass/bg_console_self/review', { outcome: 'justified' });
    expect(res.status).toBe(403);
    expect((await stack.ctx.storage.breakGlass.get('bg_console_self'))!.reviewedAt).toBeNull();
    expect((await lastEvent('breakglass.reviewed'))!.seq).toBe(before);
    // The same rule on the service, for the practitioner who took an access.
    await emergencyAccess('bg_service_self', practitionerId, 'demo-5');
    expect(await reviewEmergencyAccess(stack.ctx, { actor: practitionerId, via: 'admin_console' }, 'bg_service_self', { outcome: 'justified' }))
      .toEqual({ ok: false, problem: 'own_access', message: 'You took this emergency access yourself: another administrator must review it.' });
  });
});

describe('the admin API\'s emergency access routes', () => {
  let token: string;
  let clientActor: string;
  beforeAll(async () => {
    token = await adminApiToken(stack);
    clientActor = `client:${stack.demo.admin_client_id}`;
    await emergencyAccess('bg_api_1', practitionerId, 'demo-2');
  });

  it('lists the open accesses with reasons, recorded with the client as actor', async () => {
    const res = await adminApi(stack, 'GET', '/breakglass', token);
    expect(res.status).toBe(200);
    const open = res.json.open as { id: string; reason: string; patient: string }[];
    expect(open.find((a) => a.id === 'bg_api_1')).toMatchObject({ reason: REASON, patient: 'Patient/demo-2', user_id: practitionerId });
    expect((res.json.reviewed as { id: string }[]).map((a) => a.id)).toContain('bg_console_1');
    expect(await lastEvent('audit.read', 'breakglass_review_list')).toMatchObject({ actor: { userId: clientActor }, resource: '/admin/api/breakglass', details: { api: 'admin' } });
  });

  it('gives one access with its trail', async () => {
    const res = await adminApi(stack, 'GET', '/breakglass/bg_api_1', token);
    expect(res.status).toBe(200);
    expect((res.json.trail as AuditEvent[]).map((e) => e.resource)).toEqual(['Observation/bg-obs-1', 'Patient/demo-2']);
    expect(res.json.access).toMatchObject({ id: 'bg_api_1', reason: REASON, review: null });
    expect(await lastEvent('audit.read', 'breakglass_access')).toMatchObject({ actor: { userId: clientActor }, patient: 'Patient/demo-2', details: { api: 'admin', trail: 2 } });
    expect((await adminApi(stack, 'GET', '/breakglass/bg_nope', token)).status).toBe(404);
  });

  it('records a review by the client, once; a bad outcome is invalid_request naming the field', async () => {
    const bad = await adminApi(stack, 'POST', '/breakglass/bg_api_1/review', token, { outcome: 'maybe' });
    expect([bad.status, bad.json.error, bad.json.error_description]).toEqual([400, 'invalid_request', 'outcome: use justified or unjustified']);
    const res = await adminApi(stack, 'POST', '/breakglass/bg_api_1/review', token, { outcome: 'unjustified', note: 'No emergency on the roster' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ id: 'bg_api_1', outcome: 'unjustified', reviewed_by: clientActor });
    expect(await lastEvent('breakglass.reviewed')).toMatchObject({ actor: { userId: clientActor }, resource: 'bg_api_1', details: { outcome: 'unjustified', via: 'admin_api' } });
    const again = await adminApi(stack, 'POST', '/breakglass/bg_api_1/review', token, { outcome: 'justified' });
    expect([again.status, again.json.error]).toEqual([409, 'invalid_request']);
    expect((await adminApi(stack, 'POST', '/breakglass/bg_nope/review', token, { outcome: 'justified' })).status).toBe(404);
  });
});

describe('in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => browser?.close());

  it('an administrator signs in, opens the waiting access, reads its reason and trail, and records the review; every page passes axe', async () => {
    await emergencyAccess('bg_browser_1', practitionerId, 'demo-1');
    clock += 31_000;
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const csp: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });
    await signInAsAdminInChromium(stack, page, clock);

    await page.getByRole('link', { name: 'Emergency access', exact: true }).click();
    await page.getByRole('heading', { name: 'Emergency access' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-breakglass.png'), fullPage: true });

    await page.getByRole('link', { name: /Review bg_browser_1/ }).click();
    await page.getByRole('heading', { name: 'Emergency access bg_browser_1' }).waitFor();
    expect(await page.getByText(REASON).count()).toBe(1);
    expect(await page.getByRole('link', { name: /^\d+$/ }).count()).toBe(2);
    expect(await axeViolations(page)).toEqual([]);
    // Sent without a choice: the problem is named next to it.
    await page.getByRole('button', { name: 'Record the review' }).click();
    await page.getByText('Choose justified or unjustified.').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Justified', { exact: true }).check();
    await page.getByLabel(/^Note/).fill('Cardiac arrest confirmed by the ED lead');
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-breakglass-access.png'), fullPage: true });
    await page.getByRole('button', { name: 'Record the review' }).click();
    await page.getByRole('status').filter({ hasText: 'Your review is recorded.' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    expect(await lastEvent('breakglass.reviewed')).toMatchObject({ actor: { userId: adminId }, resource: 'bg_browser_1', details: { via: 'admin_console' } });
    await emergencyAccess('bg_browser_self', adminId, 'demo-2');
    await page.goto(`${stack.issuer}/admin/breakglass/bg_browser_self`);
    await page.getByText('You took this emergency access yourself').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    expect(csp).toEqual([]);
    await context.close();
  });
});
