// The one protected-resource authenticator (src/oauth/resource-server/): a JWT access token is
// verified at most once per request (RFC 9068 §4), its revocation status is read by jti as a
// separate step that verifies nothing again, and every refusal gets one WWW-Authenticate
// challenge (RFC 6750 §3, RFC 9449 §7.1, RFC 9728 §5.1) whose values are RFC 9110 §11.2
// quoted-strings. The gateway, the audit API and userinfo tests cover the same steps over HTTP.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { devConfig } from '../../src/server/dev-stack.js';
import { createContext } from '../../src/server/start.js';
import type { AppContext } from '../../src/context/app-context.js';
import { InternalError } from '../../src/errors/internal-error.js';
import { signJwt } from '../../src/oauth/tokens/jwt.js';
import { makeJti } from '../../src/oauth/tokens/access-token.js';
import { accessTokenStatus, findToken } from '../../src/oauth/tokens/lookup.js';
import { ResourceAuthenticator, type ResourceRequest } from '../../src/oauth/resource-server/authenticator.js';
import { accessTokenVerifications } from '../../src/oauth/resource-server/verify-access-token.js';
import { ResourceAccessError } from '../../src/oauth/resource-server/errors.js';
import { buildChallenge, challengeFor, quotedString } from '../../src/errors/challenge.js';
import { presentedToken } from '../../src/oauth/resource-server/presentation.js';
import { TokenStatusCache } from '../../src/oauth/resource-server/token-status-cache.js';

const RESOURCE = 'https://rs.example.test/fhir';

describe('the protected-resource authenticator', () => {
  let clock = Date.UTC(2030, 0, 1);
  let ctx: AppContext & { close(): Promise<void> };
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'caduceus-rs-'));
    const { config } = await devConfig({ dataDir, port: 9443, host: '127.0.0.1', issuerHost: '127.0.0.1' });
    ctx = await createContext(config, { env: {}, log: () => undefined, now: () => clock, background: false });
  });
  afterAll(async () => {
    await ctx?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  async function mint(o: { audience?: string; grantId?: string | null; claims?: Record<string, unknown> } = {}) {
    const iat = Math.floor(clock / 1000);
    const jti = makeJti(o.grantId ?? null);
    const claims = { iss: ctx.config.issuer, sub: 'svc-1', aud: o.audience ?? RESOURCE, exp: iat + 300, iat, jti, client_id: 'svc-1', scope: 'system/Patient.rs', ...o.claims };
    return { token: await signJwt(ctx, 'at+jwt', claims), jti, exp: iat + 300 };
  }
  const request = (authorization?: string, extra: Partial<ResourceRequest> = {}): ResourceRequest => ({
    method: 'GET', headers: authorization === undefined ? {} : { authorization }, publicUrl: () => `${RESOURCE}/Patient/1`, ...extra,
  });
  async function refusal(promise: Promise<unknown>): Promise<ResourceAccessError> {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceAccessError);
    return err as ResourceAccessError;
  }
  /** How many JWT signatures `run` verified. */
  async function verificationsDuring(run: () => Promise<unknown>): Promise<number> {
    const before = accessTokenVerifications();
    await run();
    return accessTokenVerifications() - before;
  }

  describe('a JWT is verified once per request at most', () => {
    test('without a cache, a request verifies the signature once; the status lookup by jti does not verify it again', async () => {
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE } });
      const { token, jti } = await mint();
      let subject: string | undefined;
      expect(await verificationsDuring(async () => {
        const { token: verified, scheme } = await rs.authenticate(request(`Bearer ${token}`));
        subject = verified.subject;
        expect(verified.jti).toBe(jti);
        expect(scheme).toBe('Bearer');
      })).toBe(1);
      expect(subject).toBe('svc-1');
      // The next request verifies again: nothing is remembered without cacheSeconds.
      expect(await verificationsDuring(() => rs.authenticate(request(`Bearer ${token}`)))).toBe(1);
    });

    test('with a cache, a later request within cacheSeconds verifies nothing, and one after it verifies again', async () => {
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE }, cacheSeconds: 30, cacheEntries: 10 });
      const { token } = await mint();
      expect(await verificationsDuring(() => rs.authenticate(request(`Bearer ${token}`)))).toBe(1);
      clock += 29_000;
      expect(await verificationsDuring(() => rs.authenticate(request(`Bearer ${token}`)))).toBe(0);
      clock += 1_000;
      expect(await verificationsDuring(() => rs.authenticate(request(`Bearer ${token}`)))).toBe(1);
    });

    test('a remembered verification still ends at exp, with no skew', async () => {
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE }, cacheSeconds: 600, cacheEntries: 10 });
      const { token } = await mint({ claims: { exp: Math.floor(clock / 1000) + 10 } });
      await rs.authenticate(request(`Bearer ${token}`));
      clock += 10_000;
      const err = await refusal(rs.authenticate(request(`Bearer ${token}`)));
      expect([err.status, err.error, err.reason, err.description]).toEqual([401, 'invalid_token', 'ERR_TOKEN_EXPIRED', 'the access token has expired']);
    });

    test('introspection (findToken) verifies once, then reads the status by jti', async () => {
      const { token, jti } = await mint({ audience: 'https://other.example.test/api' });
      let found: Awaited<ReturnType<typeof findToken>> | undefined;
      expect(await verificationsDuring(async () => { found = await findToken(ctx, token); })).toBe(1);
      expect(found).toMatchObject({ kind: 'access_token', active: true, record: { jti, clientId: 'svc-1', revokedAt: null }, claims: { aud: 'https://other.example.test/api' } });
    });

    test('a token refused before the signature (alg none) verifies nothing', async () => {
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE } });
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const none = `${b64({ alg: 'none', typ: 'at+jwt', kid: 'k' })}.${b64({ sub: 'x' })}.AAAA`;
      let err: ResourceAccessError | undefined;
      expect(await verificationsDuring(async () => { err = await refusal(rs.authenticate(request(`Bearer ${none}`))); })).toBe(0);
      expect(err!.reason).toBe('ERR_TOKEN_ALG');
    });
  });

  describe('the revocation status by jti', () => {
    test('a revoked jti is refused at the next request, and accessTokenStatus reports it', async () => {
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE } });
      const { token, jti, exp } = await mint();
      const { token: verified } = await rs.authenticate(request(`Bearer ${token}`));
      expect((await accessTokenStatus(ctx, verified)).active).toBe(true);

      await ctx.storage.accessTokens.save({ jti, grantId: '', clientId: 'svc-1', expiresAt: exp * 1000, revokedAt: clock });
      const status = await accessTokenStatus(ctx, verified);
      expect(status).toMatchObject({ active: false, record: { jti, revokedAt: clock } });
      const err = await refusal(rs.authenticate(request(`Bearer ${token}`)));
      expect([err.status, err.error, err.reason, err.description]).toEqual([401, 'invalid_token', 'ERR_TOKEN_REVOKED', 'the access token has been revoked or is no longer active']);
      expect(await findToken(ctx, token)).toMatchObject({ kind: 'access_token', active: false });
    });

    test('the grant named by the jti decides too: an unknown grant reads like a revoked one', async () => {
      const { token } = await mint({ grantId: 'grant-that-does-not-exist' });
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE } });
      expect((await refusal(rs.authenticate(request(`Bearer ${token}`)))).reason).toBe('ERR_TOKEN_REVOKED');
    });

    test('with a cache, a revocation takes effect once the remembered status is cacheSeconds old', async () => {
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE }, cacheSeconds: 5, cacheEntries: 10 });
      const { token, jti, exp } = await mint();
      await rs.authenticate(request(`Bearer ${token}`));
      await ctx.storage.accessTokens.save({ jti, grantId: '', clientId: 'svc-1', expiresAt: exp * 1000, revokedAt: clock });
      clock += 4_999;
      await rs.authenticate(request(`Bearer ${token}`));
      clock += 1;
      expect((await refusal(rs.authenticate(request(`Bearer ${token}`)))).reason).toBe('ERR_TOKEN_REVOKED');
    });

    test('a status that cannot be read fails closed: 503 temporarily_unavailable, never a success', async () => {
      const { token } = await mint();
      const unavailable = async () => { throw new InternalError('ERR_STORAGE_UNAVAILABLE', 'the database cannot be reached'); };
      const storage = Object.assign(Object.create(ctx.storage) as AppContext['storage'], { accessTokens: { ...ctx.storage.accessTokens, get: unavailable } });
      const rs = new ResourceAuthenticator({ ...ctx, storage }, { audience: { audience: RESOURCE } });
      const err = await refusal(rs.authenticate(request(`Bearer ${token}`)));
      expect([err.status, err.error, err.reason]).toEqual([503, 'temporarily_unavailable', 'ERR_STATUS_UNAVAILABLE']);
      expect(err.cause).toBeInstanceOf(InternalError);
    });
  });

  describe('presentation and audience', () => {
    test('no credentials, another scheme, a token in the query or the form, a malformed credential', async () => {
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE } });
      const { token } = await mint();
      expect((await refusal(rs.authenticate(request()))).reason).toBe('ERR_TOKEN_MISSING');
      expect((await refusal(rs.authenticate(request('Basic dXNlcjpwYXNz')))).reason).toBe('ERR_TOKEN_SCHEME');
      const inQuery = await refusal(rs.authenticate(request(`Bearer ${token}`, { query: new URLSearchParams({ access_token: token }) })));
      expect([inQuery.status, inQuery.error, inQuery.reason]).toEqual([401, 'invalid_request', 'ERR_TOKEN_IN_QUERY']);
      expect((await refusal(rs.authenticate(request(undefined, { form: new URLSearchParams({ access_token: token }) })))).reason).toBe('ERR_TOKEN_IN_QUERY');
      expect((await refusal(rs.authenticate(request('Bearer a b c')))).reason).toBe('ERR_TOKEN_MALFORMED');
      expect(presentedToken({ authorization: `dpop ${token}` })).toEqual({ kind: 'token', token, scheme: 'DPoP' });
    });

    test('the audience is checked, unless the loudly named opt-out of the authorization server\'s own endpoints is used', async () => {
      const { token } = await mint({ audience: 'https://other.example.test/api' });
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE } });
      expect((await refusal(rs.authenticate(request(`Bearer ${token}`)))).reason).toBe('ERR_TOKEN_AUDIENCE');
      const own = new ResourceAuthenticator(ctx, { audience: { acceptAnyAudience: true } });
      expect((await own.authenticate(request(`Bearer ${token}`))).token.clientId).toBe('svc-1');
    });

    test('a DPoP-bound token presented as a Bearer token is refused by the DPoP step, with the DPoP scheme', async () => {
      const rs = new ResourceAuthenticator(ctx, { audience: { audience: RESOURCE } });
      const { token } = await mint({ claims: { cnf: { jkt: 'A'.repeat(43) } } });
      const err = await refusal(rs.authenticate(request(`Bearer ${token}`)));
      expect([err.status, err.error, err.reason, err.scheme]).toEqual([401, 'invalid_token', 'ERR_DPOP_BINDING', 'DPoP']);
    });
  });
});

describe('the WWW-Authenticate challenge', () => {
  /** Reads the parameters back as a recipient would (RFC 9110 §11.2, §5.6.4 quoted-pair). */
  function params(challenge: string): Record<string, string> {
    const out: Record<string, string> = {};
    const re = /([a-z_]+)="((?:[^"\\]|\\.)*)"(?:, |$)/g;
    for (const m of challenge.slice(challenge.indexOf(' ') + 1).matchAll(re)) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
    return out;
  }

  test('values are quoted-strings: " and \\ are escaped, not dropped, and read back unchanged', () => {
    const description = 'the "resource" is C:\\data';
    const challenge = buildChallenge({ scheme: 'Bearer', realm: 'https://rs.example.test/fhir', error: 'invalid_token', errorDescription: description });
    expect(challenge).toBe('Bearer realm="https://rs.example.test/fhir", error="invalid_token", error_description="the \\"resource\\" is C:\\\\data"');
    expect(params(challenge)).toEqual({ realm: 'https://rs.example.test/fhir', error: 'invalid_token', error_description: description });
  });

  test('a character no header can carry becomes a space, so a value can never add a header line', () => {
    expect(quotedString('a\r\nSet-Cookie: x\u0000')).toBe('"a  Set-Cookie: x "');
    expect(quotedString('tab\tkept')).toBe('"tab\tkept"');
  });

  test('without parameters the challenge is the scheme alone', () => {
    expect(buildChallenge({ scheme: 'Bearer' })).toBe('Bearer');
  });

  test('RFC 6750 §3.1: missing credentials get the realm (and the resource\'s scope) but no error', () => {
    const missing = { status: 401, error: 'invalid_token', description: 'an access token is required', reason: 'ERR_TOKEN_MISSING' };
    expect(challengeFor(missing, { realm: RESOURCE })).toBe(`Bearer realm="${RESOURCE}"`);
    expect(challengeFor({ ...missing, reason: 'ERR_TOKEN_SCHEME' }, { realm: RESOURCE, scope: 'audit.read' })).toBe(`Bearer realm="${RESOURCE}", scope="audit.read"`);
  });

  test('invalid_token and insufficient_scope carry the error, its description and the scope needed', () => {
    expect(challengeFor({ status: 401, error: 'invalid_token', description: 'the access token has expired', reason: 'ERR_TOKEN_EXPIRED' }, { realm: RESOURCE }))
      .toBe(`Bearer realm="${RESOURCE}", error="invalid_token", error_description="the access token has expired"`);
    expect(challengeFor({ status: 403, error: 'insufficient_scope', description: 'more scope', requiredScope: 'patient/Condition.r' }, { realm: RESOURCE, scope: 'ignored' }))
      .toBe(`Bearer realm="${RESOURCE}", error="insufficient_scope", error_description="more scope", scope="patient/Condition.r"`);
    expect(challengeFor({ status: 403, error: 'insufficient_scope', description: 'more scope' }, { scope: 'openid' }))
      .toBe('Bearer error="insufficient_scope", error_description="more scope", scope="openid"');
  });

  test('a DPoP refusal gets the DPoP scheme with the accepted algorithms (RFC 9449 §7.1)', () => {
    expect(challengeFor({ status: 401, error: 'invalid_dpop_proof', description: 'a DPoP proof is required', scheme: 'DPoP', algs: ['ES256', 'ES384', 'PS256', 'EdDSA', 'RS256'] }, { realm: RESOURCE }))
      .toBe('DPoP error="invalid_dpop_proof", error_description="a DPoP proof is required", algs="ES256 ES384 PS256 EdDSA RS256"');
  });

  test('resource_metadata (RFC 9728 §5.1) is sent only when the resource passes it, in every kind of challenge', () => {
    const resourceMetadata = 'https://as.example.test/.well-known/oauth-protected-resource/fhir';
    const missing = { status: 401, error: 'invalid_token', description: 'an access token is required', reason: 'ERR_TOKEN_MISSING' };
    expect(challengeFor(missing, { realm: RESOURCE })).not.toContain('resource_metadata');
    expect(challengeFor(missing, { realm: RESOURCE, resourceMetadata })).toBe(`Bearer realm="${RESOURCE}", resource_metadata="${resourceMetadata}"`);
    expect(params(challengeFor({ status: 401, error: 'invalid_token', description: 'bad', scheme: 'DPoP' }, { resourceMetadata })!).resource_metadata).toBe(resourceMetadata);
    expect(params(challengeFor({ status: 403, error: 'insufficient_scope', description: 'more', requiredScope: 's' }, { resourceMetadata })!).resource_metadata).toBe(resourceMetadata);
  });

  test('refusals other than 401 and insufficient_scope take no challenge', () => {
    expect(challengeFor({ status: 403, error: 'access_denied', description: 'no' }, { realm: RESOURCE })).toBeUndefined();
    expect(challengeFor({ status: 503, error: 'temporarily_unavailable', description: 'later' }, { realm: RESOURCE })).toBeUndefined();
  });
});

describe('TokenStatusCache, the remembered status by jti', () => {
  test('an entry is served for at most maxAgeMs, and never beyond the token\'s expiry', async () => {
    let now = 1_000_000;
    const cache = new TokenStatusCache(30_000, 10, () => now);
    let loads = 0;
    const load = async () => ({ active: ++loads === 1 });
    expect(await cache.get('j1', now + 300_000, load)).toEqual({ active: true });
    now += 29_999;
    expect(await cache.get('j1', now + 300_000, load)).toEqual({ active: true });
    expect(loads).toBe(1);
    now += 1;
    expect(await cache.get('j1', now + 300_000, load)).toEqual({ active: false });
    expect(loads).toBe(2);
    // A token expiring in 5 s is not cached for 30 s.
    await cache.get('j2', now + 5_000, load);
    now += 5_000;
    await cache.get('j2', now + 5_000, load);
    expect(loads).toBe(4);
  });

  test('concurrent look-ups share one query; the oldest entry is evicted when full; 0 disables caching', async () => {
    const now = 0;
    const cache = new TokenStatusCache(30_000, 2, () => now);
    let loads = 0;
    const slow = () => new Promise<{ active: boolean }>((resolve) => setTimeout(() => resolve({ active: !!++loads }), 5));
    await Promise.all([cache.get('a', 1e9, slow), cache.get('a', 1e9, slow), cache.get('a', 1e9, slow)]);
    expect(loads).toBe(1);
    await cache.get('b', 1e9, slow);
    await cache.get('c', 1e9, slow);
    expect(cache.size).toBe(2);
    await cache.get('a', 1e9, slow);
    expect(loads).toBe(4);
    const off = new TokenStatusCache(0, 2, () => now);
    await off.get('a', 1e9, slow);
    await off.get('a', 1e9, slow);
    expect(loads).toBe(6);
    expect(() => new TokenStatusCache(-1, 2, () => 0)).toThrowError(/maxAgeMs/);
  });
});
