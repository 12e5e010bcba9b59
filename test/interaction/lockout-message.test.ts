// A paused sign-in says so, and for how long, without telling whether the account exists: the
// lockout is keyed by the lower-cased username typed (src/interaction/login.ts), so an unknown
// name hammered the same way gets the very same page. The username stays in its field after any
// failure. Over real TLS on a frozen clock.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { GENERIC_LOGIN_FAILURE, waitText } from '../../src/interaction/login.js';
import { Browser, formAction, hiddenCsrf, type Step } from '../support/browserless.js';
import { authorizationUrl, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { PASSWORD, actionOf, codeFor, createUser, errorText, manualSecret, signInWithPassword } from '../identity/support.js';

let stack: TestStack;
let rp: Rp;
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;
const SECOND = 1000;

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock }, configure: (c) => { c.login.max_failures_per_address = 1000; } });
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

async function loginPage(browser: Browser): Promise<Step> {
  const { url } = await authorizationUrl(rp);
  return browser.follow(url.href, stack.issuer);
}

const attempt = (browser: Browser, page: Step, username: string, password: string) =>
  browser.request(formAction(page), { form: { csrf: hiddenCsrf(page), username, password } });

const paused = (seconds: number) => `Too many failed sign-ins with this username. Sign-in with it is paused: try again in ${waitText(seconds)}.`;

/** The page without what differs by design: the interaction, its CSRF token and the username typed. */
const comparable = (page: Step, username: string) =>
  page.body.replace(/action="\/interaction\/[^/]+\/login"/, '').replace(/name="csrf" value="[^"]+"/, '').replace(`value="${username}"`, 'value="NAME"');

describe('a paused sign-in', () => {
  test('says it is paused and for how long, the same for an account and for a name without one, and keeps the username', async () => {
    await createUser(stack, 'pause.known', 'patient');
    const pages = new Map<string, Step[]>();
    for (const name of ['pause.known', 'pause.nobody']) {
      const browser = new Browser(rp.dispatcher);
      const page = await loginPage(browser);
      const answers: Step[] = [];
      for (let i = 0; i < 5; i++) answers.push(await attempt(browser, page, name, `wrong-${i}-password`));
      // The right password of the known account during the lockout, 20 s later.
      clock += 20 * SECOND;
      answers.push(await attempt(browser, page, name, name === 'pause.known' ? PASSWORD : 'any password'));
      clock -= 20 * SECOND;
      pages.set(name, answers);
    }
    for (const [name, answers] of pages) {
      expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 401]);
      // Four plain failures, then the failure that starts the lockout says so at once.
      expect(answers.slice(0, 4).map(errorText)).toEqual(Array(4).fill(GENERIC_LOGIN_FAILURE));
      expect(errorText(answers[4]!)).toBe(paused(60));
      expect(errorText(answers[5]!)).toBe(paused(40));
      for (const a of answers) expect(a.body).toContain(`id="username" name="username" value="${name}"`);
    }
    // Byte for byte the same page, apart from the interaction, its CSRF token and the name typed.
    expect(comparable(pages.get('pause.known')![5]!, 'pause.known')).toBe(comparable(pages.get('pause.nobody')![5]!, 'pause.nobody'));
    expect(comparable(pages.get('pause.known')![4]!, 'pause.known')).toBe(comparable(pages.get('pause.nobody')![4]!, 'pause.nobody'));
  });

  test('the wait counts down, and once it is over the right password signs in', async () => {
    await createUser(stack, 'pause.wait', 'patient');
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    for (let i = 0; i < 5; i++) await attempt(browser, page, 'pause.wait', `wrong-${i}-password`);
    clock += 59 * SECOND;
    expect(errorText(await attempt(browser, page, 'PAUSE.WAIT', PASSWORD))).toBe(paused(1));
    clock += 2 * SECOND;
    expect((await attempt(browser, page, 'pause.wait', PASSWORD)).status).toBe(303);
  });

  test('a second lockout doubles the wait, and the account page says it the same way', async () => {
    await createUser(stack, 'pause.twice', 'patient');
    const browser = new Browser(rp.dispatcher);
    const account = await browser.request(`${stack.issuer}/account`);
    const post = (password: string) => browser.request(`${stack.issuer}/account/login`, { form: { csrf: hiddenCsrf(account), username: 'pause.twice', password } });
    for (let i = 0; i < 5; i++) await post(`wrong-${i}-password`);
    clock += 61 * SECOND;
    // The failures are still in the window: one more starts lockout 2, of 120 s.
    const second = await post('wrong again password');
    expect(second.status).toBe(401);
    expect(errorText(second)).toBe(paused(120));
    expect(second.body).toContain('value="pause.twice"');
    clock += 30 * SECOND;
    expect(errorText(await post(PASSWORD))).toBe(paused(90));
    const locked = await searchEvents(stack.ctx.storage.sql, { type: 'login.locked', limit: 1000 });
    expect(locked.filter((e) => e.details?.seconds === 120).length).toBeGreaterThan(0);
  });

  test('wrong second-step codes that lock the account end on a page that says it is paused and for how long', async () => {
    await createUser(stack, 'dr.pause', 'practitioner');
    const enrol = new Browser(rp.dispatcher);
    const first = await signInWithPassword(rp, enrol, 'dr.pause');
    const secret = manualSecret(first.after);
    await enrol.request(actionOf(first.after, '/login/mfa/enroll/totp'), { form: { csrf: hiddenCsrf(first.after), code: codeFor(secret, clock) } });
    clock += 30 * SECOND;
    const browser = new Browser(rp.dispatcher);
    let { after: page } = await signInWithPassword(rp, browser, 'dr.pause');
    const right = codeFor(secret, clock);
    const wrong = (i: number) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 5; i++) page = await browser.request(actionOf(page, '/login/mfa/totp'), { form: { csrf: hiddenCsrf(page), code: wrong(i) } });
    expect(page.status).toBe(401);
    expect(errorText(page)).toBe(paused(60));
    expect(page.body).toContain('<h1>Sign-in paused</h1>');
  });

  test('failures from one address over its limit pause every name from there, saying so without naming an account', async () => {
    const limit = stack.ctx.config.login.max_failures_per_address;
    stack.ctx.config.login.max_failures_per_address = 1;
    try {
      const browser = new Browser(rp.dispatcher);
      const page = await loginPage(browser);
      const r = await attempt(browser, page, 'pause.someone', 'wrong password');
      expect(r.status).toBe(401);
      expect(errorText(r)).toMatch(/^Too many failed sign-ins from your network\. Sign-in is paused: try again in \d+ (second|minute)s?\.$/);
    } finally {
      stack.ctx.config.login.max_failures_per_address = limit;
    }
  });
});
