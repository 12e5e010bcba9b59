// Migration 12: the admin console (issue 15; src/admin/console/).
//
// - admin_sessions: an administrator's console session, apart from end users' sessions (its own
//   cookie, its own shorter limits, the time of the last second-factor check for step-up). Stored by
//   the keyed digest of the cookie, never the cookie.
// - password_set_links: the one-time link by which a user added in the console sets their own
//   password (the administrator never types it). Stored by the keyed digest of the link's token.
// - clients.disabled: a client an administrator disabled is refused everywhere, kept for the record.
import type { Migration } from './index.js';

const tables = `
CREATE TABLE admin_sessions (
  digest TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  step_up_at BIGINT NOT NULL,
  source_address TEXT NOT NULL
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);
CREATE TABLE password_set_links (
  digest TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX password_set_links_user ON password_set_links (user_id);
ALTER TABLE clients ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
`;

export const migration012AdminConsole: Migration = { id: 12, name: 'admin-console', sqlite: tables, postgres: tables };
export default migration012AdminConsole;
