// PendingLoginStore over SQL: sign-ins between the password and the second factor, keyed by the
// digest of a cookie, their state sealed. Expired rows are pruned on save now and then.
import type { PendingLoginRecord, PendingLoginStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { insertNew } from './rows.js';

const PRUNE_EVERY_MS = 60_000;

type PendingRow = {
  digest: string;
  user_id: string;
  sealed: string;
  created_at: number;
  expires_at: number;
};

function toRecord(row: PendingRow): PendingLoginRecord {
  return { digest: row.digest, userId: row.user_id, sealed: row.sealed, createdAt: row.created_at, expiresAt: row.expires_at };
}

export function createPendingLoginStore(sql: SqlExecutor): PendingLoginStore {
  let lastPrune = -Infinity;
  return {
    async save(record) {
      if (record.createdAt - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = record.createdAt;
        await sql.run('DELETE FROM pending_logins WHERE expires_at <= $1', [record.createdAt]);
      }
      await insertNew(sql, 'pending_logins', {
        digest: record.digest,
        user_id: record.userId,
        sealed: record.sealed,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
      });
    },
    async get(digest) {
      const row = await sql.get<PendingRow>('SELECT digest, user_id, sealed, created_at, expires_at FROM pending_logins WHERE digest = $1', [digest]);
      return row && toRecord(row);
    },
    async update(digest, sealed) {
      return (await sql.run('UPDATE pending_logins SET sealed = $1 WHERE digest = $2', [sealed, digest])) > 0;
    },
    async remove(digest) {
      await sql.run('DELETE FROM pending_logins WHERE digest = $1', [digest]);
    },
  };
}
