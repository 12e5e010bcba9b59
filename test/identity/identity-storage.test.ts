// The identity stores of migration 003 (users.role, MFA factors, recovery codes, pending logins),
// against every adapter on a real database, including the races that replay protection relies on.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import type { MfaFactorRecord, Storage, UserRecord } from '../../src/storage/types.js';
import { testAdapters, type TestDatabase } from '../storage/databases.js';

const adapters = await testAdapters();
const T0 = 1_700_000_000_000;
const RACERS = 30;
const uid = (prefix: string) => `${prefix}-${randomUUID()}`;

const makeUser = (over: Partial<UserRecord> = {}): UserRecord => ({
  id: uid('user'), username: uid('name'), passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', disabled: false,
  fhirUser: null, createdAt: T0, ...over,
});

const makeFactor = (over: Partial<MfaFactorRecord> = {}): MfaFactorRecord => ({
  id: uid('mf'), userId: uid('user'), kind: 'totp', label: 'Authenticator app', sealed: 'v1.sealed', counter: 100, createdAt: T0, lastUsedAt: null, ...over,
});

describe.each(adapters)('identity stores on $name', (adapter) => {
  let db: TestDatabase;
  let storage: Storage;
  beforeAll(async () => {
    db = await adapter.open();
    storage = await openStorage(db.url);
  });
  afterAll(async () => {
    await storage?.close();
    await db?.cleanup();
  });

  describe('UserStore roles', () => {
    it('keeps a role given at creation and changes it with setRole', async () => {
      const user = makeUser({ role: 'practitioner' });
      await storage.users.create(user);
      expect(await storage.users.getById(user.id)).toEqual({ ...user, patientPanel: [], breakGlass: false });
      expect(await storage.users.setRole(user.id, 'administrator')).toBe(true);
      expect((await storage.users.getByUsername(user.username))?.role).toBe('administrator');
      expect(await storage.users.setRole(uid('missing'), 'patient')).toBe(false);
    });

    it('reads a user stored without a role without one (a patient), and the column refuses other roles', async () => {
      const user = makeUser();
      await storage.users.create(user);
      expect((await storage.users.getById(user.id))?.role).toBeUndefined();
      await expect(storage.users.setRole(user.id, 'superuser' as never)).rejects.toThrow();
    });

    it('gives accounts that existed before migration 003 the role patient', async () => {
      const id = uid('legacy');
      await storage.sql.run('INSERT INTO users (id, username, password_hash, disabled, fhir_user, created_at) VALUES ($1, $2, $3, 0, NULL, $4)', [id, uid('legacy'), 'x', T0]);
      expect((await storage.users.getById(id))?.role).toBe('patient');
    });
  });

  describe('MfaFactorStore', () => {
    it('lists a user\'s factors oldest first and removes them all', async () => {
      const userId = uid('user');
      const a = makeFactor({ userId, createdAt: T0 + 2 });
      const b = makeFactor({ userId, kind: 'webauthn', label: 'Passkey', createdAt: T0 + 1 });
      await storage.mfaFactors.create(a);
      await storage.mfaFactors.create(b);
      await storage.mfaFactors.create(makeFactor());
      expect(await storage.mfaFactors.listByUser(userId)).toEqual([b, a]);
      await expect(storage.mfaFactors.create(a)).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      expect(await storage.mfaFactors.removeByUser(userId)).toBe(2);
      expect(await storage.mfaFactors.listByUser(userId)).toEqual([]);
    });

    it('moves the TOTP counter only forward', async () => {
      const f = makeFactor({ counter: 100 });
      await storage.mfaFactors.create(f);
      expect(await storage.mfaFactors.advanceCounter(f.id, 100, T0 + 1)).toBe(false);
      expect(await storage.mfaFactors.advanceCounter(f.id, 99, T0 + 1)).toBe(false);
      expect(await storage.mfaFactors.advanceCounter(f.id, 101, T0 + 2)).toBe(true);
      expect(await storage.mfaFactors.advanceCounter(f.id, 101, T0 + 3)).toBe(false);
      expect((await storage.mfaFactors.listByUser(f.userId))[0]).toMatchObject({ counter: 101, lastUsedAt: T0 + 2 });
    });

    it(`lets exactly one of ${RACERS} concurrent uses of one TOTP step through`, async () => {
      const f = makeFactor({ counter: 7 });
      await storage.mfaFactors.create(f);
      const results = await Promise.all(Array.from({ length: RACERS }, () => storage.mfaFactors.advanceCounter(f.id, 8, T0)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('records a passkey use with its counter, and reports an unknown id', async () => {
      const f = makeFactor({ kind: 'webauthn', counter: 0 });
      await storage.mfaFactors.create(f);
      expect(await storage.mfaFactors.recordUse(f.id, 0, T0 + 5)).toBe(true);
      expect((await storage.mfaFactors.listByUser(f.userId))[0]).toMatchObject({ counter: 0, lastUsedAt: T0 + 5 });
      expect(await storage.mfaFactors.recordUse(uid('missing'), 1, T0)).toBe(false);
    });
  });

  describe('RecoveryCodeStore', () => {
    it('replaces a user\'s codes, uses each once and only for its user', async () => {
      const userId = uid('user');
      await storage.recoveryCodes.replace(userId, ['d1', 'd2', 'd3'].map((d) => `${userId}-${d}`), T0);
      expect(await storage.recoveryCodes.countUnused(userId)).toBe(3);
      expect(await storage.recoveryCodes.consume(uid('other'), `${userId}-d1`, T0)).toBe(false);
      expect(await storage.recoveryCodes.consume(userId, `${userId}-d1`, T0)).toBe(true);
      expect(await storage.recoveryCodes.consume(userId, `${userId}-d1`, T0 + 1)).toBe(false);
      expect(await storage.recoveryCodes.countUnused(userId)).toBe(2);
      await storage.recoveryCodes.replace(userId, [`${userId}-d4`], T0 + 2);
      expect(await storage.recoveryCodes.consume(userId, `${userId}-d2`, T0 + 3)).toBe(false);
      expect(await storage.recoveryCodes.countUnused(userId)).toBe(1);
      expect(await storage.recoveryCodes.removeByUser(userId)).toBe(1);
    });

    it(`lets exactly one of ${RACERS} concurrent uses of a code through`, async () => {
      const userId = uid('user');
      await storage.recoveryCodes.replace(userId, [`${userId}-race`], T0);
      const results = await Promise.all(Array.from({ length: RACERS }, () => storage.recoveryCodes.consume(userId, `${userId}-race`, T0)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('PendingLoginStore', () => {
    it('saves, updates and removes a pending login; an expired one is still returned', async () => {
      const record = { digest: uid('digest'), userId: uid('user'), sealed: 'v1.a', createdAt: T0, expiresAt: T0 - 1 };
      await storage.pendingLogins.save(record);
      expect(await storage.pendingLogins.get(record.digest)).toEqual(record);
      await expect(storage.pendingLogins.save(record)).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      expect(await storage.pendingLogins.update(record.digest, 'v1.b')).toBe(true);
      expect((await storage.pendingLogins.get(record.digest))?.sealed).toBe('v1.b');
      expect(await storage.pendingLogins.update(uid('missing'), 'v1.c')).toBe(false);
      await storage.pendingLogins.remove(record.digest);
      expect(await storage.pendingLogins.get(record.digest)).toBeUndefined();
      await expect(storage.pendingLogins.remove(record.digest)).resolves.toBeUndefined();
    });
  });
});
