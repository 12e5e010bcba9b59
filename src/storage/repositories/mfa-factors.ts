// MfaFactorStore over SQL: confirmed second factors (TOTP, WebAuthn) with their data sealed.
// RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the OTP after the successful
// validation has been issued for the first OTP" — advanceCounter is one conditional UPDATE.
import type { MfaFactorRecord, MfaFactorStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { insertNew } from './rows.js';

type FactorRow = {
  id: string;
  user_id: string;
  kind: 'totp' | 'webauthn';
  label: string;
  sealed: string;
  counter: number;
  created_at: number;
  last_used_at: number | null;
};

const COLUMNS = 'id, user_id, kind, label, sealed, counter, created_at, last_used_at';

function toRecord(row: FactorRow): MfaFactorRecord {
  return {
    id: row.id,
    userId: row.user_id,
    kind: row.kind,
    label: row.label,
    sealed: row.sealed,
    counter: Number(row.counter),
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

export function createMfaFactorStore(sql: SqlExecutor): MfaFactorStore {
  return {
    async create(factor) {
      await insertNew(sql, 'mfa_factors', {
        id: factor.id,
        user_id: factor.userId,
        kind: factor.kind,
        label: factor.label,
        sealed: factor.sealed,
        counter: factor.counter,
        created_at: factor.createdAt,
        last_used_at: factor.lastUsedAt,
      });
    },
    async listByUser(userId) {
      const rows = await sql.all<FactorRow>(`SELECT ${COLUMNS} FROM mfa_factors WHERE user_id = $1 ORDER BY created_at, id`, [userId]);
      return rows.map(toRecord);
    },
    async advanceCounter(id, counter, now) {
      return (await sql.run('UPDATE mfa_factors SET counter = $1, last_used_at = $2 WHERE id = $3 AND counter < $1', [counter, now, id])) > 0;
    },
    async recordUse(id, counter, now) {
      return (await sql.run('UPDATE mfa_factors SET counter = $1, last_used_at = $2 WHERE id = $3', [counter, now, id])) > 0;
    },
    async remove(userId, id) {
      return (await sql.run('DELETE FROM mfa_factors WHERE id = $1 AND user_id = $2', [id, userId])) > 0;
    },
    async removeByUser(userId) {
      return sql.run('DELETE FROM mfa_factors WHERE user_id = $1', [userId]);
    },
  };
}
