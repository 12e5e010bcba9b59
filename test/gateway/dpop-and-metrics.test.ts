// RFC 9449 §7 at the gateway and /userinfo: a DPoP-bound access token (cnf.jkt) is honoured only
// with the DPoP scheme and a fresh proof for this method and URL by the bound key; unbound tokens
// keep working as Bearer tokens. Also: the gateway's Prometheus counters, and the prefixes the
// server serves itself being refused as gateway routes.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import { fetch } from 'undici';
import { call, mintToken, outcomeOf, startGatewayStack, type GatewayStack } from './harness.js';
import { dpopKey, proof, type DpopKey } from '../dpop/proofs.js';
import { cacheRequests, gatewayDecisions } from '../../src/ops/metrics.js';
import { GatewayConfigError, parseGatewayConfig } from '../../src/gateway/index.js';

const USER_SCOPE = 'user/Patient.rs user/Observation.rs';
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

async function decisions(outcome: string): Promise<number> {
  return (await gatewayDecisions.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}
async function cacheLookups(result: 'hit' | 'miss'): Promise<number> {
  return (await cacheRequests.get()).values.find((v) => v.labels.cache === 'token_status' && v.labels.result === result)?.value ?? 0;
}

describe('DPoP-bound tokens at the gateway (RFC 9449 §7)', () => {
  let stack: GatewayStack;
  let key: DpopKey;
  let bound: string;
  let url: string;

  beforeAll(async () => {
    stack = await startGatewayStack();
    key = await dpopKey();
    ({ token: bound } = await mintToken(stack, { scope: USER_SCOPE, claims: { cnf: { jkt: key.jkt } } }));
    url = `${stack.fhirBase}/Patient/demo-1`;
  });
  afterAll(async () => {
    await stack?.close();
  });

  const dpopCall = (token: string, dpop: string | undefined, path = '/Patient/demo-1') =>
    call(stack, path, { headers: { authorization: `DPoP ${token}`, ...(dpop !== undefined ? { dpop } : {}) } });

  function expectDpopRefusal(r: Awaited<ReturnType<typeof call>>, error: string, reason: string) {
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(new RegExp(`^DPoP error="${error}", error_description="[^"]+", algs="[^"]+", resource_metadata="[^"]+/\\.well-known/oauth-protected-resource/[^"]+"$`));
    expect(outcomeOf(r.json).error).toBe(error);
    expect(r.event).toMatchObject({ type: 'phi.denied', outcome: 'denied', reason });
    expect(stack.upstreamSeen.some((s) => s.headers?.dpop !== undefined)).toBe(false);
  }

  test('a bound token with a valid proof for this request is allowed', async () => {
    const r = await dpopCall(bound, await proof(key, 'GET', url, { ath: ath(bound) }));
    expect(r.status).toBe(200);
    expect(r.json.resourceType).toBe('Patient');
    expect(r.event).toMatchObject({ type: 'phi.accessed', outcome: 'success' });
  });

  test('the same token presented as a Bearer token is refused with invalid_token', async () => {
    const r = await call(stack, '/Patient/demo-1', { token: bound });
    expectDpopRefusal(r, 'invalid_token', 'ERR_DPOP_BINDING');
  });

  test('the DPoP scheme without a proof is refused', async () => {
    expectDpopRefusal(await dpopCall(bound, undefined), 'invalid_dpop_proof', 'ERR_DPOP_PROOF');
  });

  test('a replayed proof is refused', async () => {
    const p = await proof(key, 'GET', url, { ath: ath(bound) });
    expect((await dpopCall(bound, p)).status).toBe(200);
    expectDpopRefusal(await dpopCall(bound, p), 'invalid_dpop_proof', 'ERR_DPOP_PROOF');
  });

  test('a proof for another URL or method is refused', async () => {
    expectDpopRefusal(await dpopCall(bound, await proof(key, 'GET', `${stack.fhirBase}/Patient/demo-2`, { ath: ath(bound) })), 'invalid_dpop_proof', 'ERR_DPOP_PROOF');
    expectDpopRefusal(await dpopCall(bound, await proof(key, 'POST', url, { ath: ath(bound) })), 'invalid_dpop_proof', 'ERR_DPOP_PROOF');
  });

  test('a proof without ath, or for another token, is refused', async () => {
    expectDpopRefusal(await dpopCall(bound, await proof(key, 'GET', url)), 'invalid_dpop_proof', 'ERR_DPOP_PROOF');
    expectDpopRefusal(await dpopCall(bound, await proof(key, 'GET', url, { ath: ath('another-token') })), 'invalid_dpop_proof', 'ERR_DPOP_PROOF');
  });

  test('a valid proof by another key is refused', async () => {
    const other = await dpopKey();
    expectDpopRefusal(await dpopCall(bound, await proof(other, 'GET', url, { ath: ath(bound) })), 'invalid_token', 'ERR_DPOP_BINDING');
  });

  test('an unbound token works as Bearer but not with the DPoP scheme', async () => {
    const { token } = await mintToken(stack, { scope: USER_SCOPE });
    expect((await call(stack, '/Patient/demo-1', { token })).status).toBe(200);
    expectDpopRefusal(await dpopCall(token, await proof(key, 'GET', url, { ath: ath(token) })), 'invalid_token', 'ERR_DPOP_BINDING');
  });

  test('a token whose cnf is not a DPoP key thumbprint is refused', async () => {
    const { token } = await mintToken(stack, { scope: USER_SCOPE, claims: { cnf: { 'x5t#S256': 'abc' } } });
    const r = await call(stack, '/Patient/demo-1', { token });
    expect(r.status).toBe(401);
    expect(r.event).toMatchObject({ type: 'phi.denied', reason: 'ERR_TOKEN_CLAIMS' });
  });

  test('decisions and token status look-ups are counted', async () => {
    stack.gateway.clearTokenCache();
    const [allowed, invalid, denied, hits, misses] = await Promise.all([decisions('allowed'), decisions('invalid_token'), decisions('denied'), cacheLookups('hit'), cacheLookups('miss')]);
    const { token } = await mintToken(stack, { scope: USER_SCOPE });
    expect((await call(stack, '/Patient/demo-1', { token })).status).toBe(200);
    expect((await call(stack, '/Patient/demo-1', { token })).status).toBe(200);
    expect((await call(stack, '/Patient/demo-1', { token: bound })).status).toBe(401);
    expect((await call(stack, '/Patient/demo-1')).status).toBe(401);
    expect((await call(stack, '/Observation?patient=demo-1', { token: (await mintToken(stack, { scope: 'user/Patient.rs' })).token })).status).toBe(403);
    expect(await decisions('allowed')).toBe(allowed + 2);
    expect(await decisions('invalid_token')).toBe(invalid + 2);
    expect((await decisions('insufficient_scope')) + (await decisions('denied'))).toBeGreaterThan(denied);
    expect(await cacheLookups('miss')).toBeGreaterThanOrEqual(misses + 2);
    expect(await cacheLookups('hit')).toBeGreaterThanOrEqual(hits + 1);
  });

  describe('/userinfo', () => {
    const userinfo = () => `${stack.issuer}/userinfo`;

    test('a bound token needs the DPoP scheme and a proof; an unbound one works as Bearer', async () => {
      const { token, claims } = await mintToken(stack, { scope: 'openid', audience: stack.issuer, claims: { cnf: { jkt: key.jkt } } });
      const asBearer = await fetch(userinfo(), { headers: { authorization: `Bearer ${token}` }, dispatcher: stack.dispatcher });
      expect(asBearer.status).toBe(401);
      expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
      const p = await proof(key, 'GET', userinfo(), { ath: ath(token) });
      const ok = await fetch(userinfo(), { headers: { authorization: `DPoP ${token}`, dpop: p }, dispatcher: stack.dispatcher });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ sub: claims.sub });
      const replay = await fetch(userinfo(), { headers: { authorization: `DPoP ${token}`, dpop: p }, dispatcher: stack.dispatcher });
      expect(replay.status).toBe(401);
      expect(replay.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);

      const { token: plain } = await mintToken(stack, { scope: 'openid', audience: stack.issuer });
      expect((await fetch(userinfo(), { headers: { authorization: `Bearer ${plain}` }, dispatcher: stack.dispatcher })).status).toBe(200);
    });
  });
});

describe('DPoP nonces at the gateway (RFC 9449 §9)', () => {
  let stack: GatewayStack;
  beforeAll(async () => {
    stack = await startGatewayStack({ configure: (c) => { c.dpop.require_nonce = true; } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  test('a proof without the server nonce gets use_dpop_nonce and a DPoP-Nonce header; with it, access', async () => {
    const key = await dpopKey();
    const { token } = await mintToken(stack, { scope: USER_SCOPE, claims: { cnf: { jkt: key.jkt } } });
    const url = `${stack.fhirBase}/Patient/demo-1`;
    const headers = async (nonce?: string) => ({ authorization: `DPoP ${token}`, dpop: await proof(key, 'GET', url, { ath: ath(token), ...(nonce ? { nonce } : {}) }) });
    const first = await call(stack, '/Patient/demo-1', { headers: await headers() });
    expect(first.status).toBe(401);
    expect(first.headers.get('www-authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/);
    expect(first.event).toMatchObject({ type: 'phi.denied', reason: 'ERR_DPOP_NONCE' });
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toBeTruthy();
    expect((await call(stack, '/Patient/demo-1', { headers: await headers(nonce!) })).status).toBe(200);
  });
});

describe('reserved gateway prefixes', () => {
  const route = { upstream: 'https://up.example', audience: 'https://as.example/fhir', type: 'fhir' as const };
  const problems = (prefix: string): string[] => {
    try {
      parseGatewayConfig({ routes: [{ ...route, prefix }] });
    } catch (err) {
      expect(err).toBeInstanceOf(GatewayConfigError);
      return (err as GatewayConfigError).problems;
    }
    return [];
  };

  test.each(['/authorize', '/token', '/introspect', '/revoke', '/jwks', '/userinfo', '/par', '/logout', '/interaction', '/account', '/audit', '/static', '/healthz', '/readyz', '/metrics', '/.well-known'])(
    '%s and paths below it are refused',
    (path) => {
      expect(problems(path).join('\n')).toContain(`gateway.routes[0].prefix: ${path} is served by the authorization server itself; choose another prefix`);
      expect(problems(`${path}/fhir`).join('\n')).toContain(`gateway.routes[0].prefix: ${path} is served by the authorization server itself (prefix ${path}/fhir starts with it)`);
    },
  );

  test('a prefix that merely begins with the same letters is allowed', () => {
    expect(problems('/tokens')).toEqual([]);
    expect(problems('/auditing/fhir')).toEqual([]);
  });
});
