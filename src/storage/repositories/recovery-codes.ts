// RecoveryCodeStore over SQL: one-time recovery codes by keyed digest; consuming one is a single
// conditional UPDATE, so a code works once however many requests race with it.
import type { RecoveryCodeStore } from '../types.js';
import type { SqlDriver } from '../sql.js';

export function createRecoveryCodeStore(sql: SqlDriver): RecoveryCodeStore {
  return {
    async replace(userId, digests, now) {
      await sql.transaction(async (tx) => {
        await tx.run('DELETE FROM recovery_codes WHERE user_id = $1', [userId]);
        for (const digest of digests) {
          await tx.run('INSERT INTO recovery_codes (digest, user_id, created_at, used_at) VALUES ($1, $2, $3, NULL)', [digest, userId, now]);
        }
      });
    },
    async consume(userId, digest, now) {
      return (await sql.run('UPDATE recovery_codes SET used_at = $1 WHERE digest = $2 AND user_id = $3 AND used_at IS NULL', [now, digest, userId])) > 0;
    },
    async countUnused(userId) {
      const row = await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL', [userId]);
      return Number(row?.n ?? 0);
    },
    async removeByUser(userId) {
      return sql.run('DELETE FROM recovery_codes WHERE user_id = $1', [userId]);
    },
  };
}
