// Every page a person meets, in Chromium on a phone-sized viewport, scanned with axe-core for
// WCAG 2.1 A and AA (test/support/axe.ts): sign-in, two-step enrolment and recovery codes, the
// consent page (for a patient, and a practitioner's patient picker with the emergency-access form
// open, searched and with an error), the account page and its sign-in security page with a
// factor's removal, the logout confirmation, the signed-out page, the error page and the issuer's
// home page. Also what axe does not measure: input borders and the focus ring at 3:1 against the
// page (SC 1.4.11), the emergency-access disclosure drawn as a control, and checkboxes that keep
// their size when their label wraps. No page may trip the CSP. Screenshots go to SCREENSHOTS.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { addUser } from '../../src/admin/users.js';
import { base32Decode, totp } from '../../src/interaction/mfa/totp.js';
import { axeViolations } from '../support/axe.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { authorizationUrl, relyingParty, type Rp } from '../support/flows.js';

const PASSWORD = 'correct horse battery staple';

let stack: TestStack;
let rp: Rp;
let browser: Browser;
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;

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

async function phone() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  page.on('pageerror', (e) => cspViolations.push(`page error: ${e.message}`));
  // The client's callback is not part of Caduceus: answer it here.
  await page.route(`${stack.demo.redirect_uri}**`, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'client callback' }));
  return { context, page, cspViolations };
}

const scanned: string[] = [];

/** Scans the page with axe (no violation allowed) and saves its screenshot. */
async function check(page: Page, name: string) {
  await page.waitForLoadState();
  expect(await axeViolations(page), name).toEqual([]);
  await page.screenshot({ path: join(SCREENSHOTS, `a11y-${name}-phone.png`), fullPage: true });
  scanned.push(name);
}

/** WCAG 2.x contrast ratio of two CSS colours as Chromium computes them (rgb(…)). */
function contrast(a: string, b: string): number {
  const lum = (css: string) => {
    const [r, g, b2] = css.match(/[\d.]+/g)!.slice(0, 3).map((v) => Number(v) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b2!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

test('every page passes axe (WCAG 2.1 AA) on a phone, without a CSP violation', async () => {
  const doctor = await addUser({ storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' }, { username: 'dr.a11y', password: PASSWORD, role: 'practitioner' });
  await stack.ctx.storage.users.setPatientPanel(doctor.id, ['demo-1', 'demo-2']);
  await stack.ctx.storage.users.setBreakGlass(doctor.id, true);
  const { context, page, cspViolations } = await phone();

  await page.goto(`${stack.issuer}/`);
  await page.getByRole('heading', { name: 'Caduceus authorization server' }).waitFor();
  await check(page, 'home');

  const { url } = await authorizationUrl(rp, { scope: 'openid launch/patient patient/Observation.rs' });
  await page.goto(url.href);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await check(page, 'login');
  await page.getByLabel('Username').fill('dr.a11y');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  // The username stays in its field after a failure.
  expect(await page.getByLabel('Username').inputValue()).toBe('dr.a11y');
  await check(page, 'login-error');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();

  await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
  await check(page, 'mfa-enrol');
  const secret = (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
  await page.getByLabel('6-digit code').fill(totp(base32Decode(secret), clock));
  await page.getByRole('button', { name: 'Verify and continue' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  await check(page, 'recovery-codes');
  await page.getByRole('link', { name: 'I have saved them, continue' }).click();

  // The practitioner's consent page: the patient picker.
  await page.getByRole('group', { name: 'Choose the patient' }).waitFor();
  await check(page, 'patient-picker');
  // The emergency-access form, opened, searched, and with an error next to a field.
  await page.getByText('Emergency access to another patient').click();
  await page.getByLabel('Family name').fill('Fixture');
  await page.getByRole('button', { name: 'Find patient' }).click();
  await page.getByText('Enter the date of birth as well as the name.').waitFor();
  await check(page, 'break-glass-error');
  await page.getByLabel('Date of birth').fill('1973-09-01');
  await page.getByRole('button', { name: 'Find patient' }).click();
  await page.getByRole('group', { name: 'Patients found' }).waitFor();
  await check(page, 'break-glass-results');
  await page.getByRole('radio', { name: /Patient demo-1/ }).check();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL((u) => u.href.startsWith(stack.demo.redirect_uri));

  await page.goto(`${stack.issuer}/account`);
  await page.getByRole('heading', { name: 'Your connected apps' }).waitFor();
  await check(page, 'account');
  await page.goto(`${stack.issuer}/account/security`);
  await page.getByRole('heading', { name: 'Sign-in security' }).waitFor();
  await check(page, 'account-security');
  await page.getByRole('link', { name: /^Remove the authenticator app/ }).click();
  await page.getByRole('heading', { name: 'Remove the authenticator app?' }).waitFor();
  await check(page, 'remove-factor');
  await page.goto(`${stack.issuer}/account/security/recovery-codes/new`);
  clock += 30_000;
  await page.getByLabel('6-digit code from your authenticator app').fill('000000');
  await page.getByRole('button', { name: 'Create new codes' }).first().click();
  await page.getByText('That was not accepted.').waitFor();
  await check(page, 'step-up-error');

  await page.goto(`${stack.issuer}/logout?client_id=${stack.demo.client_id}`);
  await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
  await check(page, 'logout-confirm');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await check(page, 'signed-out');

  await page.goto(`${stack.issuer}/interaction/no-such-interaction`);
  await page.getByRole('alert').waitFor();
  await check(page, 'error');

  // A patient's consent page (no picker: their own record).
  const patient = await phone();
  const own = await authorizationUrl(rp);
  await patient.page.goto(own.url.href);
  await patient.page.getByLabel('Username').fill(stack.demo.username);
  await patient.page.getByLabel('Password').fill(stack.demo.password);
  await patient.page.getByRole('button', { name: 'Sign in' }).click();
  await patient.page.getByRole('button', { name: 'Allow' }).waitFor();
  await check(patient.page, 'consent');
  await patient.page.getByRole('button', { name: 'Allow' }).click();
  await patient.page.waitForURL((u) => u.href.startsWith(stack.demo.redirect_uri));
  await patient.page.goto(`${stack.issuer}/account`);
  await check(patient.page, 'account-patient');

  expect(scanned).toEqual(expect.arrayContaining(['home', 'login', 'mfa-enrol', 'patient-picker', 'break-glass-results', 'consent', 'account', 'account-security', 'logout-confirm', 'signed-out', 'error']));
  expect([...cspViolations, ...patient.cspViolations]).toEqual([]);
  await patient.context.close();
  await context.close();
}, 180_000);

test('input borders and the focus ring reach 3:1, the emergency disclosure is drawn as a control, and checkboxes keep their size when their label wraps', async () => {
  const { context, page } = await phone();
  const { url } = await authorizationUrl(rp, { scope: 'openid offline_access fhirUser launch/patient launch/encounter patient/Patient.rs patient/Observation.rs' });
  await page.goto(url.href);
  const username = page.getByLabel('Username');
  const look = await username.evaluate((el) => {
    const s = getComputedStyle(el);
    return { border: s.borderTopColor, width: s.borderTopWidth, background: getComputedStyle(document.querySelector('main')!).backgroundColor };
  });
  expect(contrast(look.border, look.background)).toBeGreaterThanOrEqual(3);
  await username.focus();
  const ring = await username.evaluate((el) => ({ color: getComputedStyle(el).outlineColor, style: getComputedStyle(el).outlineStyle, width: getComputedStyle(el).outlineWidth }));
  expect(ring.style).toBe('solid');
  expect(parseFloat(ring.width)).toBeGreaterThanOrEqual(2);
  expect(contrast(ring.color, look.background)).toBeGreaterThanOrEqual(3);

  await username.fill(stack.demo.username);
  await page.getByLabel('Password').fill(stack.demo.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  // Narrow enough that every permission's label wraps: each checkbox keeps its full size.
  await page.setViewportSize({ width: 280, height: 800 });
  const boxes = await page.getByRole('checkbox').evaluateAll((els) => els.map((el) => {
    const r = el.getBoundingClientRect();
    return { width: Math.round(r.width), height: Math.round(r.height), wraps: el.closest('label')!.getBoundingClientRect().height > 40 };
  }));
  expect(boxes.length).toBeGreaterThan(3);
  expect(boxes.some((b) => b.wraps)).toBe(true);
  const first = boxes[0]!;
  expect(first.width).toBeGreaterThanOrEqual(18);
  for (const b of boxes) expect(b).toMatchObject({ width: first.width, height: first.height });
  await page.screenshot({ path: join(SCREENSHOTS, 'a11y-consent-narrow.png'), fullPage: true });
  await context.close();

  // The practitioner's emergency disclosure: bordered like a button, full-size target, with an open/closed indicator.
  const doctor = await phone();
  const user = await addUser({ storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' }, { username: 'dr.control', password: PASSWORD, role: 'practitioner' });
  await stack.ctx.storage.users.setPatientPanel(user.id, ['demo-1']);
  await stack.ctx.storage.users.setBreakGlass(user.id, true);
  const flow = await authorizationUrl(rp, { scope: 'openid launch/patient patient/Observation.rs' });
  await doctor.page.goto(flow.url.href);
  await doctor.page.getByLabel('Username').fill('dr.control');
  await doctor.page.getByLabel('Password').fill(PASSWORD);
  await doctor.page.getByRole('button', { name: 'Sign in' }).click();
  const secret = (await doctor.page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
  clock += 30_000;
  await doctor.page.getByLabel('6-digit code').fill(totp(base32Decode(secret), clock));
  await doctor.page.getByRole('button', { name: 'Verify and continue' }).click();
  await doctor.page.getByRole('link', { name: 'I have saved them, continue' }).click();
  const summary = doctor.page.locator('details.break-glass > summary');
  await summary.waitFor();
  const control = await summary.evaluate((el) => {
    const s = getComputedStyle(el);
    const marker = getComputedStyle(el, '::before');
    const r = el.getBoundingClientRect();
    return { border: s.borderTopColor, borderWidth: parseFloat(s.borderTopWidth), height: r.height, cursor: s.cursor, marker: marker.borderRightWidth, transform: marker.transform };
  });
  expect(control.borderWidth).toBeGreaterThanOrEqual(1);
  expect(contrast(control.border, 'rgb(255, 255, 255)')).toBeGreaterThanOrEqual(3);
  expect(control.height).toBeGreaterThanOrEqual(44);
  expect(control.cursor).toBe('pointer');
  expect(control.marker).toBe('2px');
  await summary.click();
  const opened = await summary.evaluate((el) => getComputedStyle(el, '::before').transform);
  expect(opened).not.toBe(control.transform);
  expect(await doctor.page.getByLabel('Family name').isVisible()).toBe(true);
  await doctor.context.close();
}, 120_000);
