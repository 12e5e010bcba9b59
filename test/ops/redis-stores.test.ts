// Short-lived shared state across instances: the Redis ReplayStore and ThrottleStore against the
// real Redis, and the race that matters for both backends: concurrent useOnce of one value from
// two clients (two instances) gives exactly one true. PostgreSQL is the default backend.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openRedisStores, cacheKeySecret, type RedisStores } from '../../src/ops/redis-stores.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { postgresAdapter, testAdapters, type TestDatabase } from '../storage/databases.js';
import { deletePrefix, REDIS_TEST_URL, redisReachable } from './redis.js';
import { MasterKey } from '../../src/crypto/master-key.js';
import { checkLogin } from '../../src/interaction/login.js';
import { freePort } from '../support/stack.js';
import { startOpsStack } from './ops-stack.js';

const redisUp = await redisReachable();
const postgresUp = (await testAdapters()).includes(postgresAdapter);
const RACERS = 100;

describe.runIf(redisUp)('Redis stores', () => {
  const prefix = `caduceus-test-${randomBytes(6).toString('hex')}:`;
  const keySecret = randomBytes(32);
  let a: RedisStores;
  let b: RedisStores;

  beforeAll(async () => {
    a = await openRedisStores(REDIS_TEST_URL, { keySecret, prefix });
    b = await openRedisStores(REDIS_TEST_URL, { keySecret, prefix });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await deletePrefix(prefix);
  });

  test('useOnce resolves true once and false while the value is remembered', async () => {
    const now = Date.now();
    expect(await a.replay.useOnce('pkjwt:client-1:jti-1', now + 60_000, now)).toBe(true);
    expect(await a.replay.useOnce('pkjwt:client-1:jti-1', now + 60_000, now)).toBe(false);
    expect(await b.replay.useOnce('pkjwt:client-1:jti-1', now + 60_000, now)).toBe(false);
    expect(await a.replay.useOnce('pkjwt:client-1:jti-2', now + 60_000, now)).toBe(true);
  });

  test('a value is forgotten when it expires, and one already expired is not remembered at all', async () => {
    const now = Date.now();
    expect(await a.replay.useOnce('short', now + 80, now)).toBe(true);
    expect(await a.replay.useOnce('short', now + 80, now)).toBe(false);
    await new Promise((r) => setTimeout(r, 150));
    expect(await a.replay.useOnce('short', Date.now() + 80, Date.now())).toBe(true);
    expect(await a.replay.useOnce('expired', now, now)).toBe(true);
    expect(await a.replay.useOnce('expired', now, now)).toBe(true);
  });

  test(`${RACERS} concurrent useOnce of one value from two clients: exactly one true`, async () => {
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: RACERS }, (_, i) => (i % 2 ? a : b).replay.useOnce('race', now + 60_000, now)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test('throttle counts hits over the sliding window (now - window, now] and resets', async () => {
    const t = 1_000_000;
    const w = 1000;
    expect(await a.throttle.hit('login:user:alice', t, w)).toBe(1);
    expect(await b.throttle.hit('login:user:alice', t + 10, w)).toBe(2);
    expect(await a.throttle.count('login:user:alice', t + 10, w)).toBe(2);
    expect(await a.throttle.count('login:user:alice', t + w, w)).toBe(1); // the hit at t left the window
    expect(await a.throttle.count('login:user:alice', t + w + 10, w)).toBe(0);
    expect(await a.throttle.hit('login:user:alice', t + w + 5, w)).toBe(2); // t+10 and t+w+5
    expect(await a.throttle.count('login:user:bob', t, w)).toBe(0);
    await b.throttle.reset('login:user:alice');
    expect(await a.throttle.count('login:user:alice', t + w + 5, w)).toBe(0);
  });

  test('concurrent hits from two clients are all counted', async () => {
    const t = Date.now();
    const counts = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).throttle.hit('login:addr:192.0.2.7', t, 60_000)));
    expect(Math.max(...counts)).toBe(50);
    expect(new Set(counts).size).toBe(50);
    expect(await a.throttle.count('login:addr:192.0.2.7', t + 1, 60_000)).toBe(50);
  });

  test('Redis holds no raw key: names are HMAC digests under the prefix, and entries expire', async () => {
    const keys = await (async () => {
      const { Redis } = await import('ioredis');
      const client = new Redis(REDIS_TEST_URL);
      try {
        const names = await client.keys(`${prefix}*`);
        const ttls = await Promise.all(names.map((n) => client.pttl(n)));
        return { names, ttls };
      } finally {
        client.disconnect();
      }
    })();
    expect(keys.names.length).toBeGreaterThan(2);
    for (const name of keys.names) {
      expect(name).toMatch(new RegExp(`^${prefix}(replay|throttle):[A-Za-z0-9_-]{43}$`));
      expect(name).not.toMatch(/alice|192\.0\.2\.7|client-1|jti/);
    }
    expect(keys.ttls.every((ttl) => ttl > 0)).toBe(true);
  });

  test('the key-name secret is derived from the master key: same key, same names; another key, other names', () => {
    const k = MasterKey.generate();
    expect(cacheKeySecret(k).equals(cacheKeySecret(k))).toBe(true);
    expect(cacheKeySecret(k).equals(cacheKeySecret(MasterKey.generate()))).toBe(false);
    expect(cacheKeySecret(k).equals(k.encryptionKey())).toBe(false);
  });
});

describe.runIf(redisUp)('cache: redis://… in the configuration', () => {
  test('replay values and login throttling go to Redis, not to the database', async () => {
    const stack = await startOpsStack({ configure: (c) => { c.cache = REDIS_TEST_URL; } });
    try {
      const { ctx } = stack;
      const now = ctx.now();
      const key = `pkjwt:test:${randomBytes(8).toString('hex')}`;
      expect(await ctx.storage.replay.useOnce(key, now + 5_000, now)).toBe(true);
      expect(await ctx.storage.replay.useOnce(key, now + 5_000, now)).toBe(false);
      const username = `nobody-${randomBytes(4).toString('hex')}`;
      for (let i = 0; i < ctx.config.login.max_failures_per_account; i++) {
        expect(await checkLogin(ctx, username, 'wrong', '192.0.2.1')).toMatchObject({ ok: false, reason: 'bad_credentials' });
      }
      // Now refused whatever the password (locked or throttled, as src/interaction/login.ts decides).
      const refused = await checkLogin(ctx, username, 'wrong', '192.0.2.1');
      expect(refused.ok).toBe(false);
      expect(refused.ok ? '' : refused.reason).not.toBe('bad_credentials');
      expect(await ctx.storage.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM replay_values')).toMatchObject({ n: 0 });
      expect(await ctx.storage.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM throttle_hits')).toMatchObject({ n: 0 });
      const { fetch } = await import('undici');
      const ready = await fetch(`${stack.server.adminUrl}/readyz`);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', ledger: 'ok', keys: 'ok', cache: 'ok' } });
      await ctx.storage.throttle.reset(`login:user:${username}`);
      await ctx.storage.throttle.reset(`login:lock:${username}`);
      await ctx.storage.throttle.reset('login:addr:192.0.2.1');
    } finally {
      await stack.close();
    }
  });
});

describe('cache: an unreachable Redis', () => {
  test('refuses the start, naming the cache without its password', async () => {
    const port = await freePort();
    await expect(startOpsStack({ configure: (c) => { c.cache = `redis://:hunter2-not-real@127.0.0.1:${port}/0`; } }))
      .rejects.toThrow(/^cache: Redis at redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/0 did not answer PING/);
    await expect(startOpsStack({ configure: (c) => { c.cache = `redis://:hunter2-not-real@127.0.0.1:${port}/0`; } }))
      .rejects.not.toThrow(/hunter2/);
  });
});

describe.runIf(postgresUp)('PostgreSQL stores (the default)', () => {
  let db: TestDatabase;
  let one: Storage;
  let two: Storage;
  beforeAll(async () => {
    db = await postgresAdapter.open();
    one = await openStorage(db.url);
    two = await openStorage(db.url);
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    await db?.cleanup();
  });

  test(`${RACERS} concurrent useOnce of one value from two Storage instances: exactly one true`, async () => {
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: RACERS }, (_, i) => (i % 2 ? one : two).replay.useOnce('race', now + 60_000, now)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test('concurrent throttle hits from two Storage instances are all counted', async () => {
    const t = Date.now();
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? one : two).throttle.hit('login:addr:192.0.2.9', t + i, 60_000)));
    expect(await one.throttle.count('login:addr:192.0.2.9', t + 40, 60_000)).toBe(40);
  });
});
