// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the account's opt-in to a second
// step, over real TLS.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch } from 'undici';
import { searchEvents } from '../../src/audit/search.js';
import { Browser, hiddenCsrf } from '../support/browserless.js';
import { codeFlow, frontChannel, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { PASSWORD, actionOf, codeFor, createUser, errorText, manualSecret, recoveryCodes, signInWithPassword } from './support.js';

let stack: TestStack;
let rp: Rp;
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

const logoutUrl = (params: Record<string, string>) => `${stack.issuer}/logout?${new URLSearchParams(params).toString()}`;

describe('RP-initiated logout', () => {
  test('the metadata advertises the end_session_endpoint', async () => {
    const res = await fetch(`${stack.issuer}/.well-known/openid-configuration`, { dispatcher: rp.dispatcher });
    expect(((await res.json()) as Record<string, unknown>).end_session_endpoint).toBe(`${stack.issuer}/logout`);
  });

  test('with the ID token of the signed-in user and a registered URI, the session ends at once and the browser goes back with state', async () => {
    const browser = new Browser(rp.dispatcher);
    const flow = await codeFlow(rp, { browser });
    const res = await browser.request(logoutUrl({ id_token_hint: flow.tokens.id_token!, post_logout_redirect_uri: stack.demo.redirect_uri, state: 'bye-1' }));
    expect(res.status).toBe(303);
    expect(res.location).toBe(`${stack.demo.redirect_uri}?state=bye-1`);
    expect(browser.jar.has('__Host-caduceus-session')).toBe(false);
    // The next authorization asks for the password again.
    const again = await frontChannel(rp, { browser, password: 'not the password' });
    expect(again.pages[0]!.body).toContain('type="password"');
    const user = (await stack.ctx.storage.users.getByUsername(stack.demo.username))!;
    const events = await searchEvents(stack.ctx.storage.sql, { type: 'logout', actor: user.id, limit: 10 });
    expect(events[0]).toMatchObject({ outcome: 'success', action: 'rp_initiated', actor: { userId: user.id, clientId: stack.demo.client_id } });
  });

  test('an expired ID token is still a valid hint', async () => {
    const browser = new Browser(rp.dispatcher);
    const flow = await codeFlow(rp, { browser });
    clock += 6 * 60_000; // past the ID token's 5 minutes, within the session's 15 idle minutes
    const res = await browser.request(logoutUrl({ id_token_hint: flow.tokens.id_token!, post_logout_redirect_uri: stack.demo.redirect_uri }));
    expect(res.status).toBe(303);
    expect(res.location).toBe(stack.demo.redirect_uri);
    expect(browser.jar.has('__Host-caduceus-session')).toBe(false);
  });

  test('without an ID token hint the user is asked first; confirming signs out and shows the signed-out page', async () => {
    const browser = new Browser(rp.dispatcher);
    await codeFlow(rp, { browser });
    const ask = await browser.request(logoutUrl({ client_id: stack.demo.client_id }));
    expect(ask.status).toBe(200);
    expect(ask.body).toContain('Sign out?');
    expect(ask.body).toContain('Demo Patient App asks to sign you out');
    expect(browser.jar.has('__Host-caduceus-session')).toBe(true);
    const forged = await browser.request(`${stack.issuer}/logout`, { form: { csrf: 'forged', client_id: stack.demo.client_id } });
    expect(forged.body).toContain('Sign out?');
    expect(browser.jar.has('__Host-caduceus-session')).toBe(true);
    const done = await browser.request(actionOf(ask, '/logout'), { form: { csrf: hiddenCsrf(ask), client_id: stack.demo.client_id } });
    expect(done.status).toBe(200);
    expect(done.body).toContain('You are signed out');
    expect(browser.jar.has('__Host-caduceus-session')).toBe(false);
  });

  test('a post_logout_redirect_uri that is not registered, or without a client, is refused without redirecting or signing out', async () => {
    const browser = new Browser(rp.dispatcher);
    const flow = await codeFlow(rp, { browser });
    const cases: Array<Record<string, string>> = [
      { id_token_hint: flow.tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/cb' },
      { id_token_hint: flow.tokens.id_token!, post_logout_redirect_uri: `${stack.demo.redirect_uri}/` },
      { post_logout_redirect_uri: stack.demo.redirect_uri },
      { id_token_hint: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', post_logout_redirect_uri: stack.demo.redirect_uri },
      { id_token_hint: flow.tokens.access_token, post_logout_redirect_uri: stack.demo.redirect_uri },
      { id_token_hint: flow.tokens.id_token!, client_id: stack.demo.cc_client_id },
    ];
    for (const params of cases) {
      const res = await browser.request(logoutUrl(params));
      expect(res.status, JSON.stringify(params)).toBe(400);
      expect(res.location).toBeUndefined();
      expect(errorText(res)).toBeDefined();
    }
    expect(browser.jar.has('__Host-caduceus-session')).toBe(true);
  });

  test('logout works by POST from the client too', async () => {
    const browser = new Browser(rp.dispatcher);
    const flow = await codeFlow(rp, { browser });
    const res = await browser.request(`${stack.issuer}/logout`, { form: { id_token_hint: flow.tokens.id_token!, post_logout_redirect_uri: stack.demo.redirect_uri, state: 's' } });
    expect(res.status).toBe(303);
    expect(res.location).toBe(`${stack.demo.redirect_uri}?state=s`);
    expect(browser.jar.has('__Host-caduceus-session')).toBe(false);
  });
});

describe('opting in from the account page', () => {
  test('a patient adds an authenticator app on /account/security; the next sign-in asks for its code', async () => {
    await createUser(stack, 'pat.optin', 'patient');
    const browser = new Browser(rp.dispatcher);
    const account = await browser.request(`${stack.issuer}/account`);
    const signedIn = await browser.request(actionOf(account, '/account/login'), { form: { csrf: hiddenCsrf(account), username: 'pat.optin', password: PASSWORD } });
    expect(signedIn.location).toBe(`${stack.issuer}/account`);
    const security = await browser.request(`${stack.issuer}/account/security`);
    expect(security.status).toBe(200);
    expect(security.body).toContain('You sign in with your password only.');
    expect(security.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(security.body).toContain('<script src="/static/webauthn.js" defer></script>');
    const enrol = await browser.request(`${stack.issuer}/account/security/totp`);
    const secret = manualSecret(enrol);
    // Redirect after POST: the recovery codes are shown once, at the page the 303 leads to.
    const posted = await browser.request(actionOf(enrol, '/account/security/totp'), { form: { csrf: hiddenCsrf(enrol), code: codeFor(secret, clock) } });
    expect(posted.status).toBe(303);
    const done = await browser.request(new URL(posted.location!, stack.issuer).href);
    expect(done.status).toBe(200);
    expect(recoveryCodes(done)).toHaveLength(10);

    clock += 30_000;
    const other = new Browser(rp.dispatcher);
    const { after } = await signInWithPassword(rp, other, 'pat.optin');
    expect(after.url).toBe(`${stack.issuer}/login/mfa`);
    const ok = await other.request(actionOf(after, '/login/mfa/totp'), { form: { csrf: hiddenCsrf(after), code: codeFor(secret, clock) } });
    expect(ok.status).toBe(303);
  });

  test('the passkey script is served from this origin as JavaScript', async () => {
    const res = await fetch(`${stack.issuer}/static/webauthn.js`, { dispatcher: rp.dispatcher });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await res.text()).toContain('navigator.credentials');
  });
});
