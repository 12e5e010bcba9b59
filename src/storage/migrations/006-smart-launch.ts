// Migration 6: SMART App Launch context, practitioner panels, break-glass and per-client session
// limits (SMART App Launch 2.2; 45 CFR 164.312(a)(2)(ii) emergency access, (a)(2)(iii) automatic
// logoff).
//
// - grants.launch_context: the launch context of the grant (patient and encounter FHIR ids,
//   fhirContext references, need_patient_banner, smart_style_url, purpose_of_use) as JSON text;
//   identifiers only, never demographics.
// - users.patient_panel: the FHIR Patient ids a practitioner may pick at launch (JSON list);
//   users.break_glass: the emergency-access permission.
// - clients.session_idle_timeout / session_absolute_timeout: per-client limits in seconds, capped
//   by the global session limits.
// - launch_contexts: EHR launch contexts, stored by keyed digest of the opaque launch value and
//   redeemed at most once.
// - break_glass_accesses: every emergency access, open until reviewed after the fact.
import type { Migration } from './index.js';

const script = `
ALTER TABLE grants ADD COLUMN launch_context TEXT;
ALTER TABLE users ADD COLUMN patient_panel TEXT;
ALTER TABLE users ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1));
ALTER TABLE clients ADD COLUMN session_idle_timeout INTEGER;
ALTER TABLE clients ADD COLUMN session_absolute_timeout INTEGER;

CREATE TABLE launch_contexts (
  digest TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  context TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  consumed_at BIGINT
);
CREATE INDEX launch_contexts_expires_at ON launch_contexts (expires_at);

CREATE TABLE break_glass_accesses (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  patient TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  reviewed_at BIGINT,
  reviewed_by TEXT,
  review_outcome TEXT,
  review_note TEXT
);
CREATE INDEX break_glass_accesses_open ON break_glass_accesses (reviewed_at, created_at);
`;

export const migration006SmartLaunch: Migration = { id: 6, name: 'smart-launch', sqlite: script, postgres: script };
