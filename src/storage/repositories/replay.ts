// ReplayStore over SQL: one-time values such as the jti of a private_key_jwt client assertion
// (RFC 7523 §3: "the authorization server MAY ensure that JWTs are not replayed").
import type { ReplayStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';

const PRUNE_EVERY_MS = 60_000;

export function createReplayStore(sql: SqlExecutor): ReplayStore {
  let lastPrune = -Infinity;
  return {
    async useOnce(key, expiresAt, now) {
      // One statement: a new key is inserted; an existing key is overwritten only when it has
      // expired. Concurrent calls serialise on the key, so exactly one of them changes a row.
      const changed = await sql.run(
        `INSERT INTO replay_values (replay_key, expires_at) VALUES ($1, $2)
         ON CONFLICT (replay_key) DO UPDATE SET expires_at = excluded.expires_at
         WHERE replay_values.expires_at <= $3`,
        [key, expiresAt, now],
      );
      if (now - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = now;
        await sql.run('DELETE FROM replay_values WHERE expires_at <= $1', [now]);
      }
      return changed > 0;
    },
  };
}
