// Migration 10: clients that AI agents register themselves (RFC 7591; src/oauth/endpoints/register.ts).
//
// - clients.source may be 'dynamic' (the CHECK of migration 1 allowed only 'config' and 'admin').
// - clients.registration_token_digest: the keyed digest of the RFC 7592 registration access token,
//   never the token; only a dynamic client has one (CHECK).
// - clients.registration_metadata: the RFC 7591 §2 descriptive metadata (client_uri, logo_uri,
//   software_id, software_version) as JSON text.
// - grants_client: deleting a client revokes its grants (GrantStore.revokeByClient) without a scan.
//
// PostgreSQL replaces the named CHECK (PostgreSQL names a column constraint <table>_<column>_check).
// SQLite cannot alter a CHECK, so the table is rebuilt with every column of migrations 1, 4 and 6
// and its rows copied (the migration runs in one transaction; `clients` has no index or trigger).
import type { Migration } from './index.js';

const KEPT_COLUMNS = `client_id, name, grant_types, redirect_uris, scope, resources, token_endpoint_auth_method, secret_digest,
  jwks_uri, jwks, source, created_at, updated_at, dpop_bound_access_tokens, require_pushed_authorization_requests,
  session_idle_timeout, session_absolute_timeout`;

const sqlite = `
CREATE TABLE clients_010 (
  client_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  redirect_uris TEXT NOT NULL,
  scope TEXT NOT NULL,
  resources TEXT NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  secret_digest TEXT,
  jwks_uri TEXT,
  jwks TEXT,
  source TEXT NOT NULL CHECK (source IN ('config', 'admin', 'dynamic')),
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0 CHECK (dpop_bound_access_tokens IN (0, 1)),
  require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0 CHECK (require_pushed_authorization_requests IN (0, 1)),
  session_idle_timeout INTEGER,
  session_absolute_timeout INTEGER,
  registration_token_digest TEXT,
  registration_metadata TEXT,
  CHECK (registration_token_digest IS NULL OR source = 'dynamic')
);
INSERT INTO clients_010 (${KEPT_COLUMNS}) SELECT ${KEPT_COLUMNS} FROM clients;
DROP TABLE clients;
ALTER TABLE clients_010 RENAME TO clients;
CREATE INDEX grants_client ON grants (client_id);
`;

const postgres = `
ALTER TABLE clients DROP CONSTRAINT clients_source_check;
ALTER TABLE clients ADD CONSTRAINT clients_source_check CHECK (source IN ('config', 'admin', 'dynamic'));
ALTER TABLE clients ADD COLUMN registration_token_digest TEXT;
ALTER TABLE clients ADD COLUMN registration_metadata TEXT;
ALTER TABLE clients ADD CONSTRAINT clients_registration_token_check CHECK (registration_token_digest IS NULL OR source = 'dynamic');
CREATE INDEX grants_client ON grants (client_id);
`;

export const migration010DynamicClients: Migration = { id: 10, name: 'dynamic-clients', sqlite, postgres };
export default migration010DynamicClients;
