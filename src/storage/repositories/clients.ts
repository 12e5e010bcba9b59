// ClientStore over SQL: registered OAuth clients (RFC 7591 metadata, stored camelCase-mapped).
// The registration columns of migration 010 read as absent when NULL, so a record written without
// them reads back equal.
import { InternalError } from '../../errors/internal-error.js';
import type { ClientRecord, ClientRegistrationMetadata, ClientStore, GrantType, TokenEndpointAuthMethod } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { fromFlag, fromJsonList, toFlag, toJsonList } from './rows.js';

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
  registration_token_digest: string | null;
  registration_metadata: string | null;
  disabled: number | boolean;
};

const COLUMNS = 'client_id, name, grant_types, redirect_uris, scope, resources, token_endpoint_auth_method, secret_digest, jwks_uri, jwks, source, created_at, updated_at, registration_token_digest, registration_metadata';
/** Read with the record; written only by setDisabled (an upsert keeps it). */
const READ_COLUMNS = `${COLUMNS}, disabled`;

function parseRegistrationMetadata(text: string): ClientRegistrationMetadata {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InternalError('ERR_STORAGE', 'storage: clients: stored registration metadata is not a JSON object');
  }
  return value as ClientRegistrationMetadata;
}

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
    ...(row.registration_token_digest !== null ? { registrationTokenDigest: row.registration_token_digest } : {}),
    ...(row.registration_metadata !== null ? { registrationMetadata: parseRegistrationMetadata(row.registration_metadata) } : {}),
    ...(fromFlag(row.disabled) ? { disabled: true } : {}),
  };
}

export function createClientStore(sql: SqlExecutor): ClientStore {
  return {
    async upsert(client) {
      await sql.run(
        `INSERT INTO clients (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (client_id) DO UPDATE SET
           name = excluded.name, grant_types = excluded.grant_types, redirect_uris = excluded.redirect_uris,
           scope = excluded.scope, resources = excluded.resources,
           token_endpoint_auth_method = excluded.token_endpoint_auth_method, secret_digest = excluded.secret_digest,
           jwks_uri = excluded.jwks_uri, jwks = excluded.jwks, source = excluded.source,
           created_at = excluded.created_at, updated_at = excluded.updated_at,
           registration_token_digest = excluded.registration_token_digest, registration_metadata = excluded.registration_metadata`,
        [
          client.clientId, client.name, toJsonList(client.grantTypes), toJsonList(client.redirectUris), client.scope,
          toJsonList(client.resources), client.tokenEndpointAuthMethod, client.secretDigest, client.jwksUri, client.jwks,
          client.source, client.createdAt, client.updatedAt, client.registrationTokenDigest ?? null,
          client.registrationMetadata ? JSON.stringify(client.registrationMetadata) : null,
        ],
      );
    },
    async get(clientId) {
      const row = await sql.get<ClientRow>(`SELECT ${READ_COLUMNS} FROM clients WHERE client_id = $1`, [clientId]);
      return row && toRecord(row);
    },
    async list() {
      const rows = await sql.all<ClientRow>(`SELECT ${READ_COLUMNS} FROM clients ORDER BY client_id`);
      return rows.map(toRecord);
    },
    async remove(clientId) {
      return (await sql.run('DELETE FROM clients WHERE client_id = $1', [clientId])) > 0;
    },
    async setDisabled(clientId, disabled) {
      return (await sql.run('UPDATE clients SET disabled = $1 WHERE client_id = $2', [toFlag(disabled), clientId])) > 0;
    },
  };
}
