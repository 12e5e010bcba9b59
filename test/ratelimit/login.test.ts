// rate_limits.login on a real server and a controlled clock: password submissions are counted per
// account (known or not) and per address, successes too; over the limit the sign-in page comes back
// with 429, Retry-After and one message that does not tell whether the account exists, without
// checking the password; the first refusal per key and minute is audited once as login.failed,
// reason rate_limited, without the username.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { RATE_LIMITED_LOGIN } from '../../src/http/request-rate-limits.js';
import { GENERIC_LOGIN_FAILURE } from '../../src/interaction/login.js';
import { Browser, formAction, hiddenCsrf, type Step } from '../support/browserless.js';
import { authorizationUrl, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { PASSWORD, createUser, errorText } from '../identity/support.js';

const MINUTE = 60_000;
// Windows are aligned to the clock: the tests start each minute on its boundary.
let clock = Math.floor(Date.now() / MINUTE) * MINUTE;
let stack: TestStack;
let rp: Rp;

beforeAll(async () => {
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => {
      c.rate_limits.login.per_account = 3;
      c.rate_limits.login.per_address = 10;
      // Keep the failure lockout out of the way: these tests are about the request rate.
      c.login.max_failures_per_account = 1000;
      c.login.max_failures_per_address = 1000;
    },
  });
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

async function loginPage(browser: Browser): Promise<Step> {
  const { url } = await authorizationUrl(rp);
  return browser.follow(url.href, stack.issuer);
}

const attempt = (browser: Browser, page: Step, username: string, password: string) =>
  browser.request(formAction(page), { form: { csrf: hiddenCsrf(page), username, password } });

const rateLimited = async (since: number): Promise<AuditEvent[]> =>
  (await searchEvents(stack.ctx.storage.sql, { type: 'login.failed', since, limit: 1000 })).filter((e) => e.reason === 'rate_limited');

describe('per account (rate_limits.login.per_account = 3)', () => {
  test('the 4th submission for a name in a minute gets 429 and one message, known account or not, even with the right password', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const start = clock;
    const user = await createUser(stack, 'rl.known', 'patient');
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    const refused: Step[] = [];
    for (const name of ['rl.known', 'rl.nobody']) {
      for (let i = 0; i < 3; i++) {
        const r = await attempt(browser, page, name, `wrong-${i}-password`);
        expect(r.status).toBe(401);
        expect(errorText(r)).toBe(GENERIC_LOGIN_FAILURE);
      }
      // The right password of the known account changes nothing: it is not checked.
      refused.push(await attempt(browser, page, name, name === 'rl.known' ? PASSWORD : 'any password at all'));
    }
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('60');
      expect(errorText(r)).toBe(RATE_LIMITED_LOGIN);
      expect(r.body).toContain('type="password"');
    }
    // Same page for both apart from the form's CSRF token and the username kept in its field.
    const strip = (s: Step) => s.body.replace(/name="csrf" value="[^"]+"/, '').replace(/(name="username"[^>]*value=")[^"]*"/, '$1"');
    expect(strip(refused[0]!)).toBe(strip(refused[1]!));

    // Another name from the same address is not affected; "RL.KNOWN" is the same account.
    expect((await attempt(browser, page, 'rl.someone-else', 'wrong password')).status).toBe(401);
    expect((await attempt(browser, page, 'RL.KNOWN', PASSWORD)).status).toBe(429);

    // One event per account and window; the user id when the name is an account's; never a username.
    const events = await rateLimited(start);
    expect(events).toHaveLength(2);
    const known = events.find((e) => e.actor.userId === user.id);
    expect(known).toMatchObject({
      outcome: 'denied', action: 'pwd', sourceAddress: '127.0.0.1', actor: { userId: user.id, clientId: stack.demo.client_id },
      details: { limit: 'rate_limits.login.per_account', max: 3, window_seconds: 60 },
    });
    expect(events.filter((e) => e.actor.userId === undefined)).toHaveLength(1);
    const json = JSON.stringify(events);
    for (const name of ['rl.known', 'rl.nobody', 'RL.KNOWN']) expect(json.toLowerCase()).not.toContain(name.toLowerCase());
    // A refused submission is not a failed attempt: no bad_credentials for it.
    const failures = (await searchEvents(stack.ctx.storage.sql, { type: 'login.failed', actor: user.id, since: start, limit: 100 }));
    expect(failures.filter((e) => e.reason === 'bad_credentials')).toHaveLength(3);
  });

  test('the window resets after a minute: the right password signs in', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    await createUser(stack, 'rl.later', 'patient');
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    for (let i = 0; i < 3; i++) await attempt(browser, page, 'rl.later', `wrong-${i}-password`);
    expect((await attempt(browser, page, 'rl.later', PASSWORD)).status).toBe(429);
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const ok = await attempt(browser, page, 'rl.later', PASSWORD);
    expect(ok.status).toBe(303);
  });

  test('the account page counts toward the same limit and answers the same way', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const start = clock;
    const browser = new Browser(rp.dispatcher);
    const account = await browser.request(`${stack.issuer}/account`);
    const submit = (password: string) => browser.request(`${stack.issuer}/account/login`, { form: { csrf: hiddenCsrf(account), username: 'rl.account', password } });
    const page = await loginPage(browser);
    for (let i = 0; i < 2; i++) expect((await submit(`wrong-${i}-password`)).status).toBe(401);
    expect((await attempt(browser, page, 'rl.account', 'wrong password')).status).toBe(401);
    const refused = await submit('wrong again');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(errorText(refused)).toBe(RATE_LIMITED_LOGIN);
    expect(refused.body).toContain('action="/account/login"');
    const events = await rateLimited(start);
    expect(events).toHaveLength(1);
    expect(events[0]!.actor).toEqual({});
  });
});

describe('per address (rate_limits.login.per_address = 10)', () => {
  test('the 11th submission from one address in a minute is refused whatever the name, and audited once', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const start = clock;
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    for (let i = 0; i < 10; i++) expect((await attempt(browser, page, `rl.spray-${i}`, 'Winter2026!')).status).toBe(401);
    for (let i = 10; i < 14; i++) {
      const r = await attempt(browser, page, `rl.spray-${i}`, 'Winter2026!');
      expect(r.status).toBe(429);
      expect(errorText(r)).toBe(RATE_LIMITED_LOGIN);
    }
    const events = await rateLimited(start);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ sourceAddress: '127.0.0.1', details: { limit: 'rate_limits.login.per_address', max: 10 } });
    expect(JSON.stringify(events)).not.toContain('rl.spray');
  });
});
