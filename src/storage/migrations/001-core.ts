// Migration 1: the tables of every store in src/storage/types.ts.
//
// One SQL text serves both dialects: times are BIGINT epoch milliseconds, booleans INTEGER 0/1,
// lists (grant types, redirect URIs, resources, scopes, amr) JSON text. Tokens, codes, sessions
// and client secrets appear only as keyed digests (TEXT primary keys), never by value.
// No foreign keys: grants, codes and tokens are written by different steps of one flow, and
// revocation works by grant_id even for records whose grant row is missing.
import type { Migration } from './index.js';

const core = `
CREATE TABLE clients (
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
  source TEXT NOT NULL CHECK (source IN ('config', 'admin')),
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  fhir_user TEXT,
  created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  private_sealed TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  activates_at BIGINT NOT NULL,
  retired_at BIGINT,
  expires_at BIGINT
);

CREATE TABLE authorization_codes (
  digest TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  sealed TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  consumed_at BIGINT
);
CREATE INDEX authorization_codes_grant_id ON authorization_codes (grant_id);

CREATE TABLE grants (
  grant_id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  user_id TEXT,
  consent_id TEXT,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT,
  revoked_reason TEXT
);
CREATE INDEX grants_consent_id ON grants (consent_id);

CREATE TABLE refresh_tokens (
  digest TEXT PRIMARY KEY,
  grant_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  sealed TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  absolute_expires_at BIGINT NOT NULL,
  consumed_at BIGINT,
  revoked_at BIGINT
);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);

CREATE TABLE access_tokens (
  jti TEXT PRIMARY KEY,
  grant_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE consents (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scopes_granted TEXT NOT NULL,
  scopes_denied TEXT NOT NULL,
  resource TEXT,
  created_at BIGINT NOT NULL,
  client_address TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  text_version TEXT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX consents_user_created ON consents (user_id, created_at);
CREATE INDEX consents_user_client_created ON consents (user_id, client_id, created_at);

CREATE TABLE sessions (
  digest TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  auth_time BIGINT NOT NULL,
  amr TEXT NOT NULL
);

CREATE TABLE interactions (
  id TEXT PRIMARY KEY,
  browser_digest TEXT NOT NULL,
  sealed TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);

CREATE TABLE replay_values (
  replay_key TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX replay_values_expires_at ON replay_values (expires_at);

CREATE TABLE throttle_hits (
  throttle_key TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX throttle_hits_key_at ON throttle_hits (throttle_key, at);
CREATE INDEX throttle_hits_at ON throttle_hits (at);
`;

export const migration001Core: Migration = { id: 1, name: 'core', sqlite: core, postgres: core };
export default migration001Core;
