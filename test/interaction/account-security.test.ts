// The account's sign-in security page: the enrolled factors are listed, an authenticator app is
// offered only when there is none, a factor can be removed and new recovery codes created only
// after a second step again (wrong answers count toward the lockout), the last factor of a role
// that requires one cannot be removed, and every POST answers 303: new recovery codes are shown
// once, from the session, never in a URL. Over real TLS on a frozen clock.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { Browser, hiddenCsrf, type Step } from '../support/browserless.js';
import { relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { PASSWORD, codeFor, createUser, manualSecret, recoveryCodes } from '../identity/support.js';

let stack: TestStack;
let rp: Rp;
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;
const STEP = 30_000;

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock }, configure: (c) => { c.login.max_failures_per_address = 1000; } });
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

const url = (path: string) => `${stack.issuer}${path}`;

/** A patient (no second step required) signed in on /account with the password. */
async function signedInPatient(username: string) {
  const user = await createUser(stack, username, 'patient');
  const browser = new Browser(rp.dispatcher);
  const login = await browser.request(url('/account'));
  const signedIn = await browser.request(url('/account/login'), { form: { csrf: hiddenCsrf(login), username, password: PASSWORD } });
  expect(signedIn.location).toBe(url('/account'));
  return { user, browser };
}

/** Adds an authenticator app from the security page; resolves its secret and the recovery codes shown once. */
async function addAuthenticator(browser: Browser) {
  const enrol = await browser.request(url('/account/security/totp'));
  const secret = manualSecret(enrol);
  const done = await browser.request(url('/account/security/totp'), { form: { csrf: hiddenCsrf(enrol), code: codeFor(secret, clock) } });
  expect(done.status).toBe(303);
  expect(done.location).toBe(url('/account/security/recovery-codes'));
  const codesPage = await browser.request(done.location!);
  expect(codesPage.status).toBe(200);
  return { secret, codes: recoveryCodes(codesPage), codesPage };
}

/** The error under a field, through the field's aria-describedby. */
function fieldError(page: Step, fieldId: string): string | undefined {
  const field = new RegExp(`<input[^>]*id="${fieldId}"[^>]*>`).exec(page.body)?.[0] ?? '';
  const describedBy = /aria-describedby="([^"]+)"/.exec(field)?.[1];
  if (!describedBy) return undefined;
  expect(field).toContain('aria-invalid="true"');
  return new RegExp(`id="${describedBy}"><p class="error" role="alert">([^<]+)</p>`).exec(page.body)?.[1];
}

describe('factors on the security page', () => {
  test('an authenticator app is offered only while there is none; recovery codes are shown once, from the session', async () => {
    const { user, browser } = await signedInPatient('pat.security');
    const before = await browser.request(url('/account/security'));
    expect(before.body).toContain('href="/account/security/totp">Set up an authenticator app</a>');
    const { codes, codesPage } = await addAuthenticator(browser);
    expect(codes).toHaveLength(10);
    // The codes travel in the page, never in a URL, and the page offers copying and printing them.
    expect(codesPage.url).toBe(url('/account/security/recovery-codes'));
    expect(codesPage.body).toContain('data-copy="recovery-codes"');
    expect(codesPage.body).toContain('data-print hidden>Print codes</button>');
    // Shown once: a reload goes back to the security page.
    const again = await browser.request(url('/account/security/recovery-codes'));
    expect(again.status).toBe(303);
    expect(again.location).toBe(url('/account/security'));

    const after = await browser.request(url('/account/security'));
    expect(after.body).not.toContain('Set up an authenticator app');
    expect(after.body).toMatch(/<li><strong>Authenticator app<\/strong><br>\n<span class="muted">Added <time datetime="[^"]+" data-precision="day">\d{4}-\d\d-\d\d<\/time>/);
    const [factor] = await stack.ctx.storage.mfaFactors.listByUser(user.id);
    expect(after.body).toContain(`href="/account/security/factors/${factor!.id}/remove"`);
    // A second authenticator app is not set up behind the page's back either.
    expect((await browser.request(url('/account/security/totp'))).location).toBe(url('/account/security'));
  });

  test('removing a factor asks for a second step: a wrong code is refused next to the field, counted, and removes nothing', async () => {
    const { user, browser } = await signedInPatient('pat.remove');
    const { secret, codes } = await addAuthenticator(browser);
    const [factor] = await stack.ctx.storage.mfaFactors.listByUser(user.id);
    const confirm = await browser.request(url(`/account/security/factors/${factor!.id}/remove`));
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain('<h1>Remove the authenticator app?</h1>');
    clock += STEP;
    const right = codeFor(secret, clock);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const refused = await browser.request(url(`/account/security/factors/${factor!.id}/remove`), { form: { csrf: hiddenCsrf(confirm), method: 'otp', code: wrong } });
    expect(refused.status).toBe(401);
    expect(fieldError(refused, 'code')).toBe('That was not accepted. Check it and try again, or use another way below.');
    expect(await stack.ctx.storage.mfaFactors.listByUser(user.id)).toHaveLength(1);
    const [failed] = await searchEvents(stack.ctx.storage.sql, { type: 'login.failed', actor: user.id, limit: 1 });
    expect(failed).toMatchObject({ action: 'otp', reason: 'bad_otp' });

    // A recovery code confirms: the factor goes, and with no second step left its recovery codes go too.
    const removed = await browser.request(url(`/account/security/factors/${factor!.id}/remove`), { form: { csrf: hiddenCsrf(confirm), method: 'recovery', code: codes[0]! } });
    expect(removed.status).toBe(303);
    expect(removed.location).toBe(url('/account/security'));
    expect(await stack.ctx.storage.mfaFactors.listByUser(user.id)).toEqual([]);
    expect(await stack.ctx.storage.recoveryCodes.countUnused(user.id)).toBe(0);
    const [changed] = await searchEvents(stack.ctx.storage.sql, { type: 'user.changed', actor: user.id, limit: 1 });
    expect(changed).toMatchObject({
      action: 'mfa_remove', outcome: 'success', resource: user.id, details: { factor_id: factor!.id, verified_with: 'recovery' },
      changes: [{ field: 'mfa.totp', before: '[redacted]', after: null }, { field: 'mfa.recovery_codes', before: '[redacted]', after: null }],
    });
    const page = await browser.request(url('/account/security'));
    expect(page.body).toContain('<p class="notice" role="status">Authenticator app removed. You now sign in with your password only.</p>');
    expect((await browser.request(url('/account/security'))).body).not.toContain('Authenticator app removed');
  });

  test('the only factor of a role that requires a second step cannot be removed (409), even with the right code', async () => {
    const doctor = await createUser(stack, 'dr.keep', 'practitioner');
    const browser = new Browser(rp.dispatcher);
    const login = await browser.request(url('/account'));
    const enrol = await browser.follow(url('/account/login'), new URL(stack.issuer).origin, { form: { csrf: hiddenCsrf(login), username: 'dr.keep', password: PASSWORD } });
    const secret = manualSecret(enrol);
    expect((await browser.follow(url('/login/mfa/enroll/totp'), new URL(stack.issuer).origin, { form: { csrf: hiddenCsrf(enrol), code: codeFor(secret, clock) } })).status).toBe(200);
    const [factor] = await stack.ctx.storage.mfaFactors.listByUser(doctor.id);
    const confirm = await browser.request(url(`/account/security/factors/${factor!.id}/remove`));
    expect(confirm.body).toContain('cannot be removed while it is the only one. Add another one first.');
    expect(confirm.body).not.toContain('name="method"');
    const account = await browser.request(url('/account'));
    clock += STEP;
    const refused = await browser.request(url(`/account/security/factors/${factor!.id}/remove`), { form: { csrf: hiddenCsrf(account), method: 'otp', code: codeFor(secret, clock) } });
    expect(refused.status).toBe(409);
    expect(await stack.ctx.storage.mfaFactors.listByUser(doctor.id)).toHaveLength(1);
  });

  test('another user\'s factor is not found (404) and stays', async () => {
    const owner = await signedInPatient('pat.owner');
    await addAuthenticator(owner.browser);
    const [factor] = await stack.ctx.storage.mfaFactors.listByUser(owner.user.id);
    const { browser } = await signedInPatient('pat.intruder');
    const account = await browser.request(url('/account'));
    expect((await browser.request(url(`/account/security/factors/${factor!.id}/remove`))).status).toBe(404);
    const res = await browser.request(url(`/account/security/factors/${factor!.id}/remove`), { form: { csrf: hiddenCsrf(account), method: 'otp', code: '000000' } });
    expect(res.status).toBe(404);
    expect(await stack.ctx.storage.mfaFactors.listByUser(owner.user.id)).toHaveLength(1);
  });
});

describe('new recovery codes', () => {
  test('need a second step; then 303 to a page that shows them once; the old codes stop working', async () => {
    const { user, browser } = await signedInPatient('pat.newcodes');
    const { secret, codes: old } = await addAuthenticator(browser);
    const confirm = await browser.request(url('/account/security/recovery-codes/new'));
    expect(confirm.body).toContain('<h1>Create new recovery codes?</h1>');
    const refused = await browser.request(url('/account/security/recovery-codes'), { form: { csrf: hiddenCsrf(confirm), method: 'recovery', code: 'AAAAA-AAAAA' } });
    expect(refused.status).toBe(401);
    expect(fieldError(refused, 'recovery-code')).toBe('That was not accepted. Check it and try again, or use another way below.');
    expect(refused.body).toContain('<details open>');
    expect(await stack.ctx.storage.recoveryCodes.countUnused(user.id)).toBe(10);

    clock += STEP;
    const made = await browser.request(url('/account/security/recovery-codes'), { form: { csrf: hiddenCsrf(confirm), method: 'otp', code: codeFor(secret, clock) } });
    expect(made.status).toBe(303);
    expect(made.location).toBe(url('/account/security/recovery-codes'));
    const shown = await browser.request(made.location!);
    const fresh = recoveryCodes(shown);
    expect(fresh).toHaveLength(10);
    expect(fresh.some((c) => old.includes(c))).toBe(false);
    expect((await browser.request(url('/account/security/recovery-codes'))).status).toBe(303);
    expect(await stack.ctx.storage.recoveryCodes.countUnused(user.id)).toBe(10);
    // An old code no longer confirms anything.
    const stale = await browser.request(url('/account/security/recovery-codes'), { form: { csrf: hiddenCsrf(confirm), method: 'recovery', code: old[1]! } });
    expect(stale.status).toBe(401);
  });

  test('wrong answers count toward the lockout: once it starts, even the right code is refused and the page says for how long', async () => {
    const { user, browser } = await signedInPatient('pat.guesser');
    const { secret } = await addAuthenticator(browser);
    const confirm = await browser.request(url('/account/security/recovery-codes/new'));
    let last!: Step;
    for (let i = 0; i < 5; i++) last = await browser.request(url('/account/security/recovery-codes'), { form: { csrf: hiddenCsrf(confirm), method: 'recovery', code: `AAAAA-AAAA${i + 2}` } });
    expect(fieldError(last, 'recovery-code')).toBe('Too many failed sign-ins with this username. Sign-in with it is paused: try again in 1 minute.');
    clock += STEP;
    const right = await browser.request(url('/account/security/recovery-codes'), { form: { csrf: hiddenCsrf(confirm), method: 'otp', code: codeFor(secret, clock) } });
    expect(right.status).toBe(401);
    expect(fieldError(right, 'code')).toBe('Too many failed sign-ins with this username. Sign-in with it is paused: try again in 30 seconds.');
    expect((await searchEvents(stack.ctx.storage.sql, { type: 'login.locked', actor: user.id, limit: 5 }))).toHaveLength(1);
  });
});
