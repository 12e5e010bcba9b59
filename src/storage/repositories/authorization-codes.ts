// AuthorizationCodeStore over SQL: codes stored by keyed digest, consumed atomically once
// (OAuth 2.1 §4.1.3, RFC 9700 §4.14.2).
import type { AuthorizationCodeRecord, AuthorizationCodeStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { consumeOnce } from './consume.js';
import { insertNew } from './rows.js';

type CodeRow = {
  digest: string;
  client_id: string;
  grant_id: string;
  sealed: string;
  expires_at: number;
  consumed_at: number | null;
};

const COLUMNS = 'digest, client_id, grant_id, sealed, expires_at, consumed_at';

function toRecord(row: CodeRow): AuthorizationCodeRecord {
  return {
    digest: row.digest,
    clientId: row.client_id,
    grantId: row.grant_id,
    sealed: row.sealed,
    expiresAt: row.expires_at,
    consumedAt: row.consumed_at,
  };
}

export function createAuthorizationCodeStore(sql: SqlExecutor): AuthorizationCodeStore {
  return {
    async save(code) {
      await insertNew(sql, 'authorization_codes', {
        digest: code.digest,
        client_id: code.clientId,
        grant_id: code.grantId,
        sealed: code.sealed,
        expires_at: code.expiresAt,
        consumed_at: code.consumedAt,
      });
    },
    async get(digest) {
      const row = await sql.get<CodeRow>(`SELECT ${COLUMNS} FROM authorization_codes WHERE digest = $1`, [digest]);
      return row ? toRecord(row) : undefined;
    },
    consume(digest, now) {
      return consumeOnce(sql, 'authorization_codes', COLUMNS, digest, now, toRecord);
    },
  };
}
