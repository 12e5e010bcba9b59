// AccessTokenStore over SQL: the jti of every issued JWT access token (RFC 9068), so it can be
// revoked (RFC 7009) and introspected (RFC 7662).
import type { AccessTokenRecord, AccessTokenStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { insertNew } from './rows.js';

type AccessTokenRow = {
  jti: string;
  grant_id: string;
  client_id: string;
  expires_at: number;
  revoked_at: number | null;
};

function toRecord(row: AccessTokenRow): AccessTokenRecord {
  return { jti: row.jti, grantId: row.grant_id, clientId: row.client_id, expiresAt: row.expires_at, revokedAt: row.revoked_at };
}

export function createAccessTokenStore(sql: SqlExecutor): AccessTokenStore {
  return {
    async save(token) {
      await insertNew(sql, 'access_tokens', {
        jti: token.jti,
        grant_id: token.grantId,
        client_id: token.clientId,
        expires_at: token.expiresAt,
        revoked_at: token.revokedAt,
      });
    },
    async get(jti) {
      const row = await sql.get<AccessTokenRow>('SELECT jti, grant_id, client_id, expires_at, revoked_at FROM access_tokens WHERE jti = $1', [jti]);
      return row && toRecord(row);
    },
    async revoke(jti, now) {
      // The first revocation time is kept.
      return (await sql.run('UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE jti = $2', [now, jti])) > 0;
    },
    async purgeExpired(before) {
      return sql.run('DELETE FROM access_tokens WHERE expires_at < $1', [before]);
    },
  };
}
