// PushedAuthorizationRequestStore over SQL (RFC 9126): requests stored by keyed digest, used at
// most once (one UPDATE … WHERE consumed_at IS NULL RETURNING …), pruned after they expire.
import type { PushedAuthorizationRequestRecord, PushedAuthorizationRequestStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { insertNew } from './rows.js';

type RequestRow = {
  digest: string;
  client_id: string;
  sealed: string;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
};

const COLUMNS = 'digest, client_id, sealed, created_at, expires_at, consumed_at';
const PRUNE_EVERY_MS = 60_000;

function toRecord(row: RequestRow): PushedAuthorizationRequestRecord {
  return {
    digest: row.digest,
    clientId: row.client_id,
    sealed: row.sealed,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    consumedAt: row.consumed_at === null ? null : Number(row.consumed_at),
  };
}

export function createPushedRequestStore(sql: SqlExecutor): PushedAuthorizationRequestStore {
  let lastPrune = -Infinity;
  return {
    async save(request) {
      await insertNew(sql, 'pushed_authorization_requests', {
        digest: request.digest,
        client_id: request.clientId,
        sealed: request.sealed,
        created_at: request.createdAt,
        expires_at: request.expiresAt,
        consumed_at: request.consumedAt,
      });
      if (request.createdAt - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = request.createdAt;
        await sql.run('DELETE FROM pushed_authorization_requests WHERE expires_at <= $1', [request.createdAt]);
      }
    },
    async consume(digest, now) {
      const [consumed] = await sql.all<RequestRow>(
        `UPDATE pushed_authorization_requests SET consumed_at = $1 WHERE digest = $2 AND consumed_at IS NULL RETURNING ${COLUMNS}`,
        [now, digest],
      );
      if (consumed) return { status: 'ok', record: toRecord(consumed) };
      const existing = await sql.get<RequestRow>(`SELECT ${COLUMNS} FROM pushed_authorization_requests WHERE digest = $1`, [digest]);
      if (existing && existing.consumed_at !== null) return { status: 'replayed', record: toRecord(existing) };
      return { status: 'unknown' };
    },
  };
}
