// The Users section in Chromium (issue 15): an administrator adds a practitioner and gets the
// one-time password link, changes the role through step-up, and the new user sets their password
// with the link; every page (list, add form with an error, link, account, step-up, the user's
// password pages) has no axe violation, and the ledger holds each step.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { searchEvents } from '../../src/audit/search.js';
import { checkLogin } from '../../src/interaction/login.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { axeViolations } from '../support/axe.js';
import { totpCode, signInAsAdminInChromium } from '../support/admin.js';
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

async function signIn(context: BrowserContext): Promise<Page> {
  clock += 31_000;
  return signInAsAdminInChromium(stack, context, clock);
}

test('an administrator adds a user, gets the password link once, changes the role with step-up; the user sets a password with the link', async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const csp: string[] = [];
  const page = await signIn(context);
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });
  const admin = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!;

  await page.getByRole('navigation', { name: 'Console sections' }).getByRole('link', { name: 'Users' }).click();
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  expect(await axeViolations(page)).toEqual([]);

  await page.getByRole('link', { name: 'Add a user' }).click();
  await page.getByRole('heading', { name: 'Add a user' }).waitFor();
  expect(await axeViolations(page)).toEqual([]);
  // A mistake first: the message sits by the field, and the page stays accessible.
  await page.getByLabel('Username').fill('no spaces allowed');
  await page.getByRole('button', { name: 'Add the user and make a password link' }).click();
  await page.getByText('username: use 3-128 letters').waitFor();
  await expect(page.getByLabel('Username').getAttribute('aria-invalid')).resolves.toBe('true');
  expect(await axeViolations(page)).toEqual([]);

  await page.getByLabel('Username').fill('browser.nurse');
  await page.getByLabel('Role').selectOption('practitioner');
  await page.getByLabel('Linked FHIR record (optional)').fill('Practitioner/77');
  await page.getByLabel('Patient panel (practitioners only, optional)').fill('demo-1, demo-2');
  await page.getByRole('button', { name: 'Add the user and make a password link' }).click();
  await page.getByRole('heading', { name: 'User added' }).waitFor();
  const link = await page.getByLabel('Password link (shown only now)').inputValue();
  expect(link).toMatch(new RegExp(`^${stack.issuer}/password/set\\?token=[A-Za-z0-9_-]{43}$`));
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-users-link.png'), fullPage: true });
  const nurse = (await stack.ctx.storage.users.getByUsername('browser.nurse'))!;
  expect(nurse).toMatchObject({ role: 'practitioner', patientPanel: ['demo-1', 'demo-2'] });

  await page.getByRole('link', { name: 'Go to browser.nurse’s page' }).click();
  await page.getByRole('heading', { name: 'User browser.nurse' }).waitFor();
  expect(await page.content()).not.toContain(new URL(link).searchParams.get('token')!);
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-users.png'), fullPage: true });

  // Step-up: the last second-factor check is older than admin_console.step_up_max_age.
  clock += (stack.ctx.config.admin_console.step_up_max_age + 1) * 1000;
  await page.getByLabel('Role', { exact: true }).selectOption('patient');
  await page.getByRole('button', { name: 'Change the role' }).click();
  await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
  expect((await stack.ctx.storage.users.getById(nurse.id))!.role).toBe('practitioner');
  expect(await axeViolations(page)).toEqual([]);
  await page.getByLabel('Code from your authenticator app, or a recovery code').fill(totpCode(stack.demo.admin_totp_secret!, clock));
  await page.getByRole('button', { name: 'Confirm and continue' }).click();
  await page.getByRole('status').filter({ hasText: 'The role was changed.' }).waitFor();
  expect((await stack.ctx.storage.users.getById(nurse.id))!).toMatchObject({ role: 'patient', patientPanel: [] });
  expect(await axeViolations(page)).toEqual([]);

  const byAdmin = await searchEvents(stack.ctx.storage.sql, { type: 'user.changed', actor: admin.id, limit: 3 });
  expect(byAdmin.map((e) => [e.action, e.resource, e.details?.console])).toEqual([
    ['set_role', nurse.id, 'admin'], ['password_link', nurse.id, 'admin'], ['create', nurse.id, 'admin'],
  ]);
  expect(csp).toEqual([]);
  await context.close();

  // The new user, in a browser of their own, sets the password with the link (never under /admin).
  const userContext = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 } });
  const userPage = await userContext.newPage();
  await userPage.goto(link);
  await userPage.getByRole('heading', { name: 'Choose your password' }).waitFor();
  await expect(userPage.getByLabel('Username').inputValue()).resolves.toBe('browser.nurse');
  expect(await axeViolations(userPage)).toEqual([]);
  await userPage.getByLabel('New password', { exact: true }).fill('a long and private passphrase');
  await userPage.getByLabel('New password again').fill('a long and private passphrase');
  await userPage.screenshot({ path: join(SCREENSHOTS, 'admin-users-password-set.png'), fullPage: true });
  await userPage.getByRole('button', { name: 'Set my password' }).click();
  await userPage.getByRole('heading', { name: 'Your password is set' }).waitFor();
  expect(await axeViolations(userPage)).toEqual([]);
  expect(await checkLogin(stack.ctx, 'browser.nurse', 'a long and private passphrase', '192.0.2.20')).toMatchObject({ ok: true });
  expect((await searchEvents(stack.ctx.storage.sql, { type: 'user.changed', actor: nurse.id, limit: 1 }))[0]).toMatchObject({ action: 'password_set', resource: nurse.id });
  // Used once: the link now says so, accessibly.
  await userPage.goto(link);
  await userPage.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  expect(await axeViolations(userPage)).toEqual([]);
  await userContext.close();
}, 120_000);
