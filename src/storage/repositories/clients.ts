// ClientStore over SQL: registered OAuth clients (RFC 7591 metadata, stored camelCase-mapped).
import type { ClientRecord, ClientStore, GrantType, TokenEndpointAuthMethod } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { fromJsonList, toJsonList } from './rows.js';

type ClientRow = {
  client_id: string;
  name: string;
  grant_types: string;
  redirect_uris: string;
  scope: string;
  resources: string;
  token_endpoint_auth_method: string;
  secret_digest: string | null;
  jwks_uri: string | null;
  jwks: string | null;
  source: string;
  created_at: number;
  updated_at: number;
};

const COLUMNS = 'client_id, name, grant_types, redirect_uris, scope, resources, token_endpoint_auth_method, secret_digest, jwks_uri, jwks, source, created_at, updated_at';

function toRecord(row: ClientRow): ClientRecord {
  return {
    clientId: row.client_id,
    name: row.name,
    grantTypes: fromJsonList(row.grant_types) as GrantType[],
    redirectUris: fromJsonList(row.redirect_uris),
    scope: row.scope,
    resources: fromJsonList(row.resources),
    tokenEndpointAuthMethod: row.token_endpoint_auth_method as TokenEndpointAuthMethod,
    secretDigest: row.secret_digest,
    jwksUri: row.jwks_uri,
    jwks: row.jwks,
    source: row.source as ClientRecord['source'],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function createClientStore(sql: SqlExecutor): ClientStore {
  return {
    async upsert(client) {
      await sql.run(
        `INSERT INTO clients (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (client_id) DO UPDATE SET
           name = excluded.name, grant_types = excluded.grant_types, redirect_uris = excluded.redirect_uris,
           scope = excluded.scope, resources = excluded.resources,
           token_endpoint_auth_method = excluded.token_endpoint_auth_method, secret_digest = excluded.secret_digest,
           jwks_uri = excluded.jwks_uri, jwks = excluded.jwks, source = excluded.source,
           created_at = excluded.created_at, updated_at = excluded.updated_at`,
        [
          client.clientId, client.name, toJsonList(client.grantTypes), toJsonList(client.redirectUris), client.scope,
          toJsonList(client.resources), client.tokenEndpointAuthMethod, client.secretDigest, client.jwksUri, client.jwks,
          client.source, client.createdAt, client.updatedAt,
        ],
      );
    },
    async get(clientId) {
      const row = await sql.get<ClientRow>(`SELECT ${COLUMNS} FROM clients WHERE client_id = $1`, [clientId]);
      return row && toRecord(row);
    },
    async list() {
      const rows = await sql.all<ClientRow>(`SELECT ${COLUMNS} FROM clients ORDER BY client_id`);
      return rows.map(toRecord);
    },
    async remove(clientId) {
      return (await sql.run('DELETE FROM clients WHERE client_id = $1', [clientId])) > 0;
    },
  };
}
