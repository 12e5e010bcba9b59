// The storage contract (src/storage/types.ts), run against every adapter on a real database:
// a SQLite file and a fresh PostgreSQL schema. Times are a frozen clock (T0 + offsets).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, runMigrations, migrations } from '../../src/storage/index.js';
import { openSqlDriver } from '../../src/storage/sql.js';
import type {
  AccessTokenRecord,
  AuthorizationCodeRecord,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  InteractionRecord,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  Storage,
  UserRecord,
} from '../../src/storage/types.js';
import { testAdapters, type TestAdapter, type TestDatabase } from './databases.js';

const adapters = await testAdapters();
const T0 = 1_700_000_000_000;
const RACERS = 50;

const uid = (prefix: string): string => `${prefix}-${randomUUID()}`;

const makeClient = (over: Partial<ClientRecord> = {}): ClientRecord => ({
  clientId: uid('client'),
  name: 'EHR app',
  grantTypes: ['authorization_code', 'refresh_token'],
  redirectUris: ['https://app.example/cb', 'http://127.0.0.1/cb'],
  scope: 'openid patient/*.rs offline_access',
  resources: ['https://fhir.example/r4'],
  tokenEndpointAuthMethod: 'client_secret_basic',
  secretDigest: 'a'.repeat(64),
  jwksUri: null,
  jwks: null,
  source: 'config',
  createdAt: T0,
  updatedAt: T0,
  ...over,
});

const makeUser = (over: Partial<UserRecord> = {}): UserRecord => ({
  id: uid('user'),
  username: uid('name'),
  passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA',
  disabled: false,
  fhirUser: 'Patient/123',
  createdAt: T0,
  patientPanel: [],
  breakGlass: false,
  ...over,
});

const makeKey = (over: Partial<SigningKeyRecord> = {}): SigningKeyRecord => ({
  kid: uid('kid'),
  alg: 'ES256',
  publicJwk: '{"kty":"EC","crv":"P-256","x":"x","y":"y"}',
  privateSealed: 'sealed-private-jwk',
  createdAt: T0,
  activatesAt: T0 + 1000,
  retiredAt: null,
  expiresAt: null,
  ...over,
});

const makeCode = (over: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord => ({
  digest: uid('code'),
  clientId: 'client-1',
  grantId: uid('grant'),
  sealed: 'sealed-code-data',
  expiresAt: T0 + 60_000,
  consumedAt: null,
  ...over,
});

const makeGrant = (over: Partial<GrantRecord> = {}): GrantRecord => ({
  grantId: uid('grant'),
  clientId: 'client-1',
  userId: 'user-1',
  consentId: uid('consent'),
  createdAt: T0,
  revokedAt: null,
  revokedReason: null,
  launchContext: null,
  ...over,
});

const makeRefresh = (over: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord => ({
  digest: uid('rt'),
  grantId: uid('grant'),
  clientId: 'client-1',
  sealed: 'sealed-refresh-data',
  createdAt: T0,
  expiresAt: T0 + 3_600_000,
  absoluteExpiresAt: T0 + 86_400_000,
  consumedAt: null,
  revokedAt: null,
  ...over,
});

const makeAccess = (over: Partial<AccessTokenRecord> = {}): AccessTokenRecord => ({
  jti: uid('jti'),
  grantId: uid('grant'),
  clientId: 'client-1',
  expiresAt: T0 + 300_000,
  revokedAt: null,
  ...over,
});

const makeConsent = (over: Partial<ConsentRecord> = {}): ConsentRecord => ({
  id: uid('consent'),
  userId: uid('user'),
  clientId: 'client-1',
  scopesGranted: ['openid', 'patient/Observation.rs'],
  scopesDenied: ['patient/MedicationRequest.rs'],
  resource: 'https://fhir.example/r4',
  createdAt: T0,
  clientAddress: '192.0.2.10',
  userAgent: 'Mozilla/5.0 (test)',
  textVersion: '2024-01',
  revokedAt: null,
  ...over,
});

const makeSession = (over: Partial<SessionRecord> = {}): SessionRecord => ({
  digest: uid('session'),
  userId: 'user-1',
  createdAt: T0,
  lastSeenAt: T0,
  authTime: T0,
  amr: ['pwd', 'otp'],
  ...over,
});

const makeInteraction = (over: Partial<InteractionRecord> = {}): InteractionRecord => ({
  id: uid('interaction'),
  browserDigest: 'b'.repeat(64),
  sealed: 'sealed-request',
  createdAt: T0,
  expiresAt: T0 + 600_000,
  ...over,
});

/** Runs fn on a blank database of this adapter and removes it afterwards. */
async function withBlankDatabase(adapter: TestAdapter, fn: (db: TestDatabase) => Promise<void>): Promise<void> {
  const db = await adapter.open();
  try {
    await fn(db);
  } finally {
    await db.cleanup();
  }
}

function tally(statuses: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}

describe.each(adapters)('the $name storage adapter', (adapter) => {
  let db: TestDatabase;
  let storage: Storage;
  /** A second, independent Storage on the same database (another process, in effect). */
  let other: Storage;

  beforeAll(async () => {
    db = await adapter.open();
    storage = await openStorage(db.url);
    other = await openStorage(db.url);
  });

  afterAll(async () => {
    await other?.close();
    await storage?.close();
    await db?.cleanup();
  });

  describe('migrations', () => {
    it('applies every migration to a blank database and nothing on a second run', async () => {
      await withBlankDatabase(adapter, async (blank) => {
        const driver = await openSqlDriver(blank.url);
        try {
          expect(await runMigrations(driver)).toEqual(migrations.map((m) => m.id));
          expect(await runMigrations(driver)).toEqual([]);
          const rows = await driver.all<{ id: number; name: string }>('SELECT id, name FROM schema_migrations ORDER BY id');
          expect(rows.map((r) => ({ id: Number(r.id), name: r.name }))).toEqual(migrations.map((m) => ({ id: m.id, name: m.name })));
        } finally {
          await driver.close();
        }
      });
    });

    it('applies each migration exactly once when two processes migrate a blank database at the same time', async () => {
      await withBlankDatabase(adapter, async (blank) => {
        const first = await openSqlDriver(blank.url);
        const second = await openSqlDriver(blank.url);
        try {
          const [a, b] = await Promise.all([runMigrations(first), runMigrations(second)]);
          expect([...a, ...b].sort((x, y) => x - y)).toEqual(migrations.map((m) => m.id));
          const row = await first.get<{ n: number }>('SELECT COUNT(*) AS n FROM schema_migrations');
          expect(Number(row?.n)).toBe(migrations.length);
        } finally {
          await first.close();
          await second.close();
        }
      });
    });

    it('applies only a migration appended to the list', async () => {
      await withBlankDatabase(adapter, async (blank) => {
        const driver = await openSqlDriver(blank.url);
        try {
          await runMigrations(driver);
          const extra = { id: 900, name: 'extra', sqlite: 'CREATE TABLE extra_table (x INTEGER)', postgres: 'CREATE TABLE extra_table (x INTEGER)' };
          expect(await runMigrations(driver, [...migrations, extra])).toEqual([900]);
          expect(await driver.all('SELECT x FROM extra_table')).toEqual([]);
        } finally {
          await driver.close();
        }
      });
    });

    it('rolls a failing migration back entirely and does not record it', async () => {
      await withBlankDatabase(adapter, async (blank) => {
        const driver = await openSqlDriver(blank.url);
        try {
          const broken = { id: 901, name: 'broken', sqlite: 'CREATE TABLE half_done (x INTEGER); NOT SQL AT ALL', postgres: 'CREATE TABLE half_done (x INTEGER); NOT SQL AT ALL' };
          await expect(runMigrations(driver, [...migrations, broken])).rejects.toThrow();
          await expect(driver.all('SELECT x FROM half_done')).rejects.toThrow();
          const recorded = await driver.all<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id');
          expect(recorded.map((r) => Number(r.id))).toEqual(migrations.map((m) => m.id));
        } finally {
          await driver.close();
        }
      });
    });

    it('refuses a database migrated by a newer version with ERR_CONFIG', async () => {
      await withBlankDatabase(adapter, async (blank) => {
        const driver = await openSqlDriver(blank.url);
        try {
          await runMigrations(driver);
          await driver.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)', [9999, 'future', T0]);
          await expect(runMigrations(driver)).rejects.toMatchObject({ code: 'ERR_CONFIG' });
        } finally {
          await driver.close();
        }
      });
    });

    it('keeps every client, with its flags and session limits, across migration 010', async () => {
      await withBlankDatabase(adapter, async (blank) => {
        const driver = await openSqlDriver(blank.url);
        const before010 = migrations.filter((m) => m.id < 10);
        try {
          await runMigrations(driver, before010);
          await driver.run(
            `INSERT INTO clients (client_id, name, grant_types, redirect_uris, scope, resources, token_endpoint_auth_method, secret_digest,
               jwks_uri, jwks, source, created_at, updated_at, dpop_bound_access_tokens, require_pushed_authorization_requests,
               session_idle_timeout, session_absolute_timeout)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
            ['kept', 'Kept app', '["authorization_code"]', '["https://app.example/cb"]', 'openid', '[]', 'client_secret_basic', 'e'.repeat(64),
              null, null, 'admin', T0, T0 + 1, 1, 1, 300, 3600],
          );
          expect(await runMigrations(driver, migrations.filter((m) => m.id <= 10))).toEqual([10]);
        } finally {
          await driver.close();
        }
        // The later migrations too, so that the stores read every column they know.
        const migrated = await openStorage(blank.url);
        try {
          expect(await migrated.clients.get('kept')).toEqual({
            clientId: 'kept', name: 'Kept app', grantTypes: ['authorization_code'], redirectUris: ['https://app.example/cb'], scope: 'openid',
            resources: [], tokenEndpointAuthMethod: 'client_secret_basic', secretDigest: 'e'.repeat(64), jwksUri: null, jwks: null,
            source: 'admin', createdAt: T0, updatedAt: T0 + 1,
          });
          expect(await migrated.clientPolicies.get('kept')).toEqual({
            dpopBoundAccessTokens: true, requirePushedAuthorizationRequests: true, sessionIdleTimeout: 300, sessionAbsoluteTimeout: 3600,
          });
          await migrated.clients.upsert(makeClient({ source: 'dynamic', secretDigest: null, registrationTokenDigest: 'f'.repeat(64) }));
        } finally {
          await migrated.close();
        }
      });
    });

    it('leaves a blank database untouched when opened with migrate: false', async () => {
      await withBlankDatabase(adapter, async (blank) => {
        const unmigrated = await openStorage(blank.url, { migrate: false });
        try {
          await expect(unmigrated.clients.list()).rejects.toThrow();
          expect(await runMigrations(unmigrated.sql)).toEqual(migrations.map((m) => m.id));
          expect(await unmigrated.clients.list()).toEqual([]);
        } finally {
          await unmigrated.close();
        }
      });
    });
  });

  describe('ClientStore', () => {
    it('returns an upserted client exactly as it was stored', async () => {
      const client = makeClient({ jwks: '{"keys":[]}', jwksUri: 'https://app.example/jwks', tokenEndpointAuthMethod: 'private_key_jwt', secretDigest: null, source: 'admin' });
      await storage.clients.upsert(client);
      expect(await storage.clients.get(client.clientId)).toEqual(client);
    });

    it('replaces every field of an existing client on upsert', async () => {
      const client = makeClient();
      await storage.clients.upsert(client);
      const replaced = makeClient({
        clientId: client.clientId, name: 'Renamed', grantTypes: ['client_credentials'], redirectUris: [], scope: 'system/*.rs',
        resources: [], tokenEndpointAuthMethod: 'none', secretDigest: null, source: 'admin', createdAt: T0 + 1, updatedAt: T0 + 2,
      });
      await storage.clients.upsert(replaced);
      expect(await storage.clients.get(client.clientId)).toEqual(replaced);
    });

    it('resolves undefined for an unknown client', async () => {
      expect(await storage.clients.get(uid('missing'))).toBeUndefined();
    });

    it('lists every client', async () => {
      const a = makeClient();
      const b = makeClient();
      await storage.clients.upsert(a);
      await storage.clients.upsert(b);
      const listed = await storage.clients.list();
      expect(listed).toContainEqual(a);
      expect(listed).toContainEqual(b);
    });

    it('removes a client and resolves false when removing an unknown one', async () => {
      const client = makeClient();
      await storage.clients.upsert(client);
      expect(await storage.clients.remove(client.clientId)).toBe(true);
      expect(await storage.clients.get(client.clientId)).toBeUndefined();
      expect(await storage.clients.remove(client.clientId)).toBe(false);
    });

    it('stores a dynamic client with its registration token digest and metadata (migration 010)', async () => {
      const client = makeClient({
        source: 'dynamic', tokenEndpointAuthMethod: 'none', secretDigest: null, registrationTokenDigest: 'b'.repeat(64),
        registrationMetadata: { clientUri: 'https://agent.example', softwareId: 'agent-x', softwareVersion: '1.2.3' },
      });
      await storage.clients.upsert(client);
      expect(await storage.clients.get(client.clientId)).toEqual(client);
      expect(await storage.clients.list()).toContainEqual(client);
    });

    it('clears the registration columns when a client is upserted without them', async () => {
      const client = makeClient({ source: 'dynamic', secretDigest: null, registrationTokenDigest: 'c'.repeat(64), registrationMetadata: { logoUri: 'https://agent.example/logo.png' } });
      await storage.clients.upsert(client);
      const { registrationTokenDigest: _digest, registrationMetadata: _metadata, ...bare } = client;
      await storage.clients.upsert(bare);
      const stored = await storage.clients.get(client.clientId);
      expect(stored).toEqual(bare);
      expect(stored).not.toHaveProperty('registrationTokenDigest');
      expect(stored).not.toHaveProperty('registrationMetadata');
    });

    it('refuses a registration token digest on a client that is not dynamic', async () => {
      await expect(storage.clients.upsert(makeClient({ source: 'admin', registrationTokenDigest: 'd'.repeat(64) }))).rejects.toThrow();
    });
  });

  describe('UserStore', () => {
    it('finds a created user by id and by username', async () => {
      const user = makeUser();
      await storage.users.create(user);
      expect(await storage.users.getById(user.id)).toEqual(user);
      expect(await storage.users.getByUsername(user.username)).toEqual(user);
    });

    it('keeps null fhirUser and disabled: true as they were', async () => {
      const user = makeUser({ fhirUser: null, disabled: true });
      await storage.users.create(user);
      expect(await storage.users.getById(user.id)).toEqual(user);
    });

    it('rejects a taken username with ERR_CONFLICT without naming it', async () => {
      const user = makeUser({ username: `alice-${randomUUID()}` });
      await storage.users.create(user);
      const error = await storage.users.create(makeUser({ username: user.username })).catch((err: unknown) => err);
      expect(error).toMatchObject({ code: 'ERR_CONFLICT' });
      expect((error as Error).message).not.toContain(user.username);
      expect((await storage.users.list()).filter((u) => u.username === user.username)).toHaveLength(1);
    });

    it('rejects a taken user id with ERR_CONFLICT', async () => {
      const user = makeUser();
      await storage.users.create(user);
      await expect(storage.users.create(makeUser({ id: user.id }))).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
    });

    it('matches usernames exactly and case-sensitively', async () => {
      const user = makeUser({ username: `Bob-${randomUUID()}` });
      await storage.users.create(user);
      expect(await storage.users.getByUsername(user.username.toLowerCase())).toBeUndefined();
      expect(await storage.users.getByUsername(`${user.username} `)).toBeUndefined();
      expect(await storage.users.getByUsername(user.username.slice(0, -1))).toBeUndefined();
    });

    it('lists every user', async () => {
      const a = makeUser();
      const b = makeUser();
      await storage.users.create(a);
      await storage.users.create(b);
      const listed = await storage.users.list();
      expect(listed).toContainEqual(a);
      expect(listed).toContainEqual(b);
    });

    it('disables and re-enables a user and resolves false for an unknown id', async () => {
      const user = makeUser();
      await storage.users.create(user);
      expect(await storage.users.setDisabled(user.id, true)).toBe(true);
      expect((await storage.users.getById(user.id))?.disabled).toBe(true);
      expect(await storage.users.setDisabled(user.id, false)).toBe(true);
      expect((await storage.users.getById(user.id))?.disabled).toBe(false);
      expect(await storage.users.setDisabled(uid('missing'), true)).toBe(false);
    });
  });

  describe('SigningKeyStore', () => {
    it('lists keys newest first', async () => {
      const older = makeKey({ createdAt: T0 - 2000 });
      const newest = makeKey({ createdAt: T0 + 5_000_000 });
      const middle = makeKey({ createdAt: T0 });
      for (const key of [older, newest, middle]) await storage.signingKeys.add(key);
      const mine = (await storage.signingKeys.list()).filter((k) => [older.kid, newest.kid, middle.kid].includes(k.kid));
      expect(mine).toEqual([newest, middle, older]);
    });

    it('retires one key, setting retiredAt and expiresAt, and leaves the others alone', async () => {
      const key = makeKey();
      const untouched = makeKey();
      await storage.signingKeys.add(key);
      await storage.signingKeys.add(untouched);
      await storage.signingKeys.retire(key.kid, T0 + 10, T0 + 20);
      const listed = await storage.signingKeys.list();
      expect(listed.find((k) => k.kid === key.kid)).toEqual({ ...key, retiredAt: T0 + 10, expiresAt: T0 + 20 });
      expect(listed.find((k) => k.kid === untouched.kid)).toEqual(untouched);
    });

    it('fails with ERR_NOT_FOUND when retiring an unknown kid', async () => {
      await expect(storage.signingKeys.retire(uid('missing'), T0, T0)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    });

    it('refuses a second key with the same kid with ERR_CONFLICT', async () => {
      const key = makeKey();
      await storage.signingKeys.add(key);
      await expect(storage.signingKeys.add(makeKey({ kid: key.kid }))).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
    });
  });

  describe('AuthorizationCodeStore', () => {
    it('consumes a saved code once and marks it consumed at now', async () => {
      const code = makeCode();
      await storage.codes.save(code);
      expect(await storage.codes.get(code.digest)).toEqual(code);
      expect(await storage.codes.get(uid('missing'))).toBeUndefined();
      expect(await storage.codes.consume(code.digest, T0 + 5)).toEqual({ status: 'ok', record: { ...code, consumedAt: T0 + 5 } });
      expect(await storage.codes.get(code.digest)).toEqual({ ...code, consumedAt: T0 + 5 });
    });

    it('reports a second consumption as replayed with the record of the first', async () => {
      const code = makeCode();
      await storage.codes.save(code);
      await storage.codes.consume(code.digest, T0 + 5);
      expect(await storage.codes.consume(code.digest, T0 + 9)).toEqual({ status: 'replayed', record: { ...code, consumedAt: T0 + 5 } });
    });

    it('reports an unknown code as unknown', async () => {
      expect(await storage.codes.consume(uid('missing'), T0)).toEqual({ status: 'unknown' });
    });

    it('consumes an expired code as ok and leaves the expiry check to the caller', async () => {
      const code = makeCode({ expiresAt: T0 - 1 });
      await storage.codes.save(code);
      expect(await storage.codes.consume(code.digest, T0)).toMatchObject({ status: 'ok', record: { expiresAt: T0 - 1, consumedAt: T0 } });
    });

    it('refuses a second code with the same digest with ERR_CONFLICT', async () => {
      const code = makeCode();
      await storage.codes.save(code);
      await expect(storage.codes.save(makeCode({ digest: code.digest }))).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
    });
  });

  describe('GrantStore', () => {
    it('returns a created grant as it was stored, including a null user for client_credentials', async () => {
      const grant = makeGrant({ userId: null, consentId: null });
      await storage.grants.create(grant);
      expect(await storage.grants.get(grant.grantId)).toEqual(grant);
      expect(await storage.grants.get(uid('missing'))).toBeUndefined();
    });

    it('revokes a grant with every refresh and access token in it, and no token of another grant', async () => {
      const grant = makeGrant();
      const bystander = makeGrant();
      await storage.grants.create(grant);
      await storage.grants.create(bystander);
      const refresh = [makeRefresh({ grantId: grant.grantId }), makeRefresh({ grantId: grant.grantId, consumedAt: T0 })];
      const access = [makeAccess({ grantId: grant.grantId }), makeAccess({ grantId: grant.grantId })];
      const otherRefresh = makeRefresh({ grantId: bystander.grantId });
      const otherAccess = makeAccess({ grantId: bystander.grantId });
      for (const t of [...refresh, otherRefresh]) await storage.refreshTokens.save(t);
      for (const t of [...access, otherAccess]) await storage.accessTokens.save(t);

      expect(await storage.grants.revoke(grant.grantId, T0 + 7, 'refresh_reuse')).toBe(true);

      expect(await storage.grants.get(grant.grantId)).toEqual({ ...grant, revokedAt: T0 + 7, revokedReason: 'refresh_reuse' });
      for (const t of refresh) expect((await storage.refreshTokens.get(t.digest))?.revokedAt).toBe(T0 + 7);
      for (const t of access) expect((await storage.accessTokens.get(t.jti))?.revokedAt).toBe(T0 + 7);
      expect(await storage.grants.get(bystander.grantId)).toEqual(bystander);
      expect(await storage.refreshTokens.get(otherRefresh.digest)).toEqual(otherRefresh);
      expect(await storage.accessTokens.get(otherAccess.jti)).toEqual(otherAccess);
    });

    it('keeps the first revocation time and reason when a grant is revoked again', async () => {
      const grant = makeGrant();
      await storage.grants.create(grant);
      await storage.grants.revoke(grant.grantId, T0 + 1, 'code_replay');
      expect(await storage.grants.revoke(grant.grantId, T0 + 2, 'revoked')).toBe(true);
      expect(await storage.grants.get(grant.grantId)).toMatchObject({ revokedAt: T0 + 1, revokedReason: 'code_replay' });
    });

    it('revokes a token saved after the grant was revoked when the grant is revoked again', async () => {
      const grant = makeGrant();
      await storage.grants.create(grant);
      await storage.grants.revoke(grant.grantId, T0 + 1, 'revoked');
      const late = makeAccess({ grantId: grant.grantId });
      await storage.accessTokens.save(late);
      await storage.grants.revoke(grant.grantId, T0 + 2, 'revoked');
      expect((await storage.accessTokens.get(late.jti))?.revokedAt).toBe(T0 + 2);
    });

    it('resolves false when revoking an unknown grant', async () => {
      expect(await storage.grants.revoke(uid('missing'), T0, 'revoked')).toBe(false);
    });

    it('revokes every active grant of a consent with their tokens and resolves their ids', async () => {
      const consentId = uid('consent');
      const first = makeGrant({ consentId });
      const second = makeGrant({ consentId });
      const earlier = makeGrant({ consentId });
      const unrelated = makeGrant();
      for (const g of [first, second, earlier, unrelated]) await storage.grants.create(g);
      await storage.grants.revoke(earlier.grantId, T0 + 1, 'revoked');
      const token = makeRefresh({ grantId: second.grantId });
      const access = makeAccess({ grantId: first.grantId });
      await storage.refreshTokens.save(token);
      await storage.accessTokens.save(access);

      const revoked = await storage.grants.revokeByConsent(consentId, T0 + 9, 'consent_revoked');

      expect([...revoked].sort()).toEqual([first.grantId, second.grantId].sort());
      expect(await storage.grants.get(first.grantId)).toMatchObject({ revokedAt: T0 + 9, revokedReason: 'consent_revoked' });
      expect(await storage.grants.get(earlier.grantId)).toMatchObject({ revokedAt: T0 + 1, revokedReason: 'revoked' });
      expect(await storage.grants.get(unrelated.grantId)).toEqual(unrelated);
      expect((await storage.refreshTokens.get(token.digest))?.revokedAt).toBe(T0 + 9);
      expect((await storage.accessTokens.get(access.jti))?.revokedAt).toBe(T0 + 9);
      expect(await storage.grants.revokeByConsent(consentId, T0 + 10, 'consent_revoked')).toEqual([]);
    });
    it('revokes every active grant of a user with their tokens and resolves their ids', async () => {
      const userId = uid('user');
      const first = makeGrant({ userId });
      const second = makeGrant({ userId });
      const unrelated = makeGrant();
      for (const g of [first, second, unrelated]) await storage.grants.create(g);
      const token = makeRefresh({ grantId: second.grantId });
      await storage.refreshTokens.save(token);
      const revoked = await storage.grants.revokeByUser(userId, T0 + 9, 'user_disabled');
      expect([...revoked].sort()).toEqual([first.grantId, second.grantId].sort());
      expect(await storage.grants.get(second.grantId)).toMatchObject({ revokedAt: T0 + 9, revokedReason: 'user_disabled' });
      expect(await storage.grants.get(unrelated.grantId)).toEqual(unrelated);
      expect((await storage.refreshTokens.get(token.digest))?.revokedAt).toBe(T0 + 9);
      expect(await storage.grants.revokeByUser(userId, T0 + 10, 'user_disabled')).toEqual([]);
    });

    it('revokes every active grant of a client with their tokens and resolves their ids', async () => {
      const clientId = uid('client');
      const first = makeGrant({ clientId });
      const second = makeGrant({ clientId, userId: null, consentId: null });
      const earlier = makeGrant({ clientId });
      const unrelated = makeGrant();
      for (const g of [first, second, earlier, unrelated]) await storage.grants.create(g);
      await storage.grants.revoke(earlier.grantId, T0 + 1, 'revoked');
      const token = makeRefresh({ grantId: first.grantId, clientId });
      const access = makeAccess({ grantId: second.grantId, clientId });
      const lateAccess = makeAccess({ grantId: earlier.grantId, clientId });
      const otherAccess = makeAccess({ grantId: unrelated.grantId });
      for (const t of [access, lateAccess, otherAccess]) await storage.accessTokens.save(t);
      await storage.refreshTokens.save(token);

      const revoked = await storage.grants.revokeByClient(clientId, T0 + 9, 'client_deleted');

      expect([...revoked].sort()).toEqual([first.grantId, second.grantId].sort());
      expect(await storage.grants.get(second.grantId)).toMatchObject({ revokedAt: T0 + 9, revokedReason: 'client_deleted' });
      expect(await storage.grants.get(earlier.grantId)).toMatchObject({ revokedAt: T0 + 1, revokedReason: 'revoked' });
      expect(await storage.grants.get(unrelated.grantId)).toEqual(unrelated);
      expect((await storage.refreshTokens.get(token.digest))?.revokedAt).toBe(T0 + 9);
      expect((await storage.accessTokens.get(access.jti))?.revokedAt).toBe(T0 + 9);
      // A token saved under a grant revoked before is revoked too.
      expect((await storage.accessTokens.get(lateAccess.jti))?.revokedAt).toBe(T0 + 9);
      expect((await storage.accessTokens.get(otherAccess.jti))?.revokedAt).toBeNull();
      expect(await storage.grants.revokeByClient(clientId, T0 + 10, 'client_deleted')).toEqual([]);
    });
  });

  describe('RefreshTokenStore', () => {
    it('returns a saved token without consuming it', async () => {
      const token = makeRefresh();
      await storage.refreshTokens.save(token);
      expect(await storage.refreshTokens.get(token.digest)).toEqual(token);
      expect(await storage.refreshTokens.get(token.digest)).toEqual(token);
      expect(await storage.refreshTokens.get(uid('missing'))).toBeUndefined();
    });

    it('consumes a token once, then reports it replayed with the record of the first consumption', async () => {
      const token = makeRefresh();
      await storage.refreshTokens.save(token);
      expect(await storage.refreshTokens.consume(token.digest, T0 + 3)).toEqual({ status: 'ok', record: { ...token, consumedAt: T0 + 3 } });
      expect(await storage.refreshTokens.consume(token.digest, T0 + 4)).toEqual({ status: 'replayed', record: { ...token, consumedAt: T0 + 3 } });
      expect((await storage.refreshTokens.get(token.digest))?.consumedAt).toBe(T0 + 3);
    });

    it('reports an unknown token as unknown', async () => {
      expect(await storage.refreshTokens.consume(uid('missing'), T0)).toEqual({ status: 'unknown' });
    });

    it('consumes a revoked token as ok with revokedAt set, leaving the check to the caller', async () => {
      const token = makeRefresh({ revokedAt: T0 - 5 });
      await storage.refreshTokens.save(token);
      expect(await storage.refreshTokens.consume(token.digest, T0)).toEqual({ status: 'ok', record: { ...token, consumedAt: T0 } });
    });

    it('undoes a rotation: the issued token is deleted and the consumed one is usable again, only for that consumption', async () => {
      const old = makeRefresh();
      const issued = makeRefresh({ grantId: old.grantId });
      await storage.refreshTokens.save(old);
      await storage.refreshTokens.consume(old.digest, T0 + 1);
      await storage.refreshTokens.save(issued);
      // Another consumption time is not this rotation: nothing is restored.
      expect(await storage.refreshTokens.undoRotation(old.digest, T0 + 2, undefined)).toBe(false);
      expect(await storage.refreshTokens.undoRotation(old.digest, T0 + 1, issued.digest)).toBe(true);
      expect(await storage.refreshTokens.get(issued.digest)).toBeUndefined();
      expect(await storage.refreshTokens.get(old.digest)).toEqual(old);
      expect(await storage.refreshTokens.consume(old.digest, T0 + 3)).toEqual({ status: 'ok', record: { ...old, consumedAt: T0 + 3 } });
      // A token revoked meanwhile (reuse detected) is restored unconsumed but stays revoked.
      const revoked = makeRefresh({ revokedAt: T0 + 4 });
      await storage.refreshTokens.save(revoked);
      await storage.refreshTokens.consume(revoked.digest, T0 + 5);
      expect(await storage.refreshTokens.undoRotation(revoked.digest, T0 + 5, undefined)).toBe(true);
      expect((await storage.refreshTokens.get(revoked.digest))?.revokedAt).toBe(T0 + 4);
    });
  });

  describe('AccessTokenStore', () => {
    it('returns a saved access token record', async () => {
      const token = makeAccess();
      await storage.accessTokens.save(token);
      expect(await storage.accessTokens.get(token.jti)).toEqual(token);
      expect(await storage.accessTokens.get(uid('missing'))).toBeUndefined();
    });

    it('revokes a token, keeps the first revocation time, and resolves false for an unknown jti', async () => {
      const token = makeAccess();
      await storage.accessTokens.save(token);
      expect(await storage.accessTokens.revoke(token.jti, T0 + 1)).toBe(true);
      expect(await storage.accessTokens.revoke(token.jti, T0 + 2)).toBe(true);
      expect(await storage.accessTokens.get(token.jti)).toEqual({ ...token, revokedAt: T0 + 1 });
      expect(await storage.accessTokens.revoke(uid('missing'), T0)).toBe(false);
    });

    it('purges records that expired before the given time and keeps the rest', async () => {
      // Times far before T0, so no record of another test is in range.
      const gone = [makeAccess({ expiresAt: 100 }), makeAccess({ expiresAt: 199 })];
      const kept = [makeAccess({ expiresAt: 200 }), makeAccess({ expiresAt: 300 })];
      for (const t of [...gone, ...kept]) await storage.accessTokens.save(t);
      expect(await storage.accessTokens.purgeExpired(200)).toBe(2);
      for (const t of gone) expect(await storage.accessTokens.get(t.jti)).toBeUndefined();
      for (const t of kept) expect(await storage.accessTokens.get(t.jti)).toEqual(t);
    });
  });

  describe('ConsentStore', () => {
    it('returns a created consent as it was stored, including a null resource', async () => {
      const consent = makeConsent({ resource: null, scopesDenied: [] });
      await storage.consents.create(consent);
      expect(await storage.consents.get(consent.id)).toEqual(consent);
      expect(await storage.consents.get(uid('missing'))).toBeUndefined();
    });

    it('lists the active and revoked consents of one user, newest first', async () => {
      const userId = uid('user');
      const old = makeConsent({ userId, createdAt: T0 });
      const revoked = makeConsent({ userId, createdAt: T0 + 1, revokedAt: T0 + 2 });
      const newest = makeConsent({ userId, createdAt: T0 + 3, clientId: 'client-2' });
      const someoneElse = makeConsent();
      for (const c of [old, newest, revoked, someoneElse]) await storage.consents.create(c);
      expect(await storage.consents.listByUser(userId)).toEqual([newest, revoked, old]);
      expect(await storage.consents.listByUser(uid('nobody'))).toEqual([]);
    });

    it('finds the newest active consent for a user, client and resource', async () => {
      const userId = uid('user');
      const older = makeConsent({ userId, createdAt: T0 });
      const newer = makeConsent({ userId, createdAt: T0 + 10 });
      const newestRevoked = makeConsent({ userId, createdAt: T0 + 20, revokedAt: T0 + 21 });
      const otherClient = makeConsent({ userId, clientId: 'client-2', createdAt: T0 + 30 });
      const otherResource = makeConsent({ userId, resource: 'https://other.example/fhir', createdAt: T0 + 40 });
      for (const c of [older, newer, newestRevoked, otherClient, otherResource]) await storage.consents.create(c);
      expect(await storage.consents.findActive(userId, 'client-1', 'https://fhir.example/r4')).toEqual(newer);
      expect(await storage.consents.findActive(userId, 'client-3', 'https://fhir.example/r4')).toBeUndefined();
    });

    it('matches a null resource only with a null resource', async () => {
      const userId = uid('user');
      const withResource = makeConsent({ userId, createdAt: T0 + 5 });
      const withoutResource = makeConsent({ userId, resource: null, createdAt: T0 });
      await storage.consents.create(withResource);
      await storage.consents.create(withoutResource);
      expect(await storage.consents.findActive(userId, 'client-1', null)).toEqual(withoutResource);
      expect(await storage.consents.findActive(userId, 'client-1', 'https://fhir.example/r4')).toEqual(withResource);
    });

    it('revokes a consent, keeps the first time, hides it from findActive, and resolves false for an unknown id', async () => {
      const consent = makeConsent();
      await storage.consents.create(consent);
      expect(await storage.consents.revoke(consent.id, T0 + 1)).toBe(true);
      expect(await storage.consents.revoke(consent.id, T0 + 2)).toBe(true);
      expect(await storage.consents.get(consent.id)).toEqual({ ...consent, revokedAt: T0 + 1 });
      expect(await storage.consents.findActive(consent.userId, consent.clientId, consent.resource)).toBeUndefined();
      expect(await storage.consents.revoke(uid('missing'), T0)).toBe(false);
    });
  });

  describe('SessionStore', () => {
    it('returns a created session with its amr list', async () => {
      const session = makeSession();
      await storage.sessions.create(session);
      expect(await storage.sessions.get(session.digest)).toEqual(session);
      expect(await storage.sessions.get(uid('missing'))).toBeUndefined();
    });

    it('moves lastSeenAt forward on touch and never back', async () => {
      const session = makeSession();
      await storage.sessions.create(session);
      await storage.sessions.touch(session.digest, T0 + 100);
      expect((await storage.sessions.get(session.digest))?.lastSeenAt).toBe(T0 + 100);
      await storage.sessions.touch(session.digest, T0 + 50);
      expect(await storage.sessions.get(session.digest)).toEqual({ ...session, lastSeenAt: T0 + 100 });
      await expect(storage.sessions.touch(uid('missing'), T0)).resolves.toBeUndefined();
    });

    it('removes a session, and removing it again is harmless', async () => {
      const session = makeSession();
      await storage.sessions.create(session);
      await storage.sessions.remove(session.digest);
      expect(await storage.sessions.get(session.digest)).toBeUndefined();
      await expect(storage.sessions.remove(session.digest)).resolves.toBeUndefined();
    });
  });

  describe('GrantStore launch context and use (migration 006)', () => {
    it('keeps the launch context as stored and lists a user\'s grants newest first', async () => {
      const userId = uid('user');
      const older = makeGrant({ userId, createdAt: T0, launchContext: { patient: '123', encounter: 'e-9', fhirContext: [{ reference: 'Appointment/5' }], needPatientBanner: true } });
      const newer = makeGrant({ userId, createdAt: T0 + 5 });
      await storage.grants.create(older);
      await storage.grants.create(newer);
      await storage.grants.create(makeGrant());
      expect(await storage.grants.get(older.grantId)).toEqual(older);
      expect((await storage.grants.listByUser(userId)).map((g) => g.grantId)).toEqual([newer.grantId, older.grantId]);
    });

    it('lists a grant\'s last use: never, then its code\'s redemption, then its newest refresh token', async () => {
      const userId = uid('user');
      const grant = makeGrant({ userId });
      await storage.grants.create(grant);
      expect((await storage.grants.listByUser(userId))[0]!.lastUsedAt).toBeNull();
      const code = makeCode({ grantId: grant.grantId });
      await storage.codes.save(code);
      await storage.codes.consume(code.digest, T0 + 30);
      expect((await storage.grants.listByUser(userId))[0]!.lastUsedAt).toBe(T0 + 30);
      await storage.refreshTokens.save(makeRefresh({ grantId: grant.grantId, createdAt: T0 + 30 }));
      await storage.refreshTokens.save(makeRefresh({ grantId: grant.grantId, createdAt: T0 + 900 }));
      expect((await storage.grants.listByUser(userId))[0]!.lastUsedAt).toBe(T0 + 900);
    });
  });

  describe('UserStore panel and break-glass (migration 006)', () => {
    it('stores a practitioner\'s patient panel and the break-glass permission', async () => {
      const user = makeUser({ role: 'practitioner', fhirUser: 'Practitioner/7', patientPanel: ['1', '2'], breakGlass: true });
      await storage.users.create(user);
      expect(await storage.users.getById(user.id)).toEqual(user);
      expect(await storage.users.setPatientPanel(user.id, ['3'])).toBe(true);
      expect(await storage.users.setBreakGlass(user.id, false)).toBe(true);
      expect(await storage.users.getById(user.id)).toMatchObject({ patientPanel: ['3'], breakGlass: false });
      expect(await storage.users.setPatientPanel(uid('missing'), ['1'])).toBe(false);
      expect(await storage.users.setBreakGlass(uid('missing'), true)).toBe(false);
    });
  });

  describe('LaunchContextStore', () => {
    const makeLaunch = () => ({
      digest: uid('launch'), clientId: 'client-1', context: { patient: '123', encounter: 'enc-1' }, createdBy: 'ehr', createdAt: T0, expiresAt: T0 + 300_000, consumedAt: null,
    });

    it('is redeemed once: the second redemption is a replay, an unknown value is unknown', async () => {
      const launch = makeLaunch();
      await storage.launchContexts.save(launch);
      expect(await storage.launchContexts.consume(launch.digest, T0 + 1)).toEqual({ status: 'ok', record: { ...launch, consumedAt: T0 + 1 } });
      expect((await storage.launchContexts.consume(launch.digest, T0 + 2)).status).toBe('replayed');
      expect((await storage.launchContexts.consume(uid('missing'), T0 + 2)).status).toBe('unknown');
    });

    it(`gives exactly one of ${RACERS} concurrent redemptions the context`, async () => {
      const launch = makeLaunch();
      await storage.launchContexts.save(launch);
      const results = await Promise.all(Array.from({ length: RACERS }, () => storage.launchContexts.consume(launch.digest, T0 + 1)));
      expect(results.filter((r) => r.status === 'ok')).toHaveLength(1);
    });
  });

  describe('BreakGlassStore', () => {
    const makeAccess = () => ({
      id: uid('bg'), userId: 'user-1', clientId: 'client-1', grantId: uid('grant'), patient: '123', reason: 'unconscious in ED',
      createdAt: T0, expiresAt: T0 + 900_000, reviewedAt: null, reviewedBy: null, reviewOutcome: null, reviewNote: null,
    });

    it('lists open accesses and records a review once', async () => {
      const access = makeAccess();
      await storage.breakGlass.create(access);
      expect(await storage.breakGlass.get(access.id)).toEqual(access);
      expect((await storage.breakGlass.listOpen()).map((a) => a.id)).toContain(access.id);
      const review = { reviewedAt: T0 + 10, reviewedBy: 'privacy-officer', outcome: 'justified' as const, note: 'ED record confirms' };
      expect(await storage.breakGlass.review(access.id, review)).toBe(true);
      expect(await storage.breakGlass.review(access.id, { ...review, outcome: 'unjustified' })).toBe(false);
      expect(await storage.breakGlass.get(access.id)).toMatchObject({ reviewedAt: T0 + 10, reviewOutcome: 'justified', reviewedBy: 'privacy-officer' });
      expect((await storage.breakGlass.listOpen()).map((a) => a.id)).not.toContain(access.id);
      expect(await storage.breakGlass.review(uid('missing'), review)).toBe(false);
    });
  });

  describe('ClientPolicyStore session limits (migration 006)', () => {
    it('a client without limits has no session keys at all, and an unknown client has no policy', async () => {
      const client = makeClient();
      await storage.clients.upsert(client);
      expect(await storage.clientPolicies.get(client.clientId)).toStrictEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: false });
      expect(await storage.clientPolicies.get(uid('missing'))).toBeUndefined();
      expect(await storage.clientPolicies.setSessionLimits(uid('missing'), { sessionIdleTimeout: 60 })).toBe(false);
    });

    it('stores both limits, replaces them (an absent one is cleared) and leaves the flags alone', async () => {
      const client = makeClient();
      await storage.clients.upsert(client);
      expect(await storage.clientPolicies.set(client.clientId, { dpopBoundAccessTokens: true, requirePushedAuthorizationRequests: false })).toBe(true);
      expect(await storage.clientPolicies.setSessionLimits(client.clientId, { sessionIdleTimeout: 60, sessionAbsoluteTimeout: 3600 })).toBe(true);
      expect(await other.clientPolicies.get(client.clientId)).toStrictEqual({
        dpopBoundAccessTokens: true, requirePushedAuthorizationRequests: false, sessionIdleTimeout: 60, sessionAbsoluteTimeout: 3600,
      });
      expect(await storage.clientPolicies.setSessionLimits(client.clientId, { sessionAbsoluteTimeout: 7200 })).toBe(true);
      expect(await storage.clientPolicies.get(client.clientId)).toStrictEqual({ dpopBoundAccessTokens: true, requirePushedAuthorizationRequests: false, sessionAbsoluteTimeout: 7200 });
      expect(await storage.clientPolicies.setSessionLimits(client.clientId, {})).toBe(true);
      expect(await storage.clientPolicies.get(client.clientId)).toStrictEqual({ dpopBoundAccessTokens: true, requirePushedAuthorizationRequests: false });
    });

    it('set (the flags) and ClientStore.upsert keep the session limits', async () => {
      const client = makeClient();
      await storage.clients.upsert(client);
      await storage.clientPolicies.setSessionLimits(client.clientId, { sessionIdleTimeout: 120 });
      await storage.clientPolicies.set(client.clientId, { dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: true });
      await storage.clients.upsert({ ...client, name: 'Renamed', updatedAt: T0 + 1 });
      expect(await storage.clientPolicies.get(client.clientId)).toStrictEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: true, sessionIdleTimeout: 120 });
    });

    it('refuses a limit that is not a positive whole number of seconds with ERR_STORAGE, writing nothing', async () => {
      const client = makeClient();
      await storage.clients.upsert(client);
      await storage.clientPolicies.setSessionLimits(client.clientId, { sessionIdleTimeout: 60 });
      for (const bad of [0, -5, 1.5, Number.NaN]) {
        await expect(storage.clientPolicies.setSessionLimits(client.clientId, { sessionIdleTimeout: 30, sessionAbsoluteTimeout: bad })).rejects.toMatchObject({ code: 'ERR_STORAGE' });
      }
      expect((await storage.clientPolicies.get(client.clientId))?.sessionIdleTimeout).toBe(60);
    });

    it('removing the client removes its limits', async () => {
      const client = makeClient();
      await storage.clients.upsert(client);
      await storage.clientPolicies.setSessionLimits(client.clientId, { sessionIdleTimeout: 60, sessionAbsoluteTimeout: 600 });
      await storage.clients.remove(client.clientId);
      await storage.clients.upsert(client);
      expect(await storage.clientPolicies.get(client.clientId)).toStrictEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: false });
    });
  });

  describe('AgentDecisionStore (migration 011)', () => {
    it('keeps one decision per agent: a new one replaces the last, a refusal keeps no scope, delete withdraws it', async () => {
      const id = 'https://agent.example/contract.json';
      expect(await storage.agentDecisions.get(id)).toBeUndefined();
      await storage.agentDecisions.put({ clientId: id, decision: 'approved', scope: 'offline_access', reason: 'pilot', decidedBy: 'admin:a', decidedAt: T0 });
      expect(await storage.agentDecisions.get(id)).toEqual({ clientId: id, decision: 'approved', scope: 'offline_access', reason: 'pilot', decidedBy: 'admin:a', decidedAt: T0 });
      await storage.agentDecisions.put({ clientId: id, decision: 'refused', scope: 'offline_access', reason: null, decidedBy: 'admin:b', decidedAt: T0 + 5 });
      expect(await storage.agentDecisions.get(id)).toEqual({ clientId: id, decision: 'refused', scope: null, reason: null, decidedBy: 'admin:b', decidedAt: T0 + 5 });
      expect((await storage.agentDecisions.list()).filter((d) => d.clientId === id)).toHaveLength(1);
      expect(await storage.agentDecisions.delete(id)).toBe(true);
      expect(await storage.agentDecisions.delete(id)).toBe(false);
      expect(await storage.agentDecisions.get(id)).toBeUndefined();
    });

    it('refuses a decision other than approved or refused (CHECK)', async () => {
      await expect(storage.sql.run("INSERT INTO agent_decisions (client_id, decision, decided_by, decided_at) VALUES ('x', 'maybe', 'a', 1)")).rejects.toThrow();
    });
  });

  describe('AdminSessionStore and PasswordSetLinkStore (migration 012)', () => {
    it('keeps a console session by digest: touch, step-up, remove, remove by user', async () => {
      const s = { digest: 'a'.repeat(64), userId: 'u-admin', createdAt: T0, lastSeenAt: T0, stepUpAt: T0, sourceAddress: '127.0.0.1' };
      await storage.adminSessions.create(s);
      await storage.adminSessions.create({ ...s, digest: 'b'.repeat(64) });
      await storage.adminSessions.touch(s.digest, T0 + 10);
      expect(await storage.adminSessions.get(s.digest)).toEqual({ ...s, lastSeenAt: T0 + 10 });
      await storage.adminSessions.stepUp(s.digest, T0 + 20);
      expect(await storage.adminSessions.get(s.digest)).toMatchObject({ lastSeenAt: T0 + 20, stepUpAt: T0 + 20 });
      await storage.adminSessions.remove(s.digest);
      expect(await storage.adminSessions.get(s.digest)).toBeUndefined();
      expect(await storage.adminSessions.removeByUser('u-admin')).toBe(1);
    });

    it('gives a password link once, and not after it expired', async () => {
      const link = { digest: 'c'.repeat(64), userId: 'u-new', createdBy: 'u-admin', createdAt: T0, expiresAt: T0 + 1000 };
      await storage.passwordSetLinks.create(link);
      expect(await storage.passwordSetLinks.peek(link.digest, T0 + 1)).toEqual(link);
      expect(await storage.passwordSetLinks.peek(link.digest, T0 + 1000)).toBeUndefined();
      const [a, b] = await Promise.all([storage.passwordSetLinks.take(link.digest, T0 + 1), storage.passwordSetLinks.take(link.digest, T0 + 1)]);
      expect([a, b].filter(Boolean)).toEqual([link]);
      await storage.passwordSetLinks.create({ ...link, digest: 'd'.repeat(64) });
      expect(await storage.passwordSetLinks.removeByUser('u-new')).toBe(1);
    });

    it('disables a client without an upsert enabling it again', async () => {
      const client = makeClient({ clientId: 'to-disable' });
      await storage.clients.upsert(client);
      expect(await storage.clients.setDisabled('to-disable', true)).toBe(true);
      await storage.clients.upsert({ ...client, name: 'Renamed' });
      expect(await storage.clients.get('to-disable')).toMatchObject({ name: 'Renamed', disabled: true });
      await storage.clients.setDisabled('to-disable', false);
      expect((await storage.clients.get('to-disable'))?.disabled).toBeUndefined();
      expect(await storage.clients.setDisabled('nobody', true)).toBe(false);
    });
  });

  describe('InteractionStore', () => {
    it('returns a saved interaction, also after it expired, until it is removed', async () => {
      const interaction = makeInteraction({ expiresAt: T0 - 1 });
      await storage.interactions.save(interaction);
      expect(await storage.interactions.get(interaction.id)).toEqual(interaction);
      await storage.interactions.remove(interaction.id);
      expect(await storage.interactions.get(interaction.id)).toBeUndefined();
      await expect(storage.interactions.remove(interaction.id)).resolves.toBeUndefined();
    });
  });

  describe('ReplayStore', () => {
    it('accepts a value once and refuses it until it expires', async () => {
      const key = uid('jti');
      expect(await storage.replay.useOnce(key, T0 + 1000, T0)).toBe(true);
      expect(await storage.replay.useOnce(key, T0 + 1000, T0 + 1)).toBe(false);
      expect(await storage.replay.useOnce(key, T0 + 5000, T0 + 999)).toBe(false);
    });

    it('accepts a value again once its entry has expired, and remembers the new expiry', async () => {
      const key = uid('jti');
      expect(await storage.replay.useOnce(key, T0 + 1000, T0)).toBe(true);
      expect(await storage.replay.useOnce(key, T0 + 3000, T0 + 1000)).toBe(true);
      expect(await storage.replay.useOnce(key, T0 + 9000, T0 + 2999)).toBe(false);
    });

    it('keeps distinct values apart', async () => {
      expect(await storage.replay.useOnce(uid('jti'), T0 + 1000, T0)).toBe(true);
      expect(await storage.replay.useOnce(uid('jti'), T0 + 1000, T0)).toBe(true);
    });
  });

  describe('ThrottleStore', () => {
    it('counts the hits of one key within the window ending now', async () => {
      const key = uid('account');
      expect(await storage.throttle.hit(key, T0, 1000)).toBe(1);
      expect(await storage.throttle.hit(key, T0 + 500, 1000)).toBe(2);
      expect(await storage.throttle.count(key, T0 + 500, 1000)).toBe(2);
      expect(await storage.throttle.count(key, T0 + 1000, 1000)).toBe(1);
      expect(await storage.throttle.hit(key, T0 + 1600, 1000)).toBe(1);
      expect(await storage.throttle.count(key, T0 + 3000, 1000)).toBe(0);
    });

    it('does not add a hit when counting', async () => {
      const key = uid('address');
      await storage.throttle.hit(key, T0, 60_000);
      await storage.throttle.count(key, T0, 60_000);
      expect(await storage.throttle.count(key, T0, 60_000)).toBe(1);
    });

    it('keeps keys apart and resets one key only', async () => {
      const a = uid('account');
      const b = uid('account');
      await storage.throttle.hit(a, T0, 60_000);
      await storage.throttle.hit(a, T0, 60_000);
      await storage.throttle.hit(b, T0, 60_000);
      await storage.throttle.reset(a);
      expect(await storage.throttle.count(a, T0, 60_000)).toBe(0);
      expect(await storage.throttle.count(b, T0, 60_000)).toBe(1);
    });

    it('counts every one of many concurrent hits', async () => {
      const key = uid('address');
      await Promise.all(Array.from({ length: RACERS }, () => storage.throttle.hit(key, T0, 60_000)));
      expect(await storage.throttle.count(key, T0, 60_000)).toBe(RACERS);
    });
  });

  describe('concurrency', () => {
    it(`gives exactly one of ${RACERS} concurrent consumptions of an authorization code the code`, async () => {
      const code = makeCode();
      await storage.codes.save(code);
      const results = await Promise.all(Array.from({ length: RACERS }, (_v, i) => storage.codes.consume(code.digest, T0 + i)));
      expect(tally(results.map((r) => r.status))).toEqual({ ok: 1, replayed: RACERS - 1 });
      const winner = results.find((r) => r.status === 'ok');
      for (const r of results) if (r.status === 'replayed') expect(r.record.consumedAt).toBe(winner?.status === 'ok' ? winner.record.consumedAt : NaN);
    });

    it(`gives exactly one of ${RACERS} concurrent consumptions of a refresh token the token`, async () => {
      const token = makeRefresh();
      await storage.refreshTokens.save(token);
      const results = await Promise.all(Array.from({ length: RACERS }, (_v, i) => storage.refreshTokens.consume(token.digest, T0 + i)));
      expect(tally(results.map((r) => r.status))).toEqual({ ok: 1, replayed: RACERS - 1 });
    });

    it(`accepts exactly one of ${RACERS} concurrent uses of one value`, async () => {
      const key = uid('jti');
      const results = await Promise.all(Array.from({ length: RACERS }, () => storage.replay.useOnce(key, T0 + 60_000, T0)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('gives exactly one of two Storage instances racing on one authorization code the code', async () => {
      const code = makeCode();
      await storage.codes.save(code);
      const results = await Promise.all(
        Array.from({ length: RACERS }, (_v, i) => (i % 2 ? other : storage).codes.consume(code.digest, T0 + i)),
      );
      expect(tally(results.map((r) => r.status))).toEqual({ ok: 1, replayed: RACERS - 1 });
    });

    it('gives exactly one of two Storage instances racing on one refresh token the token', async () => {
      const token = makeRefresh();
      await other.refreshTokens.save(token);
      const results = await Promise.all(
        Array.from({ length: RACERS }, (_v, i) => (i % 2 ? other : storage).refreshTokens.consume(token.digest, T0 + i)),
      );
      expect(tally(results.map((r) => r.status))).toEqual({ ok: 1, replayed: RACERS - 1 });
    });

    it('accepts exactly one use of a value raced by two Storage instances', async () => {
      const key = uid('jti');
      const results = await Promise.all(
        Array.from({ length: RACERS }, (_v, i) => (i % 2 ? other : storage).replay.useOnce(key, T0 + 60_000, T0)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('records one reason and revokes every token when two Storage instances revoke one grant at once', async () => {
      const grant = makeGrant();
      await storage.grants.create(grant);
      const tokens = Array.from({ length: 5 }, () => makeRefresh({ grantId: grant.grantId }));
      for (const t of tokens) await storage.refreshTokens.save(t);
      const reasons = Array.from({ length: 20 }, (_v, i) => `reason-${i}`);
      const results = await Promise.all(reasons.map((reason, i) => (i % 2 ? other : storage).grants.revoke(grant.grantId, T0 + i, reason)));
      expect(results.every(Boolean)).toBe(true);
      const revoked = await storage.grants.get(grant.grantId);
      const winner = reasons.indexOf(revoked?.revokedReason ?? '');
      expect(winner).toBeGreaterThanOrEqual(0);
      expect(revoked?.revokedAt).toBe(T0 + winner);
      for (const t of tokens) expect((await other.refreshTokens.get(t.digest))?.revokedAt).toBe(T0 + winner);
    });
  });
});
