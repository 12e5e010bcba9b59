// ReplayStore and ThrottleStore on Redis, for `cache: redis://…` (the contracts are in
// src/storage/types.ts; without `cache` the SQL stores in the shared database are used). Several
// instances pointed at one Redis share the state, as they share the database otherwise.
//
// - useOnce: SET key 1 NX PX ttl, one atomic command: of concurrent calls with one key (from any
//   number of clients), exactly one creates it. A value whose expiresAt <= now is not stored and
//   resolves true, as the SQL store resolves it (an expired entry may be overwritten).
// - throttle: one sorted set per key, scored by hit time (the server's clock, not Redis's), each
//   hit a unique member; hit() runs ZADD, prune, ZCOUNT over (now - window, now] and PEXPIRE in one
//   MULTI/EXEC transaction, so concurrent hits from several instances are all counted.
// - rateLimitCounts: INCRBY of each window's key and PEXPIREAT at the window's end, in one
//   MULTI/EXEC transaction; the replies are the totals across instances.
// - Keys are HMAC-SHA-256 digests of the store's key (which may hold a username or a client
//   address) under a key derived from the master key, so a Redis dump holds no identifier.
// - Every command has a timeout; a Redis that cannot be reached fails the request (fail closed:
//   a login is refused rather than let through unthrottled, a client assertion rather than
//   accepted unchecked for replay).
//
// - ioredis is imported when the stores are opened, not with this module: a server without `cache`
//   never loads it (docs/dependencies.md).
//
// Deliberately not here: Redis Cluster hash tags, Sentinel discovery (ioredis supports both; a
// URL names one endpoint), and a fallback to the database when Redis is down.
import { atMostEvery } from '../util/at-most-every.js';
import { createHmac, hkdfSync, randomUUID } from 'node:crypto';
import { InternalError } from '../errors/internal-error.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { RateLimitCountStore, ReplayStore, ThrottleStore } from '../storage/types.js';

export interface RedisStoreOptions {
  /** HMAC key for the Redis key names (see cacheKeySecret). */
  keySecret: Buffer;
  /** Prefix of every key (default "caduceus:"); tests use a random one. */
  prefix?: string;
  /** Connect and command timeout in ms (default 2000). */
  timeoutMs?: number;
  /** Connection errors (rate-limited to one report per 30 s); never includes the URL. */
  onError?: (error: Error) => void;
}

export interface RedisStores {
  replay: ReplayStore;
  throttle: ThrottleStore;
  rateLimitCounts: RateLimitCountStore;
  /** Resolves when Redis answers PING (readiness, startup). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const ERROR_REPORT_INTERVAL_MS = 30_000;

/**
 * The HMAC key for Redis key names: HKDF-SHA-256 from the master key's encryption key under its
 * own label (a one-way derivation: it discloses nothing about the key it comes from).
 */
export function cacheKeySecret(masterKey: MasterKey): Buffer {
  const base = masterKey.encryptionKey();
  try {
    return Buffer.from(hkdfSync('sha256', base, 'caduceus/cache', 'caduceus/v1/digest/cache-key', 32));
  } finally {
    base.fill(0);
  }
}

/** Redacts the password of a redis:// URL for messages. */
export function redactCacheUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export async function openRedisStores(url: string, options: RedisStoreOptions): Promise<RedisStores> {
  const { Redis } = await import('ioredis');
  const prefix = options.prefix ?? 'caduceus:';
  const timeout = options.timeoutMs ?? 2000;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeout,
    commandTimeout: timeout,
    maxRetriesPerRequest: 1,
    // Reconnect with a capped back-off; commands issued meanwhile fail after one retry.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', atMostEvery(ERROR_REPORT_INTERVAL_MS, (err: Error) => options.onError?.(err)));
  // Every failure is ERR_STORAGE_UNAVAILABLE (503 with Retry-After: the request is refused, never
  // let through unchecked). A command that timed out leaves its reply owed on the connection; a
  // late reply would be read as the answer to a later command (a SET NX answered "OK" that was
  // meant for another key), so the connection is dropped and opened anew, failing what it carried.
  const guarded = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      if (err instanceof Error && /timed out/i.test(err.message)) redis.disconnect(true);
      throw new InternalError('ERR_STORAGE_UNAVAILABLE', 'cache: Redis did not complete the command', { cause: err });
    }
  };
  const name = (kind: string, key: string): string => `${prefix}${kind}:${createHmac('sha256', options.keySecret).update(key).digest('base64url')}`;

  const replay: ReplayStore = {
    async useOnce(key, expiresAt, now) {
      const ttl = Math.ceil(expiresAt - now);
      if (!(ttl > 0)) return true;
      return guarded(async () => (await redis.set(name('replay', key), '1', 'PX', ttl, 'NX')) === 'OK');
    },
  };

  const count = (key: string, now: number, windowMs: number): Promise<number> =>
    guarded(() => redis.zcount(name('throttle', key), `(${now - windowMs}`, now));

  const throttle: ThrottleStore = {
    hit: (key, now, windowMs) => guarded(async () => {
      const k = name('throttle', key);
      const results = await redis.multi()
        .zadd(k, now, `${now}:${randomUUID()}`)
        .zremrangebyscore(k, '-inf', now - windowMs)
        .zcount(k, `(${now - windowMs}`, now)
        .pexpire(k, Math.max(1, Math.ceil(windowMs)))
        .exec();
      if (!results) throw new Error('redis: the throttle transaction was aborted');
      const failed = results.find(([err]) => err);
      if (failed) throw failed[0]!;
      return Number(results[2]![1]);
    }),
    count,
    reset: (key) => guarded(async () => { await redis.del(name('throttle', key)); }),
  };

  const rateLimitCounts: RateLimitCountStore = {
    add: (shares, expiresAt) => guarded(async () => {
      if (shares.length === 0) return [];
      const tx = redis.multi();
      for (const s of shares) {
        const k = name('ratelimit', `${s.limit}:${s.keyDigest}:${s.windowStart}`);
        tx.incrby(k, s.delta).pexpireat(k, Math.ceil(expiresAt));
      }
      const results = await tx.exec();
      if (!results) throw new Error('redis: the rate-limit transaction was aborted');
      const failed = results.find(([err]) => err);
      if (failed) throw failed[0]!;
      return shares.map((_, i) => Number(results[i * 2]![1]));
    }),
  };

  return {
    replay,
    throttle,
    rateLimitCounts,
    async ping() {
      await redis.ping();
    },
    async close() {
      if (redis.status === 'wait' || redis.status === 'end') {
        redis.disconnect();
        return;
      }
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
