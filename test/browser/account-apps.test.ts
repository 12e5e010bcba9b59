// The account page (the SMART management_endpoint) in a real browser (Debian's Chromium,
// headless, driven by playwright-core) on a phone-sized viewport: the user signs in on /account,
// sees the apps they authorised, revokes one, and its access token stops working. Nothing may
// overflow sideways at 390 px and the buttons must be full-size touch targets. Screenshots go to
// /tmp/caduceus-shots/ for people to look at (not committed).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { codeFlow, introspect, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

const SHOTS = '/tmp/caduceus-shots';

let stack: TestStack;
let rp: Rp;
let browser: Browser;

beforeAll(async () => {
  stack = await startTestStack();
  rp = await relyingParty(stack);
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, name), fullPage: true });

/** Nothing is wider than the viewport: no sideways scrolling on a phone. */
async function expectNoHorizontalOverflow(page: Page) {
  const { scrollWidth, innerWidth, wide } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    wide: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5).map((e) => e.outerHTML.slice(0, 80)),
  }));
  expect(wide).toEqual([]);
  expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
}

test('on a phone, a user signs in on /account, sees the apps they authorised, and revokes one: its token stops working', async () => {
  // Two authorisations of the demo app through the real flow (two consents), the newer to revoke.
  const older = await codeFlow(rp, { extra: { prompt: 'consent' } });
  const newer = await codeFlow(rp, { extra: { prompt: 'consent' } });
  const userId = (await stack.ctx.storage.users.getByUsername(stack.demo.username))!.id;
  const [newest, previous] = await stack.ctx.storage.consents.listByUser(userId);
  const grant = (await stack.ctx.storage.grants.listByUser(userId)).find((g) => g.consentId === newest!.id)!;

  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  page.on('pageerror', (e) => cspViolations.push(`page error: ${e.message}`));

  await page.goto(`${stack.issuer}/account`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await expectNoHorizontalOverflow(page);
  await shot(page, 'account-sign-in-phone.png');
  await page.getByLabel('Username').fill(stack.demo.username);
  await page.getByLabel('Password').fill(stack.demo.password);
  await page.getByRole('button', { name: 'Sign in' }).click();

  await page.getByRole('heading', { name: 'Your connected apps' }).waitFor();
  const cards = page.locator('li.app');
  expect(await cards.count()).toBe(2);
  const card = page.getByRole('listitem').filter({ has: page.locator(`#app-${newest!.id}`) });
  expect(await card.getByRole('heading', { name: 'Demo Patient App' }).isVisible()).toBe(true);
  expect(await card.getByText('patient/Patient.rs').isVisible()).toBe(true);
  expect(await card.getByText('Read, search Patient records for your patient record.').isVisible()).toBe(true);
  expect(await card.locator('dt', { hasText: 'Authorised' }).isVisible()).toBe(true);
  expect(await card.locator('dd time').first().textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  // The demo user is linked to Patient/demo-1: the grant has that patient in context, shown by id only.
  expect(grant.launchContext?.patient).toBe('demo-1');
  expect(await card.locator('dt:text-is("Patient") + dd').textContent()).toBe('Patient demo-1');
  // The code exchange issued a token under the grant: "last used" is a time, not "Never".
  expect(await card.locator('dt:text-is("Last used") + dd').textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);

  await expectNoHorizontalOverflow(page);
  const revoke = page.getByRole('button', { name: 'Revoke access for Demo Patient App' });
  expect(await revoke.count()).toBe(2);
  for (const box of await Promise.all((await revoke.all()).map((b) => b.boundingBox()))) {
    expect(box!.height).toBeGreaterThanOrEqual(44);
    expect(box!.width).toBeGreaterThanOrEqual(120);
  }
  await shot(page, 'account-apps-phone.png');

  await card.getByRole('button', { name: 'Revoke access for Demo Patient App' }).click();
  await page.getByRole('status').filter({ hasText: 'Access revoked for Demo Patient App.' }).waitFor();
  expect(await page.locator('li.app').count()).toBe(1);
  expect(await page.locator(`#app-${previous!.id}`).isVisible()).toBe(true);
  expect(await page.getByRole('heading', { name: 'Revoked access', exact: true }).isVisible()).toBe(true);
  await expectNoHorizontalOverflow(page);
  await shot(page, 'account-revoked-phone.png');

  expect((await introspect(rp, newer.tokens.access_token)).json).toEqual({ active: false });
  expect((await introspect(rp, older.tokens.access_token)).json.active).toBe(true);
  expect(cspViolations).toEqual([]);
  await context.close();
});
