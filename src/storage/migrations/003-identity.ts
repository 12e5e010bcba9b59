// Migration 3: person authentication (45 CFR 164.312(d); the 2025 NPRM's MFA requirement).
//
// - users.role: patient | practitioner | administrator. Existing accounts become 'patient'. The
//   column is nullable and a NULL reads as 'patient' (src/storage/types.ts UserRecord.role).
// - mfa_factors: confirmed second factors (TOTP, WebAuthn), their data sealed under the master key;
//   `counter` is the last accepted TOTP time step or the WebAuthn signature counter.
// - recovery_codes: one-time codes, stored only as keyed digests.
// - pending_logins: a sign-in between the password and the second factor (or an enrolment),
//   keyed by the digest of a cookie, state sealed, short-lived.
//
// Account lockouts need no table: they are hits in throttle_hits (src/interaction/login.ts).
import type { Migration } from './index.js';

const script = `
ALTER TABLE users ADD COLUMN role TEXT DEFAULT 'patient' CHECK (role IN ('patient', 'practitioner', 'administrator'));

CREATE TABLE mfa_factors (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('totp', 'webauthn')),
  label TEXT NOT NULL,
  sealed TEXT NOT NULL,
  counter BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT
);
CREATE INDEX mfa_factors_user_id ON mfa_factors (user_id);

CREATE TABLE recovery_codes (
  digest TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  used_at BIGINT
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

CREATE TABLE pending_logins (
  digest TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  sealed TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX pending_logins_expires_at ON pending_logins (expires_at);
`;

export const migration003Identity: Migration = { id: 3, name: 'identity', sqlite: script, postgres: script };
export default migration003Identity;
