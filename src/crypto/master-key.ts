// The master key: the one root secret of a deployment (45 CFR 164.312(a)(2)(iv), encryption and
// decryption). 32 random bytes, base64 or base64url, read from CADUCEUS_MASTER_KEY or from a file
// that only its owner can read. Every symmetric key in use is derived from it with HKDF-SHA-256
// (RFC 5869) under a distinct info label, so the key that digests refresh tokens is never the key
// that digests sessions or the key that encrypts records.
//
// The raw key never leaves this module: it lives in a #private field, and toJSON, toString and
// util.inspect show only the key id.

import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fstatSync, fsyncSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { inspect } from 'node:util';
import { CryptoError } from './errors.js';

export const MASTER_KEY_ENV = 'CADUCEUS_MASTER_KEY';
export const MASTER_KEY_BYTES = 32;

export type DigestPurpose =
  | 'refresh-token'
  | 'authorization-code'
  | 'client-secret'
  | 'session'
  | 'interaction'
  | 'csrf'
  | 'access-token'
  /** Seed of the Ed25519 checkpoint signing key of the audit ledger (separate from token keys). */
  | 'audit-checkpoint'
  /** SMART EHR launch values (src/smart/launch-context.ts). */
  | 'smart-launch'
  /** HMAC key that signs break-glass webhook bodies (src/breakglass/notify.ts); shared with the receiver. */
  | 'breakglass-webhook'
  /** Keys of the shared request rate-limit counts (src/http/request-rate-limits.ts): addresses and client ids. */
  | 'rate-limit'
  /** RFC 7592 registration access tokens of self-registered agents (src/oauth/registration/). */
  | 'registration-token'
  /** Admin console session cookies (src/admin/console/session.ts), apart from end users' sessions. */
  | 'admin-session'
  /** One-time password-set links of users added in the admin console (src/admin/users.ts). */
  | 'password-link';

const DIGEST_PURPOSES: ReadonlySet<string> = new Set<DigestPurpose>([
  'refresh-token',
  'authorization-code',
  'client-secret',
  'session',
  'interaction',
  'csrf',
  'access-token',
  'audit-checkpoint',
  'smart-launch',
  'breakglass-webhook',
  'rate-limit',
  'registration-token',
  'admin-session',
  'password-link',
]);

// RFC 5869 §3.1: the salt is optional; the input key is already uniformly random, so a fixed,
// versioned label is enough. Changing it (or an info label) changes every derived key.
const HKDF_SALT = Buffer.from('caduceus/master-key/v1', 'utf8');
const ENCRYPTION_INFO = 'caduceus/v1/encryption/aes-256-gcm';
const digestInfo = (purpose: DigestPurpose): string => `caduceus/v1/digest/${purpose}`;

const GENERATE_HINT =
  `generate one with: umask 077 && node -e "console.log(require('node:crypto').randomBytes(32).toString('base64'))" > master.key`;

const BASE64_TEXT = /^[A-Za-z0-9+/_-]+={0,2}$/;

export class MasterKey {
  /** Short key id: the first 8 hex digits of SHA-256 of the key. Names the key in sealed records; not secret. */
  readonly id: string;
  readonly #key: Buffer;
  readonly #derived = new Map<string, Buffer>();

  private constructor(key: Buffer) {
    this.#key = key;
    this.id = createHash('sha256').update(key).digest('hex').slice(0, 8);
  }

  /** Wraps 32 key bytes (copied). Fails with ERR_CONFIG on any other length. */
  static fromBytes(bytes: Uint8Array): MasterKey {
    if (bytes.length !== MASTER_KEY_BYTES) {
      throw new CryptoError(
        'ERR_CONFIG',
        `master key must be exactly ${MASTER_KEY_BYTES} bytes, got ${bytes.length}; ${GENERATE_HINT}`,
      );
    }
    // Buffer.alloc never hands out a slice of the shared pool, so the key has its own memory.
    const key = Buffer.alloc(MASTER_KEY_BYTES);
    key.set(bytes);
    return new MasterKey(key);
  }

  /** A fresh random key (tests, `createMasterKeyFile`). */
  static generate(): MasterKey {
    const bytes = randomBytes(MASTER_KEY_BYTES);
    try {
      return MasterKey.fromBytes(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  /** The HMAC-SHA-256 key for digests of one kind of secret (see keyedDigest). Returns a copy. */
  digestKey(purpose: DigestPurpose): Buffer {
    if (!DIGEST_PURPOSES.has(purpose)) {
      throw new TypeError(`digestKey: unknown purpose ${JSON.stringify(purpose)}`);
    }
    return Buffer.from(this.#derive(digestInfo(purpose)));
  }

  /** The AES-256-GCM key for envelopes (see envelope.ts). Returns a copy. */
  encryptionKey(): Buffer {
    return Buffer.from(this.#derive(ENCRYPTION_INFO));
  }

  #derive(info: string): Buffer {
    let key = this.#derived.get(info);
    if (key === undefined) {
      key = Buffer.from(hkdfSync('sha256', this.#key, HKDF_SALT, info, 32));
      this.#derived.set(info, key);
    }
    return key;
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  toString(): string {
    return `MasterKey(${this.id})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Parses base64 or base64url key text (surrounding whitespace ignored). `source` names where the
 * text came from in error messages; the text itself is never included.
 */
export function parseMasterKey(text: string, source: string): MasterKey {
  const trimmed = text.trim();
  if (!BASE64_TEXT.test(trimmed)) {
    throw new CryptoError('ERR_CONFIG', `${source}: master key is not base64 or base64url text; ${GENERATE_HINT}`);
  }
  // Node's base64 decoder accepts both alphabets.
  const bytes = Buffer.from(trimmed, 'base64');
  try {
    if (bytes.length !== MASTER_KEY_BYTES) {
      throw new CryptoError(
        'ERR_CONFIG',
        `${source}: master key decodes to ${bytes.length} bytes, exactly ${MASTER_KEY_BYTES} are required; ${GENERATE_HINT}`,
      );
    }
    return MasterKey.fromBytes(bytes);
  } finally {
    bytes.fill(0);
  }
}

export interface LoadMasterKeyOptions {
  /** Usually process.env. CADUCEUS_MASTER_KEY, when set and not blank, wins over the file. */
  env: Readonly<Record<string, string | undefined>>;
  /** Path of the key file, used when the variable is not set. */
  file?: string | null;
}

/**
 * Loads the master key from CADUCEUS_MASTER_KEY, else from `file`. Fails with ERR_CONFIG when
 * neither is given, the key is not exactly 32 bytes, or the file is readable by group or others.
 */
export function loadMasterKey(options: LoadMasterKeyOptions): MasterKey {
  const fromEnv = options.env[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return parseMasterKey(fromEnv, MASTER_KEY_ENV);
  }
  const file = options.file;
  if (file === undefined || file === null || file === '') {
    throw new CryptoError(
      'ERR_CONFIG',
      `no master key: set ${MASTER_KEY_ENV} or configure a master key file (mode 0600); ${GENERATE_HINT}`,
    );
  }
  return parseMasterKey(readKeyFile(file), `master key file ${file}`);
}

function readKeyFile(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CryptoError(
        'ERR_CONFIG',
        `master key file ${file} does not exist: set ${MASTER_KEY_ENV} or create the file; ${GENERATE_HINT}`,
        { cause: error },
      );
    }
    throw new CryptoError('ERR_CONFIG', `master key file ${file} cannot be opened (${code ?? 'unknown error'})`, {
      cause: error,
    });
  }
  try {
    // fstat on the open descriptor: the mode checked is the mode of the file actually read.
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new CryptoError('ERR_CONFIG', `master key file ${file} is not a regular file`);
    }
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw new CryptoError(
        'ERR_CONFIG',
        `master key file ${file} has mode ${mode}, readable by group or others; run: chmod 600 ${file}` +
          ' (Kubernetes secret volumes: set defaultMode: 0400)',
      );
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a new random master key (base64, one line) to `path` with mode 0600 and returns it.
 * Fails with ERR_CONFIG when the file exists: every sealed record depends on the key it holds.
 */
export function createMasterKeyFile(path: string): MasterKey {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new CryptoError(
        'ERR_CONFIG',
        `master key file ${path} already exists; refusing to overwrite it (data sealed under it would be lost)`,
        { cause: error },
      );
    }
    throw new CryptoError('ERR_CONFIG', `master key file ${path} cannot be created (${code ?? 'unknown error'})`, {
      cause: error,
    });
  }
  const bytes = randomBytes(MASTER_KEY_BYTES);
  try {
    try {
      fchmodSync(fd, 0o600); // the umask can only narrow the mode, but be explicit
      writeSync(fd, `${bytes.toString('base64')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    unlinkSync(path);
    bytes.fill(0);
    throw error;
  }
  try {
    return MasterKey.fromBytes(bytes);
  } finally {
    bytes.fill(0);
  }
}
