// ConsentStore over SQL: the user's recorded consent decisions, per client and resource
// (45 CFR 164.508 authorizations are recorded with the text version shown).
import type { ConsentRecord, ConsentStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { fromJsonList, insertNew, toJsonList } from './rows.js';

type ConsentRow = {
  id: string;
  user_id: string;
  client_id: string;
  scopes_granted: string;
  scopes_denied: string;
  resource: string | null;
  created_at: number;
  client_address: string;
  user_agent: string;
  text_version: string;
  revoked_at: number | null;
};

const COLUMNS = 'id, user_id, client_id, scopes_granted, scopes_denied, resource, created_at, client_address, user_agent, text_version, revoked_at';

function toRecord(row: ConsentRow): ConsentRecord {
  return {
    id: row.id,
    userId: row.user_id,
    clientId: row.client_id,
    scopesGranted: fromJsonList(row.scopes_granted),
    scopesDenied: fromJsonList(row.scopes_denied),
    resource: row.resource,
    createdAt: row.created_at,
    clientAddress: row.client_address,
    userAgent: row.user_agent,
    textVersion: row.text_version,
    revokedAt: row.revoked_at,
  };
}

export function createConsentStore(sql: SqlExecutor): ConsentStore {
  return {
    async create(consent) {
      await insertNew(sql, 'consents', {
        id: consent.id,
        user_id: consent.userId,
        client_id: consent.clientId,
        scopes_granted: toJsonList(consent.scopesGranted),
        scopes_denied: toJsonList(consent.scopesDenied),
        resource: consent.resource,
        created_at: consent.createdAt,
        client_address: consent.clientAddress,
        user_agent: consent.userAgent,
        text_version: consent.textVersion,
        revoked_at: consent.revokedAt,
      });
    },
    async get(id) {
      const row = await sql.get<ConsentRow>(`SELECT ${COLUMNS} FROM consents WHERE id = $1`, [id]);
      return row && toRecord(row);
    },
    async listByUser(userId) {
      const rows = await sql.all<ConsentRow>(
        `SELECT ${COLUMNS} FROM consents WHERE user_id = $1 ORDER BY created_at DESC, id DESC`,
        [userId],
      );
      return rows.map(toRecord);
    },
    async findActive(userId, clientId, resource) {
      // Two statements rather than a null-safe comparison, so both dialects use the index.
      const row = resource === null
        ? await sql.get<ConsentRow>(
          `SELECT ${COLUMNS} FROM consents WHERE user_id = $1 AND client_id = $2 AND resource IS NULL AND revoked_at IS NULL
           ORDER BY created_at DESC, id DESC LIMIT 1`,
          [userId, clientId],
        )
        : await sql.get<ConsentRow>(
          `SELECT ${COLUMNS} FROM consents WHERE user_id = $1 AND client_id = $2 AND resource = $3 AND revoked_at IS NULL
           ORDER BY created_at DESC, id DESC LIMIT 1`,
          [userId, clientId, resource],
        );
      return row && toRecord(row);
    },
    async revoke(id, now) {
      // The first revocation time is kept.
      return (await sql.run('UPDATE consents SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2', [now, id])) > 0;
    },
  };
}
