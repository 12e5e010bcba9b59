// Migration 2: the tamper-evident audit ledger (src/audit/ledger.ts), 45 CFR 164.312(b).
//
// - audit_events: one row per leaf. seq is the RFC 9162 leaf index (0, 1, 2, …). event_json is
//   the RFC 8785 canonical JSON of the stored event, exactly the bytes that were hashed; the
//   other columns are copies of its members for search, and verifyLedger checks they agree.
// - audit_tree_nodes: every complete perfect subtree hash, by (level, idx); level 0 holds the
//   leaf hashes. Roots and proofs are read from here in O(log n).
// - audit_checkpoints: signed C2SP checkpoints, one per tree size.
//
// Append-only: triggers reject UPDATE and DELETE (and TRUNCATE on PostgreSQL). A table owner
// can still disable them, so in production the server should connect as a role that holds only
// SELECT and INSERT on these tables; the Merkle tree and the signed checkpoints are what make any
// edit that gets past the triggers detectable.
import type { Migration } from './index.js';

const tables = (dialect: 'sqlite' | 'postgres'): string => {
  const seq = dialect === 'sqlite' ? 'INTEGER PRIMARY KEY' : 'BIGINT PRIMARY KEY';
  const bytes = dialect === 'sqlite' ? 'BLOB' : 'BYTEA';
  const withoutRowid = dialect === 'sqlite' ? ' WITHOUT ROWID' : '';
  return `
CREATE TABLE audit_events (
  seq ${seq},
  event_time BIGINT NOT NULL,
  type TEXT NOT NULL,
  outcome TEXT NOT NULL,
  patient TEXT,
  actor_user TEXT,
  actor_client TEXT,
  resource TEXT,
  event_json TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_time);
CREATE INDEX audit_events_type ON audit_events (type, event_time);
CREATE INDEX audit_events_outcome ON audit_events (outcome, event_time);
CREATE INDEX audit_events_patient ON audit_events (patient, event_time) WHERE patient IS NOT NULL;
CREATE INDEX audit_events_actor_user ON audit_events (actor_user, event_time) WHERE actor_user IS NOT NULL;
CREATE INDEX audit_events_actor_client ON audit_events (actor_client, event_time) WHERE actor_client IS NOT NULL;

CREATE TABLE audit_tree_nodes (
  level SMALLINT NOT NULL,
  idx BIGINT NOT NULL,
  hash ${bytes} NOT NULL,
  PRIMARY KEY (level, idx)
)${withoutRowid};

CREATE TABLE audit_checkpoints (
  tree_size BIGINT PRIMARY KEY,
  root_hash ${bytes} NOT NULL,
  created_at BIGINT NOT NULL,
  note TEXT NOT NULL
);
`;
};

const LEDGER_TABLES = ['audit_events', 'audit_tree_nodes', 'audit_checkpoints'] as const;

const sqliteTriggers = LEDGER_TABLES.map((table) => `
CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: UPDATE on ${table} rejected'); END;
CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only: DELETE on ${table} rejected'); END;
`).join('');

const postgresTriggers = `
CREATE FUNCTION audit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit ledger is append-only: % on % rejected', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'P0001';
END
$$;
${LEDGER_TABLES.map((table) => `
CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table}
  FOR EACH ROW EXECUTE FUNCTION audit_ledger_append_only();
CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table}
  FOR EACH STATEMENT EXECUTE FUNCTION audit_ledger_append_only();
`).join('')}`;

export const migration002Ledger: Migration = {
  id: 2,
  name: 'ledger',
  sqlite: tables('sqlite') + sqliteTriggers,
  postgres: tables('postgres') + postgresTriggers,
};
export default migration002Ledger;
