// The stores of migration 004 against every adapter (a SQLite file and a fresh PostgreSQL schema):
// pushed requests used at most once, DPoP code bindings where the first binding wins, and the
// per-client flags that live and die with the client row.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import type { ClientRecord, PushedAuthorizationRequestRecord, Storage } from '../../src/storage/types.js';
import { testAdapters, type TestDatabase } from '../storage/databases.js';

const adapters = await testAdapters();
const T0 = 1_700_000_000_000;
const RACERS = 30;
const uid = (prefix: string) => `${prefix}-${randomUUID()}`;

const makeRequest = (over: Partial<PushedAuthorizationRequestRecord> = {}): PushedAuthorizationRequestRecord => ({
  digest: uid('digest'), clientId: 'client-a', sealed: 'sealed-request', createdAt: T0, expiresAt: T0 + 60_000, consumedAt: null, ...over,
});

const makeClient = (clientId: string): ClientRecord => ({
  clientId, name: 'App', grantTypes: ['authorization_code'], redirectUris: ['https://app.example/cb'], scope: 'openid', resources: [],
  tokenEndpointAuthMethod: 'client_secret_basic', secretDigest: 'a'.repeat(64), jwksUri: null, jwks: null, source: 'admin', createdAt: T0, updatedAt: T0,
});

describe.each(adapters)('migration 004 stores on $name', (adapter) => {
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

  describe('PushedAuthorizationRequestStore', () => {
    it('consume returns the request once, then reports it replayed; unknown digests are unknown', async () => {
      const request = makeRequest();
      await storage.pushedRequests.save(request);
      expect(await storage.pushedRequests.consume(request.digest, T0 + 1)).toEqual({ status: 'ok', record: { ...request, consumedAt: T0 + 1 } });
      expect(await storage.pushedRequests.consume(request.digest, T0 + 2)).toEqual({ status: 'replayed', record: { ...request, consumedAt: T0 + 1 } });
      expect(await storage.pushedRequests.consume(uid('nope'), T0)).toEqual({ status: 'unknown' });
    });

    it('save refuses an existing digest with ERR_CONFLICT', async () => {
      const request = makeRequest();
      await storage.pushedRequests.save(request);
      await expect(storage.pushedRequests.save(request)).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
    });

    it('an expired request is returned as it is (the caller checks expiresAt)', async () => {
      const request = makeRequest({ expiresAt: T0 + 10 });
      await storage.pushedRequests.save(request);
      const result = await storage.pushedRequests.consume(request.digest, T0 + 20);
      expect(result.status).toBe('ok');
      expect(result.status === 'ok' && result.record.expiresAt).toBe(T0 + 10);
    });

    it(`of ${RACERS} concurrent consumptions exactly one gets the request`, async () => {
      const request = makeRequest();
      await storage.pushedRequests.save(request);
      const results = await Promise.all(Array.from({ length: RACERS }, () => storage.pushedRequests.consume(request.digest, T0 + 5)));
      expect(results.filter((r) => r.status === 'ok')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'replayed')).toHaveLength(RACERS - 1);
    });
  });

  describe('DpopCodeBindingStore', () => {
    it('binds, answers the bound jkt, and accepts the same jkt again', async () => {
      const key = uid('binding');
      expect(await storage.dpopCodeBindings.get(key, T0)).toBeUndefined();
      expect(await storage.dpopCodeBindings.bind(key, 'jkt-a', T0 + 1000, T0)).toBe(true);
      expect(await storage.dpopCodeBindings.get(key, T0 + 1)).toBe('jkt-a');
      expect(await storage.dpopCodeBindings.bind(key, 'jkt-a', T0 + 2000, T0 + 2)).toBe(true);
    });

    it('the first binding wins until it expires; then another key may bind', async () => {
      const key = uid('binding');
      expect(await storage.dpopCodeBindings.bind(key, 'jkt-a', T0 + 1000, T0)).toBe(true);
      expect(await storage.dpopCodeBindings.bind(key, 'jkt-b', T0 + 5000, T0 + 1)).toBe(false);
      expect(await storage.dpopCodeBindings.get(key, T0 + 2)).toBe('jkt-a');
      expect(await storage.dpopCodeBindings.get(key, T0 + 1000)).toBeUndefined();
      expect(await storage.dpopCodeBindings.bind(key, 'jkt-b', T0 + 5000, T0 + 1000)).toBe(true);
      expect(await storage.dpopCodeBindings.get(key, T0 + 1001)).toBe('jkt-b');
    });

    it(`of ${RACERS} concurrent binds with different keys exactly one wins`, async () => {
      const key = uid('binding');
      const results = await Promise.all(Array.from({ length: RACERS }, (_x, i) => storage.dpopCodeBindings.bind(key, `jkt-${i}`, T0 + 1000, T0)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('ClientPolicyStore', () => {
    it('a new client has both flags off; set changes them; upsert leaves them alone; remove removes them', async () => {
      const id = uid('client');
      expect(await storage.clientPolicies.get(id)).toBeUndefined();
      expect(await storage.clientPolicies.set(id, { dpopBoundAccessTokens: true, requirePushedAuthorizationRequests: true })).toBe(false);
      await storage.clients.upsert(makeClient(id));
      expect(await storage.clientPolicies.get(id)).toEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: false });
      expect(await storage.clientPolicies.set(id, { dpopBoundAccessTokens: true, requirePushedAuthorizationRequests: false })).toBe(true);
      await storage.clients.upsert({ ...makeClient(id), name: 'Renamed', updatedAt: T0 + 1 });
      expect(await storage.clientPolicies.get(id)).toEqual({ dpopBoundAccessTokens: true, requirePushedAuthorizationRequests: false });
      await storage.clients.remove(id);
      await storage.clients.upsert(makeClient(id));
      expect(await storage.clientPolicies.get(id)).toEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: false });
    });
  });
});
