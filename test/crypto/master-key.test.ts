import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CryptoError } from '../../src/crypto/errors.js';
import { createMasterKeyFile, loadMasterKey, MasterKey, type DigestPurpose } from '../../src/crypto/master-key.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'caduceus-master-key-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeKeyFile(name: string, content: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

function expectConfigError(run: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CryptoError);
  expect((caught as CryptoError).code).toBe('ERR_CONFIG');
  expect((caught as CryptoError).message).toMatch(message);
}

const keyId = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex').slice(0, 8);

describe('loadMasterKey', () => {
  it('reads a base64 key from CADUCEUS_MASTER_KEY', () => {
    const bytes = randomBytes(32);
    const key = loadMasterKey({ env: { CADUCEUS_MASTER_KEY: bytes.toString('base64') } });
    expect(key.id).toBe(keyId(bytes));
  });

  it('reads a base64url key from CADUCEUS_MASTER_KEY', () => {
    const bytes = randomBytes(32);
    const key = loadMasterKey({ env: { CADUCEUS_MASTER_KEY: bytes.toString('base64url') } });
    expect(key.id).toBe(keyId(bytes));
  });

  it('prefers the environment variable over the file', () => {
    const fromEnv = randomBytes(32);
    const file = writeKeyFile('master.key', `${randomBytes(32).toString('base64')}\n`, 0o600);
    const key = loadMasterKey({ env: { CADUCEUS_MASTER_KEY: fromEnv.toString('base64') }, file });
    expect(key.id).toBe(keyId(fromEnv));
  });

  it('reads the key from a 0600 file when the variable is not set', () => {
    const bytes = randomBytes(32);
    const file = writeKeyFile('master.key', `${bytes.toString('base64')}\n`, 0o600);
    expect(loadMasterKey({ env: {}, file }).id).toBe(keyId(bytes));
  });

  it('accepts a 0400 file', () => {
    const bytes = randomBytes(32);
    const file = writeKeyFile('master.key', bytes.toString('base64'), 0o400);
    expect(loadMasterKey({ env: {}, file }).id).toBe(keyId(bytes));
  });

  it.skipIf(process.platform === 'win32')('refuses a 0644 key file and names chmod 600 as the fix', () => {
    const file = writeKeyFile('master.key', randomBytes(32).toString('base64'), 0o644);
    expectConfigError(() => loadMasterKey({ env: {}, file }), /mode 0644.*chmod 600/);
  });

  it.skipIf(process.platform === 'win32')('refuses a 0640 key file (group-readable)', () => {
    const file = writeKeyFile('master.key', randomBytes(32).toString('base64'), 0o640);
    expectConfigError(() => loadMasterKey({ env: {}, file }), /readable by group or others/);
  });

  it('refuses a 16-byte key from the environment', () => {
    expectConfigError(
      () => loadMasterKey({ env: { CADUCEUS_MASTER_KEY: randomBytes(16).toString('base64') } }),
      /CADUCEUS_MASTER_KEY: master key decodes to 16 bytes, exactly 32 are required/,
    );
  });

  it('refuses a 33-byte key from a file', () => {
    const file = writeKeyFile('master.key', randomBytes(33).toString('base64'), 0o600);
    expectConfigError(() => loadMasterKey({ env: {}, file }), /decodes to 33 bytes/);
  });

  it('refuses key text that is not base64', () => {
    expectConfigError(
      () => loadMasterKey({ env: { CADUCEUS_MASTER_KEY: 'not a key!'.repeat(5) } }),
      /not base64 or base64url/,
    );
  });

  it('fails with a message naming both sources when neither is configured', () => {
    expectConfigError(() => loadMasterKey({ env: {} }), /set CADUCEUS_MASTER_KEY or configure a master key file/);
  });

  it('fails when the key file does not exist', () => {
    expectConfigError(() => loadMasterKey({ env: {}, file: join(dir, 'missing.key') }), /does not exist/);
  });

  it('never puts the key text into an error message', () => {
    const text = randomBytes(31).toString('base64');
    try {
      loadMasterKey({ env: { CADUCEUS_MASTER_KEY: text } });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain(text);
    }
  });
});

describe('createMasterKeyFile', () => {
  it.skipIf(process.platform === 'win32')('writes a 32-byte key with mode 0600 that loadMasterKey reads back', () => {
    const path = join(dir, 'master.key');
    const created = createMasterKeyFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')).toHaveLength(32);
    expect(loadMasterKey({ env: {}, file: path }).id).toBe(created.id);
  });

  it('refuses to overwrite an existing file', () => {
    const path = join(dir, 'master.key');
    const first = createMasterKeyFile(path);
    expectConfigError(() => createMasterKeyFile(path), /already exists/);
    expect(loadMasterKey({ env: {}, file: path }).id).toBe(first.id);
  });
});

describe('MasterKey', () => {
  it('has an id of the first 8 hex digits of SHA-256 of the key', () => {
    const bytes = randomBytes(32);
    expect(MasterKey.fromBytes(bytes).id).toMatch(/^[0-9a-f]{8}$/);
    expect(MasterKey.fromBytes(bytes).id).toBe(keyId(bytes));
  });

  it('derives a different 32-byte digest key for every purpose, and an encryption key unlike all of them', () => {
    const key = MasterKey.generate();
    const purposes: DigestPurpose[] = [
      'refresh-token',
      'authorization-code',
      'client-secret',
      'session',
      'interaction',
      'csrf',
      'access-token',
    ];
    const derived = [...purposes.map((purpose) => key.digestKey(purpose)), key.encryptionKey()];
    for (const subkey of derived) {
      expect(subkey).toHaveLength(32);
    }
    expect(new Set(derived.map((subkey) => subkey.toString('hex'))).size).toBe(purposes.length + 1);
  });

  it('derives the same subkeys from the same key bytes and different ones from another key', () => {
    const bytes = randomBytes(32);
    expect(MasterKey.fromBytes(bytes).digestKey('session')).toEqual(MasterKey.fromBytes(bytes).digestKey('session'));
    expect(MasterKey.fromBytes(bytes).digestKey('session')).not.toEqual(MasterKey.generate().digestKey('session'));
  });

  it('refuses an unknown digest purpose', () => {
    expect(() => MasterKey.generate().digestKey('password' as DigestPurpose)).toThrow(/unknown purpose/);
  });

  it('shows only its id through JSON, String and util.inspect', () => {
    const bytes = randomBytes(32);
    const key = MasterKey.fromBytes(bytes);
    const renderings = [JSON.stringify({ key }), String(key), inspect(key, { showHidden: true, depth: 5 }), inspect({ key })];
    for (const rendering of renderings) {
      expect(rendering).toContain(key.id);
      for (const encoding of ['base64', 'base64url', 'hex'] as const) {
        expect(rendering).not.toContain(bytes.toString(encoding));
      }
    }
    expect(Object.keys(key)).toEqual(['id']);
  });
});
