// The console's Audit section and its admin API twin (issue 15): search with keyset paging, an
// event's inclusion proof verified in the page, the whole-ledger verification as a background job,
// the export (step-up), and a patient's accounting of disclosures; every read an audit.read event
// with the administrator (or the API client) as actor, naming filters but never their values.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { request } from 'undici';
import { latestCheckpoint } from '../../src/audit/proofs.js';
import { searchEvents } from '../../src/audit/search.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { AUDIT_PAGE_SIZE, jobBody } from '../../src/admin/console/audit.js';
import { AdminJobs } from '../../src/admin/console/jobs.js';
import { adminPage } from '../../src/admin/console/layout.js';
import { html } from '../../src/http/html.js';
import { LEDGER_VERIFY_ACTION } from '../../src/admin/console/overview.js';
import { adminApi, adminApiToken, consoleClient, signInAsAdmin, totpCode, type ConsoleClient, signInAsAdminInChromium } from '../support/admin.js';
import { axeViolations } from '../support/axe.js';
import { launchChromium, SCREENSHOTS } from '../support/chromium.js';
import { startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';

let stack: TestStack;
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 5_000;
let admin: ConsoleClient;
let adminId: string;

const PATIENT = 'Patient/p-audit';
const OTHER_PATIENT = 'Patient/p-other';

/** The newest audit.read and audit.verified events, newest first. */
const reads = async (): Promise<AuditEvent[]> => searchEvents(stack.ctx.storage.sql, { type: ['audit.read', 'audit.verified'], limit: 50 });
const lastRead = async (action: string): Promise<AuditEvent | undefined> => (await reads()).find((e) => e.action === action);
const ledgerSizeNow = async () => (await searchEvents(stack.ctx.storage.sql, { limit: 1 }))[0]!.seq + 1;

async function signIn(): Promise<ConsoleClient> {
  clock += 31_000;
  return signInAsAdmin(stack);
}

/** Waits until a signed checkpoint covers event `seq` (the ledger signs one within a second of a commit). */
async function checkpointCovering(seq: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (((await latestCheckpoint(stack.ctx.storage.sql))?.size ?? 0) > seq) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no checkpoint covers ${seq}`);
}

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  for (let i = 0; i < AUDIT_PAGE_SIZE + 10; i++) {
    await stack.ctx.audit.record({
      type: 'phi.accessed', actor: { userId: 'u-reader', clientId: stack.demo.client_id }, patient: PATIENT, resource: `Observation/o-${i}`,
      action: 'read', outcome: 'success', scopes: { used: 'patient/Observation.rs' }, details: { route: 'fhir', status: 200, purposeOfUse: 'TREAT' },
    });
  }
  await stack.ctx.audit.record({ type: 'phi.accessed', actor: { userId: 'u-reader', clientId: stack.demo.client_id }, patient: OTHER_PATIENT, resource: 'Patient/p-other', action: 'read', outcome: 'success' });
  admin = await signIn();
  adminId = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!.id;
});
afterAll(async () => stack?.close());

describe('searching the ledger in the console', () => {
  it('lists a patient\'s events newest first and pages to older ones; each page is an audit.read naming the filters, not their values', async () => {
    const first = await admin.get(`/admin/audit?patient=${encodeURIComponent(PATIENT)}`);
    expect(first.status).toBe(200);
    const seqs = [...first.body.matchAll(/<a href="\/admin\/audit\/events\/(\d+)">/g)].map((m) => Number(m[1]));
    expect(seqs).toHaveLength(AUDIT_PAGE_SIZE);
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);
    expect(first.body).not.toContain(OTHER_PATIENT);
    const read = await lastRead('search');
    expect(read).toMatchObject({
      type: 'audit.read', outcome: 'success', actor: { userId: adminId }, resource: '/admin/audit', patient: PATIENT,
      details: { console: 'admin', filters: 'patient,limit', results: AUDIT_PAGE_SIZE },
    });

    const older = /href="(\/admin\/audit\?[^"]*before_seq=(\d+))"/.exec(first.body);
    expect(older?.[2]).toBe(String(seqs[seqs.length - 1]));
    const second = await admin.get(older![1]!.replace(/&amp;/g, '&'));
    const rest = [...second.body.matchAll(/<a href="\/admin\/audit\/events\/(\d+)">/g)].map((m) => Number(m[1]));
    expect(rest).toHaveLength(10);
    expect(Math.max(...rest)).toBeLessThan(Math.min(...seqs));
    expect(second.body).not.toContain('Older events');
    expect(second.body).toContain('Newest events');
    expect(await lastRead('search')).toMatchObject({ patient: PATIENT, details: { filters: 'patient,beforeSeq,limit', results: 10 } });
  });

  it('takes a username for the user filter and records that a user filter was used, never which', async () => {
    const res = await admin.get(`/admin/audit?actor=${encodeURIComponent(stack.demo.admin_username!)}&type=login.succeeded`);
    expect(res.status).toBe(200);
    const found = await searchEvents(stack.ctx.storage.sql, { actor: adminId, type: 'login.succeeded', limit: 1 });
    expect(res.body).toContain(`/admin/audit/events/${found[0]!.seq}"`);
    const read = await lastRead('search');
    expect(read).toMatchObject({ details: { filters: 'actor,type,limit' } });
    expect(JSON.stringify(read)).not.toContain(stack.demo.admin_username!);
    expect(read!.patient).toBeUndefined();
  });

  it('names a bad filter next to its field (400) and reads nothing', async () => {
    const before = (await reads())[0]!.seq;
    const res = await admin.get('/admin/audit?since=2025-02-30&patient=p-audit');
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/id="f-since"[^>]*aria-describedby="f-since-error"[^>]*aria-invalid="true"/);
    expect(res.body).toContain('<p class="error" id="f-since-error">since is not a valid date');
    expect(res.body).toContain('value="p-audit"');
    expect((await reads())[0]!.seq).toBe(before);
  });

  it('sends a visitor without a console session to sign in, reading nothing', async () => {
    const before = (await reads())[0]!.seq;
    const res = await consoleClient(stack).get('/admin/audit?patient=p-audit');
    expect([res.status, res.location]).toEqual([303, '/admin/login?next=%2Fadmin%2Faudit%3Fpatient%3Dp-audit']);
    expect((await reads())[0]!.seq).toBe(before);
  });
});

describe('an event and its inclusion proof', () => {
  it('shows the event with its proof verified against the signed checkpoint, and records the read with the patient', async () => {
    const [event] = await searchEvents(stack.ctx.storage.sql, { patient: OTHER_PATIENT, limit: 1 });
    await checkpointCovering(event!.seq);
    const res = await admin.get(`/admin/audit/events/${event!.seq}`);
    expect(res.status).toBe(200);
    expect(res.body).toContain('<span class="badge ok">verified</span>');
    const checkpoint = (await latestCheckpoint(stack.ctx.storage.sql))!;
    expect(res.body).toContain(checkpoint.rootHash.toString('hex'));
    expect(res.body).toContain(`${checkpoint.size} events, signed`);
    expect(await lastRead('event')).toMatchObject({
      actor: { userId: adminId }, resource: '/admin/audit/events/:seq', patient: OTHER_PATIENT, details: { console: 'admin', seq: event!.seq },
    });
  });

  it('says an event newer than the latest checkpoint is not covered yet, and 404s an unknown seq', async () => {
    const size = await ledgerSizeNow();
    const res = await admin.get(`/admin/audit/events/${size - 1}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/badge (warn">not yet covered|ok">verified)/);
    const missing = await admin.get('/admin/audit/events/99999999');
    expect(missing.status).toBe(404);
    expect((await admin.get('/admin/audit/events/abc')).status).toBe(404);
  });
});

describe('verifying the whole ledger', () => {
  it('runs as a job, shows the verdict, records verify_ledger with outcome success, and the overview shows it', async () => {
    const started = await admin.post('/admin/audit/verify', {});
    expect(started.status).toBe(303);
    expect(started.location).toMatch(/^\/admin\/audit\/jobs\/[A-Za-z0-9_-]{20,}$/);
    let page = await admin.get(started.location!);
    for (let i = 0; i < 50 && !page.body.includes('intact'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      page = await admin.get(started.location!);
    }
    expect(page.status).toBe(200);
    expect(page.body).toContain('<span class="badge ok">intact</span> The ledger verified');
    expect(page.body).not.toContain('http-equiv="refresh"');
    expect(await lastRead(LEDGER_VERIFY_ACTION)).toMatchObject({
      type: 'audit.verified', outcome: 'success', actor: { userId: adminId }, resource: '/admin/audit/verify', details: { console: 'admin', signatures_checked: true },
    });
    const overview = await admin.get('/admin');
    expect(overview.body).toContain('<span class="badge ok">intact</span>');
  });

  it('refuses a verification POST without the CSRF token (403), starting nothing', async () => {
    const before = (await reads()).filter((e) => e.action === LEDGER_VERIFY_ACTION).length;
    const res = await admin.post('/admin/audit/verify', {}, { csrf: 'x'.repeat(43) });
    expect(res.status).toBe(403);
    await new Promise((r) => setTimeout(r, 300));
    expect((await reads()).filter((e) => e.action === LEDGER_VERIFY_ACTION).length).toBe(before);
  });
});

describe('exporting a search', () => {
  it('asks for the second factor again when the last check is stale, then downloads NDJSON as an attachment, recorded as export', async () => {
    clock += (stack.ctx.config.admin_console.step_up_max_age + 1) * 1000;
    await admin.get('/admin/audit');
    const asked = await admin.post('/admin/audit/export', { patient: 'p-audit', type: 'phi.accessed', format: 'ndjson' });
    expect(asked.status).toBe(200);
    expect(asked.body).toContain('Confirm it is you');
    expect(asked.body).toContain('name="patient" value="p-audit"');
    expect(await lastRead('export')).toBeUndefined();

    const res = await admin.post('/admin/audit/export', { patient: 'p-audit', type: 'phi.accessed', format: 'ndjson', step_up_code: totpCode(stack.demo.admin_totp_secret!, clock) });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(String(res.headers['content-disposition'])).toMatch(/^attachment; filename="caduceus-audit-\d{4}-\d{2}-\d{2}\.ndjson"$/);
    const lines = res.body.trim().split('\n').map((l) => JSON.parse(l) as AuditEvent);
    expect(lines).toHaveLength(AUDIT_PAGE_SIZE + 10);
    expect(new Set(lines.map((e) => e.patient))).toEqual(new Set([PATIENT]));
    expect(await lastRead('export')).toMatchObject({
      actor: { userId: adminId }, resource: '/admin/audit/export', patient: PATIENT, details: { console: 'admin', format: 'ndjson', filters: 'patient,type' },
    });
    const stepUp = await searchEvents(stack.ctx.storage.sql, { type: 'login.succeeded', actor: adminId, limit: 1 });
    expect(stepUp[0]).toMatchObject({ action: 'step_up', details: { console: 'admin' } });
  });

  it('exports FHIR R4 AuditEvent resources once the factor is fresh', async () => {
    const res = await admin.post('/admin/audit/export', { patient: PATIENT, type: 'phi.accessed', format: 'fhir' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/fhir+ndjson');
    const first = JSON.parse(res.body.split('\n')[0]!) as { resourceType: string; entity: { what?: { reference?: string } }[] };
    expect(first.resourceType).toBe('AuditEvent');
    expect(await lastRead('export')).toMatchObject({ details: { format: 'fhir', filters: 'patient,type' } });
  });

  it('refuses an export without the CSRF token (403) and exports nothing', async () => {
    const before = (await reads())[0]!.seq;
    const res = await admin.post('/admin/audit/export', { patient: PATIENT, format: 'ndjson' }, { csrf: null });
    expect(res.status).toBe(403);
    expect(res.body).not.toContain('"seq"');
    expect((await reads())[0]!.seq).toBe(before);
  });
});

describe('a patient\'s accounting of disclosures', () => {
  it('shows the disclosures print-ready, with the organisation, and records the read naming the patient', async () => {
    clock += 1000;
    const res = await admin.get('/admin/audit/disclosures?patient=p-audit');
    expect(res.status).toBe(200);
    expect(res.body).toContain(`${AUDIT_PAGE_SIZE + 10} disclosure(s), oldest first`);
    const client = (await stack.ctx.storage.clients.get(stack.demo.client_id))!;
    expect(res.body).toContain(client.name);
    expect(res.body).toContain('treatment');
    expect(await lastRead('disclosures')).toMatchObject({
      actor: { userId: adminId }, resource: '/admin/audit/disclosures', patient: PATIENT, details: { console: 'admin', filters: 'patient', results: AUDIT_PAGE_SIZE + 10, format: 'html' },
    });
  });

  it('downloads CSV and the patient\'s HTML copy as attachments, each read recorded', async () => {
    const csv = await admin.get('/admin/audit/disclosures/download?patient=p-audit&format=csv');
    expect(csv.status).toBe(200);
    expect(String(csv.headers['content-disposition'])).toMatch(/^attachment; filename="disclosures-p-audit-\d{4}-\d{2}-\d{2}\.csv"$/);
    expect(csv.body.split('\r\n')[0]).toBe('seq,date,organisation,client_id,user_id,resource,action,scope,purpose_of_use,outcome,request_id');
    expect(csv.body.trim().split('\r\n')).toHaveLength(AUDIT_PAGE_SIZE + 11);
    expect(await lastRead('disclosures')).toMatchObject({ patient: PATIENT, details: { format: 'csv' } });
    const page = await admin.get('/admin/audit/disclosures/download?patient=Patient/p-audit&format=html');
    expect(page.body).toContain('<h1>Accounting of disclosures of your health information</h1>');
    expect(await lastRead('disclosures')).toMatchObject({ patient: PATIENT, details: { format: 'html' } });
  });

  it('names a missing patient or a bad period next to its field', async () => {
    const res = await admin.get('/admin/audit/disclosures?patient=&since=2026-01-01');
    expect(res.status).toBe(400);
    expect(res.body).toContain('<p class="error" id="d-patient-error">patient: enter the patient');
    const period = await admin.get('/admin/audit/disclosures?patient=p-audit&since=2026-02-01&until=2026-01-01');
    expect(period.body).toContain('<p class="error" id="d-until-error">until must be after since');
  });
});

describe('the admin API\'s audit routes', () => {
  let token: string;
  let clientActor: string;
  beforeAll(async () => {
    token = await adminApiToken(stack);
    clientActor = `client:${stack.demo.admin_client_id}`;
  });

  it('declares every route of the audit, emergency access and report sections in the OpenAPI document', async () => {
    const doc = (await adminApi(stack, 'GET', '/openapi.json', undefined)).json as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .filter((r) => /\/admin\/api\/(audit|breakglass|report)/.test(r)).sort();
    expect(routes).toEqual([
      'GET /admin/api/audit/disclosures', 'GET /admin/api/audit/events', 'GET /admin/api/audit/events/{seq}', 'GET /admin/api/audit/export',
      'GET /admin/api/audit/verify/{jobId}', 'GET /admin/api/breakglass', 'GET /admin/api/breakglass/{id}', 'GET /admin/api/report',
      'POST /admin/api/audit/verify', 'POST /admin/api/breakglass/{id}/review',
    ]);
  });

  it('searches with keyset paging, recorded with the client as actor', async () => {
    const page = await adminApi(stack, 'GET', `/audit/events?patient=p-audit&type=phi.accessed&limit=40`, token);
    expect(page.status).toBe(200);
    const events = page.json.events as AuditEvent[];
    expect(events).toHaveLength(40);
    expect(page.json.next_before_seq).toBe(events[39]!.seq);
    const next = await adminApi(stack, 'GET', `/audit/events?patient=p-audit&type=phi.accessed&limit=40&before_seq=${page.json.next_before_seq}`, token);
    expect((next.json.events as AuditEvent[]).length).toBe(AUDIT_PAGE_SIZE + 10 - 40);
    expect(next.json.next_before_seq).toBeUndefined();
    expect(await lastRead('search')).toMatchObject({
      actor: { userId: clientActor, clientId: stack.demo.admin_client_id }, resource: '/admin/api/audit/events', patient: PATIENT,
      details: { api: 'admin', filters: 'patient,type,beforeSeq,limit' },
    });
  });

  it('answers invalid_request naming the field', async () => {
    const bad = await adminApi(stack, 'GET', '/audit/events?outcome=maybe', token);
    expect([bad.status, bad.json.error, bad.json.error_description]).toEqual([400, 'invalid_request', 'outcome must be success, denied or error']);
    const big = await adminApi(stack, 'GET', '/audit/events?limit=5000', token);
    expect([big.status, big.json.error_description]).toEqual([400, 'limit must be an integer from 1 to 1000']);
  });

  it('gives one event with its verified inclusion proof', async () => {
    const [event] = await searchEvents(stack.ctx.storage.sql, { patient: OTHER_PATIENT, limit: 1 });
    // Checkpoints are signed every audit.checkpoint_interval_ms: wait until one covers the event.
    let res = await adminApi(stack, 'GET', `/audit/events/${event!.seq}`, token);
    for (let i = 0; i < 50 && (res.json.inclusion as { state?: string } | undefined)?.state === 'not_covered'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      res = await adminApi(stack, 'GET', `/audit/events/${event!.seq}`, token);
    }
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ event: { seq: event!.seq, patient: OTHER_PATIENT }, inclusion: { state: 'verified', proof: { leaf_index: event!.seq } } });
    expect(await lastRead('event')).toMatchObject({ actor: { userId: clientActor }, patient: OTHER_PATIENT, details: { api: 'admin', seq: event!.seq } });
    expect((await adminApi(stack, 'GET', '/audit/events/99999999', token)).status).toBe(404);
  });

  it('verifies the ledger in the background (202, then the job) and records verify_ledger with the client as actor', async () => {
    const started = await adminApi(stack, 'POST', '/audit/verify', token);
    expect(started.status).toBe(202);
    expect(started.headers.location).toBe(`/admin/api/audit/verify/${started.json.job_id}`);
    let job = started.json;
    for (let i = 0; i < 50 && job.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await adminApi(stack, 'GET', `/audit/verify/${started.json.job_id}`, token)).json;
    }
    expect(job).toMatchObject({ state: 'done', verdict: { ok: true, signaturesChecked: true } });
    expect(job.checked).toBe(job.total);
    expect(await lastRead(LEDGER_VERIFY_ACTION)).toMatchObject({ outcome: 'success', actor: { userId: clientActor }, resource: '/admin/api/audit/verify', details: { api: 'admin' } });
  });

  it('streams an export as NDJSON, recorded before the first line', async () => {
    const res = await request(`${stack.issuer}/admin/api/audit/export?patient=p-audit&type=phi.accessed&format=fhir`, { dispatcher: trustingDispatcher(stack.ca), headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/fhir+ndjson');
    expect(String(res.headers['content-disposition'])).toMatch(/^attachment; filename="caduceus-audit-.*\.fhir\.ndjson"$/);
    const lines = (await res.body.text()).trim().split('\n');
    expect(lines).toHaveLength(AUDIT_PAGE_SIZE + 10);
    expect(await lastRead('export')).toMatchObject({ actor: { userId: clientActor }, patient: PATIENT, details: { api: 'admin', format: 'fhir', filters: 'patient,type' } });
  });

  it('gives the accounting of disclosures as JSON (and CSV), recorded naming the patient', async () => {
    clock += 1000;
    const res = await adminApi(stack, 'GET', '/audit/disclosures?patient=p-audit', token);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ patient: PATIENT });
    expect((res.json.disclosures as unknown[]).length).toBe(AUDIT_PAGE_SIZE + 10);
    expect(await lastRead('disclosures')).toMatchObject({ actor: { userId: clientActor }, patient: PATIENT, details: { api: 'admin', format: 'json' } });
    const csv = await request(`${stack.issuer}/admin/api/audit/disclosures?patient=p-audit&format=csv`, { dispatcher: trustingDispatcher(stack.ca), headers: { authorization: `Bearer ${token}` } });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect((await csv.body.text()).startsWith('seq,date,')).toBe(true);
    const missing = await adminApi(stack, 'GET', '/audit/disclosures?patient=', token);
    expect([missing.status, missing.json.error_description]).toEqual([400, 'patient: enter the patient whose disclosures to account for, such as Patient/123']);
  });
});

describe('in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => browser?.close());

  it('an administrator searches the ledger, opens an event with its verified proof, verifies the ledger and prints an accounting; every page passes axe', async () => {
    clock += 31_000;
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const csp: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });
    await signInAsAdminInChromium(stack, page, clock);

    await page.getByRole('link', { name: 'Audit', exact: true }).click();
    await page.getByRole('heading', { name: 'Search the ledger' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Patient', { exact: true }).fill('p-audit');
    await page.getByLabel('Event type').selectOption('phi.accessed');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Older events' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-audit.png'), fullPage: true });
    const searched = await lastRead('search');
    expect(searched).toMatchObject({ actor: { userId: adminId }, patient: PATIENT, details: { filters: 'patient,type,limit' } });

    const [event] = await searchEvents(stack.ctx.storage.sql, { patient: PATIENT, type: 'phi.accessed', limit: 1 });
    await checkpointCovering(event!.seq);
    await page.getByRole('link', { name: String(event!.seq), exact: true }).click();
    await page.getByRole('heading', { name: `Event ${event!.seq}` }).waitFor();
    expect(await page.getByText('verified', { exact: true }).count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-audit-event.png'), fullPage: true });

    await page.goto(`${stack.issuer}/admin/audit?since=2025-02-30`);
    expect(await page.getByText('since is not a valid date').count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);

    await page.getByRole('button', { name: 'Verify the whole ledger' }).click();
    await page.getByRole('heading', { name: 'Ledger verification' }).waitFor();
    for (let i = 0; i < 50 && !(await page.getByText('intact').count()); i++) {
      await page.waitForTimeout(100);
      await page.reload();
    }
    expect(await page.getByText('intact').count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);

    // A running job's page, as the server renders it (a short ledger never shows it): without
    // reloading it passes; reloading itself, which the administrator must ask for, is what axe's
    // meta-refresh rule (WCAG 2.2.1) reports, and nothing else.
    const running = new AdminJobs(() => clock).start('verify_ledger', adminId, () => new Promise(() => undefined));
    running.done = 2000;
    running.total = 4500;
    for (const auto of [false, true]) {
      const shown = jobBody(running, { url: '/admin/audit/jobs/x', auto, running: 'Verifying the ledger…', done: () => html`` });
      await page.setContent(adminPage({ title: 'Ledger verification', username: 'a', csrf: 'c', section: '/audit', body: shown.body, ...(auto ? { refreshSeconds: 600 } : {}) }));
      await page.waitForLoadState();
      expect((await axeViolations(page)).map((v) => v.id)).toEqual(auto ? ['meta-refresh'] : []);
    }

    await page.goto(`${stack.issuer}/admin/audit/events/99999999`);
    expect(await axeViolations(page)).toEqual([]);
    await page.goto(`${stack.issuer}/admin/audit/disclosures?patient=`);
    expect(await page.getByText('patient: enter the patient').count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);

    await page.goto(`${stack.issuer}/admin/audit`);
    await page.getByRole('link', { name: 'A patient\'s accounting of disclosures' }).click();
    await page.getByLabel('Patient', { exact: true }).fill('p-audit');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('heading', { name: PATIENT }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-audit-disclosures.png'), fullPage: true });
    // Print-ready: the navigation and the forms are left out of the printout.
    await page.emulateMedia({ media: 'print' });
    expect(await page.getByRole('navigation', { name: 'Console sections' }).isVisible()).toBe(false);
    expect(await page.getByRole('button', { name: 'Show' }).isVisible()).toBe(false);
    expect(await page.getByRole('table').isVisible()).toBe(true);
    expect(csp).toEqual([]);
    await context.close();
  }, 120_000);
});
