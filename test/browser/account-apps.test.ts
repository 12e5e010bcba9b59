// The account page (the SMART management_endpoint) in a real browser (Debian's Chromium,
// headless, driven by playwright-core) on a phone-sized viewport: the user signs in on /account,
// sees one entry per app (however often authorised) with their record named and times in their
// own time zone, revokes it (post/redirect/get: a reload repeats nothing), and its tokens stop
// working. Nothing may overflow sideways at 390 px and the buttons must be full-size touch
// targets. Screenshots go to SCREENSHOTS (test/support/chromium.ts) for people to look at.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { searchEvents } from '../../src/audit/search.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { codeFlow, introspect, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let rp: Rp;
let browser: Browser;

beforeAll(async () => {
  stack = await startTestStack();
  rp = await relyingParty(stack);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });

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

test('on a phone, a user signs in on /account, sees one entry per app with the patient named and times in their zone, and revokes it: its tokens stop working', async () => {
  // Two authorisations of the demo app through the real flow (two consents): one entry.
  const older = await codeFlow(rp, { extra: { prompt: 'consent' } });
  const newer = await codeFlow(rp, { extra: { prompt: 'consent' } });
  const userId = (await stack.ctx.storage.users.getByUsername(stack.demo.username))!.id;
  const [newest] = await stack.ctx.storage.consents.listByUser(userId);
  const grant = (await stack.ctx.storage.grants.listByUser(userId)).find((g) => g.consentId === newest!.id)!;

  // A person in New York: the page's UTC times are shown in their zone by the page script.
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, timezoneId: 'America/New_York', locale: 'en-US',
  });
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
  expect(await cards.count()).toBe(1);
  const card = page.getByRole('listitem').filter({ has: page.locator(`#app-${newest!.id}`) });
  expect(await card.getByRole('heading', { name: 'Demo Patient App' }).isVisible()).toBe(true);
  expect(await card.getByText('patient/Patient.rs').isVisible()).toBe(true);
  expect(await card.getByText('Read, search Patient records for your patient record.').isVisible()).toBe(true);
  expect(await card.locator('dt:text-is("Authorised") + dd').textContent()).toMatch(/^2 times, most recently /);
  // The demo user is linked to Patient/demo-1: named, with the id beside the name.
  expect(grant.launchContext?.patient).toBe('demo-1');
  expect(await card.locator('dt:text-is("Patient") + dd').textContent()).toMatch(/^Alder Synthetic \(born \d{4}-\d\d-\d\d\) \(Patient demo-1\)$/);
  // Local time (EST/EDT) on screen, the exact UTC instant in datetime and the UTC text as the title.
  const time = card.locator('dt:text-is("Last used") + dd time');
  await expect.poll(() => time.textContent()).toMatch(/E[SD]T$/);
  const utc = await time.getAttribute('title');
  expect(utc).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  const iso = (await time.getAttribute('datetime'))!;
  expect(utc).toBe(`${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`);
  const local = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }).format(new Date(iso));
  expect(await time.textContent()).toBe(local);

  await expectNoHorizontalOverflow(page);
  const revoke = page.getByRole('button', { name: /^Revoke access for Demo Patient App for Alder Synthetic/ });
  expect(await revoke.count()).toBe(1);
  const box = (await revoke.boundingBox())!;
  expect(box.height).toBeGreaterThanOrEqual(44);
  expect(box.width).toBeGreaterThanOrEqual(120);
  await shot(page, 'account-apps-phone.png');

  await revoke.click();
  await page.getByRole('status').filter({ hasText: 'Access revoked for Demo Patient App.' }).waitFor();
  // Redirected after the POST: the page is a plain GET of /account, and reloading it repeats nothing.
  expect(page.url()).toBe(`${stack.issuer}/account`);
  expect(await page.locator('li.app').count()).toBe(0);
  expect(await page.getByRole('heading', { name: 'Ended access', exact: true }).isVisible()).toBe(true);
  await expectNoHorizontalOverflow(page);
  await shot(page, 'account-revoked-phone.png');
  const revocations = async () => (await searchEvents(stack.ctx.storage.sql, { type: 'consent.revoked', actor: userId, limit: 10 })).length;
  const before = await revocations();
  await page.reload();
  await page.getByRole('heading', { name: 'Your connected apps' }).waitFor();
  expect(await page.getByText('Access revoked for Demo Patient App.').count()).toBe(0);
  expect(await revocations()).toBe(before);

  // Both authorisations were one entry, so both stopped.
  expect((await introspect(rp, newer.tokens.access_token)).json).toEqual({ active: false });
  expect((await introspect(rp, older.tokens.access_token)).json).toEqual({ active: false });
  expect(cspViolations).toEqual([]);
  await context.close();
});
