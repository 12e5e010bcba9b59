// The real Redis for tests, at CADUCEUS_TEST_REDIS_URL (default redis://127.0.0.1:6379/0).
// Unreachable: the Redis tests are skipped with a loud warning, or, under CI=true, fail.
import { Redis } from 'ioredis';

export const REDIS_TEST_URL = process.env.CADUCEUS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

let reachable: Promise<boolean> | undefined;

async function probe(): Promise<boolean> {
  const client = new Redis(REDIS_TEST_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (process.env.CI === 'true') throw new Error(`Redis at CADUCEUS_TEST_REDIS_URL is unreachable under CI=true: ${reason}`);
    console.warn(`\n!!! Redis is unreachable (${reason}): the Redis store tests are SKIPPED.\n!!! Start one or set CADUCEUS_TEST_REDIS_URL; under CI=true this is a failure.\n`);
    return false;
  } finally {
    client.disconnect();
  }
}

export function redisReachable(): Promise<boolean> {
  reachable ??= probe();
  return reachable;
}

/** Deletes every key under a prefix (test clean-up). */
export async function deletePrefix(prefix: string): Promise<string[]> {
  const client = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: 1 });
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length) await client.del(...keys);
    return keys;
  } finally {
    client.disconnect();
  }
}
