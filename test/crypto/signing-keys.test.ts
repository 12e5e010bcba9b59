import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { open, openJson } from '../../src/crypto/envelope.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { MasterKey } from '../../src/crypto/master-key.js';
import { KeyManager } from '../../src/crypto/signing-keys.js';
import { MemorySigningKeyStore } from './memory-signing-key-store.js';

const T0 = Date.UTC(2030, 0, 1);
const MINUTE = 60_000;
const CACHE_TTL = 5_000;

function setup(masterKey = MasterKey.generate(), store = new MemorySigningKeyStore()) {
  const clock = { now: 0 };
  const manager = new KeyManager({ store, masterKey, cacheTtlMs: CACHE_TTL, clock: () => clock.now });
  return { store, masterKey, clock, manager };
}

async function expectCryptoError(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CryptoError);
  expect((error as CryptoError).code).toBe('ERR_CRYPTO');
  expect((error as CryptoError).message).toMatch(message);
}

describe('KeyManager first start', () => {
  it('generates one ES256 key whose kid is its RFC 7638 thumbprint', async () => {
    const { store, manager } = setup();
    const result = await manager.ensureKey(T0);
    expect(result.created).toBe(true);
    expect(store.records).toHaveLength(1);
    const record = store.records[0]!;
    const publicJwk = JSON.parse(record.publicJwk) as { kty: string; crv: string; x: string; y: string };
    expect(record).toMatchObject({ kid: result.kid, alg: 'ES256', createdAt: T0, activatesAt: T0, retiredAt: null, expiresAt: null });
    expect(publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(record.kid).toBe(await calculateJwkThumbprint(publicJwk, 'sha256'));
  });

  it('stores the private JWK sealed under the master key with the kid as AAD', async () => {
    const { store, masterKey, manager } = setup();
    const { kid } = await manager.ensureKey(T0);
    const record = store.records[0]!;
    expect(record.privateSealed.startsWith(`v1.${masterKey.id}.`)).toBe(true);
    expect(record.privateSealed).not.toContain('"d"');
    const jwk = openJson<{ d: string; x: string }>(masterKey, record.privateSealed, kid);
    expect(jwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(() => open(masterKey, record.privateSealed, 'another-kid')).toThrow(CryptoError);
    expect(() => open(masterKey, record.privateSealed)).toThrow(CryptoError);
  });

  it('does not create a second key on a later start, from this or another instance', async () => {
    const { store, masterKey, manager } = setup();
    const first = await manager.ensureKey(T0);
    const again = await manager.ensureKey(T0 + MINUTE);
    const other = await setup(masterKey, store).manager.ensureKey(T0 + 2 * MINUTE);
    expect(again).toEqual({ kid: first.kid, created: false });
    expect(other).toEqual({ kid: first.kid, created: false });
    expect(store.records).toHaveLength(1);
  });

  it('has no signer before ensureKey has run', async () => {
    await expectCryptoError(setup().manager.signer(T0), /no signing key is active/);
  });

  it('gives the same cached private key object on every signer() call', async () => {
    const { manager } = setup();
    await manager.ensureKey(T0);
    const first = await manager.signer(T0);
    const second = await manager.signer(T0 + 1);
    expect(second.key).toBe(first.key);
    expect(first.key.type).toBe('private');
    expect(first.key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('lets another instance decrypt the stored key, but not one with a different master key', async () => {
    const { store, masterKey, manager } = setup();
    const { kid } = await manager.ensureKey(T0);
    const sameKey = await setup(masterKey, store).manager.signer(T0);
    expect(sameKey.kid).toBe(kid);
    expect(sameKey.key.export({ format: 'jwk' }).d).toBe((await manager.signer(T0)).key.export({ format: 'jwk' }).d);
    await expectCryptoError(setup(MasterKey.generate(), store).manager.signer(T0), /sealed under master key/);
  });

  it('refuses a stored key whose kid is not the thumbprint of its public JWK', async () => {
    const { store, masterKey, manager } = setup();
    await manager.ensureKey(T0);
    const other = setup();
    await other.manager.ensureKey(T0);
    store.records[0]!.publicJwk = other.store.records[0]!.publicJwk;
    await expectCryptoError(setup(masterKey, store).manager.jwks(T0), /kid is not the RFC 7638 thumbprint/);
  });
});

describe('KeyManager JWKS', () => {
  it('never contains d or any member beyond kty, crv, x, y, kid, alg and use', async () => {
    const { store, masterKey, manager } = setup();
    await manager.ensureKey(T0);
    await manager.rotate(T0 + MINUTE, { retainMs: 10 * MINUTE });
    // Even a public JWK stored with its private part is served without it.
    const record = store.records[0]!;
    const leaked = openJson<Record<string, unknown>>(masterKey, record.privateSealed, record.kid);
    record.publicJwk = JSON.stringify({ ...JSON.parse(record.publicJwk), d: leaked.d, k: 'x' });
    await manager.reload();
    const jwks = await manager.jwks(T0 + MINUTE);
    expect(jwks.keys).toHaveLength(2);
    for (const key of jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    }
    expect(JSON.stringify(jwks)).not.toContain('"d"');
    expect(JSON.stringify(jwks)).not.toContain(String(leaked.d));
  });
});

describe('KeyManager rotation', () => {
  it('publishes the new key at once, before it starts signing', async () => {
    const { manager } = setup();
    const { kid: oldKid } = await manager.ensureKey(T0);
    const rotated = await manager.rotate(T0 + MINUTE, { publishAheadMs: 10 * MINUTE, retainMs: 60 * MINUTE });
    expect(rotated.kid).not.toBe(oldKid);
    expect(rotated.activatesAt).toBe(T0 + 11 * MINUTE);
    const kids = (await manager.jwks(T0 + MINUTE)).keys.map((key) => key.kid);
    expect(kids).toEqual([rotated.kid, oldKid]);
    expect((await manager.signer(T0 + MINUTE)).kid).toBe(oldKid);
  });

  it('switches the signer exactly at activatesAt', async () => {
    const { manager } = setup();
    const { kid: oldKid } = await manager.ensureKey(T0);
    const { kid: newKid, activatesAt } = await manager.rotate(T0, { publishAheadMs: 10 * MINUTE, retainMs: 60 * MINUTE });
    expect((await manager.signer(activatesAt - 1)).kid).toBe(oldKid);
    expect((await manager.signer(activatesAt)).kid).toBe(newKid);
    expect((await manager.signer(activatesAt + 1)).kid).toBe(newKid);
  });

  it('signs with the new key at once when publishAheadMs is 0', async () => {
    const { manager } = setup();
    await manager.ensureKey(T0);
    const { kid, activatesAt, retired } = await manager.rotate(T0 + MINUTE, { retainMs: 60 * MINUTE });
    expect(activatesAt).toBe(T0 + MINUTE);
    expect(retired.map((key) => key.retiredAt)).toEqual([T0 + MINUTE]);
    expect((await manager.signer(T0 + MINUTE)).kid).toBe(kid);
  });

  it('keeps the old key published until retiredAt + retainMs (+ the cache TTL), then drops it', async () => {
    const { store, manager } = setup();
    const { kid: oldKid } = await manager.ensureKey(T0);
    const retainMs = 60 * MINUTE;
    const { kid: newKid, retired } = await manager.rotate(T0 + MINUTE, { retainMs });
    const expiresAt = T0 + MINUTE + retainMs + CACHE_TTL;
    expect(retired).toEqual([{ kid: oldKid, retiredAt: T0 + MINUTE, expiresAt }]);
    expect(store.records.find((record) => record.kid === oldKid)).toMatchObject({ retiredAt: T0 + MINUTE, expiresAt });
    expect((await manager.jwks(expiresAt - 1)).keys.map((key) => key.kid)).toEqual([newKid, oldKid]);
    expect((await manager.jwks(expiresAt)).keys.map((key) => key.kid)).toEqual([newKid]);
    expect(await manager.publicKey(oldKid, expiresAt)).toBeUndefined();
    expect((await manager.publicKey(oldKid, expiresAt - 1))?.kid).toBe(oldKid);
  });

  it('requires retainMs and refuses negative durations, naming the option', async () => {
    const { manager } = setup();
    await manager.ensureKey(T0);
    await expect(manager.rotate(T0, {} as { retainMs: number })).rejects.toThrow(/options\.retainMs/);
    await expect(manager.rotate(T0, { retainMs: 1, publishAheadMs: -1 })).rejects.toThrow(/options\.publishAheadMs/);
  });

  it('retires every key still in service, including one waiting to activate', async () => {
    const { manager } = setup();
    const { kid: first } = await manager.ensureKey(T0);
    const { kid: second } = await manager.rotate(T0, { publishAheadMs: 10 * MINUTE, retainMs: MINUTE });
    const { kid: third, retired } = await manager.rotate(T0 + MINUTE, { retainMs: MINUTE });
    expect(retired.map((key) => key.kid).sort()).toEqual([first, second].sort());
    // The first key was due to retire at T0 + 10 min and keeps its later expiry.
    expect(retired.find((key) => key.kid === first)).toEqual({
      kid: first,
      retiredAt: T0 + MINUTE,
      expiresAt: T0 + 11 * MINUTE + CACHE_TTL,
    });
    expect(retired.find((key) => key.kid === second)).toEqual({
      kid: second,
      retiredAt: T0 + MINUTE,
      expiresAt: T0 + 2 * MINUTE + CACHE_TTL,
    });
    expect((await manager.signer(T0 + MINUTE)).kid).toBe(third);
    expect((await manager.signer(T0 + 20 * MINUTE)).kid).toBe(third);
  });
});

describe('KeyManager shared between instances', () => {
  it('serves a cached key list for cacheTtlMs, then re-reads the store', async () => {
    const { store, masterKey, manager: a } = setup();
    const b = setup(masterKey, store);
    await a.ensureKey(T0);
    expect((await b.manager.jwks(T0)).keys).toHaveLength(1);
    const { kid: newKid } = await a.rotate(T0 + MINUTE, { retainMs: MINUTE });
    b.clock.now = CACHE_TTL - 1;
    expect((await b.manager.jwks(T0 + MINUTE)).keys.map((key) => key.kid)).not.toContain(newKid);
    b.clock.now = CACHE_TTL;
    expect((await b.manager.jwks(T0 + MINUTE)).keys.map((key) => key.kid)).toContain(newKid);
  });

  it('re-reads the store early for an unknown kid, at most once per second', async () => {
    const { store, masterKey, manager: a } = setup();
    const b = setup(masterKey, store);
    await a.ensureKey(T0);
    await b.manager.jwks(T0);
    const { kid: newKid } = await a.rotate(T0 + MINUTE, { retainMs: MINUTE });
    const reads = store.listCalls;
    b.clock.now = 999;
    expect(await b.manager.publicKey(newKid, T0 + MINUTE)).toBeUndefined();
    expect(await b.manager.publicKey('forged-kid', T0 + MINUTE)).toBeUndefined();
    expect(store.listCalls).toBe(reads);
    b.clock.now = 1_000;
    expect((await b.manager.publicKey(newKid, T0 + MINUTE))?.kid).toBe(newKid);
    expect(store.listCalls).toBe(reads + 1);
  });

  it('shares one store read among concurrent callers', async () => {
    const { store, masterKey, manager: a } = setup();
    await a.ensureKey(T0);
    const b = setup(masterKey, store);
    const reads = store.listCalls;
    await Promise.all([b.manager.jwks(T0), b.manager.signer(T0), b.manager.jwks(T0)]);
    expect(store.listCalls).toBe(reads + 1);
  });
});
