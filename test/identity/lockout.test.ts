// Account lockout with a progressive delay on a frozen clock, second-factor failures counting
// toward it, and the throttle of failed client authentication: per client id and source address,
// with an alert (and no lockout) for failures spread over many addresses.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { invalidClient } from '../../src/errors/oauth-error.js';
import { ClientAuthError } from '../../src/oauth/client-auth/index.js';
import { clientAuthLocked, presentedClientId, throttleClientAuthentication } from '../../src/oauth/client-auth/throttle.js';
import { GENERIC_LOGIN_FAILURE, pauseMessage } from '../../src/interaction/login.js';
import { Browser, formAction, hiddenCsrf, type Step } from '../support/browserless.js';
import { authorizationUrl, post, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { testAdapters } from '../storage/databases.js';
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
  test('five failures lock the account for 60 s; each later lockout doubles; the page says sign-in is paused and for how long', async () => {
    const user = await createUser(stack, 'lock.me', 'patient');
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    for (let i = 0; i < 5; i++) {
      const r = await attempt(browser, page, 'lock.me', `wrong-${i}-password`);
      expect(r.status).toBe(401);
      // The failure that starts the lockout already says so.
      expect(errorText(r)).toBe(i < 4 ? GENERIC_LOGIN_FAILURE : pauseMessage({ scope: 'username', seconds: 60 }));
    }
    expect(await lockouts(user.id)).toEqual([{ lockout: 1, seconds: 60, failures: 5 }]);

    // Locked: the right password is refused too, with the time left, now and 59 s later.
    for (const [wait, left] of [[0, 60], [59 * SECOND, 1]] as const) {
      clock += wait;
      const r = await attempt(browser, page, 'lock.me', PASSWORD);
      expect(r.status).toBe(401);
      expect(errorText(r)).toBe(pauseMessage({ scope: 'username', seconds: left }));
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

  test('an unknown username locks the same way, with the same messages as an account', async () => {
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    const bodies: Array<string | undefined> = [];
    for (let i = 0; i < 6; i++) bodies.push(errorText(await attempt(browser, page, 'no.such.person', `guess-${i}-password`)));
    expect(bodies).toEqual([...Array(4).fill(GENERIC_LOGIN_FAILURE), pauseMessage({ scope: 'username', seconds: 60 }), pauseMessage({ scope: 'username', seconds: 60 })]);
    const locked = await searchEvents(stack.ctx.storage.sql, { type: 'login.locked', limit: 1000 });
    expect(locked.some((e) => e.actor.userId === undefined && e.action === 'account')).toBe(true);
  });

  test('wrong second-factor codes count toward the lockout, which ends the pending sign-in', async () => {
    const user = await createUser(stack, 'dr.guesser', 'practitioner');
    const enrol = new Browser(rp.dispatcher);
    const first = await signInWithPassword(rp, enrol, 'dr.guesser');
    const secret = manualSecret(first.after);
    expect((await enrol.follow(actionOf(first.after, '/login/mfa/enroll/totp'), new URL(stack.issuer).origin, { form: { csrf: hiddenCsrf(first.after), code: codeFor(secret, clock) } })).status).toBe(200);

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

  test('after 20 invalid_client failures from one address the client id is locked out there: secrets are no longer checked, the answer stays 401 invalid_client', async () => {
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
    expect(await clientAuthLocked(stack.ctx, 'guessed-app', meta.sourceAddress)).toBe(true);
    expect(await clientAuthLocked(stack.ctx, 'guessed-app', '192.0.2.11')).toBe(false);

    let rightSecretChecked = false;
    const error = await throttleClientAuthentication(stack.ctx, request, async () => { rightSecretChecked = true; return 'client'; }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientAuthError);
    expect(error).toMatchObject({ error: 'invalid_client', status: 401, description: 'client authentication failed', challenge: 'Basic realm="caduceus"' });
    expect(rightSecretChecked).toBe(false);
    expect(checks).toBe(limit);

    const events = await searchEvents(stack.ctx.storage.sql, { type: 'login.locked', client: 'guessed-app', limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', action: 'client', reason: 'too_many_client_auth_failures', sourceAddress: '192.0.2.10' });

    // Other clients, and this client from another address, are not affected; the lockout ends with the window.
    await expect(throttleClientAuthentication(stack.ctx, { ...request, authorization: basic('other-app') }, async () => 'ok')).resolves.toBe('ok');
    await expect(throttleClientAuthentication(stack.ctx, { ...request, sourceAddress: '192.0.2.11' }, async () => 'ok')).resolves.toBe('ok');
    clock += stack.ctx.config.login.failure_window * SECOND + SECOND;
    await expect(throttleClientAuthentication(stack.ctx, request, async () => 'ok')).resolves.toBe('ok');
  });

  test('successes and errors other than invalid_client are not counted', async () => {
    const request = { authorization: basic('busy-app'), params: {}, ...meta };
    for (let i = 0; i < 30; i++) await throttleClientAuthentication(stack.ctx, request, async () => 'ok');
    const { invalidRequest } = await import('../../src/errors/oauth-error.js');
    for (let i = 0; i < 30; i++) await expect(throttleClientAuthentication(stack.ctx, request, async () => { throw invalidRequest('x'); })).rejects.toMatchObject({ error: 'invalid_request' });
    expect(await clientAuthLocked(stack.ctx, 'busy-app', meta.sourceAddress)).toBe(false);
  });

  test('a colon in a client id cannot make two (client id, address) pairs share a count', async () => {
    const limit = stack.ctx.config.login.max_client_auth_failures;
    const failing = async () => { throw invalidClient('client authentication failed', 'wrong secret'); };
    const request = { authorization: basic('colon-app'), params: {}, requestId: 'r-2', sourceAddress: '2001:db8::1' };
    for (let i = 0; i < limit; i++) await expect(throttleClientAuthentication(stack.ctx, request, failing)).rejects.toMatchObject({ error: 'invalid_client' });
    expect(await clientAuthLocked(stack.ctx, 'colon-app', '2001:db8::1')).toBe(true);
    expect(await clientAuthLocked(stack.ctx, 'colon-app:2001', 'db8::1')).toBe(false);
  });
});

// Through the real /token endpoint. listen.trusted_proxies holds 127.0.0.1, so X-Forwarded-For
// names the source address of each request (src/http/request-info.ts).
describe.each(await testAdapters())('client authentication throttle at /token ($name)', (adapter) => {
  let http: TestStack;
  let client: Rp;
  let now = Math.floor(Date.now() / 1000) * 1000;

  beforeAll(async () => {
    http = await startTestStack({ adapter, context: { now: () => now }, configure: (c) => { c.listen.trusted_proxies = ['127.0.0.1']; } });
    client = await relyingParty(http);
  });
  afterAll(async () => http?.close());

  /** A new window: no failure of an earlier test counts. */
  const freshWindow = () => { now += http.ctx.config.login.failure_window * SECOND + SECOND; };
  const backend = (secret: string) => ({ id: http.demo.cc_client_id, secret });
  const ccToken = (auth: { id: string; secret: string }, address: string) =>
    post(client, client.as.token_endpoint!, { grant_type: 'client_credentials', resource: http.demo.resource }, auth, { 'x-forwarded-for': address });
  /** The ledger's newest seq: events after it belong to the test that read it. */
  const ledgerHead = async () => (await searchEvents(http.ctx.storage.sql, { limit: 1 }))[0]?.seq ?? 0;
  const clientLockEvents = async (clientId: string, after: number) =>
    (await searchEvents(http.ctx.storage.sql, { type: 'login.locked', client: clientId, limit: 100 })).filter((e) => e.seq > after).sort((a, b) => a.seq - b.seq);

  /** RFC 6749 §5.2: what a wrong secret gets, and what a refused attempt must get too. */
  function expectInvalidClient(res: Awaited<ReturnType<typeof post>>) {
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="caduceus"');
    expect(res.json).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
  }

  test('wrong secrets from one address do not lock the backend client out: its secret from another address still gets a token', async () => {
    freshWindow();
    const limit = http.ctx.config.login.max_client_auth_failures;
    for (let i = 0; i < limit + 5; i++) expectInvalidClient(await ccToken(backend(`wrong-${i}`), '198.51.100.7'));
    const ok = await ccToken(backend(http.demo.cc_client_secret), '203.0.113.9');
    expect(ok.status).toBe(200);
    expect(typeof ok.json.access_token).toBe('string');
  });

  test('from the guessing address even the right secret gets the same 401 invalid_client until the window moves on; the lockout is audited once', async () => {
    freshWindow();
    const since = await ledgerHead();
    const limit = http.ctx.config.login.max_client_auth_failures;
    for (let i = 0; i < limit; i++) expectInvalidClient(await ccToken(backend(`guess-${i}`), '198.51.100.20'));
    for (let i = 0; i < 3; i++) expectInvalidClient(await ccToken(backend(http.demo.cc_client_secret), '198.51.100.20'));

    const events = await clientLockEvents(http.demo.cc_client_id, since);
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({
      seq: expect.any(Number), time: expect.any(Number), type: 'login.locked', actor: { clientId: http.demo.cc_client_id },
      outcome: 'denied', action: 'client', reason: 'too_many_client_auth_failures', requestId: expect.any(String),
      sourceAddress: '198.51.100.20', details: { failures: limit, seconds: http.ctx.config.login.failure_window },
    });

    now += http.ctx.config.login.failure_window * SECOND + SECOND;
    expect((await ccToken(backend(http.demo.cc_client_secret), '198.51.100.20')).status).toBe(200);
  });

  test('failures spread over many addresses raise one alert at client_auth_alert_threshold and lock nothing', async () => {
    freshWindow();
    const since = await ledgerHead();
    const { max_client_auth_failures: limit, client_auth_alert_threshold: threshold, failure_window: window } = http.ctx.config.login;
    expect(threshold).toBe(100);
    // Ten addresses, each below the per-address limit, reach the threshold together with the last failure.
    const perAddress = limit / 2;
    const addresses = Array.from({ length: threshold / perAddress }, (_, i) => `2001:db8::${i + 1}`);
    for (const address of addresses) {
      for (let i = 0; i < perAddress; i++) expectInvalidClient(await ccToken(backend(`spread-${i}`), address));
    }
    const alert = {
      seq: expect.any(Number), time: expect.any(Number), type: 'login.locked', actor: { clientId: http.demo.cc_client_id },
      outcome: 'denied', action: 'client', reason: 'too_many_client_auth_failures_all_sources', requestId: expect.any(String),
      sourceAddress: addresses.at(-1), details: { failures: threshold, seconds: window, locked: false },
    };
    expect(await clientLockEvents(http.demo.cc_client_id, since)).toEqual([alert]);

    // Further failures in the window raise no second alert; one address over its limit is locked out on its own.
    for (let i = 0; i < limit; i++) expectInvalidClient(await ccToken(backend(`more-${i}`), '2001:db8::ff'));
    const events = await clientLockEvents(http.demo.cc_client_id, since);
    expect(events).toHaveLength(2);
    expect(events[0]).toEqual(alert);
    expect(events[1]).toMatchObject({ reason: 'too_many_client_auth_failures', sourceAddress: '2001:db8::ff', details: { failures: limit } });

    // The client is not locked: its secret works from a guessing address below the limit and from a new one.
    for (const address of [addresses[0]!, '2001:db8::100']) {
      const ok = await ccToken(backend(http.demo.cc_client_secret), address);
      expect(ok.status).toBe(200);
      expect(typeof ok.json.access_token).toBe('string');
    }
    expectInvalidClient(await ccToken(backend(http.demo.cc_client_secret), '2001:db8::ff'));
  });

  test('an unknown client id is throttled the same way, per address, with the same answer', async () => {
    freshWindow();
    const since = await ledgerHead();
    const limit = http.ctx.config.login.max_client_auth_failures;
    const nobody = (secret: string) => ({ id: 'no-such-backend', secret });
    for (let i = 0; i < limit + 3; i++) expectInvalidClient(await ccToken(nobody(`guess-${i}`), '198.51.100.30'));
    expect(await clientAuthLocked(http.ctx, 'no-such-backend', '198.51.100.30')).toBe(true);
    expectInvalidClient(await ccToken(nobody('guess-b'), '198.51.100.31'));
    expect(await clientAuthLocked(http.ctx, 'no-such-backend', '198.51.100.31')).toBe(false);

    const events = await clientLockEvents('no-such-backend', since);
    expect(events).toEqual([{
      seq: expect.any(Number), time: expect.any(Number), type: 'login.locked', actor: { clientId: 'no-such-backend' },
      outcome: 'denied', action: 'client', reason: 'too_many_client_auth_failures', requestId: expect.any(String),
      sourceAddress: '198.51.100.30', details: { failures: limit, seconds: http.ctx.config.login.failure_window },
    }]);
  });
});
