// Emergency access in a real browser (Debian's Chromium via playwright-core) on a phone: the
// practitioner opens the disclosure, finds the patient by family name and date of birth, chooses
// them, and requests access. A too-short reason keeps everything typed and puts the error next to
// the reason field (aria-describedby, aria-invalid), with the disclosure still open; the request
// then reaches the client with a code for an ETREAT token of that patient. Screenshots go to SCREENSHOTS.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { addUser } from '../../src/admin/users.js';
import { base32Decode, totp } from '../../src/interaction/mfa/totp.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { authorizationUrl, post, relyingParty, type Rp } from '../support/flows.js';

const PASSWORD = 'correct horse battery staple';

let stack: TestStack;
let rp: Rp;
let browser: Browser;
const clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  rp = await relyingParty(stack);
  const app = (await stack.ctx.storage.clients.get(stack.demo.client_id))!;
  await stack.ctx.storage.clients.upsert({ ...app, scope: `${app.scope} launch/patient` });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });

test('a practitioner finds a patient by name and date of birth, corrects the reason without retyping, and gets emergency access', async () => {
  const doctor = await addUser({ storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' }, { username: 'dr.browser.bg', password: PASSWORD, role: 'practitioner' });
  await stack.ctx.storage.users.setPatientPanel(doctor.id, ['demo-1']);
  await stack.ctx.storage.users.setBreakGlass(doctor.id, true);
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  let callback: URL | undefined;
  await page.route(`${stack.demo.redirect_uri}**`, async (route) => {
    callback = new URL(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'client callback' });
  });

  const { url, verifier } = await authorizationUrl(rp, { scope: 'openid launch/patient patient/Observation.rs' });
  await page.goto(url.href);
  await page.getByLabel('Username').fill('dr.browser.bg');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const secret = (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
  await page.getByLabel('6-digit code').fill(totp(base32Decode(secret), clock));
  await page.getByRole('button', { name: 'Verify and continue' }).click();
  await page.getByRole('link', { name: 'I have saved them, continue' }).click();

  // Closed at first; the summary opens it.
  const disclosure = page.locator('details.break-glass');
  expect(await disclosure.evaluate((d: HTMLDetailsElement) => d.open)).toBe(false);
  await page.getByText('Emergency access to another patient').click();
  await page.getByLabel('Family name').fill('fixture');
  await page.getByLabel('Date of birth').fill('1973-09-01');
  await shot(page, 'break-glass-search-phone.png');
  await page.getByRole('button', { name: 'Find patient' }).click();

  const found = page.getByRole('group', { name: 'Patients found' });
  await found.waitFor();
  const choice = page.getByRole('radio', { name: /Cedar Fixture \(born 1973-09-01\)/ });
  expect(await choice.isChecked()).toBe(true);
  expect(await found.textContent()).toContain('MRN DEMO-000003 · Patient demo-3');
  // What was typed is still there.
  expect(await page.getByLabel('Family name').inputValue()).toBe('fixture');
  expect(await page.getByLabel('Date of birth').inputValue()).toBe('1973-09-01');

  // A reason that is too short (the browser's own check is bypassed, as an older browser would).
  await page.locator('#bg-reason').evaluate((el: HTMLTextAreaElement) => el.removeAttribute('minlength'));
  await page.getByLabel('Reason (required)').fill('urgent');
  await page.getByRole('button', { name: 'Request emergency access' }).click();
  const reason = page.getByLabel('Reason (required)');
  await page.locator('#bg-reason-error').waitFor();
  expect(await disclosure.evaluate((d: HTMLDetailsElement) => d.open)).toBe(true);
  expect(await reason.inputValue()).toBe('urgent');
  expect(await reason.getAttribute('aria-invalid')).toBe('true');
  // The field's description is the error, for screen readers as for eyes, right under the field.
  expect(await reason.evaluate((el) => document.getElementById(el.getAttribute('aria-describedby')!)!.textContent)).toBe('State the reason for emergency access (10 to 1000 characters).');
  const [field, error] = await Promise.all([reason.boundingBox(), page.locator('#bg-reason-error').boundingBox()]);
  expect(error!.y).toBeGreaterThan(field!.y);
  expect(error!.y - (field!.y + field!.height)).toBeLessThan(40);
  expect(await page.getByLabel('Family name').inputValue()).toBe('fixture');
  expect(await page.getByRole('radio', { name: /Cedar Fixture/ }).isChecked()).toBe(true);
  // Nothing at the top of the page.
  expect(await page.locator('h1 + p.error').count()).toBe(0);
  await shot(page, 'break-glass-reason-error-phone.png');

  await reason.fill('Unconscious in the ED, allergy list needed');
  await page.getByRole('button', { name: 'Request emergency access' }).click();
  await expect.poll(() => callback?.searchParams.get('code') ?? null, { timeout: 10_000 }).not.toBeNull();
  const tokens = await post(rp, rp.as.token_endpoint!, {
    grant_type: 'authorization_code', code: callback!.searchParams.get('code')!, redirect_uri: stack.demo.redirect_uri, code_verifier: verifier,
  });
  expect(tokens.json).toMatchObject({ patient: 'demo-3', purpose_of_use: 'ETREAT' });
  expect(cspViolations).toEqual([]);
  await context.close();
}, 120_000);
