// Pushed authorization requests (RFC 9126) end to end over real TLS: oauth4webapi pushes, the
// form-driving browser signs in and consents, and every way a request_uri can be misused.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import { startTestStack, type TestStack } from '../support/stack.js';
import { frontChannel, post, relyingParty, type Rp } from '../support/flows.js';
import { addClient } from '../../src/admin/clients.js';
import { DEMO_REDIRECT_URI } from '../../src/server/dev-stack.js';
import { drive, parAuthorizationUrl, push } from './flows.js';
import { dpopKey, proof } from '../dpop/proofs.js';

let stack: TestStack;
let rp: Rp;
let clock = Date.now();
let parEndpoint: string;
const parClient = { id: 'par-required-app', secret: '' };

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  rp = await relyingParty(stack);
  parEndpoint = rp.as.pushed_authorization_request_endpoint!;
  const deps = { storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' };
  const added = await addClient(deps, {
    client_id: parClient.id, name: 'App that must use PAR', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [stack.demo.redirect_uri],
    scope: stack.demo.scope, resources: [stack.demo.resource], token_endpoint_auth_method: 'client_secret_basic', require_pushed_authorization_requests: true,
  }, [stack.demo.resource]);
  parClient.secret = added.secret!;
});
afterAll(async () => stack?.close());

const parForm = (extra: Record<string, string> = {}) => ({
  response_type: 'code', redirect_uri: stack.demo.redirect_uri, scope: stack.demo.scope, state: 'st',
  code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: stack.demo.resource, ...extra,
});

async function exchange(pushed: { verifier: string; state: string }, location: string, r: Rp = rp, options: { DPoP?: oauth.DPoPHandle } = {}) {
  const callback = oauth.validateAuthResponse(r.as, r.client, new URL(location), pushed.state);
  const res = await oauth.authorizationCodeGrantRequest(r.as, r.client, r.auth, callback, stack.demo.redirect_uri, pushed.verifier, {
    ...r.opts, ...options, additionalParameters: { resource: stack.demo.resource },
  });
  return oauth.processAuthorizationCodeResponse(r.as, r.client, res);
}

describe('metadata', () => {
  test('advertises the PAR endpoint and that PAR is not required of every client', () => {
    expect(rp.as.pushed_authorization_request_endpoint).toBe(`${stack.issuer}/par`);
    expect(rp.as.require_pushed_authorization_requests).toBe(false);
  });
});

describe('the pushed request', () => {
  test('a pushed request goes through login and consent and ends in tokens', async () => {
    const pushed = await push(rp);
    expect(pushed.requestUri).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
    expect(pushed.expiresIn).toBe(60);
    const { final, pages } = await drive(rp, parAuthorizationUrl(rp, pushed.requestUri));
    expect(pages.some((p) => p.body.includes('type="password"'))).toBe(true);
    expect(final.status).toBe(303);
    const loc = new URL(final.location!);
    expect(`${loc.origin}${loc.pathname}`).toBe(stack.demo.redirect_uri);
    expect(loc.searchParams.get('state')).toBe(pushed.state);
    expect(loc.searchParams.get('iss')).toBe(stack.issuer);
    const tokens = await exchange(pushed, final.location!);
    expect(tokens.scope).toBe(stack.demo.scope);
    expect(tokens.token_type).toBe('bearer');
  });

  test('the endpoint answers 201 with no-store and the request_uri', async () => {
    const res = await post(rp, parEndpoint, parForm());
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(res.json).sort()).toEqual(['expires_in', 'request_uri']);
  });

  test('front-channel parameters other than client_id and request_uri are ignored', async () => {
    const pushed = await push(rp, { scope: 'openid patient/Patient.rs' });
    const url = parAuthorizationUrl(rp, pushed.requestUri, undefined, { scope: stack.demo.scope, redirect_uri: 'http://127.0.0.1:8765/callback', state: 'other' });
    const { final } = await drive(rp, url);
    const loc = new URL(final.location!);
    expect(`${loc.origin}${loc.pathname}`).toBe(stack.demo.redirect_uri);
    expect(loc.searchParams.get('state')).toBe(pushed.state);
    expect((await exchange(pushed, final.location!)).scope).toBe('openid patient/Patient.rs');
  });

  test('a request_uri is used once: the second use gets an error page', async () => {
    const pushed = await push(rp);
    const url = parAuthorizationUrl(rp, pushed.requestUri);
    expect((await drive(rp, url)).final.status).toBe(303);
    const again = await drive(rp, url);
    expect(again.final.status).toBe(400);
    expect(again.final.location).toBeUndefined();
    expect(again.final.body).toContain('This sign-in request was already used. Start again from the application.');
  });

  test('an expired request_uri gets an error page', async () => {
    const pushed = await push(rp);
    clock += 61_000;
    try {
      const { final } = await drive(rp, parAuthorizationUrl(rp, pushed.requestUri));
      expect(final.status).toBe(400);
      expect(final.location).toBeUndefined();
      expect(final.body).toContain('This sign-in request has expired. Start again from the application.');
    } finally {
      clock = Date.now();
    }
  });

  test('a request_uri works only for the client that pushed it', async () => {
    const pushed = await push(rp);
    const other = await drive(rp, parAuthorizationUrl(rp, pushed.requestUri, parClient.id));
    expect(other.final.status).toBe(400);
    expect(other.final.body).toContain('This sign-in request is not known for this application.');
    // The attempt did not use it up.
    expect((await drive(rp, parAuthorizationUrl(rp, pushed.requestUri))).final.status).toBe(303);
  });

  test('a request_uri this server did not issue gets an error page', async () => {
    const { final } = await drive(rp, parAuthorizationUrl(rp, 'https://attacker.example/request.jwt'));
    expect(final.status).toBe(400);
    expect(final.body).toContain('The request_uri was not issued by this server.');
  });
});

describe('pushing', () => {
  test('a push without client authentication is refused with 401 invalid_client', async () => {
    const res = await post(rp, parEndpoint, { ...parForm(), client_id: stack.demo.client_id }, null);
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
    const wrong = await post(rp, parEndpoint, parForm(), { id: stack.demo.client_id, secret: 'not-the-secret' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toBe('invalid_client');
  });

  test('an invalid request is answered with a JSON error, never a redirect', async () => {
    const cases: [Record<string, string>, number, string, string][] = [
      [{ redirect_uri: 'https://evil.example/cb' }, 400, 'invalid_request', 'The redirect address is not registered for this application.'],
      [{ redirect_uri: '' }, 400, 'invalid_request', 'The request has no redirect_uri.'],
      [{ scope: 'openid system/Patient.rs' }, 400, 'invalid_scope', 'scope "system/Patient.rs" is not allowed for this client'],
      [{ code_challenge_method: 'plain' }, 400, 'invalid_request', 'code_challenge_method must be S256; plain is not supported'],
      [{ response_type: 'token' }, 400, 'unsupported_response_type', 'only response_type=code is supported'],
      [{ request_uri: 'urn:ietf:params:oauth:request_uri:abc' }, 400, 'invalid_request', 'request_uri must not be sent to the pushed authorization request endpoint'],
      [{ dpop_jkt: 'short' }, 400, 'invalid_request', 'dpop_jkt must be a base64url SHA-256 JWK thumbprint'],
    ];
    for (const [extra, status, error, description] of cases) {
      const res = await post(rp, parEndpoint, parForm(extra));
      expect(res.status, JSON.stringify(extra)).toBe(status);
      expect(res.headers.get('location')).toBeNull();
      expect(res.json).toEqual({ error, error_description: description });
    }
  });
});

describe('clients that must use PAR', () => {
  const parRp = () => ({ ...rp, client: { client_id: parClient.id }, auth: oauth.ClientSecretBasic(parClient.secret) });

  test('a plain authorization request is refused with invalid_request at the verified redirect URI', async () => {
    const fc = await frontChannel(parRp());
    expect(fc.final.status).toBe(303);
    const loc = new URL(fc.final.location!);
    expect(`${loc.origin}${loc.pathname}`).toBe(stack.demo.redirect_uri);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toBe('pushed authorization request required');
    expect(loc.searchParams.get('state')).toBe(fc.state);
    expect(loc.searchParams.get('iss')).toBe(stack.issuer);
  });

  test('with an unregistered redirect URI the error is shown on our page, not redirected', async () => {
    const fc = await frontChannel(parRp(), { extra: { redirect_uri: 'https://evil.example/cb' } });
    expect(fc.final.status).toBe(400);
    expect(fc.final.location).toBeUndefined();
    expect(fc.final.body).toContain('The redirect address is not registered for this application.');
  });

  test('the same client gets through with a pushed request', async () => {
    const r = parRp();
    const pushed = await push(r);
    const { final } = await drive(r, parAuthorizationUrl(r, pushed.requestUri));
    expect(final.status).toBe(303);
    expect((await exchange(pushed, final.location!, r)).access_token).toBeTruthy();
  });
});

describe('DPoP with PAR (RFC 9449 §10.1)', () => {
  test('a proof sent with the push binds the code to its key', async () => {
    clock = Date.now();
    const keyPair = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(rp.client, keyPair);
    const pushed = await push(rp, {}, { DPoP });
    const { final } = await drive(rp, parAuthorizationUrl(rp, pushed.requestUri));
    const code = new URL(final.location!).searchParams.get('code')!;
    const other = await dpopKey('ES256');
    const wrong = await post(rp, rp.as.token_endpoint!, {
      grant_type: 'authorization_code', code, redirect_uri: stack.demo.redirect_uri, code_verifier: pushed.verifier,
    }, undefined, { dpop: await proof(other, 'POST', rp.as.token_endpoint!) });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error_description).toBe('the DPoP proof key is not the one the authorization code is bound to');

    const second = await push(rp, {}, { DPoP });
    const next = await drive(rp, parAuthorizationUrl(rp, second.requestUri));
    const tokens = await exchange(second, next.final.location!, rp, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    expect(decodeJwt(tokens.access_token).cnf).toBeDefined();
  });

  test('dpop_jkt that names another key than the proof is refused', async () => {
    clock = Date.now();
    const key = await dpopKey('ES256');
    const other = await dpopKey('ES256');
    const res = await post(rp, parEndpoint, parForm({ dpop_jkt: other.jkt }), undefined, { dpop: await proof(key, 'POST', parEndpoint) });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_dpop_proof', error_description: 'dpop_jkt does not match the key of the DPoP proof' });
  });
});

describe('PAR required of every client (par.require_pushed_authorization_requests)', () => {
  let strict: TestStack;
  let srp: Rp;
  beforeAll(async () => {
    strict = await startTestStack({ configure: (c) => { c.par.require_pushed_authorization_requests = true; } });
    srp = await relyingParty(strict);
  });
  afterAll(async () => strict?.close());

  test('the metadata says so, plain requests are refused and pushed ones work', async () => {
    expect(srp.as.require_pushed_authorization_requests).toBe(true);
    const plain = await frontChannel(srp);
    expect(new URL(plain.final.location!).searchParams.get('error_description')).toBe('pushed authorization request required');
    const pushed = await push(srp);
    const { final } = await drive(srp, parAuthorizationUrl(srp, pushed.requestUri));
    expect(new URL(final.location!).searchParams.get('code')).toBeTruthy();
  });
});

describe('flags of static clients in the configuration file', () => {
  let gitops: TestStack;
  let grp: Rp;
  beforeAll(async () => {
    gitops = await startTestStack({
      configure: (c) => {
        c.clients.push({
          client_id: 'static-fapi-app', name: 'Static FAPI app', grant_types: ['authorization_code', 'refresh_token'],
          redirect_uris: [DEMO_REDIRECT_URI], scope: 'openid', resources: [`${c.issuer}/fhir`], token_endpoint_auth_method: 'none',
          dpop_bound_access_tokens: true, require_pushed_authorization_requests: true,
        });
      },
    });
    grp = await relyingParty(gitops);
  });
  afterAll(async () => gitops?.close());

  test('require_pushed_authorization_requests refuses a plain request', async () => {
    const fc = await frontChannel({ ...grp, client: { client_id: 'static-fapi-app' } }, { scope: 'openid' });
    expect(new URL(fc.final.location!).searchParams.get('error_description')).toBe('pushed authorization request required');
  });

  test('dpop_bound_access_tokens refuses a token request without a proof', async () => {
    const res = await post(grp, grp.as.token_endpoint!, { grant_type: 'authorization_code', code: 'x', redirect_uri: DEMO_REDIRECT_URI, client_id: 'static-fapi-app' }, null);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_dpop_proof', error_description: 'a DPoP proof is required for this client' });
  });
});
