// Envelope encryption of sensitive record fields (45 CFR 164.312(a)(2)(iv); the `sealed` columns
// of src/storage/types.ts): AES-256-GCM (NIST SP 800-38D) under the master key's encryption subkey.
//
// Format: v1.<keyid>.<iv>.<ciphertext>.<tag>, each binary part base64url without padding.
// - iv: 96 random bits per seal. SP 800-38D §8.3 caps random-IV use at 2^32 seals per key; a new
//   master key (with re-sealing) is due long before a single deployment gets there.
// - tag: 128 bits.
// - The authenticated data is "v1.<keyid>." followed by the caller's AAD, so the header cannot be
//   swapped and a blob sealed for one record (AAD = that record's digest or id) does not open for
//   another. Absent AAD and empty AAD are the same.
//
// Deliberately not done: compression (length side channels), and opening blobs sealed under an
// older master key (master key rotation re-seals; open() names the key id it needs).

import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { CryptoError } from './errors.js';
import type { MasterKey } from './master-key.js';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[0-9a-f]{8}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

const aesKeys = new WeakMap<MasterKey, KeyObject>();

function aesKey(masterKey: MasterKey): KeyObject {
  let key = aesKeys.get(masterKey);
  if (key === undefined) {
    const bytes = masterKey.encryptionKey();
    key = createSecretKey(bytes);
    bytes.fill(0);
    aesKeys.set(masterKey, key);
  }
  return key;
}

function additionalData(keyId: string, aad: string | undefined): Buffer {
  return Buffer.from(`${VERSION}.${keyId}.${aad ?? ''}`, 'utf8');
}

/** Encrypts `plaintext` (strings as UTF-8) under the master key, bound to `aad`. */
export function seal(masterKey: MasterKey, plaintext: string | Buffer, aad?: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', aesKey(masterKey), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(masterKey.id, aad));
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, masterKey.id, iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
}

/**
 * Decrypts a value made by seal(). Fails with ERR_CRYPTO when it is malformed, was sealed under
 * another master key, was modified, or `aad` differs from the AAD it was sealed with.
 */
export function open(masterKey: MasterKey, sealed: string, aad?: string): Buffer {
  const parts = typeof sealed === 'string' ? sealed.split('.') : [];
  if (parts.length !== 5) {
    throw new CryptoError('ERR_CRYPTO', 'sealed value is malformed (expected v1.<keyid>.<iv>.<ciphertext>.<tag>)');
  }
  const [version, keyId, ivText, ciphertextText, tagText] = parts as [string, string, string, string, string];
  if (version !== VERSION) {
    throw new CryptoError('ERR_CRYPTO', `sealed value has unsupported version ${JSON.stringify(version.slice(0, 8))}`);
  }
  if (!KEY_ID.test(keyId)) {
    throw new CryptoError('ERR_CRYPTO', 'sealed value is malformed (key id)');
  }
  if (keyId !== masterKey.id) {
    throw new CryptoError(
      'ERR_CRYPTO',
      `sealed value was sealed under master key ${keyId}, but the loaded master key is ${masterKey.id}`,
    );
  }
  const iv = decodeBase64url(ivText, 'iv');
  const ciphertext = decodeBase64url(ciphertextText, 'ciphertext');
  const tag = decodeBase64url(tagText, 'tag');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new CryptoError('ERR_CRYPTO', 'sealed value is malformed (iv or tag length)');
  }
  const decipher = createDecipheriv('aes-256-gcm', aesKey(masterKey), iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData(keyId, aad));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (error) {
    throw new CryptoError('ERR_CRYPTO', 'sealed value failed authentication (modified, or opened with the wrong AAD)', {
      cause: error,
    });
  }
}

/** seal() of JSON.stringify(value). */
export function sealJson(masterKey: MasterKey, value: unknown, aad?: string): string {
  const text = JSON.stringify(value);
  if (text === undefined) {
    throw new TypeError('sealJson: value is not JSON-serialisable');
  }
  return seal(masterKey, text, aad);
}

/** open() then JSON.parse. The shape is not checked: the caller validates what it reads. */
export function openJson<T = unknown>(masterKey: MasterKey, sealed: string, aad?: string): T {
  const text = open(masterKey, sealed, aad).toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new CryptoError('ERR_CRYPTO', 'sealed value does not hold JSON', { cause: error });
  }
}

/** The id of the master key a value was sealed under (for re-sealing tools), or undefined if malformed. */
export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.split('.');
  return parts.length === 5 && parts[0] === VERSION && KEY_ID.test(parts[1] ?? '') ? parts[1] : undefined;
}

// Node's decoder silently skips characters outside the alphabet and ignores the low bits of the
// last character; accept only canonical base64url so one sealed value has exactly one spelling.
function decodeBase64url(text: string, part: string): Buffer {
  const bytes = BASE64URL.test(text) ? Buffer.from(text, 'base64url') : undefined;
  if (bytes === undefined || bytes.toString('base64url') !== text) {
    throw new CryptoError('ERR_CRYPTO', `sealed value is malformed (${part} is not canonical base64url)`);
  }
  return bytes;
}
