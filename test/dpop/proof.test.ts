// RFC 9449 §4.3 proof checks, one corruption at a time, against a frozen clock and an in-memory
// jti cache; and the resource-server rules of §7 (verifyDpopForResource).
import { beforeEach, describe, expect, test } from 'vitest';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { SignJWT } from 'jose';
import { DPOP_ALGORITHMS, accessTokenHash, verifyDpopProof, type VerifyDpopProofInput } from '../../src/oauth/dpop/proof.js';
import { DpopError } from '../../src/oauth/dpop/errors.js';
import { createDpopNonces } from '../../src/crypto/dpop-nonce.js';
import { DpopResourceError, verifyDpopForResource } from '../../src/oauth/dpop/resource.js';
import { dpopKey, memoryReplay, proof, type DpopKey } from './proofs.js';

const URL_ = 'https://as.example.test/token';
const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const NOW_S = NOW / 1000;

let key: DpopKey;
let replay: ReturnType<typeof memoryReplay>;
beforeEach(async () => {
  key ??= await dpopKey('ES256');
  replay = memoryReplay();
});

const verify = (p: string | string[], over: Partial<VerifyDpopProofInput> = {}) =>
  verifyDpopProof({ proof: p, method: 'POST', url: URL_, now: NOW, replay, ...over });

async function refused(promise: Promise<unknown>, description: string | RegExp, code = 'invalid_dpop_proof') {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DpopError);
  expect((err as DpopError).error).toBe(code);
  expect((err as DpopError).status).toBe(400);
  if (typeof description === 'string') expect((err as DpopError).description).toBe(description);
  else expect((err as DpopError).description).toMatch(description);
  return err as DpopError;
}

describe('verifyDpopProof', () => {
  test('a valid proof resolves the RFC 7638 thumbprint of its key', async () => {
    const result = await verify(await proof(key, 'POST', URL_, { iat: NOW_S }));
    expect(result.jkt).toBe(key.jkt);
    expect(result.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(result.jwk).toEqual(key.publicJwk);
  });

  test.each(['ES384', 'PS256', 'EdDSA', 'RS256'])('a proof signed with %s is accepted', async (alg) => {
    const k = await dpopKey(alg);
    expect((await verify(await proof(k, 'POST', URL_, { iat: NOW_S }))).jkt).toBe(k.jkt);
  });

  test('the algorithm allow-list is exactly ES256, ES384, PS256, EdDSA and RS256', () => {
    expect([...DPOP_ALGORITHMS]).toEqual(['ES256', 'ES384', 'PS256', 'EdDSA', 'RS256']);
  });

  test('a replayed proof is refused, and the jti is remembered per key for the acceptance window', async () => {
    const p = await proof(key, 'POST', URL_, { iat: NOW_S, jti: 'same-jti-value' });
    await verify(p);
    await refused(verify(p), 'the DPoP proof was already used (jti replay)');
    const entries = [...replay.keys];
    expect(entries).toHaveLength(1);
    const [k, expiresAt] = entries[0]!;
    expect(k).toBe(`dpop:${key.jkt}:same-jti-value`);
    expect(expiresAt).toBe((NOW_S + 61) * 1000);
    // The same jti under another key is another proof.
    const other = await dpopKey('ES256');
    await expect(verify(await proof(other, 'POST', URL_, { iat: NOW_S, jti: 'same-jti-value' }))).resolves.toMatchObject({ jkt: other.jkt });
  });

  test('a proof refused for another reason does not use up its jti', async () => {
    await refused(verify(await proof(key, 'GET', URL_, { iat: NOW_S, jti: 'kept-jti' })), 'the DPoP proof htm does not match the request method');
    expect(replay.keys.size).toBe(0);
  });

  test('an htm that is not the request method is refused', async () => {
    await refused(verify(await proof(key, 'GET', URL_, { iat: NOW_S })), 'the DPoP proof htm does not match the request method');
    await refused(verify(await proof(key, 'post', URL_, { iat: NOW_S })), 'the DPoP proof htm does not match the request method');
  });

  test('an htu for another URL is refused; query and fragment are ignored and the URL is normalised', async () => {
    await refused(verify(await proof(key, 'POST', 'https://as.example.test/par', { iat: NOW_S })), 'the DPoP proof htu does not match the request URL');
    await refused(verify(await proof(key, 'POST', 'https://other.example.test/token', { iat: NOW_S })), 'the DPoP proof htu does not match the request URL');
    await refused(verify(await proof(key, 'POST', 'http://as.example.test/token', { iat: NOW_S })), 'the DPoP proof htu does not match the request URL');
    await refused(verify(await proof(key, 'POST', 'not a url', { iat: NOW_S })), 'the DPoP proof htu does not match the request URL');
    await expect(verify(await proof(key, 'POST', 'https://as.example.test/token?x=1#f', { iat: NOW_S }))).resolves.toBeDefined();
    await expect(verify(await proof(key, 'POST', 'HTTPS://AS.example.test:443/token', { iat: NOW_S }))).resolves.toBeDefined();
  });

  test('a proof older than 60 seconds is refused; one 60 seconds old is accepted', async () => {
    await refused(verify(await proof(key, 'POST', URL_, { iat: NOW_S - 61 })), 'the DPoP proof is too old (iat)');
    await expect(verify(await proof(key, 'POST', URL_, { iat: NOW_S - 60 }))).resolves.toBeDefined();
  });

  test('a proof more than 10 seconds in the future is refused; 10 seconds ahead is accepted (FAPI 2.0)', async () => {
    await refused(verify(await proof(key, 'POST', URL_, { iat: NOW_S + 11 })), 'the DPoP proof iat is in the future');
    await expect(verify(await proof(key, 'POST', URL_, { iat: NOW_S + 10 }))).resolves.toBeDefined();
  });

  test('a jwk holding the private key is refused', async () => {
    await refused(verify(await proof(key, 'POST', URL_, { iat: NOW_S, jwk: key.privateJwk })), 'the DPoP proof jwk holds private key material');
  });

  test('a typ other than dpop+jwt is refused', async () => {
    await refused(verify(await proof(key, 'POST', URL_, { iat: NOW_S, typ: 'JWT' })), 'the DPoP proof typ must be dpop+jwt');
  });

  test('an algorithm outside the allow-list is refused before any key is used', async () => {
    const k = await dpopKey('RS384');
    await refused(verify(await proof(k, 'POST', URL_, { iat: NOW_S })), /^the DPoP proof algorithm is not accepted/);
    const hs = await new SignJWT({ jti: 'j', htm: 'POST', htu: URL_, iat: NOW_S })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' } as never }).sign(randomBytes(32));
    await refused(verify(hs), /^the DPoP proof algorithm is not accepted/);
    const unsigned = `${Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk })).toString('base64url')}.${Buffer.from(JSON.stringify({ jti: 'j', htm: 'POST', htu: URL_, iat: NOW_S })).toString('base64url')}.`;
    await refused(verify(unsigned), 'the DPoP proof is not a compact JWS');
  });

  test('an RSA key under 2048 bits is refused (FAPI 2.0)', async () => {
    // jose will not sign with such a key: the proof is signed with node:crypto directly.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${b64({ typ: 'dpop+jwt', alg: 'RS256', jwk: publicKey.export({ format: 'jwk' }) })}.${b64({ jti: 'j', htm: 'POST', htu: URL_, iat: NOW_S })}`;
    const small = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    await refused(verify(small), 'the DPoP proof RSA key must have at least 2048 bits');
  });

  test('a proof whose signature was made by another key is refused', async () => {
    const other = await dpopKey('ES256');
    await refused(verify(await proof(other, 'POST', URL_, { iat: NOW_S, jwk: key.publicJwk })), 'the DPoP proof signature or claims are not valid');
  });

  test.each(['jti', 'htm', 'htu', 'iat'] as const)('a proof without %s is refused', async (claim) => {
    await refused(verify(await proof(key, 'POST', URL_, { iat: NOW_S, omit: [claim] })), 'the DPoP proof signature or claims are not valid');
  });

  test('two DPoP header fields, or two proofs folded into one, are refused', async () => {
    const a = await proof(key, 'POST', URL_, { iat: NOW_S });
    const b = await proof(key, 'POST', URL_, { iat: NOW_S });
    await refused(verify([a, b]), 'exactly one DPoP header is required');
    await refused(verify(`${a}, ${b}`), 'exactly one DPoP header is required');
    await refused(verify('not-a-jwt'), 'the DPoP proof is not a compact JWS');
  });

  test('with an access token, ath must be the base64url SHA-256 of that token', async () => {
    const at = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig';
    expect(accessTokenHash(at)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await refused(verify(await proof(key, 'GET', URL_, { iat: NOW_S }), { method: 'GET', accessToken: at }), 'the DPoP proof has no ath for the access token');
    await refused(verify(await proof(key, 'GET', URL_, { iat: NOW_S, ath: accessTokenHash('another') }), { method: 'GET', accessToken: at }), 'the DPoP proof ath does not match the access token');
    await expect(verify(await proof(key, 'GET', URL_, { iat: NOW_S, ath: accessTokenHash(at) }), { method: 'GET', accessToken: at })).resolves.toBeDefined();
  });
});

describe('server nonces (RFC 9449 §8)', () => {
  const nonces = createDpopNonces(randomBytes(32), { required: true, lifetimeSeconds: 300 });

  test('a proof without a nonce gets use_dpop_nonce with a fresh nonce, and the retry with it is accepted', async () => {
    const err = await refused(verify(await proof(key, 'POST', URL_, { iat: NOW_S }), { nonce: nonces }), 'a DPoP nonce is required', 'use_dpop_nonce');
    expect(err.nonce).toMatch(/^[A-Za-z0-9_-]{30}$/);
    await expect(verify(await proof(key, 'POST', URL_, { iat: NOW_S, nonce: err.nonce! }), { nonce: nonces })).resolves.toBeDefined();
  });

  test('a forged or expired nonce is refused with a fresh one', async () => {
    const forged = createDpopNonces(randomBytes(32), { required: true, lifetimeSeconds: 300 }).issue(NOW);
    await refused(verify(await proof(key, 'POST', URL_, { iat: NOW_S, nonce: forged }), { nonce: nonces }), 'the DPoP nonce is not valid or has expired', 'use_dpop_nonce');
    const old = nonces.issue(NOW - 301_000);
    await refused(verify(await proof(key, 'POST', URL_, { iat: NOW_S, nonce: old }), { nonce: nonces }), 'the DPoP nonce is not valid or has expired', 'use_dpop_nonce');
    expect(nonces.isValid(nonces.issue(NOW - 300_000), NOW)).toBe(true);
  });
});

describe('verifyDpopForResource (RFC 9449 §7)', () => {
  const RS = 'https://rs.example.test/fhir/Patient/1';
  const token = 'header.payload.signature';
  const options = () => ({ now: NOW, replay });

  async function denied(promise: Promise<unknown>, error: string, description: string) {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DpopResourceError);
    expect((err as DpopResourceError).status).toBe(401);
    expect((err as DpopResourceError).error).toBe(error);
    expect((err as DpopResourceError).description).toBe(description);
    expect((err as DpopResourceError).challenge).toMatch(new RegExp(`^DPoP error="${error}", error_description="[^"]+", algs="ES256 ES384 PS256 EdDSA RS256"$`));
  }

  test('a bound token with the DPoP scheme and a proof by its key is accepted', async () => {
    const p = await proof(key, 'GET', RS, { iat: NOW_S, ath: accessTokenHash(token) });
    await expect(verifyDpopForResource({ method: 'GET', url: `${RS}?_format=json`, scheme: 'DPoP', accessToken: token, dpop: [p] }, { cnf: { jkt: key.jkt } }, options()))
      .resolves.toEqual({ bound: true, jkt: key.jkt });
  });

  test('a bound token presented as a Bearer token is refused', async () => {
    await denied(verifyDpopForResource({ method: 'GET', url: RS, scheme: 'Bearer', accessToken: token, dpop: undefined }, { cnf: { jkt: key.jkt } }, options()),
      'invalid_token', 'the access token is DPoP-bound; present it with the DPoP scheme and a proof');
  });

  test('a bound token without a proof is refused with invalid_dpop_proof', async () => {
    await denied(verifyDpopForResource({ method: 'GET', url: RS, scheme: 'DPoP', accessToken: token, dpop: undefined }, { cnf: { jkt: key.jkt } }, options()),
      'invalid_dpop_proof', 'a DPoP proof is required for this access token');
  });

  test('a proof by another key is refused', async () => {
    const other = await dpopKey('ES256');
    const p = await proof(other, 'GET', RS, { iat: NOW_S, ath: accessTokenHash(token) });
    await denied(verifyDpopForResource({ method: 'GET', url: RS, scheme: 'DPoP', accessToken: token, dpop: p }, { cnf: { jkt: key.jkt } }, options()),
      'invalid_token', 'the DPoP proof key is not the key the access token is bound to');
  });

  test('a proof for another access token (ath) is refused', async () => {
    const p = await proof(key, 'GET', RS, { iat: NOW_S, ath: accessTokenHash('other.token.value') });
    await denied(verifyDpopForResource({ method: 'GET', url: RS, scheme: 'DPoP', accessToken: token, dpop: p }, { cnf: { jkt: key.jkt } }, options()),
      'invalid_dpop_proof', 'the DPoP proof ath does not match the access token');
  });

  test('an unbound token is accepted as Bearer and refused with the DPoP scheme', async () => {
    await expect(verifyDpopForResource({ method: 'GET', url: RS, scheme: 'Bearer', accessToken: token, dpop: undefined }, {}, options())).resolves.toEqual({ bound: false });
    await denied(verifyDpopForResource({ method: 'GET', url: RS, scheme: 'DPoP', accessToken: token, dpop: undefined }, {}, options()),
      'invalid_token', 'the access token is not DPoP-bound; present it as a Bearer token');
  });

  test('with resource-server nonces, use_dpop_nonce carries the nonce for the DPoP-Nonce header', async () => {
    const nonce = createDpopNonces(randomBytes(32), { required: true, lifetimeSeconds: 60 });
    const p = await proof(key, 'GET', RS, { iat: NOW_S, ath: accessTokenHash(token) });
    const err = await verifyDpopForResource({ method: 'GET', url: RS, scheme: 'DPoP', accessToken: token, dpop: p }, { cnf: { jkt: key.jkt } }, { ...options(), nonce })
      .then(() => undefined, (e: DpopResourceError) => e);
    expect(err?.error).toBe('use_dpop_nonce');
    expect(nonce.isValid(err!.nonce!, NOW)).toBe(true);
  });
});
