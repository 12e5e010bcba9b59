// The Grants section in Chromium (issue 15): an administrator finds the demo patient's grant by
// username (with the keyboard), revokes it, and the app's tokens stop working at once; the search,
// results and result pages have no axe violation, and the ledger names the administrator.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { searchEvents } from '../../src/audit/search.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { axeViolations } from '../support/axe.js';
import { totpCode } from '../support/admin.js';
import { codeFlow, introspect, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let browser: Browser;
let rp: Rp;
let clock = Date.now();

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  rp = await relyingParty(stack);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

test('an administrator finds a user\'s grant and revokes it; its tokens stop working', async () => {
  const flow = await codeFlow(rp, { extra: { prompt: 'consent' } });
  const demoUser = (await stack.ctx.storage.users.getByUsername(stack.demo.username))!;
  const [grant] = await stack.ctx.storage.grants.listByUser(demoUser.id);
  const admin = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!;

  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  clock += 31_000;
  await page.goto(`${stack.issuer}/admin/login?next=${encodeURIComponent('/admin/grants')}`);
  await page.getByLabel('Username').fill(stack.demo.admin_username!);
  await page.getByLabel('Password').fill(stack.demo.admin_password!);
  await page.getByLabel('Code from your authenticator app, or a recovery code').fill(totpCode(stack.demo.admin_totp_secret!, clock));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Grants and consents' }).waitFor();
  expect(await axeViolations(page)).toEqual([]);

  // Keyboard only: type the username and press Enter.
  await page.getByLabel('Username').fill(stack.demo.username);
  await page.getByLabel('Username').press('Enter');
  const row = page.getByRole('row').filter({ hasText: 'Demo Patient App' });
  await row.waitFor();
  await expect(row.getByRole('cell').nth(2).textContent()).resolves.toBe('Patient/demo-1');
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-grants.png'), fullPage: true });

  await row.getByRole('button', { name: /^Revoke/ }).click();
  await page.getByRole('status').filter({ hasText: 'Access revoked' }).waitFor();
  await expect(page.getByRole('row').filter({ hasText: 'Demo Patient App' }).getByText('revoked', { exact: true }).isVisible()).resolves.toBe(true);
  expect(await axeViolations(page)).toEqual([]);
  expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
  expect((await searchEvents(stack.ctx.storage.sql, { type: 'consent.revoked', actor: admin.id, limit: 1 }))[0]).toMatchObject({
    grantId: grant!.grantId, outcome: 'success', details: { console: 'admin', grants_revoked: 1 },
  });
  await context.close();
}, 120_000);
