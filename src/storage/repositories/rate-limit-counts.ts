// RateLimitCountStore over SQL: one row per (limit, key digest, window); every instance adds its
// requests with an upsert that returns the new total, so concurrent additions are all counted.
// Ended windows are deleted by the expired-row purge (src/storage/purge.ts).
import type { RateLimitCountStore } from '../types.js';
import type { SqlDriver } from '../sql.js';

const ADD = `INSERT INTO rate_limit_counts (limit_name, key_digest, window_start, count) VALUES ($1, $2, $3, $4)
  ON CONFLICT (limit_name, key_digest, window_start) DO UPDATE SET count = rate_limit_counts.count + excluded.count
  RETURNING count`;

export function createRateLimitCountStore(sql: SqlDriver): RateLimitCountStore {
  return {
    async add(shares) {
      if (shares.length === 0) return [];
      return sql.transaction(async (tx) => {
        const totals: number[] = [];
        for (const s of shares) {
          const row = await tx.get<{ count: number }>(ADD, [s.limit, s.keyDigest, s.windowStart, s.delta]);
          totals.push(Number(row!.count));
        }
        return totals;
      });
    },
  };
}
