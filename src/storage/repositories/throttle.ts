// ThrottleStore over SQL: failed-login hits as (key, at) rows, counted over a sliding window
// (NIST SP 800-63B §5.2.2 rate limiting).
import type { ThrottleStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';

const PRUNE_EVERY_MS = 60_000;
/** Hits of keys that are no longer hit are kept this long (or the widest window seen, if longer). */
const RETENTION_MS = 24 * 60 * 60_000;

export function createThrottleStore(sql: SqlExecutor): ThrottleStore {
  let widestWindow = RETENTION_MS;
  let lastPrune = -Infinity;

  const count = async (key: string, now: number, windowMs: number): Promise<number> => {
    widestWindow = Math.max(widestWindow, windowMs);
    const row = await sql.get<{ n: number }>(
      'SELECT COUNT(*) AS n FROM throttle_hits WHERE throttle_key = $1 AND at > $2 AND at <= $3',
      [key, now - windowMs, now],
    );
    return Number(row?.n ?? 0);
  };

  return {
    async hit(key, now, windowMs) {
      await sql.run('INSERT INTO throttle_hits (throttle_key, at) VALUES ($1, $2)', [key, now]);
      const hits = await count(key, now, windowMs);
      // Opportunistic pruning: this key's hits that left its window, and now and then every key's
      // hits older than the retention.
      await sql.run('DELETE FROM throttle_hits WHERE throttle_key = $1 AND at <= $2', [key, now - windowMs]);
      if (now - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = now;
        await sql.run('DELETE FROM throttle_hits WHERE at <= $1', [now - widestWindow]);
      }
      return hits;
    },
    count,
    async reset(key) {
      await sql.run('DELETE FROM throttle_hits WHERE throttle_key = $1', [key]);
    },
  };
}
