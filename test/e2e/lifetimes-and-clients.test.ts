// Token lifetimes on a frozen clock, public clients, userinfo and key rotation, over real TLS.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oauth from 'oauth4webapi';
import { fetch } from 'undici';
import { startTestStack, type TestStack } from '../support/stack.js';
import { codeFlow, frontChannel, introspect, post, refresh, relyingParty, type Rp } from '../support/flows.js';
import { addClient } from '../../src/admin/clients.js';
import { decodeJwt, decodeProtectedHeader } from 'jose';

let stack: TestStack;
let rp: Rp;
let clock = Date.now();

beforeAll(async () => {
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => { c.tokens.refresh_token_idle_ttl = 3600; c.tokens.refresh_token_absolute_ttl = 4 * 3600; },
  });
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

describe('lifetimes', () => {
  test('an access token is inactive after its 5 minutes', async () => {
    const flow = await codeFlow(rp);
    expect((await introspect(rp, flow.tokens.access_token)).json.active).toBe(true);
    clock += 301_000;
    expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
  });

  test('an authorization code expires after 60 seconds', async () => {
    const fc = await frontChannel(rp);
    const code = new URL(fc.final.location!).searchParams.get('code')!;
    clock += 61_000;
    const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'authorization_code', code, redirect_uri: stack.demo.redirect_uri, code_verifier: fc.verifier });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'invalid_grant', error_description: 'the authorization code has expired' });
  });

  test('a refresh token unused for longer than the idle lifetime is refused', async () => {
    const flow = await codeFlow(rp);
    clock += 3601_000;
    const res = await refresh(rp, flow.tokens.refresh_token!);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'invalid_grant', error_description: 'the refresh token has expired' });
  });

  test('rotation never extends a family past its absolute lifetime', async () => {
    const flow = await codeFlow(rp);
    let rt = flow.tokens.refresh_token!;
    for (let i = 0; i < 4; i++) {
      clock += 50 * 60_000;
      const r = await refresh(rp, rt);
      expect(r.status).toBe(200);
      rt = r.json.refresh_token;
    }
    clock += 50 * 60_000; // 250 minutes after the grant: past the 4 h absolute lifetime
    const late = await refresh(rp, rt);
    expect(late.status).toBe(400);
    expect(late.json.error).toBe('invalid_grant');
  });
});

describe('public clients', () => {
  test('a public client (auth method none) completes the code flow with PKCE and cannot use client_credentials or introspection', async () => {
    const deps = { storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' };
    await addClient(deps, {
      client_id: 'native-app', name: 'Native App', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: ['http://127.0.0.1/cb'],
      scope: 'openid offline_access patient/Patient.rs', resources: [stack.demo.resource], token_endpoint_auth_method: 'none',
    }, [stack.demo.resource]);
    const pub: Rp = { ...rp, client: { client_id: 'native-app', token_endpoint_auth_method: 'none' }, auth: oauth.None(), stack: { ...stack, demo: { ...stack.demo, redirect_uri: 'http://127.0.0.1:50123/cb', client_id: 'native-app', scope: 'openid offline_access patient/Patient.rs' } } };
    const flow = await codeFlow(pub);
    expect(flow.tokens.token_type).toBe('bearer');
    const cc = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', client_id: 'native-app' }, null);
    expect(cc.status).toBe(400);
    expect(cc.json.error).toBe('unauthorized_client');
    const intro = await post(rp, rp.as.introspection_endpoint!, { token: flow.tokens.access_token, client_id: 'native-app' }, null);
    expect(intro.status).toBe(401);
    expect(intro.json.error).toBe('invalid_client');
    const r = await post(rp, rp.as.token_endpoint!, { grant_type: 'refresh_token', refresh_token: flow.tokens.refresh_token!, client_id: 'native-app' }, null);
    expect(r.status).toBe(200);
  });
});

describe('OpenID Connect', () => {
  test('the ID token and userinfo carry the opaque subject only', async () => {
    const flow = await codeFlow(rp);
    const id = decodeJwt(flow.tokens.id_token!);
    expect(Object.keys(id).sort()).toEqual(['acr', 'amr', 'at_hash', 'aud', 'auth_time', 'exp', 'iat', 'iss', 'sub']);
    const withNonce = await frontChannel(rp, { extra: { nonce: 'n-0S6_WzA2Mj' } });
    const code = new URL(withNonce.final.location!).searchParams.get('code')!;
    const tokens = await post(rp, rp.as.token_endpoint!, { grant_type: 'authorization_code', code, redirect_uri: stack.demo.redirect_uri, code_verifier: withNonce.verifier });
    expect(decodeJwt(tokens.json.id_token).nonce).toBe('n-0S6_WzA2Mj');
    const res = await fetch(`${stack.issuer}/userinfo`, { headers: { authorization: `Bearer ${flow.tokens.access_token}` }, dispatcher: rp.dispatcher });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sub: id.sub });
    const bad = await fetch(`${stack.issuer}/userinfo`, { headers: { authorization: 'Bearer nope' }, dispatcher: rp.dispatcher });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });
});

describe('key rotation', () => {
  test('after rotation new tokens use the new key and tokens signed by the old key stay valid', async () => {
    const before = await codeFlow(rp);
    const oldKid = decodeProtectedHeader(before.tokens.access_token).kid;
    await stack.ctx.keys.rotate(clock, { retainMs: 20 * 60_000 });
    const jwks = (await (await fetch(`${stack.issuer}/jwks`, { dispatcher: rp.dispatcher })).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(oldKid);
    const after = await codeFlow(rp);
    const newKid = decodeProtectedHeader(after.tokens.access_token).kid;
    expect(newKid).not.toBe(oldKid);
    expect(jwks.keys.map((k) => k.kid)).toContain(newKid);
    expect((await introspect(rp, before.tokens.access_token)).json.active).toBe(true);
  });
});

describe('backend services', () => {
  test('client_credentials tokens live at most 300 s even when access_token_ttl is longer', async () => {
    const original = stack.ctx.config.tokens.access_token_ttl;
    stack.ctx.config.tokens.access_token_ttl = 900;
    try {
      const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' }, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });
      expect(res.status).toBe(200);
      expect(res.json.expires_in).toBe(300);
      const claims = decodeJwt(res.json.access_token);
      expect(claims.exp! - claims.iat!).toBe(300);
      const user = await codeFlow(rp);
      expect(user.tokens.expires_in).toBe(900);
    } finally {
      stack.ctx.config.tokens.access_token_ttl = original;
    }
  });
});

describe('SMART fhirUser', () => {
  test('an ID token for the fhirUser scope carries the absolute URL of the user\'s FHIR resource, and only then', async () => {
    const deps = { storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' };
    const { secret } = await addClient(deps, {
      client_id: 'smart-app', name: 'SMART App', grant_types: ['authorization_code'], redirect_uris: [stack.demo.redirect_uri],
      scope: 'openid fhirUser patient/Patient.rs', resources: [stack.demo.resource], token_endpoint_auth_method: 'client_secret_basic',
    }, [stack.demo.resource]);
    const smart: Rp = { ...rp, client: { client_id: 'smart-app' }, auth: oauth.ClientSecretBasic(secret!), stack: { ...stack, demo: { ...stack.demo, client_id: 'smart-app', scope: 'openid fhirUser patient/Patient.rs' } } };
    const withScope = await codeFlow(smart);
    expect(decodeJwt(withScope.tokens.id_token!).fhirUser).toBe(`${stack.demo.resource}/Patient/demo-1`);
    const without = await codeFlow(smart, { scope: 'openid patient/Patient.rs' });
    expect(decodeJwt(without.tokens.id_token!).fhirUser).toBeUndefined();
  });
});

describe('disabling a user', () => {
  test('revokes the user\'s grants: access and refresh tokens stop working at once', async () => {
    const { addUser, setUserDisabled } = await import('../../src/admin/users.js');
    const deps = { storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' };
    await addUser(deps, { username: 'to.be.disabled', password: 'a long enough password', fhirUser: 'Patient/demo-1' });
    const flow = await codeFlow(rp, { username: 'to.be.disabled', password: 'a long enough password' });
    expect((await introspect(rp, flow.tokens.access_token)).json.active).toBe(true);
    expect(await setUserDisabled(deps, 'to.be.disabled', true)).toBe(true);
    expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
    expect((await refresh(rp, flow.tokens.refresh_token!)).json.error).toBe('invalid_grant');
  });
});
