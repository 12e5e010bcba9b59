// RefreshTokenStore over SQL: rotating refresh tokens stored by keyed digest; consumption is atomic
// so reuse of a rotated token is detected (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
import type { RefreshTokenRecord, RefreshTokenStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { consumeOnce } from './consume.js';
import { insertNew } from './rows.js';

type RefreshTokenRow = {
  digest: string;
  grant_id: string;
  client_id: string;
  sealed: string;
  created_at: number;
  expires_at: number;
  absolute_expires_at: number;
  consumed_at: number | null;
  revoked_at: number | null;
};

const COLUMNS = 'digest, grant_id, client_id, sealed, created_at, expires_at, absolute_expires_at, consumed_at, revoked_at';

function toRecord(row: RefreshTokenRow): RefreshTokenRecord {
  return {
    digest: row.digest,
    grantId: row.grant_id,
    clientId: row.client_id,
    sealed: row.sealed,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    absoluteExpiresAt: row.absolute_expires_at,
    consumedAt: row.consumed_at,
    revokedAt: row.revoked_at,
  };
}

export function createRefreshTokenStore(sql: SqlExecutor): RefreshTokenStore {
  return {
    async save(token) {
      await insertNew(sql, 'refresh_tokens', {
        digest: token.digest,
        grant_id: token.grantId,
        client_id: token.clientId,
        sealed: token.sealed,
        created_at: token.createdAt,
        expires_at: token.expiresAt,
        absolute_expires_at: token.absoluteExpiresAt,
        consumed_at: token.consumedAt,
        revoked_at: token.revokedAt,
      });
    },
    async get(digest) {
      const row = await sql.get<RefreshTokenRow>(`SELECT ${COLUMNS} FROM refresh_tokens WHERE digest = $1`, [digest]);
      return row && toRecord(row);
    },
    // Deliberately does not look at revoked_at or expiry: the caller decides (see the contract).
    consume(digest, now) {
      return consumeOnce(sql, 'refresh_tokens', COLUMNS, digest, now, toRecord);
    },
    async undoRotation(consumedDigest, consumedAt, issuedDigest) {
      // The new token first: if the second statement fails, the family has no usable token (the
      // user signs in again), never two.
      if (issuedDigest !== undefined) await sql.run('DELETE FROM refresh_tokens WHERE digest = $1 AND consumed_at IS NULL', [issuedDigest]);
      return (await sql.run('UPDATE refresh_tokens SET consumed_at = NULL WHERE digest = $1 AND consumed_at = $2', [consumedDigest, consumedAt])) > 0;
    },
  };
}
