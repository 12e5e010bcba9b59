// RFC 6750 / RFC 9068 at the gateway: only a valid, unrevoked ES256 access token for this audience,
// presented in the Authorization header, gets through; every refusal is a 401 with the right
// challenge and one phi.denied ledger event. RFC 9700 §2.3 (audience), §4.9.3 (tokens never stored
// in plain text), §4.3.2 (no token in the query string); SMART App Launch 2.2 app-launch.md
// (expiry) and FAPI 2.0 (revocation status).
import { resourceMetadataUrl } from '../../src/oauth/endpoints/protected-resource-metadata.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch } from 'undici';
import { decodeJwt } from 'jose';
import { signJwt } from '../../src/oauth/tokens/jwt.js';
import { codeFlow, relyingParty } from '../support/flows.js';
import { testAdapters, type TestDatabase } from '../storage/databases.js';
import { call, craftJwt, foreignEs256, hs256, mintToken, outcomeOf, startGatewayStack, type GatewayStack } from './harness.js';

const adapters = await testAdapters();

// Revocation status and the ledger live in storage: the suite runs on every adapter.
describe.each(adapters)('token verification on $name', (adapter) => {
  let clock = Date.now();
  let stack: GatewayStack;
  let db: TestDatabase;

  beforeAll(async () => {
    db = await adapter.open();
    stack = await startGatewayStack({
      storage: db.url,
      context: { now: () => clock },
      gateway: (upstream, audience) => ({ introspection_cache_seconds: 5, routes: [{ prefix: '/fhir', upstream, audience, type: 'fhir' }] }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await db?.cleanup();
  });

  const USER_SCOPE = 'user/Patient.rs user/Observation.rs';

  function expectInvalidToken(r: Awaited<ReturnType<typeof call>>, reason: string, description: RegExp) {
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+\/fhir", error="invalid_token", error_description="[^"]+", resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/fhir"$/);
    expect(outcomeOf(r.json).error).toBe('invalid_token');
    expect(outcomeOf(r.json).description).toMatch(description);
    expect(r.event).toMatchObject({ type: 'phi.denied', outcome: 'denied', reason, action: 'read', resource: 'Patient/demo-1' });
    expect(r.text).not.toContain('DEMO-000001');
  }

  describe('presenting the token', () => {
    test('a valid token in the Authorization header reads the resource and records phi.accessed', async () => {
      const { token, jti } = await mintToken(stack, { scope: USER_SCOPE });
      const r = await call(stack, '/Patient/demo-1', { token });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
      expect(r.event).toMatchObject({
        type: 'phi.accessed', outcome: 'success', patient: 'Patient/demo-1', resource: 'Patient/demo-1', action: 'read',
        scopes: { used: 'user/Patient.rs' }, jti, actor: { userId: 'user-test-1', clientId: stack.demo.client_id }, details: { upstream_status: 200, status: 200 },
      });
      expect(JSON.stringify(r.events)).not.toContain(token);
    });

    test('no token at all is 401 with a realm and no error code (RFC 6750 §3.1)', async () => {
      const r = await call(stack, '/Patient/demo-1');
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="${stack.fhirBase}", resource_metadata="${resourceMetadataUrl(stack.fhirBase)}"`);
      expect(r.event).toMatchObject({ type: 'phi.denied', reason: 'ERR_TOKEN_MISSING', actor: {} });
    });

    test('another authentication scheme is answered like a missing token', async () => {
      const r = await call(stack, '/Patient/demo-1', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="${stack.fhirBase}", resource_metadata="${resourceMetadataUrl(stack.fhirBase)}"`);
      expect(r.event.reason).toBe('ERR_TOKEN_SCHEME');
    });

    test('a token in the query string is refused with 401 even next to a valid header (RFC 9700 §4.3.2)', async () => {
      const { token } = await mintToken(stack, { scope: USER_SCOPE });
      for (const headerToken of [undefined, token]) {
        const r = await call(stack, `/Patient/demo-1?access_token=${token}`, { ...(headerToken ? { token: headerToken } : {}) });
        expect(r.status).toBe(401);
        expect(r.headers.get('www-authenticate')).toContain('error="invalid_request"');
        expect(outcomeOf(r.json).description).toBe('access tokens are accepted in the Authorization header only');
        expect(r.event).toMatchObject({ type: 'phi.denied', reason: 'ERR_TOKEN_IN_QUERY' });
        expect(JSON.stringify(r.events)).not.toContain(token);
      }
    });

    test('a token in a form body is refused too (it would reach the upstream)', async () => {
      const { token } = await mintToken(stack, { scope: USER_SCOPE });
      const r = await call(stack, '/Observation/_search', {
        method: 'POST', token, body: `patient=demo-1&access_token=${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(r.status).toBe(401);
      expect(r.event.reason).toBe('ERR_TOKEN_IN_QUERY');
    });
  });

  describe('refused tokens: 401 invalid_token and a phi.denied event', () => {
    const baseClaims = () => {
      const iat = Math.floor(clock / 1000);
      return { iss: stack.issuer, sub: 'user-test-1', aud: stack.fhirBase, iat, exp: iat + 300, jti: `j-${iat}-${Math.random()}`, client_id: stack.demo.client_id, scope: USER_SCOPE };
    };
    const realKid = async () => (await stack.ctx.keys.jwks(clock)).keys[0]!.kid;

    test('alg none', async () => {
      const token = craftJwt({ alg: 'none', typ: 'at+jwt', kid: await realKid() }, baseClaims());
      // An empty signature part is not even a JWS; with a dummy one it must still fail on alg.
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token: `${token}AAAA` }), 'ERR_TOKEN_ALG', /algorithm/);
    });

    test('HS256 signed with the published public key (key confusion, RFC 8725 §2.1)', async () => {
      const jwk = (await stack.ctx.keys.jwks(clock)).keys[0]!;
      const { createPublicKey } = await import('node:crypto');
      const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
      for (const secret of [pem, JSON.stringify(jwk)]) {
        const token = craftJwt({ alg: 'HS256', typ: 'at+jwt', kid: jwk.kid }, baseClaims(), hs256(secret));
        expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_ALG', /algorithm/);
      }
    });

    test('a token for another audience', async () => {
      const { token } = await mintToken(stack, { scope: USER_SCOPE, audience: 'https://other.example/fhir' });
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_AUDIENCE', /not issued for this resource/);
    });

    test('a token from another issuer', async () => {
      const { token } = await mintToken(stack, { scope: USER_SCOPE, claims: { iss: 'https://evil.example' } });
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_ISSUER', /not issued by this server/);
    });

    test('an expired token (exp gets no skew: the issuer shares the clock)', async () => {
      const now = Math.floor(clock / 1000);
      const { token } = await mintToken(stack, { scope: USER_SCOPE, claims: { iat: now - 400, exp: now - 1 } });
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_EXPIRED', /expired/);
    });

    test('a token not valid before a time more than 30 s ahead (nbf)', async () => {
      // The authorization server issues no nbf; findToken (the revocation status) applies no skew,
      // so only the refusal is asserted here.
      const now = Math.floor(clock / 1000);
      const ahead = await mintToken(stack, { scope: USER_SCOPE, claims: { nbf: now + 120 } });
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token: ahead.token }), 'ERR_TOKEN_NOT_YET_VALID', /not yet valid/);
    });

    test('a token signed by a key the server never published (unknown kid)', async () => {
      const token = craftJwt({ alg: 'ES256', typ: 'at+jwt', kid: 'not-a-published-kid' }, baseClaims(), foreignEs256());
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_UNKNOWN_KEY', /unknown key/);
    });

    test('a published kid with a signature from another key', async () => {
      const token = craftJwt({ alg: 'ES256', typ: 'at+jwt', kid: await realKid() }, baseClaims(), foreignEs256());
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_SIGNATURE', /signature/);
    });

    test('a malformed header, a non-JWT and a refresh-token-shaped string', async () => {
      const good = (await mintToken(stack, { scope: USER_SCOPE })).token;
      const [, payload, sig] = good.split('.');
      for (const token of [`bm90LWpzb24.${payload}.${sig}`, 'abc', 'rt_0123456789abcdefghijklmnop']) {
        expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_MALFORMED', /not a JWT|header|not valid/);
      }
      const r = await call(stack, '/Patient/demo-1', { headers: { authorization: 'Bearer a b c' } });
      expect(r.status).toBe(401);
      expect(r.event.reason).toBe('ERR_TOKEN_MALFORMED');
    });

    test('a JWT of another type (an ID token, typ JWT) is not an access token', async () => {
      const token = await signJwt(stack.ctx, 'JWT', baseClaims());
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_TYP', /typ/);
    });

    test('an embedded jwk or jku header is never followed', async () => {
      const sign = foreignEs256();
      const token = craftJwt({ alg: 'ES256', typ: 'at+jwt', kid: await realKid(), jku: 'https://evil.example/jwks' }, baseClaims(), sign);
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_MALFORMED', /header/);
    });

    test('claims that would corrupt identity headers (control characters) are refused', async () => {
      const { token } = await mintToken(stack, { scope: USER_SCOPE, subject: 'user\r\nx-caduceus-patient: demo-2' });
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_CLAIMS', /claims/);
      const bad = await mintToken(stack, { scope: USER_SCOPE, patient: '../Patient/demo-2' });
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token: bad.token }), 'ERR_TOKEN_CLAIMS', /claims/);
      // The break-glass marker is a short code that goes into the ledger: free text is refused.
      const badPurpose = await mintToken(stack, { scope: USER_SCOPE, claims: { purpose_of_use: 'emergency; patient is John Doe' } });
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token: badPurpose.token }), 'ERR_TOKEN_CLAIMS', /claims/);
    });
  });

  describe('revocation (RFC 7009) reaches the gateway within introspection_cache_seconds', () => {
    async function revoke(token: string) {
      const basic = Buffer.from(`${encodeURIComponent(stack.demo.client_id)}:${encodeURIComponent(stack.demo.client_secret)}`).toString('base64');
      const res = await fetch(`${stack.issuer}/revoke`, {
        method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(), dispatcher: stack.dispatcher,
      });
      expect(res.status).toBe(200);
    }

    test('a token revoked before its first use is refused at once', async () => {
      const { token } = await mintToken(stack, { scope: USER_SCOPE });
      await revoke(token);
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_REVOKED', /revoked/);
    });

    test('a revocation after use takes effect once the cached status is older than the bound', async () => {
      const { token } = await mintToken(stack, { scope: USER_SCOPE });
      expect((await call(stack, '/Patient/demo-1', { token })).status).toBe(200);
      await revoke(token);
      // Within the bound the cached status may still be served …
      clock += 4_000;
      expect((await call(stack, '/Patient/demo-1', { token })).status).toBe(200);
      // … and never beyond it (5 s here).
      clock += 1_000;
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_REVOKED', /revoked/);
    });

    test('an access token of a grant that is revoked or unknown is inactive', async () => {
      // findToken reads the grant named by the jti; an unknown grant reads like a revoked one.
      const { token } = await mintToken(stack, { scope: USER_SCOPE, grantId: 'grant-does-not-exist' });
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_REVOKED', /revoked/);
    });

    test('a real token from the code flow is honoured, and dies with its grant within the bound', async () => {
      const rp = await relyingParty(stack);
      const flow = await codeFlow(rp);
      const token = flow.tokens.access_token;
      const claims = decodeJwt(token);
      const r = await call(stack, '/Observation', { token });
      if (claims.patient === undefined) {
        // The demo scopes are patient/ scopes: without a patient claim there is no compartment.
        expect(r.status).toBe(403);
        expect(r.event).toMatchObject({ type: 'phi.denied', reason: 'ERR_NO_PATIENT_CONTEXT', jti: claims.jti, grantId: String(claims.jti).split('.')[0] });
      } else {
        expect(r.status).toBe(200);
        expect(r.event).toMatchObject({ type: 'phi.accessed', patient: `Patient/${String(claims.patient)}` });
      }
      await revoke(flow.tokens.refresh_token!);
      clock += 5_000;
      expectInvalidToken(await call(stack, '/Patient/demo-1', { token }), 'ERR_TOKEN_REVOKED', /revoked/);
    });
  });
});
