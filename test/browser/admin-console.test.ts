// The admin console in Chromium (issue 15): an administrator signs in with password and second
// factor, the overview renders under the pages' CSP with no accessibility violation, a forged form
// is refused with nothing changed, a non-administrator is refused, and an idle session ends.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { searchEvents } from '../../src/audit/search.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { axeViolations } from '../support/axe.js';
import { totpCode } from '../support/admin.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let browser: Browser;
let clock = Date.now();

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function signIn(context: BrowserContext, username: string, password: string, code: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${stack.issuer}/admin`);
  await page.getByRole('heading', { name: 'Sign in to the admin console' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Code from your authenticator app, or a recovery code').fill(code);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('domcontentloaded');
  return page;
}

test('an administrator signs in with a second factor and sees the overview, accessible and script-free', async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const csp: string[] = [];
  const page = await context.newPage();
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });
  await page.goto(`${stack.issuer}/admin/login`);
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-sign-in.png'), fullPage: true });
  await page.close();

  clock += 31_000;
  const signedIn = await signIn(context, stack.demo.admin_username!, stack.demo.admin_password!, totpCode(stack.demo.admin_totp_secret!, clock));
  await signedIn.getByRole('heading', { name: 'Overview' }).waitFor();
  await expect(signedIn.getByRole('heading', { name: 'Compliance findings' }).isVisible()).resolves.toBe(true);
  await expect(signedIn.getByRole('navigation', { name: 'Console sections' }).isVisible()).resolves.toBe(true);
  expect(await axeViolations(signedIn)).toEqual([]);
  await signedIn.screenshot({ path: join(SCREENSHOTS, 'admin-overview.png'), fullPage: true });
  const cookie = (await context.cookies(stack.issuer)).find((c) => c.name === '__Host-caduceus-admin')!;
  expect(cookie).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax', path: '/' });
  expect((await context.cookies(stack.issuer)).some((c) => c.name === '__Host-caduceus-session')).toBe(false);
  expect(csp).toEqual([]);

  // A form whose CSRF token was tampered with is refused, and the session stays.
  await signedIn.evaluate(() => { (document.querySelector('form.signout input[name=csrf]') as HTMLInputElement).value = 'forged'; });
  await signedIn.getByRole('button', { name: 'Sign out' }).click();
  await signedIn.waitForLoadState('domcontentloaded');
  await signedIn.goto(`${stack.issuer}/admin`);
  await expect(signedIn.getByRole('heading', { name: 'Overview' }).isVisible()).resolves.toBe(true);

  // Signing out for real ends it.
  await signedIn.getByRole('button', { name: 'Sign out' }).click();
  await signedIn.getByRole('heading', { name: 'Sign in to the admin console' }).waitFor();
  await context.close();
});

test('a non-administrator with the right password is refused, and told nothing about roles', async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await signIn(context, stack.demo.username, stack.demo.password, '123456');
  await expect(page.getByRole('alert').textContent()).resolves.toContain('cannot use the admin console');
  await expect(page.getByLabel('Username').inputValue()).resolves.toBe(stack.demo.username);
  expect(await axeViolations(page)).toEqual([]);
  const user = await stack.ctx.storage.users.getByUsername(stack.demo.username);
  expect((await searchEvents(stack.ctx.storage.sql, { type: 'login.failed', actor: user!.id, limit: 1 }))[0]).toMatchObject({ reason: 'not_administrator' });
  await context.close();
});

test('an idle console session ends after admin_console.idle_timeout and asks to sign in again', async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  clock += 31_000;
  const page = await signIn(context, stack.demo.admin_username!, stack.demo.admin_password!, totpCode(stack.demo.admin_totp_secret!, clock));
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  clock += (stack.ctx.config.admin_console.idle_timeout + 1) * 1000;
  await page.goto(`${stack.issuer}/admin`);
  await page.getByRole('heading', { name: 'Sign in to the admin console' }).waitFor();
  expect((await searchEvents(stack.ctx.storage.sql, { type: 'session.expired', limit: 1 }))[0]).toMatchObject({ reason: 'idle_timeout', details: { console: 'admin' } });
  await context.close();
});
