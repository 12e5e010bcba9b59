import { describe, expect, it } from 'vitest';
import { generateClientSecret, verifyClientSecret } from '../../src/crypto/client-secret.js';
import { constantTimeEqual, keyedDigest } from '../../src/crypto/digest.js';
import { MasterKey } from '../../src/crypto/master-key.js';
import { randomId, randomToken } from '../../src/crypto/random.js';

const masterKey = MasterKey.generate();

describe('keyedDigest', () => {
  it('is the hex HMAC-SHA-256 of the value (RFC 4231 test case 2 shape, with a 32-byte key)', async () => {
    const { createHmac } = await import('node:crypto');
    const key = Buffer.alloc(32, 7);
    expect(keyedDigest(key, 'what do ya want for nothing?')).toBe(
      createHmac('sha256', key).update('what do ya want for nothing?').digest('hex'),
    );
    expect(keyedDigest(key, 'x')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs per purpose for the same token', () => {
    const token = randomToken();
    const digests = new Set(
      (['refresh-token', 'authorization-code', 'session', 'access-token'] as const).map((purpose) =>
        keyedDigest(masterKey.digestKey(purpose), token),
      ),
    );
    expect(digests.size).toBe(4);
  });

  it('is stable for one key and purpose, and differs under another master key', () => {
    const token = randomToken();
    expect(keyedDigest(masterKey.digestKey('session'), token)).toBe(keyedDigest(masterKey.digestKey('session'), token));
    expect(keyedDigest(MasterKey.generate().digestKey('session'), token)).not.toBe(
      keyedDigest(masterKey.digestKey('session'), token),
    );
  });

  it('refuses a short key', () => {
    expect(() => keyedDigest(Buffer.alloc(16), 'x')).toThrow(/at least 32 bytes/);
  });
});

describe('constantTimeEqual', () => {
  it('is true for equal strings and false for different ones, including different lengths', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', 'a')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });
});

describe('random values', () => {
  it('makes 256-bit base64url tokens by default', () => {
    const token = randomToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(randomToken()).not.toBe(token);
  });

  it('refuses tokens shorter than 128 bits', () => {
    expect(() => randomToken(15)).toThrow(RangeError);
    expect(randomToken(16)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('makes ids with an optional prefix and refuses a prefix that is not alphanumeric', () => {
    expect(randomId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(randomId('usr')).toMatch(/^usr_[A-Za-z0-9_-]{22}$/);
    expect(() => randomId('a.b')).toThrow(TypeError);
  });
});

describe('client secrets', () => {
  it('generates a 256-bit secret whose keyed digest verifies', () => {
    const { secret, digest } = generateClientSecret(masterKey);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(digest).not.toContain(secret);
    expect(verifyClientSecret(masterKey, secret, digest)).toBe(true);
  });

  it('rejects a wrong secret, an empty one, and the right secret under another master key', () => {
    const { secret, digest } = generateClientSecret(masterKey);
    expect(verifyClientSecret(masterKey, `${secret}x`, digest)).toBe(false);
    expect(verifyClientSecret(masterKey, '', digest)).toBe(false);
    expect(verifyClientSecret(masterKey, digest, digest)).toBe(false);
    expect(verifyClientSecret(MasterKey.generate(), secret, digest)).toBe(false);
  });

  it('uses the client-secret digest key, not another purpose', () => {
    const { secret, digest } = generateClientSecret(masterKey);
    expect(digest).toBe(keyedDigest(masterKey.digestKey('client-secret'), secret));
    expect(digest).not.toBe(keyedDigest(masterKey.digestKey('refresh-token'), secret));
  });
});
