// A real browser (Debian's Chromium, headless, driven by playwright-core) signs in and consents.
// This proves the pages work under their CSP (no inline script), with __Host- cookies, and that
// the 303 back to the client is not blocked.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { authorizationUrl, relyingParty } from '../support/flows.js';


let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  stack = await startTestStack();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

test('a person signs in and allows access in Chromium, and the client receives a code with state and iss', async () => {
  const rp = await relyingParty(stack);
  const { url, state } = await authorizationUrl(rp);
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  let callback: URL | undefined;
  await page.route(`${stack.demo.redirect_uri}**`, async (route) => {
    callback = new URL(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'client callback' });
  });

  await page.goto(url.href);
  await expect(page.getByRole('heading', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
  await page.screenshot({ path: join(SCREENSHOTS, 'login-phone.png'), fullPage: true });
  await page.getByLabel('Username').fill(stack.demo.username);
  await page.getByLabel('Password').fill(stack.demo.password);
  await page.getByRole('button', { name: 'Sign in' }).click();

  await page.getByRole('button', { name: 'Allow' }).waitFor();
  const boxes = page.getByRole('checkbox');
  expect(await boxes.count()).toBe(stack.demo.scope.split(' ').length);
  await page.screenshot({ path: join(SCREENSHOTS, 'consent-phone.png'), fullPage: true });
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL((u) => u.href.startsWith(stack.demo.redirect_uri));

  expect(callback).toBeDefined();
  expect(callback!.searchParams.get('state')).toBe(state);
  expect(callback!.searchParams.get('iss')).toBe(stack.issuer);
  expect(callback!.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(cspViolations).toEqual([]);
  const cookies = await context.cookies(stack.issuer);
  const session = cookies.find((c) => c.name === '__Host-caduceus-session')!;
  expect(session).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax', path: '/' });
  await context.close();
});
