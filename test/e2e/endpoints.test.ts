// Endpoint behaviour that is the same on every storage adapter: errors, headers, cookies,
// client credentials, throttling, automatic logoff, consent revocation. Real TLS, SQLite.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch } from 'undici';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startTestStack, type TestStack } from '../support/stack.js';
import { authorizationUrl, codeFlow, frontChannel, introspect, post, refresh, relyingParty, type Rp } from '../support/flows.js';
import { Browser, formAction, hiddenCsrf } from '../support/browserless.js';
import { addClient } from '../../src/admin/clients.js';

let stack: TestStack;
let rp: Rp;
let clock = Date.now();

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers, redirect: 'manual', dispatcher: rp.dispatcher });

describe('metadata and keys', () => {
  test('metadata advertises only the code flow, S256 and the RFC 9207 iss parameter', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const m = (await (await get(`${stack.issuer}${path}`)).json()) as Record<string, unknown>;
      expect(m.issuer).toBe(stack.issuer);
      expect(m.code_challenge_methods_supported).toEqual(['S256']);
      expect(m.response_types_supported).toEqual(['code']);
      expect(m.grant_types_supported).toEqual(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange']);
      expect(m.authorization_response_iss_parameter_supported).toBe(true);
    }
  });

  test('the JWKS holds public ES256 keys only', async () => {
    const jwks = (await (await get(`${stack.issuer}/jwks`)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const k of jwks.keys) {
      expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(k.alg).toBe('ES256');
    }
  });
});

describe('transport headers', () => {
  test('every response carries HSTS, and API responses carry Cache-Control: no-store', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/nope', '/account', '/static/caduceus.css']) {
      const res = await get(`${stack.issuer}${path}`);
      expect(res.headers.get('strict-transport-security')).toBe('max-age=63072000; includeSubDomains');
    }
    const token = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' }, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });
    expect(token.headers.get('cache-control')).toBe('no-store');
    expect(token.headers.get('pragma')).toBe('no-cache');
  });

  test('interaction pages forbid framing and inline script, are not cached, and set __Host- cookies', async () => {
    const { url } = await authorizationUrl(rp);
    const first = await get(url.href);
    expect(first.status).toBe(303);
    const cookie = first.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/^__Host-caduceus-browser=[A-Za-z0-9_-]+; Path=\/; Secure; HttpOnly; SameSite=Lax$/);
    const page = await get(new URL(first.headers.get('location')!, stack.issuer).href, { cookie: cookie.split(';')[0]! });
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(await page.text()).not.toMatch(/<script|style=/i);
  });

  test('the session cookie is __Host- prefixed, Secure, HttpOnly and SameSite=Lax', async () => {
    const browser = new Browser(rp.dispatcher);
    const { url } = await authorizationUrl(rp);
    const login = await browser.follow(url.href, stack.issuer);
    const after = await browser.request(formAction(login), { form: { csrf: hiddenCsrf(login), username: stack.demo.username, password: stack.demo.password } });
    expect(after.status).toBe(303);
    const session = after.headers.getSetCookie().find((c) => c.startsWith('__Host-caduceus-session='))!;
    expect(session).toMatch(/; Path=\/; Secure; HttpOnly; SameSite=Lax$/);
  });
});

describe('authorization endpoint errors', () => {
  const authorize = async (params: Record<string, string | undefined>) => {
    const { url } = await authorizationUrl(rp);
    for (const [k, v] of Object.entries(params)) if (v === undefined) url.searchParams.delete(k); else url.searchParams.set(k, v);
    return get(url.href, { accept: 'text/html' });
  };

  test('an unknown client gets an error page and is never redirected', async () => {
    const res = await authorize({ client_id: 'no-such-client' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('not registered');
  });

  test.each([
    ['a trailing slash', 'https://app.example.test/cb/'],
    ['an added query', 'https://app.example.test/cb?x=1'],
    ['another case', 'https://APP.example.test/cb'],
    ['another port', 'https://app.example.test:444/cb'],
    ['a fragment', 'https://app.example.test/cb#f'],
    ['another host', 'https://evil.example/cb'],
  ])('a redirect URI with %s is refused with an error page, never a redirect', async (_name, redirectUri) => {
    const res = await authorize({ redirect_uri: redirectUri });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  test.each([
    ['PKCE plain', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['no code_challenge', { code_challenge: undefined }, 'invalid_request'],
    ['no code_challenge_method', { code_challenge_method: undefined }, 'invalid_request'],
    ['response_type=token', { response_type: 'token' }, 'unsupported_response_type'],
    ['response_type=code id_token', { response_type: 'code id_token' }, 'unsupported_response_type'],
    ['a scope the client may not have', { scope: 'openid system/*.*' }, 'invalid_scope'],
    ['an unregistered resource', { resource: 'https://other.example/fhir' }, 'invalid_target'],
    ['a request object', { request: 'eyJ.x.y' }, 'invalid_request'],
  ])('%s is refused by redirecting with the error, state and iss', async (_name, params, error) => {
    const res = await authorize({ ...params, state: 's123' });
    expect(res.status).toBe(303);
    const loc = new URL(res.headers.get('location')!);
    expect(loc.origin + loc.pathname).toBe(stack.demo.redirect_uri);
    expect(loc.searchParams.get('error')).toBe(error);
    expect(loc.searchParams.get('state')).toBe('s123');
    expect(loc.searchParams.get('iss')).toBe(stack.issuer);
  });

  test('a repeated parameter is refused with an error page', async () => {
    const { url } = await authorizationUrl(rp);
    const res = await get(`${url.href}&scope=openid`, { accept: 'text/html' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });
});

describe('token endpoint errors', () => {
  const token = (form: Record<string, string>, auth: { id: string; secret: string } | null = { id: stack.demo.client_id, secret: stack.demo.client_secret }) =>
    post(rp, rp.as.token_endpoint!, form, auth);

  test.each([['password'], ['implicit'], ['urn:ietf:params:oauth:grant-type:device_code'], ['nonsense']])('grant_type=%s is unsupported_grant_type', async (g) => {
    const res = await token({ grant_type: g, username: 'a', password: 'b' });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('unsupported_grant_type');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  test('a wrong client secret is 401 invalid_client with WWW-Authenticate', async () => {
    const res = await token({ grant_type: 'client_credentials' }, { id: stack.demo.cc_client_id, secret: 'not-the-secret' });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_client');
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="caduceus"');
  });

  test('an unknown client is 401 invalid_client', async () => {
    const res = await token({ grant_type: 'client_credentials' }, { id: 'nobody', secret: 'x' });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_client');
  });

  test('a confidential client cannot authenticate with client_id alone', async () => {
    const res = await token({ grant_type: 'client_credentials', client_id: stack.demo.cc_client_id }, null);
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_client');
  });

  test('two client authentication methods in one request are refused', async () => {
    const res = await token({ grant_type: 'client_credentials', client_id: stack.demo.cc_client_id, client_secret: stack.demo.cc_client_secret }, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_request');
  });

  test('a repeated parameter is invalid_request', async () => {
    const res = await fetch(rp.as.token_endpoint!, {
      method: 'POST', dispatcher: rp.dispatcher, body: 'grant_type=client_credentials&grant_type=client_credentials',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${stack.demo.cc_client_id}:${stack.demo.cc_client_secret}`).toString('base64')}` },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  test('an oversized body is refused with 413 and JSON, and a JSON body with 400', async () => {
    const big = await token({ grant_type: 'client_credentials', filler: 'x'.repeat(100 * 1024) });
    expect(big.status).toBe(413);
    expect(big.json.error).toBe('invalid_request');
    const json = await fetch(rp.as.token_endpoint!, { method: 'POST', dispatcher: rp.dispatcher, body: '{"grant_type":"client_credentials"}', headers: { 'content-type': 'application/json' } });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: string }).error).toBe('invalid_request');
  });

  test('garbage input never produces a 5xx or a stack trace', async () => {
    const bodies = ['%%%', 'grant_type=authorization_code&code=%FF', 'grant_type=refresh_token&refresh_token=' + 'A'.repeat(5000), '\u0000\u0001', 'code=a&code_verifier=b&grant_type=authorization_code&redirect_uri=x'];
    for (const body of bodies) {
      const res = await fetch(rp.as.token_endpoint!, { method: 'POST', dispatcher: rp.dispatcher, body, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${stack.demo.client_id}:${stack.demo.client_secret}`).toString('base64')}` } });
      expect(res.status).toBeLessThan(500);
      expect(await res.text()).not.toMatch(/at .*\.(js|ts):\d+|node_modules/);
    }
  });
});

describe('client credentials', () => {
  const cc = (form: Record<string, string>) => post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', ...form }, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });

  test('issues an access token for the resource with the client as subject and no refresh token', async () => {
    const res = await cc({ resource: stack.demo.resource, scope: 'system/Patient.rs offline_access' });
    expect(res.status).toBe(200);
    expect(res.json.refresh_token).toBeUndefined();
    expect(res.json.scope).toBe('system/Patient.rs');
    const i = await introspect(rp, res.json.access_token, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });
    expect(i.json).toMatchObject({ active: true, aud: stack.demo.resource, sub: stack.demo.cc_client_id, client_id: stack.demo.cc_client_id });
  });

  test('a scope outside the client registration is invalid_scope', async () => {
    const res = await cc({ scope: 'system/*.cruds' });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_scope');
  });

  test('a client without the grant type is unauthorized_client', async () => {
    const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('unauthorized_client');
  });
});

describe('private_key_jwt', () => {
  test('a signed client assertion authenticates once; its replay is refused', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES384');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES384' };
    await addClient({ storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' }, {
      client_id: 'backend-pkjwt', name: 'Backend', grant_types: ['client_credentials'], redirect_uris: [], scope: 'system/Patient.rs',
      resources: [stack.demo.resource], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] },
    }, [stack.demo.resource]);
    const assertion = await new SignJWT({}).setProtectedHeader({ alg: 'ES384', kid: 'k1' }).setIssuer('backend-pkjwt').setSubject('backend-pkjwt')
      .setAudience(rp.as.token_endpoint!).setJti(crypto.randomUUID()).setIssuedAt(Math.floor(clock / 1000)).setExpirationTime(Math.floor(clock / 1000) + 120).sign(privateKey);
    const form = { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
    const ok = await post(rp, rp.as.token_endpoint!, form, null);
    expect(ok.status).toBe(200);
    const replay = await post(rp, rp.as.token_endpoint!, form, null);
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('invalid_client');
  });
});

describe('login', () => {
  async function loginPage(browser: Browser) {
    const { url } = await authorizationUrl(rp);
    return browser.follow(url.href, stack.issuer);
  }

  test('a wrong password and an unknown user get the same generic message', async () => {
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    const wrong = await browser.request(formAction(page), { form: { csrf: hiddenCsrf(page), username: stack.demo.username, password: 'wrong password!' } });
    const unknown = await browser.request(formAction(page), { form: { csrf: hiddenCsrf(page), username: 'no.such.user', password: 'wrong password!' } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const message = (b: string) => /<p class="error" role="alert">([^<]+)</.exec(b)?.[1];
    expect(message(wrong.body)).toBe(message(unknown.body));
  });

  test('a login form without the CSRF token is refused', async () => {
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    const res = await browser.request(formAction(page), { form: { csrf: 'forged', username: stack.demo.username, password: stack.demo.password } });
    expect(res.status).toBe(403);
    expect(browser.jar.has('__Host-caduceus-session')).toBe(false);
  });

  test('after five failures the account is throttled, even for the right password', async () => {
    const { addUser } = await import('../../src/admin/users.js');
    await addUser({ storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' }, { username: 'throttle.me', password: 'correct horse battery' });
    const browser = new Browser(rp.dispatcher);
    const page = await loginPage(browser);
    for (let i = 0; i < 5; i++) {
      const r = await browser.request(formAction(page), { form: { csrf: hiddenCsrf(page), username: 'throttle.me', password: `wrong-${i}-password` } });
      expect(r.status).toBe(401);
    }
    const right = await browser.request(formAction(page), { form: { csrf: hiddenCsrf(page), username: 'throttle.me', password: 'correct horse battery' } });
    expect(right.status).toBe(401);
    expect(browser.jar.has('__Host-caduceus-session')).toBe(false);
  });

  test('a session ends after 15 idle minutes: the next authorization asks for the password again', async () => {
    const browser = new Browser(rp.dispatcher);
    await codeFlow(rp, { browser });
    const again = await frontChannel(rp, { browser, password: 'not used' });
    expect(again.pages).toHaveLength(0);
    clock += 15 * 60 * 1000 + 1000;
    const later = await frontChannel(rp, { browser });
    expect(later.pages[0]!.body).toContain('type="password"');
  });

  test('a session ends after 12 hours even when active', async () => {
    const browser = new Browser(rp.dispatcher);
    await codeFlow(rp, { browser });
    const start = clock;
    for (let i = 0; i < 60; i++) {
      clock += 14 * 60 * 1000;
      const r = await frontChannel(rp, { browser, password: 'not used' });
      if (r.pages.length) {
        expect(clock - start).toBeGreaterThanOrEqual(12 * 3600 * 1000);
        expect(clock - start).toBeLessThan(12 * 3600 * 1000 + 14 * 60 * 1000);
        expect(r.pages[0]!.body).toContain('type="password"');
        return;
      }
    }
    throw new Error('the session outlived the absolute timeout');
  });
});

describe('consent review', () => {
  test('a user revokes a consent on the account page and its tokens stop working', async () => {
    const browser = new Browser(rp.dispatcher);
    const flow = await codeFlow(rp, { browser, extra: { prompt: 'consent' } });
    const account = await browser.request(`${stack.issuer}/account`);
    expect(account.status).toBe(200);
    const consents = await stack.ctx.storage.consents.listByUser((await stack.ctx.storage.users.getByUsername(stack.demo.username))!.id);
    const newest = consents[0]!;
    expect(account.body).toContain(`/account/consents/${newest.id}/revoke`);
    expect(newest.clientAddress).toBe('127.0.0.1');
    expect(newest.textVersion).toBe('2026-11-01');
    // Redirect after POST: the result shows at the account page, so a reload does not repeat it.
    const posted = await browser.request(`${stack.issuer}/account/consents/${newest.id}/revoke`, { form: { csrf: hiddenCsrf(account) } });
    expect(posted.status).toBe(303);
    const res = await browser.request(new URL(posted.location!, stack.issuer).href);
    expect(res.status).toBe(200);
    expect(res.body).toContain('Access revoked');
    expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
    expect((await refresh(rp, flow.tokens.refresh_token!)).json.error).toBe('invalid_grant');
  });
});
