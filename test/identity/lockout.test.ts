// Account lockout with a progressive delay on a frozen clock, second-factor failures counting
// toward it, and the per-client throttle of failed client authentication.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { invalidClient } from '../../src/errors/oauth-error.js';
import { ClientAuthError } from '../../src/oauth/client-auth/index.js';
import { clientAuthLocked, presentedClientId, throttleClientAuthentication } from '../../src/interaction/client-throttle.js';
import { GENERIC_LOGIN_FAILURE } from '../../src/interaction/login.js';
import { Browser, formAction, hiddenCsrf, type Step } from '../support/browserless.js';
import { authorizationUrl, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { PASSWORD, actionOf, codeFor, createUser, errorText, manualSecret, signInWithPassword } from './support.js';

let stack: TestStack;
let rp: Rp;
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock }, configure: (c) => { c.login.max_failures_per_address = 1000; } });
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

const SECOND = 1000;

async function loginPage(browser: Browser): Promise<Step> {
  const { url } = await authorizationUrl(rp);
  return browser.follow(url.href, stack.issuer);
}

const attempt = (browser: Browser, page: Step, username: string, password: string) =>
  browser.request(formAction(page), { form: { csrf: hiddenCsrf(page), username, password } });

async function lockouts(userId: string) {
  const events = await searchEvents(stack.ctx.storage.sql, { type: 'login.locked', actor: userId, limit: 100 });
  return events.sort((a, b) => a.seq - b.seq).map((e) => e.details);
}

describe('account lockout', () => {
  test('five failures lock the account for 60 s; each later lockout doubles; the message never changes', async () => {
    const user = await createUser(stack, 'lock.me', 'patient');
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    for (let i = 0; i < 5; i++) {
      const r = await attempt(browser, page, 'lock.me', `wrong-${i}-password`);
      expect(r.status).toBe(401);
      expect(errorText(r)).toBe(GENERIC_LOGIN_FAILURE);
    }
    expect(await lockouts(user.id)).toEqual([{ lockout: 1, seconds: 60, failures: 5 }]);

    // Locked: the right password fails with the same message, now and 59 s later.
    for (const wait of [0, 59 * SECOND]) {
      clock += wait;
      const r = await attempt(browser, page, 'lock.me', PASSWORD);
      expect(r.status).toBe(401);
      expect(errorText(r)).toBe(GENERIC_LOGIN_FAILURE);
    }
    const refused = await searchEvents(stack.ctx.storage.sql, { type: 'login.failed', actor: user.id, limit: 100 });
    expect(refused.filter((e) => e.reason === 'locked')).toHaveLength(2);

    // After the lockout, the failures are still in the window: one more failure locks for 120 s.
    clock += 2 * SECOND;
    expect((await attempt(browser, page, 'lock.me', 'wrong again password')).status).toBe(401);
    expect(await lockouts(user.id)).toEqual([{ lockout: 1, seconds: 60, failures: 5 }, { lockout: 2, seconds: 120, failures: 6 }]);
    clock += 119 * SECOND;
    expect((await attempt(browser, page, 'lock.me', PASSWORD)).status).toBe(401);
    clock += 2 * SECOND;
    expect((await attempt(browser, page, 'lock.me', 'third lock password')).status).toBe(401);
    expect((await lockouts(user.id)).at(-1)).toEqual({ lockout: 3, seconds: 240, failures: 7 });

    // Once the 240 s are over the right password works, and a complete sign-in starts the count again.
    clock += 241 * SECOND;
    const ok = await attempt(browser, page, 'lock.me', PASSWORD);
    expect(ok.status).toBe(303);
    const other = new Browser(rp.dispatcher);
    const again = await loginPage(other);
    for (let i = 0; i < 4; i++) expect((await attempt(other, again, 'lock.me', `after-${i}-password`)).status).toBe(401);
    expect((await lockouts(user.id))).toHaveLength(3);
    expect((await attempt(other, again, 'lock.me', 'fifth after password')).status).toBe(401);
    expect((await lockouts(user.id)).at(-1)).toEqual({ lockout: 1, seconds: 60, failures: 5 });
  });

  test('an unknown username locks the same way, with the same message', async () => {
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    const bodies: Array<string | undefined> = [];
    for (let i = 0; i < 6; i++) bodies.push(errorText(await attempt(browser, page, 'no.such.person', `guess-${i}-password`)));
    expect(new Set(bodies)).toEqual(new Set([GENERIC_LOGIN_FAILURE]));
    const locked = await searchEvents(stack.ctx.storage.sql, { type: 'login.locked', limit: 1000 });
    expect(locked.some((e) => e.actor.userId === undefined && e.action === 'account')).toBe(true);
  });

  test('wrong second-factor codes count toward the lockout, which ends the pending sign-in', async () => {
    const user = await createUser(stack, 'dr.guesser', 'practitioner');
    const enrol = new Browser(rp.dispatcher);
    const first = await signInWithPassword(rp, enrol, 'dr.guesser');
    const secret = manualSecret(first.after);
    expect((await enrol.request(actionOf(first.after, '/login/mfa/enroll/totp'), { form: { csrf: hiddenCsrf(first.after), code: codeFor(secret, clock) } })).status).toBe(200);

    clock += 30 * SECOND;
    const browser = new Browser(rp.dispatcher);
    let { after: page } = await signInWithPassword(rp, browser, 'dr.guesser');
    const right = codeFor(secret, clock);
    const wrongCode = (i: number) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 4; i++) {
      const r = await browser.request(actionOf(page, '/login/mfa/totp'), { form: { csrf: hiddenCsrf(page), code: wrongCode(i) } });
      expect(r.status).toBe(401);
      expect(r.body).toContain('/login/mfa/totp');
      page = r;
    }
    const fifth = await browser.request(actionOf(page, '/login/mfa/totp'), { form: { csrf: hiddenCsrf(page), code: wrongCode(9) } });
    expect(fifth.status).toBe(401);
    expect(fifth.body).not.toContain('/login/mfa/totp');
    expect(browser.jar.has('__Host-caduceus-mfa')).toBe(false);
    expect(await lockouts(user.id)).toEqual([{ lockout: 1, seconds: 60, failures: 5 }]);
    // The right password and then the right code do not get in while locked.
    const retry = new Browser(rp.dispatcher);
    const locked = await signInWithPassword(rp, retry, 'dr.guesser');
    expect(locked.after.status).toBe(401);
    expect(retry.jar.has('__Host-caduceus-session')).toBe(false);
  });
});

describe('client authentication throttle', () => {
  const meta = { requestId: 'r-1', sourceAddress: '192.0.2.10' };
  const basic = (id: string) => `Basic ${Buffer.from(`${id}:not-the-secret`).toString('base64')}`;

  test('reads the presented client id from Basic, client_id or the assertion issuer, and nothing from garbage', () => {
    expect(presentedClientId(basic('app-1'), {})).toBe('app-1');
    expect(presentedClientId(undefined, { client_id: 'pub-1' })).toBe('pub-1');
    const assertion = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"iss":"svc-1"}').toString('base64url')}.sig`;
    expect(presentedClientId(undefined, { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion })).toBe('svc-1');
    expect(presentedClientId('Bearer x', {})).toBeUndefined();
    expect(presentedClientId(undefined, {})).toBeUndefined();
  });

  test('after 20 invalid_client failures the client id is locked out: secrets are no longer checked, the answer stays 401 invalid_client', async () => {
    const limit = stack.ctx.config.login.max_client_auth_failures;
    expect(limit).toBe(20);
    let checks = 0;
    const failing = async () => {
      checks += 1;
      throw new ClientAuthError(invalidClient('client authentication failed', 'wrong secret'), 'Basic realm="caduceus"');
    };
    const request = { authorization: basic('guessed-app'), params: {}, ...meta };
    for (let i = 0; i < limit; i++) await expect(throttleClientAuthentication(stack.ctx, request, failing)).rejects.toMatchObject({ error: 'invalid_client' });
    expect(checks).toBe(limit);
    expect(await clientAuthLocked(stack.ctx, 'guessed-app')).toBe(true);

    let rightSecretChecked = false;
    const error = await throttleClientAuthentication(stack.ctx, request, async () => { rightSecretChecked = true; return 'client'; }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientAuthError);
    expect(error).toMatchObject({ error: 'invalid_client', status: 401, description: 'client authentication failed', challenge: 'Basic realm="caduceus"' });
    expect(rightSecretChecked).toBe(false);
    expect(checks).toBe(limit);

    const events = await searchEvents(stack.ctx.storage.sql, { type: 'login.locked', client: 'guessed-app', limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', action: 'client', reason: 'too_many_client_auth_failures', sourceAddress: '192.0.2.10' });

    // Other clients are not affected; the lockout ends with the window.
    await expect(throttleClientAuthentication(stack.ctx, { ...request, authorization: basic('other-app') }, async () => 'ok')).resolves.toBe('ok');
    clock += stack.ctx.config.login.failure_window * SECOND + SECOND;
    await expect(throttleClientAuthentication(stack.ctx, request, async () => 'ok')).resolves.toBe('ok');
  });

  test('successes and errors other than invalid_client are not counted', async () => {
    const request = { authorization: basic('busy-app'), params: {}, ...meta };
    for (let i = 0; i < 30; i++) await throttleClientAuthentication(stack.ctx, request, async () => 'ok');
    const { invalidRequest } = await import('../../src/errors/oauth-error.js');
    for (let i = 0; i < 30; i++) await expect(throttleClientAuthentication(stack.ctx, request, async () => { throw invalidRequest('x'); })).rejects.toMatchObject({ error: 'invalid_request' });
    expect(await clientAuthLocked(stack.ctx, 'busy-app')).toBe(false);
  });
});
