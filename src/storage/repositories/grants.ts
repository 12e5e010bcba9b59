// GrantStore over SQL: one row per authorization; revoking it revokes every refresh and access
// token issued under it, in one transaction (RFC 9700 §4.14.2: on refresh token reuse the
// authorization server revokes the active tokens of the grant; §4.1.3 of OAuth 2.1 for code replay).
import { InternalError } from '../../errors/internal-error.js';
import type { GrantRecord, GrantStore, LaunchContext } from '../types.js';
import type { SqlDriver, SqlExecutor } from '../sql.js';
import { insertNew } from './rows.js';

type GrantRow = {
  grant_id: string;
  client_id: string;
  user_id: string | null;
  consent_id: string | null;
  created_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
  launch_context: string | null;
};

const COLUMNS = 'grant_id, client_id, user_id, consent_id, created_at, revoked_at, revoked_reason, launch_context';
// The last token issued under a grant: its code's redemption or its newest refresh token (both indexed by grant_id).
const LAST_USED = `(SELECT MAX(consumed_at) FROM authorization_codes c WHERE c.grant_id = grants.grant_id) AS code_used_at,
  (SELECT MAX(created_at) FROM refresh_tokens r WHERE r.grant_id = grants.grant_id) AS refreshed_at,
  grants.last_used_at AS purged_used_at`;

function parseLaunchContext(text: string | null): LaunchContext | null {
  if (text === null) return null;
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InternalError('ERR_STORAGE', 'storage: grants: a stored launch context is not a JSON object');
  }
  return value as LaunchContext;
}

type UsedGrantRow = GrantRow & { code_used_at: number | null; refreshed_at: number | null; purged_used_at: number | null };

/** The record with lastUsedAt: the latest of its code's redemption, its newest refresh token and what the purge kept. */
function withLastUse(row: UsedGrantRow): GrantRecord {
  const used = [row.code_used_at, row.refreshed_at, row.purged_used_at].filter((t): t is number => t !== null).map(Number);
  return { ...toRecord(row), lastUsedAt: used.length ? Math.max(...used) : null };
}

function toRecord(row: GrantRow): GrantRecord {
  return {
    grantId: row.grant_id,
    clientId: row.client_id,
    userId: row.user_id,
    consentId: row.consent_id,
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
    revokedReason: row.revoked_reason,
    launchContext: parseLaunchContext(row.launch_context),
  };
}

// Tokens are revoked even when the grant was revoked before: a token issued by a request that
// raced the first revocation is caught by the next one.
async function revokeTokensOf(tx: SqlExecutor, grantIds: string, params: (string | number)[]): Promise<void> {
  await tx.run(`UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND grant_id IN (${grantIds})`, params);
  await tx.run(`UPDATE access_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND grant_id IN (${grantIds})`, params);
}

export function createGrantStore(sql: SqlDriver): GrantStore {
  /** Revokes every active grant with column = value, and the tokens of all its grants, in one transaction. */
  const revokeAllWhere = (column: 'consent_id' | 'user_id' | 'client_id', value: string, now: number, reason: string): Promise<string[]> =>
    sql.transaction(async (tx) => {
      const revoked = await tx.all<{ grant_id: string }>(
        `UPDATE grants SET revoked_at = $1, revoked_reason = $2 WHERE ${column} = $3 AND revoked_at IS NULL RETURNING grant_id`,
        [now, reason, value],
      );
      await revokeTokensOf(tx, `SELECT grant_id FROM grants WHERE ${column} = $2`, [now, value]);
      return revoked.map((row) => row.grant_id);
    });

  return {
    async create(grant) {
      await insertNew(sql, 'grants', {
        grant_id: grant.grantId,
        client_id: grant.clientId,
        user_id: grant.userId,
        consent_id: grant.consentId,
        created_at: grant.createdAt,
        revoked_at: grant.revokedAt,
        revoked_reason: grant.revokedReason,
        launch_context: grant.launchContext ? JSON.stringify(grant.launchContext) : null,
      });
    },
    async get(grantId) {
      const row = await sql.get<GrantRow>(`SELECT ${COLUMNS} FROM grants WHERE grant_id = $1`, [grantId]);
      return row && toRecord(row);
    },
    revoke(grantId, now, reason) {
      return sql.transaction(async (tx) => {
        // First reason wins: an already revoked grant keeps its time and reason.
        const known = await tx.run(
          `UPDATE grants SET revoked_reason = CASE WHEN revoked_at IS NULL THEN $2 ELSE revoked_reason END,
                             revoked_at = COALESCE(revoked_at, $1)
           WHERE grant_id = $3`,
          [now, reason, grantId],
        );
        await revokeTokensOf(tx, '$2', [now, grantId]);
        return known > 0;
      });
    },
    revokeByConsent(consentId, now, reason) {
      return revokeAllWhere('consent_id', consentId, now, reason);
    },
    revokeByUser(userId, now, reason) {
      return revokeAllWhere('user_id', userId, now, reason);
    },
    revokeByClient(clientId, now, reason) {
      return revokeAllWhere('client_id', clientId, now, reason);
    },
    async listByUser(userId) {
      const rows = await sql.all<UsedGrantRow>(
        `SELECT ${COLUMNS}, ${LAST_USED} FROM grants WHERE user_id = $1 ORDER BY created_at DESC, grant_id`,
        [userId],
      );
      return rows.map(withLastUse);
    },
    async search(filter) {
      const where: string[] = [];
      const params: (string | number)[] = [];
      const param = (value: string | number) => `$${params.push(value)}`;
      // Indexes: grants_user (migration 5), grants_client_created, grants_launch_patient and users_fhir_user (migration 13).
      if (filter.userId !== undefined) where.push(`user_id = ${param(filter.userId)}`);
      if (filter.clientId !== undefined) where.push(`client_id = ${param(filter.clientId)}`);
      if (filter.patient !== undefined) {
        const launchPatient = sql.dialect === 'postgres' ? "(launch_context::jsonb ->> 'patient')" : "json_extract(launch_context, '$.patient')";
        where.push(`(${launchPatient} = ${param(filter.patient)} OR user_id IN (SELECT id FROM users WHERE fhir_user = ${param(`Patient/${filter.patient}`)}))`);
      }
      if (where.length === 0) throw new InternalError('ERR_STORAGE', 'storage: grants: a search needs a user, client or patient filter');
      if (filter.before) {
        const at = param(filter.before.createdAt);
        where.push(`(created_at < ${at} OR (created_at = ${at} AND grant_id < ${param(filter.before.grantId)}))`);
      }
      const rows = await sql.all<UsedGrantRow>(
        `SELECT ${COLUMNS}, ${LAST_USED} FROM grants WHERE ${where.join(' AND ')} ORDER BY created_at DESC, grant_id DESC LIMIT ${param(filter.limit)}`,
        params,
      );
      return rows.map(withLastUse);
    },
  };
}
