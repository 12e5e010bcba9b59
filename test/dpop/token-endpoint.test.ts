// DPoP at the token endpoint (RFC 9449 §5, §6, §8, §10) over real TLS, with oauth4webapi as the
// client where it can play the part, and hand-made proofs for the corruptions.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oauth from 'oauth4webapi';
import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import { startTestStack, type TestStack } from '../support/stack.js';
import { frontChannel, introspect, post, relyingParty, type Rp } from '../support/flows.js';
import { addClient } from '../../src/admin/clients.js';
import { openRefreshGrant, refreshTokenDigest } from '../../src/oauth/tokens/refresh-token.js';
import { dpopKey, proof, type DpopKey } from './proofs.js';

let stack: TestStack;
let rp: Rp;
let tokenEndpoint: string;
let key: DpopKey;
const publicClient = 'dpop-public-app';
const requireDpopClient = { id: 'dpop-required-backend', secret: '' };

const nowS = () => Math.floor(Date.now() / 1000);
const ccForm = { grant_type: 'client_credentials' };
const cc = () => ({ id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });

async function jktOf(keyPair: CryptoKeyPair): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(keyPair.publicKey), 'sha256');
}

beforeAll(async () => {
  stack = await startTestStack();
  rp = await relyingParty(stack);
  tokenEndpoint = rp.as.token_endpoint!;
  key = await dpopKey('ES256');
  const deps = { storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' };
  await addClient(deps, {
    client_id: publicClient, name: 'Public DPoP App', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [stack.demo.redirect_uri],
    scope: stack.demo.scope, resources: [stack.demo.resource], token_endpoint_auth_method: 'none',
  }, [stack.demo.resource]);
  const added = await addClient(deps, {
    client_id: requireDpopClient.id, name: 'Backend that must use DPoP', grant_types: ['client_credentials'], redirect_uris: [],
    scope: stack.demo.cc_scope, resources: [stack.demo.resource], token_endpoint_auth_method: 'client_secret_basic', dpop_bound_access_tokens: true,
  }, [stack.demo.resource]);
  requireDpopClient.secret = added.secret!;
});
afterAll(async () => stack?.close());

/** The code flow of `client` up to the callback, with optional extra authorization parameters. */
async function callbackFor(client: oauth.Client, extra: Record<string, string> = {}) {
  const r = { ...rp, client };
  const fc = await frontChannel(r, { extra });
  if (!fc.final.location) throw new Error(`no redirect: ${fc.final.status} ${fc.final.body.slice(0, 200)}`);
  return { fc, callback: oauth.validateAuthResponse(rp.as, client, new URL(fc.final.location), fc.state) };
}

describe('DPoP-bound tokens', () => {
  test('metadata advertises the accepted DPoP algorithms', () => {
    expect((rp.as as Record<string, unknown>).dpop_signing_alg_values_supported).toEqual(['ES256', 'ES384', 'PS256', 'EdDSA', 'RS256']);
  });

  test('a code exchange with a valid proof gets token_type DPoP and an access token with cnf.jkt; introspection shows both', async () => {
    const keyPair = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(rp.client, keyPair);
    const { fc, callback } = await callbackFor(rp.client);
    const res = await oauth.authorizationCodeGrantRequest(rp.as, rp.client, rp.auth, callback, stack.demo.redirect_uri, fc.verifier, {
      ...rp.opts, DPoP, additionalParameters: { resource: stack.demo.resource },
    });
    const tokens = await oauth.processAuthorizationCodeResponse(rp.as, rp.client, res);
    expect(tokens.token_type).toBe('dpop');
    const jkt = await jktOf(keyPair);
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt });
    const intro = await introspect(rp, tokens.access_token);
    expect(intro.json).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });
  });

  test('client_credentials with a valid proof gets a DPoP-bound token; without one, a Bearer token without cnf', async () => {
    const bound = await post(rp, tokenEndpoint, ccForm, cc(), { dpop: await proof(key, 'POST', tokenEndpoint) });
    expect(bound.status).toBe(200);
    expect(bound.json.token_type).toBe('DPoP');
    expect(decodeJwt(bound.json.access_token).cnf).toEqual({ jkt: key.jkt });
    const bearer = await post(rp, tokenEndpoint, ccForm, cc());
    expect(bearer.json.token_type).toBe('Bearer');
    expect(decodeJwt(bearer.json.access_token)).not.toHaveProperty('cnf');
    expect((await introspect(rp, bearer.json.access_token, cc())).json.token_type).toBe('Bearer');
  });

  test('a replayed proof is refused with 400 invalid_dpop_proof', async () => {
    const p = await proof(key, 'POST', tokenEndpoint);
    expect((await post(rp, tokenEndpoint, ccForm, cc(), { dpop: p })).status).toBe(200);
    const replay = await post(rp, tokenEndpoint, ccForm, cc(), { dpop: p });
    expect(replay.status).toBe(400);
    expect(replay.json).toEqual({ error: 'invalid_dpop_proof', error_description: 'the DPoP proof was already used (jti replay)' });
  });

  test('a proof for another method or another URL is refused', async () => {
    const htm = await post(rp, tokenEndpoint, ccForm, cc(), { dpop: await proof(key, 'GET', tokenEndpoint) });
    expect(htm.status).toBe(400);
    expect(htm.json).toEqual({ error: 'invalid_dpop_proof', error_description: 'the DPoP proof htm does not match the request method' });
    const htu = await post(rp, tokenEndpoint, ccForm, cc(), { dpop: await proof(key, 'POST', `${stack.issuer}/par`) });
    expect(htu.status).toBe(400);
    expect(htu.json).toEqual({ error: 'invalid_dpop_proof', error_description: 'the DPoP proof htu does not match the request URL' });
  });

  test('a proof issued more than 60 seconds ago is refused', async () => {
    const old = await post(rp, tokenEndpoint, ccForm, cc(), { dpop: await proof(key, 'POST', tokenEndpoint, { iat: nowS() - 120 }) });
    expect(old.status).toBe(400);
    expect(old.json).toEqual({ error: 'invalid_dpop_proof', error_description: 'the DPoP proof is too old (iat)' });
  });

  test('a proof whose jwk holds the private key is refused', async () => {
    const res = await post(rp, tokenEndpoint, ccForm, cc(), { dpop: await proof(key, 'POST', tokenEndpoint, { jwk: key.privateJwk }) });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_dpop_proof', error_description: 'the DPoP proof jwk holds private key material' });
  });

  test('a client configured to require DPoP is refused without a proof (400) and served with one', async () => {
    const missing = await post(rp, tokenEndpoint, ccForm, requireDpopClient);
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual({ error: 'invalid_dpop_proof', error_description: 'a DPoP proof is required for this client' });
    const ok = await post(rp, tokenEndpoint, ccForm, requireDpopClient, { dpop: await proof(key, 'POST', tokenEndpoint) });
    expect(ok.status).toBe(200);
    expect(ok.json.token_type).toBe('DPoP');
  });
});

describe('refresh tokens of public clients are bound to the DPoP key', () => {
  const pub: oauth.Client = { client_id: publicClient };

  async function publicTokens(keyPair: CryptoKeyPair) {
    const { fc, callback } = await callbackFor(pub);
    const res = await oauth.authorizationCodeGrantRequest(rp.as, pub, oauth.None(), callback, stack.demo.redirect_uri, fc.verifier, {
      ...rp.opts, DPoP: oauth.DPoP(pub, keyPair), additionalParameters: { resource: stack.demo.resource },
    });
    return oauth.processAuthorizationCodeResponse(rp.as, pub, res);
  }

  test('a refresh with the same key works and stays bound; another key or no proof gets invalid_grant', async () => {
    const keyPair = await oauth.generateKeyPair('ES256');
    const tokens = await publicTokens(keyPair);
    expect(tokens.token_type).toBe('dpop');
    const jkt = await jktOf(keyPair);
    // Public clients cannot introspect: the binding is read from the sealed grant data.
    const record = await stack.ctx.storage.refreshTokens.get(refreshTokenDigest(stack.ctx, tokens.refresh_token!));
    expect(openRefreshGrant(stack.ctx, record!)).toMatchObject({ dpopJkt: jkt });

    const otherKey = await oauth.generateKeyPair('ES256');
    const wrong = await oauth.refreshTokenGrantRequest(rp.as, pub, oauth.None(), tokens.refresh_token!, { ...rp.opts, DPoP: oauth.DPoP(pub, otherKey) });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({ error: 'invalid_grant', error_description: 'the DPoP proof key is not the one the refresh token is bound to' });

    const none = await post(rp, tokenEndpoint, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: publicClient }, null);
    expect(none.status).toBe(400);
    expect(none.json).toEqual({ error: 'invalid_grant', error_description: 'the refresh token is bound to a DPoP key; send a DPoP proof with that key' });

    // The refused attempts did not use the token up: the holder of the key still can.
    const right = await oauth.refreshTokenGrantRequest(rp.as, pub, oauth.None(), tokens.refresh_token!, { ...rp.opts, DPoP: oauth.DPoP(pub, keyPair) });
    const refreshed = await oauth.processRefreshTokenResponse(rp.as, pub, right);
    expect(refreshed.token_type).toBe('dpop');
    expect(decodeJwt(refreshed.access_token).cnf).toEqual({ jkt });
    const again = await post(rp, tokenEndpoint, { grant_type: 'refresh_token', refresh_token: refreshed.refresh_token!, client_id: publicClient }, null,
      { dpop: await proof(key, 'POST', tokenEndpoint) });
    expect(again.json.error).toBe('invalid_grant');
  });

  test('a confidential client\'s refresh token is not bound: it refreshes without a proof (RFC 9449 §5)', async () => {
    const keyPair = await oauth.generateKeyPair('ES256');
    const { fc, callback } = await callbackFor(rp.client);
    const res = await oauth.authorizationCodeGrantRequest(rp.as, rp.client, rp.auth, callback, stack.demo.redirect_uri, fc.verifier, {
      ...rp.opts, DPoP: oauth.DPoP(rp.client, keyPair), additionalParameters: { resource: stack.demo.resource },
    });
    const tokens = await oauth.processAuthorizationCodeResponse(rp.as, rp.client, res);
    const refreshed = await post(rp, tokenEndpoint, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(refreshed.status).toBe(200);
    expect(refreshed.json.token_type).toBe('Bearer');
  });
});

describe('authorization code binding to a DPoP key (dpop_jkt, RFC 9449 §10)', () => {
  const redeem = (code: string, verifier: string, dpop?: string) => post(rp, tokenEndpoint, {
    grant_type: 'authorization_code', code, redirect_uri: stack.demo.redirect_uri, code_verifier: verifier,
  }, undefined, dpop ? { dpop } : {});

  test('the code is redeemed only with a proof by the named key', async () => {
    const other = await dpopKey('ES256');
    const first = await callbackFor(rp.client, { dpop_jkt: key.jkt });
    const wrong = await redeem(first.callback.get('code')!, first.fc.verifier, await proof(other, 'POST', tokenEndpoint));
    expect(wrong.status).toBe(400);
    expect(wrong.json).toEqual({ error: 'invalid_grant', error_description: 'the DPoP proof key is not the one the authorization code is bound to' });

    const second = await callbackFor(rp.client, { dpop_jkt: key.jkt });
    const none = await redeem(second.callback.get('code')!, second.fc.verifier);
    expect(none.status).toBe(400);
    expect(none.json).toEqual({ error: 'invalid_grant', error_description: 'the authorization code is bound to a DPoP key; send a DPoP proof with that key' });

    const third = await callbackFor(rp.client, { dpop_jkt: key.jkt });
    const right = await redeem(third.callback.get('code')!, third.fc.verifier, await proof(key, 'POST', tokenEndpoint));
    expect(right.status).toBe(200);
    expect(right.json.token_type).toBe('DPoP');
    expect(decodeJwt(right.json.access_token).cnf).toEqual({ jkt: key.jkt });
  });

  test('a malformed dpop_jkt is an invalid_request sent back to the client', async () => {
    const fc = await frontChannel(rp, { extra: { dpop_jkt: 'not-a-thumbprint' } });
    const loc = new URL(fc.final.location!);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toBe('dpop_jkt must be a base64url SHA-256 JWK thumbprint');
  });
});

describe('server nonces (dpop.require_nonce)', () => {
  let nonceStack: TestStack;
  let nrp: Rp;
  beforeAll(async () => {
    nonceStack = await startTestStack({ configure: (c) => { c.dpop.require_nonce = true; } });
    nrp = await relyingParty(nonceStack);
  });
  afterAll(async () => nonceStack?.close());

  test('a proof without a nonce gets 400 use_dpop_nonce and a DPoP-Nonce header; the retry with it succeeds and gets the next nonce', async () => {
    const endpoint = nrp.as.token_endpoint!;
    const auth = { id: nonceStack.demo.cc_client_id, secret: nonceStack.demo.cc_client_secret };
    const first = await post(nrp, endpoint, ccForm, auth, { dpop: await proof(key, 'POST', endpoint) });
    expect(first.status).toBe(400);
    expect(first.json).toEqual({ error: 'use_dpop_nonce', error_description: 'a DPoP nonce is required' });
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{30}$/);
    const retry = await post(nrp, endpoint, ccForm, auth, { dpop: await proof(key, 'POST', endpoint, { nonce: nonce! }) });
    expect(retry.status).toBe(200);
    expect(retry.json.token_type).toBe('DPoP');
    expect(retry.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]{30}$/);
    const forged = await post(nrp, endpoint, ccForm, auth, { dpop: await proof(key, 'POST', endpoint, { nonce: 'A'.repeat(30) }) });
    expect(forged.json.error).toBe('use_dpop_nonce');
  });

  test('oauth4webapi picks the nonce up and its retry succeeds', async () => {
    const client: oauth.Client = { client_id: nonceStack.demo.cc_client_id };
    const auth = oauth.ClientSecretBasic(nonceStack.demo.cc_client_secret);
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const request = () => oauth.clientCredentialsGrantRequest(nrp.as, client, auth, {}, { ...nrp.opts, DPoP });
    let error: unknown;
    try {
      await oauth.processClientCredentialsResponse(nrp.as, client, await request());
    } catch (err) {
      error = err;
    }
    expect(oauth.isDPoPNonceError(error)).toBe(true);
    const tokens = await oauth.processClientCredentialsResponse(nrp.as, client, await request());
    expect(tokens.token_type).toBe('dpop');
  });
});
