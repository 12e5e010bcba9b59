// The sign-in security page in a real browser (Debian's Chromium via playwright-core) on a phone:
// a patient adds an authenticator app, lands (after a redirect, the codes never in a URL) on the
// one page that shows the recovery codes, copies them with the Copy button (same-origin page
// script, strict CSP), prints them (the print layout keeps the codes and drops the controls), finds
// them gone on reload, and removes the app again after confirming with a code. Screenshots go to SCREENSHOTS.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { addUser } from '../../src/admin/users.js';
import { base32Decode, totp } from '../../src/interaction/mfa/totp.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { startTestStack, type TestStack } from '../support/stack.js';

const PASSWORD = 'correct horse battery staple';

let stack: TestStack;
let browser: Browser;
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });

test('recovery codes are shown once after a redirect, copied and printed; the app is removed after a second step', async () => {
  const user = await addUser({ storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' }, { username: 'pat.codes', password: PASSWORD, role: 'patient' });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.issuer });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  page.on('pageerror', (e) => cspViolations.push(`page error: ${e.message}`));

  await page.goto(`${stack.issuer}/account`);
  await page.getByLabel('Username').fill('pat.codes');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Sign-in security (two-step verification)' }).click();
  await page.getByRole('link', { name: 'Set up an authenticator app' }).click();
  const secret = (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
  await page.getByLabel('6-digit code').fill(totp(base32Decode(secret), clock));
  await page.getByRole('button', { name: 'Verify and continue' }).click();

  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  expect(page.url()).toBe(`${stack.issuer}/account/security/recovery-codes`);
  const codes = (await page.locator('ol.codes li').allTextContents()).map((c) => c.trim());
  expect(codes).toHaveLength(10);

  const copy = page.getByRole('button', { name: 'Copy codes' });
  await copy.click();
  await page.getByRole('status').filter({ hasText: 'Copied to the clipboard.' }).waitFor();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(codes.join('\n'));

  // Print: the button opens the print dialog; the print layout shows the codes and what they are, no controls.
  await page.evaluate(() => { (window as unknown as { printed: number }).printed = 0; window.print = () => { (window as unknown as { printed: number }).printed += 1; }; });
  await page.getByRole('button', { name: 'Print codes' }).click();
  expect(await page.evaluate(() => (window as unknown as { printed: number }).printed)).toBe(1);
  await shot(page, 'recovery-codes-phone.png');
  await page.emulateMedia({ media: 'print' });
  expect(await page.getByText('Caduceus recovery codes, created').isVisible()).toBe(true);
  expect(await page.locator('ol.codes').isVisible()).toBe(true);
  expect(await copy.isVisible()).toBe(false);
  expect(await page.getByRole('link', { name: 'I have saved them, continue' }).isVisible()).toBe(false);
  await shot(page, 'recovery-codes-print.png');
  await page.emulateMedia({ media: 'screen' });

  // Shown once: a reload lands on the security page, which lists the app and no longer offers adding one.
  await page.reload();
  await page.getByRole('heading', { name: 'Sign-in security' }).waitFor();
  expect(page.url()).toBe(`${stack.issuer}/account/security`);
  expect(await page.getByRole('link', { name: 'Set up an authenticator app' }).count()).toBe(0);
  await shot(page, 'account-security-factors-phone.png');

  await page.getByRole('link', { name: /^Remove the authenticator app/ }).click();
  await page.getByRole('heading', { name: 'Remove the authenticator app?' }).waitFor();
  clock += 30_000;
  await page.getByLabel('6-digit code from your authenticator app').fill(totp(base32Decode(secret), clock));
  await page.getByRole('button', { name: 'Remove', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Authenticator app removed.' }).waitFor();
  expect(page.url()).toBe(`${stack.issuer}/account/security`);
  expect(await stack.ctx.storage.mfaFactors.listByUser(user.id)).toEqual([]);
  expect(await page.getByRole('link', { name: 'Set up an authenticator app' }).isVisible()).toBe(true);
  expect(cspViolations).toEqual([]);
  await context.close();
}, 120_000);
