// Two-step sign-in in a real browser (Debian's Chromium, headless, driven by playwright-core) on a
// phone-sized viewport: TOTP enrolment and sign-in, and a passkey made and used by Chromium's
// virtual authenticator (CDP WebAuthn domain). This proves the passkey pages work under their CSP
// (`script-src 'self'`, no inline script) and that the redirect back to the client is not blocked.
// Screenshots go to test-results/screenshots/.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { searchEvents } from '../../src/audit/search.js';
import { addUser } from '../../src/admin/users.js';
import { base32Decode, totp } from '../../src/interaction/mfa/totp.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { authorizationUrl, post, relyingParty, type Rp } from '../support/flows.js';

const PASSWORD = 'correct horse battery staple';

let stack: TestStack;
let rp: Rp;
let browser: Browser;
// A frozen clock the test moves, so a TOTP code is never reused within its 30-second step.
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;

beforeAll(async () => {
  // WebAuthn refuses IP addresses as relying party IDs: this stack's issuer is https://localhost:PORT.
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => {
      // Every issuer-derived URL (issuer, resources, gateway audiences), and nothing else.
      const from = c.issuer;
      const to = from.replace('https://127.0.0.1:', 'https://localhost:');
      const local = (v: unknown): unknown => typeof v === 'string' ? (v.startsWith(from) ? to + v.slice(from.length) : v)
        : Array.isArray(v) ? v.map(local)
          : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, local(x)])) : v;
      Object.assign(c, local(c));
    },
  });
  rp = await relyingParty(stack);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function phone(): Promise<{ context: BrowserContext; page: Page; cspViolations: string[] }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  page.on('pageerror', (e) => cspViolations.push(`page error: ${e.message}`));
  return { context, page, cspViolations };
}

/**
 * Runs `action` and resolves the redirect to the client that it causes, once the page shows the
 * client's (stubbed) callback. Chromium sometimes answers the first attempt of the intercepted
 * cross-site redirect with a DNS error page and then retries it through the route, so this waits
 * for the route to answer and for the page to be there, not for the first navigation event.
 */
async function clientRedirect(page: Page, action: () => Promise<void>): Promise<URL> {
  let routed!: (url: URL) => void;
  const callback = new Promise<URL>((resolve) => { routed = resolve; });
  await page.route(`${stack.demo.redirect_uri}**`, async (route) => {
    routed(new URL(route.request().url()));
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'client callback' });
  });
  await action();
  const url = await callback;
  await expect.poll(() => page.url().startsWith(stack.demo.redirect_uri), { timeout: 10_000 }).toBe(true);
  await page.waitForLoadState();
  await page.unrouteAll();
  expect(url.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(url.searchParams.get('iss')).toBe(stack.issuer);
  return url;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });

async function signIn(page: Page, username: string): Promise<string> {
  const { url, verifier } = await authorizationUrl(rp);
  await page.goto(url.href);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  return verifier;
}

/** A practitioner with two patients on their panel: the consent page shows the patient picker. */
async function newPractitioner(username: string) {
  const user = await addUser({ storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' }, { username, password: PASSWORD, role: 'practitioner' });
  await stack.ctx.storage.users.setPatientPanel(user.id, ['demo-1', 'demo-2']);
  return (await stack.ctx.storage.users.getByUsername(username))!;
}

/** Picks a patient on the consent page's picker (SMART launch/patient), then allows. */
async function pickPatientAndAllow(page: Page, patient: string, screenshot?: string): Promise<URL> {
  await page.getByRole('group', { name: 'Choose the patient' }).waitFor();
  expect(await page.getByRole('radio').count()).toBe(2);
  await page.getByLabel(`Patient ${patient}`).check();
  if (screenshot) await shot(page, screenshot);
  // The picker fits the phone: no sideways scrolling.
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
  return clientRedirect(page, () => page.getByRole('button', { name: 'Allow' }).click());
}

/** The patient in context of the token the redirect's code gives. */
async function patientOfCode(redirect: URL, verifier: string): Promise<unknown> {
  const r = await post(rp, rp.as.token_endpoint!, {
    grant_type: 'authorization_code', code: redirect.searchParams.get('code')!, redirect_uri: stack.demo.redirect_uri, code_verifier: verifier,
  });
  expect(r.status).toBe(200);
  return r.json.patient;
}

test('a practitioner sets up an authenticator app from the QR page, saves recovery codes, consents, and later signs in with a code', async () => {
  await newPractitioner('dr.browser.totp');
  const { context, page, cspViolations } = await phone();

  const firstVerifier = await signIn(page, 'dr.browser.totp');
  await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
  const qr = page.getByRole('img', { name: /QR code/ });
  expect(await qr.isVisible()).toBe(true);
  expect(await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
  await shot(page, 'mfa-enrol-phone.png');
  const secret = (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
  await page.getByLabel('6-digit code').fill(totp(base32Decode(secret), clock));
  await page.getByRole('button', { name: 'Verify and continue' }).click();

  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  expect(await page.locator('ol.codes li').count()).toBe(10);
  await shot(page, 'mfa-recovery-codes-phone.png');
  await page.getByRole('link', { name: 'I have saved them, continue' }).click();

  // The patient picker: the practitioner chooses whose record the app may read.
  const first = await pickPatientAndAllow(page, 'demo-2', 'patient-picker-phone.png');
  expect(await patientOfCode(first, firstVerifier)).toBe('demo-2');

  // Sign out through RP-initiated logout (confirmation page), then sign in again with a code.
  await page.goto(`${stack.issuer}/logout?client_id=${stack.demo.client_id}`);
  await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
  await shot(page, 'logout-confirm-phone.png');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await shot(page, 'signed-out-phone.png');

  clock += 30_000;
  const secondVerifier = await signIn(page, 'dr.browser.totp');
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  await shot(page, 'mfa-second-step-phone.png');
  await page.getByLabel('6-digit code from your authenticator app').fill(totp(base32Decode(secret), clock));
  // A practitioner chooses the patient on every authorization: the picker comes back.
  await page.getByRole('button', { name: 'Verify' }).click();
  const second = await pickPatientAndAllow(page, 'demo-1');
  expect(await patientOfCode(second, secondVerifier)).toBe('demo-1');

  // A passkey can be added from the account's security page too.
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.goto(`${stack.issuer}/account/security`);
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByText('Your new second step is ready').waitFor();
  const user = (await stack.ctx.storage.users.getByUsername('dr.browser.totp'))!;
  expect((await stack.ctx.storage.mfaFactors.listByUser(user.id)).map((f) => f.kind)).toEqual(['totp', 'webauthn']);
  expect(cspViolations).toEqual([]);
  await context.close();
});

test('a passkey made by the virtual authenticator enrols the second step and signs in (amr hwk)', async () => {
  const user = await newPractitioner('dr.browser.passkey');
  const { context, page, cspViolations } = await phone();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });

  await signIn(page, 'dr.browser.passkey');
  await page.getByRole('button', { name: 'Set up a passkey' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  const [factor] = await stack.ctx.storage.mfaFactors.listByUser(user.id);
  expect(factor).toMatchObject({ kind: 'webauthn', label: 'Passkey' });
  await page.getByRole('link', { name: 'I have saved them, continue' }).click();
  await pickPatientAndAllow(page, 'demo-1');

  await page.goto(`${stack.issuer}/logout?client_id=${stack.demo.client_id}`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();

  await signIn(page, 'dr.browser.passkey');
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  await shot(page, 'mfa-passkey-phone.png');
  await page.getByRole('button', { name: 'Use your passkey' }).click();
  await pickPatientAndAllow(page, 'demo-2');

  const logins = await searchEvents(stack.ctx.storage.sql, { type: 'login.succeeded', actor: user.id, limit: 10 });
  expect(logins.map((e) => e.action)).toEqual(['hwk', 'hwk']);
  expect(logins[0]!.details).toMatchObject({ amr: 'pwd hwk', acr: 'urn:caduceus:acr:mfa' });
  expect((await stack.ctx.storage.mfaFactors.listByUser(user.id))[0]!.lastUsedAt).toBe(clock);
  expect(cspViolations).toEqual([]);

  // The account's security page lists the passkey.
  await page.goto(`${stack.issuer}/account/security`);
  await page.getByRole('heading', { name: 'Sign-in security' }).waitFor();
  expect(await page.getByText('Passkey', { exact: true }).isVisible()).toBe(true);
  await shot(page, 'account-security-phone.png');
  await context.close();
});
