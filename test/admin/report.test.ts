// The console's Evidence report and its admin API twin (issue 15): `caduceus report` prepared in the
// background (it verifies the whole ledger), viewed inside the console and downloaded as HTML or
// JSON; every view and download an audit.read event (action evidence_report). Without the
// compliance layer the console and the API say so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { searchEvents } from '../../src/audit/search.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { evidenceBody, EVIDENCE_REPORT_ACTION } from '../../src/admin/console/report.js';
import { buildApp } from '../../src/server/app.js';
import { adminApi, adminApiToken, signInAsAdmin, totpCode, type ConsoleClient, signInAsAdminInChromium } from '../support/admin.js';
import { axeViolations } from '../support/axe.js';
import { launchChromium, SCREENSHOTS } from '../support/chromium.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 5_000;
let admin: ConsoleClient;
let adminId: string;
/** The console's page of a server without the compliance layer (scanned in Chromium below). */
let notAvailablePage = '';

const lastReportRead = async (): Promise<AuditEvent | undefined> =>
  (await searchEvents(stack.ctx.storage.sql, { type: 'audit.read', limit: 50 })).find((e) => e.action === EVIDENCE_REPORT_ACTION);

/** Prepares the report in the console; resolves the job page's URL once it is ready. */
async function prepare(format: 'html' | 'json'): Promise<string> {
  await admin.get('/admin/report');
  const started = await admin.post('/admin/report', { format });
  expect(started.status).toBe(303);
  expect(started.location).toMatch(/^\/admin\/report\/jobs\/[A-Za-z0-9_-]{20,}$/);
  for (let i = 0; i < 100; i++) {
    const page = await admin.get(started.location!);
    if (page.body.includes('badge ok">ready')) return started.location!;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the report was not prepared');
}

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  clock += 31_000;
  admin = await signInAsAdmin(stack);
  adminId = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!.id;
});
afterAll(async () => stack?.close());

describe('the evidence report in the console', () => {
  it('prepares the HTML report in the background and shows it inside the console, recorded as evidence_report (view)', async () => {
    const job = await prepare('html');
    const ready = await admin.get(job);
    expect(ready.body).toContain(`<a href="${job}/view">View it here</a>`);
    expect(ready.body).toContain(`<a href="${job}/download">Download HTML</a>`);
    const before = (await lastReportRead())?.seq ?? -1;
    expect(before).toBe(-1);
    const view = await admin.get(`${job}/view`);
    expect(view.status).toBe(200);
    expect(view.body).toContain('<h1>Evidence report</h1>');
    expect(view.body).toContain('1. Configuration findings');
    expect(view.body).toContain('2. Audit ledger');
    expect(view.body).not.toContain('<style>');
    expect(view.body).not.toContain('<h1>Caduceus compliance evidence</h1>');
    expect(String(view.headers['content-security-policy'])).not.toContain('unsafe-inline');
    expect(await lastReportRead()).toMatchObject({
      type: 'audit.read', outcome: 'success', actor: { userId: adminId }, resource: '/admin/report/jobs/:id/view', details: { console: 'admin', format: 'html', delivery: 'view' },
    });
  });

  it('downloads the HTML report as an attachment, the whole document, recorded as evidence_report (download)', async () => {
    const job = await prepare('html');
    const file = await admin.get(`${job}/download`);
    expect(file.status).toBe(200);
    expect(String(file.headers['content-disposition'])).toMatch(/^attachment; filename="caduceus-evidence-\d{4}-\d{2}-\d{2}\.html"$/);
    expect(file.body.startsWith('<!doctype html>')).toBe(true);
    expect(file.body).toContain('<h1>Caduceus compliance evidence</h1>');
    expect(await lastReportRead()).toMatchObject({ actor: { userId: adminId }, resource: '/admin/report/jobs/:id/download', details: { format: 'html', delivery: 'download' } });
  });

  it('prepares the JSON report for download only', async () => {
    const job = await prepare('json');
    expect((await admin.get(job)).body).not.toContain('View it here');
    expect((await admin.get(`${job}/view`)).status).toBe(404);
    const file = await admin.get(`${job}/download`);
    expect(file.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(String(file.headers['content-disposition'])).toMatch(/filename="caduceus-evidence-.*\.json"$/);
    expect(JSON.parse(file.body)).toHaveProperty('sections.ledger');
    expect(await lastReportRead()).toMatchObject({ details: { format: 'json', delivery: 'download' } });
  });

  it('refuses to prepare without the CSRF token (403) or with an unknown format (400)', async () => {
    await admin.get('/admin/report');
    expect((await admin.post('/admin/report', { format: 'html' }, { csrf: null })).status).toBe(403);
    const bad = await admin.post('/admin/report', { format: 'pdf' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('Format: choose HTML or JSON.');
    expect((await admin.get('/admin/report/jobs/unknown')).status).toBe(404);
  });

  it('keeps the report\'s body only, without its style and its own heading', () => {
    const doc = '<!doctype html><html><head><style>h1{}</style></head><body>\n<h1>Caduceus compliance evidence</h1>\n<h2 id="x">1. Findings</h2></body></html>';
    expect(evidenceBody(doc).trim()).toBe('<h2 id="x">1. Findings</h2>');
  });
});

describe('the admin API\'s report route', () => {
  it('answers the JSON or HTML report as an attachment, recorded with the client as actor', async () => {
    const token = await adminApiToken(stack);
    const res = await adminApi(stack, 'GET', '/report?format=json', token);
    expect(res.status).toBe(200);
    expect(res.json).toHaveProperty('sections.findings');
    expect(String(res.headers['content-disposition'])).toMatch(/^attachment; filename="caduceus-evidence-.*\.json"$/);
    expect(await lastReportRead()).toMatchObject({
      actor: { userId: `client:${stack.demo.admin_client_id}` }, resource: '/admin/api/report', details: { api: 'admin', format: 'json', delivery: 'download' },
    });
    const bad = await adminApi(stack, 'GET', '/report?format=pdf', token);
    expect([bad.status, bad.json.error_description]).toEqual([400, 'format must be json or html']);
  });
});

describe('a server without the compliance layer', () => {
  let bare: FastifyInstance;
  beforeAll(async () => { bare = await buildApp(stack.ctx, {}); });
  afterAll(async () => bare?.close());

  it('says in the console and the API that the report is not available', async () => {
    clock += 31_000;
    const login = await bare.inject({
      method: 'POST', url: '/admin/login', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      payload: new URLSearchParams({ username: stack.demo.admin_username!, password: stack.demo.admin_password!, code: totpCode(stack.demo.admin_totp_secret!, clock) }).toString(),
    });
    expect(login.statusCode).toBe(303);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const page = await bare.inject({ method: 'GET', url: '/admin/report', headers: { cookie, accept: 'text/html' } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('The evidence report is not available in this server process');
    expect(page.body).not.toContain('Prepare the report');
    notAvailablePage = page.body;
    const token = await adminApiToken(stack);
    const api = await bare.inject({ method: 'GET', url: '/admin/api/report', headers: { authorization: `Bearer ${token}` } });
    expect([api.statusCode, api.json().error]).toEqual([404, 'not_found']);
  });
});

describe('in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => browser?.close());

  it('an administrator prepares the report and reads it in the console; every page passes axe', async () => {
    clock += 31_000;
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const csp: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });
    await signInAsAdminInChromium(stack, page, clock);

    await page.getByRole('link', { name: 'Evidence report' }).click();
    await page.getByRole('heading', { name: 'Evidence report' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Prepare the report' }).click();
    for (let i = 0; i < 50 && !(await page.getByText('The HTML report is ready.').count()); i++) {
      await page.waitForTimeout(200);
      await page.reload();
    }
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('link', { name: 'View it here' }).click();
    await page.getByRole('heading', { name: '2. Audit ledger' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-report.png'), fullPage: true });
    expect(await lastReportRead()).toMatchObject({ details: { delivery: 'view' } });
    expect(notAvailablePage).toContain('not available');
    await page.setContent(notAvailablePage);
    await page.waitForLoadState();
    expect(await axeViolations(page)).toEqual([]);
    expect(csp).toEqual([]);
    await context.close();
  });
});
