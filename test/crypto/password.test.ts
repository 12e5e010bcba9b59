import { describe, expect, it } from 'vitest';
import { CryptoError } from '../../src/crypto/errors.js';
import {
  dummyVerify,
  hashPassword,
  passwordNeedsRehash,
  prepareDummyVerify,
  verifyPassword,
} from '../../src/crypto/password.js';

describe('passwords', () => {
  it('hashes with argon2id at m=64 MiB, t=3, p=4 and a random salt', async () => {
    const first = await hashPassword('correct horse battery staple');
    const second = await hashPassword('correct horse battery staple');
    expect(first).toMatch(/^\$argon2id\$v=19\$m=65536,p=4,t=3\$/);
    expect(first).not.toBe(second);
    expect(first).not.toContain('correct horse');
  });

  it('verifies the right password and rejects a wrong one', async () => {
    const hash = await hashPassword('correct horse battery staple');
    await expect(verifyPassword(hash, 'correct horse battery staple')).resolves.toBe(true);
    await expect(verifyPassword(hash, 'correct horse battery stapl')).resolves.toBe(false);
    await expect(verifyPassword(hash, '')).resolves.toBe(false);
  });

  it('fails with ERR_CRYPTO when the stored hash is not an argon2 hash (for example swapped arguments)', async () => {
    const hash = await hashPassword('secret-password');
    const error = await verifyPassword('secret-password', hash).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).code).toBe('ERR_CRYPTO');
    expect((error as CryptoError).message).not.toContain('secret-password');
  });

  it('reports a hash made with weaker parameters as needing a rehash', async () => {
    const argon2 = (await import('argon2')).default;
    const weak = await argon2.hash('pw', { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    expect(passwordNeedsRehash(weak)).toBe(true);
    expect(passwordNeedsRehash(await hashPassword('pw'))).toBe(false);
  });

  it('has a dummy verification for unknown users that resolves false', async () => {
    await prepareDummyVerify();
    await expect(dummyVerify()).resolves.toBe(false);
  });
});
