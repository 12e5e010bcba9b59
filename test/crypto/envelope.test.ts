import { describe, expect, it } from 'vitest';
import { open, openJson, seal, sealedKeyId, sealJson } from '../../src/crypto/envelope.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { MasterKey } from '../../src/crypto/master-key.js';

const masterKey = MasterKey.generate();

function expectCryptoError(run: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CryptoError);
  expect((caught as CryptoError).code).toBe('ERR_CRYPTO');
  expect((caught as CryptoError).message).toMatch(message);
}

/** Flips one bit of the binary part at `index` (2 iv, 3 ciphertext, 4 tag) and re-encodes it canonically. */
function flipBit(sealed: string, index: 2 | 3 | 4): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0]! ^= 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('seal and open', () => {
  it('round-trips a string, bound to its AAD', () => {
    const sealed = seal(masterKey, 'Patient/123 consent c-1', 'digest-abc');
    expect(open(masterKey, sealed, 'digest-abc').toString('utf8')).toBe('Patient/123 consent c-1');
  });

  it('round-trips binary data and an empty plaintext', () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    expect(open(masterKey, seal(masterKey, bytes))).toEqual(bytes);
    expect(open(masterKey, seal(masterKey, ''))).toHaveLength(0);
  });

  it('writes v1.<keyid>.<iv>.<ciphertext>.<tag> with a 96-bit iv and a 128-bit tag', () => {
    const sealed = seal(masterKey, 'hello');
    const [version, keyId, iv, ciphertext, tag] = sealed.split('.');
    expect(version).toBe('v1');
    expect(keyId).toBe(masterKey.id);
    expect(sealedKeyId(sealed)).toBe(masterKey.id);
    expect(Buffer.from(iv!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(ciphertext!, 'base64url')).toHaveLength(5);
    expect(Buffer.from(tag!, 'base64url')).toHaveLength(16);
    expect(sealed).not.toContain('hello');
  });

  it('uses a fresh iv for every seal', () => {
    const ivs = new Set(Array.from({ length: 50 }, () => seal(masterKey, 'same').split('.')[2]));
    expect(ivs.size).toBe(50);
  });

  it('rejects a modified ciphertext with ERR_CRYPTO', () => {
    const sealed = seal(masterKey, 'sensitive grant data', 'aad');
    expectCryptoError(() => open(masterKey, flipBit(sealed, 3), 'aad'), /failed authentication/);
  });

  it('rejects a modified tag with ERR_CRYPTO', () => {
    const sealed = seal(masterKey, 'sensitive grant data', 'aad');
    expectCryptoError(() => open(masterKey, flipBit(sealed, 4), 'aad'), /failed authentication/);
  });

  it('rejects a modified iv with ERR_CRYPTO', () => {
    const sealed = seal(masterKey, 'sensitive grant data', 'aad');
    expectCryptoError(() => open(masterKey, flipBit(sealed, 2), 'aad'), /failed authentication/);
  });

  it('rejects a sealed value whose key id was changed with ERR_CRYPTO', () => {
    const sealed = seal(masterKey, 'sensitive grant data');
    const parts = sealed.split('.');
    parts[1] = parts[1] === '00000000' ? '00000001' : '00000000';
    expectCryptoError(() => open(masterKey, parts.join('.')), /sealed under master key 0000000\d/);
  });

  it('rejects a value sealed under another master key with ERR_CRYPTO', () => {
    const other = MasterKey.generate();
    expectCryptoError(() => open(masterKey, seal(other, 'x')), new RegExp(`sealed under master key ${other.id}`));
  });

  it('rejects a wrong AAD and a missing AAD with ERR_CRYPTO', () => {
    const sealed = seal(masterKey, 'code record', 'digest-of-code-1');
    expectCryptoError(() => open(masterKey, sealed, 'digest-of-code-2'), /failed authentication/);
    expectCryptoError(() => open(masterKey, sealed), /failed authentication/);
  });

  it('rejects an AAD where none was sealed', () => {
    expectCryptoError(() => open(masterKey, seal(masterKey, 'x'), 'unexpected'), /failed authentication/);
  });

  it('rejects non-canonical base64url, a wrong version and a wrong number of parts', () => {
    const sealed = seal(masterKey, 'x');
    const parts = sealed.split('.');
    expectCryptoError(() => open(masterKey, [...parts.slice(0, 4), `${parts[4]}=`].join('.')), /not canonical/);
    expectCryptoError(() => open(masterKey, [...parts.slice(0, 3), `${parts[3]}!`, parts[4]].join('.')), /not canonical/);
    expectCryptoError(() => open(masterKey, ['v2', ...parts.slice(1)].join('.')), /unsupported version/);
    expectCryptoError(() => open(masterKey, parts.slice(0, 4).join('.')), /malformed/);
  });
});

describe('sealJson and openJson', () => {
  it('round-trips a JSON value under an AAD and rejects another AAD', () => {
    const value = { userId: 'usr_1', scope: 'openid patient/*.rs', authTime: 1_700_000_000 };
    const sealed = sealJson(masterKey, value, 'rt-digest');
    expect(openJson(masterKey, sealed, 'rt-digest')).toEqual(value);
    expectCryptoError(() => openJson(masterKey, sealed, 'other-digest'), /failed authentication/);
  });

  it('refuses a value JSON cannot represent', () => {
    expect(() => sealJson(masterKey, undefined)).toThrow(TypeError);
  });
});
