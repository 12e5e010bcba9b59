import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { signJwt } from '../../src/crypto/jwt-sign.js';
import { MasterKey } from '../../src/crypto/master-key.js';
import { KeyManager } from '../../src/crypto/signing-keys.js';
import { MemorySigningKeyStore } from './memory-signing-key-store.js';

const T0 = Date.UTC(2030, 0, 1);
const MINUTE = 60_000;

async function setup() {
  const manager = new KeyManager({ store: new MemorySigningKeyStore(), masterKey: MasterKey.generate(), clock: () => 0 });
  await manager.ensureKey(T0);
  return manager;
}

function accessTokenClaims(now: number) {
  const iat = Math.floor(now / 1000);
  return {
    iss: 'https://as.example.org',
    sub: 'usr_1',
    aud: 'https://fhir.example.org',
    exp: iat + 300,
    iat,
    jti: 'jti-1',
    client_id: 'app',
    scope: 'openid patient/*.rs',
  };
}

async function verify(manager: KeyManager, token: string, now: number, typ = 'at+jwt') {
  return jwtVerify(token, createLocalJWKSet(await manager.jwks(now)), {
    algorithms: ['ES256'],
    typ,
    issuer: 'https://as.example.org',
    audience: 'https://fhir.example.org',
    currentDate: new Date(now),
  });
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: string }> {
  return promise.then(
    () => ({ code: 'resolved' }),
    (error: unknown) => error as { code?: string },
  );
}

describe('signJwt', () => {
  it('makes tokens that jose jwtVerify accepts against the KeyManager JWKS', async () => {
    const manager = await setup();
    const signer = await manager.signer(T0);
    const claims = accessTokenClaims(T0);
    const token = signJwt(claims, signer, { typ: 'at+jwt' });
    const { payload, protectedHeader } = await verify(manager, token, T0);
    expect(payload).toEqual(claims);
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: signer.kid });
  });

  it('preserves typ, so a verifier requiring another typ refuses the token', async () => {
    const manager = await setup();
    const idToken = signJwt(accessTokenClaims(T0), await manager.signer(T0), { typ: 'JWT' });
    expect(decodeProtectedHeader(idToken).typ).toBe('JWT');
    await expect(verify(manager, idToken, T0, 'JWT')).resolves.toBeDefined();
    expect((await rejection(verify(manager, idToken, T0, 'at+jwt'))).code).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED');
  });

  it('writes a 64-byte IEEE P1363 signature', async () => {
    const token = signJwt(accessTokenClaims(T0), await (await setup()).signer(T0), { typ: 'at+jwt' });
    expect(Buffer.from(token.split('.')[2]!, 'base64url')).toHaveLength(64);
  });

  it('makes a token whose payload, once modified, fails verification', async () => {
    const manager = await setup();
    const token = signJwt(accessTokenClaims(T0), await manager.signer(T0), { typ: 'at+jwt' });
    const [header, , signature] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...accessTokenClaims(T0), scope: 'system/*.cruds' })).toString('base64url');
    const error = await rejection(verify(manager, `${header}.${forged}.${signature}`, T0));
    expect(error.code).toBe('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  });

  it('keeps tokens of a rotated-out key verifiable until the key leaves the JWKS', async () => {
    const manager = await setup();
    const oldToken = signJwt(accessTokenClaims(T0), await manager.signer(T0), { typ: 'at+jwt' });
    const { retired } = await manager.rotate(T0 + MINUTE, { retainMs: 5 * MINUTE });
    const newSigner = await manager.signer(T0 + MINUTE);
    const newToken = signJwt(accessTokenClaims(T0 + MINUTE), newSigner, { typ: 'at+jwt' });
    expect(decodeProtectedHeader(newToken).kid).toBe(newSigner.kid);
    await expect(verify(manager, oldToken, T0 + 2 * MINUTE)).resolves.toBeDefined();
    await expect(verify(manager, newToken, T0 + 2 * MINUTE)).resolves.toBeDefined();
    const afterExpiry = retired[0]!.expiresAt;
    expect((await rejection(verify(manager, oldToken, afterExpiry))).code).toBe('ERR_JWKS_NO_MATCHING_KEY');
  });

  it('refuses keys that are not P-256 private keys', () => {
    const claims = accessTokenClaims(T0);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => signJwt(claims, { kid: 'k', key: p384.privateKey }, { typ: 'at+jwt' })).toThrow(/P-256 private KeyObject/);
    expect(() => signJwt(claims, { kid: 'k', key: p256.publicKey }, { typ: 'at+jwt' })).toThrow(/P-256 private KeyObject/);
    expect(() => signJwt(claims, { kid: '', key: p256.privateKey }, { typ: 'at+jwt' })).toThrow(/kid/);
    expect(() => signJwt(claims, { kid: 'k', key: p256.privateKey }, { typ: '' })).toThrow(/typ/);
  });
});
