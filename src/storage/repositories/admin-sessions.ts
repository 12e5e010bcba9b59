// AdminSessionStore and PasswordSetLinkStore over SQL (migration 012).
import type { AdminSessionStore, PasswordSetLinkStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';

type SessionRow = { digest: string; user_id: string; created_at: number | string; last_seen_at: number | string; step_up_at: number | string; source_address: string };
type LinkRow = { digest: string; user_id: string; created_by: string; created_at: number | string; expires_at: number | string };

export function createAdminSessionStore(sql: SqlExecutor): AdminSessionStore {
  return {
    async create(r) {
      await sql.run(
        'INSERT INTO admin_sessions (digest, user_id, created_at, last_seen_at, step_up_at, source_address) VALUES ($1, $2, $3, $4, $5, $6)',
        [r.digest, r.userId, r.createdAt, r.lastSeenAt, r.stepUpAt, r.sourceAddress],
      );
    },
    async get(digest) {
      const row = await sql.get<SessionRow>('SELECT digest, user_id, created_at, last_seen_at, step_up_at, source_address FROM admin_sessions WHERE digest = $1', [digest]);
      return row && {
        digest: row.digest, userId: row.user_id, createdAt: Number(row.created_at), lastSeenAt: Number(row.last_seen_at),
        stepUpAt: Number(row.step_up_at), sourceAddress: row.source_address,
      };
    },
    async touch(digest, now) {
      await sql.run('UPDATE admin_sessions SET last_seen_at = $1 WHERE digest = $2', [now, digest]);
    },
    async stepUp(digest, now) {
      await sql.run('UPDATE admin_sessions SET step_up_at = $1, last_seen_at = $1 WHERE digest = $2', [now, digest]);
    },
    async remove(digest) {
      await sql.run('DELETE FROM admin_sessions WHERE digest = $1', [digest]);
    },
    async removeByUser(userId) {
      return sql.run('DELETE FROM admin_sessions WHERE user_id = $1', [userId]);
    },
  };
}

export function createPasswordSetLinkStore(sql: SqlExecutor): PasswordSetLinkStore {
  return {
    async create(r) {
      await sql.run(
        'INSERT INTO password_set_links (digest, user_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
        [r.digest, r.userId, r.createdBy, r.createdAt, r.expiresAt],
      );
    },
    async peek(digest, now) {
      const row = await sql.get<LinkRow>('SELECT digest, user_id, created_by, created_at, expires_at FROM password_set_links WHERE digest = $1 AND expires_at > $2', [digest, now]);
      return row && { digest: row.digest, userId: row.user_id, createdBy: row.created_by, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) };
    },
    async take(digest, now) {
      const link = await this.peek(digest, now);
      if (!link) return undefined;
      // Only the caller whose DELETE removed the row may use the link (two submissions race).
      const removed = await sql.run('DELETE FROM password_set_links WHERE digest = $1', [digest]);
      return removed > 0 ? link : undefined;
    },
    async removeByUser(userId) {
      return sql.run('DELETE FROM password_set_links WHERE user_id = $1', [userId]);
    },
  };
}
