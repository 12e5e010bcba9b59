// The store queries the Users and Grants sections page with (UserStore.search, GrantStore.search),
// on SQLite and PostgreSQL alike: filters, letter case, LIKE wildcards taken literally, newest
// first, keyset paging without gaps or repeats, and last use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import type { GrantRecord, Storage, UserRecord } from '../../src/storage/types.js';
import { testAdapters, type TestDatabase } from '../storage/databases.js';

const adapters = await testAdapters();

const user = (id: string, username: string, fhirUser: string | null = null): UserRecord => ({
  id, username, passwordHash: 'x', disabled: false, fhirUser, createdAt: 1, role: 'patient', patientPanel: [], breakGlass: false,
});
const grant = (grantId: string, clientId: string, userId: string, createdAt: number, patient?: string): GrantRecord => ({
  grantId, clientId, userId, consentId: null, createdAt, revokedAt: null, revokedReason: null, launchContext: patient ? { patient } : null,
});

describe.each(adapters)('the $name adapter', (adapter) => {
  let db: TestDatabase;
  let storage: Storage;

  beforeAll(async () => {
    db = await adapter.open();
    storage = await openStorage(db.url);
    for (const u of [user('u1', 'Alice.Smith'), user('u2', 'alice_2'), user('u3', 'bob', 'Patient/p-7'), user('u4', 'aliceX2')]) await storage.users.create(u);
    await storage.grants.create(grant('g1', 'app-a', 'u1', 1000, 'p-7'));
    await storage.grants.create(grant('g2', 'app-a', 'u2', 2000, 'P-7'));
    await storage.grants.create(grant('g3', 'app-b', 'u3', 3000));
    await storage.grants.create(grant('g4', 'app-a', 'u3', 3000, 'p-8'));
    await storage.grants.create(grant('g5', 'app-b', 'u1', 5000, 'p-70'));
    await storage.refreshTokens.save({
      digest: 'r1', grantId: 'g3', clientId: 'app-b', sealed: 'x', createdAt: 4200, expiresAt: 9e12, absoluteExpiresAt: 9e12, consumedAt: null, revokedAt: null,
    });
  });

  afterAll(async () => {
    await storage?.close();
    await db?.cleanup();
  });

  it('finds usernames containing the text in any letter case, by username, one page at a time', async () => {
    const names = async (usernameContains: string | undefined, limit = 10, offset = 0) => (await storage.users.search({ usernameContains, limit, offset })).map((u) => u.username);
    expect((await names('ALICE')).sort()).toEqual(['Alice.Smith', 'aliceX2', 'alice_2'].sort());
    expect(await names('bo')).toEqual(['bob']);
    // "_" and "%" match themselves, not any character.
    expect(await names('e_')).toEqual(['alice_2']);
    expect(await names('%')).toEqual([]);
    const all = await names(undefined, 10);
    expect(all).toHaveLength(4);
    expect([...(await names(undefined, 2, 0)), ...(await names(undefined, 2, 2))]).toEqual(all);
  });

  it('finds grants by user, by client and by both, newest first', async () => {
    const ids = async (filter: Parameters<Storage['grants']['search']>[0]) => (await storage.grants.search(filter)).map((g) => g.grantId);
    expect(await ids({ userId: 'u1', limit: 10 })).toEqual(['g5', 'g1']);
    expect(await ids({ clientId: 'app-a', limit: 10 })).toEqual(['g4', 'g2', 'g1']);
    expect(await ids({ clientId: 'app-b', userId: 'u3', limit: 10 })).toEqual(['g3']);
    expect(await ids({ clientId: 'nobody', limit: 10 })).toEqual([]);
  });

  it('finds a patient\'s grants: launch context naming the id exactly (case and all), and the grants of the account linked to Patient/<id>', async () => {
    const ids = async (patient: string) => (await storage.grants.search({ patient, limit: 10 })).map((g) => g.grantId);
    // g3 and g4 are bob's, whose own record is Patient/p-7; g1's launch context names p-7; g2 names P-7, g5 p-70.
    expect(await ids('p-7')).toEqual(['g4', 'g3', 'g1']);
    expect(await ids('P-7')).toEqual(['g2']);
    expect(await ids('p-8')).toEqual(['g4']);
  });

  it('pages by (created, grant id) without gaps or repeats, also across equal creation times', async () => {
    const seen: string[] = [];
    let before: { createdAt: number; grantId: string } | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await storage.grants.search({ clientId: 'app-a', limit: 1, ...(before ? { before } : {}) });
      if (page.length === 0) break;
      seen.push(page[0]!.grantId);
      before = { createdAt: page[0]!.createdAt, grantId: page[0]!.grantId };
    }
    expect(seen).toEqual(['g4', 'g2', 'g1']);
    const tied: string[] = [];
    before = undefined;
    for (let i = 0; i < 10; i++) {
      const page = await storage.grants.search({ userId: 'u3', limit: 1, ...(before ? { before } : {}) });
      if (page.length === 0) break;
      tied.push(page[0]!.grantId);
      before = { createdAt: page[0]!.createdAt, grantId: page[0]!.grantId };
    }
    expect(tied).toEqual(['g4', 'g3']);
  });

  it('gives each grant its last use (the newest refresh token) and refuses a search without a filter', async () => {
    const [g3] = await storage.grants.search({ userId: 'u3', clientId: 'app-b', limit: 1 });
    expect(g3).toMatchObject({ grantId: 'g3', lastUsedAt: 4200 });
    await expect(storage.grants.search({ limit: 10 })).rejects.toMatchObject({ code: 'ERR_STORAGE' });
  });
});
