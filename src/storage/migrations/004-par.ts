// Migration 4: pushed authorization requests (RFC 9126), DPoP-bound authorization codes
// (RFC 9449 §10) and the per-client flags `dpop_bound_access_tokens` (RFC 9449 §5.2) and
// `require_pushed_authorization_requests` (RFC 9126 §6).
//
// The flags are columns of `clients`, so removing a client removes them; ClientStore.upsert does
// not name them and so leaves them as they are. request_uri values are stored only as a keyed
// digest (with the client id), the request itself sealed like interactions are.
import type { Migration } from './index.js';

const script = `
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0 CHECK (dpop_bound_access_tokens IN (0, 1));
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0 CHECK (require_pushed_authorization_requests IN (0, 1));

CREATE TABLE pushed_authorization_requests (
  digest TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  sealed TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  consumed_at BIGINT
);
CREATE INDEX pushed_authorization_requests_expires_at ON pushed_authorization_requests (expires_at);

CREATE TABLE dpop_code_bindings (
  binding_key TEXT PRIMARY KEY,
  jkt TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_code_bindings_expires_at ON dpop_code_bindings (expires_at);
`;

export const migration004Par: Migration = { id: 4, name: 'par', sqlite: script, postgres: script };
export default migration004Par;
