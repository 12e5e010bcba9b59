// The authorization code flow end to end over real TLS, with oauth4webapi as the client, on
// SQLite and on PostgreSQL.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oauth from 'oauth4webapi';
import { testAdapters } from '../storage/databases.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { codeFlow, frontChannel, introspect, post, refresh, relyingParty, revoke, type Rp } from '../support/flows.js';
import { Browser } from '../support/browserless.js';

const adapters = await testAdapters();

describe.each(adapters)('authorization code flow on $name', (adapter) => {
  let stack: TestStack;
  let rp: Rp;

  beforeAll(async () => {
    stack = await startTestStack({ adapter });
    rp = await relyingParty(stack);
  });
  afterAll(async () => stack?.close());

  test('a user signs in, consents and the client gets an RFC 9068 access token, a refresh token and an ID token', async () => {
    const flow = await codeFlow(rp);
    const loc = new URL(flow.final.location!);
    expect(loc.searchParams.get('iss')).toBe(stack.issuer);
    expect(loc.searchParams.get('state')).toBe(flow.state);
    expect(flow.final.status).toBe(303);
    const claims = await oauth.validateJwtAccessToken(rp.as, new Request('https://rs.test/', { headers: { authorization: `Bearer ${flow.tokens.access_token}` } }), stack.demo.resource, rp.opts);
    expect(claims.client_id).toBe(stack.demo.client_id);
    expect(claims.aud).toBe(stack.demo.resource);
    expect(Object.keys(claims).sort()).toEqual(['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'patient', 'scope', 'sub']);
    // The demo user is linked to Patient/demo-1: the patient/ scopes carry it as context, id only.
    expect(claims.patient).toBe('demo-1');
    expect(flow.tokens.patient).toBe('demo-1');
    expect(claims.sub).toMatch(/^u_/);
    expect(claims.exp - claims.iat).toBe(300);
    expect(typeof flow.tokens.refresh_token).toBe('string');
    expect(typeof flow.tokens.id_token).toBe('string');
    expect(flow.tokens.expires_in).toBe(300);
  });

  test('the authorization code can be redeemed only once, and a replay revokes the tokens issued from it', async () => {
    const flow = await codeFlow(rp);
    expect((await introspect(rp, flow.tokens.access_token)).json.active).toBe(true);
    const replay = await post(rp, rp.as.token_endpoint!, { grant_type: 'authorization_code', code: flow.code, redirect_uri: stack.demo.redirect_uri, code_verifier: flow.verifier });
    expect(replay.status).toBe(400);
    expect(replay.json.error).toBe('invalid_grant');
    expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
    expect((await introspect(rp, flow.tokens.refresh_token!)).json).toEqual({ active: false });
  });

  test('a wrong code_verifier is refused with invalid_grant', async () => {
    const fc = await frontChannel(rp);
    const code = new URL(fc.final.location!).searchParams.get('code')!;
    const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'authorization_code', code, redirect_uri: stack.demo.redirect_uri, code_verifier: oauth.generateRandomCodeVerifier() });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'invalid_grant', error_description: 'code_verifier does not match the code_challenge' });
  });

  test('a missing code_verifier is refused with invalid_grant', async () => {
    const fc = await frontChannel(rp);
    const code = new URL(fc.final.location!).searchParams.get('code')!;
    const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'authorization_code', code, redirect_uri: stack.demo.redirect_uri });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_grant');
  });

  test('a code presented with another redirect_uri is refused with invalid_grant', async () => {
    const fc = await frontChannel(rp);
    const code = new URL(fc.final.location!).searchParams.get('code')!;
    // The demo client's other registered redirect URI: registered, but not the one the code was issued for.
    const other = (await stack.ctx.storage.clients.get(stack.demo.client_id))!.redirectUris.find((u) => u !== stack.demo.redirect_uri)!;
    const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'authorization_code', code, redirect_uri: other, code_verifier: fc.verifier });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_grant');
  });

  test('refresh tokens rotate, and reusing a rotated one revokes the whole family', async () => {
    const flow = await codeFlow(rp);
    const r1 = await refresh(rp, flow.tokens.refresh_token!);
    expect(r1.status).toBe(200);
    expect(r1.json.refresh_token).not.toBe(flow.tokens.refresh_token);
    const reuse = await refresh(rp, flow.tokens.refresh_token!);
    expect(reuse.status).toBe(400);
    expect(reuse.json.error).toBe('invalid_grant');
    const r2 = await refresh(rp, r1.json.refresh_token);
    expect(r2.status).toBe(400);
    expect(r2.json.error).toBe('invalid_grant');
    expect((await introspect(rp, r1.json.access_token)).json).toEqual({ active: false });
  });

  test('scope narrows on refresh and never widens', async () => {
    const flow = await codeFlow(rp);
    const narrow = await refresh(rp, flow.tokens.refresh_token!, { scope: 'openid patient/Patient.rs' });
    expect(narrow.status).toBe(200);
    expect(narrow.json.scope).toBe('openid patient/Patient.rs');
    const wider = await refresh(rp, narrow.json.refresh_token, { scope: 'openid patient/Patient.rs patient/Condition.rs' });
    expect(wider.status).toBe(400);
    expect(wider.json.error).toBe('invalid_scope');
  });

  test('a refresh token asking for another resource is refused with invalid_target', async () => {
    const flow = await codeFlow(rp);
    const res = await refresh(rp, flow.tokens.refresh_token!, { resource: 'https://other.example/fhir' });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_target');
  });

  test('concurrent redemptions of one refresh token give exactly one success', async () => {
    const flow = await codeFlow(rp);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(rp, flow.tokens.refresh_token!)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && r.json.error === 'invalid_grant')).toHaveLength(19);
  });

  test('concurrent redemptions of one authorization code give exactly one success', async () => {
    const fc = await frontChannel(rp);
    const code = new URL(fc.final.location!).searchParams.get('code')!;
    const form = { grant_type: 'authorization_code', code, redirect_uri: stack.demo.redirect_uri, code_verifier: fc.verifier };
    const results = await Promise.all(Array.from({ length: 20 }, () => post(rp, rp.as.token_endpoint!, form)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && r.json.error === 'invalid_grant')).toHaveLength(19);
  });

  test('revoking a JWT access token makes introspection report it inactive', async () => {
    const flow = await codeFlow(rp);
    expect((await revoke(rp, flow.tokens.access_token)).status).toBe(200);
    expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
    expect((await introspect(rp, flow.tokens.refresh_token!)).json.active).toBe(true);
  });

  test('revoking a refresh token revokes the access tokens of its grant', async () => {
    const flow = await codeFlow(rp);
    expect((await revoke(rp, flow.tokens.refresh_token!)).status).toBe(200);
    expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
    const use = await refresh(rp, flow.tokens.refresh_token!);
    expect(use.json.error).toBe('invalid_grant');
  });

  test('another client learns nothing about this client\'s tokens and cannot revoke them', async () => {
    const flow = await codeFlow(rp);
    const other = { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret };
    expect((await introspect(rp, flow.tokens.access_token, other)).json).toEqual({ active: false });
    expect((await introspect(rp, flow.tokens.refresh_token!, other)).json).toEqual({ active: false });
    expect((await revoke(rp, flow.tokens.refresh_token!, other)).status).toBe(200);
    expect((await introspect(rp, flow.tokens.refresh_token!)).json.active).toBe(true);
  });

  test('introspection and revocation require client authentication', async () => {
    const flow = await codeFlow(rp);
    const none = await introspect(rp, flow.tokens.access_token, null);
    expect(none.status).toBe(401);
    expect(none.json.error).toBe('invalid_client');
    const wrong = await revoke(rp, flow.tokens.refresh_token!, { id: stack.demo.client_id, secret: 'wrong-secret' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toBe('invalid_client');
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect((await introspect(rp, flow.tokens.refresh_token!)).json.active).toBe(true);
  });

  test('the user sees every requested scope on the consent page and can leave one out', async () => {
    const flow = await codeFlow(rp, { untick: ['patient/Observation.rs'], extra: { prompt: 'consent' } });
    expect(flow.tokens.scope).toBe('openid offline_access patient/Patient.rs');
    const consentPage = flow.pages.find((p) => p.body.includes('name="decision"'))!;
    for (const s of stack.demo.scope.split(' ')) expect(consentPage.body).toContain(`value="${s}"`);
    expect(consentPage.body).toContain('Read, search Observation records for your patient record.');
  });

  test('denying consent returns access_denied with state and iss', async () => {
    const fc = await frontChannel(rp, { decision: 'deny', extra: { prompt: 'consent' } });
    const loc = new URL(fc.final.location!);
    expect(loc.searchParams.get('error')).toBe('access_denied');
    expect(loc.searchParams.get('state')).toBe(fc.state);
    expect(loc.searchParams.get('iss')).toBe(stack.issuer);
  });

  test('a prior consent is reused for the same or narrower scopes but not for wider ones', async () => {
    const browser = new Browser(rp.dispatcher);
    const first = await codeFlow(rp, { browser, scope: 'openid patient/Patient.rs', extra: { prompt: 'consent' } });
    expect(first.pages.filter((p) => p.body.includes('name="decision"'))).toHaveLength(1);
    const same = await frontChannel(rp, { browser, scope: 'openid patient/Patient.rs' });
    expect(same.pages).toHaveLength(0);
    const narrower = await frontChannel(rp, { browser, scope: 'openid' });
    expect(narrower.pages).toHaveLength(0);
    expect(new URL(narrower.final.location!).searchParams.get('code')).toBeTruthy();
    const wider = await frontChannel(rp, { browser, scope: 'openid patient/Patient.rs patient/Observation.rs', decision: 'deny' });
    expect(wider.pages.map((p) => p.body.includes('name="decision"'))).toEqual([true]);
  });
});
