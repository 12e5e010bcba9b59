// LaunchContextStore over SQL (SMART App Launch 2.2 EHR launch): contexts stored by keyed digest of
// the opaque `launch` value, redeemed at most once (one UPDATE … WHERE consumed_at IS NULL
// RETURNING …), pruned after they expire.
import { InternalError } from '../../errors/internal-error.js';
import type { LaunchContext, LaunchContextRecord, LaunchContextStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { consumeOnce } from './consume.js';
import { insertNew } from './rows.js';

type LaunchRow = {
  digest: string;
  client_id: string;
  context: string;
  created_by: string;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
};

const COLUMNS = 'digest, client_id, context, created_by, created_at, expires_at, consumed_at';
const PRUNE_EVERY_MS = 60_000;

function toRecord(row: LaunchRow): LaunchContextRecord {
  const context: unknown = JSON.parse(row.context);
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new InternalError('ERR_STORAGE', 'storage: launch_contexts: a stored context is not a JSON object');
  }
  return {
    digest: row.digest,
    clientId: row.client_id,
    context: context as LaunchContext,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    consumedAt: row.consumed_at === null ? null : Number(row.consumed_at),
  };
}

export function createLaunchContextStore(sql: SqlExecutor): LaunchContextStore {
  let lastPrune = -Infinity;
  return {
    async save(record) {
      await insertNew(sql, 'launch_contexts', {
        digest: record.digest,
        client_id: record.clientId,
        context: JSON.stringify(record.context),
        created_by: record.createdBy,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
        consumed_at: record.consumedAt,
      });
      if (record.createdAt - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = record.createdAt;
        await sql.run('DELETE FROM launch_contexts WHERE expires_at <= $1', [record.createdAt]);
      }
    },
    consume(digest, now) {
      return consumeOnce(sql, 'launch_contexts', COLUMNS, digest, now, toRecord);
    },
  };
}
