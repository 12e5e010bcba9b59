// SessionStore over SQL: login sessions keyed by the digest of their cookie value (OIDC Core §2
// auth_time and amr come from here).
import type { SessionRecord, SessionStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { fromJsonList, insertNew, toJsonList } from './rows.js';

type SessionRow = {
  digest: string;
  user_id: string;
  created_at: number;
  last_seen_at: number;
  auth_time: number;
  amr: string;
};

function toRecord(row: SessionRow): SessionRecord {
  return {
    digest: row.digest,
    userId: row.user_id,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    authTime: row.auth_time,
    amr: fromJsonList(row.amr),
  };
}

export function createSessionStore(sql: SqlExecutor): SessionStore {
  return {
    async create(session) {
      await insertNew(sql, 'sessions', {
        digest: session.digest,
        user_id: session.userId,
        created_at: session.createdAt,
        last_seen_at: session.lastSeenAt,
        auth_time: session.authTime,
        amr: toJsonList(session.amr),
      });
    },
    async get(digest) {
      const row = await sql.get<SessionRow>(
        'SELECT digest, user_id, created_at, last_seen_at, auth_time, amr FROM sessions WHERE digest = $1',
        [digest],
      );
      return row && toRecord(row);
    },
    async touch(digest, now) {
      // Only forward: a late, slower request must not move the idle clock back.
      await sql.run('UPDATE sessions SET last_seen_at = $1 WHERE digest = $2 AND last_seen_at < $1', [now, digest]);
    },
    async remove(digest) {
      await sql.run('DELETE FROM sessions WHERE digest = $1', [digest]);
    },
    async removeByUser(userId) {
      return sql.run('DELETE FROM sessions WHERE user_id = $1', [userId]);
    },
  };
}
