// The /demo walkthrough in a real browser (Debian's Chromium via playwright-core) on a test stack:
// authorise with PKCE through login and consent, see the token's claims (patient, no PHI), call the
// gateway (own read 200, cross-patient 403) and see the ledger entries of the flow.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { startTestStack, type TestStack } from '../support/stack.js';


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

test('a person walks through /demo on a phone: authorise, claims, gateway calls, ledger', async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `demo-${name}-phone.png`), fullPage: true });

  // Step 1: the explanation and the start button.
  await page.goto(`${stack.issuer}/demo`);
  await page.getByRole('heading', { name: 'Demo: a patient app, end to end' }).waitFor();
  await shot('1-start');
  await page.getByRole('button', { name: 'Start: sign in and authorise' }).click();

  // Login and consent of the authorization server.
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Username').fill(stack.demo.username);
  await page.getByLabel('Password').fill(stack.demo.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  await shot('1-consent');
  await page.getByRole('button', { name: 'Allow' }).click();

  // Step 2: the token's claims.
  await page.waitForURL(`${stack.issuer}/demo/flow`);
  const claims = page.locator('#claims');
  await expect(claims.locator('tr[data-claim="patient"] td').textContent()).resolves.toBe('demo-1');
  await expect(claims.locator('tr[data-claim="aud"] td').textContent()).resolves.toBe(`${stack.issuer}/fhir`);
  const claimNames = await claims.locator('tbody th').allTextContents();
  expect(claimNames).toEqual(expect.arrayContaining(['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope', 'patient']));
  for (const name of claimNames) expect(name).not.toMatch(/name|mail|phone|address|birth|gender|mrn|ssn|identifier/i);
  await expect(page.locator('#phi-check').textContent()).resolves.toContain('none found');
  await expect(page.getByText('Signature checked against this server\'s keys: valid').count()).resolves.toBe(1);
  await shot('2-token');

  // Step 3: calls through the gateway.
  await page.getByRole('button', { name: 'Read my Patient' }).click();
  await page.locator('li[data-call="own-patient"]').waitFor();
  await expect(page.locator('li[data-call="own-patient"]').textContent()).resolves.toMatch(/GET \/fhir\/Patient\/demo-1 → HTTP 200[\s\S]*Patient\/demo-1/);
  await page.getByRole('button', { name: 'Search my Observations' }).click();
  await page.locator('li[data-call="own-observations"]').waitFor();
  await expect(page.locator('li[data-call="own-observations"]').textContent()).resolves.toMatch(/HTTP 200[\s\S]*Bundle \(searchset\)[\s\S]*Observation\//);
  await page.getByRole('button', { name: 'Try another patient (Patient/demo-2)' }).click();
  await page.locator('li[data-call="other-patient"]').waitFor();
  await expect(page.locator('li[data-call="other-patient"]').textContent()).resolves.toMatch(/GET \/fhir\/Patient\/demo-2 → HTTP 403 \(denied\)/);
  await page.locator('#step-3').scrollIntoViewIfNeeded();
  await shot('3-calls');

  // Step 4: the ledger entries of this flow.
  const types = await page.locator('#ledger tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')));
  expect(types).toEqual(expect.arrayContaining(['token.issued', 'phi.accessed', 'phi.denied']));
  // Two reads through the gateway, and the consent page's read of the patient's own name (it shows it).
  expect(types.filter((t) => t === 'phi.accessed')).toHaveLength(3);
  const denied = page.locator('#ledger tr[data-event="phi.denied"]');
  await expect(denied.textContent()).resolves.toContain('Patient/demo-2');
  const ledgerText = (await page.locator('#ledger').textContent()) ?? '';
  expect(ledgerText).not.toContain(stack.demo.username);
  await page.locator('#step-4').scrollIntoViewIfNeeded();
  await shot('4-ledger');

  // Nothing scrolls sideways on a phone, and the pages ran without a CSP violation.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  expect(cspViolations).toEqual([]);
  const cookie = (await context.cookies(stack.issuer)).find((c) => c.name === '__Host-caduceus-demo')!;
  expect(cookie).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax', path: '/' });
  await context.close();
});
